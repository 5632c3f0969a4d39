"""Reading CodeXGLUE code-to-text data: DIR/{lang}/{train,valid,test}.jsonl, one JSON object per line.

Pure Python (no torch, no Qt): `cram data stats` and the training run's data loading. Turning text into model
tokens happens elsewhere; length statistics are engine.contract.lengths.

Each line is read the way the CodeXGLUE code-to-text scripts read it: source = ' '.join(code_tokens) and
target = ' '.join(docstring_tokens), with runs of whitespace collapsed. Bad lines (blank, broken JSON, invalid
UTF-8, missing or ill-typed token lists) are skipped one by one and counted per reason in a SplitReport, so one
damaged line never costs the whole file; a file with no usable line at all is a DataError.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .contract.lengths import (FORMAT_HINT, LAYOUT_HINT, MAX_LINE_BYTES, DataError, file_problem, line_texts,
                               read_lines)
from .contract.paths import LANGUAGES, SPLITS, split_path


MAX_SKIPPED_LINES = 10  # line numbers kept in a report


@dataclass
class Example:
    idx: int            # the example's id in the evaluator's output files: 'idx' if the line has one, else line - 1
    language: str
    source: str         # ' '.join(code_tokens)
    target: str         # ' '.join(docstring_tokens)
    code: str           # the original code when the line has it, else `source`
    path: str           # repo/path, or ''
    func_name: str
    added: bool = False  # a training example another corpus added (data.site_packages_train, data.builtin_train)


_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def split_identifiers(source: str) -> str:
    """data.split_identifiers: every space-separated code token that is an identifier made of several words
    (snake_case, camelCase, PascalCase, with digits) becomes its lower-case words; other tokens (operators,
    literals, one-word names) stay as they are. 'def get_fileName ( self )' -> 'def get file name ( self )'."""
    out = []
    for tok in source.split(" "):
        if tok.isidentifier() and not tok.isupper() or "_" in tok and tok.replace("_", "").isalnum():
            words = [w.lower() for part in tok.split("_") for w in _CAMEL.findall(part)]
            if len(words) > 1:
                out.append(" ".join(words))
                continue
        out.append(tok)
    return " ".join(out)


@dataclass
class SplitReport:
    path: str
    language: str
    split: str
    n: int = 0
    skipped: int = 0
    skipped_lines: list[int] = field(default_factory=list)   # first few, 1-based
    reasons: dict[str, int] = field(default_factory=dict)    # reason -> count

    def to_event(self) -> dict:
        """Fields of the `data` event (see engine.contract.events)."""
        d = asdict(self)
        return {k: d[k] for k in ("language", "split", "n", "skipped", "skipped_lines", "reasons", "path")}

    def skip_summary(self) -> str:
        """'bad_json 3, blank 1' (most frequent first)."""
        return ", ".join(f"{r} {c}" for r, c in sorted(self.reasons.items(), key=lambda rc: (-rc[1], rc[0])))


# -- one line ---------------------------------------------------------------------------------------------------
def _text(value) -> str:
    return value if isinstance(value, str) else ""


def parse_line(raw: bytes, lineno: int, language: str,
               max_bytes: int = MAX_LINE_BYTES) -> tuple[Example | None, str]:
    """One raw line (without its newline) -> (Example, '') or (None, reason); the reading is
    engine.contract.lengths.line_texts."""
    texts, why = line_texts(raw, max_bytes)
    if texts is None:
        return None, why
    obj, source, target = texts
    idx = obj.get("idx")
    if not isinstance(idx, int) or isinstance(idx, bool):
        idx = lineno - 1
    repo, path = _text(obj.get("repo")), _text(obj.get("path"))
    return Example(
        idx=idx,
        language=language,
        source=source,
        target=target,
        code=_text(obj.get("code")) or source,
        path=f"{repo}/{path}" if repo and path else path,
        func_name=_text(obj.get("func_name")),
    ), ""


# -- one file ---------------------------------------------------------------------------------------------------
def scan_split(path, language: str, split: str, max_examples: int = 0,
               max_line_bytes: int = MAX_LINE_BYTES) -> tuple[list[Example], SplitReport]:
    """Read what is usable from one .jsonl file; never raises for bad content (only for an unreadable file).
    Lines longer than `max_line_bytes` are skipped (too_long) without being held in memory."""
    p = Path(path)
    report = SplitReport(path=str(p), language=language, split=split)
    reasons: Counter = Counter()
    examples: list[Example] = []
    with open(p, "rb") as fh:
        for lineno, raw in read_lines(fh, max_line_bytes):
            ex, why = parse_line(raw, lineno, language, max_line_bytes)
            if ex is None:
                reasons[why] += 1
                if len(report.skipped_lines) < MAX_SKIPPED_LINES:
                    report.skipped_lines.append(lineno)
                continue
            examples.append(ex)
            if max_examples > 0 and len(examples) >= max_examples:
                break
    report.n = len(examples)
    report.skipped = sum(reasons.values())
    report.reasons = dict(sorted(reasons.items()))
    return examples, report


def _check_file(path: Path) -> None:
    problem = file_problem(path)
    if problem == "is a folder":
        raise DataError(f"{path}: is a folder, expected a .jsonl file. Hint: {LAYOUT_HINT}")
    if problem == "missing":
        raise DataError(f"{path}: file not found. Hint: {LAYOUT_HINT}")
    if problem:
        raise DataError(f"{path}: {problem}, expected a .jsonl file. Hint: {LAYOUT_HINT}")


def read_split(path, language: str, split: str, max_examples: int = 0,
               max_line_bytes: int = MAX_LINE_BYTES) -> tuple[list[Example], SplitReport]:
    """Read a CodeXGLUE code-to-text .jsonl file. `max_examples` > 0 keeps the first N usable examples (the
    report then covers the lines read up to there). Raises DataError when the file is missing or unreadable, or
    when no usable example remains."""
    p = Path(path)
    _check_file(p)
    try:
        examples, report = scan_split(p, language, split, max_examples, max_line_bytes)
    except OSError as e:
        raise DataError(f"{p}: cannot read: {e.strerror or e}. Hint: check the file's permissions") from None
    if not examples:
        if report.skipped:
            why = f"{report.skipped} lines skipped: {report.skip_summary()}; first bad lines {report.skipped_lines}"
        else:
            why = "the file is empty"
        raise DataError(f"{p}: no usable example ({why}). Hint: {FORMAT_HINT}")
    return examples, report


# -- a folder ---------------------------------------------------------------------------------------------------
def _check_root(root) -> Path:
    r = Path(root).expanduser()
    if not r.is_dir():
        raise DataError(f"{r}: folder not found. Hint: {LAYOUT_HINT}")
    return r


def find_languages(root) -> list[str]:
    """Languages (in engine.contract.paths.LANGUAGES order) whose folder ROOT/{lang}/ holds train, valid and test
    .jsonl."""
    r = Path(root).expanduser()
    return [lang for lang in LANGUAGES if all(split_path(r, lang, s).is_file() for s in SPLITS)]


def load_corpus(root, languages, max_train: int = 0, max_valid: int = 0, max_test: int = 0,
                max_line_bytes: int = MAX_LINE_BYTES) -> dict[tuple[str, str], tuple[list[Example], SplitReport]]:
    """Read train/valid/test of every language: {(lang, split): (examples, report)}. A missing split file is a
    DataError naming the expected path."""
    r = _check_root(root)
    limits = {"train": max_train, "valid": max_valid, "test": max_test}
    out = {}
    for lang in languages:
        for split in SPLITS:
            p = split_path(r, lang, split)
            if not p.exists() and not p.is_symlink():
                found = find_languages(r)
                have = f"complete languages here: {', '.join(found)}" if found else "no complete language here"
                raise DataError(f"{p}: file not found ({have}). Hint: {LAYOUT_HINT}")
            out[(lang, split)] = read_split(p, lang, split, limits[split], max_line_bytes)
    return out


def stats(root, max_line_bytes: int = MAX_LINE_BYTES) -> list[dict]:
    """One row per split of every language folder under ROOT: {language, split, n, skipped, reasons, path,
    problem} (`cram data stats PATH`); `problem` (else None) says why a split cannot be read: missing, dangling
    symlink, is a folder, not a regular file, or an error reading it. Raises DataError when the folder is missing
    or holds no language folder at all."""
    r = _check_root(root)
    rows = []
    for lang in LANGUAGES:
        if not (r / lang).is_dir():
            continue
        for split in SPLITS:
            p = split_path(r, lang, split)
            row = {"language": lang, "split": split, "n": 0, "skipped": 0, "reasons": {}, "path": str(p),
                   "problem": file_problem(p)}
            if row["problem"] is None:
                try:
                    _, rep = scan_split(p, lang, split, max_line_bytes=max_line_bytes)
                    row.update(n=rep.n, skipped=rep.skipped, reasons=rep.reasons)
                except OSError as e:
                    row["problem"] = f"cannot read: {e.strerror or e}"
            rows.append(row)
    if not any(row["problem"] is None for row in rows):
        if rows:
            raise DataError(f"{r}: no readable split file: " + "; ".join(
                f"{row['language']}/{row['split']}.jsonl {row['problem']}" for row in rows) + f". Hint: {LAYOUT_HINT}")
        raise DataError(f"{r}: no split file found. Hint: {LAYOUT_HINT}")
    return rows


def format_stats(rows: list[dict]) -> str:
    """An aligned text table of `stats` rows, with a total line and why lines were skipped."""
    if not rows:
        return "(no split files)"
    table = [("language", "split", "examples", "skipped", "path")]
    for row in rows:
        where = row["path"] + (f"  ({row['problem']})" if row.get("problem") else "")
        table.append((row["language"], row["split"], str(row["n"]), str(row["skipped"]), where))
    table.append(("total", "", str(sum(r["n"] for r in rows)), str(sum(r["skipped"] for r in rows)), ""))
    widths = [max(len(t[i]) for t in table) for i in range(4)]
    lines = []
    for i, t in enumerate(table):
        lines.append("  ".join([t[0].ljust(widths[0]), t[1].ljust(widths[1]), t[2].rjust(widths[2]),
                                t[3].rjust(widths[3]), t[4]]).rstrip())
        if i == 0 or i == len(table) - 2:
            lines.append("-" * len(lines[0]))
    reasons: Counter = Counter()
    for row in rows:
        reasons.update(row.get("reasons") or {})
    if reasons:
        lines.append("skipped lines: " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())))
    return "\n".join(lines)


def add_training_examples(loaded: dict, language: str, extra: list[Example], extra_report: SplitReport,
                          max_train: int = 0) -> int:
    """Train also on `extra` (e.g. the site-packages corpus's training split): appended to LANGUAGE's training
    examples, minus every example whose source equals a training, dev or test example already loaded (vendored
    copies of a held-out function would leak it into training). The dev and test splits are unchanged.
    `max_train` > 0 caps the combined training split. Returns how many were added."""
    examples, report = loaded[(language, "train")]
    seen = {e.source for (lang, _), (exs, _) in loaded.items() if lang == language for e in exs}
    added = []
    for e in extra:
        if e.source not in seen:
            seen.add(e.source)
            added.append(e)
    if max_train > 0:
        added = added[:max(0, max_train - len(examples))]
    merged = SplitReport(path=f"{report.path} + {extra_report.path}", language=language, split="train",
                         n=report.n + len(added), skipped=report.skipped + extra_report.skipped,
                         skipped_lines=report.skipped_lines,
                         reasons=dict(Counter(report.reasons) + Counter(extra_report.reasons)))
    loaded[(language, "train")] = (examples + added, merged)
    return len(added)
