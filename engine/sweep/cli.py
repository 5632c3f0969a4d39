"""`cram sweep SPEC [--sweep-dir D] [--resume D] [--worker] [--jsonl]` and `cram sweep report D [--csv]`.

engine/cli.py adds these with one call: `add_sweep_parser(sub)`.
"""
from __future__ import annotations

import argparse
import sys


def add_sweep_parser(subparsers) -> argparse.ArgumentParser:
    sw = subparsers.add_parser(
        "sweep", help="run a sweep (many trials under one total training budget, Optuna), or report on one",
        description="cram sweep SPEC [--sweep-dir D] [--worker] [--jsonl] | cram sweep --resume D | "
                    "cram sweep report D [--csv]. Each trial is an ordinary run directory under the sweep "
                    "directory; the study lives in D/study.journal; D/sweep.json describes the sweep.")
    sw.add_argument("spec", nargs="?", help="sweep spec (.toml), or `report`")
    sw.add_argument("report_dir", nargs="?", help=argparse.SUPPRESS)
    sw.add_argument("--sweep-dir", help="the sweep directory (default: RUNS_DIR/sweeps/DATE-NAME)")
    sw.add_argument("--resume", metavar="D", help="continue the sweep in D after a stop or a kill")
    sw.add_argument("--worker", action="store_true",
                    help="join the sweep in --sweep-dir (created if missing) as one more worker of its study")
    sw.add_argument("--jsonl", action="store_true", help="progress as JSON-lines events on stdout")
    sw.add_argument("--csv", action="store_true", help="report: the table as CSV")
    sw.set_defaults(func=cmd_sweep)
    return sw


def cmd_sweep(args) -> int:
    if args.spec == "report":
        return cmd_report(args)
    if args.report_dir:
        print(f"cram sweep: unexpected argument {args.report_dir!r}", file=sys.stderr)
        return 2
    if not args.spec and not args.resume:
        print("cram sweep: give a SPEC file or --resume D", file=sys.stderr)
        return 2
    if args.worker and not args.sweep_dir:
        print("cram sweep: --worker needs --sweep-dir D (the sweep the workers share)", file=sys.stderr)
        return 2
    from .runner import main

    return main(args.spec, args.sweep_dir, resume=args.resume, worker=args.worker, jsonl=args.jsonl)


def cmd_report(args) -> int:
    from .report import format_report, read_sweep, report_csv

    d = args.report_dir or args.sweep_dir or args.resume
    if not d:
        print("cram sweep report: give the sweep directory: cram sweep report D", file=sys.stderr)
        return 2
    try:
        sweep = read_sweep(d)
    except ValueError as e:
        print(f"cram sweep report: {e}", file=sys.stderr)
        return 2
    print(report_csv(sweep) if args.csv else format_report(sweep), end="")
    return 0
