"""The window's tabs and what each can export (no Qt at import: `cramgui --help` lists the tabs).

Every export writes what a view shows (the file holds exactly what is on screen) and goes through
cramgui.export.save_as, the one save-as path (also behind the views' own Export buttons).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from collections.abc import Callable

if TYPE_CHECKING:
    from .main_window import MainWindow

TABS = ("training", "results", "samples", "compare", "sweep", "data", "log")
CSV = "CSV (*.csv)"
PNG = "PNG image (*.png)"
TXT = "Text (*.txt *.log)"


def tab_label(name: str) -> str:
    return name.capitalize()


@dataclass(frozen=True)
class Export:
    key: str
    label: str
    filename: str
    filter: str
    tab: str                                   # the tab showing the data
    write: Callable[[MainWindow, str], None]

    @property
    def title(self) -> str:
        return self.label.rstrip("…")


EXPORTS = (
    Export("results_csv", "Results table (CSV)…", "results.csv", CSV, "results",
           lambda w, p: w.results.export_csv(p)),
    Export("results_png", "Results chart (PNG)…", "bleu.png", PNG, "results", lambda w, p: w.results.export_png(p)),
    Export("history_csv", "Training history (CSV)…", "history.csv", CSV, "training",
           lambda w, p: _export().history_to_csv(w.state, p)),
    Export("evals_csv", "Dev evaluations (CSV)…", "dev_evals.csv", CSV, "training",
           lambda w, p: _export().evals_to_csv(w.state, p)),
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
    Export("compare_dev_png", "Dev BLEU overlay (PNG)…", "dev_bleu_overlay.png", PNG, "compare",
           lambda w, p: w.compare.dev_curves.export_png(p)),
    Export("compare_dev_csv", "Dev BLEU curves (CSV)…", "dev_bleu_curves.csv", CSV, "compare",
           lambda w, p: w.compare.dev_curves.export_csv(p)),
    Export("sweep_csv", "Sweep trials (CSV)…", "sweep_trials.csv", CSV, "sweep",
           lambda w, p: w.sweep_view.export_table_csv(p)),
    Export("sweep_params_png", "Sweep objective by parameter (PNG)…", "sweep_params.png", PNG, "sweep",
           lambda w, p: w.sweep_view.export_plot_png("params", p)),
    Export("sweep_curves_png", "Sweep dev BLEU per trial (PNG)…", "sweep_curves.png", PNG, "sweep",
           lambda w, p: w.sweep_view.export_plot_png("curves", p)),
    Export("sweep_best_png", "Sweep best so far (PNG)…", "sweep_best.png", PNG, "sweep",
           lambda w, p: w.sweep_view.export_plot_png("best", p)),
    Export("data_csv", "Data statistics (CSV)…", "data_stats.csv", CSV, "data",
           lambda w, p: w.data_panel.export_csv(p)),
    Export("log_txt", "Log (text)…", "engine.log", TXT, "log",
           lambda w, p: Path(p).write_text(w.log_view.toPlainText() + "\n", encoding="utf-8")),
)
EXPORT_BY_KEY = {e.key: e for e in EXPORTS}
# Ctrl+E exports what the current tab shows
TAB_DEFAULT_EXPORT = {"training": "history_csv", "results": "results_csv", "samples": "samples_csv",
                      "compare": "compare_csv", "sweep": "sweep_csv", "data": "data_csv", "log": "log_txt"}


def run_export(win: MainWindow, key: str) -> str | None:
    """One of the window's exports, through export.save_as, starting in the shown run's folder; returns the
    path written (None when cancelled or failed)."""
    e = EXPORT_BY_KEY[key]
    return _export().save_as(win, e.title, _default_name(win, e), e.filter, lambda path: e.write(win, path),
                             run_dir=win.session.run_dir)


def _default_name(win: MainWindow, e: Export) -> str:
    if e.key == "samples_csv" and win.samples.current_language():
        return f"samples_{win.samples.current_language()}.csv"
    return e.filename


def _export():
    from . import export

    return export
