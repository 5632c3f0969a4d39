"""The one pipeline every language goes through (`build_pairs`).

Walk the source tree (sorted; test, cache and hidden folders left out), skip bad files by reason (binary, larger
than 1 MB, undecodable, generated or minified), let the language's extractor turn each file into CodeSearchNet-style
pairs, drop exact duplicates, split by a hash of the file's relative path (the same on every machine with the same
sources, and no file's functions straddle two splits) and write the folder:

OUT/{lang}/{train,valid,test}.jsonl   fields repo, path, func_name, original_string, language, code, code_tokens,
                                      docstring, docstring_tokens, partition
OUT/manifest.json                     source, builder_version, language, parser, filters, counts, skipped, ...

manifest.json is removed first and written last, and each file is written to a temp file then renamed, so a
folder with a manifest always holds a complete corpus (engine.data.load_corpus reads it).

An extractor (engine.corpus.python_extractor.PythonExtractor, engine.corpus.treesitter_extractor.
TreeSitterExtractor) has: language, extensions, parser, skip_dirs, filters, skip_file(name), decode(bytes) -> str,
file_problem(text) -> reason | None, extract(text, rel_path, repo, skipped) -> rows, manifest_extra() -> dict.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import tokenize
from collections import Counter
from pathlib import Path
from collections.abc import Callable, Iterable

from ..contract.paths import SPLITS
from ..contract.rundir import atomic_write_json, atomic_write_text
from ..tasks import CancelCheck, Cancelled, Progress
from .filters import BINARY_SNIFF_BYTES, MAX_FILE_BYTES

BUILDER_VERSION = 1
Roots = Iterable[tuple[str | os.PathLike, str | Callable[[str], str]]]   # (root folder, repo or repo(rel path))


class SourceError(ValueError):
    """A source folder or language cannot be used. The message says why and what to do."""


def split_of(rel_path: str) -> str:
    """train/valid/test from the file's relative path (80/10/10), the same on every machine."""
    bucket = int(hashlib.sha1(rel_path.encode("utf-8")).hexdigest()[:8], 16) % 10
    return "train" if bucket < 8 else "valid" if bucket == 8 else "test"


def iter_source_files(root: Path, ext) -> list[str]:
    """Relative POSIX paths of the extractor's source files under `root`, sorted; test, cache and hidden folders
    and the extractor's skipped file names left out."""
    out = []
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x not in ext.skip_dirs and not x.startswith(".")
                         and not x.endswith((".dist-info", ".egg-info")))
        rel_dir = Path(d).relative_to(root)
        for f in files:
            if f.endswith(ext.extensions) and not ext.skip_file(f):
                out.append((rel_dir / f).as_posix())
    return sorted(out)


def _file_problem(exc: BaseException) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "file_bad_encoding"
    if isinstance(exc, SyntaxError):
        return "file_syntax_error"
    if isinstance(exc, OSError):
        return "file_unreadable"
    return "file_invalid"


def _read_file(path: Path, ext, skipped: Counter) -> str | None:
    """The file's text, or None after counting why it is skipped (too large, binary, undecodable, generated)."""
    if path.stat().st_size > MAX_FILE_BYTES:
        skipped["file_too_large"] += 1
        return None
    data = path.read_bytes()
    if b"\0" in data[:BINARY_SNIFF_BYTES]:
        skipped["file_binary"] += 1
        return None
    text = ext.decode(data)
    why = ext.file_problem(text)
    if why:
        skipped[why] += 1
        return None
    return text


def build_pairs(roots: Roots, out_dir, ext, source: str = "custom", progress: Progress | None = None,
                cancel: CancelCheck | None = None) -> dict:
    """Every source file of extractor `ext` under each root -> OUT_DIR/{lang}/{split}.jsonl and
    OUT_DIR/manifest.json (returned). `roots` holds (root folder, repo) pairs; repo is the `repo` field, or a
    function of the relative path (site-packages: the distribution's name). progress(files_done, files_total,
    relative path); `cancel()` returning True stops the build between files (engine.tasks.Cancelled; the folder is
    then left without a manifest)."""
    t0 = time.monotonic()
    roots = [(Path(root), repo) for root, repo in roots]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").unlink(missing_ok=True)
    files = [(root, repo, rel) for root, repo in roots for rel in iter_source_files(root, ext)]
    skipped: Counter = Counter()
    seen: set = set()
    splits: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for i, (root, repo, rel) in enumerate(files):
        if cancel is not None and cancel():
            raise Cancelled(f"build cancelled after {i} of {len(files)} files")
        if progress:
            progress(i, len(files), rel)
        try:
            text = _read_file(root / rel, ext, skipped)
            if text is None:
                continue
            rows = ext.extract(text, rel, repo(rel) if callable(repo) else repo, skipped)
        except (SyntaxError, ValueError, OSError, tokenize.TokenError, RecursionError) as e:
            skipped[_file_problem(e)] += 1
            continue
        split = split_of(rel)
        for row in rows:
            key = (tuple(row["code_tokens"]), tuple(row["docstring_tokens"]))
            if key in seen:
                skipped["duplicate"] += 1
                continue
            seen.add(key)
            splits[split].append({**row, "partition": split})
    if progress:
        progress(len(files), len(files), "writing")
    for split, rows in splits.items():
        atomic_write_text(out / ext.language / f"{split}.jsonl",
                          "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    manifest = {
        "source": source,
        "builder_version": BUILDER_VERSION,
        "language": ext.language,
        "parser": ext.parser,
        **ext.manifest_extra(),
        "roots": [str(r) for r, _ in roots],
        "filters": {**ext.filters, "max_file_bytes": MAX_FILE_BYTES},
        "files": len(files),
        "counts": {s: len(rows) for s, rows in splits.items()},
        "skipped": dict(sorted(skipped.items())),
        "build_seconds": round(time.monotonic() - t0, 2),
    }
    atomic_write_json(out / "manifest.json", manifest)
    return manifest
