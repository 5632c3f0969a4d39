"""`cram slurm`: a ready sbatch script for a config.

The job runs the engine on one node (torchrun for several GPUs, plain `python -m engine` for one GPU or a CPU
run) and writes the run directory on the shared filesystem. Two signals mean two different things:
  - the time-limit warning: SLURM sends SIGUSR1 to the batch shell `signal_seconds` before the limit
    (`--signal=B:USR1@S`); the shell turns it into SIGTERM for every process of the job (torchrun and all ranks),
    the engine finishes its step, writes the `last` checkpoint, emits `done` stopped, and the script REQUEUES the
    job, which finds the checkpoint and resumes;
  - `scancel` (SIGTERM): the same graceful stop, but the job is NOT requeued.
The same script is safe to run any number of times. The GPU request and the time limit follow the config: no
`--gres` for a CPU run, and by default a time limit of budget + evaluation + margin (`default_time`).
"""
from __future__ import annotations

import re
import shlex
import sys

from . import config as config_lib
from .launch import engine_command, torchrun_prefix
from .rundir import safe_name

TIME_RE = re.compile(r"^(?:(\d+)-)?(\d{1,2}):(\d{2}):(\d{2})$")


def parse_time(text: str) -> int:
    """SLURM time HH:MM:SS or D-HH:MM:SS in seconds."""
    m = TIME_RE.match(text.strip())
    if not m:
        raise config_lib.ConfigError("--time", f"expected HH:MM:SS or D-HH:MM:SS, got {text!r}")
    d, h, mi, s = (int(x or 0) for x in m.groups())
    return ((d * 24 + h) * 60 + mi) * 60 + s


def format_time(seconds: float) -> str:
    """Seconds as SLURM's D-HH:MM:SS (HH:MM:SS under a day), rounded up to the minute."""
    m = max(1, -(-int(seconds) // 60))
    d, rem = divmod(m * 60, 86400)
    h, rem = divmod(rem, 3600)
    text = f"{h:02d}:{rem // 60:02d}:00"
    return f"{d}-{text}" if d else text


def default_time(cfg: config_lib.RunConfig, signal_seconds: int = 300) -> str:
    """budget + evaluation (a quarter of the budget, at least 10 minutes) + 10 minutes of start-up and margin +
    the early-signal lead, so the run normally ends on its own before the warning."""
    budget = float(cfg.budget.seconds)
    return format_time(budget + max(600.0, 0.25 * budget) + 600.0 + signal_seconds)


def job_gpus(cfg: config_lib.RunConfig, gpus: int | None = None) -> int:
    """GPUs the job asks for: `gpus` when given, else none for a CPU config, else hardware.gpus."""
    if gpus is not None:
        return gpus
    return 0 if cfg.hardware.device == "cpu" else max(1, cfg.hardware.gpus)


def sbatch_header(first: list[str], *, gpus: int, cpus_per_task: int, time: str, signal_seconds: int, output: str,
                  partition: str = "", account: str = "", mem: str = "") -> list[str]:
    """The #SBATCH lines every cram job shares: one node, one task, the GPU request (none for 0), the time limit,
    the time-limit warning as SIGUSR1 to the batch shell, requeue-safe output. `first`: job-specific options
    (name, array) written first."""
    lines = ["#!/bin/bash", *(f"#SBATCH {o}" for o in first), "#SBATCH --nodes=1", "#SBATCH --ntasks-per-node=1"]
    if gpus > 0:
        lines.append(f"#SBATCH --gres=gpu:{gpus}")
    lines += [f"#SBATCH --cpus-per-task={cpus_per_task}", f"#SBATCH --time={time}",
              f"#SBATCH --signal=B:USR1@{signal_seconds}", "#SBATCH --requeue", "#SBATCH --open-mode=append",
              f"#SBATCH --output={output}"]
    for opt, value in (("partition", partition), ("account", account), ("mem", mem)):
        if value:
            lines.append(f"#SBATCH --{opt}={value}")
    return lines


# after `COMMAND &`: USR1 (the time-limit warning) -> stop the job's processes gracefully and mark REQUEUE=1;
# TERM (scancel) -> the same stop, REQUEUE=0; then wait for the child (a trap interrupts `wait`), CODE = its status
WAIT_WITH_SIGNALS = [
    "CHILD=$!",
    "REQUEUE=0",
    "on_warning() { REQUEUE=1; trap '' USR1 TERM; kill -TERM 0 2>/dev/null; }",
    "on_cancel() { REQUEUE=0; trap '' USR1 TERM; kill -TERM 0 2>/dev/null; }",
    "trap on_warning USR1",
    "trap on_cancel TERM",
    "wait $CHILD; CODE=$?",
    "while kill -0 $CHILD 2>/dev/null; do wait $CHILD; CODE=$?; done",
]


def render(cfg: config_lib.RunConfig, *, run_dir: str, gpus: int | None = None, time: str | None = None,
           partition: str = "", account: str = "", cpus_per_task: int = 8, mem: str = "",
           signal_seconds: int = 300, project_dir: str | None = None, python: str | None = None) -> str:
    gpus = job_gpus(cfg, gpus)
    if gpus < 0:
        raise config_lib.ConfigError("--gpus", f"must be 0 (a CPU job) or more, got {gpus}")
    if gpus == 0 and cfg.hardware.device == "cuda":
        raise config_lib.ConfigError("--gpus", "hardware.device=cuda needs at least one GPU; use --gpus 1 or more")
    time = time or default_time(cfg, signal_seconds)
    limit = parse_time(time)
    if signal_seconds >= limit:
        raise config_lib.ConfigError("--signal-seconds", f"{signal_seconds}s is not below the time limit {time}")
    py = python or sys.executable
    job = cfg.copy()
    job.hardware.gpus = max(1, gpus)
    if gpus == 0:
        job.hardware.device = "cpu"
    name = safe_name(cfg.name)
    q = shlex.quote
    lines = sbatch_header([f"--job-name=cram-{name}"], gpus=gpus, cpus_per_task=cpus_per_task, time=time,
                          signal_seconds=signal_seconds, output=f"{run_dir}/slurm-%j.out", partition=partition,
                          account=account, mem=mem)
    launch = ("\"$PY\" " + shlex.join(torchrun_prefix(gpus)[1:]) if gpus > 1
              else "\"$PY\" " + shlex.join(engine_command()[1:]))
    lines += [
        "",
        f"# Written by `cram slurm` for config {cfg.name!r}: budget {cfg.budget.seconds:.0f}s of training within",
        f"# a {time} job. SIGUSR1 {signal_seconds}s before the limit -> checkpoint, requeue and resume;",
        "# scancel (SIGTERM) -> checkpoint and stop, no requeue.",
        "set -uo pipefail",
        f"RUN_DIR={q(run_dir)}",
        f"PY={q(py)}",
        "mkdir -p \"$RUN_DIR\"",
    ]
    if project_dir:
        lines.append(f"cd {q(project_dir)}")
    lines += [
        "export OMP_WAIT_POLICY=PASSIVE PYTHONUNBUFFERED=1",
        "JOB_CONFIG=\"$RUN_DIR/job_config.toml\"",
        "if [ ! -f \"$JOB_CONFIG\" ]; then cat > \"$JOB_CONFIG\" <<'CRAM_CONFIG'",
        config_lib.dumps_toml(job).rstrip("\n"),
        "CRAM_CONFIG",
        "fi",
        "if \"$PY\" -c 'import sys; from engine.contract.rundir import checkpoint_dir; "
        "sys.exit(checkpoint_dir(sys.argv[1]) is None)' \"$RUN_DIR\"; then",
        "  ARGS=(train --resume \"$RUN_DIR\")",
        "else",
        "  ARGS=(train \"$JOB_CONFIG\" --run-dir \"$RUN_DIR\")",
        "fi",
        launch + " \"${ARGS[@]}\" &",
        *WAIT_WITH_SIGNALS,
        "STATUS=$(\"$PY\" -c 'import sys; from engine.contract.rundir import summarize; "
        "print(summarize(sys.argv[1])[\"status\"])' \"$RUN_DIR\")",
        "echo \"cram: run status $STATUS (exit $CODE)\"",
        "if [ \"$STATUS\" = stopped ] && [ \"$REQUEUE\" = 1 ]; then",
        "  if [ -n \"${SLURM_JOB_ID:-}\" ] && command -v scontrol >/dev/null; then",
        "    echo \"cram: time limit near: requeueing job $SLURM_JOB_ID\"",
        "    scontrol requeue \"$SLURM_JOB_ID\"",
        "  else",
        "    echo \"cram: time limit near: would requeue (not inside SLURM)\"",
        "  fi",
        "fi",
        "exit $CODE",
    ]
    return "\n".join(lines) + "\n"
