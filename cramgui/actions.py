"""Menus and actions of the main window (kept out of main_window.py so that one stays thin). What each tab is
called and exports lives in cramgui.tabs; every export goes through cramgui.export.save_as."""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QToolButton

from .tabs import EXPORTS, TABS, run_export, tab_label

if TYPE_CHECKING:
    from .main_window import MainWindow


def _action(win, text: str, slot, shortcut=None, tip: str | None = None) -> QAction:
    a = QAction(text, win)
    if shortcut:
        a.setShortcut(QKeySequence(shortcut))
    if tip:
        a.setToolTip(tip)
        a.setStatusTip(tip)
    a.triggered.connect(lambda _checked=False: slot())
    return a


class Actions:
    """All QActions of the window, by name; `exports[key]` for each export."""

    def __init__(self, win: MainWindow):
        self.open_run = _action(win, "&Open run…", win.open_run_dialog, QKeySequence.Open,
                                "Open a run directory: replay it and follow it while it grows")
        self.load_config = _action(win, "&Load config…", win.form.load_config_dialog, "Ctrl+L")
        self.save_config = _action(win, "&Save config…", win.form.save_config_dialog, QKeySequence.Save)
        self.quit = _action(win, "&Quit", win.close, QKeySequence.Quit)
        self.start = _action(win, "&Start", win.start_run, "Ctrl+R", "Start a run with this configuration")
        self.stop = _action(win, "S&top", win.stop_run, "Ctrl+.",
                            "Stop gracefully: the engine finishes the step, checkpoints, then exits")
        self.resume = _action(win, "&Resume", win.resume_run, "Ctrl+Shift+R",
                              "Continue the stopped run from its last checkpoint (same run directory)")
        self.kill = _action(win, "&Kill now", win.kill_run, None,
                            "Kill the engine at once with SIGKILL (no new checkpoint: the last one is kept)")
        self.evaluate = _action(win, "&Evaluate…", win.open_evaluate_dialog, "Ctrl+Shift+E",
                                "Evaluate the shown run's checkpoint (split, beam size, best or last checkpoint)")
        self.stop_and_evaluate = _action(win, "Stop and e&valuate…", lambda: win.open_evaluate_dialog(
            stop_first=True), None, "Stop the live run gracefully (it checkpoints), then evaluate it")
        self.use_settings = _action(win, "&Use this run's settings", win.use_run_settings, None,
                                    "Put the shown run's configuration in the form (viewing a run never does)")
        self.show_live = _action(win, "Show the &live run", win.show_live_run, "Ctrl+0",
                                 "Back to the run training here (after opening another one)")
        self.job_script = _action(win, "Export &job script…", win.open_job_script_dialog, None,
                                  "A SLURM sbatch script for this configuration (torchrun, checkpoint before the "
                                  "time limit, requeue and resume)")
        self.fetch_data = _action(win, "Get &CodeXGLUE…", win.open_fetch_dialog, None,
                                  "Download the CodeXGLUE code-to-text data and use it")
        self.build_data = _action(win, "&Build corpus from source folder…", win.open_build_dialog, None,
                                  "Build a code/summary corpus from a source tree and use it")
        self.export_current = _action(win, "&Export current view…", win.export_current, "Ctrl+E",
                                      "Export what the current tab shows")
        self.exports = {e.key: _action(win, e.label, lambda k=e.key: run_export(win, k)) for e in EXPORTS}
        self.tabs = []
        for i, name in enumerate(TABS):
            self.tabs.append(_action(win, tab_label(name), lambda n=name: win.select_tab(n), f"Ctrl+{i + 1}"))

        self._win = win
        mb = win.menuBar()
        self.menus: dict[str, QMenu] = {}
        m = self.menus["file"] = mb.addMenu("&File")
        m.addAction(self.open_run)
        m.addSeparator()
        m.addAction(self.load_config)
        m.addAction(self.save_config)
        m.addAction(self.job_script)
        m.addSeparator()
        m.addAction(self.fetch_data)
        m.addAction(self.build_data)
        m.addSeparator()
        self.export_menu = m.addMenu("&Export")
        self._fill_export_menu(self.export_menu)
        m.addSeparator()
        m.addAction(self.quit)
        r = self.menus["run"] = mb.addMenu("&Run")
        for a in (self.start, self.stop, self.resume):
            r.addAction(a)
        r.addSeparator()
        r.addAction(self.evaluate)
        r.addAction(self.stop_and_evaluate)
        r.addAction(self.use_settings)
        r.addSeparator()
        r.addAction(self.kill)
        v = self.menus["view"] = mb.addMenu("&View")
        for a in self.tabs:
            v.addAction(a)
        v.addSeparator()
        v.addAction(self.show_live)
        v.addSeparator()
        self.view_menu = v

    def add(self, menu: str, text: str, slot, shortcut=None, tip: str | None = None) -> QAction:
        """A new action at the end of a menu ('file', 'run', 'view', or a new menu's title, made at the end of
        the menu bar), returned. How other views (a sweep dialog, say) join the window's menus."""
        m = self.menus.get(menu)
        if m is None:
            m = self.menus[menu] = self._win.menuBar().addMenu(menu)
        a = _action(self._win, text, slot, shortcut, tip)
        m.addAction(a)
        return a

    def _fill_export_menu(self, menu: QMenu, tab: str | None = None) -> None:
        menu.addAction(self.export_current)
        menu.addSeparator()
        last_tab = None
        for e in EXPORTS:
            if tab and e.tab != tab:
                continue
            if last_tab and e.tab != last_tab:
                menu.addSeparator()
            last_tab = e.tab
            menu.addAction(self.exports[e.key])

    def export_button(self, win) -> QToolButton:
        """'Export ▾' beside the tabs: every export, the current tab's first."""
        b = QToolButton(win)
        b.setText("Export")
        b.setToolTip("Export tables (CSV) and plots (PNG); Ctrl+E exports the current view")
        b.setPopupMode(QToolButton.InstantPopup)
        menu = QMenu(b)
        self._fill_export_menu(menu)
        b.setMenu(menu)
        return b
