"""Code/summary corpora in the CodeXGLUE layout, and the built-in one from this Python's standard library.

One pipeline for every language (`build_pairs`): walk the source tree (sorted, test and cache folders left out),
skip bad files by reason (binary, larger than 1 MB, undecodable, generated or minified), let the language's
extractor turn each file into CodeSearchNet-style pairs, apply CodeXGLUE's filters, drop exact duplicates, split by
a hash of the file's relative path and write the folder. Python uses the `ast`/`tokenize` extractor below; java,
javascript, go, php and ruby use tree-sitter grammars (engine.treesitter_corpus). A Python pair is:
  code_tokens       Python tokens (tokenize) of the function without its docstring and its comments
  docstring_tokens  the docstring's first paragraph, tokenised with CodeSearchNet's docstring tokenizer
then CodeXGLUE's filters apply (summary 3..256 tokens, no URL, no HTML tag, English; code 3..1000 tokens; no test
functions; exact duplicates removed). The split is a hash of the file's relative path, so it is the same on every
machine with the same sources and no file's functions straddle two splits.

OUT/{lang}/{train,valid,test}.jsonl   fields repo, path, func_name, original_string, language, code, code_tokens,
                                      docstring, docstring_tokens, partition
OUT/manifest.json                     source, builder_version, language, filters, counts, skipped, ...

manifest.json is removed first and written last, and each file is written to a temp file then renamed, so a
folder with a manifest always holds a complete corpus (engine.data.load_corpus reads it).

`length_stats(root)` summarises any corpus folder (counts, length histograms, max lengths covering 95 %).
"""
from __future__ import annotations

import ast
import hashlib
import io
import json
import math
import os
import platform
import re
import sys
import sysconfig
import time
import tokenize
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable, Iterator

from .contract.rundir import atomic_write_json, atomic_write_text

BUILDER_VERSION = 1
LANGUAGE = "python"
SPLITS = ("train", "valid", "test")
SUMMARY_TOKENS = (3, 256)           # inclusive range of summary tokens kept (CodeXGLUE)
CODE_TOKENS = (3, 1000)             # inclusive range of code tokens kept
MIN_ASCII_LETTERS = 0.5             # share of ASCII among a summary's letters ("English-looking")
MAX_FILE_BYTES = 1_000_000          # larger source files are generated data, not code
BINARY_SNIFF_BYTES = 8192           # a NUL byte in the first 8 KiB: a binary file
SKIP_DIRS = frozenset({"__pycache__", "site-packages", "dist-packages", "test", "tests", "idle_test", "testing"})

# CodeSearchNet's docstring tokenizer (function_parser): reproduces CodeXGLUE's docstring_tokens exactly
DOCSTRING_TOKEN_RE = re.compile(r"[^\s,'\"`.():\[\]=*;>{\}+-/\\]+|\\+|\.+|\(\)|{\}|\[\]|\(+|\)+|:+|\[+|\]+|{+|\}+"
                                r"|=+|\*+|;+|>+|\++|-+|/+")
URL_RE = re.compile(r"https?:|ftp:|www\.", re.IGNORECASE)
HTML_RE = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(\s[^<>]*)?/?>")
_DROPPED_TOKENS = {tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.COMMENT,
                   tokenize.ENCODING, tokenize.ENDMARKER}
FILTERS = {
    "summary": "first paragraph of the docstring",
    "summary_tokens": list(SUMMARY_TOKENS),
    "code_tokens": list(CODE_TOKENS),
    "no_url": True,
    "no_html": True,
    "min_ascii_letter_share": MIN_ASCII_LETTERS,
    "skip_functions_named": "test*",
    "skip_docstring_only_bodies": True,
    "dedup": "exact (code_tokens, docstring_tokens)",
    "split": "sha1(relative path) % 10: 0-7 train, 8 valid, 9 test",
}

Progress = Callable[[int, int], None]   # progress(files_done, files_total)


# -- text helpers -----------------------------------------------------------------------------------------------
def summary_of(docstring: str) -> str:
    """The docstring's first paragraph (up to the first blank line), whitespace-joined."""
    first = re.split(r"\n\s*\n", docstring.strip(), maxsplit=1)[0]
    return " ".join(first.split())


def docstring_tokens(text: str) -> list[str]:
    return DOCSTRING_TOKEN_RE.findall(text)


def summary_problem(summary: str, tokens: list[str]) -> str | None:
    """Why CodeXGLUE's filters drop this summary, or None."""
    if len(tokens) < SUMMARY_TOKENS[0]:
        return "summary_too_short"
    if len(tokens) > SUMMARY_TOKENS[1]:
        return "summary_too_long"
    if URL_RE.search(summary):
        return "summary_url"
    if HTML_RE.search(summary):
        return "summary_html"
    letters = [c for c in summary if c.isalpha()]
    if not letters or sum(c.isascii() for c in letters) < MIN_ASCII_LETTERS * len(letters):
        return "summary_not_english"
    return None


def split_of(rel_path: str) -> str:
    """train/valid/test from the file's relative path (80/10/10), the same on every machine."""
    bucket = int(hashlib.sha1(rel_path.encode("utf-8")).hexdigest()[:8], 16) % 10
    return "train" if bucket < 8 else "valid" if bucket == 8 else "test"


# -- one file ---------------------------------------------------------------------------------------------------
class _Source:
    """A parsed file: its AST and lines; AST positions (UTF-8 byte columns) mapped to (row, character)."""

    def __init__(self, text: str):
        self.text = text.replace("\r\n", "\n").replace("\r", "\n")
        self.tree = ast.parse(self.text)
        self.lines = self.text.split("\n")

    def pos(self, row: int, byte_col: int) -> tuple[int, int]:
        line = self.lines[row - 1]
        if line.isascii():
            return row, byte_col
        return row, len(line.encode("utf-8")[:byte_col].decode("utf-8", "ignore"))

    def span(self, node: ast.AST) -> tuple[tuple[int, int], tuple[int, int]]:
        return self.pos(node.lineno, node.col_offset), self.pos(node.end_lineno, node.end_col_offset)

    def tokens(self, node: ast.AST) -> Iterator[tuple[int, str, tuple, tuple]]:
        """(type, string, start, end) of the tokens inside a function, positions in file coordinates. Only the
        function's own lines are tokenised (a `def` always starts a logical line, and later lines indented less
        than it are inside brackets or strings), which is much cheaper than tokenising whole files."""
        start, end = self.span(node)
        off = start[0] - 1
        segment = "\n".join(self.lines[off:end[0]]) + "\n"
        for tok in tokenize.generate_tokens(io.StringIO(segment).readline):
            s, e = (tok.start[0] + off, tok.start[1]), (tok.end[0] + off, tok.end[1])
            if s >= end:
                return
            if s >= start:
                yield tok.type, tok.string, s, e


_HOLDS_STATEMENTS = (ast.stmt, ast.excepthandler, ast.match_case)


def _walk_functions(node: ast.AST, scope: tuple = ()) -> Iterator[tuple[ast.AST, str]]:
    """(function node, dotted name such as Class.method) for every function, nested ones included."""
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, _HOLDS_STATEMENTS):
            continue  # expressions hold no `def`: skipping them halves the walk
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield child, ".".join(scope + (child.name,))
            yield from _walk_functions(child, scope + (child.name,))
        elif isinstance(child, ast.ClassDef):
            yield from _walk_functions(child, scope + (child.name,))
        else:
            yield from _walk_functions(child, scope)


def _cut(lines: dict[int, str], start: tuple[int, int], end: tuple[int, int]) -> range:
    """Remove the text between two (row, col) positions from `lines` (row -> text); returns the rows touched."""
    (r0, c0), (r1, c1) = start, end
    lines[r0] = lines[r0][:c0] + lines[r1][c1:]
    for r in range(r0 + 1, r1 + 1):
        lines[r] = ""
    return range(r0, r1 + 1)


def _function_text(src: _Source, node: ast.AST, cuts: list[tuple]) -> str:
    """The function's lines (from its `def`, decorators excluded), with `cuts` removed, rows emptied by a cut
    dropped, trailing spaces stripped and the `def` line's indentation removed."""
    (r0, c0), (r1, c1) = src.span(node)
    lines = {r: src.lines[r - 1] for r in range(r0, r1 + 1)}
    lines[r1] = lines[r1][:c1]
    touched: set[int] = set()
    for start, end in sorted(cuts, reverse=True):
        touched.update(_cut(lines, start, end))
    indent = src.lines[r0 - 1][:c0]
    out = []
    for r in range(r0, r1 + 1):
        line = lines[r].rstrip()
        if r in touched and not line:
            continue
        out.append(line[len(indent):] if line.startswith(indent) else line)
    return "\n".join(out).strip("\n")


def _code_tokens(src: _Source, node: ast.AST, doc_span) -> tuple[list[str], list[tuple]]:
    """(code tokens without the docstring, spans to cut from the code text: the comments and the docstring, the
    latter with the `;` of a one-liner such as `def f(): "Doc."; return 1`)."""
    toks, cuts = [], []
    (doc_start, doc_stop), cut_end = doc_span, doc_span[1]
    just_after_doc = False
    for kind, string, start, end in src.tokens(node):
        if kind == tokenize.COMMENT:
            cuts.append((start, end))
        elif kind in _DROPPED_TOKENS or not string.strip():
            continue
        elif doc_start <= start and end <= doc_stop:
            just_after_doc = True
        elif just_after_doc and string == ";":
            cut_end, just_after_doc = end, False
        else:
            toks.append(string)
            just_after_doc = False
    cuts.append((doc_start, cut_end))
    return toks, cuts


def _function_problem(node: ast.AST, docstring: str | None, summary: str, tokens: list[str]) -> str | None:
    if not docstring:
        return "no_docstring"
    if node.name.startswith("test"):
        return "test_function"
    why = summary_problem(summary, tokens)
    if why is None and len(node.body) == 1:
        why = "docstring_only"
    return why


def _pair(src: _Source, node: ast.AST, name: str) -> tuple[dict | None, str]:
    """(CodeXGLUE row without repo/path/partition, '') or (None, why the function is left out)."""
    docstring = ast.get_docstring(node, clean=True)
    summary = summary_of(docstring or "")
    summary_toks = docstring_tokens(summary)
    why = _function_problem(node, docstring, summary, summary_toks)
    if why:
        return None, why
    doc_span = src.span(node.body[0])
    try:
        code_toks, cuts = _code_tokens(src, node, doc_span)
    except (tokenize.TokenError, SyntaxError):
        return None, "tokenize_error"
    if len(code_toks) < CODE_TOKENS[0]:
        return None, "code_too_short"
    if len(code_toks) > CODE_TOKENS[1]:
        return None, "code_too_long"
    return {
        "func_name": name,
        "original_string": _function_text(src, node, []),
        "language": LANGUAGE,
        "code": _function_text(src, node, cuts),
        "code_tokens": code_toks,
        "docstring": docstring,
        "docstring_tokens": summary_toks,
    }, ""


def extract_pairs(text: str, rel_path: str, repo: str, skipped: Counter) -> list[dict]:
    """Every kept (function, summary) pair of one file's source text, as CodeXGLUE rows (without `partition`);
    left-out functions are counted in `skipped` by reason. Raises SyntaxError/ValueError for a file that does not
    parse."""
    src = _Source(text)
    rows = []
    for node, name in _walk_functions(src.tree):
        row, why = _pair(src, node, name)
        if row is None:
            skipped[why] += 1
        else:
            rows.append({"repo": repo, "path": rel_path, **row})
    return rows


def decode_python(data: bytes) -> str:
    """Decode a .py file's bytes as Python does (PEP 263 coding line, UTF-8 default). Raises UnicodeDecodeError
    or SyntaxError (bad coding line)."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    return data.decode(encoding)


def read_source(path: Path) -> str:
    """Decode a .py file as Python does (PEP 263 coding line, UTF-8 default). Raises UnicodeDecodeError,
    SyntaxError (bad coding line) or OSError."""
    return decode_python(Path(path).read_bytes())


class PythonExtractor:
    """The Python side of the pipeline: `ast` + `tokenize` (exact positions, no extra dependency). Every
    extractor has the same attributes and methods (engine.treesitter_corpus.TreeSitterExtractor is the other)."""

    language = LANGUAGE
    extensions = (".py",)
    parser = "ast+tokenize"
    skip_dirs = SKIP_DIRS
    filters = FILTERS

    def skip_file(self, name: str) -> bool:
        return name.startswith("test_")

    def decode(self, data: bytes) -> str:
        return decode_python(data)

    def file_problem(self, text: str) -> str | None:
        return None

    def extract(self, text: str, rel_path: str, repo: str, skipped: Counter) -> list[dict]:
        return extract_pairs(text, rel_path, repo, skipped)

    def manifest_extra(self) -> dict:
        return {"python_version": platform.python_version()}


def get_extractor(language: str):
    """The extractor of one language (python here; the others from engine.treesitter_corpus, which needs the
    `tree-sitter` and `tree-sitter-<language>` packages). Raises ValueError for an unknown language."""
    if language == LANGUAGE:
        return PythonExtractor()
    from .treesitter_corpus import extractor
    return extractor(language)


# -- a tree -----------------------------------------------------------------------------------------------------
class Cancelled(Exception):
    """Raised by a build or a fetch when its `cancel()` callable returned True (nothing half-written stays)."""


def iter_source_files(root: Path, ext=None) -> list[str]:
    """Relative POSIX paths of the extractor's source files under `root`, sorted; test, cache and hidden folders
    and the extractor's skipped file names left out. `ext` defaults to the Python extractor."""
    ext = ext or PythonExtractor()
    out = []
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x not in ext.skip_dirs and not x.startswith(".")
                         and not x.endswith((".dist-info", ".egg-info")))
        rel_dir = Path(d).relative_to(root)
        for f in files:
            if f.endswith(ext.extensions) and not ext.skip_file(f):
                out.append((rel_dir / f).as_posix())
    return sorted(out)


def iter_py_files(root: Path) -> list[str]:
    """Relative POSIX paths of the .py files under `root`, sorted, test and cache folders left out."""
    return iter_source_files(root, PythonExtractor())


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


Progress3 = Callable[[int, int, str], None]   # progress(files_done, files_total, message)


def build_pairs(roots: Iterable[tuple[str | os.PathLike, str | Callable[[str], str]]], out_dir, ext,
                source: str = "custom", progress: Progress3 | None = None,
                cancel: Callable[[], bool] | None = None) -> dict:
    """The one pipeline: every source file of extractor `ext` under each root -> OUT_DIR/{lang}/{split}.jsonl
    and OUT_DIR/manifest.json (returned). `roots` holds (root folder, repo) pairs; repo is the `repo` field, or a
    function of the relative path (site-packages: the distribution's name). `cancel()` returning True stops the
    build between files (Cancelled; the folder is then left without a manifest)."""
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


def build_corpus(roots: Iterable[tuple[str | os.PathLike, str | Callable[[str], str]]], out_dir,
                 source: str = "custom", progress: Progress | None = None, *, language: str = LANGUAGE,
                 cancel: Callable[[], bool] | None = None) -> dict:
    """Build the corpus from the `language` source files under each root into OUT_DIR (CodeXGLUE layout) and
    return the manifest. `roots` holds (root folder, repo) pairs; repo is the `repo` field, or a function of the
    relative path (site-packages: the distribution's name). progress(files_done, files_total)."""
    report = (lambda done, total, _msg: progress(done, total)) if progress else None
    return build_pairs(roots, out_dir, get_extractor(language), source=source, progress=report, cancel=cancel)


# -- the standard library ---------------------------------------------------------------------------------------
def _site_repo() -> Callable[[str], str]:
    """rel path in site-packages -> the distribution that installed it ('site-packages' when unknown)."""
    from importlib.metadata import packages_distributions
    dists = packages_distributions()

    def repo(rel: str) -> str:
        top = rel.split("/", 1)[0].removesuffix(".py")
        return (dists.get(top) or ["site-packages"])[0]
    return repo


def stdlib_roots(include_site_packages: bool = False) -> list[tuple[Path, str | Callable[[str], str]]]:
    paths = sysconfig.get_paths()
    roots: list = [(Path(paths["stdlib"]), "python-stdlib")]
    if include_site_packages:
        repo = _site_repo()
        for key in ("purelib", "platlib"):
            p = Path(paths[key])
            if p.is_dir() and all(p != r for r, _ in roots):
                roots.append((p, repo))
    return roots


def _source_name(include_site_packages: bool) -> str:
    return "python-stdlib" + ("+site-packages" if include_site_packages else "")


def build_stdlib_corpus(out_dir, include_site_packages: bool = False, progress: Progress | None = None) -> dict:
    """Build the corpus of this Python's standard library (and site-packages) into OUT_DIR; returns the
    manifest."""
    return build_corpus(stdlib_roots(include_site_packages), out_dir, source=_source_name(include_site_packages),
                        progress=progress)


def cache_root(cache_dir=None) -> Path:
    """CACHE = cache_dir, $CRAM_CACHE_DIR or ~/.cache/cramgui."""
    cache = cache_dir or os.environ.get("CRAM_CACHE_DIR") or Path.home() / ".cache" / "cramgui"
    return Path(cache).expanduser()


def default_corpus_dir(include_site_packages: bool = False, cache_dir=None) -> Path:
    """CACHE/corpus/stdlib-py{major}{minor}[-site]/ with CACHE = cache_dir, $CRAM_CACHE_DIR or ~/.cache/cramgui."""
    name = f"stdlib-py{sys.version_info.major}{sys.version_info.minor}" + ("-site" if include_site_packages else "")
    return cache_root(cache_dir) / "corpus" / name


def _is_current(folder: Path, include_site_packages: bool) -> bool:
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (isinstance(manifest, dict) and manifest.get("builder_version") == BUILDER_VERSION
            and manifest.get("python_version") == platform.python_version() and manifest.get("source") == _source_name(include_site_packages)
            and all((folder / LANGUAGE / f"{s}.jsonl").is_file() for s in SPLITS))


def ensure_builtin_corpus(cache_dir=None, include_site_packages: bool = False,
                          progress: Progress | None = None) -> Path:
    """The built-in corpus folder (for engine.data.load_corpus), built on first use or when the builder or the
    Python version changed. `cache_dir` replaces $CRAM_CACHE_DIR / ~/.cache/cramgui."""
    folder = default_corpus_dir(include_site_packages, cache_dir)
    if not _is_current(folder, include_site_packages):
        build_stdlib_corpus(folder, include_site_packages, progress)
    return folder


# -- length statistics of any corpus folder ---------------------------------------------------------------------
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
    (n is then the non-blank line count). Raises engine.data.DataError when ROOT holds no split file."""
    from . import data

    r = Path(root).expanduser()
    if not r.is_dir():
        raise data.DataError(f"{r}: folder not found. Hint: {data.LAYOUT_HINT}")

    def measure(text: str) -> int:
        if tokenizer is None:
            return len(text.split())
        out = tokenizer(text)
        return out if isinstance(out, int) else len(out)

    languages: dict = {}
    pooled: dict[str, tuple[list[int], list[int]]] = {}
    for lang in data.LANGUAGES:
        for split in SPLITS:
            p = data.split_path(r, lang, split)
            if not p.is_file():
                continue
            lines, nonblank, sample = _sampled_lines(p, max_examples)
            code, summary, skipped = [], [], 0
            for lineno, raw in lines:
                if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                ex, why = data.parse_line(raw, lineno, lang)
                if ex is None:
                    skipped += why != "blank"
                    continue
                code.append(measure(ex.source))
                summary.append(measure(ex.target))
            entry = {"n": nonblank if sample else len(code), "skipped": skipped, "sampled": len(code) if sample else 0,
                     "code": _distribution(code, bins, coverage), "summary": _distribution(summary, bins, coverage)}
            entry["max_source_length"] = entry["code"]["covering"]
            entry["max_target_length"] = entry["summary"]["covering"]
            languages.setdefault(lang, {})[split] = entry
            pool = pooled.setdefault(split, ([], []))
            pool[0].extend(code)
            pool[1].extend(summary)
    if not languages:
        raise data.DataError(f"{r}: no split file found. Hint: {data.LAYOUT_HINT}")
    src, tgt = pooled.get("train") or ([x for s in pooled.values() for x in s[0]], [x for s in pooled.values()
                                                                                    for x in s[1]])
    return {"root": str(r), "unit": "whitespace" if tokenizer is None else "model", "coverage": coverage,
            "languages": languages,
            "suggested": {"max_source_length": _covering(sorted(src), coverage),
                          "max_target_length": _covering(sorted(tgt), coverage)}}
