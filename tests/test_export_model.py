"""`cram export model`: a clean Hugging Face folder loaded back with plain transformers, embeddings tied, a model
card the Hub's parser reads (per-language BLEU beside the constant floor, data, budget, config, usage)."""
import json
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from conftest import tiny_config
from engine import model as model_lib
from engine.contract import config as config_lib
from engine.contract.rundir import STATE_FILE, atomic_write_json, write_results
from engine.export_cli import main as export_main
from engine.export_model import ExportError, export_model
from engine.tokenizer import load_tokenizer, train_bpe

TEXTS = ["def add ( a , b ) : return a + b", "Return the sum of two numbers .",
         "def read ( path ) : return open ( path ) . read ( )", "Read a file ."] * 20
HF_FILES = {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
            "README.md", model_lib.META_FILE}


def vocab_matrices(folder: Path, vocab: int) -> list[str]:
    """Names of the vocabulary-sized matrices stored in the folder's safetensors file."""
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        names = list(f.keys())  # noqa: SIM118 (a safe_open handle is not iterable)
        shapes = {k: f.get_slice(k).get_shape() for k in names}
    return sorted(k for k, shape in shapes.items() if len(shape) == 2 and shape[0] == vocab)


def card_of(folder: Path):
    from huggingface_hub import ModelCard

    return ModelCard.load(folder / "README.md")


def toml_block(text: str) -> dict:
    body = text.split("```toml\n", 1)[1].split("```", 1)[0]
    return tomllib.loads(body)


# ------------------------------------------------------------------------------------------- a trained run
@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, stdlib_corpus):
    from engine import train
    from engine.contract.events import EventWriter

    d = tmp_path_factory.mktemp("run")
    cfg = tiny_config(**{"budget.seconds": 5, "eval.every_seconds": 2, "eval.beam_size": 2})
    config_lib.set_value(cfg, "name", "tiny-export")
    w = EventWriter(d / "events.jsonl")
    try:
        assert train.run(cfg, d, w) == 0
    finally:
        w.close()
    return d, cfg


@pytest.mark.slow
def test_export_loads_with_plain_transformers_tied_and_generates(trained_run, tmp_path):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    d, cfg = trained_run
    out = export_model(d, tmp_path / "export")
    assert {p.name for p in out.iterdir()} == HF_FILES  # no optimizer, RNG or training state
    model = AutoModelForSeq2SeqLM.from_pretrained(out).eval()
    tok = AutoTokenizer.from_pretrained(out)
    # BART (from scratch): one shared matrix, re-tied by from_pretrained
    emb = model.get_input_embeddings().weight
    assert model.get_output_embeddings().weight is emb
    assert model.model.encoder.embed_tokens.weight is emb and model.model.decoder.embed_tokens.weight is emb
    assert len(vocab_matrices(out, emb.shape[0])) == 1
    # same weights as the checkpoint the run evaluated
    ref, _, _ = model_lib.load(d / "checkpoints" / "best")
    assert all(torch.equal(a, b) for a, b in zip(ref.state_dict().values(), model.state_dict().values()))
    gc = model.generation_config
    assert (gc.num_beams, gc.max_new_tokens, gc.early_stopping) == (2, cfg.data.max_target_len, True)
    assert tok.model_max_length == cfg.data.max_source_len
    with torch.no_grad():
        ids = model.generate(**tok("def add ( a , b ) : return a + b", truncation=True, return_tensors="pt"))
    text = tok.decode(ids[0], skip_special_tokens=True).strip()
    assert text and ids.shape[1] <= cfg.data.max_target_len + 1


@pytest.mark.slow
def test_model_card_is_hub_metadata_with_results_data_budget_and_config(trained_run, tmp_path):
    d, cfg = trained_run
    out = export_model(d, tmp_path / "export")
    card = card_of(out)
    data = card.data.to_dict()
    assert data["library_name"] == "transformers" and "bleu" in data["metrics"] and "cramgui" in data["tags"]
    results = (d / "results.csv").read_text().splitlines()[1].split(",")
    bleu = float(results[3])
    [er] = card.data.eval_results
    assert er.metric_type == "bleu" and er.metric_value == round(bleu, 2)
    assert (er.dataset_config, er.dataset_split) == ("python", "test")
    text = card.text
    assert "| python | test | 30 |" in text and f"{bleu:.2f}" in text
    assert "## Data" in text and "| python | train | 300 |" in text
    assert "budget: 5 s" in text and "optimizer steps:" in text
    assert "AutoModelForSeq2SeqLM.from_pretrained" in text and "truncation=True" in text
    assert toml_block(text)["model"]["source"] == "scratch"
    assert config_lib.RunConfig.from_dict(toml_block(text)).to_dict() == cfg.to_dict()


@pytest.mark.slow
def test_export_refuses_to_overwrite_unless_forced_and_cli(trained_run, tmp_path, capsys):
    d, _ = trained_run
    out = tmp_path / "export"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(ExportError, match="not empty"):
        export_model(d, out)
    assert export_main(["model", str(d), str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert export_main(["model", str(d), str(out), "--force", "--checkpoint", "last"]) == 0
    assert not (out / "keep.txt").exists() and (out / "model.safetensors").is_file()
    assert "last" in card_of(out).text and "evaluated its `best` checkpoint" in card_of(out).text
    with pytest.raises(ExportError, match="inside the run directory"):
        export_model(d, d / "export")


# ------------------------------------------------------------------------------ hand-made runs (no training)
def fake_run(tmp_path: Path, model, tok, meta, cfg, results=None) -> Path:
    run = tmp_path / "run"
    best = run / "checkpoints" / "best"
    model_lib.save(model, tok, meta, best)
    atomic_write_json(best / STATE_FILE, {"step": 12, "elapsed": 3.0})
    atomic_write_json(run / "config.json", cfg.to_dict())
    if results:
        write_results(run, results)
    return run


@pytest.fixture(scope="module")
def tok():
    return train_bpe(TEXTS, 400)


def test_encoder_recipe_export_is_plain_loadable_and_tied_inside_the_decoder(tok, tmp_path):
    """code2nl: transformers 5 cannot declare the encoder->decoder tie of an EncoderDecoderModel, so the export
    stores the matrix for the encoder and once for the decoder (input and output tied there), equal values;
    engine.model.load ties all three again."""
    from transformers import AutoModelForSeq2SeqLM, RobertaConfig, RobertaModel

    enc_dir = tmp_path / "tiny-roberta"
    RobertaModel(RobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                               intermediate_size=64, max_position_embeddings=140,
                               pad_token_id=tok.pad_token_id)).save_pretrained(enc_dir)
    tok.save_pretrained(enc_dir)
    t = load_tokenizer(enc_dir)
    cfg = tiny_config(**{"model.source": "encoder", "model.name_or_path": str(enc_dir), "model.decoder_layers": 2})
    m, meta = model_lib.build(cfg.model, t, 130)
    run = fake_run(tmp_path, m, t, meta, cfg)
    out = export_model(run, tmp_path / "export")
    plain = AutoModelForSeq2SeqLM.from_pretrained(out).eval()
    enc, dec_in, dec_out = (plain.encoder.get_input_embeddings().weight, plain.decoder.get_input_embeddings().weight,
                            plain.decoder.get_output_embeddings().weight)
    assert dec_out is dec_in and torch.equal(enc, dec_in)
    assert torch.equal(enc, m.encoder.get_input_embeddings().weight)
    assert vocab_matrices(out, len(t)) == ["decoder.roberta.embeddings.word_embeddings.weight",
                                           "encoder.embeddings.word_embeddings.weight"]
    ours, _, meta2 = model_lib.load(out)
    e = ours.encoder.get_input_embeddings().weight
    assert ours.decoder.get_input_embeddings().weight is e and ours.decoder.get_output_embeddings().weight is e
    assert meta2["kind"] == "encoder" and meta2["decoding"]["beam_size"] == cfg.eval.beam_size
    with torch.no_grad():
        ids = plain.generate(**t("def add ( a , b )", truncation=True, return_tensors="pt"))
    assert ids.shape[0] == 1 and plain.generation_config.num_beams == cfg.eval.beam_size
    assert "ties them again" in card_of(out).text


def test_card_shows_the_constant_floor_and_escapes_run_text(tok, tmp_path):
    m, meta = model_lib.build(config_lib.ModelConfig(source="scratch", size="tiny"), tok, 130)
    cfg = tiny_config()
    config_lib.set_value(cfg, "name", "a|b")
    rows = [{"language": "python", "split": "test", "n": 30, "bleu4": 14.5, "nltk_bleu4": 3.0, "decode_seconds": 1.0,
             "beam_size": 4, "floor_bleu4": 12.25, "above_floor": 2.25, "floor_text": "Return the | value ."}]
    run = fake_run(tmp_path, m, tok, meta, cfg, rows)
    card = card_of(export_model(run, tmp_path / "export"))
    assert "| constant floor | above floor |" in card.text
    assert "| python | test | 30 | 14.50 | 3.00 | 4 | 12.25 | 2.25 |" in card.text
    assert "Return the \\| value ." in card.text and "# a\\|b" in card.text
    assert card.data.eval_results[0].metric_value == 14.5
    # the decoding is the run config's (eval.beam_size), whatever beam a later `cram eval --beam` used
    assert json.loads((tmp_path / "export" / "generation_config.json").read_text())["num_beams"] == cfg.eval.beam_size


def test_a_run_without_best_exports_last_and_one_without_checkpoints_is_refused(tok, tmp_path):
    m, meta = model_lib.build(config_lib.ModelConfig(source="scratch", size="tiny"), tok, 130)
    run = fake_run(tmp_path, m, tok, meta, tiny_config())
    (run / "checkpoints" / "best").rename(run / "checkpoints" / "last")
    out = export_model(run, tmp_path / "export")
    assert "`last` checkpoint (step 12)" in card_of(out).text
    assert "no final results" in card_of(out).text
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ExportError, match="no complete checkpoint"):
        export_model(empty, tmp_path / "e2")
    assert not (tmp_path / "e2").exists()
