"""Every prediction of an evaluated split, read from the run directory (pure Python: no Qt, safe off the GUI thread).

The engine writes RUN_DIR/{lang}_{split}.output and .gold (`idx<TAB>text` per line, the CodeXGLUE evaluator's
format; names from engine.contract.rundir.prediction_paths). The source code of an example is only in the
`samples` events / samples.jsonl (eval.samples per language), so rows merge the two by idx: every prediction, its
reference, its sentence BLEU-4, and the code where the run stored it. The files are untrusted input: opened without
following a symlink, capped at MAX_FILE_BYTES, decoded with invalid bytes replaced.
"""
from __future__ import annotations

import math
import os
import re
import sys
from collections import Counter
from itertools import chain

from engine.contract.files import open_read
from engine.contract.rundir import prediction_paths

MAX_FILE_BYTES = 64 << 20     # one .output / .gold file; a CodeXGLUE test split (~15,000 lines) is ~2 MiB

# -- sentence BLEU-4: the engine's smoothed BLEU (engine/bleu.py, the CodeXGLUE evaluator's algorithm) --------------
# The console may not import engine.bleu; this is the same computation (tokens, clipped n-gram matches, +1 smoothing
# for n > 1, shortest reference, brevity penalty), checked equal to engine.bleu.sentence_bleu4 by
# tests/gui/test_samples_data.py.
_TOKEN = re.compile(r"[^\W_]+|_|[^\s\w]")
_TINY = sys.float_info.min


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.strip().lower())


def _ngrams(words: list[str]) -> Counter:
    w1, w2, w3 = words[1:], words[2:], words[3:]
    return Counter(chain(zip(words), zip(words, w1), zip(words, w1, w2), zip(words, w1, w2, w3)))


def sentence_bleu4(references: list[str], prediction: str) -> float:
    """Smoothed BLEU-4 (percentage) of one prediction against its reference texts, as the engine scores it."""
    refs = [_tokens(r) for r in references]
    if not refs:
        raise ValueError("an idx has no reference text")
    refmax = _ngrams(refs[0])
    for r in refs[1:]:
        refmax |= _ngrams(r)
    test = _tokens(prediction)
    counts = _ngrams(test)
    correct = [0, 0, 0, 0]
    for gram in counts.keys() & refmax.keys():
        count, rc = counts[gram], refmax[gram]
        correct[len(gram) - 1] += rc if rc < count else count
    n = len(test)
    logbleu = 0.0
    for k in range(4):
        guess = n - k if n > k else 0
        add = 1 if k > 0 else 0
        logbleu += math.log(correct[k] + add + _TINY) - math.log(guess + add + _TINY)
    logbleu /= 4.0
    logbleu += min(0, 1 - float(min(len(r) for r in refs) + 1) / (n + 1))
    return math.exp(logbleu) * 100.0


# -- reading the prediction files ------------------------------------------------------------------------------
class PredictionsError(ValueError):
    """The prediction files of a split cannot be shown (too large, unreadable, a symlink); the message says why."""


def _read(path, limit: int) -> str | None:
    """The text of a run file, None when it does not exist; PredictionsError when it is too large or unsafe."""
    try:
        with open_read(path) as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > limit:
                raise PredictionsError(f"{path.name} is {_size(size)}, more than the {_size(limit)} the Samples "
                                       f"view reads")
            data = fh.read(limit + 1)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise PredictionsError(f"{path.name}: {e.strerror or e}") from None
    if len(data) > limit:
        raise PredictionsError(f"{path.name} is larger than the {_size(limit)} the Samples view reads")
    return data.decode("utf-8", errors="replace")


def _size(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.1f} {unit}"
    return f"{n} bytes"


def _idx(raw: str):
    raw = raw.strip()
    return int(raw) if raw.isdigit() and len(raw) < 19 else raw


def parse_predictions(text: str) -> tuple[dict, int]:
    """{idx: prediction} as the evaluator reads a prediction file (a line holding only an idx is an empty
    prediction; a repeated idx keeps the last line) and the count of blank lines skipped."""
    out: dict = {}
    skipped = 0
    for line in text.splitlines():
        cols = line.strip().split("\t")
        if not cols[0]:
            skipped += 1
            continue
        out[_idx(cols[0])] = cols[1].strip() if len(cols) > 1 else ""
    return out, skipped


def parse_gold(text: str) -> tuple[dict, int]:
    """{idx: [reference, …]} as the evaluator reads a gold file (an idx may have several lines) and the count of
    lines skipped (blank, or not exactly `idx<TAB>text`)."""
    out: dict = {}
    skipped = 0
    for line in text.splitlines():
        cols = line.split("\t")
        if not line.strip() or len(cols) != 2 or not cols[0].strip():
            skipped += 1
            continue
        out.setdefault(_idx(cols[0]), []).append(cols[1].strip())
    return out, skipped


def merge_rows(predictions: dict, gold: dict, samples: list[dict]) -> list[dict]:
    """One row per idx of either file (gold order first): idx, prediction, reference, bleu (None without a
    reference), code (None when the run did not store it)."""
    code = {}
    for s in samples:
        if isinstance(s, dict) and isinstance(s.get("code"), str):
            code[_idx(str(s.get("idx")))] = s["code"]
    rows = []
    for idx in chain(gold, (i for i in predictions if i not in gold)):
        refs = gold.get(idx) or []
        pred = predictions.get(idx)
        bleu = round(sentence_bleu4(refs, pred), 4) if refs and pred is not None else None
        rows.append({"idx": idx, "prediction": pred or "", "reference": "\n".join(refs), "bleu": bleu,
                     "code": code.get(idx)})
    return rows


def read_split(run_dir, language: str, split: str, samples: list[dict] | None = None,
               limit: int = MAX_FILE_BYTES) -> dict:
    """Every prediction of `language`/`split` in `run_dir`: {rows, note, found}. `found` is False when the run
    has no prediction file for it (not evaluated yet); `note` says what was skipped. Raises PredictionsError
    (also for an unknown language or split, whose file names are never built from run text)."""
    try:
        out_path, gold_path = prediction_paths(run_dir, language, split)
    except (ValueError, OSError) as e:
        raise PredictionsError(str(e)) from None
    out_text = _read(out_path, limit)
    if out_text is None:
        return {"rows": [], "note": f"no {out_path.name} in the run", "found": False}
    gold_text = _read(gold_path, limit) or ""
    predictions, bad_out = parse_predictions(out_text)
    gold, bad_gold = parse_gold(gold_text)
    rows = merge_rows(predictions, gold, samples or [])
    notes = []
    if not gold_text:
        notes.append(f"no {gold_path.name}: references missing")
    if bad_out or bad_gold:
        notes.append(f"{bad_out + bad_gold:,} unreadable lines skipped")
    return {"rows": rows, "note": "; ".join(notes), "found": True}
