"""What tree-sitter reads in each language: the grammar package, the node types of functions, comments, string
literals and scopes, and how documentation is written (engine.corpus.treesitter_extractor uses these; adding a
language is adding a Spec here and its name to engine.contract.paths.TREE_SITTER_LANGUAGES).

A pair (CodeSearchNet style) is a function or method with its documentation:
  java        `/** Javadoc */` before a method or constructor (annotations and modifiers belong to the method)
  javascript  `/** JSDoc */` before a function declaration, a method, or `const f = function/arrow`,
              `a.b = function`, `key: function` (the unit is then the whole declaration/assignment/pair)
  go          the `//` lines directly above a `func` (no blank line; `//go:...` style directives dropped)
  php         `/** PHPDoc */` before a function or a method
  ruby        the `#` lines directly above a `def` (`:nodoc:`, `rubocop:` and magic comments dropped)
"""
from __future__ import annotations

import re
from dataclasses import dataclass

EXTRA_SKIP_DIRS = frozenset({"spec", "specs", "__tests__", "__mocks__", "testdata"})   # besides filters.SKIP_DIRS


@dataclass(frozen=True)
class Spec:
    language: str
    package: str                    # PyPI package of the grammar
    module: str                     # its import name
    entry: str                      # the function returning the language capsule
    extensions: tuple[str, ...]
    comment_types: tuple[str, ...]
    atom_types: frozenset           # nodes kept whole as one code token (string literals, regexes)
    unit_types: tuple[str, ...]     # node types that are (or lead to) a function
    scope_types: frozenset          # named containers whose name prefixes func_name (classes, modules)
    doc_style: str                  # "block": one /** */ comment; "line": consecutive line comments
    doc_marker: str                 # "/**", "//" or "#"
    file_suffixes_skipped: tuple[str, ...] = ()
    file_prefixes_skipped: tuple[str, ...] = ()
    directive_re: re.Pattern | None = None   # comment lines that are directives, not documentation


SPECS = {
    "java": Spec(
        "java", "tree-sitter-java", "tree_sitter_java", "language", (".java",),
        ("line_comment", "block_comment"),
        frozenset({"string_literal", "text_block", "character_literal"}),
        ("method_declaration", "constructor_declaration"),
        frozenset({"class_declaration", "interface_declaration", "enum_declaration", "record_declaration",
                   "annotation_type_declaration"}),
        "block", "/**"),
    "javascript": Spec(
        "javascript", "tree-sitter-javascript", "tree_sitter_javascript", "language", (".js", ".mjs", ".cjs", ".jsx"),
        ("comment",),
        frozenset({"string", "template_string", "regex"}),
        ("function_declaration", "generator_function_declaration", "method_definition", "function_expression",
         "function", "arrow_function", "generator_function"),
        frozenset({"class_declaration", "class"}),
        "block", "/**", file_suffixes_skipped=(".min.js", ".test.js", ".spec.js")),
    "go": Spec(
        "go", "tree-sitter-go", "tree_sitter_go", "language", (".go",),
        ("comment",),
        frozenset({"interpreted_string_literal", "raw_string_literal", "rune_literal"}),
        ("function_declaration", "method_declaration"),
        frozenset(),
        "line", "//", file_suffixes_skipped=("_test.go",),
        directive_re=re.compile(r"^//(?:[a-z0-9_.-]+:\S|export |line |extern )")),
    "php": Spec(
        "php", "tree-sitter-php", "tree_sitter_php", "language_php", (".php",),
        ("comment",),
        frozenset({"string", "encapsed_string", "heredoc", "nowdoc", "shell_command_expression"}),
        ("function_definition", "method_declaration"),
        frozenset({"class_declaration", "interface_declaration", "trait_declaration", "enum_declaration"}),
        "block", "/**"),
    "ruby": Spec(
        "ruby", "tree-sitter-ruby", "tree_sitter_ruby", "language", (".rb",),
        ("comment",),
        frozenset({"string", "heredoc_body", "regex", "subshell", "delimited_symbol", "character"}),
        ("method", "singleton_method"),
        frozenset({"class", "module"}),
        "line", "#", file_suffixes_skipped=("_spec.rb", "_test.rb"), file_prefixes_skipped=("test_",),
        directive_re=re.compile(r"^#+\s*(?::\w+:|rubocop:|frozen_string_literal:|(?:en)?coding[:=]|-\*-|typed:|!)")),
}
BODY_FIELD_TYPES = {"method_declaration", "constructor_declaration", "function_declaration", "function_definition",
                    "method", "singleton_method"}   # their `body` field is absent for abstract/bodyless ones
