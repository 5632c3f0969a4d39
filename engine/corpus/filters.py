"""CodeXGLUE's filters: which files are read, which summaries and code are kept (every language the same).

  files      not in test, cache or hidden folders (SKIP_DIRS, plus an extractor's own), not binary (a NUL byte in
             the first 8 KiB), not larger than 1 MB
  summaries  3..256 docstring tokens, no URL, no HTML tag, English-looking (at least half of the letters ASCII)
  code       3..1000 code tokens; functions named test* are left out
`FILTERS` is what a manifest records about them.
"""
from __future__ import annotations

import re

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


def code_problem(tokens: list[str]) -> str | None:
    """Why CodeXGLUE's filters drop this code (too few or too many tokens), or None."""
    if len(tokens) < CODE_TOKENS[0]:
        return "code_too_short"
    if len(tokens) > CODE_TOKENS[1]:
        return "code_too_long"
    return None
