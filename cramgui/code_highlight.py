"""Syntax colours for the code of a sample: keywords, strings, comments and numbers of the six CodeXGLUE languages
(ruby, javascript, go, python, java, php). A small rule table, not a parser: it colours plain text in a
QTextDocument (never HTML), and block comments / triple-quoted strings carry over lines through the block state."""
from __future__ import annotations

import re

from PySide6.QtGui import QColor, QFont, QSyntaxHighlighter, QTextCharFormat, QTextDocument

_C_LIKE_STRINGS = (r'"(?:[^"\\\n]|\\.)*"?', r"'(?:[^'\\\n]|\\.)*'?")
KEYWORDS = {
    "python": "and as assert async await break class continue def del elif else except False finally for from global "
              "if import in is lambda None nonlocal not or pass raise return self True try while with yield",
    "ruby": "alias and begin break case class def defined? do else elsif end ensure false for if in module next nil "
            "not or redo rescue retry return self super then true undef unless until when while yield",
    "javascript": "async await break case catch class const continue debugger default delete do else export extends "
                  "false finally for function if import in instanceof let new null of return static super switch "
                  "this throw true try typeof undefined var void while with yield",
    "go": "break case chan const continue default defer else fallthrough false for func go goto if import interface "
          "iota map nil package range return select struct switch true type var",
    "java": "abstract assert boolean break byte case catch char class const continue default do double else enum "
            "extends false final finally float for if implements import instanceof int interface long native new "
            "null package private protected public return short static super switch synchronized this throw "
            "throws transient true try void volatile while",
    "php": "abstract and array as break callable case catch class clone const continue declare default do echo else "
           "elseif empty enddeclare endfor endforeach endif endswitch endwhile extends false final finally fn for "
           "foreach function global if implements include instanceof insteadof interface isset list namespace new "
           "null or print private protected public require return static switch this throw trait true try unset "
           "use var while xor yield",
}
LINE_COMMENTS = {"python": ("#",), "ruby": ("#",), "javascript": ("//",), "go": ("//",), "java": ("//",),
                 "php": ("//", "#")}
# (open, close) of comments / strings that may span lines; each gets its own block state (1, 2, …)
MULTILINE = {"python": (('"""', '"""', "string"), ("'''", "'''", "string")),
             "ruby": (("=begin", "=end", "comment"),),
             "javascript": (("/*", "*/", "comment"), ("`", "`", "string")),
             "go": (("/*", "*/", "comment"), ("`", "`", "string")),
             "java": (("/*", "*/", "comment"),),
             "php": (("/*", "*/", "comment"),)}
STRINGS = {"python": (r'[rbuf]{0,2}"(?:[^"\\\n]|\\.)*"?', r"[rbuf]{0,2}'(?:[^'\\\n]|\\.)*'?"),
           "ruby": (*_C_LIKE_STRINGS, r":[A-Za-z_]\w*[?!]?"),
           "javascript": _C_LIKE_STRINGS, "go": _C_LIKE_STRINGS, "java": _C_LIKE_STRINGS, "php": _C_LIKE_STRINGS}
NUMBER = r"\b(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?[jJlLfFdDuU]?)\b"
COLOURS = {"keyword": ("#0d47a1", True, False), "string": ("#2e7d32", False, False),
           "comment": ("#757575", False, True), "number": ("#8e24aa", False, False)}


def _format(kind: str) -> QTextCharFormat:
    colour, bold, italic = COLOURS[kind]
    fmt = QTextCharFormat()
    fmt.setForeground(QColor(colour))
    if bold:
        fmt.setFontWeight(QFont.Weight.Bold)
    fmt.setFontItalic(italic)
    return fmt


def _rules(language: str) -> tuple[re.Pattern, list[str]] | None:
    """One alternation regex of the language's single-line tokens, and the kind of each group."""
    if language not in KEYWORDS:
        return None
    kinds, parts = [], []
    words = sorted(KEYWORDS[language].split(), key=len, reverse=True)
    for kind, pattern in (
            ("comment", "|".join(re.escape(c) + r".*" for c in LINE_COMMENTS[language])),
            ("string", "|".join(STRINGS[language])),
            ("keyword", r"(?<![\w$])(?:" + "|".join(re.escape(w) for w in words) + r")(?![\w?])"),
            ("number", NUMBER)):
        kinds.append(kind)
        parts.append(f"({pattern})")
    return re.compile("|".join(parts)), kinds


class CodeHighlighter(QSyntaxHighlighter):
    """Colours a QTextDocument as `language` code; `set_language` re-colours it (an unknown language: no colour)."""

    def __init__(self, document: QTextDocument, language: str = ""):
        super().__init__(document)
        self.formats = {kind: _format(kind) for kind in COLOURS}
        self.language = ""
        self._rules = None
        self._multi: tuple = ()
        self.set_language(language)

    def set_language(self, language: str) -> None:
        if language == self.language:
            return
        self.language = language
        self._rules = _rules(language)
        self._multi = MULTILINE.get(language, ())
        self.rehighlight()

    def spans(self, text: str, state: int = 0) -> tuple[list[tuple[int, int, str]], int]:
        """(start, length, kind) of the coloured parts of one line, and the state the next line starts in
        (0, or 1 + the index of the open multi-line comment / string). The logic of highlightBlock, testable."""
        out: list[tuple[int, int, str]] = []
        pos = 0
        n = len(text)
        if state > 0 and state <= len(self._multi):
            _open, close, kind = self._multi[state - 1]
            end = text.find(close)
            if end < 0:
                return [(0, n, kind)], state
            pos = end + len(close)
            out.append((0, pos, kind))
        if self._rules is None:
            return out, 0
        regex, kinds = self._rules
        while pos < n:
            opener = self._next_opener(text, pos)
            m = regex.search(text, pos)
            if opener is not None and (m is None or opener[0] <= m.start()):
                start, i = opener
                open_, close, kind = self._multi[i]
                end = text.find(close, start + len(open_))
                if end < 0:
                    out.append((start, n - start, kind))
                    return out, i + 1
                pos = end + len(close)
                out.append((start, pos - start, kind))
                continue
            if m is None:
                break
            out.append((m.start(), m.end() - m.start(), kinds[m.lastindex - 1]))
            pos = max(m.end(), pos + 1)
        return out, 0

    def _next_opener(self, text: str, pos: int) -> tuple[int, int] | None:
        """(position, index) of the first multi-line opener at or after `pos`, None when there is none."""
        best = None
        for i, (open_, _close, _kind) in enumerate(self._multi):
            if open_ == "=begin":            # ruby's =begin opens a comment only at the start of a line
                j = 0 if pos == 0 and text.startswith(open_) else -1
            else:
                j = text.find(open_, pos)
            if j >= 0 and (best is None or j < best[0]):
                best = (j, i)
        return best

    def highlightBlock(self, text: str) -> None:  # noqa: N802
        spans, state = self.spans(text, self.previousBlockState())
        for start, length, kind in spans:
            self.setFormat(start, length, self.formats[kind])
        self.setCurrentBlockState(state)
