"""Code/summary corpora in the CodeXGLUE layout, built from source trees. One module per concern, each importing
only modules above it in this list:

  filters               CodeXGLUE's filters: files, summaries, code (FILTERS, summary_problem, code_problem, ...)
  pipeline              the one pipeline: file walk, reading files, dedup, split, atomic writes (build_pairs)
  python_extractor      Python functions and docstrings with `ast` + `tokenize`
  treesitter_specs      what tree-sitter reads in java, javascript, go, php and ruby
  treesitter_extractor  functions and documentation comments with tree-sitter
  registry              language -> extractor; build_corpus, build_source_corpus (`cram data build`)
  builtin               the built-in corpus from this Python's standard library (ensure_builtin_corpus)

Default folders are engine.contract.paths; a build's progress/cancel protocol and `Cancelled` are engine.tasks;
length statistics of any corpus folder are engine.contract.lengths (the console reads them in-process).
"""
from .builtin import build_stdlib_corpus, ensure_builtin_corpus
from .pipeline import SourceError, build_pairs
from .registry import available_languages, build_corpus, build_source_corpus, get_extractor

__all__ = ["SourceError", "available_languages", "build_corpus", "build_pairs", "build_source_corpus",
           "build_stdlib_corpus", "ensure_builtin_corpus", "get_extractor"]
