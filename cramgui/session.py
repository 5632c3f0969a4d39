"""The run the console shows, and the run it trains: start / resume / evaluate / stop / kill a run here
(EngineWorker), or open one (replay) and follow it while another process writes it (RunFollower). The session owns
the worker, the follower and the RunState the views observe; it knows nothing of the window and tells it
everything by signals.

The shown run and the live run (the one the worker writes) can differ: another run can be opened read-only while
one trains. The worker's events then go on being counted and watched (errors, checkpoints, the end) without
reaching the views; `show_live()` replays the live run's events.jsonl (the engine writes every event there before
stdout) and the stream carries on from there without a duplicate.

Statuses are the contract's: engine.contract.rundir.run_status of the events seen (RunState.folded_status, by
fold_status) and whether the writer lives (the worker here, or writer_alive / writer_host for a run written by
another process).

Opening, replaying and following runs is cramgui.session_follow (a mixin of RunSession); the text of what the
session tells the user (errors, the last checkpoint, a finished run's summary) is composed in
cramgui.session_messages.
"""
from __future__ import annotations

import signal
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from engine.contract import rundir
from engine.contract.events import number
from engine.contract.launch import TrainArgs

from .formatting import exit_text
from .run_state import RunState
from .session_follow import Following
from .session_messages import CRITICAL, WARNING, checkpoint_sentence, error_title, finished_summary, split_hint
from .tailer import RunFollower, replay
from .worker import EngineWorker

STOP_GRACE_S = 20.0
RESUMABLE = ("stopped", "interrupted", "failed")


class RunSession(Following, QObject):
    """Signals:
      changed()                  running / stopping / status / the shown run changed: refresh actions, status line
      log(list)                  lines for the log pane (banners, the engine's stderr and non-event stdout, logs)
      message(str, str, str, str, str)   level, title, text, informative text, kind: a message for the user
      launched(str)              a worker started on this run directory (start, resume, evaluate)
      opened(str, str)           a run directory was replayed (and is followed): path, status
      finished(int)              the worker exited with this code (after the session took it in)
      run_finished(dict)         the live run ended: path, status, kind (train|eval), results {lang: bleu4},
                                 floors {lang: constant-prediction floor BLEU-4, when the engine sent one},
                                 best_dev_bleu, best_step, message
      runs_changed()             a run directory changed in a way a runs list shows
    """

    changed = Signal()
    log = Signal(list)
    message = Signal(str, str, str, str, str)
    launched = Signal(str)
    opened = Signal(str, str)
    finished = Signal(int)
    run_finished = Signal(dict)
    runs_changed = Signal()

    def __init__(self, engine_command: list[str] | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.state = RunState(self)
        self.worker = EngineWorker(engine_command, self)
        self.follower: RunFollower | None = None
        self.run_dir: Path | None = None          # the run shown
        self.live_dir: Path | None = None         # the run the worker writes (None when none runs)
        self.worker_dir: Path | None = None       # the run the worker last wrote (its exit note is shown there)
        self.live_kind = "train"                  # train | eval
        self.stop_grace_s = STOP_GRACE_S
        self.run_status: str | None = None        # run_status of run_dir when not running here
        self.process_note: str | None = None      # "exited 3", "stopping…": overrides the status state
        self.unreadable: str | None = None        # why the shown run could not be read completely
        self._writer_check = (0.0, None)          # (when, (alive here, host elsewhere)) for a followed run
        self._replaying = False
        self._replay_errors: list[dict] = []
        self._follow_error_shown = False
        self._user_kill = False
        self._then_evaluate: dict | None = None   # "Stop and evaluate": evaluate with these once stopped
        self._reset_live()

        self.worker.events.connect(self._on_live_events)
        self.worker.stderr_lines.connect(self.log.emit)
        self.worker.log_line.connect(lambda line: self.log.emit([f"[stdout] {line}"]))
        self.worker.finished.connect(self._on_worker_finished)
        self.state.log_line.connect(lambda line: self.log.emit([line]))
        self.state.error.connect(self._on_state_error)
        self.state.finished.connect(lambda _ev: self.runs_changed.emit())
        self.state.started.connect(lambda _ev: self.runs_changed.emit())

    def _reset_live(self) -> None:
        self.live_errors: list[dict] = []
        self.live_done: dict | None = None
        self.live_results: dict[str, float | None] = {}
        self.live_floors: dict[str, float] = {}      # the constant-prediction floor per language, when sent
        self.live_best: tuple[float, int | None] | None = None
        self.live_step: int | None = None
        self.live_progress: float | None = None
        self._live_seen = 0          # events the worker delivered since launch
        self._live_base = 0          # events in the live run's events.jsonl before launch
        self._skip = 0               # worker events already ingested from the file (after show_live)

    # -- what the window asks -----------------------------------------------------------------------------------
    def is_running(self) -> bool:
        return self.worker.is_running()

    @property
    def stopping(self) -> bool:
        return self.worker.stopping

    def showing_live(self) -> bool:
        """The views show the run the worker writes."""
        return self.worker.is_running() and self.live_dir is not None and self.run_dir == self.live_dir

    def live_steps_text(self) -> str:
        """'step 1,200, 34 %' of the live run (what the live-run bar says)."""
        if self.live_step is None:
            return "starting"
        text = f"step {self.live_step:,}"
        return text + (f", {self.live_progress:.0%}" if self.live_progress is not None else "")

    def resumable(self) -> bool:
        """The shown run can be continued: stopped / interrupted / failed after it started (a run that failed before
        its start has nothing to continue), nothing running. Without a checkpoint the engine starts at step 0."""
        return (not self.worker.is_running() and self.run_dir is not None and self.run_status in RESUMABLE
                and self.state.started_event is not None)

    def evaluable(self, path=None) -> bool:
        d = Path(path) if path else self.run_dir
        return (not self.worker.is_running() and d is not None
                and (rundir.checkpoint_dir(d, "best") is not None or rundir.checkpoint_dir(d, "last") is not None))

    def status(self) -> str:
        """engine.contract.rundir.run_status of the shown run, from what RunState already read (no second pass
        over a long events.jsonl)."""
        alive = self.showing_live() or (self.run_dir is not None and rundir.writer_alive(self.run_dir))
        return rundir.run_status(self.state.folded_status, alive)

    def status_note(self, stale_s: float) -> tuple[str | None, bool]:
        """(what the status line says instead of the run's own state, warning): the process note ('stopping…',
        'exited with status 3'), 'unreadable: …', or for a followed run 'following — last event 3 s ago', a stale
        warning past `stale_s`, 'interrupted' when its writer was on this machine and is gone."""
        if self.unreadable:
            return f"unreadable: {self.unreadable}", True
        if self.run_dir is not None and self.run_dir in (self.live_dir, self.worker_dir):
            return self.process_note, False
        if self.follower is None:
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
        self.unreadable = None
        self._launch(args.argv(), run_dir, banner, "train", base=0)
        return True

    def resume(self, path=None) -> bool:
        """Continue the shown run (or PATH) from its last checkpoint, in the same run directory."""
        if path is not None and Path(path) != self.run_dir and not self.open(path):
            return False
        if self.worker.is_running() or not self.resumable():
            return False
        return self._relaunch(self.run_dir, TrainArgs(resume=str(self.run_dir), jsonl=True).argv(),
                              f"$ cram train --resume {self.run_dir}", "train")

    def evaluate(self, path, split: str = "test", beam: int | None = None, checkpoint: str = "best") -> bool:
        """`cram eval RUN_DIR --split S [--beam B] --checkpoint C --jsonl`, shown live in RUN_DIR."""
        d = Path(path)
        if self.worker.is_running():
            return False
        if not self.evaluable(d):
            self.message.emit(WARNING, "Nothing to evaluate", f"{d} has no checkpoint.", "", "evaluate")
            return False
        argv = ["eval", str(d), "--split", split]
        if beam:
            argv += ["--beam", str(int(beam))]
        argv += ["--checkpoint", checkpoint, "--jsonl"]
        return self._relaunch(d, argv, "$ cram " + " ".join(argv), "eval")

    def stop_and_evaluate(self, split: str = "test", beam: int | None = None, checkpoint: str = "best") -> bool:
        """Stop the live training run gracefully, then evaluate it (once it wrote its stop checkpoint)."""
        if not self.worker.is_running() or self.live_kind != "train":
            return False
        self._then_evaluate = {"path": self.live_dir, "split": split, "beam": beam, "checkpoint": checkpoint}
        self.stop()
        return True

    def _relaunch(self, d: Path, argv: list[str], banner: str, kind: str) -> bool:
        self._stop_follower()
        if self.state.run_dir != str(d) or self.run_dir != d:     # continue what is shown; load it when it is not
            self._load(d)
        self.run_dir = d
        events, _off = replay(d)
        self._launch(argv, d, banner, kind, base=len(events))
        return True

    def _launch(self, argv: list[str], run_dir: Path, banner: str, kind: str, base: int) -> None:
        self.run_dir = self.live_dir = self.worker_dir = Path(run_dir)
        self.live_kind = kind
        self.run_status = "running"
        self.process_note = None
        self._user_kill = False
        self._reset_live()
        self._live_base = base
        self.log.emit([banner])
        self.worker.start(argv, run_dir)
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
            self._user_kill = True
            self._then_evaluate = None
            self.worker.kill()

    def _on_live_events(self, batch: list[dict]) -> None:
        self._live_seen += len(batch)
        for ev in batch:
            kind = ev.get("event")
            if kind == "step":
                step, progress = number(ev.get("step")), number(ev.get("progress"))
                self.live_step = int(step) if step is not None else self.live_step
                self.live_progress = progress if progress is not None else self.live_progress
            elif kind == "error":
                self.live_errors.append(ev)
                if len(self.live_errors) == 1:           # one message per launch (the first error says it)
                    self._error_message(ev)
            elif kind == "done":
                self.live_done = ev
            elif kind == "result" and isinstance(ev.get("language"), str):
                self.live_results[ev["language"]] = number(ev.get("bleu4"))
                if number(ev.get("floor_bleu4")) is not None:
                    self.live_floors[ev["language"]] = number(ev.get("floor_bleu4"))
            elif kind == "eval":
                b = number(ev.get("dev_bleu"))
                if b is not None and (self.live_best is None or b > self.live_best[0]):
                    step = number(ev.get("step"))
                    self.live_best = (b, None if step is None else int(step))
        if self.showing_live():
            if self._skip:
                n = min(self._skip, len(batch))
                self._skip -= n
                batch = batch[n:]
            if batch:
                self.state.ingest_many(batch)

    def _error_message(self, ev: dict) -> None:
        text, info = split_hint(ev.get("message"), ev.get("hint"))
        kind = str(ev.get("kind") or "")
        self.message.emit(WARNING, error_title(kind), text, info, kind or "error")

    def _on_worker_finished(self, code: int, last_stderr: str) -> None:
        stopping = self.worker.stopping
        live = self.live_dir
        ended_well = self.live_done is not None and code == 0
        self.process_note = None if ended_well else exit_text(code)
        self.log.emit([f"Engine exited: {exit_text(code)}"])
        killed = code == -signal.SIGKILL
        reported = bool(self.live_errors) or self.live_done is not None   # the engine said how it ended
        crashed = code != 0 and not reported and not (stopping and code in (-signal.SIGTERM, -signal.SIGKILL))
        if crashed:
            self.message.emit(CRITICAL, "The engine stopped unexpectedly", f"The engine process {exit_text(code)}.",
                              "Last lines of its error output:\n\n" + (last_stderr or "(nothing on stderr)"), "crash")
        elif killed and self.live_done is None:
            what = ("Killed with SIGKILL (Run ▸ Kill now)." if self._user_kill else
                    f"The engine did not stop within {self.stop_grace_s:g} s of the stop request and was killed "
                    f"with SIGKILL.")
            self.message.emit(WARNING, "Run killed", what,
                              checkpoint_sentence(live) if self.live_kind == "train" else
                              "The evaluation did not finish: its results are incomplete.", "killed")
        # the shown run's status (the live run, or the run opened meanwhile)
        self.live_dir = None
        if self.run_dir == live:
            self.run_status = self.status()
        summary = self._finished_summary(live, code)
        self.runs_changed.emit()
        self.changed.emit()
        self.finished.emit(code)
        if summary is not None:
            self.run_finished.emit(summary)
        then, self._then_evaluate = self._then_evaluate, None
        if then and live is not None and self.live_done is not None:
            self.evaluate(then["path"], then["split"], then["beam"], then["checkpoint"])

    def _finished_summary(self, live: Path | None, code: int) -> dict | None:
        if live is None or self.live_done is None:
            return None
        return finished_summary(live, self.live_kind, code, self.live_done, self.live_errors, self.live_results,
                                self.live_floors, self.live_best)

    def close(self) -> None:
        """The window closes: stop following (a run started here is the window's to stop first)."""
        self._stop_follower()
