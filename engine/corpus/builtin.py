"""The built-in corpus: code/docstring pairs from this Python's standard library (and, optionally, the installed
site-packages), built with the Python extractor into engine.contract.paths.builtin_corpus_dir() on first use and
rebuilt when the builder or the Python version changed (`ensure_builtin_corpus`, what a run with
data.source=builtin calls; `cram data build-stdlib` builds it into any folder).
"""
from __future__ import annotations

import json
import platform
import sysconfig
from pathlib import Path
from collections.abc import Callable

from ..contract.paths import BUILTIN_LANGUAGE, SPLITS, builtin_corpus_dir
from .pipeline import BUILDER_VERSION
from .registry import build_corpus

BuildProgress = Callable[[int, int], None]   # progress(files_done, files_total)


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


def build_stdlib_corpus(out_dir, include_site_packages: bool = False, progress: BuildProgress | None = None) -> dict:
    """Build the corpus of this Python's standard library (and site-packages) into OUT_DIR; returns the
    manifest."""
    return build_corpus(stdlib_roots(include_site_packages), out_dir, source=_source_name(include_site_packages),
                        progress=progress, language=BUILTIN_LANGUAGE)


def _is_current(folder: Path, include_site_packages: bool) -> bool:
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (isinstance(manifest, dict) and manifest.get("builder_version") == BUILDER_VERSION
            and manifest.get("python_version") == platform.python_version()
            and manifest.get("source") == _source_name(include_site_packages)
            and all((folder / BUILTIN_LANGUAGE / f"{s}.jsonl").is_file() for s in SPLITS))


def ensure_builtin_corpus(cache_dir=None, include_site_packages: bool = False,
                          progress: BuildProgress | None = None) -> Path:
    """The built-in corpus folder (for engine.data.load_corpus), built on first use or when the builder or the
    Python version changed. `cache_dir` replaces $CRAM_CACHE_DIR / ~/.cache/cramgui."""
    folder = builtin_corpus_dir(include_site_packages, cache_dir)
    if not _is_current(folder, include_site_packages):
        build_stdlib_corpus(folder, include_site_packages, progress)
    return folder
