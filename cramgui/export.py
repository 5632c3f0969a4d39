"""Exports: THE save-as path every view's export goes through (`save_as`), and the writers: training history,
dev evaluations, any table model exactly as displayed, a plot as PNG."""
from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from collections.abc import Callable

from PySide6.QtCore import QAbstractItemModel, QModelIndex, Qt
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox, QWidget

from .formatting import exact
from .run_state import RunState
from .tabs import CSV, PNG, TXT  # noqa: F401  (the file filters, for the views' save_as calls)

HISTORY_COLUMNS = ("step", "elapsed", "progress", "loss", "lr", "tokens_per_s")
EVAL_COLUMNS = ("step", "elapsed", "split", "dev_loss", "dev_ppl", "dev_bleu", "n", "eval_seconds", "best")


def save_as(parent: QWidget, title: str, filename: str, file_filter: str, write: Callable[[str], None],
            folder=None) -> str | None:
    """Ask for a file name (starting at FOLDER/FILENAME, FOLDER the working directory by default), add the
    extension of `filename` when none was typed, `write(path)`; a failure is shown in a message box, success in
    the main window's status bar. Returns the path written, None when cancelled or failed."""
    start = Path(folder or Path.cwd()) / filename
    path, _ = QFileDialog.getSaveFileName(parent, title, str(start), file_filter)
    if not path:
        return None
    if not Path(path).suffix and Path(filename).suffix:
        path += Path(filename).suffix
    win = parent.window() if parent is not None else None
    try:
        write(path)
    except Exception as err:  # noqa: BLE001 - shown to the user, never swallowed
        box = QMessageBox(QMessageBox.Warning, "Export failed", f"Could not write {path}", QMessageBox.Ok, win)
        box.setObjectName("message_export")
        box.setInformativeText(str(err))
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.open()                            # non-blocking, like every message of the console
        return None
    if isinstance(win, QMainWindow):
        win.statusBar().showMessage(f"Exported {title} to {path}", 6000)
    return path


def history_to_csv(state: RunState, path) -> None:
    """One row per logged optimizer step: step,elapsed,progress,loss,lr,tokens_per_s (missing values empty)."""
    s = state.steps
    cols = [s.view(c).tolist() for c in HISTORY_COLUMNS]
    with open(os.fspath(path), "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(HISTORY_COLUMNS)
        for row in zip(*cols):
            step = row[0]
            first = str(int(step)) if math.isfinite(step) else ""
            w.writerow([first] + ["" if not math.isfinite(v) else repr(v) for v in row[1:]])


def evals_to_csv(state: RunState, path) -> None:
    """One row per dev evaluation: step,elapsed,split,dev_loss,dev_ppl,dev_bleu,n,eval_seconds,best."""
    with open(os.fspath(path), "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(EVAL_COLUMNS)
        for e in state.evals:
            w.writerow([exact(e.get(c)) if c != "split" else (e.get(c) or "") for c in EVAL_COLUMNS])


def table_model_to_csv(model: QAbstractItemModel, path) -> None:
    """The displayed text of every cell (DisplayRole), with the horizontal header as the first row."""
    root = QModelIndex()
    ncol = model.columnCount(root)
    nrow = model.rowCount(root)
    with open(os.fspath(path), "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow([_text(model.headerData(c, Qt.Orientation.Horizontal, Qt.ItemDataRole.DisplayRole))
                    for c in range(ncol)])
        for r in range(nrow):
            w.writerow([_text(model.data(model.index(r, c, root), Qt.ItemDataRole.DisplayRole))
                        for c in range(ncol)])


def _text(v) -> str:
    return "" if v is None else str(v)


def plot_to_png(plot_widget, path) -> None:
    """A pyqtgraph PlotWidget to PNG (ImageExporter), at least 1200 px wide; a widget that was never laid out
    (a hidden tab) gets a real size first."""
    import pyqtgraph.exporters

    if plot_widget.width() < 50 or plot_widget.height() < 50:
        plot_widget.resize(900, 500)
    exp = pyqtgraph.exporters.ImageExporter(plot_widget.getPlotItem())
    exp.parameters()["width"] = max(int(plot_widget.width()) * 2, 1200)
    exp.export(os.fspath(path))
