"""The console window: setup form on the left, live views in tabs, runs list below, status line; above the tabs
the notice line (confirmations, with what to do next), the finished-run banner and the live-run bar.

No business logic: the form says what to run, the session (cramgui.session: worker, follower, RunState) runs or
follows it and tells the window by signals, the views observe the session's RunState. Viewing a run never changes
the form ("Use this run's settings" does); the form stays editable during a run. Message boxes are opened
non-blocking (`open()`), since most of them are raised from inside asyncio callbacks (the worker's reader tasks),
render every text as plain text (run text is untrusted), and one box per kind is open at a time.
"""
from __future__ import annotations

import shlex
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QMainWindow, QMessageBox, QSystemTrayIcon, QTabWidget, QVBoxLayout, QWidget

from engine.contract import rundir
from engine.contract.config import ConfigError, RunConfig

from .actions import Actions
from .banner import Banner
from .compare_view import CompareView
from .config_form import ConfigForm
from .data_panel import DataPanel, StatsLoader, clamp_length
from .log_view import LogView
from .plots import TrainingPlots
from .results import ResultsView
from .runs import RunsPanel
from .runs_scan import read_config
from .samples import SamplesView
from .session import RunSession
from .settings import settings
from .status_bar import StatusPanel, install_message_bar
from .sweep_view import SweepView
from .tabs import TAB_DEFAULT_EXPORT, TABS, run_export, tab_label
from .window_dialogs import WindowDialogs
from .window_layout import MIN_SIZE, WindowLayout, remembered_runs_dir
from .window_notices import WindowNotices

SMOKE_PRESET = "smoke"


class MainWindow(WindowLayout, WindowNotices, WindowDialogs, QMainWindow):
    """The window; its layout (docks, remembered layout) is cramgui.window_layout, what it tells the user (notice
    line, message boxes, banners, live-run bar, empty state) cramgui.window_notices, its dialogs
    cramgui.window_dialogs; the menus and toolbar are cramgui.actions (`self.actions.add(menu, text, slot, ...)`
    adds an entry, see _add_menu_items)."""

    def __init__(self, runs_dir=None, engine_command: list[str] | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("cramgui")
        self.setMinimumSize(*MIN_SIZE)
        screen = self.screen().availableGeometry() if self.screen() else None
        self.resize(min(1280, screen.width()) if screen else 1280, min(800, screen.height()) if screen else 800)
        self.session = RunSession(engine_command, self)
        self.state = self.session.state              # what the views observe
        self._close_after_stop = False
        self.message_boxes: list[QMessageBox] = []
        self.engine_command = engine_command
        self.dialogs: dict[str, QWidget] = {}      # the open fetch / build / job / evaluate dialogs, by kind
        self.tray: QSystemTrayIcon | None = None
        self.notifications: list[tuple[str, str]] = []   # (title, text) of the desktop notifications sent

        # views
        self.form = ConfigForm()
        self.plots = TrainingPlots(self.state)
        self.results = ResultsView(self.state)
        self.samples = SamplesView(self.state)
        self.compare = CompareView()
        self.sweep_view = SweepView()
        self.log_view = LogView()
        self.runs = RunsPanel(runs_dir or remembered_runs_dir())
        self.runs.busy_paths = lambda: {str(self.session.live_dir)} if self.session.live_dir else set()
        self.data_stats = StatsLoader(self)
        self.form.attach_data_stats(self.data_stats)      # preflight warnings from the Data tab's statistics
        self.data_panel = DataPanel(self.data_stats)
        self.actions = Actions(self)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        for name, w in zip(TABS, (self.plots, self.results, self.samples, self.compare, self.sweep_view,
                                  self.data_panel, self.log_view)):
            self.tabs.addTab(w, tab_label(name))
        self.tabs.setCornerWidget(self.actions.export_button(self), Qt.TopRightCorner)
        self.notice = Banner("notice")
        self.finished_banner = Banner("finishedBanner")
        self.live_bar = Banner("liveBar")
        self.live_bar.close_button.hide()
        self.empty_state = Banner("emptyState")
        self.empty_state.close_button.hide()
        central = QWidget()
        cl = QVBoxLayout(central)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(2)
        for w in (self.empty_state, self.live_bar, self.finished_banner, self.notice):
            cl.addWidget(w)
        cl.addWidget(self.tabs, 1)
        central.setMinimumWidth(420)
        self.setCentralWidget(central)
        self._build_docks()
        self._build_data_tools()
        self.status_panel = StatusPanel()
        install_message_bar(self, self.status_panel)   # messages get room beside the panel, long paths elided

        # wiring
        self.form.valid_changed.connect(lambda _ok: self._update_actions())
        s = self.session
        s.log.connect(self.log_view.append_lines)
        s.message.connect(self._on_session_message)
        s.changed.connect(self._update_actions)
        s.changed.connect(self._update_status)
        s.launched.connect(self._on_launched)
        s.opened.connect(self._on_opened)
        s.finished.connect(self._on_finished)
        s.run_finished.connect(self._announce_finished)
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
        self.sweep_view.compare_requested.connect(self.compare_runs)
        self._add_menu_items()
        self.runs.resume_requested.connect(self.resume_run)
        self.runs.evaluate_requested.connect(self.open_evaluate_dialog)
        self.runs.use_settings_requested.connect(self.use_run_settings)
        self.runs.status_message.connect(lambda text: self.notify(text))
        self.runs.refreshed.connect(self._update_empty_state)
        self.runs.folder_changed.connect(lambda path: settings().setValue("runs_dir", str(Path(path).resolve())))
        self.tabs.currentChanged.connect(lambda i: settings().setValue("tab", TABS[i]))
        self._status_timer = QTimer(self)
        self._status_timer.setInterval(250)           # the status line is throttled to 4 Hz
        self._status_timer.timeout.connect(self._update_status)
        self._status_timer.start()
        self._restore_layout()
        self._update_actions()
        self._update_status()
        self._update_empty_state()
        self._request_data_stats()

    def _add_menu_items(self) -> None:
        """Menu entries of window features beyond cramgui.actions' own: add more here with self.actions.add."""
        self.actions.add("run", "S&weep…", self.open_sweep_dialog, None,
                         "Vary settings of the current form under one total training budget (Optuna)")
        self.actions.add("file", "Open s&weep…", self.open_sweep_folder, None, "Show a sweep directory")

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
        self.finished_banner.hide()
        self.session.start(self.form.train_args().on(str(run_dir), jsonl=True), banner)
        self.select_tab("training")
        return True

    def start_smoke(self) -> bool:
        """The empty state's button: the smoke preset in the form, started."""
        self.form.set_preset(SMOKE_PRESET)
        return self.start_run()

    def resume_run(self, path=None) -> bool:
        if path:
            return self.session.resume(path)
        return self.session.resume()

    def stop_run(self) -> None:
        self.session.stop()

    def kill_run(self) -> None:
        self.session.kill()

    def evaluate_run(self, path, split: str = "test", beam: int | None = None, checkpoint: str = "best") -> bool:
        self.finished_banner.hide()
        ok = self.session.evaluate(path, split, beam, checkpoint)
        if ok:
            self.select_tab("log")
        return ok

    def _on_launched(self, path: str) -> None:
        self.runs.set_current(path)
        self.setWindowTitle(f"cramgui — {self.runs.label(path)}")
        self._update_empty_state()

    def _on_finished(self, _code: int) -> None:
        self._update_live_bar()
        if self._close_after_stop:
            QTimer.singleShot(0, self.close)

    # -- opening runs -----------------------------------------------------------------------------------------
    def open_run(self, path) -> bool:
        """Show a run directory read-only (replay + follow); the live run keeps training meanwhile."""
        return self.session.open(path)

    def show_live_run(self) -> bool:
        return self.session.show_live()

    def _on_opened(self, path: str, status: str) -> None:
        self.runs.set_current(path)
        label = self.runs.label(path)
        self.setWindowTitle(f"cramgui — {label}")
        if self.session.showing_live():
            self.notify(f"Showing the live run {label} again")
        else:
            self.notify(f"Opened {label} ({status}); following it while it grows",
                        [("Use this run's settings", lambda: self.use_run_settings(path))])
        self._update_live_bar()
        if self.state.results and not self.session.showing_live():
            self.select_tab("results")

    def compare_runs(self, paths: list[str]) -> None:
        self.compare.set_runs(paths, labels=[self.runs.label(p) for p in paths])
        self.select_tab("compare")
        if self.compare.problems:
            self.show_message(QMessageBox.Warning, "Some runs could not be compared",
                              "\n".join(self.compare.problems), "", "compare")

    def use_run_settings(self, path=None) -> bool:
        """The run's configuration in the form, explicitly (viewing a run never changes the form)."""
        d = Path(path) if path else self.session.run_dir
        if d is None:
            return False
        cfg = self.state.config if self.state.run_dir == str(d) and isinstance(self.state.config, dict) else None
        if cfg is None:
            cfg, problem = read_config(d)
            if cfg is None:
                self.show_message(QMessageBox.Warning, "No usable settings", f"{d.name}: {problem or 'no config.json'}",
                                  "", "settings")
                return False
        try:
            self.form.set_custom_config(RunConfig.from_dict(cfg))
        except (ConfigError, TypeError, AttributeError, ValueError) as e:
            self.show_message(QMessageBox.Warning, "Settings not usable", f"{d.name}: {e}", "", "settings")
            return False
        self.notify(f"The form holds the settings of {self.runs.label(d)} (Start makes a new run)")
        return True

    # -- UI helpers -------------------------------------------------------------------------------------------
    def select_tab(self, name: str) -> None:
        self.tabs.setCurrentIndex(TABS.index(name.lower()))

    def current_tab(self) -> str:
        return TABS[self.tabs.currentIndex()]

    def export_current(self) -> str | None:
        return run_export(self, TAB_DEFAULT_EXPORT[self.current_tab()])

    def _update_actions(self) -> None:
        running = self.session.is_running()
        a = self.actions
        a.start.setEnabled(not running and self.form.is_valid())
        a.stop.setEnabled(running and not self.session.stopping)
        a.kill.setEnabled(running)
        a.resume.setEnabled(not running and self.session.resumable())
        a.evaluate.setEnabled(self.session.evaluable())
        a.stop_and_evaluate.setEnabled(running and not self.session.stopping and self.session.live_kind == "train")
        a.use_settings.setEnabled(self.session.run_dir is not None)
        a.show_live.setEnabled(running and not self.session.showing_live())
        for w in (getattr(self, "fetch_button", None), getattr(self, "build_button", None)):
            if w is not None:
                w.setEnabled(not running)
        a.fetch_data.setEnabled(not running)
        a.build_data.setEnabled(not running)
        self.start_button.setEnabled(a.start.isEnabled())
        self.stop_button.setEnabled(a.stop.isEnabled())
        self.resume_button.setEnabled(a.resume.isEnabled())
        errors = self.form.errors()
        self.problems_label.setVisible(bool(errors))
        if errors:
            n = len(errors)
            self.problems_label.setText(f"Fix {n} field{'s' if n > 1 else ''} to start: "
                                        + ", ".join(e.field for e in errors))
            self.start_button.setToolTip(f"Fix the form first: {errors[0].field}: {errors[0].message}")
        elif running:
            self.start_button.setToolTip("A run is in progress: edit the form now, start when it ends")
        else:
            self.start_button.setToolTip(f"{a.start.toolTip()} ({a.start.shortcut().toString()})")
        self._update_live_bar()

    def _update_status(self) -> None:
        note, warning = self.session.status_note(self.runs.stale_seconds())
        self.status_panel.update_status(self.state.status, note)
        self.status_panel.set_warning(warning)
        run_dir = self.session.run_dir
        self.status_panel.set_run(self.runs.label(run_dir) if run_dir else "")
        if self.live_bar.isVisible():
            self._update_live_bar()

    # -- data -------------------------------------------------------------------------------------------------
    def _request_data_stats(self) -> None:
        self.data_stats.request(self.form.config())

    def apply_lengths(self, source_len: int, target_len: int) -> None:
        """Set data.max_source_len / max_target_len in the form (the data panel's suggestion)."""
        self.form.set_values({"data.max_source_len": clamp_length("data.max_source_len", source_len),
                              "data.max_target_len": clamp_length("data.max_target_len", target_len)})
        self.notify(f"Max source / target length set to {source_len} / {target_len}")

    def use_corpus(self, path: str, languages: list) -> None:
        """A fetched or built corpus: data.source=codexglue, data.path=PATH, these languages ticked."""
        self.form.set_values({"data.source": "codexglue", "data.path": str(path), "data.languages": list(languages)})
        self._request_data_stats()
        self.notify(f"Data: {path} ({', '.join(languages)})")

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
        self.save_layout()
        self.session.close()
        self._status_timer.stop()
        if self.tray is not None:
            self.tray.hide()
        super().closeEvent(event)

    def _confirm_close(self, yes: bool) -> None:
        self.close_box = None
        if yes and self.session.is_running():
            self._close_after_stop = True
            self.stop_run()
        elif yes:
            QTimer.singleShot(0, self.close)

    def quit_now(self) -> None:
        """SIGTERM/SIGHUP/SIGINT to the console: no question; stop the run gracefully, then close."""
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
