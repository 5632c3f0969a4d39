"""A saved model records the run's decoding: generation_config.json (beam search, max new tokens, special ids) and
the tokenizer's model_max_length, so that plain transformers reproduces the engine's predictions line for line."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import tiny_config
from engine import model as model_lib
from engine.contract import config as c
from engine.tokenizer import train_bpe

TEXTS = ["def add ( a , b ) : return a + b", "Return the sum of two numbers ."] * 40
DECODING = {"beam_size": 3, "max_target_len": 20, "max_source_len": 50}


@pytest.fixture(scope="module")
def built():
    tok = train_bpe(TEXTS, 400)
    m, meta = model_lib.build(c.ModelConfig(source="scratch", size="tiny"), tok, 130)
    return m, tok, meta


def _json(path):
    return json.loads(Path(path).read_text())


def test_save_records_the_decoding_and_leaves_the_live_objects_alone(built, tmp_path):
    m, tok, meta = built
    before = (m.generation_config.num_beams, tok.model_max_length)
    model_lib.save(m, tok, meta, tmp_path, decoding=DECODING)
    gc = _json(tmp_path / "generation_config.json")
    assert gc["num_beams"] == 3 and gc["max_new_tokens"] == 20
    assert gc["early_stopping"] is True and gc["length_penalty"] == 1.0 and gc["do_sample"] is False
    ids = model_lib.special_ids(m)
    assert (gc["decoder_start_token_id"], gc["eos_token_id"], gc["pad_token_id"]) == (ids["start"], ids["eos"],
                                                                                        ids["pad"])
    assert gc["_from_model_config"] is False
    tc = _json(tmp_path / "tokenizer_config.json")
    assert tc["model_max_length"] == 50
    assert _json(tmp_path / model_lib.META_FILE)["decoding"] == DECODING
    assert (m.generation_config.num_beams, tok.model_max_length) == before  # restored after saving

    from transformers import AutoTokenizer
    t = AutoTokenizer.from_pretrained(tmp_path)
    long_code = " ".join(["x"] * 300)
    # plain truncation == the engine's encode (special tokens included, right side)
    from engine.batching import encode
    from engine.data import Example
    eng = encode([Example(idx=0, language="python", source=long_code, target="y", code=long_code, path="",
                           func_name="")], tok, 50, 20, tok.eos_token_id)
    assert t(long_code, truncation=True)["input_ids"] == eng.src[0]
    assert len(eng.src[0]) == 50 and eng.src[0][-1] == tok.eos_token_id


def test_greedy_run_writes_no_beam_flags(built, tmp_path):
    m, tok, meta = built
    model_lib.save(m, tok, meta, tmp_path, decoding={**DECODING, "beam_size": 1})
    gc = _json(tmp_path / "generation_config.json")
    assert gc["num_beams"] == 1 and gc["max_new_tokens"] == 20
    assert not gc.get("early_stopping")


def test_decoding_from_meta_is_the_default(built, tmp_path):
    m, tok, meta = built
    model_lib.save(m, tok, {**meta, "decoding": DECODING}, tmp_path)
    assert _json(tmp_path / "generation_config.json")["num_beams"] == 3
    assert _json(tmp_path / "tokenizer_config.json")["model_max_length"] == 50
    _, _, meta2 = model_lib.load(tmp_path)
    assert meta2["decoding"] == DECODING


def test_decoding_settings_of_a_config():
    cfg = tiny_config(**{"eval.beam_size": 5, "data.max_target_len": 24, "data.max_source_len": 96,
                         "eval.no_repeat_ngram": 2, "data.split_identifiers": False})
    assert model_lib.decoding_settings(cfg) == {"beam_size": 5, "max_target_len": 24, "max_source_len": 96,
                                                "no_repeat_ngram": 2, "split_identifiers": False,
                                                "lowercase": True}   # the smoke preset lower-cases


def test_no_repeat_ngram_is_recorded_for_generate(built, tmp_path):
    m, tok, meta = built
    model_lib.save(m, tok, meta, tmp_path, decoding={**DECODING, "no_repeat_ngram": 3})
    assert _json(tmp_path / "generation_config.json")["no_repeat_ngram_size"] == 3
    model_lib.save(m, tok, meta, tmp_path / "off", decoding=DECODING)
    assert not _json(tmp_path / "off" / "generation_config.json").get("no_repeat_ngram_size")


# --------------------------------------------------------------------------------------- plain transformers
PLAIN = r'''
import json, sys
import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
torch.set_num_threads(1)
folder, sources = sys.argv[1], json.load(open(sys.argv[2]))
model = AutoModelForSeq2SeqLM.from_pretrained(folder).eval()
tokenizer = AutoTokenizer.from_pretrained(folder)
out = []
for code in sources:
    with torch.no_grad():
        ids = model.generate(**tokenizer(code, truncation=True, return_tensors="pt"))
    out.append(" ".join(tokenizer.decode(ids[0], skip_special_tokens=True).split()))
assert not [m for m in sys.modules if m == "engine" or m.startswith("engine.")]
print(json.dumps(out))
'''


def plain_predictions(folder: Path, sources: list[str], tmp_path: Path) -> list[str]:
    """Predictions of `folder` by plain transformers in a fresh interpreter that cannot import the engine."""
    (tmp_path / "plain.py").write_text(PLAIN)
    (tmp_path / "sources.json").write_text(json.dumps(sources))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([sys.executable, "plain.py", str(folder), "sources.json"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_sources_longer_than_the_model_positions_are_truncated(built, tmp_path):
    """The failure this fixes: without model_max_length a long source overflows the position embeddings."""
    m, tok, meta = built
    model_lib.save(m, tok, meta, tmp_path / "m", decoding={**DECODING, "max_source_len": 64})
    preds = plain_predictions(tmp_path / "m", [" ".join(["x"] * 500)], tmp_path)
    assert len(preds) == 1


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, stdlib_corpus):
    from engine import train
    from engine.contract.events import EventWriter

    d = tmp_path_factory.mktemp("run")
    # with the decoding and input options the smoke preset may use: plain transformers must still match
    cfg = tiny_config(**{"budget.seconds": 6, "eval.every_seconds": 2, "eval.beam_size": 3,
                         "eval.no_repeat_ngram": 2, "data.split_identifiers": True})
    w = EventWriter(d / "events.jsonl")
    try:
        assert train.run(cfg, d, w) == 0
    finally:
        w.close()
    return d, cfg


def _test_sources(cfg):
    from engine import corpus, data

    root = corpus.ensure_builtin_corpus()
    loaded = data.load_corpus(root, cfg.data.languages, cfg.data.max_train, cfg.data.max_valid, cfg.data.max_test)
    sources = [e.source for e in loaded[("python", "test")][0]]
    return [data.split_identifiers(s) for s in sources] if cfg.data.split_identifiers else sources


@pytest.mark.slow
def test_plain_transformers_reproduces_the_run_predictions(trained_run, tmp_path):
    d, cfg = trained_run
    best = d / "checkpoints" / "best"
    gc = _json(best / "generation_config.json")
    assert gc.get("num_beams") == 3 and gc.get("max_new_tokens") == cfg.data.max_target_len \
        and gc.get("no_repeat_ngram_size") == 2, (
        "the checkpoint does not record the run's decoding: engine.session must put "
        "model_lib.decoding_settings(cfg) into the session's meta['decoding']")
    assert _json(best / "tokenizer_config.json")["model_max_length"] == cfg.data.max_source_len
    lines = (d / "python_test.output").read_text().splitlines()
    engine_preds = {int(i): text for i, text in (ln.split("\t", 1) for ln in lines)}
    sources = _test_sources(cfg)
    assert len(sources) == len(engine_preds) == 30
    plain = plain_predictions(best, sources, tmp_path)
    assert plain == [engine_preds[i] for i in range(len(sources))]
