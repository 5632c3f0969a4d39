"""Moved to engine.corpus (registry, treesitter_extractor) and engine.contract.paths. Kept only until engine/cli.py
imports from there; then delete this file."""
from .contract.paths import source_corpus_dir as default_source_corpus_dir  # noqa: F401
from .corpus import SourceError, build_source_corpus  # noqa: F401
