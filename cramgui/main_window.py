"""The console window: setup form on the left, live views in tabs, runs list below, status line.

No business logic: the form says what to run, the session (cramgui.session: worker, follower, RunState) runs or
follows it and tells the window by signals, the views observe the session's RunState. Message boxes are opened
non-blocking (`open()`), since most of them are raised from inside asyncio callbacks (the worker's reader tasks).
"""
from __future__ import annotations

import shlex
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (QDockWidget, QFileDialog, QHBoxLayout, QLabel, QMainWindow, QMessageBox, QPlainTextEdit,
                               QPushButton, QScrollArea, QTabWidget, QVBoxLayout, QWidget)

from engine.contract import rundir
from engine.contract.config import ConfigError, RunConfig

from .actions import Actions
from .compare_view import CompareView
from .config_form import ConfigForm
from .data_dialogs import BuildDialog, FetchDialog
from .data_panel import DataPanel, DataSummary, StatsLoader, clamp_length
from .job_script import JobScriptDialog
from .plots import TrainingPlots
from .results import ResultsView
from .runs import RunsPanel
from .samples import SamplesView
from .session import CRITICAL, INFORMATION, WARNING, RunSession
from .status_bar import StatusPanel
from .tabs import TAB_DEFAULT_EXPORT, TABS, run_export, tab_label

LOG_MAX_LINES = 20000
ICONS = {CRITICAL: QMessageBox.Critical, WARNING: QMessageBox.Warning, INFORMATION: QMessageBox.Information}


class MainWindow(QMainWindow):
    def __init__(self, runs_dir=None, engine_command: list[str] | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("cramgui")
        screen = self.screen().availableGeometry() if self.screen() else None
        self.resize(min(1280, screen.width()) if screen else 1280, min(800, screen.height()) if screen else 800)
        self.session = RunSession(engine_command, self)
        self.state = self.session.state              # what the views observe
        self._close_after_stop = False
        self.message_boxes: list[QMessageBox] = []
        self.engine_command = engine_command
        self.dialogs: dict[str, QWidget] = {}      # the open fetch / build / job dialogs, by kind

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
            self.tabs.addTab(w, tab_label(name))
        self.tabs.setCornerWidget(self.actions.export_button(self), Qt.TopRightCorner)
        self.setCentralWidget(self.tabs)
        self._build_docks()
        self._build_data_tools()
        self.status_panel = StatusPanel()
        self.statusBar().addPermanentWidget(self.status_panel, 1)

        # wiring
        self.form.valid_changed.connect(lambda _ok: self._update_actions())
        s = self.session
        s.log.connect(lambda lines: self.log_view.appendPlainText("\n".join(lines)))
        s.message.connect(lambda level, title, text, info, kind:
                          self.show_message(ICONS.get(level, QMessageBox.Information), title, text, info, kind))
        s.changed.connect(self._update_actions)
        s.changed.connect(self._update_status)
        s.launched.connect(lambda path: self.setWindowTitle(f"cramgui — {Path(path).name}"))
        s.opened.connect(self._on_opened)
        s.finished.connect(self._on_finished)
        s.runs_changed.connect(self.runs.refresh)
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

    # -- running (the session does it; the window says what and shows the outcome) -------------------------------
    def start_run(self) -> bool:
        if self.session.is_running() or not self.form.is_valid():
            return False
        cfg = self.form.config()
        run_dir = rundir.new_run_dir(self.runs.runs_dir, cfg.name or self.form.preset() or "run").resolve()
        banner = f"$ {self.form.command_line()} --run-dir {run_dir}"
        launch = self.form.launch_argv(str(run_dir), jsonl=True)
        if launch:
            banner += f"\n  (on {cfg.hardware.gpus} ranks: {shlex.join(launch)})"
        self.session.start(self.form.train_args().on(str(run_dir), jsonl=True), banner)
        self.select_tab("training")
        return True

    def resume_run(self) -> bool:
        return self.session.resume()

    def stop_run(self) -> None:
        self.session.stop()

    def kill_run(self) -> None:
        self.session.kill()

    def _on_finished(self, _code: int) -> None:
        if self._close_after_stop:
            QTimer.singleShot(0, self.close)

    # -- opening runs -----------------------------------------------------------------------------------------
    def open_run_dialog(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Open run directory", str(self.runs.runs_dir))
        if d:
            self.open_run(d)

    def open_run(self, path) -> bool:
        """Replay a run directory (finished, stopped or still being written) and follow it while it grows."""
        return self.session.open(path)

    def _on_opened(self, path: str, status: str) -> None:
        self._show_run_config()
        self.setWindowTitle(f"cramgui — {Path(path).name}")
        self.statusBar().showMessage(f"Opened {path} ({status}); following it while it grows", 8000)
        if self.state.results:
            self.select_tab("results")

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
        running = self.session.is_running()
        a = self.actions
        a.start.setEnabled(not running and self.form.is_valid())
        a.stop.setEnabled(running and not self.session.stopping)
        a.kill.setEnabled(running)
        a.resume.setEnabled(not running and self.session.resumable())
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
        note, warning = self.session.status_note(self.runs.stale_seconds())
        self.status_panel.update_status(self.state.status, note)
        self.status_panel.set_warning(warning)
        run_dir = self.session.run_dir
        self.status_panel.set_run(run_dir.name if run_dir else "")

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
        if self.session.is_running():
            event.ignore()
            if self._close_after_stop:             # asked twice: do not wait for the checkpoint
                self.session.kill()
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
        self.session.close()
        self._status_timer.stop()
        super().closeEvent(event)

    def _confirm_close(self, yes: bool) -> None:
        self.close_box = None
        if yes and self.session.is_running():
            self._close_after_stop = True
            self.stop_run()
        elif yes:
            QTimer.singleShot(0, self.close)

    def quit_now(self) -> None:
        """SIGTERM/SIGINT to the console: no question; stop the run gracefully, then close."""
        if self.session.is_running() and not self._close_after_stop:
            self._close_after_stop = True
            self.stop_run()
        else:
            self.close()

    def shutdown_now(self) -> None:
        """Last resort at interpreter exit: never leave an engine behind."""
        self.session.kill()
        for d in list(self.dialogs.values()):
            if hasattr(d, "is_running") and d.is_running():
                d.task.worker.kill()
