"""`cram slurm --sweep SPEC --workers N`: a job-array script whose N tasks are workers of one study.

Each array task runs `cram sweep SPEC --sweep-dir D --worker` (the sweep directory on the shared filesystem);
the workers share D/study.journal and never run a trial twice (engine.sweep.study). The signals keep the
meaning of single-run jobs (engine.contract.slurm):
  - the time-limit warning (SIGUSR1, `--signal=B:USR1@S`): the shell passes SIGTERM to the worker and its trial;
    the trial checkpoints, stays RUNNING in the study, and the task REQUEUES; the requeued worker (or any other)
    resumes that trial from its checkpoint (`cram train --resume TRIAL_DIR`);
  - `scancel` (SIGTERM): the same graceful stop, no requeue (`cram sweep --resume D` continues later).
Each trial runs on the task's node like a single-run job: torchrun over the task's GPUs when the trial config
asks for hardware.gpus > 1 (the engine re-launches itself under torchrun). The GPU request follows the base
config (none for device=cpu, else hardware.gpus); --gpus overrides the request only, not the trials' settings.
"""
from __future__ import annotations

import shlex
import sys

from engine.contract import config as config_lib
from engine.contract.launch import engine_command
from engine.contract.rundir import safe_name
from engine.contract.slurm import WAIT_WITH_SIGNALS, format_time, parse_time, sbatch_header

from .plan import SweepSpec


def default_time(spec: SweepSpec, workers: int = 1, signal_seconds: int = 300) -> str:
    """A trial's budget + evaluation (a quarter of it, at least 10 minutes) + 10 minutes of start-up, times the
    trials one worker runs when the workers share them out, + the signal lead; at most 2 days (a requeue continues
    a worker that runs out of time)."""
    budget = max(spec.trial_budgets())
    per_trial = budget + max(600.0, 0.25 * budget) + 600.0
    share = -(-(spec.planned_trials() or 1) // max(1, workers))
    return format_time(min(2 * 86400.0, per_trial * share + signal_seconds))


def render(spec: SweepSpec, spec_path: str, *, sweep_dir: str, workers: int, gpus: int | None = None,
           time: str | None = None, partition: str = "", account: str = "", cpus_per_task: int = 8, mem: str = "",
           signal_seconds: int = 300, project_dir: str | None = None, python: str | None = None) -> str:
    if workers < 1:
        raise config_lib.ConfigError("--workers", f"must be 1 or more, got {workers}")
    cfg = spec.base()
    if gpus is None:
        gpus = 0 if cfg.hardware.device == "cpu" else max(1, cfg.hardware.gpus)
    if gpus < 0:
        raise config_lib.ConfigError("--gpus", f"must be 0 (CPU tasks) or more, got {gpus}")
    if gpus == 0 and cfg.hardware.device == "cuda":
        raise config_lib.ConfigError("--gpus", "hardware.device=cuda needs at least one GPU; use --gpus 1 or more")
    time = time or default_time(spec, workers, signal_seconds)
    if signal_seconds >= parse_time(time):
        raise config_lib.ConfigError("--signal-seconds", f"{signal_seconds}s is not below the time limit {time}")
    py = python or sys.executable
    q = shlex.quote
    name = safe_name(spec.name)
    lines = sbatch_header([f"--job-name=cram-sweep-{name}", f"--array=0-{workers - 1}"], gpus=gpus,
                          cpus_per_task=cpus_per_task, time=time, signal_seconds=signal_seconds,
                          output=f"{sweep_dir}/logs/slurm-%A_%a.out", partition=partition, account=account,
                          mem=mem)
    lines += [
        "",
        f"# Written by `cram slurm --sweep` for sweep {spec.name!r}: {workers} workers of one Optuna study in",
        f"# {sweep_dir}/study.journal; total budget {spec.total_seconds:.0f}s of training over all trials.",
        f"# SIGUSR1 {signal_seconds}s before the limit -> the running trial checkpoints, the task requeues and resumes",
        "# it; scancel (SIGTERM) -> checkpoint and stop, no requeue (continue later: cram sweep --resume DIR).",
        "set -uo pipefail",
        f"SWEEP_DIR={q(sweep_dir)}",
        f"SPEC={q(spec_path)}",
        f"PY={q(py)}",
        "mkdir -p \"$SWEEP_DIR/logs\"",
    ]
    if project_dir:
        lines.append(f"cd {q(project_dir)}")
    lines += [
        "export OMP_WAIT_POLICY=PASSIVE PYTHONUNBUFFERED=1",
        "\"$PY\" " + shlex.join([*engine_command()[1:], "sweep"]) + " \"$SPEC\" --sweep-dir \"$SWEEP_DIR\" --worker &",
        *WAIT_WITH_SIGNALS,
        "echo \"cram: sweep worker ${SLURM_ARRAY_TASK_ID:-?} exit $CODE\"",
        "if [ \"$REQUEUE\" = 1 ]; then",
        "  TASK=\"${SLURM_ARRAY_JOB_ID:-}_${SLURM_ARRAY_TASK_ID:-}\"",
        "  if [ -n \"${SLURM_ARRAY_JOB_ID:-}\" ] && command -v scontrol >/dev/null; then",
        "    echo \"cram: time limit near: requeueing array task $TASK\"",
        "    scontrol requeue \"$TASK\"",
        "  else",
        "    echo \"cram: time limit near: would requeue (not inside SLURM)\"",
        "  fi",
        "fi",
        "exit $CODE",
    ]
    return "\n".join(lines) + "\n"
