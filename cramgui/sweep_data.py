"""What the Sweep view reads out of a sweep directory, without Qt: SWEEP_DIR/sweep.json (written by the sweep's
workers after every change) with each trial's liveness judged now, the trials' run directories (plain folder
names inside the sweep directory only) and the varied parameters' names. A sweep directory is untrusted input.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from engine.contract.rundir import pid_alive, writer_alive

SWEEP_FILE = "sweep.json"


def read_sweep(sweep_dir: str | os.PathLike, live: bool = False) -> dict | None:
    """sweep.json as a dict (None when missing or unreadable); a trial it calls running whose run has no live
    writer and whose worker's claim names a dead process of this host is shown interrupted (unless `live`: this
    console runs the sweep's worker now)."""
    d = Path(sweep_dir)
    p = d / SWEEP_FILE
    if p.is_symlink() or not p.is_file():
        return None
    try:
        s = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeError):
        return None
    if not isinstance(s, dict) or not isinstance(s.get("trials"), list):
        return None
    s["trials"] = [t for t in s["trials"] if isinstance(t, dict)]
    for t in s["trials"]:
        if t.get("status") == "running" and not live and not _worker_alive(d, t):
            t["status"] = "interrupted"
    if s.get("state") == "running" and not any(t.get("status") == "running" for t in s["trials"]):
        s["state"] = "interrupted"
    return s


def _worker_alive(d: Path, t: dict) -> bool:
    rel = trial_dir(d, t)
    if rel is not None and writer_alive(rel):
        return True
    n = t.get("number")
    claim = d / "claims" / f"trial-{n:03d}.json" if isinstance(n, int) else None
    if claim is None or claim.is_symlink() or not claim.is_file():
        return False
    try:
        holder = json.loads(claim.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeError):
        return True
    import socket

    pid = holder.get("pid") if isinstance(holder, dict) else None
    if isinstance(holder, dict) and holder.get("host") == socket.gethostname():
        return pid_alive(pid if isinstance(pid, int) else -1)
    return True  # another host's worker: as far as this machine can tell


def trial_dir(sweep_dir: Path, t: dict) -> Path | None:
    """The trial's run directory: a plain folder name inside the sweep directory, never a path out of it."""
    rel = t.get("dir")
    if not isinstance(rel, str) or not rel or Path(rel).name != rel or rel in (".", ".."):
        return None
    p = Path(sweep_dir) / rel
    return None if p.is_symlink() else p


def param_names(sweep: dict) -> list[str]:
    return [p["name"] for p in (sweep.get("spec") or {}).get("params", [])
            if isinstance(p, dict) and isinstance(p.get("name"), str)]
