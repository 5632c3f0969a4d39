"""CSV exports: training history, dev evaluations, and any table model exactly as displayed."""
from __future__ import annotations

import csv
import math
import os

from PySide6.QtCore import QAbstractItemModel, QModelIndex, Qt

from .run_state import RunState

HISTORY_COLUMNS = ("step", "elapsed", "progress", "loss", "lr", "tokens_per_s")
EVAL_COLUMNS = ("step", "elapsed", "split", "dev_loss", "dev_ppl", "dev_bleu", "n", "eval_seconds", "best")


def fmt_number(v) -> str:
    """Missing / non-finite -> '', integers without a decimal point, floats with full precision (repr)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return str(v)
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if not math.isfinite(f):
        return ""
    return repr(f)


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
            w.writerow([fmt_number(e.get(c)) if c != "split" else (e.get(c) or "") for c in EVAL_COLUMNS])


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
