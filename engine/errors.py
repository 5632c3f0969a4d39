"""How a run ends badly, in one place: `StopRun` carries an expected failure (bad config, bad data, out of memory,
a non-finite loss, a full disk) to `guarded`, which turns any failure into an `error` and a `done` event and an
exit code, holds RUN_DIR/writer.lock (one writer per run directory) and keeps RUN_DIR/worker.pid while the run
works."""
from __future__ import annotations

import os
import traceback
from pathlib import Path
from collections.abc import Callable

from . import distributed
from .contract.files import say
from .contract.lock import RunLock, RunLocked
from .contract.rundir import PID_FILE, atomic_write_text
from .diskerrors import classify

CONFIG_OR_DATA_EXIT = 2   # the user can fix the request (or wait for the run's other writer)
FAILED_EXIT = 1


class StopRun(Exception):
    """Ends a run early with an `error` event: kind (engine.contract.events.ERROR_KINDS), message, hint."""

    def __init__(self, kind: str, message: str, hint: str = ""):
        super().__init__(message)
        self.kind, self.message, self.hint = kind, message, hint


def end(emit: Callable, status: str, **fields) -> None:
    """The run's last events: phase `finished`, then `done` with `status` (stopped unless completed/failed)."""
    emit("phase", phase="finished", message=status)
    emit("done", status=status, stopped=status in ("stopped", "pruned"), **fields)


def write_or_stop(path, what: str, write: Callable, *args) -> None:
    """`write(*args)`, one of the final writes (`what` of `path`: predictions, results, samples); a failure
    becomes StopRun naming `path`: kind `disk` only for a full disk (or quota), else `config` / `untrusted` /
    `internal` with the OS's message. The checkpoints are untouched, so the hint says how to write the results
    again."""
    try:
        write(*args)
    except (OSError, ValueError, RuntimeError) as e:
        kind, message = classify(e, path)
        fix = {"disk": "free disk space", "config": "fix the run directory's permissions or files",
               "untrusted": "remove the link from the run directory"}.get(kind, "see the message")
        raise StopRun(kind, f"cannot write {what + ' ' if what else ''}{path}: {message}",
                      f"{fix}, then `cram eval {Path(path).parent}` writes the results again; the checkpoints "
                      f"are kept") from None


def refuse_locked(e: RunLocked, writer=None) -> int:
    """A second writer of a run directory: say who holds it, on stderr and (with --jsonl) as error/done events
    on stdout only. The holder's events.jsonl is never written: the console would show a live run as failed."""
    say(f"cram: {e}")
    if writer is not None:
        writer.close()  # detach events.jsonl (opened for appending, nothing written): only the stream is left
        writer.emit("error", kind="locked", message=str(e), hint="wait for the other process to end, or stop it")
        writer.emit("done", status="failed", stopped=False)
    return CONFIG_OR_DATA_EXIT


def guarded(run_dir: Path, emit: Callable, summary: Callable[[], dict], body: Callable[[], int], *,
            lock: str | None = None, writer=None) -> int:
    """Run `body()` with the writer lock (rank 0, when `lock` names the purpose: train, resume, eval) and the pid
    file held, and any failure reported as `error` + `done` (status failed, the progress from `summary()`): exit
    code 2 for config/data errors and a run locked by another writer (see `refuse_locked`; `writer` is the
    EventWriter behind `emit`), 1 otherwise. A bug or an environment problem also prints its traceback on stderr
    (a full disk does not). Lock and pid file are released on every way out; ranks leave the process group
    together at the end."""
    main = int(os.environ.get("RANK", "0")) == 0
    run_lock = None
    if main and lock:
        try:
            run_lock = RunLock(run_dir, lock).acquire()
        except RunLocked as e:
            distributed.leave()
            return refuse_locked(e, writer)
    pid_file = Path(run_dir) / PID_FILE
    try:
        if main:
            atomic_write_text(pid_file, str(os.getpid()))  # replaces, never follows, a planted symlink
        return body()
    except StopRun as e:
        emit("error", kind=e.kind, message=e.message, hint=e.hint)
        end(emit, "failed", **summary())
        return CONFIG_OR_DATA_EXIT if e.kind in ("config", "data") else FAILED_EXIT
    except Exception as e:  # a bug or an environment problem: say it, keep the traceback on stderr
        kind, message = classify(e, run_dir)
        if kind in ("disk", "untrusted"):
            emit("error", kind=kind, message=message, hint="free disk space and resume the run; the last checkpoint "
                 "is kept" if kind == "disk" else "the run directory holds a symbolic link; remove it")
        else:
            say(traceback.format_exc().rstrip())
            emit("error", kind="internal", message=f"{type(e).__name__}: {e}",
                 hint="see the log (stderr) for the traceback; the last checkpoint is kept")
        end(emit, "failed", **summary())
        return FAILED_EXIT
    finally:
        if main:
            try:
                pid_file.unlink()
            except OSError:
                pass
        if run_lock is not None:
            run_lock.release()
        distributed.leave()
