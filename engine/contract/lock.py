"""One writer per run directory: an exclusive lock file RUN_DIR/writer.lock (host, pid, start time, purpose),
created with O_EXCL and never through a symlink, taken by train, resume and eval. A lock is stale (taken over)
when its process is dead on this host, when it is unreadable, or when an earlier run of the same SLURM job took
it (a hard-killed job requeued onto another node)."""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from .files import open_read
from .rundir import LOCK_FILE, pid_alive


class RunLocked(RuntimeError):
    """Another live process writes this run directory."""

    def __init__(self, run_dir: Path, holder: dict):
        self.run_dir, self.holder = Path(run_dir), holder
        when = holder.get("started")
        since = (time.strftime(" since %Y-%m-%d %H:%M:%S", time.localtime(when))
                 if isinstance(when, (int, float)) and not isinstance(when, bool) and 0 < when < 1e11 else "")
        super().__init__(f"{self.run_dir} is being written by another process: pid {holder.get('pid')} on "
                         f"{holder.get('host')} ({holder.get('purpose') or 'writing'}{since}); wait for it to end "
                         f"or stop it first (stale locks of dead processes on this host are taken over)")


def read_lock(run_dir: str | os.PathLike) -> dict | None:
    """The holder recorded in RUN_DIR/writer.lock {host, pid, started, purpose}, None when there is none, {} when
    it is unreadable."""
    p = Path(run_dir) / LOCK_FILE
    if not p.exists() and not p.is_symlink():
        return None
    try:
        with open_read(p) as fh:
            d = json.loads(fh.read(4096).decode("utf-8"))
    except (OSError, ValueError, UnicodeError):
        return {}
    return d if isinstance(d, dict) else {}


def _slurm_job() -> tuple[str | None, int]:
    job = os.environ.get("SLURM_JOB_ID") or None
    try:
        restart = int(os.environ.get("SLURM_RESTART_COUNT", "0"))
    except ValueError:
        restart = 0
    return job, restart


def _stale(holder: dict) -> bool:
    """A lock is stale when it is unreadable, when its process is dead on this host, or when it was taken by an
    earlier run of this same SLURM job (a hard-killed job requeued onto another node)."""
    if not holder:
        return True
    job, restart = _slurm_job()
    held_restart = holder.get("slurm_restart")
    if job and holder.get("slurm_job") == job and isinstance(held_restart, int) and held_restart < restart:
        return True
    pid = holder.get("pid")
    return holder.get("host") == socket.gethostname() and not pid_alive(pid if isinstance(pid, int) else -1)


class RunLock:
    """An exclusive writer lock on a run directory (RUN_DIR/writer.lock, created with O_EXCL, never through a
    symlink), for train, resume and eval. `with RunLock(d, "train"):` or acquire()/release()."""

    def __init__(self, run_dir: str | os.PathLike, purpose: str = "train"):
        self.run_dir, self.purpose = Path(run_dir), purpose
        self.path = self.run_dir / LOCK_FILE
        self.held = False

    def acquire(self) -> RunLock:
        me = {"host": socket.gethostname(), "pid": os.getpid(), "started": round(time.time(), 3),
              "purpose": self.purpose}
        job, restart = _slurm_job()
        if job:
            me.update(slurm_job=job, slurm_restart=restart)
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
            except FileExistsError:
                holder = read_lock(self.run_dir) or {}
                if holder.get("pid") == os.getpid() and holder.get("host") == me["host"]:
                    self.held = True  # re-entrant within one process
                    return self
                if not _stale(holder):
                    raise RunLocked(self.run_dir, holder) from None
                try:  # take the stale lock over: move it aside (atomic), then try again
                    os.replace(self.path, self.path.with_name(f".{LOCK_FILE}.stale-{os.getpid()}"))
                    os.unlink(self.path.with_name(f".{LOCK_FILE}.stale-{os.getpid()}"))
                except OSError:
                    pass
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(me) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            self.held = True
            return self
        raise RunLocked(self.run_dir, read_lock(self.run_dir) or {})

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        holder = read_lock(self.run_dir) or {}
        if holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
            try:
                os.unlink(self.path)
            except OSError:
                pass

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
