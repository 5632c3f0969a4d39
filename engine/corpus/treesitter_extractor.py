"""The tree-sitter extractor: java, javascript, go, php and ruby, parsed with the grammars from PyPI (`tree-sitter`
plus `tree-sitter-<language>`: compiled wheels that work offline; imported only when an extractor is made). What
is read in each language is in engine.corpus.treesitter_specs; the pipeline is engine.corpus.pipeline.

A `/** */` comment counts when only whitespace (at most one line break) separates it from the function, or from
the start of the function's line (`export function`, `private def`).

  docstring         the comment without its markers (`/**`, `*`, `*/`, `//`, `#`)
  docstring_tokens  its first paragraph (up to a blank line, an `@tag` line or a `<p>` line; `{@link X}` and
                    `{@code X}` become X), tokenised with CodeSearchNet's docstring tokenizer
  code              the function without its documentation and without comments (rows left empty dropped)
  code_tokens       the leaves of its syntax tree, comments left out, each string literal one token
  original_string   the function as written (comments inside kept)

Functions whose syntax tree holds an ERROR or MISSING node are skipped (`syntax_error`); the rest of the file is
kept, and the manifest counts the files that had any syntax error (`files_with_syntax_errors`; a function that the
error swallowed whole is not seen, so not counted). Files: binary (NUL byte), larger than 1 MB, not UTF-8,
generated ("DO NOT EDIT" or "@generated" in the first 2,000 characters) and minified JavaScript are skipped and
counted by reason; test folders (test, tests, spec, __tests__, testdata, ...) and test files
(`*_test.go`, `*.test.js`, `*.spec.js`, `*_spec.rb`, `*_test.rb`, `test_*.rb`, `*.min.js`) are not read.
"""
from __future__ import annotations

import bisect
import re
from collections import Counter
from importlib import import_module, metadata

from .filters import CODE_TOKENS, FILTERS, SKIP_DIRS, code_problem, docstring_tokens, summary_problem
from .pipeline import SourceError
from .treesitter_specs import BODY_FIELD_TYPES, EXTRA_SKIP_DIRS, Spec

MINIFIED_LINE_BYTES = 500          # a .js file whose lines average more than this is minified
CODE_GENERATED_RE = re.compile(r"^// Code generated .* DO NOT EDIT\.$", re.MULTILINE)   # Go's convention
GENERATED_HEAD_CHARS = 2000        # "DO NOT EDIT" or "@generated" this early: a generated file
INLINE_TAG_RE = re.compile(r"\{@(linkplain|link|code|literal|value)\b\s*([^{}]*)\}")
LINK_RE = re.compile(r"^(\S*?\([^)]*\)|\S+)\s*(.*)$", re.DOTALL)


# -- documentation text ----------------------------------------------------------------------------------------
def clean_block_comment(text: str) -> str:
    """`/** ... */` without its markers: `/**`, `*/` and each line's leading `*` removed, lines stripped."""
    body = text[3:] if text.startswith("/**") else text[2:]
    if body.endswith("*/"):
        body = body[:-2]
    lines = []
    for line in body.split("\n"):
        s = line.strip()
        if s.startswith("*"):
            s = s[1:]
        lines.append(s.strip())
    return "\n".join(lines).strip("\n")


def _inline_tag(m: re.Match) -> str:
    tag, content = m.group(1), m.group(2).strip()
    if tag in ("link", "linkplain"):
        ref, label = LINK_RE.match(content).groups() if content else ("", "")
        return label.strip() or ref.lstrip("#").replace("#", ".")
    return content


def doc_summary(doc: str) -> str:
    """The documentation's first paragraph, whitespace-joined: lines up to the first blank line, `@tag` line or
    `<p>` line (a leading `<p>` is dropped); inline `{@link X label}`/`{@code X}` tags become their text."""
    out: list[str] = []
    for line in doc.split("\n"):
        s = line.strip()
        if not s:
            if out:
                break
            continue
        if s.startswith("@"):
            break
        if s.lower().startswith("<p>"):
            if out:
                break
            s = s[3:].strip()
        out.append(s)
    return INLINE_TAG_RE.sub(_inline_tag, " ".join(" ".join(out).split()))


# -- one file ---------------------------------------------------------------------------------------------------
def _text(src: bytes, node) -> str:
    return src[node.start_byte:node.end_byte].decode("utf-8", "replace")


def _line_start(src: bytes, pos: int) -> int:
    return src.rfind(b"\n", 0, pos) + 1


class _File:
    """One parsed file: its bytes, tree, comments (sorted) and the extractor's spec."""

    def __init__(self, spec: Spec, src: bytes, tree, comments: list):
        self.spec, self.src, self.tree = spec, src, tree
        self.comments = comments
        self.starts = [c.start_byte for c in comments]

    def comments_within(self, start: int, end: int) -> list:
        i = bisect.bisect_left(self.starts, start)
        out = []
        while i < len(self.comments) and self.comments[i].end_byte <= end:
            out.append(self.comments[i])
            i += 1
        return out

    def _starts_line(self, node) -> bool:
        return not self.src[_line_start(self.src, node.start_byte):node.start_byte].strip()

    def doc(self, unit) -> tuple[str, list] | None:
        """(documentation text, its comment nodes) for the unit, or None."""
        src, spec = self.src, self.spec
        i = bisect.bisect_right(self.starts, unit.start_byte) - 1
        if i < 0:
            return None
        c = self.comments[i]
        if c.end_byte > unit.start_byte:
            return None
        gap = src[c.end_byte:unit.start_byte]
        if gap.strip():  # `export function`, `private def`: the comment must end right above the unit's line
            ls = _line_start(src, unit.start_byte)
            if c.end_byte > ls:
                return None
            gap = src[c.end_byte:ls]
            if gap.strip():
                return None
        newlines = gap.count(b"\n")
        if spec.doc_style == "block":
            text = _text(src, c)
            if newlines > 1 or not text.startswith("/**") or text.startswith("/**/"):
                return None
            return clean_block_comment(text), [c]
        # "line": consecutive whole-line comments, the last one on the line right above the unit
        if newlines != 1:
            return None
        nodes = []
        while True:
            text = _text(src, c)
            if not text.startswith(spec.doc_marker) or text.startswith("/*") or not self._starts_line(c):
                break
            nodes.append(c)
            i -= 1
            if i < 0:
                break
            prev = self.comments[i]
            gap = src[prev.end_byte:c.start_byte]
            if gap.strip() or gap.count(b"\n") != 1:
                break
            c = prev
        if not nodes:
            return None
        nodes.reverse()
        lines = []
        for n in nodes:
            text = _text(src, n)
            if spec.directive_re is not None and spec.directive_re.match(text):
                continue
            lines.append(text.lstrip("#") if spec.doc_marker == "#" else text[len(spec.doc_marker):])
        return "\n".join(line.strip() for line in lines).strip("\n"), nodes

    def tokens(self, unit) -> list[str]:
        """Leaf tokens of the unit (CodeSearchNet style), comments left out, atoms (string literals) whole."""
        src, comments, atoms = self.src, self.spec.comment_types, self.spec.atom_types
        toks: list[str] = []
        cur = unit.walk()
        while True:
            node = cur.node
            kind = node.type
            descend = False
            if kind in comments:
                pass
            elif kind in atoms or node.child_count == 0:
                if node.end_byte > node.start_byte:
                    toks.append(src[node.start_byte:node.end_byte].decode("utf-8", "replace"))
            else:
                descend = True
            if descend and cur.goto_first_child():
                continue
            while not cur.goto_next_sibling():
                if not cur.goto_parent():
                    return toks

    def text(self, unit, cut_comments: bool) -> str:
        """The unit's text, its first line's indentation removed from every line; with `cut_comments`, comments
        removed and rows that only held a comment dropped; trailing spaces stripped."""
        src, start, end = self.src, unit.start_byte, unit.end_byte
        prefix = src[_line_start(src, start):start]
        indent = prefix[:len(prefix) - len(prefix.lstrip())].decode("utf-8", "replace")
        cuts = self.comments_within(start, end) if cut_comments else []
        buf, touched, pos, row = [], set(), start, 0
        for c in cuts:
            piece = src[pos:c.start_byte]
            row += piece.count(b"\n")
            buf.append(piece)
            touched.add(row)
            pos = c.end_byte
        buf.append(src[pos:end])
        out = []
        for r, line in enumerate(b"".join(buf).decode("utf-8", "replace").split("\n")):
            line = line.rstrip()
            if r in touched and not line.strip():
                continue
            if r > 0 and indent and line.startswith(indent):
                line = line[len(indent):]
            out.append(line)
        return "\n".join(out).strip("\n")


# -- naming the functions ---------------------------------------------------------------------------------------
def _field_text(src: bytes, node, field: str) -> str | None:
    child = node.child_by_field_name(field)
    return " ".join(_text(src, child).split()) if child is not None else None


def _go_receiver(src: bytes, node) -> str | None:
    recv = node.child_by_field_name("receiver")
    if recv is None:
        return None
    stack = [recv]
    while stack:  # the first type_identifier under the receiver: (r *Rec[T]) -> Rec
        n = stack.pop(0)
        if n.type == "type_identifier":
            return _text(src, n)
        stack.extend(n.children)
    return None


def _resolve(spec: Spec, src: bytes, node):
    """(unit node, name) for a captured function-like node, or None when it is not a named unit (a callback)."""
    kind = node.type
    if spec.language != "javascript" or kind in ("function_declaration", "generator_function_declaration",
                                                 "method_definition"):
        name = _field_text(src, node, "name")
        if spec.language == "go" and kind == "method_declaration":
            recv = _go_receiver(src, node)
            name = f"{recv}.{name}" if recv and name else name
        return (node, name) if name else None
    parent = node.parent
    if parent is None:
        return None
    if parent.type == "variable_declarator" and parent.child_by_field_name("value") == node:
        decl = parent.parent
        unit = decl if decl is not None and decl.type in ("lexical_declaration", "variable_declaration") \
            and decl.named_child_count == 1 else parent
        name = _field_text(src, parent, "name")
    elif parent.type == "assignment_expression" and parent.child_by_field_name("right") == node:
        stmt = parent.parent
        unit = stmt if stmt is not None and stmt.type == "expression_statement" else parent
        name = _field_text(src, parent, "left")
    elif parent.type == "pair" and parent.child_by_field_name("value") == node:
        unit, name = parent, _field_text(src, parent, "key")
    else:
        return None
    return (unit, name) if name else None


def _scope(spec: Spec, src: bytes, unit, own: set) -> list[str]:
    """Names of the classes/modules (and enclosing functions) around a unit, outermost first."""
    names = []
    node = unit.parent
    while node is not None:
        if node.type in spec.scope_types:
            name = _field_text(src, node, "name")
            if name:
                names.append(name)
        elif node.type in spec.unit_types and (node.start_byte, node.end_byte) not in own:
            r = _resolve(spec, src, node)
            if r:
                names.append(r[1])
        node = node.parent
    return names[::-1]


# -- the extractor ----------------------------------------------------------------------------------------------
class TreeSitterExtractor:
    """engine.corpus.pipeline.build_pairs's extractor for one tree-sitter language (the interface of
    PythonExtractor)."""

    parser = "tree-sitter"

    def __init__(self, spec: Spec):
        try:
            from tree_sitter import Language, Parser, Query, QueryCursor
            grammar = import_module(spec.module)
        except ImportError as e:
            raise SourceError(f"{spec.language}: the tree-sitter grammar is not installed ({e}). Hint: pip install "
                              f"tree-sitter {spec.package}") from None
        self.spec = spec
        self.language = spec.language
        self.extensions = spec.extensions
        self.skip_dirs = SKIP_DIRS | EXTRA_SKIP_DIRS
        lang = Language(getattr(grammar, spec.entry)())
        self._parser = Parser(lang)
        units = " ".join(f"({t})" for t in spec.unit_types if _has_type(lang, t))
        comments = " ".join(f"({t})" for t in spec.comment_types)
        self._query = Query(lang, f"[{units}] @unit [{comments}] @comment")
        self._cursor_cls = QueryCursor
        self.files_with_errors = 0
        self.filters = {
            **{k: v for k, v in FILTERS.items() if k not in ("summary", "skip_docstring_only_bodies")},
            "documentation": {"block": f"{spec.doc_marker} ... */ comment right before the function",
                              "line": f"consecutive {spec.doc_marker} lines right above the function"}[spec.doc_style],
            "summary": "first paragraph of the documentation (stops at a blank line, an @tag line or <p>)",
            "skip_functions_named": "test* (any case)",
            "skip_bodyless": True,
            "skip_syntax_errors": "functions with an ERROR or MISSING node (the rest of the file is kept)",
            "comments": "removed from code and code_tokens",
            "code_tokens": list(CODE_TOKENS),
            "string_literals": "one code token each",
        }

    def skip_file(self, name: str) -> bool:
        spec = self.spec
        return bool(spec.file_suffixes_skipped and name.endswith(spec.file_suffixes_skipped)
                    or spec.file_prefixes_skipped and name.startswith(spec.file_prefixes_skipped))

    def decode(self, data: bytes) -> str:
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        return data.decode("utf-8")

    def file_problem(self, text: str) -> str | None:
        head = text[:GENERATED_HEAD_CHARS]
        if CODE_GENERATED_RE.search(head) or "DO NOT EDIT" in head or "@generated" in head:
            return "file_generated"
        if self.language == "javascript" and len(text) > 20 * MINIFIED_LINE_BYTES \
                and len(text) / (text.count("\n") + 1) > MINIFIED_LINE_BYTES:
            return "file_minified"
        return None

    def manifest_extra(self) -> dict:
        return {"tree_sitter": _version("tree-sitter"), "grammar": f"{self.spec.package} {_version(self.spec.package)}",
                "files_with_syntax_errors": self.files_with_errors}

    def parse(self, text: str) -> tuple[_File, list]:
        """(the parsed file, its function-like nodes in source order)."""
        src = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
        tree = self._parser.parse(src)
        caps = self._cursor_cls(self._query).captures(tree.root_node)
        comments = sorted(caps.get("comment", []), key=lambda n: n.start_byte)
        return _File(self.spec, src, tree, comments), sorted(caps.get("unit", []), key=lambda n: n.start_byte)

    def extract(self, text: str, rel_path: str, repo: str, skipped: Counter) -> list[dict]:
        """Every kept pair of one file, as CodeXGLUE rows (without `partition`); left-out functions counted."""
        f, units = self.parse(text)
        if f.tree.root_node.has_error:
            self.files_with_errors += 1
        resolved = [r for r in (_resolve(self.spec, f.src, n) for n in units) if r]
        own = {(u.start_byte, u.end_byte) for u, _ in resolved}
        rows = []
        for unit, name in resolved:
            row, why = self._pair(f, unit, name, own)
            if row is None:
                skipped[why] += 1
            else:
                rows.append({"repo": repo, "path": rel_path, **row})
        return rows

    def _pair(self, f: _File, unit, name: str, own: set) -> tuple[dict | None, str]:
        if unit.has_error:
            return None, "syntax_error"
        found = f.doc(unit)
        if found is None:
            return None, "no_docstring"
        if name.rsplit(".", 1)[-1].lower().startswith("test"):
            return None, "test_function"
        docstring = found[0]
        summary = doc_summary(docstring)
        summary_toks = docstring_tokens(summary)
        why = summary_problem(summary, summary_toks)
        if why:
            return None, why
        if unit.type in BODY_FIELD_TYPES and unit.child_by_field_name("body") is None:
            return None, "no_body"
        code_toks = f.tokens(unit)
        why = code_problem(code_toks)
        if why:
            return None, why
        return {
            "func_name": ".".join(_scope(self.spec, f.src, unit, own) + [name]),
            "original_string": f.text(unit, cut_comments=False),
            "language": self.language,
            "code": f.text(unit, cut_comments=True),
            "code_tokens": code_toks,
            "docstring": docstring,
            "docstring_tokens": summary_toks,
        }, ""


def _has_type(lang, kind: str) -> bool:
    """Whether the grammar knows a named node type (names differ a little between grammar versions)."""
    try:
        return lang.id_for_node_kind(kind, True) not in (None, 0)
    except Exception:  # pragma: no cover - very old bindings
        return True


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"
