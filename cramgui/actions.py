"""Menus, actions and exports of the main window (kept out of main_window.py so that one stays thin).

Every export goes through a QFileDialog and calls the view that shows the data (so the file holds exactly what is
shown): the views' own export functions, `cramgui.export` for the histories.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QToolButton

from . import export as exp

if TYPE_CHECKING:
    from .main_window import MainWindow

TABS = ("training", "results", "samples", "compare", "data", "log")
CSV = "CSV (*.csv)"
PNG = "PNG image (*.png)"
TXT = "Text (*.txt *.log)"


@dataclass(frozen=True)
class Export:
    key: str
    label: str
    filename: str
    filter: str
    tab: str                                   # the tab showing the data
    write: Callable[["MainWindow", str], None]


EXPORTS = (
    Export("results_csv", "Results table (CSV)…", "results.csv", CSV, "results",
           lambda w, p: w.results.export_csv(p)),
    Export("results_png", "Results chart (PNG)…", "bleu.png", PNG, "results", lambda w, p: w.results.export_png(p)),
    Export("history_csv", "Training history (CSV)…", "history.csv", CSV, "training",
           lambda w, p: exp.history_to_csv(w.state, p)),
    Export("evals_csv", "Dev evaluations (CSV)…", "dev_evals.csv", CSV, "training",
           lambda w, p: exp.evals_to_csv(w.state, p)),
    Export("loss_png", "Loss plot (PNG)…", "loss.png", PNG, "training", lambda w, p: w.plots.export_png("loss", p)),
    Export("lr_png", "Learning-rate plot (PNG)…", "lr.png", PNG, "training", lambda w, p: w.plots.export_png("lr", p)),
    Export("throughput_png", "Throughput plot (PNG)…", "throughput.png", PNG, "training",
           lambda w, p: w.plots.export_png("throughput", p)),
    Export("samples_csv", "Samples shown (CSV)…", "samples.csv", CSV, "samples",
           lambda w, p: w.samples.export_csv(p)),
    Export("compare_csv", "Run comparison table (CSV)…", "comparison.csv", CSV, "compare",
           lambda w, p: w.compare.export_csv(p)),
    Export("compare_png", "Run comparison plot (PNG)…", "comparison.png", PNG, "compare",
           lambda w, p: w.compare.export_png(p)),
    Export("data_csv", "Data statistics (CSV)…", "data_stats.csv", CSV, "data",
           lambda w, p: w.data_panel.export_csv(p)),
    Export("log_txt", "Log (text)…", "engine.log", TXT, "log",
           lambda w, p: Path(p).write_text(w.log_view.toPlainText() + "\n", encoding="utf-8")),
)
EXPORT_BY_KEY = {e.key: e for e in EXPORTS}
# Ctrl+E exports what the current tab shows
TAB_DEFAULT_EXPORT = {"training": "history_csv", "results": "results_csv", "samples": "samples_csv",
                      "compare": "compare_csv", "data": "data_csv", "log": "log_txt"}


def run_export(win: "MainWindow", key: str) -> str | None:
    """Ask for a file name, write the export; returns the path written (None when cancelled or failed)."""
    e = EXPORT_BY_KEY[key]
    start = Path(win.run_dir or Path.cwd()) / _default_name(win, e)
    path, _ = QFileDialog.getSaveFileName(win, e.label.rstrip("…"), str(start), e.filter)
    if not path:
        return None
    suffix = "." + e.filename.rsplit(".", 1)[-1]
    if not Path(path).suffix:
        path += suffix
    try:
        e.write(win, path)
    except Exception as err:  # noqa: BLE001 - shown to the user, never swallowed
        win.show_message(QMessageBox.Warning, "Export failed", f"Could not write {path}", str(err))
        return None
    win.statusBar().showMessage(f"Exported {e.label.rstrip('…')} to {path}", 6000)
    return path


def _default_name(win: "MainWindow", e: Export) -> str:
    if e.key == "samples_csv" and win.samples.current_language():
        return f"samples_{win.samples.current_language()}.csv"
    return e.filename


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

    def __init__(self, win: "MainWindow"):
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
        self.kill = _action(win, "&Kill now", win.kill_run, None, "Kill the engine at once (no checkpoint)")
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
            self.tabs.append(_action(win, name.capitalize(), lambda n=name: win.select_tab(n), f"Ctrl+{i + 1}"))

        mb = win.menuBar()
        m = mb.addMenu("&File")
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
        r = mb.addMenu("&Run")
        for a in (self.start, self.stop, self.resume):
            r.addAction(a)
        r.addSeparator()
        r.addAction(self.kill)
        v = mb.addMenu("&View")
        for a in self.tabs:
            v.addAction(a)
        v.addSeparator()
        self.view_menu = v

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
