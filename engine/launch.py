"""How a run is launched (pure Python: the console shows these commands without importing torch)."""
from __future__ import annotations

import os
import sys


def inside_torchrun() -> bool:
    return "TORCHELASTIC_RUN_ID" in os.environ or int(os.environ.get("WORLD_SIZE", "1")) > 1


def launch_command(n: int, argv: list[str], python: str | None = None) -> list[str]:
    """The torchrun command that runs `cram <argv>` on n ranks of this machine (what `cram train` with
    hardware.gpus = n > 1 executes)."""
    return [python or sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}",
            "-m", "engine", *argv]
