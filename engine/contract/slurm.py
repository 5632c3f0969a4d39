"""`cram slurm`: a ready sbatch script for a config.

The job runs torchrun on one node, writes the run directory on the shared filesystem, and asks SLURM for SIGTERM
`signal_seconds` before the time limit (`--signal=B:TERM@S`). The batch shell forwards it to every process of the
job (torchrun and all ranks), so the engine finishes its step, writes the `last` checkpoint and emits `done` with
`stopped: true`; the script then requeues the job if the run is not complete. A requeued (or resubmitted) job finds
the checkpoint and resumes, so the same script is safe to run any number of times.
"""
from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

from . import config as config_lib
from .launch import torchrun_prefix
from .rundir import safe_name

TIME_RE = re.compile(r"^(?:(\d+)-)?(\d{1,2}):(\d{2}):(\d{2})$")


def parse_time(text: str) -> int:
    """SLURM time HH:MM:SS or D-HH:MM:SS in seconds."""
    m = TIME_RE.match(text.strip())
    if not m:
        raise config_lib.ConfigError("--time", f"expected HH:MM:SS or D-HH:MM:SS, got {text!r}")
    d, h, mi, s = (int(x or 0) for x in m.groups())
    return ((d * 24 + h) * 60 + mi) * 60 + s


def render(cfg: config_lib.RunConfig, *, run_dir: str, gpus: int, time: str, partition: str = "",
           account: str = "", cpus_per_task: int = 8, mem: str = "", signal_seconds: int = 300,
           project_dir: str | None = None, python: str | None = None) -> str:
    limit = parse_time(time)
    if signal_seconds >= limit:
        raise config_lib.ConfigError("--signal-seconds", f"{signal_seconds}s is not below the time limit {time}")
    project = project_dir or str(Path(__file__).resolve().parent.parent.parent)
    py = python or sys.executable
    job = cfg.copy()
    job.hardware.gpus = gpus
    name = safe_name(cfg.name)
    q = shlex.quote
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name=cram-{name}",
        "#SBATCH --nodes=1",
        "#SBATCH --ntasks-per-node=1",
        f"#SBATCH --gres=gpu:{gpus}",
        f"#SBATCH --cpus-per-task={cpus_per_task}",
        f"#SBATCH --time={time}",
        f"#SBATCH --signal=B:TERM@{signal_seconds}",
        "#SBATCH --requeue",
        "#SBATCH --open-mode=append",
        f"#SBATCH --output={run_dir}/slurm-%j.out",
    ]
    if partition:
        lines.append(f"#SBATCH --partition={partition}")
    if account:
        lines.append(f"#SBATCH --account={account}")
    if mem:
        lines.append(f"#SBATCH --mem={mem}")
    lines += [
        "",
        f"# Written by `cram slurm` for config {cfg.name!r}: budget {cfg.budget.seconds:.0f}s of training within",
        f"# a {time} job; SIGTERM {signal_seconds}s before the limit -> checkpoint, then requeue and resume.",
        "set -uo pipefail",
        f"RUN_DIR={q(run_dir)}",
        f"PROJECT={q(project)}",
        f"PY={q(py)}",
        "mkdir -p \"$RUN_DIR\"",
        "cd \"$PROJECT\"",
        "export OMP_WAIT_POLICY=PASSIVE PYTHONUNBUFFERED=1",
        "JOB_CONFIG=\"$RUN_DIR/job_config.toml\"",
        "if [ ! -f \"$JOB_CONFIG\" ]; then cat > \"$JOB_CONFIG\" <<'CRAM_CONFIG'",
        config_lib.dumps_toml(job).rstrip("\n"),
        "CRAM_CONFIG",
        "fi",
        "if [ -f \"$RUN_DIR/checkpoints/last/trainer_state.json\" ] || "
        "[ -f \"$RUN_DIR/checkpoints/last.old/trainer_state.json\" ]; then",
        "  ARGS=(train --resume \"$RUN_DIR\")",
        "else",
        "  ARGS=(train \"$JOB_CONFIG\" --run-dir \"$RUN_DIR\")",
        "fi",
        "\"$PY\" " + shlex.join(torchrun_prefix(gpus)[1:]) + " \"${ARGS[@]}\" &",
        "CHILD=$!",
        "STOPPING=0",
        "on_term() { STOPPING=1; trap '' TERM; kill -TERM 0 2>/dev/null; }",
        "trap on_term TERM",
        "wait $CHILD; CODE=$?",
        "while kill -0 $CHILD 2>/dev/null; do wait $CHILD; CODE=$?; done",
        "STATUS=$(\"$PY\" -c 'import sys; from engine.contract.rundir import summarize; "
        "print(summarize(sys.argv[1])[\"status\"])' \"$RUN_DIR\")",
        "echo \"cram: run status $STATUS (exit $CODE)\"",
        "if [ \"$STATUS\" = stopped ] && [ -n \"${SLURM_JOB_ID:-}\" ] && command -v scontrol >/dev/null; then",
        "  scontrol requeue \"$SLURM_JOB_ID\"",
        "fi",
        "exit $CODE",
    ]
    return "\n".join(lines) + "\n"
