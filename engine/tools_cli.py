"""`cram bleu|compare|slurm|config`: the commands around a run (scoring, comparing, job scripts, settings).

  cram bleu REF < PRED                          smoothed BLEU-4 as the CodeXGLUE evaluator
  cram compare RUN_DIR... [--csv]               BLEU per language of several runs, and the settings that differ
  cram slurm [CONFIG] [--preset P] [--set ...]  an sbatch script (or --sweep SPEC --workers N: a job array)
  cram config schema|show|presets               the settings

engine/cli.py registers them, in `cram --help`'s order, with add_bleu_parser / add_compare_parser /
add_slurm_parser / add_config_parser; each sets `func(args) -> exit code`. Nothing here imports torch.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .contract import config as config_lib  # pure Python


def cmd_bleu(args) -> int:
    from . import bleu

    return bleu.main([args.reference])


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
    from .cli import resolve_config
    from .contract import rundir, slurm
    from .contract.paths import default_runs_dir

    if args.sweep:
        return _slurm_sweep(args)
    if args.workers is not None:
        raise config_lib.ConfigError("--workers", "only with --sweep SPEC (the workers of a sweep's job array)")
    cfg = resolve_config(args)
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


def add_bleu_parser(subparsers) -> argparse.ArgumentParser:
    b = subparsers.add_parser("bleu", help="smoothed BLEU-4 as the CodeXGLUE evaluator: cram bleu REF < PRED")
    b.add_argument("reference", help="reference file, idx<TAB>text per line")
    b.set_defaults(func=cmd_bleu)
    return b


def add_compare_parser(subparsers) -> argparse.ArgumentParser:
    cp = subparsers.add_parser("compare", help="BLEU per language (and mean) of several runs, and differing settings")
    cp.add_argument("run_dirs", nargs="+")
    cp.add_argument("--csv", action="store_true", help="print the table as CSV")
    cp.set_defaults(func=cmd_compare)
    return cp


def add_slurm_parser(subparsers) -> argparse.ArgumentParser:
    sl = subparsers.add_parser("slurm", help="write an sbatch script (torchrun inside, checkpoint on the time-limit "
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
    return sl


def add_config_parser(subparsers) -> argparse.ArgumentParser:
    c = subparsers.add_parser("config", help="settings: schema (JSON), show (TOML), presets")
    csub = c.add_subparsers(dest="config_cmd", required=True)
    csub.add_parser("schema")
    sh = csub.add_parser("show")
    sh.add_argument("--preset")
    csub.add_parser("presets")
    c.set_defaults(func=cmd_config)
    return c
