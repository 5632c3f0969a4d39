"""How a run is launched: the `cram train ...` argument list and the torchrun line around it.

The CLI (re-running itself under torchrun), the console (Start, Resume, the copied command line) and the job
script all build their command lines here.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field


def inside_torchrun() -> bool:
    return "TORCHELASTIC_RUN_ID" in os.environ or int(os.environ.get("WORLD_SIZE", "1")) > 1


@dataclass
class TrainArgs:
    """What `cram train` is asked to do: a config file or a preset plus `--set` overrides on a run directory,
    or a resume of one."""
    config: str | None = None
    preset: str | None = None
    sets: list[str] = field(default_factory=list)     # SECTION.KEY=VALUE
    run_dir: str | None = None
    resume: str | None = None                          # RUN_DIR to continue
    jsonl: bool = False

    def argv(self) -> list[str]:
        """`cram` arguments (after the program name): train [CONFIG] [--preset P] (--run-dir D | --resume D)
        [--set K=V ...] [--jsonl]."""
        argv = ["train"]
        if self.resume:
            argv += ["--resume", str(self.resume)]
        else:
            if self.config:
                argv.append(str(self.config))
            if self.preset:
                argv += ["--preset", self.preset]
            if self.run_dir:
                argv += ["--run-dir", str(self.run_dir)]
        for item in self.sets:
            argv += ["--set", item]
        if self.jsonl:
            argv.append("--jsonl")
        return argv

    def on(self, run_dir: str, jsonl: bool | None = None) -> TrainArgs:
        """The same request pinned to a run directory (what a relaunch under torchrun or the console runs)."""
        return TrainArgs(self.config, self.preset, list(self.sets), None if self.resume else str(run_dir),
                         str(run_dir) if self.resume else None, self.jsonl if jsonl is None else jsonl)


def engine_command(python: str | None = None) -> list[str]:
    """`python -m engine` with this interpreter (the console and the engine share an environment)."""
    return [python or sys.executable, "-m", "engine"]


def torchrun_prefix(n: int, python: str | None = None) -> list[str]:
    """torchrun on n ranks of this machine, running the engine module."""
    return [python or sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}",
            "-m", "engine"]


def launch_command(n: int, argv: list[str], python: str | None = None) -> list[str]:
    """The torchrun command that runs `cram <argv>` on n ranks of this machine (what `cram train` with
    hardware.gpus = n > 1 executes)."""
    return [*torchrun_prefix(n, python), *argv]
