"""`cram export model RUN_DIR OUT`: a checkpoint of a run as a clean Hugging Face model folder.

The folder holds the weights (safetensors), config.json, generation_config.json with the run's decoding, the
tokenizer (model_max_length = the run's maximum source length), cram_model.json (so `cram` itself loads it with
the same structure) and a model card (README.md: YAML metadata the Hub reads, the per-language BLEU table beside
the constant-prediction floor, the data, the budget, the config, how to load and generate). No optimizer state,
no RNG state, no run files: `hf upload USER/NAME OUT` (or HfApi().upload_folder) takes it as it is.

Weight tying. From-scratch (BART) and seq2seq models tie their embeddings natively: one matrix in the file,
re-tied by `from_pretrained`. The code2nl encoder recipe ties the decoder's input and output embeddings to the
encoder's word embeddings; transformers 5 can no longer declare that tie for an EncoderDecoderModel (the
`tie_encoder_decoder` option is gone and the class declares no `_tied_weights_keys`), so a file without the
decoder's matrix would load with a randomly initialised one. The export therefore stores the matrix twice
(encoder, decoder; the decoder's output layer is tied to the decoder's input embedding by the decoder's own
`tie_word_embeddings`), with equal values; `cram` (engine.model.load) ties all three again.

The original code2nl decoder (model.decoder=code2nl, engine.code2nl_decoder) has no transformers class: its
output head (tanh(dense) times the encoder's word embeddings, no bias) and its use of the encoder's embeddings
module are not a RobertaForCausalLM, and a class of our own would need trust_remote_code, which stays off. Such a
folder is exported for `cram` (engine.model.load), each matrix once; its config.json names the decoder
`code2nl_decoder.MODEL_TYPE`, so plain `AutoModelForSeq2SeqLM.from_pretrained` fails with that name instead of
loading a different model, and the card and the export's message say so.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from . import model as model_lib
from .code2nl_decoder import MODEL_TYPE as CODE2NL_TYPE
from .contract import config as config_lib
from .contract.events import read_events
from .contract.files import read_text, say
from .contract.rundir import (CONFIG, EVENTS, CHECKPOINTS, RunFileError, checkpoint_dir, read_results, replace_dir,
                              state_file)

CARD = "README.md"
CODEXGLUE_HUB_ID = "google/code_x_glue_ct_code_to_text"


class ExportError(RuntimeError):
    """An export that cannot be done; the message says why and what to do."""


# ------------------------------------------------------------------------------------------------ run files
def read_config(run_dir: Path) -> config_lib.RunConfig | None:
    """The run's config.json (never through a symlink), or None when it has none."""
    p = Path(run_dir) / CONFIG
    if not p.is_file() and not p.is_symlink():
        return None
    try:
        d = json.loads(read_text(p))
    except (OSError, ValueError) as e:
        raise ExportError(f"cannot read {p}: {e}") from None
    if not isinstance(d, dict):
        raise ExportError(f"{p}: not a run configuration")
    return config_lib.RunConfig.from_dict(d)


def find_checkpoint(run_dir: Path, kind: str) -> tuple[Path, str]:
    """(folder, kind) of the checkpoint to export: `kind`, or `last` when a run has no `best` (no dev evaluation)."""
    if kind not in ("best", "last"):
        raise ExportError(f"unknown checkpoint {kind!r}: best or last")
    folder = checkpoint_dir(run_dir, kind)
    if folder is None and kind == "best":
        folder, kind = checkpoint_dir(run_dir, "last"), "last"
        if folder is not None:
            say(f"cram: {run_dir} has no best checkpoint; exporting the last one")
    if folder is None:
        raise ExportError(f"{run_dir} has no complete checkpoint under {CHECKPOINTS}/ (train the run first)")
    return folder, kind


def _state(folder: Path) -> dict:
    p = state_file(folder)
    try:
        d = json.loads(read_text(p)) if p else {}
    except (OSError, ValueError):
        d = {}
    return d if isinstance(d, dict) else {}


def run_facts(run_dir: Path) -> dict:
    """What the card says about a run, from events.jsonl: data counts, device, versions, the end of training."""
    facts: dict = {"data": {}, "started": None, "done": None, "best_dev_bleu": None, "evals": 0}
    for ev in read_events(Path(run_dir) / EVENTS):
        kind = ev.get("event")
        if kind == "data" and ev.get("language") and ev.get("split"):
            facts["data"][(str(ev["language"]), str(ev["split"]))] = ev.get("n")
        elif kind == "started" and facts["started"] is None:
            facts["started"] = ev
        elif kind == "eval":
            facts["evals"] += 1
            b = ev.get("dev_bleu")
            if isinstance(b, (int, float)) and (facts["best_dev_bleu"] is None or b > facts["best_dev_bleu"]):
                facts["best_dev_bleu"] = float(b)
        elif kind == "done" and ev.get("status"):
            facts["done"] = ev
    return facts


# ------------------------------------------------------------------------------------------------ the card
def _cell(value) -> str:
    """A Markdown table cell from run text (untrusted): one line, pipes escaped."""
    return " ".join(str(value).split()).replace("|", "\\|")


def _num(value, spec: str = ".2f") -> str:
    return format(value, spec) if isinstance(value, (int, float)) and not isinstance(value, bool) else "–"


def _dataset(cfg: config_lib.RunConfig) -> tuple[str, str]:
    """(hub-style dataset id, readable name) of the run's data."""
    if cfg.data.source == "codexglue":
        return CODEXGLUE_HUB_ID, "CodeXGLUE code-to-text"
    return "cramgui-builtin-stdlib", "cramgui built-in corpus (docstrings of the Python standard library)"


def _is_hub_id(name: str) -> bool:
    return bool(name) and name.count("/") == 1 and not name.startswith((".", "/", "~")) and not Path(name).exists()


def is_code2nl_run(cfg: config_lib.RunConfig) -> bool:
    return cfg.model.source == "encoder" and cfg.model.decoder == "code2nl"


CODE2NL_NOTE = (
    "This model uses the original CodeBERT code2nl decoder (`model.decoder = \"code2nl\"`: FFN 2048, ReLU, "
    "post-norm layers, target embeddings from the encoder's embeddings module, output `tanh(dense(h))` times the "
    "encoder's word embeddings, no bias). transformers has no class for that head, and loading a class shipped "
    "with the folder would need `trust_remote_code`, which cramgui keeps off; a plain RobertaForCausalLM would load "
    "a different model (a fresh GELU/LayerNorm head and fresh embeddings). So `AutoModelForSeq2SeqLM` refuses this "
    f"folder (its config.json names the decoder `{CODE2NL_TYPE}`): load it with cramgui, which builds the "
    "original's structure from config.json and reads the weights strictly.")


def card_metadata(cfg: config_lib.RunConfig | None, results: list[dict], evaluated: bool, title: str) -> str:
    """The card's YAML front matter (without the --- lines), built with huggingface_hub's ModelCardData so the Hub
    parses it: library, tags, metrics, datasets, base model, and the test BLEU-4 per language as model-index."""
    from huggingface_hub import EvalResult, ModelCardData

    kw: dict = {"library_name": "transformers", "pipeline_tag": "text2text-generation", "language": ["en"],
                "metrics": ["bleu"], "tags": ["code-summarization", "code-to-text", "cramgui"]}
    if cfg is not None and is_code2nl_run(cfg):  # no transformers class: engine.model.load reads it
        kw["library_name"] = "cramgui"
        kw["tags"].append("code2nl")
    eval_results = []
    if cfg is not None:
        hub_id, name = _dataset(cfg)
        if cfg.data.source == "codexglue":
            kw["datasets"] = [hub_id]
        if cfg.model.source != "scratch" and _is_hub_id(cfg.model.name_or_path):
            kw["base_model"] = cfg.model.name_or_path
        if evaluated:
            for r in results:
                if isinstance(r.get("bleu4"), (int, float)):
                    eval_results.append(EvalResult(
                        task_type="summarization", task_name="Code summarization", dataset_type=hub_id,
                        dataset_name=name, dataset_config=str(r["language"]), dataset_split=str(r["split"]),
                        metric_type="bleu", metric_value=round(float(r["bleu4"]), 2),
                        metric_name=f"smoothed BLEU-4 ({r['language']} {r['split']})"))
    if eval_results:
        kw["model_name"] = title
        kw["eval_results"] = eval_results
    return ModelCardData(**kw).to_yaml()


def _results_table(results: list[dict]) -> list[str]:
    floor = any(r.get("floor_bleu4") is not None for r in results)
    head = "| language | split | n | BLEU-4 | NLTK BLEU-4 | beam |"
    head += " constant floor | above floor |" if floor else ""
    rule = "|---|---|---:|---:|---:|---:|" + ("---:|---:|" if floor else "")
    lines = [head, rule]
    for r in results:
        n = r.get("n") if r.get("n") is not None else "–"
        row = (f"| {_cell(r.get('language'))} | {_cell(r.get('split'))} | {n} "
               f"| {_num(r.get('bleu4'))} | {_num(r.get('nltk_bleu4'))} | "
               f"{r.get('beam_size') if r.get('beam_size') is not None else '–'} |")
        if floor:
            row += f" {_num(r.get('floor_bleu4'))} | {_num(r.get('above_floor'))} |"
        lines.append(row)
    if floor:
        texts = [(r.get("language"), r.get("floor_text")) for r in results if r.get("floor_text")]
        lines.append("")
        lines.append("The constant floor is the smoothed BLEU-4 of the best single training summary written for "
                     "every example (chosen on dev); a model must beat it to have learned anything example-specific.")
        for lang, text in texts:
            lines.append(f"- {_cell(lang)} floor text: `{_cell(text).replace('`', '')}`")
    return lines


def model_card(run_dir: Path, cfg: config_lib.RunConfig | None, meta: dict, state: dict, kind: str,
               evaluated_kind: str, n_params: int, decoding: dict | None) -> str:
    """README.md of an exported model."""
    try:
        results = read_results(run_dir)
    except RunFileError as e:
        say(f"cram: {e}; the card has no results table")
        results = []
    facts = run_facts(run_dir)
    evaluated = kind == evaluated_kind
    title = (cfg.name if cfg is not None and cfg.name else Path(run_dir).name) or "cramgui model"
    out = ["---", card_metadata(cfg, results, evaluated, title).rstrip("\n"), "---", "",
           f"# {_cell(title)}", ""]
    code2nl = meta.get("decoder") == "code2nl"
    model_kind = {"scratch": "a from-scratch BART-style encoder-decoder with its own byte-level BPE tokenizer",
                  "encoder": "the CodeBERT code2nl recipe: a pretrained RoBERTa-style encoder and a fresh "
                             "Transformer decoder whose word embeddings are the encoder's",
                  "seq2seq": "a fine-tuned pretrained encoder-decoder"}.get(meta.get("kind"), "an encoder-decoder")
    if code2nl:
        model_kind = ("the original CodeBERT code2nl model: a pretrained RoBERTa-style encoder and the original's "
                      "fresh Transformer decoder and output head")
    out.append(f"A code summarization model (code in, one-line English summary out): {model_kind}, "
               f"{n_params / 1e6:.1f}M parameters, trained with cramgui under a wall-clock "
               f"budget. This is the run's `{kind}` checkpoint (step {state.get('step', '?')}).")
    out.append("")

    out += ["## Results", ""]
    if results and evaluated:
        out.append("Scored with smoothed BLEU-4, the CodeXGLUE code-to-text evaluator's metric, on the run's "
                   "evaluated split:")
        out.append("")
        out += _results_table(results)
    elif results:
        out.append(f"The run evaluated its `{evaluated_kind}` checkpoint, not this one; its scores for reference:")
        out.append("")
        out += _results_table(results)
    else:
        out.append("The run has no final results (it was stopped before its evaluation, or `cram eval` was not "
                   "run).")
    if facts["best_dev_bleu"] is not None:
        out += ["", f"Best dev BLEU-4 during training: {facts['best_dev_bleu']:.2f} ({facts['evals']} dev "
                f"evaluations)."]
    out.append("")

    out += ["## Data", ""]
    if cfg is not None:
        _, name = _dataset(cfg)
        out.append(f"{name}; languages: {', '.join(_cell(x) for x in cfg.data.languages)}. Sources truncated to "
                   f"{cfg.data.max_source_len} tokens, summaries to {cfg.data.max_target_len}.")
    if facts["data"]:
        out += ["", "| language | split | examples |", "|---|---|---:|"]
        order = {"train": 0, "valid": 1, "test": 2}
        for (lang, split), n in sorted(facts["data"].items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 3))):
            out.append(f"| {_cell(lang)} | {_cell(split)} | {n if n is not None else '–'} |")
    out.append("")

    out += ["## Training budget", ""]
    done, started = facts["done"] or {}, facts["started"] or {}
    budget = f"{cfg.budget.seconds:g} s" if cfg is not None else "?"
    out.append(f"- budget: {budget} of training (dev evaluations and checkpoints excluded)")
    for label, key, spec in (("trained", "elapsed", ".1f"), ("dev evaluation", "eval_seconds", ".1f")):
        if isinstance(done.get(key), (int, float)):
            out.append(f"- {label}: {done[key]:{spec}} s")
    if isinstance(done.get("step"), int):
        out.append(f"- optimizer steps: {done['step']}")
    if isinstance(done.get("tokens_seen"), int):
        out.append(f"- target tokens seen: {done['tokens_seen']:,}")
    if started.get("device"):
        out.append(f"- device: {_cell(started['device'])}")
    if isinstance(started.get("versions"), dict):
        vs = ", ".join(f"{_cell(k)} {_cell(v)}" for k, v in started["versions"].items())
        out.append(f"- versions: {vs}")
    out.append("")

    if decoding:
        beams = decoding["beam_size"]
        search = (f"beam search with {beams} beams (length penalty 1.0, early stopping)" if beams > 1
                  else "greedy decoding")
        if int(decoding.get("no_repeat_ngram", 0)) > 0:
            search += f", no {int(decoding['no_repeat_ngram'])}-gram repeated (`no_repeat_ngram_size`)"
        out += ["## Decoding", "",
                f"`generation_config.json` holds the run's evaluation decoding: {search}, at most "
                f"{decoding['max_target_len']} new tokens. The tokenizer truncates code to "
                f"{decoding['max_source_len']} tokens (`model_max_length`), as the run did.", ""]
        if decoding.get("split_identifiers"):
            out += ["The run trained on code whose identifiers were split into lower-case words "
                    "(`data.split_identifiers`: `get_fileName` -> `get file name`): give the model code prepared "
                    "the same way, with `engine.data.split_identifiers(code)`.", ""]
        if decoding.get("lowercase"):
            out += ["The run trained on lower-cased code and summaries (`data.lowercase`): give the model "
                    "lower-cased code (`code.lower()`, after splitting identifiers); it writes lower-case "
                    "summaries.", ""]

    if code2nl:
        load = ["from engine.model import load  # cramgui's engine (engine/model.py)", "",
                'model, tokenizer, meta = load("path/to/this/folder")']
    else:
        load = ["from transformers import AutoModelForSeq2SeqLM, AutoTokenizer", "",
                'path = "path/to/this/folder"  # or its Hub id',
                "model = AutoModelForSeq2SeqLM.from_pretrained(path)",
                "tokenizer = AutoTokenizer.from_pretrained(path)"]
    out += ["## How to use", ""] + ([CODE2NL_NOTE, ""] if code2nl else []) + ["```python", *load, "",
            'code = "def add ( a , b ) : return a + b"  # tokens joined by spaces, like CodeXGLUE\'s code_tokens',
            'ids = model.generate(**tokenizer(code, truncation=True, return_tensors="pt"))',
            'print(" ".join(tokenizer.decode(ids[0], skip_special_tokens=True).split()))',
            "```", "",
            "One example at a time this gives the run's predictions token for token. `cram eval` and the "
            "CodeXGLUE evaluator score predictions written as `idx<TAB>summary` lines "
            "(`python evaluator.py lang_test.gold < lang_test.output`).", ""]
    if meta.get("kind") == "encoder" and not code2nl:
        out += ["The decoder's word embeddings are tied to the encoder's in training; transformers loads the two as "
                "separate (equal) matrices, so fine-tuning this folder with plain transformers unties them "
                "(`cram` ties them again).", ""]

    if cfg is not None:
        out += ["## Configuration", "", "The run's `cram` configuration (`cram train CONFIG.toml` trains it again):",
                "", "```toml", config_lib.dumps_toml(cfg).rstrip("\n"), "```", ""]
    return "\n".join(out)


# ------------------------------------------------------------------------------------------------ the export
def _readable(folder: Path) -> None:
    """Files and folder with the usual permissions (0666 / 0777 less the umask): temp folders and some writers
    create them private, and an export is meant to be shared."""
    mask = os.umask(0)
    os.umask(mask)
    folder.chmod(0o777 & ~mask)
    for p in folder.iterdir():
        if p.is_file() and not p.is_symlink():
            p.chmod(0o666 & ~mask)


def export_model(run_dir: str | Path, out: str | Path, checkpoint: str = "best", force: bool = False) -> Path:
    """Write checkpoint `checkpoint` of `run_dir` as a Hugging Face model folder `out` (refused when `out` exists
    and is not empty, unless `force`: then it is replaced once the new folder is complete)."""
    run_dir, out = Path(run_dir), Path(out)
    if not run_dir.is_dir():
        raise ExportError(f"{run_dir} is not a run directory")
    folder, kind = find_checkpoint(run_dir, checkpoint)
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise ExportError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ExportError(f"{out} exists and is not empty (--force replaces it)")
    if out.resolve() == run_dir.resolve() or run_dir.resolve() in out.resolve().parents:
        raise ExportError(f"{out} is inside the run directory; export the model somewhere else")
    cfg = read_config(run_dir)
    model, tokenizer, meta = model_lib.load(folder)
    decoding = model_lib.decoding_settings(cfg) if cfg is not None else meta.get("decoding")
    evaluated_kind = "best" if checkpoint_dir(run_dir, "best") is not None else "last"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        model_lib.save(model, tokenizer, meta, tmp, decoding=decoding)
        card = model_card(run_dir, cfg, meta, _state(folder), kind, evaluated_kind, model_lib.count_params(model),
                          decoding)
        (tmp / CARD).write_text(card, encoding="utf-8")
        _readable(tmp)
        replace_dir(tmp, out)
        if meta.get("decoder") == "code2nl":
            say(f"cram: {out} holds the original code2nl decoder, which plain transformers cannot load (no class for "
                "its head; trust_remote_code stays off): load it with engine.model.load (see its README.md)")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
