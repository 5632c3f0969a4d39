"""One `cram data fetch|build --jsonl` subprocess, read like a training run (the same EngineWorker: own process
group, pipes read in chunks, never blocking the event loop), reduced to what a data dialog shows.

The engine streams `progress` events {task, done, total (0 = unknown), message}, then `done` {status, path,
counts, skipped} — preceded by an `error` event {message} when it failed or was cancelled. SIGTERM cancels (the
engine stops between chunks and says `done` stopped; a fetch resumes where it stopped next time).
"""
from __future__ import annotations

import signal

from PySide6.QtCore import QObject, Signal

from .formatting import exit_text
from .worker import EngineWorker

CANCEL_GRACE_S = 10.0     # SIGKILL when the engine did not stop this long after SIGTERM


class DataTask(QObject):
    """Signals:
      progress(int done, int total, str message)   total 0 = unknown (an indeterminate bar)
      finished(str status)                          completed | failed | stopped; `result` / `message` say more
    After `finished`: `status`, `result` (the `done` event: path, counts, skipped) and `message` (what went wrong,
    the engine's own words, or the last lines of its stderr when it died without saying)."""

    progress = Signal(int, int, str)
    finished = Signal(str)

    def __init__(self, engine_command: list[str] | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.worker = EngineWorker(engine_command, self)
        self.worker.events.connect(self._on_events)
        self.worker.finished.connect(self._on_exit)
        self.status = "idle"
        self.result: dict = {}
        self.message = ""
        self.exit_code: int | None = None
        self.cancel_requested = False
        self._error = ""
        self._done: dict | None = None

    def start(self, args: list[str], env: dict | None = None) -> None:
        """Run `engine <args>` (args include --jsonl). Needs the qasync loop."""
        self.status = "running"
        self.result, self.message, self._error, self._done = {}, "", "", None
        self.exit_code = None
        self.cancel_requested = False
        self.worker.start(list(args), env=env)

    def cancel(self) -> None:
        """SIGTERM to the engine's process group; SIGKILL after CANCEL_GRACE_S."""
        if self.worker.is_running():
            self.cancel_requested = True
            self.worker.stop(CANCEL_GRACE_S)

    def is_running(self) -> bool:
        return self.worker.is_running()

    @property
    def pid(self) -> int | None:
        return self.worker.pid

    async def wait(self, timeout: float | None = None) -> int | None:
        return await self.worker.wait(timeout)

    # -- internals --------------------------------------------------------------------------------------------
    def _on_events(self, events: list) -> None:
        last_progress = None
        for ev in events:
            kind = ev.get("event")
            if kind == "progress":
                last_progress = ev
            elif kind == "error":
                self._error = str(ev.get("message") or "error")
                hint = ev.get("hint")
                if hint:
                    self._error += f"\n{hint}"
            elif kind == "done":
                self._done = ev
        if last_progress is not None:            # a burst shows its last state only
            self.progress.emit(_int(last_progress.get("done")), _int(last_progress.get("total")),
                               str(last_progress.get("message") or ""))

    def _on_exit(self, code: int, last_stderr: str) -> None:
        self.exit_code = code
        done = self._done or {}
        status = str(done.get("status") or "")
        if status == "completed" and code == 0:
            self.status, self.result, self.message = "completed", dict(done), ""
        elif self.cancel_requested and (status == "stopped" or code in (-signal.SIGTERM, -signal.SIGKILL)
                                        or code != 0 and not status):
            self.status = "stopped"
            self.message = "Cancelled." + (" (the engine did not stop in time and was killed)"
                                           if code == -signal.SIGKILL else "")
        else:
            self.status = "failed"
            self.message = self._error or (f"The engine {exit_text(code)} without saying why. Last lines of its "
                                           f"error output:\n\n{last_stderr or '(nothing on stderr)'}")
        self.finished.emit(self.status)


def _int(v) -> int:
    try:
        return max(0, int(v))
    except (TypeError, ValueError):
        return 0
