"""The console window: setup form on the left, live views in tabs, runs list below, status line.

No business logic: the form says what to run, the worker runs it, RunState holds what it streamed, the views
observe RunState. Message boxes are opened non-blocking (`open()`), since most of them are raised from inside
asyncio callbacks (the worker's reader tasks).
"""
from __future__ import annotations

import shlex
import signal
import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (QDockWidget, QFileDialog, QHBoxLayout, QLabel, QMainWindow, QMessageBox, QPlainTextEdit,
                               QPushButton, QScrollArea, QTabWidget, QVBoxLayout, QWidget)

from engine.contract import rundir
from engine.contract.config import ConfigError, RunConfig

from .actions import TAB_DEFAULT_EXPORT, TABS, Actions, run_export
from .compare_view import CompareView
from .config_form import ConfigForm
from .data_dialogs import BuildDialog, FetchDialog
from .data_panel import DataPanel, DataSummary, StatsLoader, clamp_length
from .job_script import JobScriptDialog
from .plots import TrainingPlots
from .results import ResultsView
from .run_state import RunState
from .runs import RunFollower, RunsPanel, fmt_age, writer_host
from .samples import SamplesView
from .status_bar import StatusPanel, exit_text
from .worker import EngineWorker

STOP_GRACE_S = 20.0
LOG_MAX_LINES = 20000


class MainWindow(QMainWindow):
    def __init__(self, runs_dir=None, engine_command: list[str] | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("cramgui")
        screen = self.screen().availableGeometry() if self.screen() else None
        self.resize(min(1280, screen.width()) if screen else 1280, min(800, screen.height()) if screen else 800)
        self.state = RunState(self)
        self.worker = EngineWorker(engine_command, self)
        self.follower: RunFollower | None = None
        self.run_dir: Path | None = None
        self.stop_grace_s = STOP_GRACE_S
        self._run_status: str | None = None        # summarize() status of run_dir when not running
        self._process_note: str | None = None      # "exited 3", "stopping…": overrides the status state
        self._close_after_stop = False
        self._had_error_event = False
        self.message_boxes: list[QMessageBox] = []
        self.engine_command = engine_command
        self.dialogs: dict[str, QWidget] = {}      # the open fetch / build / job dialogs, by kind
        self._writer_check = (0.0, None)             # (when, (alive here, host elsewhere)) for a followed run

        # views
        self.form = ConfigForm()
        self.plots = TrainingPlots(self.state)
        self.results = ResultsView(self.state)
        self.samples = SamplesView(self.state)
        self.compare = CompareView()
        self.log_view = QPlainTextEdit(readOnly=True)
        self.log_view.setMaximumBlockCount(LOG_MAX_LINES)
        self.log_view.setFont(QFontDatabase.systemFont(QFontDatabase.FixedFont))
        self.log_view.setLineWrapMode(QPlainTextEdit.NoWrap)
        self.runs = RunsPanel(runs_dir)
        self.data_stats = StatsLoader(self)
        self.data_panel = DataPanel(self.data_stats)
        self.actions = Actions(self)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        for name, w in zip(TABS, (self.plots, self.results, self.samples, self.compare, self.data_panel,
                                  self.log_view)):
            self.tabs.addTab(w, name.capitalize())
        self.tabs.setCornerWidget(self.actions.export_button(self), Qt.TopRightCorner)
        self.setCentralWidget(self.tabs)
        self._build_docks()
        self._build_data_tools()
        self.status_panel = StatusPanel()
        self.statusBar().addPermanentWidget(self.status_panel, 1)

        # wiring
        self.form.valid_changed.connect(lambda _ok: self._update_actions())
        self.worker.events.connect(self.state.ingest_many)
        self.worker.stderr_lines.connect(lambda lines: self.log_view.appendPlainText("\n".join(lines)))
        self.worker.log_line.connect(lambda line: self.log_view.appendPlainText(f"[stdout] {line}"))
        self.worker.finished.connect(self._on_worker_finished)
        self.state.log_line.connect(self.log_view.appendPlainText)
        self.state.error.connect(self._on_error_event)
        self.state.finished.connect(lambda _ev: self.runs.refresh())
        self.state.started.connect(lambda _ev: self.runs.refresh())
        self.state.started.connect(lambda _ev: self._request_data_stats())   # the built-in corpus may exist now
        self._data_timer = QTimer(self)
        self._data_timer.setSingleShot(True)
        self._data_timer.setInterval(300)
        self._data_timer.timeout.connect(self._request_data_stats)
        self.form.changed.connect(self._data_timer.start)
        self.data_panel.apply_requested.connect(self.apply_lengths)
        self.runs.open_requested.connect(self.open_run)
        self.runs.compare_requested.connect(self.compare_runs)
        self._status_timer = QTimer(self)
        self._status_timer.setInterval(250)           # the status line is throttled to 4 Hz
        self._status_timer.timeout.connect(self._update_status)
        self._status_timer.start()
        self._update_actions()
        self._update_status()
        self._request_data_stats()

    def _build_data_tools(self) -> None:
        """Get / build buttons and the data summary line, in the form's data section under the folder field."""
        fl = self.form.section_layouts["data"]
        row, _role = fl.getWidgetPosition(self.form.rows["data.path"])
        self.fetch_button = QPushButton("Get CodeXGLUE…")
        self.fetch_button.setToolTip(self.actions.fetch_data.toolTip())
        self.fetch_button.clicked.connect(self.open_fetch_dialog)
        self.build_button = QPushButton("Build from source folder…")
        self.build_button.setToolTip(self.actions.build_data.toolTip())
        self.build_button.clicked.connect(self.open_build_dialog)
        tools = QWidget()
        tl = QHBoxLayout(tools)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addStretch(1)                             # right-aligned under the folder field, spanning the row
        tl.addWidget(self.fetch_button)
        tl.addWidget(self.build_button)
        fl.insertRow(row + 1, tools)
        self.data_summary = DataSummary(self.data_stats)
        self.data_summary.apply_requested.connect(self.apply_lengths)
        self.data_summary.details_requested.connect(lambda: self.select_tab("data"))
        fl.addRow(self.data_summary)

    def _build_docks(self) -> None:
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setWidget(self.form)
        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.stop_button = QPushButton("Stop")
        self.resume_button = QPushButton("Resume")
        for b, a in ((self.start_button, self.actions.start), (self.stop_button, self.actions.stop),
                     (self.resume_button, self.actions.resume)):
            b.clicked.connect(a.trigger)
            b.setToolTip(f"{a.toolTip()} ({a.shortcut().toString()})")
        self.job_button = QPushButton("Job script…")
        self.job_button.setToolTip(self.actions.job_script.toolTip())
        self.job_button.clicked.connect(self.open_job_script_dialog)
        self.problems_label = QLabel()
        self.problems_label.setObjectName("formProblems")
        self.problems_label.setWordWrap(True)
        self.problems_label.setStyleSheet("color: #c62828;")
        self.problems_label.hide()
        buttons = QHBoxLayout()
        for b in (self.start_button, self.stop_button, self.resume_button, self.job_button):
            buttons.addWidget(b)
        setup = QWidget()
        lay = QVBoxLayout(setup)
        lay.setContentsMargins(0, 0, 0, 4)
        lay.addWidget(scroll, 1)
        lay.addWidget(self.problems_label)
        lay.addLayout(buttons)
        self.setup_dock = QDockWidget("Setup", self)
        self.setup_dock.setObjectName("setupDock")
        self.setup_dock.setWidget(setup)
        self.setup_dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable)
        self.addDockWidget(Qt.LeftDockWidgetArea, self.setup_dock)
        self.runs_dock = QDockWidget("Runs", self)
        self.runs_dock.setObjectName("runsDock")
        self.runs_dock.setWidget(self.runs)
        self.addDockWidget(Qt.BottomDockWidgetArea, self.runs_dock)
        self.setCorner(Qt.BottomLeftCorner, Qt.LeftDockWidgetArea)
        self.resizeDocks([self.setup_dock], [430], Qt.Horizontal)
        self.resizeDocks([self.runs_dock], [170], Qt.Vertical)
        self.actions.view_menu.addAction(self.setup_dock.toggleViewAction())
        self.actions.view_menu.addAction(self.runs_dock.toggleViewAction())

    # -- running ----------------------------------------------------------------------------------------------
    def start_run(self) -> bool:
        if self.worker.is_running() or not self.form.is_valid():
            return False
        cfg = self.form.config()
        runs_dir = self.runs.runs_dir
        runs_dir.mkdir(parents=True, exist_ok=True)
        run_dir = rundir.new_run_dir(runs_dir, cfg.name or self.form.preset() or "run").resolve()
        args = ["train", *self.form.cli_args(), "--jsonl", "--run-dir", str(run_dir)]
        self._stop_follower()
        self.state.clear()
        self.state.run_dir = str(run_dir)
        banner = f"$ {self.form.command_line()} --run-dir {run_dir}"
        launch = self.form.launch_argv(str(run_dir), jsonl=True)
        if launch:
            banner += f"\n  (on {cfg.hardware.gpus} ranks: {shlex.join(launch)})"
        self._launch(args, run_dir, banner)
        self.select_tab("training")
        return True

    def resume_run(self) -> bool:
        if self.worker.is_running() or self.run_dir is None or not self._resumable():
            return False
        run_dir = self.run_dir
        self._stop_follower()
        if self.state.run_dir != str(run_dir):          # continue what is shown; load it when it is not
            self.state.load_run_dir(run_dir)
        self._launch(["train", "--resume", str(run_dir), "--jsonl"], run_dir, f"$ cram train --resume {run_dir}")
        return True

    def _launch(self, args: list[str], run_dir: Path, banner: str) -> None:
        self.run_dir = Path(run_dir)
        self._run_status = "running"
        self._process_note = None
        self._had_error_event = False
        self.log_view.appendPlainText(banner)
        self.worker.start(args, run_dir)
        self.setWindowTitle(f"cramgui — {self.run_dir.name}")
        self.runs.refresh()
        self._update_actions()

    def stop_run(self) -> None:
        if self.worker.is_running():
            self._process_note = "stopping…"
            self.log_view.appendPlainText(f"Stopping (checkpoint, then exit; forced after {self.stop_grace_s:g} s)")
            self.worker.stop(self.stop_grace_s)
            self._update_actions()

    def kill_run(self) -> None:
        if self.worker.is_running():
            self.worker.kill()

    def _on_worker_finished(self, code: int, last_stderr: str) -> None:
        stopping = self.worker.stopping
        done = self.state.done
        if done is not None and code == 0:
            self._process_note = None
        else:
            self._process_note = exit_text(code)
        self.log_view.appendPlainText(f"Engine exited: {exit_text(code)}")
        self._run_status = self._status_of_shown_run()
        crashed = code != 0 and not (stopping and code in (-signal.SIGTERM, -signal.SIGKILL))
        if crashed and not (self._had_error_event and code == 1):
            self.show_message(QMessageBox.Critical, "The engine stopped unexpectedly",
                              f"The engine process {exit_text(code)}.",
                              "Last lines of its error output:\n\n" + (last_stderr or "(nothing on stderr)"))
        elif stopping and code == -signal.SIGKILL:
            self.show_message(QMessageBox.Warning, "Run killed",
                              f"The engine did not stop within {self.stop_grace_s:g} s and was killed.",
                              "The last checkpoint may be older than the last step shown.")
        self.runs.refresh()
        self._update_actions()
        self._update_status()
        if self._close_after_stop:
            QTimer.singleShot(0, self.close)

    def _on_error_event(self, ev: dict) -> None:
        self._had_error_event = True
        hint = ev.get("hint") or ""
        self.show_message(QMessageBox.Warning, "Engine error", str(ev.get("message") or "error"),
                          f"Hint: {hint}" if hint else "", kind=str(ev.get("kind") or ""))

    def _status_of_shown_run(self) -> str:
        """Like engine.contract.rundir.summarize's status, from what RunState already read (no second pass over a long
        events.jsonl): completed / stopped / failed from the events; else running while its writer lives."""
        state = self.state.status.get("state") or "idle"
        if state in ("completed", "stopped", "failed"):
            return state
        if self.worker.is_running():
            return "running"
        pid_file = self.run_dir / "worker.pid" if self.run_dir else None
        try:
            alive = pid_file is not None and rundir.pid_alive(int(pid_file.read_text().strip()))
        except (OSError, ValueError):
            alive = False
        return "running" if alive else "interrupted"

    def _resumable(self) -> bool:
        return self.run_dir is not None and self._run_status in ("stopped", "interrupted", "failed")

    # -- opening runs -----------------------------------------------------------------------------------------
    def open_run_dialog(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Open run directory", str(self.runs.runs_dir))
        if d:
            self.open_run(d)

    def open_run(self, path) -> bool:
        """Replay a run directory (finished, stopped or still being written) and follow it while it grows."""
        p = Path(path)
        if self.worker.is_running():
            self.show_message(QMessageBox.Information, "A run is in progress",
                              "Stop the current run before opening another one.")
            return False
        if not rundir.is_run_dir(p):
            self.show_message(QMessageBox.Warning, "Not a run directory",
                              f"{p} has neither events.jsonl nor config.json.")
            return False
        self._stop_follower()
        self.state.load_run_dir(p)
        self.run_dir = p
        self._run_status = self._status_of_shown_run()
        self._process_note = None
        self._writer_check = (0.0, None)
        self.follower = RunFollower(p, offset=self.state.replay_offset, parent=self)
        self.follower.events.connect(self.state.ingest_many)
        self.follower.reset.connect(lambda: self.state.load_run_dir(p))
        self.follower.start()
        self._show_run_config()
        self.log_view.appendPlainText(f"Opened {p} ({self._run_status})")
        self.setWindowTitle(f"cramgui — {p.name}")
        self.statusBar().showMessage(f"Opened {p} ({self._run_status}); following it while it grows", 8000)
        if self.state.results:
            self.select_tab("results")
        self._update_actions()
        return True

    def compare_runs(self, paths: list[str]) -> None:
        self.compare.set_runs(paths)
        self.select_tab("compare")

    def _show_run_config(self) -> None:
        """The opened run's configuration in the form (to read it, or to start a variant of it)."""
        if isinstance(self.state.config, dict):
            try:
                self.form.set_custom_config(RunConfig.from_dict(self.state.config))
            except (ConfigError, TypeError, AttributeError):
                pass                          # a config from another engine version: leave the form alone

    def _stop_follower(self) -> None:
        if self.follower is not None:
            self.follower.stop()
            self.follower.deleteLater()
            self.follower = None

    # -- UI helpers -------------------------------------------------------------------------------------------
    def select_tab(self, name: str) -> None:
        self.tabs.setCurrentIndex(TABS.index(name.lower()))

    def current_tab(self) -> str:
        return TABS[self.tabs.currentIndex()]

    def export_current(self) -> str | None:
        return run_export(self, TAB_DEFAULT_EXPORT[self.current_tab()])

    def show_message(self, icon, title: str, text: str, info: str = "", kind: str = "") -> QMessageBox:
        """A non-blocking message box (never exec(): this is called from asyncio callbacks)."""
        box = QMessageBox(icon, title, text, QMessageBox.Ok, self)
        box.setObjectName(f"message_{kind}" if kind else "message")
        if info:
            box.setInformativeText(info)
        box.setTextInteractionFlags(Qt.TextSelectableByMouse)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.finished.connect(lambda _r, b=box: self.message_boxes.remove(b) if b in self.message_boxes else None)
        self.message_boxes.append(box)
        box.open()
        return box

    def _update_actions(self) -> None:
        running = self.worker.is_running()
        a = self.actions
        a.start.setEnabled(not running and self.form.is_valid())
        a.stop.setEnabled(running and not self.worker.stopping)
        a.kill.setEnabled(running)
        a.resume.setEnabled(not running and self._resumable())
        a.open_run.setEnabled(not running)
        for w in (getattr(self, "fetch_button", None), getattr(self, "build_button", None)):
            if w is not None:
                w.setEnabled(not running)
        a.fetch_data.setEnabled(not running)
        a.build_data.setEnabled(not running)
        self.start_button.setEnabled(a.start.isEnabled())
        self.stop_button.setEnabled(a.stop.isEnabled())
        self.resume_button.setEnabled(a.resume.isEnabled())
        self.form.setEnabled(not running)
        errors = self.form.errors()
        self.problems_label.setVisible(bool(errors))
        if errors:
            n = len(errors)
            self.problems_label.setText(f"Fix {n} field{'s' if n > 1 else ''} to start: "
                                        + ", ".join(e.field for e in errors))
            self.start_button.setToolTip(f"Fix the form first: {errors[0].field}: {errors[0].message}")
        else:
            self.start_button.setToolTip(f"{a.start.toolTip()} ({a.start.shortcut().toString()})")

    def _update_status(self) -> None:
        note = self._process_note if self._process_note else None
        warning = False
        if self.follower is not None and not self.worker.is_running() and not note:
            note, warning = self._following_note()
        self.status_panel.update_status(self.state.status, note)
        self.status_panel.set_warning(warning)
        self.status_panel.set_run(self.run_dir.name if self.run_dir else "")

    def _following_note(self) -> tuple[str | None, bool]:
        """For a run opened here and not finished: 'following — last event 3 s ago', or a stale warning past the
        runs panel's threshold; 'interrupted' when its writer was on this machine and is gone."""
        if self.state.done is not None or self.run_dir is None:
            return None, False
        now = time.monotonic()
        when, info = self._writer_check
        if info is None or now - when > 2.0:           # two small files, read at most every 2 s
            info = (self._status_of_shown_run() == "running", writer_host(self.run_dir))
            self._writer_check = (now, info)
        alive_here, host_elsewhere = info
        if not alive_here and not host_elsewhere:
            return "interrupted", False
        t = self.state.last_event_time
        if t is None:
            return "following — no event yet", False
        age = max(0.0, time.time() - t)
        where = f" on {host_elsewhere}" if host_elsewhere and not alive_here else ""
        if age > self.runs.stale_seconds():
            return f"stale — no event for {fmt_age(age)} (following{where})", True
        return f"following{where} — last event {fmt_age(age)} ago", False

    # -- data -------------------------------------------------------------------------------------------------
    def _request_data_stats(self) -> None:
        self.data_stats.request(self.form.config())

    def apply_lengths(self, source_len: int, target_len: int) -> None:
        """Set data.max_source_len / max_target_len in the form (the data panel's suggestion)."""
        self.form.set_values({"data.max_source_len": clamp_length("data.max_source_len", source_len),
                              "data.max_target_len": clamp_length("data.max_target_len", target_len)})
        self.statusBar().showMessage(f"Max source / target length set to {source_len} / {target_len}", 5000)

    def use_corpus(self, path: str, languages: list) -> None:
        """A fetched or built corpus: data.source=codexglue, data.path=PATH, these languages ticked."""
        self.form.set_values({"data.source": "codexglue", "data.path": str(path), "data.languages": list(languages)})
        self._request_data_stats()
        self.statusBar().showMessage(f"Data: {path} ({', '.join(languages)})", 8000)

    def _corpus_dialog(self, kind: str, make):
        """The fetch / build dialog: made once (it keeps its state and any task it runs), then raised."""
        d = self.dialogs.get(kind)
        if d is None:
            d = make()
            d.use_corpus.connect(self.use_corpus)
            self.dialogs[kind] = d
        d.show()
        d.raise_()
        d.activateWindow()
        return d

    def open_fetch_dialog(self) -> FetchDialog:
        return self._corpus_dialog("fetch", lambda: FetchDialog(self.form.config().data.languages,
                                                                self.engine_command, self))

    def open_build_dialog(self) -> BuildDialog:
        langs = self.form.config().data.languages
        return self._corpus_dialog("build", lambda: BuildDialog(langs[0] if langs else "python",
                                                                self.engine_command, self))

    def open_job_script_dialog(self) -> JobScriptDialog:
        old = self.dialogs.pop("job", None)
        if old is not None:
            old.close()
            old.deleteLater()
        d = JobScriptDialog(self.form.config(), self.runs.runs_dir, self.form.errors(), self)
        self.dialogs["job"] = d
        d.show()
        return d

    # -- closing ----------------------------------------------------------------------------------------------
    def closeEvent(self, event) -> None:
        if self.worker.is_running():
            event.ignore()
            if self._close_after_stop:             # asked twice: do not wait for the checkpoint
                self.worker.kill()
                return
            box = QMessageBox(QMessageBox.Question, "A run is in progress",
                              "Stop the run and quit? The engine writes a checkpoint first; you can resume it "
                              "later.", QMessageBox.Yes | QMessageBox.Cancel, self)
            box.setObjectName("confirmClose")
            box.setDefaultButton(QMessageBox.Cancel)
            box.button(QMessageBox.Yes).setText("Stop and quit")
            box.finished.connect(lambda r: self._confirm_close(r == QMessageBox.Yes))
            box.setAttribute(Qt.WA_DeleteOnClose)
            self.close_box = box
            box.open()
            return
        for d in list(self.dialogs.values()):
            if hasattr(d, "is_running") and d.is_running():
                d.task.cancel()                      # never leave a fetch behind
        self._stop_follower()
        self._status_timer.stop()
        super().closeEvent(event)

    def _confirm_close(self, yes: bool) -> None:
        self.close_box = None
        if yes and self.worker.is_running():
            self._close_after_stop = True
            self.stop_run()
        elif yes:
            QTimer.singleShot(0, self.close)

    def quit_now(self) -> None:
        """SIGTERM/SIGINT to the console: no question; stop the run gracefully, then close."""
        if self.worker.is_running() and not self._close_after_stop:
            self._close_after_stop = True
            self.stop_run()
        else:
            self.close()

    def shutdown_now(self) -> None:
        """Last resort at interpreter exit: never leave an engine behind."""
        if self.worker.is_running():
            self.worker.kill()
        for d in list(self.dialogs.values()):
            if hasattr(d, "is_running") and d.is_running():
                d.task.worker.kill()
