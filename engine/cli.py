"""`cram`: train, eval, bleu, data, config — the headless engine the console drives."""
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


def _resolve_config(args) -> config_lib.RunConfig:
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
        cfg = _resolve_config(args)
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


def cmd_bleu(args) -> int:
    from . import bleu

    return bleu.main([args.reference])


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


def cmd_config(args) -> int:
    import json

    if args.config_cmd == "schema":
        print(json.dumps(config_lib.field_specs(), indent=2, default=str))
    elif args.config_cmd == "show":
        print(config_lib.dumps_toml(config_lib.preset(args.preset) if args.preset else config_lib.RunConfig()),
              end="")
    elif args.config_cmd == "presets":
        print("\n".join(config_lib.preset_names()))
    return 0


def cmd_compare(args) -> int:
    from .contract.compare import compare_runs, config_differences, format_table, to_csv
    from .contract.rundir import is_run_dir

    missing = [d for d in args.run_dirs if not is_run_dir(d)]
    if missing:
        print(f"cram: not a run directory: {', '.join(missing)}", file=sys.stderr)
        return 2
    header, rows, problems = compare_runs(args.run_dirs)
    for problem in problems:
        print(f"cram: unreadable run: {problem}", file=sys.stderr)
    if args.csv:
        print(to_csv(header, rows), end="")
        return 0
    print(format_table(header, rows))
    diffs = config_differences(args.run_dirs)
    if diffs:
        print("\nsettings that differ:")
        for name, vals in diffs.items():
            print(f"  {name}: " + " | ".join(str(v) for v in vals))
    return 0


def cmd_slurm(args) -> int:
    from .contract import rundir, slurm
    from .contract.paths import default_runs_dir

    if args.sweep:
        return _slurm_sweep(args)
    if args.workers is not None:
        raise config_lib.ConfigError("--workers", "only with --sweep SPEC (the workers of a sweep's job array)")
    cfg = _resolve_config(args)
    config_lib.check(cfg)
    run_dir = args.run_dir or str((Path(args.runs_dir or default_runs_dir()) / rundir.run_dir_name(cfg.name)).resolve())
    text = slurm.render(cfg, run_dir=run_dir, gpus=args.gpus, time=args.time, partition=args.partition,
                        account=args.account, cpus_per_task=args.cpus_per_task, mem=args.mem,
                        signal_seconds=args.signal_seconds)
    limit = slurm.parse_time(args.time)
    if cfg.budget.seconds + args.signal_seconds > limit:
        print(f"cram: note: the training budget ({cfg.budget.seconds:.0f}s) does not fit in --time {args.time} "
              f"before the signal; the job will checkpoint and requeue to finish it", file=sys.stderr)
    if args.out:
        Path(run_dir).mkdir(parents=True, exist_ok=True)  # sbatch opens --output there before the script runs
        Path(args.out).write_text(text)
        Path(args.out).chmod(0o755)
        print(f"wrote {args.out}: submit with `sbatch {args.out}`", file=sys.stderr)
    else:
        print(text, end="")
    return 0


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


def _slurm_sweep(args) -> int:
    """`cram slurm --sweep SPEC --workers N`: a job array whose tasks are workers of one study."""
    from .contract.paths import default_runs_dir
    from .contract.rundir import run_dir_name
    from .sweep import spec as spec_lib
    from .sweep.slurm import render

    if args.config or args.preset or args.set:
        raise config_lib.ConfigError("--sweep", "the sweep spec names its base config: no CONFIG, --preset or --set")
    spec = spec_lib.load(args.sweep)
    sweep_dir = args.run_dir or str((Path(args.runs_dir or default_runs_dir()) / "sweeps"
                                     / run_dir_name(spec.name)).resolve())
    text = render(spec, str(Path(args.sweep).resolve()), sweep_dir=sweep_dir, workers=args.workers or 1,
                  gpus=args.gpus, time=args.time, partition=args.partition, account=args.account,
                  cpus_per_task=args.cpus_per_task, mem=args.mem, signal_seconds=args.signal_seconds)
    if args.out:
        Path(sweep_dir, "logs").mkdir(parents=True, exist_ok=True)  # sbatch opens --output there first
        Path(args.out).write_text(text)
        Path(args.out).chmod(0o755)
        print(f"wrote {args.out}: submit with `sbatch {args.out}`; report with `cram sweep report {sweep_dir}`",
              file=sys.stderr)
    else:
        print(text, end="")
    return 0


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

    b = sub.add_parser("bleu", help="smoothed BLEU-4 as the CodeXGLUE evaluator: cram bleu REF < PRED")
    b.add_argument("reference", help="reference file, idx<TAB>text per line")
    b.set_defaults(func=cmd_bleu)

    d = sub.add_parser("data", help="corpora")
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

    cp = sub.add_parser("compare", help="BLEU per language (and mean) of several runs, and differing settings")
    cp.add_argument("run_dirs", nargs="+")
    cp.add_argument("--csv", action="store_true", help="print the table as CSV")
    cp.set_defaults(func=cmd_compare)

    sl = sub.add_parser("slurm", help="write an sbatch script (torchrun inside, checkpoint on the time-limit "
                        "signal, requeue-safe resume)")
    sl.add_argument("config", nargs="?", help="config file (.toml or .json)")
    sl.add_argument("--preset")
    sl.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE")
    sl.add_argument("--gpus", type=int, default=None,
                    help="GPUs the job asks for (default: the config's: none for hardware.device=cpu, else "
                    "hardware.gpus)")
    sl.add_argument("--time", default="24:00:00", help="job time limit, HH:MM:SS or D-HH:MM:SS")
    sl.add_argument("--partition", default="")
    sl.add_argument("--account", default="")
    sl.add_argument("--cpus-per-task", type=int, default=8)
    sl.add_argument("--mem", default="")
    sl.add_argument("--signal-seconds", type=int, default=300, help="SIGTERM this long before the limit")
    sl.add_argument("--run-dir", help="run directory on the shared filesystem (default: RUNS_DIR/DATE-NAME)")
    sl.add_argument("--runs-dir")
    sl.add_argument("--out", help="write the script here (default: stdout)")
    sl.add_argument("--sweep", metavar="SPEC", help="a job array of sweep workers for this sweep spec (with "
                    "--workers N); --run-dir is then the sweep directory")
    sl.add_argument("--workers", type=int, default=None, help="--sweep: array tasks, each a worker of the study")
    sl.set_defaults(func=cmd_slurm, resume=None)

    from .sweep.cli import add_sweep_parser

    add_sweep_parser(sub)

    c = sub.add_parser("config", help="settings: schema (JSON), show (TOML), presets")
    csub = c.add_subparsers(dest="config_cmd", required=True)
    csub.add_parser("schema")
    sh = csub.add_parser("show")
    sh.add_argument("--preset")
    csub.add_parser("presets")
    c.set_defaults(func=cmd_config)

    from .export_cli import add_export_parser
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
