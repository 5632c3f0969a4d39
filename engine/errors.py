"""How a run ends badly, in one place: `StopRun` carries an expected failure (bad config, bad data, out of memory,
a non-finite loss) to `guarded`, which turns any failure into an `error` and a `done` event and an exit code, and
keeps RUN_DIR/worker.pid while the run works."""
from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from collections.abc import Callable

from . import distributed
from .contract.rundir import PID_FILE

CONFIG_OR_DATA_EXIT = 2   # the user can fix the request
FAILED_EXIT = 1


class StopRun(Exception):
    """Ends a run early with an `error` event: kind (engine.contract.events.ERROR_KINDS), message, hint."""

    def __init__(self, kind: str, message: str, hint: str = ""):
        super().__init__(message)
        self.kind, self.message, self.hint = kind, message, hint


def guarded(run_dir: Path, emit: Callable, summary: Callable[[], dict], body: Callable[[], int]) -> int:
    """Run `body()` with the pid file written (rank 0) and any failure reported as `error` + `done` (status failed,
    the progress from `summary()`): exit code 2 for config/data errors, 1 otherwise. A bug or an environment problem
    also prints its traceback on stderr. Ranks leave the process group together at the end."""
    main = int(os.environ.get("RANK", "0")) == 0
    pid_file = Path(run_dir) / PID_FILE
    if main:
        pid_file.write_text(str(os.getpid()))
    try:
        return body()
    except StopRun as e:
        emit("error", kind=e.kind, message=e.message, hint=e.hint)
        emit("done", status="failed", stopped=False, **summary())
        return CONFIG_OR_DATA_EXIT if e.kind in ("config", "data") else FAILED_EXIT
    except Exception as e:  # a bug or an environment problem: say it, keep the traceback on stderr
        traceback.print_exc(file=sys.stderr)
        emit("error", kind="internal", message=f"{type(e).__name__}: {e}",
             hint="see the log (stderr) for the traceback; the last checkpoint is kept")
        emit("done", status="failed", stopped=False, **summary())
        return FAILED_EXIT
    finally:
        if main:
            try:
                pid_file.unlink()
            except OSError:
                pass
        distributed.leave()
