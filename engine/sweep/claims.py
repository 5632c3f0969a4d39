"""Trial claims: SWEEP_DIR/claims/trial-NNN.json names the worker (host, pid) running trial NNN now; the worker
touches it every HEARTBEAT_S. A claim is free when its process is dead on this host or it was not touched for
CLAIM_STALE_S (a worker on another host that died). Pure Python: the report reads claims too.
"""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from engine.contract.rundir import pid_alive

CLAIMS_DIR = "claims"
CLAIM_STALE_S = 120.0
HEARTBEAT_S = 10.0


# -- claims -------------------------------------------------------------------------------------------------------
def worker_id() -> str:
    task = os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{socket.gethostname()}:{os.getpid()}" + (f":task{task}" if task else "")


class Claim:
    """SWEEP_DIR/claims/trial-NNN.json: the worker that runs trial NNN now."""

    def __init__(self, sweep_dir: Path, number: int):
        self.path = Path(sweep_dir) / CLAIMS_DIR / f"trial-{number:03d}.json"
        self.held = False
        self._touched = 0.0

    def holder(self) -> dict | None:
        try:
            d = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}
        return d if isinstance(d, dict) else {}

    def live(self) -> bool:
        """Whether another live worker holds it."""
        holder = self.holder()
        if holder is None:
            return False
        try:
            age = time.time() - self.path.stat().st_mtime
        except OSError:
            return False
        if age > CLAIM_STALE_S:
            return False
        pid = holder.get("pid")
        mine = holder.get("host") == socket.gethostname()
        return not mine or pid_alive(pid if isinstance(pid, int) else -1)

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


