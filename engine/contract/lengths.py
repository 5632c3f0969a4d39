"""A CodeXGLUE code-to-text line as the model reads it, and the lengths in a folder of them (pure Python).

ROOT/{lang}/{train,valid,test}.jsonl holds one JSON object a line; its source is ' '.join(code_tokens) and its
target ' '.join(docstring_tokens), runs of whitespace collapsed (how the CodeXGLUE scripts read it). `line_texts`
is that one reading (engine.data builds its examples on it); `length_stats` measures a folder for the console's
Data tab without starting the engine (lengths in whitespace tokens, or a tokenizer's).
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from collections.abc import Callable

from .paths import LANGUAGES, SPLITS, split_path

MAX_LINE_BYTES = 4 << 20   # default cap of one line (data.max_line_bytes): longer lines are skipped as too_long
_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89abcdefABCDEF]")

FORMAT_HINT = ("each line must be a JSON object with non-empty 'code_tokens' and 'docstring_tokens' lists of "
               "strings (the CodeXGLUE code-to-text format)")
LAYOUT_HINT = ("expected the CodeXGLUE code-to-text layout DIR/{lang}/{train,valid,test}.jsonl, e.g. the "
               "preprocessed dataset of microsoft/CodeXGLUE Code-Text/code-to-text, or use data.source=builtin")


class DataError(ValueError):
    """A data file or folder cannot be used. The message names the file, the reason and what to do."""


# -- one line ---------------------------------------------------------------------------------------------------
def _tokens(obj: dict, key: str) -> tuple[str | None, str]:
    """(joined text, '') for a usable token list, else (None, reason)."""
    if key not in obj or obj[key] is None:
        return None, "missing_field"
    toks = obj[key]
    if not isinstance(toks, list) or not all(isinstance(t, str) for t in toks):
        return None, "bad_type"
    text = " ".join(" ".join(toks).split())
    if not text:
        return None, "empty"
    return text, ""


def _encodable(value) -> bool:
    """No lone surrogate anywhere in a decoded JSON value (valid JSON like "\\ud800" decodes to one; UTF-8 cannot
    hold it, and a tokenizer or a writer would fail on it later, far from the line that caused it)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_encodable(k) and _encodable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_encodable(v) for v in value)
    return True


def line_texts(raw: bytes, max_bytes: int = MAX_LINE_BYTES) -> tuple[tuple[dict, str, str] | None, str]:
    """One raw line (without its newline) -> ((the JSON object, source, target), '') or (None, reason): blank,
    too_long (over max_bytes), bad_utf8 (also an escaped lone surrogate), bad_json, not_object, then
    missing_field / bad_type / empty for code_tokens or docstring_tokens."""
    if not raw.strip():
        return None, "blank"
    if max_bytes and len(raw) > max_bytes:
        return None, "too_long"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "bad_utf8"
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return None, "bad_json"
    if not isinstance(obj, dict):
        return None, "not_object"
    if _ESCAPED_SURROGATE.search(raw) and not _encodable(obj):
        return None, "bad_utf8"
    source, why = _tokens(obj, "code_tokens")
    if source is None:
        return None, why
    target, why = _tokens(obj, "docstring_tokens")
    if target is None:
        return None, why
    return (obj, source, target), ""


# -- length statistics of a folder ------------------------------------------------------------------------------
COVERAGE = 0.95


def _covering(sorted_lengths: list[int], share: float) -> int:
    """The smallest length L with at least `share` of the examples no longer than L (nearest rank)."""
    if not sorted_lengths:
        return 0
    k = max(1, math.ceil(share * len(sorted_lengths) - 1e-9))
    return sorted_lengths[min(k, len(sorted_lengths)) - 1]


def _distribution(lengths: list[int], bins: int, share: float) -> dict:
    s = sorted(lengths)
    if not s:
        return {"mean": 0.0, "median": 0, "p95": 0, "max": 0, "covering": 0,
                "hist": {"edges": [0, 1], "counts": [0], "overflow": 0}}
    top = max(1, _covering(s, 0.99))
    width = max(1, -(-top // bins))
    edges = [i * width for i in range(bins + 1)]
    counts = [0] * bins
    overflow = 0
    for v in s:
        i = v // width
        if i >= bins:
            if v <= edges[-1]:
                counts[-1] += 1
            else:
                overflow += 1
        else:
            counts[i] += 1
    return {"mean": round(sum(s) / len(s), 2), "median": s[(len(s) - 1) // 2], "p95": _covering(s, 0.95),
            "max": s[-1], "covering": _covering(s, share),
            "hist": {"edges": edges, "counts": counts, "overflow": overflow}}


def _sampled_lines(path: Path, max_examples: int) -> tuple[list[tuple[int, bytes]], int, bool]:
    """(line number, raw line) of every line, or of about `max_examples` lines spread evenly over the file; the
    number of non-blank lines; whether it is a sample."""
    with open(path, "rb") as fh:
        raw = fh.read()
    lines = raw.split(b"\n")
    if lines and not lines[-1].strip():
        lines.pop()
    nonblank = sum(1 for line in lines if line.strip())
    step = 1 if max_examples <= 0 or len(lines) <= max_examples else -(-len(lines) // max_examples)
    return [(i + 1, lines[i].rstrip(b"\r")) for i in range(0, len(lines), step)], nonblank, step > 1


def length_stats(root, tokenizer: Callable[[str], object] | None = None, max_examples: int = 0,
                 coverage: float = COVERAGE, bins: int = 20) -> dict:
    """Lengths of code and summaries in a CodeXGLUE-layout folder ROOT/{lang}/{split}.jsonl, for the console's
    data panel. Returns
      {"root", "unit": "whitespace" | "model", "coverage": 0.95,
       "languages": {lang: {split: {"n", "skipped", "sampled", "code": D, "summary": D,
                                    "max_source_length", "max_target_length"}}},
       "suggested": {"max_source_length", "max_target_length"}}   # over the train splits (all splits if none)
    with D = {"mean", "median", "p95", "max", "covering", "hist": {"edges", "counts", "overflow"}} (`covering` is
    the smallest length covering `coverage` of the examples; `hist` has `bins` equal-width bins up to the 99th
    percentile, longer ones are counted in `overflow`). Lengths are whitespace tokens of ' '.join(code_tokens) and
    ' '.join(docstring_tokens) (what the model reads), or `len(tokenizer(text))` (or its int result) when a
    tokenizer callable is given. `max_examples` > 0 measures about that many lines spread evenly over each file
    (n is then the non-blank line count). Raises DataError when ROOT is not a folder or holds no split file."""
    r = Path(root).expanduser()
    if not r.is_dir():
        raise DataError(f"{r}: folder not found. Hint: {LAYOUT_HINT}")

    def measure(text: str) -> int:
        if tokenizer is None:
            return len(text.split())
        out = tokenizer(text)
        return out if isinstance(out, int) else len(out)

    languages: dict = {}
    pooled: dict[str, tuple[list[int], list[int]]] = {}
    for lang in LANGUAGES:
        for split in SPLITS:
            p = split_path(r, lang, split)
            if not p.is_file():
                continue
            lines, nonblank, sample = _sampled_lines(p, max_examples)
            code, summary, skipped = [], [], 0
            for lineno, raw in lines:
                if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                texts, why = line_texts(raw)
                if texts is None:
                    skipped += why != "blank"
                    continue
                code.append(measure(texts[1]))
                summary.append(measure(texts[2]))
            entry = {"n": nonblank if sample else len(code), "skipped": skipped, "sampled": len(code) if sample else 0,
                     "code": _distribution(code, bins, coverage), "summary": _distribution(summary, bins, coverage)}
            entry["max_source_length"] = entry["code"]["covering"]
            entry["max_target_length"] = entry["summary"]["covering"]
            languages.setdefault(lang, {})[split] = entry
            pool = pooled.setdefault(split, ([], []))
            pool[0].extend(code)
            pool[1].extend(summary)
    if not languages:
        raise DataError(f"{r}: no split file found. Hint: {LAYOUT_HINT}")
    src, tgt = pooled.get("train") or ([x for s in pooled.values() for x in s[0]], [x for s in pooled.values()
                                                                                    for x in s[1]])
    return {"root": str(r), "unit": "whitespace" if tokenizer is None else "model", "coverage": coverage,
            "languages": languages,
            "suggested": {"max_source_length": _covering(sorted(src), coverage),
                          "max_target_length": _covering(sorted(tgt), coverage)}}


def read_lines(fh, max_bytes: int = MAX_LINE_BYTES):
    """(line number, raw line without its newline) of a binary file, in bounded memory: a line longer than
    `max_bytes` is yielded as its first max_bytes + 1 bytes (so line_texts calls it too_long) and the rest of it
    is skipped unread into memory."""
    cap = max_bytes + 1 if max_bytes else -1
    lineno = 0
    while True:
        raw = fh.readline(cap)
        if not raw:
            return
        lineno += 1
        if not raw.endswith(b"\n") and cap > 0 and len(raw) >= cap:
            while True:  # the rest of an overlong line
                rest = fh.readline(1 << 20)
                if not rest or rest.endswith(b"\n"):
                    break
        raw = raw.rstrip(b"\r\n")
        if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]  # a UTF-8 byte order mark
        yield lineno, raw


def file_problem(path) -> str | None:
    """Why a split path cannot be read as a file (without opening it: a FIFO would block), None when it can:
    missing, dangling symlink, folder, not a regular file."""
    p = Path(path)
    if p.is_symlink() and not p.exists():
        return "dangling symlink"
    if not p.exists():
        return "missing"
    if p.is_dir():
        return "is a folder"
    if not p.is_file():
        return "not a regular file (a FIFO, socket or device)"
    return None
