"""Which extractor reads which language, and the entry points by language name: `build_corpus` (source roots)
and `build_source_corpus` (`cram data build SRC_DIR --language L`).

python goes through the `ast` extractor (engine.corpus.python_extractor), so `build_source_corpus(stdlib,
"python", ...)` gives exactly the pairs of the built-in corpus; java, javascript, go, php and ruby through
tree-sitter (engine.corpus.treesitter_extractor, which needs `tree-sitter` and `tree-sitter-<language>`).
"""
from __future__ import annotations

from pathlib import Path
from collections.abc import Callable

from ..contract.paths import LANGUAGES, TREE_SITTER_LANGUAGES
from ..tasks import CancelCheck, Progress
from .pipeline import Roots, SourceError, build_pairs, iter_source_files
from .python_extractor import LANGUAGE as PYTHON, PythonExtractor
from .treesitter_extractor import TreeSitterExtractor
from .treesitter_specs import SPECS


def get_extractor(language: str):
    """A fresh extractor for one language. Raises SourceError (a ValueError) for an unknown language or a missing
    grammar package."""
    if language == PYTHON:
        return PythonExtractor()
    if language not in SPECS:
        raise SourceError(f"unknown language {language!r}; choose from {', '.join(LANGUAGES)}")
    return TreeSitterExtractor(SPECS[language])


def available_languages() -> dict[str, str]:
    """language -> '' when it can be built here, else why not (the grammar package missing)."""
    out = {PYTHON: ""}
    for lang in TREE_SITTER_LANGUAGES:
        try:
            get_extractor(lang)
            out[lang] = ""
        except SourceError as e:
            out[lang] = str(e)
    return {lang: out[lang] for lang in LANGUAGES}


def build_corpus(roots: Roots, out_dir, source: str = "custom", progress: Callable[[int, int], None] | None = None,
                 *, language: str = PYTHON, cancel: CancelCheck | None = None) -> dict:
    """Build the corpus from the `language` source files under each root into OUT_DIR (CodeXGLUE layout) and
    return the manifest. `roots` holds (root folder, repo) pairs; repo is the `repo` field, or a function of the
    relative path (site-packages: the distribution's name). progress(files_done, files_total)."""
    report = (lambda done, total, _msg: progress(done, total)) if progress else None
    return build_pairs(roots, out_dir, get_extractor(language), source=source, progress=report, cancel=cancel)


def build_source_corpus(src_dir, language: str, out_dir, progress: Progress | None = None,
                        cancel: CancelCheck | None = None, *, repo: str | None = None,
                        source: str | None = None) -> dict:
    """Build OUT_DIR/{language}/{train,valid,test}.jsonl and OUT_DIR/manifest.json from the `language` sources
    under SRC_DIR (`cram data build SRC_DIR --language L`) and return the manifest. progress(files_done,
    files_total, relative path); cancel() returning True stops between files (engine.tasks.Cancelled). `repo`
    (the rows' `repo` field) defaults to SRC_DIR's name, `source` (the manifest's) to SRC_DIR's absolute path.
    Raises SourceError for a missing folder, an unknown language, a missing grammar, or a folder without a
    single source file of that language."""
    src = Path(src_dir).expanduser()
    if not src.is_dir():
        raise SourceError(f"{src}: folder not found")
    if language not in LANGUAGES:
        raise SourceError(f"unknown language {language!r}; choose from {', '.join(LANGUAGES)}")
    ext = get_extractor(language)
    if not iter_source_files(src, ext):
        raise SourceError(f"{src}: no {language} source file ({', '.join(ext.extensions)}) outside test and "
                          f"hidden folders")
    return build_pairs([(src, repo or src.resolve().name)], out_dir, ext, source=source or str(src.resolve()),
                       progress=progress, cancel=cancel)
