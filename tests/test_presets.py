"""Every preset validates (a CodeXGLUE preset once data.path names a folder), says on its first line what it is
for and which published numbers it aims at, and the pretrained-model presets build through the engine's real
loading code from local tiny random models given with --set model.name_or_path=DIR."""
import csv
import re

import pytest
import torch
from transformers import RobertaConfig, RobertaModel, T5Config, T5ForConditionalGeneration

from engine import distributed, session
from engine.contract import config as c
from engine.generate import generate_ids
from engine import model as model_lib
from engine.tokenizer import train_bpe

NEW = ("cpu-codexglue", "codet5-small", "code2nl-budget")
TEXTS = ["def add ( a , b ) : return a + b", "Return the sum of two numbers .",
         "def read ( path ) : with open ( path ) as f : return f . read ( )", "Read a file and return its text ."] * 20


def _published() -> set[str]:
    with open(c.resource("reference", "published_bleu.csv"), encoding="utf-8") as fh:
        return {v for row in csv.DictReader(fh) for k, v in row.items() if k not in ("model", "source") and v}


def _preset(name: str, *sets: str) -> c.RunConfig:
    cfg = c.preset(name)
    c.apply_overrides(cfg, list(sets))
    return cfg


@pytest.mark.parametrize("name", c.preset_names())
def test_every_preset_validates(name, tmp_path):
    cfg = c.preset(name)
    errors = c.validate(cfg)
    if cfg.data.source == "codexglue":
        # the placeholder folder is the user's to give: that is the only complaint, and data.path=DIR ends it
        assert {e.field for e in errors} <= {"data.path"}
        cfg = _preset(name, f"data.path={tmp_path}", "data.languages=ruby")
        errors = c.validate(cfg)
    assert errors == []
    first = (c.PRESETS_DIR / f"{name}.toml").read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# ") and len(first) > 40


@pytest.mark.parametrize("name", NEW)
def test_new_presets_name_the_published_numbers_they_aim_at(name):
    first = (c.PRESETS_DIR / f"{name}.toml").read_text(encoding="utf-8").splitlines()[0]
    assert "published_bleu.csv" in first
    assert set(re.findall(r"\d+\.\d\d", first)) & _published(), first


def test_the_new_presets_settings():
    cpu = c.preset("cpu-codexglue")
    assert (cpu.data.source, cpu.model.source, cpu.hardware.device, cpu.budget.seconds) == \
        ("codexglue", "scratch", "cpu", 600)
    assert cpu.eval.dev_beam_size == 1 and cpu.eval.beam_size == 10 and cpu.train.schedule.startswith("budget-")
    # pre-norm layers and no repeated 3-grams: every seed above the Ruby floor (bench/RESULTS.md)
    assert cpu.model.norm == "pre" and cpu.eval.no_repeat_ngram == 3
    t5 = c.preset("codet5-small")
    assert (t5.model.source, t5.model.name_or_path, t5.hardware.precision) == \
        ("seq2seq", "Salesforce/codet5-small", "bf16")
    assert t5.train.schedule.startswith("budget-")
    cb = c.preset("code2nl-budget")
    assert (cb.model.source, cb.model.name_or_path, cb.train.schedule) == \
        ("encoder", "microsoft/codebert-base", "budget-triangle")
    # dev evaluations fitted to the budget: a handful of them, each a small fraction of it
    assert 3 <= cb.budget.seconds / cb.eval.every_seconds <= 10
    # the overrides the preset documents work
    cfg = _preset("cpu-codexglue", "data.path=/some/dir", "data.languages=ruby,go")
    assert (cfg.data.path, cfg.data.languages) == ("/some/dir", ["ruby", "go"])


@pytest.fixture(scope="module")
def tok():
    return train_bpe(TEXTS, 400)


def _build(cfg, tmp_path):
    """The engine's setup path for a pretrained model: the folder check, its tokenizer, the model."""
    location = session.model_location(cfg)
    tokenizer = session.make_tokenizer(cfg, {}, tmp_path, distributed.Dist(), location)
    model, meta = session.build_model(cfg, tokenizer, location)
    return model.eval(), tokenizer, meta


def _greedy(model, tokenizer):
    out = generate_ids(model, [tokenizer("def add ( a , b )")["input_ids"]], model_lib.special_ids(model),
                       beam_size=1, max_len=5, batch_size=1, device=torch.device("cpu"))
    assert len(out) == 1 and len(out[0]) <= 5


def test_codet5_small_preset_builds_from_a_local_tiny_t5(tok, tmp_path):
    folder = tmp_path / "tiny-t5"
    T5ForConditionalGeneration(T5Config(
        vocab_size=len(tok), d_model=32, d_kv=8, d_ff=64, num_layers=1, num_decoder_layers=1, num_heads=2,
        pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, decoder_start_token_id=tok.pad_token_id,
    )).save_pretrained(folder)
    tok.save_pretrained(folder)
    cfg = _preset("codet5-small", f"model.name_or_path={folder}", f"data.path={tmp_path}")
    assert c.validate(cfg) == []
    model, tokenizer, meta = _build(cfg, tmp_path)
    assert meta["kind"] == "seq2seq" and model.config.model_type == "t5"
    ref = T5ForConditionalGeneration.from_pretrained(folder)
    assert torch.equal(ref.shared.weight, model.shared.weight)        # the local weights were loaded
    _greedy(model, tokenizer)


def test_code2nl_budget_preset_builds_from_a_local_tiny_roberta(tok, tmp_path):
    folder = tmp_path / "tiny-roberta"
    RobertaModel(RobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                               intermediate_size=64, max_position_embeddings=300, pad_token_id=tok.pad_token_id)
                 ).save_pretrained(folder)
    tok.save_pretrained(folder)
    cfg = _preset("code2nl-budget", f"model.name_or_path={folder}", f"data.path={tmp_path}")
    assert c.validate(cfg) == []
    model, tokenizer, meta = _build(cfg, tmp_path)
    assert meta["kind"] == "encoder" and model.decoder.config.num_hidden_layers == cfg.model.decoder_layers
    ref = RobertaModel.from_pretrained(folder)
    assert torch.equal(ref.embeddings.word_embeddings.weight, model.encoder.get_input_embeddings().weight)
    _greedy(model, tokenizer)


def test_cpu_codexglue_builds_its_small_scratch_model(tok, tmp_path):
    cfg = _preset("cpu-codexglue", f"data.path={tmp_path}")
    model, _ = session.build_model(cfg, tok)
    n = model_lib.count_params(model)
    assert 0 < n < 2_000_000                                            # sized for ten CPU minutes
