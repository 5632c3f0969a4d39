"""`cram`: train, eval, bleu, data, compare, slurm, sweep, config, export — the headless engine the console drives.

This module is the entry point (`cram`, `python -m engine`): main(), build_parser() and the train and eval
commands. The others register themselves on the parser: data_cli.py (`cram data`), tools_cli.py (bleu, compare,
slurm, config), sweep/cli.py (`cram sweep`), export_cli.py (`cram export`).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# before torch is imported anywhere: idle OpenMP threads wait passively, so a second process on the same cores
# (the console, a test runner) does not make training 7-10x slower
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from typing import TYPE_CHECKING  # noqa: E402

from .contract import config as config_lib  # noqa: E402  (pure Python)

if TYPE_CHECKING:
    from .contract.launch import TrainArgs


def resolve_config(args) -> config_lib.RunConfig:
    if args.resume:
        cfg = config_lib.load(Path(args.resume) / "config.json")
    elif args.config:
        cfg = config_lib.load(args.config)
    elif args.preset:
        cfg = config_lib.preset(args.preset)
    else:
        cfg = config_lib.RunConfig()
    if args.config and args.preset:
        raise config_lib.ConfigError("preset", "give either a CONFIG file or --preset, not both")
    config_lib.apply_overrides(cfg, args.set or [])
    return cfg


def _resume_problem(run_dir: Path) -> str | None:
    """Why RUN_DIR cannot be resumed at all (None when it can)."""
    from .contract.rundir import CONFIG

    if not run_dir.is_dir():
        return f"{run_dir} is not a folder: nothing to resume"
    if not (run_dir / CONFIG).is_file():
        return (f"{run_dir} has no {CONFIG}: nothing to resume (the run never started; start a new one with "
                f"`cram train`)")
    return None


def _run_history(run_dir: Path) -> tuple[str, dict]:
    """The run's status from its events (running / completed / stopped / ...: engine.contract.rundir) and the
    budget section of the config its latest session trained with (the last `started` event's)."""
    from .contract.events import read_events
    from .contract.rundir import EVENTS, fold_status, run_status, writer_alive

    folded, budget = "unknown", {}
    for ev in read_events(run_dir / EVENTS):
        folded = fold_status(folded, ev)
        if ev.get("event") == "started":
            cfg = ev.get("config")
            budget = cfg.get("budget") if isinstance(cfg, dict) and isinstance(cfg.get("budget"), dict) else {}
    return run_status(folded, writer_alive(run_dir)), budget


def _extends_budget(old: dict, new: config_lib.RunConfig) -> bool:
    """Whether `new` lets a run that completed with budget section `old` train further: a longer time budget, more
    steps or epochs, or a step / epoch limit removed (through --set or an edited config.json)."""
    from .contract.events import number

    b = new.budget
    seconds = number(old.get("seconds"))
    if seconds is None or b.seconds > seconds:
        return True
    for name in ("max_steps", "max_epochs"):
        was, now = number(old.get(name)) or 0, getattr(b, name)
        if was > 0 and (now <= 0 or now > was):
            return True
    return False


def _nothing_to_resume(args, run_dir: Path, cfg: config_lib.RunConfig) -> bool:
    """A completed run whose budget is not extended (by --set or its edited config.json): say so (stderr; with
    --jsonl also a `log` and a `done` on stdout, never in the run's events.jsonl) and do nothing."""
    status, budget = _run_history(run_dir)
    if status != "completed" or _extends_budget(budget, cfg):
        return False
    message = (f"{run_dir} is completed: nothing to do. To train it longer, extend its budget (e.g. --set "
               f"budget.seconds=N above {cfg.budget.seconds:g}); to evaluate it again: cram eval {run_dir}")
    print(f"cram: {message}", file=sys.stderr)
    if args.jsonl:
        from .contract.events import encode

        print(encode("log", level="info", message=message), flush=True)
        print(encode("done", status="completed", stopped=False), flush=True)
    return True


def cmd_train(args) -> int:
    from .contract.events import EventWriter
    from .progress import ProgressLine
    from .contract.rundir import EVENTS, new_run_dir

    if args.resume:
        problem = _resume_problem(Path(args.resume))
        if problem:
            print(f"cram: {problem}", file=sys.stderr)
            return 2
    try:
        cfg = resolve_config(args)
        errors = config_lib.validate(cfg)
        if errors:
            raise errors[0]
    except config_lib.ConfigError as e:
        print(f"cram: invalid config: {e}", file=sys.stderr)
        if args.jsonl:
            from .contract.events import encode

            print(encode("error", kind="config", message=str(e), hint="fix the setting and start again"))
            print(encode("done", status="failed", stopped=False))
        return 2
    from .contract.launch import inside_torchrun

    if args.resume:
        run_dir = Path(args.resume)
        if int(os.environ.get("RANK", "0")) == 0 and not inside_torchrun() and _nothing_to_resume(args, run_dir, cfg):
            return 0
    elif args.run_dir:
        run_dir = Path(args.run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
    else:
        run_dir = new_run_dir(args.runs_dir, cfg.name or "run")
    if cfg.hardware.gpus > 1 and not inside_torchrun():
        return _launch_torchrun(args, cfg.hardware.gpus, run_dir)
    main_rank = int(os.environ.get("RANK", "0")) == 0
    writer = EventWriter(run_dir / EVENTS if main_rank else None,
                         sys.stdout if args.jsonl and main_rank else None)
    progress = None if args.jsonl or not main_rank else ProgressLine()
    if main_rank:
        print(f"cram: run directory {run_dir}", file=sys.stderr, flush=True)

    from .stopping import StopSignal
    from .train import run

    stop = StopSignal().install()
    try:
        code = run(cfg, run_dir, writer, resume=bool(args.resume), progress=progress, stop=stop)
    finally:
        writer.close()
    if code == 0 and not args.jsonl and main_rank:
        done = _last_done(run_dir / EVENTS)
        if done.get("status") == "completed":
            _print_results(run_dir)
        else:  # stopped: results.csv, if any, is an older session's
            print(f"cram: run {done.get('status') or 'ended'} at step {done.get('step')}; continue it with "
                  f"`cram train --resume {run_dir}`", file=sys.stderr)
    return code


def _last_done(events_path: Path) -> dict:
    """The last `done` event of an events file (read from its end), {} when there is none."""
    import json

    from .contract.files import UnsafePath, open_read

    try:
        with open_read(events_path) as fh:
            size = fh.seek(0, 2)
            fh.seek(max(0, size - (1 << 20)))
            lines = fh.read().splitlines()
    except (OSError, UnsafePath):
        return {}
    for line in reversed(lines):
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if isinstance(ev, dict) and ev.get("event") == "done":
            return ev
    return {}


def train_args(args) -> TrainArgs:
    """The `cram train` request as the contract's TrainArgs (the console and the job script build the same)."""
    from .contract.launch import TrainArgs

    return TrainArgs(config=args.config, preset=args.preset, sets=list(args.set or []), run_dir=args.run_dir,
                     resume=args.resume, jsonl=bool(args.jsonl))


def _launch_torchrun(args, n: int, run_dir: Path) -> int:
    """Re-run this command on n ranks through torchrun; signals reach every rank (same process group)."""
    import signal
    import subprocess

    from .contract.launch import launch_command

    cmd = launch_command(n, train_args(args).on(str(run_dir)).argv())
    print("cram: launching " + " ".join(cmd), file=sys.stderr, flush=True)
    proc = subprocess.Popen(cmd)
    forward = lambda signum, frame: proc.send_signal(signum)  # noqa: E731
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2):  # stop, stop, stop, prune
        signal.signal(sig, forward)
    return proc.wait()  # rank 0 printed the results table


def _print_results(run_dir: Path) -> None:
    from .contract.rundir import read_results

    rows = read_results(run_dir)
    if not rows:
        return
    print(f"\nResults ({run_dir}):")
    print(f"{'language':<12}{'split':<7}{'n':>7}{'BLEU-4':>9}{'floor':>9}{'above':>9}{'NLTK':>9}{'decode s':>10}")

    def cell(v, spec, width):
        return format(v, spec).rjust(width) if isinstance(v, (int, float)) else "-".rjust(width)

    for r in rows:
        print(f"{r['language']:<12}{r['split']:<7}{cell(r.get('n'), 'd', 7)}{cell(r.get('bleu4'), '.2f', 9)}"
              f"{cell(r.get('floor_bleu4'), '.2f', 9)}{cell(r.get('above_floor'), '+.2f', 9)}"
              f"{cell(r.get('nltk_bleu4'), '.2f', 9)}{cell(r.get('decode_seconds'), '.1f', 10)}")
    print("floor = smoothed BLEU-4 of one constant sentence (the best training summary, chosen on dev) for every "
          "example")
    print(f"Re-score with the official evaluator: python evaluator.py {run_dir}/<lang>_<split>.gold "
          f"< {run_dir}/<lang>_<split>.output")


def cmd_eval(args) -> int:
    from .contract.rundir import CONFIG
    from .evaluator import evaluate_run

    cfg_path = Path(args.run_dir) / CONFIG
    if cfg_path.is_file():  # a run directory is untrusted: its config is validated like a training config
        config_lib.check(config_lib.load(cfg_path))

    return evaluate_run(Path(args.run_dir), split=args.split, beam=args.beam, checkpoint=args.checkpoint,
                        jsonl=args.jsonl)


def _beam_size(text: str) -> int:
    """argparse type of --beam: a whole number within eval.beam_size's range."""
    spec = next(s for s in config_lib.field_specs() if s["name"] == "eval.beam_size")
    lo, hi = spec["min"], spec["max"]
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not lo <= value <= hi:
        raise argparse.ArgumentTypeError(f"beam size must be a whole number in {lo}..{hi}, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cram", description="Cram code-summarization models under a time budget "
                                "and evaluate them like CodeXGLUE code-to-text (smoothed BLEU-4).")
    from .contract import version

    p.add_argument("--version", action="version", version=f"cram {version()}")
    sub = p.add_subparsers(dest="cmd", required=True)

    t = sub.add_parser("train", help="train (or resume) a run, then evaluate it")
    t.add_argument("config", nargs="?", help="config file (.toml or .json)")
    t.add_argument("--preset", help=f"start from a preset: {', '.join(config_lib.preset_names())}")
    t.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override a setting (repeatable)")
    t.add_argument("--run-dir", help="write the run here (default: RUNS_DIR/DATE-NAME)")
    t.add_argument("--runs-dir", help="parent folder for new runs (default: ./runs or $CRAM_RUNS_DIR)")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped or killed run from its last checkpoint "
                   "(a completed run: nothing to do, exit 0, unless --set extends its budget)")
    t.add_argument("--jsonl", action="store_true", help="stream events as JSON lines on stdout")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="evaluate a run's checkpoint on a split")
    e.add_argument("run_dir")
    e.add_argument("--split", default="test", choices=["test", "valid"])
    e.add_argument("--beam", type=_beam_size, default=None, help="beam size, 1..64 (default: the run's)")
    e.add_argument("--checkpoint", default="best", choices=["best", "last"])
    e.add_argument("--jsonl", action="store_true")
    e.set_defaults(func=cmd_eval)

    # the other commands register themselves, in this order (`cram --help` lists them so)
    from .data_cli import add_data_parser
    from .export_cli import add_export_parser
    from .sweep.cli import add_sweep_parser
    from .tools_cli import add_bleu_parser, add_compare_parser, add_config_parser, add_slurm_parser

    add_bleu_parser(sub)
    add_data_parser(sub)
    add_compare_parser(sub)
    add_slurm_parser(sub)
    add_sweep_parser(sub)
    add_config_parser(sub)
    add_export_parser(sub)
    return p


def main(argv=None) -> int:
    from .stdio import protect_stdio

    protect_stdio()  # a dead console or `2>&-` must never end the run (engine/stdio.py)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except config_lib.ConfigError as e:
        print(f"cram: invalid config: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cram: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
