"""data.lowercase: the code of every split and the training summaries are lower-cased before the tokenizer is
trained, the dev loss is taken on lower-cased summaries, and references (scoring, samples, the gold files) keep
their case -- which scores the same, because the evaluator lower-cases both sides."""
import json

from engine import batching, bleu, model as model_lib, session
from engine.contract import config as ec
from engine.distributed import Dist
from engine.tokenizer import train_bpe


def _folder(tmp_path):
    for split in ("train", "valid", "test"):
        p = tmp_path / "go" / f"{split}.jsonl"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps({"code": "func ParseURL(s string) URL {}", "code_tokens": [
            "func", "ParseURL", "(", "s", "string", ")", "URL", "{", "}"],
            "docstring_tokens": ["ParseURL", "Returns", "the", "URL", "."]}) + "\n")
    cfg = ec.RunConfig()
    for k, v in {"data.source": "codexglue", "data.path": str(tmp_path), "data.languages": ["go"]}.items():
        ec.set_value(cfg, k, v)
    return cfg


def test_load_splits_lowercases_code_everywhere_and_only_the_training_summaries(tmp_path):
    cfg = _folder(tmp_path)
    plain = session.load_splits(cfg.data, Dist(), lambda *a, **k: None)
    ec.set_value(cfg, "data.lowercase", True)
    ec.set_value(cfg, "data.split_identifiers", True)
    low = session.load_splits(cfg.data, Dist(), lambda *a, **k: None)
    for (lang, split), examples in low.items():
        (e,), (p,) = examples, plain[(lang, split)]
        assert e.source == "func parse url ( s string ) url { }"
        assert e.target == ("parseurl returns the url ." if split == "train" else "ParseURL Returns the URL .")
        assert e.code == p.code == "func ParseURL(s string) URL {}"      # what the Samples view shows


def test_the_dev_loss_targets_are_lower_cased_and_the_score_is_the_same(tmp_path):
    cfg = _folder(tmp_path)
    ec.set_value(cfg, "data.lowercase", True)
    splits = session.load_splits(cfg.data, Dist(), lambda *a, **k: None)
    tok = train_bpe([t for e in splits[("go", "train")] for t in (e.source, e.target)] * 20, 300)
    (dev,) = splits[("go", "valid")]
    lowered = batching.encode([dev], tok, 32, 16, tok.eos_token_id, lowercase_targets=True)
    want = tok(["parseurl returns the url ."], add_special_tokens=False)["input_ids"][0][:15] + [tok.eos_token_id]
    assert lowered.tgt == [want]
    assert batching.encode([dev], tok, 32, 16, tok.eos_token_id).tgt != [want]   # the default keeps the case
    refs = ["ParseURL Returns the URL .", "Close the Reader and return any Error ."]
    preds = ["parseurl returns the url of s .", "close the reader ."]
    cased = ["ParseURL returns the URL of s .", "Close the Reader ."]
    assert bleu.smoothed_bleu4(refs, preds) == bleu.smoothed_bleu4(refs, cased) > 0


def test_a_saved_model_records_that_it_wants_lower_case_code():
    cfg = ec.RunConfig()
    ec.set_value(cfg, "data.lowercase", True)
    assert model_lib.decoding_settings(cfg)["lowercase"] is True
