"""The session's opened runs: replay a run directory into the shown RunState, follow it while another process
writes it (RunFollower), show the live run again, and say how a followed run is doing (following / stale /
interrupted). A mixin of cramgui.session.RunSession: it uses the session's signals, state, worker, follower,
run_dir / live_dir and the live counters."""
from __future__ import annotations

import time
from pathlib import Path

from engine.contract import rundir

from .formatting import age
from .session_messages import INFORMATION, WARNING, split_hint
from .tailer import RunFollower, replay

WRITER_CHECK_S = 2.0        # a followed run's worker.pid / env.json are read at most this often


class Following:
    """Opening (replay + follow) and showing runs; see cramgui.session.RunSession."""

    def _on_state_error(self, ev: dict) -> None:
        """An error event reached the shown state: during a replay it is counted (one message after it); in a
        followed run the first one is shown; the live run's errors are taken from the worker's stream."""
        if self._replaying:
            self._replay_errors.append(ev)
        elif not self.showing_live() and self.follower is not None and not self._follow_error_shown:
            self._follow_error_shown = True
            self._error_message(ev)

    # -- opening runs -----------------------------------------------------------------------------------------
    def _load(self, p: Path) -> None:
        """Replay P into the shown state; errors of the replay are collected, an unreadable file noted."""
        self._replaying = True
        self._replay_errors = []
        self.unreadable = None
        try:
            self.state.load_run_dir(p)
        except Exception as e:  # noqa: BLE001 - a malformed run file: say which run, keep what was read
            self.unreadable = str(e) or type(e).__name__
        finally:
            self._replaying = False
        self.run_dir = p

    def open(self, path) -> bool:
        """Show a run directory read-only: replay it (finished, stopped or still being written) and follow it
        while it grows. While a run trains here, that run keeps streaming into the session (show_live()
        switches back). Opening the live run is show_live()."""
        p = Path(path)
        if self.worker.is_running() and self.live_dir is not None and p == self.live_dir:
            return self.show_live()
        if not rundir.is_run_dir(p):
            self.message.emit(WARNING, "Not a run directory", f"{p} has neither events.jsonl nor config.json.",
                              "", "notrundir")
            return False
        self._stop_follower()
        self._load(p)
        self.run_status = self.status()
        self.process_note = None
        self._writer_check = (0.0, None)
        self._follow_error_shown = bool(self._replay_errors)
        self.follower = RunFollower(p, offset=self.state.replay_offset, parent=self)
        self.follower.events.connect(self.state.ingest_many)
        self.follower.reset.connect(self._on_rewritten)
        self.follower.start()
        self.log.emit([f"Opened {p} ({self.run_status})" + (f"; unreadable: {self.unreadable}" if self.unreadable
                                                            else "")])
        if self.unreadable:
            self.message.emit(WARNING, "Run partly unreadable", f"{p.name}: {self.unreadable}",
                              "What could be read is shown.", "unreadable")
        elif self._replay_errors:
            last = self._replay_errors[-1]
            text, info = split_hint(last.get("message"), last.get("hint"))
            n = len(self._replay_errors)
            self.message.emit(INFORMATION, f"This run ended with an error ({p.name})", text,
                              info + (f"\n\n({n} error events in its log; the last one is shown.)" if n > 1 else ""),
                              "replayed_error")
        self.opened.emit(str(p), self.run_status)
        self.changed.emit()
        return True

    def show_live(self) -> bool:
        """Show the run training here again: replay its events.jsonl, then the stream carries on from there."""
        if not self.worker.is_running() or self.live_dir is None:
            return False
        if self.showing_live():
            return True
        self._stop_follower()
        self._load(self.live_dir)
        events, _off = replay(self.live_dir)
        in_file = max(0, len(events) - self._live_base)
        self._skip = max(0, in_file - self._live_seen)
        self.run_status = "running"
        self.opened.emit(str(self.live_dir), "running")
        self.changed.emit()
        return True

    def _on_rewritten(self) -> None:
        """The followed events.jsonl was written over: replay it anew, follow on from where the replay ended."""
        if self.follower is not None and self.run_dir is not None:
            self._load(self.run_dir)
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
