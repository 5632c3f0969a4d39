"""`cram data build-stdlib|build|fetch|stats`: corpora, with human or JSON-lines progress.

  cram data build-stdlib OUT [--site-packages]              the built-in corpus from this Python's standard library
  cram data build SRC_DIR --language L [--out D] [--jsonl]  a corpus from a source tree
  cram data fetch codexglue [--languages ...] [--out D] [--source S] [--jsonl]   CodeXGLUE code-to-text
  cram data stats PATH                                      usable and skipped examples per language and split

engine/cli.py adds these with one call: `add_data_parser(sub)`; each sets `func(args) -> exit code`.
The corpus builders (tree_sitter) and `datasets` are imported only by the command that needs them.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .contract import config as config_lib  # pure Python


def cmd_data(args) -> int:
    from . import corpus, data

    if args.data_cmd == "build-stdlib":
        manifest = corpus.build_stdlib_corpus(Path(args.out), include_site_packages=args.site_packages)
        print(f"wrote {args.out}: " + ", ".join(f"{k} {v}" for k, v in manifest["counts"].items()))
        return 0
    if args.data_cmd == "build":
        return _data_build(args)
    if args.data_cmd == "fetch":
        return _data_fetch(args)
    if args.data_cmd == "stats":
        try:
            rows = data.stats(Path(args.path))
        except data.DataError as e:
            print(f"cram: {e}", file=sys.stderr)
            return 2
        print(data.format_stats(rows))
        return 0
    return 2


_last_progress = [0.0]


def _print_progress(done: int, total: int, message: str = "") -> None:
    """A refreshed line on a terminal; every 10 s (and at the end) when stderr is a file or a pipe."""
    import time

    tty = sys.stderr.isatty()
    now = time.monotonic()
    if not tty and now - _last_progress[0] < 10 and done != total:
        return
    _last_progress[0] = now
    pct = f"{100 * done / total:5.1f}% " if total else ""
    line = f"{pct}{done:,} {message}"[:100]
    print(("\r" + line.ljust(100)) if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)


def _jsonl_progress(task: str):
    """Progress as `progress` events on stdout (the console's data dialogs read these), at most 10 a second."""
    import time

    from .contract.events import encode

    last = [0.0]

    def report(done: int, total: int, message: str = "") -> None:
        now = time.monotonic()
        if now - last[0] >= 0.1 or done == total:
            last[0] = now
            print(encode("progress", task=task, done=done, total=total, message=message), flush=True)
    return report


def _data_task(args, task: str, out: Path, run) -> tuple[int, dict | None]:
    """Run a data task, `run(progress, cancel) -> manifest`, with human or JSON-lines progress; errors are clear
    messages (and `error` events). Returns (exit code, manifest or None)."""
    import signal

    from .tasks import Cancelled
    from .contract.events import encode
    from .fetch import FetchError
    from .corpus import SourceError

    cancelled = [False]
    signal.signal(signal.SIGTERM, lambda *_: cancelled.__setitem__(0, True))
    progress = _jsonl_progress(task) if args.jsonl else _print_progress
    try:
        manifest = run(progress, lambda: cancelled[0])
    except (SourceError, FetchError, Cancelled) as e:
        kind = "cancelled" if isinstance(e, Cancelled) else "data"
        if args.jsonl:
            print(encode("error", kind=kind, message=str(e), hint=""), flush=True)
            print(encode("done", status="stopped" if kind == "cancelled" else "failed"), flush=True)
        print(f"\ncram: {e}", file=sys.stderr)
        return 2, None
    if args.jsonl:
        print(encode("done", status="completed", path=str(out), counts=manifest.get("counts", {}),
                     skipped=manifest.get("skipped", {})), flush=True)
    return 0, manifest


def _data_build(args) -> int:
    from .contract.paths import source_corpus_dir
    from .corpus import build_source_corpus

    src = Path(args.src_dir)
    out = Path(args.out) if args.out else source_corpus_dir(src, args.language)
    code, manifest = _data_task(args, "build", out, lambda progress, cancel: build_source_corpus(
        src, args.language, out, progress=progress, cancel=cancel))
    if code or args.jsonl:
        return code
    print(file=sys.stderr)
    skipped = ", ".join(f"{k} {v}" for k, v in sorted(manifest.get("skipped", {}).items()))
    print(f"wrote {out}: " + ", ".join(f"{k} {v}" for k, v in manifest["counts"].items()) +
          (f" (skipped: {skipped})" if skipped else ""))
    print(f"train on it: cram train --set data.source=codexglue --set data.path={out} "
          f"--set data.languages={args.language}")
    return 0


def _data_fetch(args) -> int:
    from .contract.paths import codexglue_dir
    from .fetch import fetch_codexglue

    out = Path(args.out) if args.out else codexglue_dir()
    langs = [x.strip() for x in args.languages.split(",") if x.strip()] if args.languages else None
    code, manifest = _data_task(args, "fetch", out, lambda progress, cancel: fetch_codexglue(
        out, langs, args.source, progress=progress, cancel=cancel))
    if code or args.jsonl:
        return code
    print(file=sys.stderr)
    print(f"wrote {out}")
    for lang, counts in manifest.get("counts", {}).items():
        print(f"  {lang}: " + ", ".join(f"{s} {n:,}" for s, n in counts.items()))
    return 0


def add_data_parser(subparsers) -> argparse.ArgumentParser:
    """Register `cram data ...` on the subparsers of `cram`'s parser."""
    d = subparsers.add_parser("data", help="corpora")
    dsub = d.add_subparsers(dest="data_cmd", required=True)
    bs = dsub.add_parser("build-stdlib", help="build the built-in corpus from this Python's standard library")
    bs.add_argument("out")
    bs.add_argument("--site-packages", action="store_true", help="also use installed site-packages")
    bd = dsub.add_parser("build", help="build a corpus from a source tree (python, java, javascript, go, php, ruby)")
    bd.add_argument("src_dir")
    bd.add_argument("--language", required=True, choices=list(config_lib.LANGUAGES))
    bd.add_argument("--out", help="output folder (default: the cache, named after the source folder)")
    bd.add_argument("--jsonl", action="store_true", help="progress and the result as JSON-lines events on stdout")
    fe = dsub.add_parser("fetch", help="get a public data set: codexglue (code-to-text, through `datasets`)")
    fe.add_argument("dataset", choices=["codexglue"])
    fe.add_argument("--languages", help="comma-separated (default: all six)")
    fe.add_argument("--out", help="output folder (default: the cache)")
    fe.add_argument("--source", help="a local copy to read instead of the hub (parquet / jsonl / save_to_disk)")
    fe.add_argument("--jsonl", action="store_true", help="progress and the result as JSON-lines events on stdout")
    st = dsub.add_parser("stats", help="usable and skipped examples per language and split")
    st.add_argument("path")
    d.set_defaults(func=cmd_data)
    return d
