"""The run the console shows, and its lifecycle: start / resume / stop / kill a run here (EngineWorker), or open
one (replay) and follow it while another process writes it (RunFollower). The session owns the worker, the
follower and the RunState the views observe; it knows nothing of the window and tells it everything by signals.

Statuses are the contract's: engine.contract.rundir.run_status of the events seen (RunState.folded_status, by
fold_status) and whether the writer lives (the worker here, or writer_alive / writer_host for a run written by
another process).
"""
from __future__ import annotations

import signal
import time
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from engine.contract import rundir
from engine.contract.launch import TrainArgs

from .formatting import age, exit_text
from .run_state import RunState
from .tailer import RunFollower
from .worker import EngineWorker

STOP_GRACE_S = 20.0
WRITER_CHECK_S = 2.0        # a followed run's worker.pid / env.json are read at most this often

# message levels (the window maps them to message-box icons)
CRITICAL, WARNING, INFORMATION = "critical", "warning", "information"


class RunSession(QObject):
    """Signals:
      changed()                  running / stopping / status of the shown run changed: refresh actions, status line
      log(list)                  lines for the log pane (banners, the engine's stderr and non-event stdout, logs)
      message(str, str, str, str, str)   level, title, text, informative text, kind: a message for the user
      launched(str)              a worker started on this run directory (start or resume)
      opened(str, str)           a run directory was replayed and is followed: path, status
      finished(int)              the worker exited with this code (after the session took it in)
      runs_changed()             a run directory changed in a way a runs list shows
    """

    changed = Signal()
    log = Signal(list)
    message = Signal(str, str, str, str, str)
    launched = Signal(str)
    opened = Signal(str, str)
    finished = Signal(int)
    runs_changed = Signal()

    def __init__(self, engine_command: list[str] | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.state = RunState(self)
        self.worker = EngineWorker(engine_command, self)
        self.follower: RunFollower | None = None
        self.run_dir: Path | None = None
        self.stop_grace_s = STOP_GRACE_S
        self.run_status: str | None = None        # run_status of run_dir when not running here
        self.process_note: str | None = None      # "exited 3", "stopping…": overrides the status state
        self._had_error_event = False
        self._writer_check = (0.0, None)          # (when, (alive here, host elsewhere)) for a followed run

        self.worker.events.connect(self.state.ingest_many)
        self.worker.stderr_lines.connect(self.log.emit)
        self.worker.log_line.connect(lambda line: self.log.emit([f"[stdout] {line}"]))
        self.worker.finished.connect(self._on_worker_finished)
        self.state.log_line.connect(lambda line: self.log.emit([line]))
        self.state.error.connect(self._on_error_event)
        self.state.finished.connect(lambda _ev: self.runs_changed.emit())
        self.state.started.connect(lambda _ev: self.runs_changed.emit())

    # -- what the window asks -----------------------------------------------------------------------------------
    def is_running(self) -> bool:
        return self.worker.is_running()

    @property
    def stopping(self) -> bool:
        return self.worker.stopping

    def resumable(self) -> bool:
        return self.run_dir is not None and self.run_status in ("stopped", "interrupted", "failed")

    def status(self) -> str:
        """engine.contract.rundir.run_status of the shown run, from what RunState already read (no second pass
        over a long events.jsonl)."""
        alive = self.worker.is_running() or (self.run_dir is not None and rundir.writer_alive(self.run_dir))
        return rundir.run_status(self.state.folded_status, alive)

    def status_note(self, stale_s: float) -> tuple[str | None, bool]:
        """(what the status line says instead of the run's own state, warning): the process note ('stopping…',
        'exited with status 3'), or for a followed run 'following — last event 3 s ago', a stale warning past
        `stale_s`, 'interrupted' when its writer was on this machine and is gone."""
        if self.process_note:
            return self.process_note, False
        if self.follower is None or self.worker.is_running():
            return None, False
        return self._following_note(stale_s)

    # -- running --------------------------------------------------------------------------------------------------
    def start(self, args: TrainArgs, banner: str) -> bool:
        """Run `cram <args>` on args.run_dir (a new run directory, see engine.contract.rundir.new_run_dir)."""
        if self.worker.is_running() or not args.run_dir:
            return False
        run_dir = Path(args.run_dir)
        self._stop_follower()
        self.state.clear()
        self.state.run_dir = str(run_dir)
        self._launch(args, run_dir, banner)
        return True

    def resume(self) -> bool:
        """Continue the shown run from its last checkpoint, in the same run directory."""
        if self.worker.is_running() or not self.resumable():
            return False
        run_dir = self.run_dir
        self._stop_follower()
        if self.state.run_dir != str(run_dir):          # continue what is shown; load it when it is not
            self.state.load_run_dir(run_dir)
        self._launch(TrainArgs(resume=str(run_dir), jsonl=True), run_dir, f"$ cram train --resume {run_dir}")
        return True

    def _launch(self, args: TrainArgs, run_dir: Path, banner: str) -> None:
        self.run_dir = Path(run_dir)
        self.run_status = "running"
        self.process_note = None
        self._had_error_event = False
        self.log.emit([banner])
        self.worker.start(args.argv(), run_dir)
        self.launched.emit(str(self.run_dir))
        self.runs_changed.emit()
        self.changed.emit()

    def stop(self) -> None:
        """Graceful: SIGTERM (the engine checkpoints, then exits); SIGKILL after stop_grace_s."""
        if self.worker.is_running():
            self.process_note = "stopping…"
            self.log.emit([f"Stopping (checkpoint, then exit; forced after {self.stop_grace_s:g} s)"])
            self.worker.stop(self.stop_grace_s)
            self.changed.emit()

    def kill(self) -> None:
        if self.worker.is_running():
            self.worker.kill()

    def _on_worker_finished(self, code: int, last_stderr: str) -> None:
        stopping = self.worker.stopping
        self.process_note = None if self.state.done is not None and code == 0 else exit_text(code)
        self.log.emit([f"Engine exited: {exit_text(code)}"])
        self.run_status = self.status()
        crashed = code != 0 and not (stopping and code in (-signal.SIGTERM, -signal.SIGKILL))
        if crashed and not (self._had_error_event and code == 1):
            self.message.emit(CRITICAL, "The engine stopped unexpectedly", f"The engine process {exit_text(code)}.",
                              "Last lines of its error output:\n\n" + (last_stderr or "(nothing on stderr)"), "")
        elif stopping and code == -signal.SIGKILL:
            self.message.emit(WARNING, "Run killed",
                              f"The engine did not stop within {self.stop_grace_s:g} s and was killed.",
                              "The last checkpoint may be older than the last step shown.", "")
        self.runs_changed.emit()
        self.changed.emit()
        self.finished.emit(code)

    def _on_error_event(self, ev: dict) -> None:
        self._had_error_event = True
        hint = ev.get("hint") or ""
        self.message.emit(WARNING, "Engine error", str(ev.get("message") or "error"),
                          f"Hint: {hint}" if hint else "", str(ev.get("kind") or ""))

    # -- opening runs -----------------------------------------------------------------------------------------
    def open(self, path) -> bool:
        """Replay a run directory (finished, stopped or still being written) and follow it while it grows."""
        p = Path(path)
        if self.worker.is_running():
            self.message.emit(INFORMATION, "A run is in progress", "Stop the current run before opening another one.",
                              "", "")
            return False
        if not rundir.is_run_dir(p):
            self.message.emit(WARNING, "Not a run directory", f"{p} has neither events.jsonl nor config.json.",
                              "", "")
            return False
        self._stop_follower()
        self.state.load_run_dir(p)
        self.run_dir = p
        self.run_status = self.status()
        self.process_note = None
        self._writer_check = (0.0, None)
        self.follower = RunFollower(p, offset=self.state.replay_offset, parent=self)
        self.follower.events.connect(self.state.ingest_many)
        self.follower.reset.connect(self._on_rewritten)
        self.follower.start()
        self.log.emit([f"Opened {p} ({self.run_status})"])
        self.opened.emit(str(p), self.run_status)
        self.changed.emit()
        return True

    def _on_rewritten(self) -> None:
        """The followed events.jsonl was written over: replay it anew, follow on from where the replay ended."""
        if self.follower is not None and self.run_dir is not None:
            self.state.load_run_dir(self.run_dir)
            self.follower.offset = self.state.replay_offset

    def _stop_follower(self) -> None:
        if self.follower is not None:
            self.follower.stop()
            self.follower.deleteLater()
            self.follower = None

    def _following_note(self, stale_s: float) -> tuple[str | None, bool]:
        if self.state.done is not None or self.run_dir is None:
            return None, False
        now = time.monotonic()
        when, info = self._writer_check
        if info is None or now - when > WRITER_CHECK_S:
            info = (rundir.writer_alive(self.run_dir), rundir.writer_host(self.run_dir))
            self._writer_check = (now, info)
        alive_here, host_elsewhere = info
        if not alive_here and not host_elsewhere:
            return "interrupted", False
        t = self.state.last_event_time
        if t is None:
            return "following — no event yet", False
        quiet = max(0.0, time.time() - t)
        where = f" on {host_elsewhere}" if host_elsewhere and not alive_here else ""
        if quiet > stale_s:
            return f"stale — no event for {age(quiet)} (following{where})", True
        return f"following{where} — last event {age(quiet)} ago", False

    def recheck_writer(self) -> None:
        """Read the followed run's worker.pid / env.json again at the next status update."""
        self._writer_check = (0.0, None)

    def close(self) -> None:
        """The window closes: stop following (a run started here is the window's to stop first)."""
        self._stop_follower()
