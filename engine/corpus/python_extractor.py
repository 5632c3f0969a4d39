"""The Python extractor: `ast` + `tokenize` (exact positions, no extra dependency). A Python pair is:
  code_tokens       Python tokens (tokenize) of the function without its docstring and its comments
  docstring_tokens  the docstring's first paragraph, tokenised with CodeSearchNet's docstring tokenizer
  code              the function (from its `def`, decorators excluded) without its docstring and comments
  original_string   the function as written
Functions without a docstring, named test*, or whose body is only the docstring are left out, then CodeXGLUE's
filters apply (engine.corpus.filters).
"""
from __future__ import annotations

import ast
import io
import platform
import tokenize
from collections import Counter
from collections.abc import Iterator

from .filters import FILTERS, SKIP_DIRS, code_problem, docstring_tokens, summary_of, summary_problem

LANGUAGE = "python"
_DROPPED_TOKENS = {tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.COMMENT,
                   tokenize.ENCODING, tokenize.ENDMARKER}


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
    why = code_problem(code_toks)
    if why:
        return None, why
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


class PythonExtractor:
    """The Python side of the pipeline (engine.corpus.pipeline.build_pairs). Every extractor has the same
    attributes and methods (engine.corpus.treesitter_extractor.TreeSitterExtractor is the other)."""

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
