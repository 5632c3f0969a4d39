"""Exports: THE save-as path every view's export goes through (`save_as`), and the writers: training history,
dev evaluations, any table model exactly as displayed, a plot as PNG. A run's exports go to RUN_DIR/exports/ and
never over a file the engine owns."""
from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from collections.abc import Callable

from PySide6.QtCore import QAbstractItemModel, QModelIndex, Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox, QWidget

from engine.contract import rundir
from engine.contract.files import inside
from engine.contract.paths import SPLITS

from .formatting import exact
from .run_state import RunState
from .tabs import CSV, PNG, TXT  # noqa: F401  (the file filters, for the views' save_as calls)

HISTORY_COLUMNS = ("step", "elapsed", "progress", "loss", "lr", "tokens_per_s")
# top_share: the share of the dev examples given the most frequent prediction (1.0 = one constant sentence)
EVAL_COLUMNS = ("step", "elapsed", "split", "dev_loss", "dev_ppl", "dev_bleu", "n", "eval_seconds", "best",
                "top_share")


EXPORTS_DIR = "exports"        # RUN_DIR/exports/: where a run's exports go by default (the console's, not the engine's)
# what the engine writes in a run directory: an export never lands on one of these
ENGINE_FILES = {rundir.CONFIG, rundir.ENV, rundir.EVENTS, rundir.RESULTS, rundir.SAMPLES, rundir.PID_FILE,
                rundir.LOCK_FILE, rundir.STATE_FILE, rundir.LEGACY_STATE_FILE}
ENGINE_FOLDERS = {rundir.CHECKPOINTS, "tokenizer"}
PREDICTION_SUFFIXES = tuple(f"_{split}.{ext}" for split in SPLITS for ext in ("output", "gold"))


def engine_owned(path: str | os.PathLike) -> Path | None:
    """The run directory whose engine-owned file `path` is (config.json, events.jsonl, results.csv, samples.jsonl,
    {lang}_{split}.output/.gold, anything under checkpoints/ or tokenizer/ ...), None when it is not one."""
    p = Path(os.path.abspath(os.fspath(path)))
    if rundir.is_run_dir(p.parent) and (p.name in ENGINE_FILES or p.name.endswith(PREDICTION_SUFFIXES)):
        return p.parent
    for parent in p.parents:
        if parent.name in ENGINE_FOLDERS and rundir.is_run_dir(parent.parent):
            return parent.parent
    return None


def exports_folder(run_dir) -> Path | None:
    """RUN_DIR/exports/ (made when missing), None when it cannot be used (a link, not writable, no run dir)."""
    if not run_dir:
        return None
    d = Path(run_dir) / EXPORTS_DIR
    try:
        inside(run_dir, d)
        if not Path(run_dir).is_dir():
            return None
        d.mkdir(exist_ok=True)
        return d if d.is_dir() and not d.is_symlink() and os.access(d, os.W_OK) else None
    except OSError:
        return None


def save_as(parent: QWidget, title: str, filename: str, file_filter: str, write: Callable[[str], None],
            folder=None, run_dir=None) -> str | None:
    """Ask for a file name (starting at RUN_DIR/exports/FILENAME for a run's data, else FOLDER/FILENAME, FOLDER
    the working directory by default), add the extension of `filename` when none was typed, and `write(path)`.
    A path that is an engine-owned file of a run (results.csv, events.jsonl, config.json, predictions,
    checkpoints/...) is never written: the export goes to that run's exports/ folder instead, and says so. A
    failure is shown in a message box; success in the window's notice line with "Show in folder" (and its status
    bar). Returns the path written, None when cancelled or failed."""
    if run_dir is None and folder and rundir.is_run_dir(folder):
        run_dir = folder                      # a view that passes its run folder: its exports/ inside it
    start_dir = exports_folder(run_dir) or Path(folder or Path.cwd())
    path, _ = QFileDialog.getSaveFileName(parent, title, str(start_dir / filename), file_filter)
    if not path:
        return None
    if not Path(path).suffix and Path(filename).suffix:
        path += Path(filename).suffix
    win = parent.window() if parent is not None else None
    note = ""
    owner = engine_owned(path)
    if owner is not None:
        target = exports_folder(owner)
        if target is None:
            _error(win, f"{path} is a file the engine owns in run {owner.name}",
                   "Exports never replace a run's own files; choose another name or folder.")
            return None
        note = f" ({Path(path).name} is the engine's own file of {owner.name}: written to its exports/ folder)"
        path = str(target / Path(path).name)
    try:
        write(path)
    except Exception as err:  # noqa: BLE001 - shown to the user, never swallowed
        _error(win, f"Could not write {path}", str(err))
        return None
    text = f"Exported {title} to {path}{note}"
    folder_url = QUrl.fromLocalFile(str(Path(path).parent))
    if hasattr(win, "notify"):
        win.notify(text, [("Show in folder", lambda: QDesktopServices.openUrl(folder_url))])
    elif isinstance(win, QMainWindow):
        win.statusBar().showMessage(text, 10000)
    return path


def _error(win, text: str, info: str) -> None:
    box = QMessageBox(QMessageBox.Warning, "Export failed", text, QMessageBox.Ok, win)
    box.setObjectName("message_export")
    box.setTextFormat(Qt.PlainText)
    box.setInformativeText(info)
    box.setAttribute(Qt.WA_DeleteOnClose)
    box.open()                            # non-blocking, like every message of the console


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
    """One row per dev evaluation: step,elapsed,split,dev_loss,dev_ppl,dev_bleu,n,eval_seconds,best,top_share."""
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
