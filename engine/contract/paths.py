"""Default folders, languages and splits: the names every part of the project agrees on.

CACHE = an explicit cache_dir, else $CRAM_CACHE_DIR, else the platform's user cache folder for cramgui
(platformdirs: $XDG_CACHE_HOME/cramgui or ~/.cache/cramgui on Linux, ~/Library/Caches/cramgui on macOS,
%LOCALAPPDATA%/cramgui/Cache on Windows).
"""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import platformdirs

# the six CodeSearchNet / CodeXGLUE code-to-text languages, in the order of the published tables
LANGUAGES = ("ruby", "javascript", "go", "python", "java", "php")
# the CodeXGLUE split names (files ROOT/{lang}/{split}.jsonl)
SPLITS = ("train", "valid", "test")
# languages whose source trees are read with tree-sitter (python goes through the standard library's ast)
TREE_SITTER_LANGUAGES = ("ruby", "javascript", "go", "java", "php")
# the language of the built-in corpus (this Python's standard library)
BUILTIN_LANGUAGE = "python"
# CodeXGLUE code-to-text on the Hugging Face Hub (`cram data fetch codexglue`), and its published sizes
CODEXGLUE_HUB_DATASET = "google/code_x_glue_ct_code_to_text"
CODEXGLUE_COUNTS = {
    "ruby": {"train": 24927, "valid": 1400, "test": 1261},
    "javascript": {"train": 58025, "valid": 3885, "test": 3291},
    "go": {"train": 167288, "valid": 7325, "test": 8122},
    "python": {"train": 251820, "valid": 13914, "test": 14918},
    "java": {"train": 164923, "valid": 5183, "test": 10955},
    "php": {"train": 241241, "valid": 12982, "test": 14014},
}


def default_runs_dir() -> Path:
    """Where new runs go and what the console lists: $CRAM_RUNS_DIR or ./runs."""
    return Path(os.environ.get("CRAM_RUNS_DIR", "runs"))


def cache_root(cache_dir=None) -> Path:
    """CACHE = cache_dir, $CRAM_CACHE_DIR or the platform's user cache folder (see the module docstring)."""
    cache = cache_dir or os.environ.get("CRAM_CACHE_DIR") or platformdirs.user_cache_path("cramgui", appauthor=False)
    return Path(cache).expanduser()


def builtin_corpus_dir(include_site_packages: bool = False, cache_dir=None) -> Path:
    """CACHE/corpus/stdlib-py{major}{minor}[-site]/: the built-in corpus of this Python."""
    name = f"stdlib-py{sys.version_info.major}{sys.version_info.minor}" + ("-site" if include_site_packages else "")
    return cache_root(cache_dir) / "corpus" / name


def codexglue_dir(cache_dir=None) -> Path:
    """CACHE/data/codexglue: where `cram data fetch` puts CodeXGLUE code-to-text."""
    return cache_root(cache_dir) / "data" / "codexglue"


def source_corpus_dir(src_dir, language: str, cache_dir=None) -> Path:
    """CACHE/corpus/{folder name}-{language}-{8 hex of the absolute path}: a corpus built from a source tree."""
    src = Path(src_dir).expanduser().resolve()
    digest = hashlib.sha1(str(src).encode("utf-8")).hexdigest()[:8]
    return cache_root(cache_dir) / "corpus" / f"{src.name or 'root'}-{language}-{digest}"


def split_path(root, language: str, split: str) -> Path:
    """ROOT/{language}/{split}.jsonl (the CodeXGLUE layout)."""
    return Path(root) / language / f"{split}.jsonl"
