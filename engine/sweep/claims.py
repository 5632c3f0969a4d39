"""Trial claims: SWEEP_DIR/claims/trial-NNN.json names the worker (host, pid) running trial NNN now; the worker
touches it every HEARTBEAT_S. A claim is free when its process is dead on this host or it was not touched for
CLAIM_STALE_S (a worker on another host that died): engine.contract.sweeps judges it, for the workers, the report
and the console alike.
"""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from engine.contract.sweeps import CLAIM_STALE_S, claim_live, claim_path, read_claim  # noqa: F401

HEARTBEAT_S = 10.0


# -- claims -------------------------------------------------------------------------------------------------------
def worker_id() -> str:
    task = os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{socket.gethostname()}:{os.getpid()}" + (f":task{task}" if task else "")


class Claim:
    """SWEEP_DIR/claims/trial-NNN.json: the worker that runs trial NNN now."""

    def __init__(self, sweep_dir: Path, number: int):
        self.sweep_dir, self.number = Path(sweep_dir), number
        self.path = claim_path(sweep_dir, number)
        self.held = False
        self._touched = 0.0

    def holder(self) -> dict | None:
        return read_claim(self.sweep_dir, self.number)

    def live(self) -> bool:
        """Whether another live worker holds it."""
        return claim_live(self.sweep_dir, self.number)

    def acquire(self) -> bool:
        """Take the claim (taking a stale one over); False when a live worker holds it. Call under AskLock."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            if self.live():
                return False
            try:
                self.path.unlink()
            except OSError:
                pass
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"host": socket.gethostname(), "pid": os.getpid(), "worker": worker_id(),
                       "started": round(time.time(), 3)}, fh)
        self.held = True
        self._touched = time.monotonic()
        return True

    def heartbeat(self) -> None:
        if self.held and time.monotonic() - self._touched >= HEARTBEAT_S:
            self._touched = time.monotonic()
            try:
                os.utime(self.path)
            except OSError:
                pass

    def release(self) -> None:
        if self.held:
            self.held = False
            try:
                self.path.unlink()
            except OSError:
                pass


