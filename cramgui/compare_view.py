"""Comparing runs: loss curves overlaid (one colour per run, same smoothing, log-y, x by step or elapsed time),
a BLEU table with one row per run and one column per language plus the mean, and the settings that differ.

The numbers come from engine.contract.compare (pure Python, the same code as `cram compare`); curves from each run's
events.jsonl through RunState, so the comparison shows exactly what each run's own view shows.
"""
from __future__ import annotations

import csv
import os

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QHBoxLayout, QHeaderView, QLabel,
                               QPushButton, QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from engine.contract import compare, rundir

from .compare_curves import CompareCurves
from .export import CSV, PNG, plot_to_png, save_as
from .formatting import DASH, fixed
from .curves import smooth
from .run_state import RunState

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f",
          "#bcbd22"]


def _unreadable(path: str) -> str | None:
    """Why a run cannot be compared (its config, events or results are malformed), None when it can."""
    from pathlib import Path

    from .runs import file_problem, read_config

    d = Path(path)
    if not rundir.is_run_dir(d):
        return "not a run directory"
    _cfg, problem = read_config(d)
    return problem or file_problem(d)


def _unique(labels: list[str], paths: list[str]) -> list[str]:
    """Labels made unique (a repeated one gets its folder name)."""
    out = []
    for label, p in zip(labels, paths):
        out.append(f"{label} ({os.path.basename(p)})" if labels.count(label) > 1 else label)
    return out


def _cell(v) -> str:
    """BLEU with two decimals, a dash when missing; other values (names, counts) as they are."""
    if v is None or isinstance(v, float):
        return fixed(v, 2, missing=DASH)
    return str(v)


class CompareView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.paths: list[str] = []
        self.states: list[RunState] = []
        self.curves: list[pg.PlotDataItem] = []

        self.x_combo = QComboBox()
        self.x_combo.addItems(["step", "elapsed"])
        self.x_combo.setToolTip("x axis of the overlay: optimizer step or training time (s)")
        self.x_combo.currentTextChanged.connect(lambda _: self._draw())
        self.smooth = QDoubleSpinBox()
        self.smooth.setRange(0.0, 0.999)
        self.smooth.setSingleStep(0.05)
        self.smooth.setDecimals(3)
        self.smooth.setValue(0.9)
        self.smooth.setToolTip("EMA smoothing applied to every run's training loss (0 = raw)")
        self.smooth.valueChanged.connect(lambda _: self._draw())
        self.csv_btn = QPushButton("Export table CSV…")
        self.csv_btn.clicked.connect(self._export_csv_dialog)
        self.png_btn = QPushButton("Export overlay PNG…")
        self.png_btn.clicked.connect(self._export_png_dialog)
        self.info = QLabel("Select two or more runs in the runs list and choose Compare.")
        self.info.setObjectName("compareInfo")
        self.info.setTextFormat(Qt.PlainText)
        self.info.setWordWrap(True)
        self.problems: list[str] = []
        self.labels: list[str] = []
        self.header: list[str] = []
        self.rows: list[list] = []
        self.diffs: dict = {}
        bar = QHBoxLayout()
        for w in (QLabel("x axis"), self.x_combo, QLabel("smoothing"), self.smooth):
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(self.csv_btn)
        bar.addWidget(self.png_btn)

        self.plot = pg.PlotWidget(background="w")
        pi = self.plot.getPlotItem()
        pi.setTitle("Training loss (EMA), all selected runs", size="10pt")
        pi.setLogMode(y=True)
        pi.showGrid(x=True, y=True, alpha=0.25)
        pi.setDownsampling(auto=True, mode="peak")
        pi.setClipToView(True)
        self.legend = pi.addLegend(offset=(-10, 10))

        self.table = QTableWidget()
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.diff = QTableWidget()
        self.diff.setEditTriggers(QTableWidget.NoEditTriggers)
        self.diff.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)

        lower = QSplitter(Qt.Horizontal)
        for title, w in (("BLEU-4 per language", self.table), ("Settings that differ", self.diff)):
            box = QWidget()
            lay = QVBoxLayout(box)
            lay.setContentsMargins(0, 0, 0, 0)
            lay.addWidget(QLabel(f"<b>{title}</b>"))
            lay.addWidget(w)
            lower.addWidget(box)
        # beside the loss overlay: dev BLEU against training seconds / tokens seen (the curve budgets are about)
        self.dev_curves = CompareCurves()
        upper = QSplitter(Qt.Horizontal)
        upper.addWidget(self.plot)
        upper.addWidget(self.dev_curves)
        split = QSplitter(Qt.Vertical)
        split.addWidget(upper)
        split.addWidget(lower)
        split.setSizes([420, 260])
        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(self.info)
        lay.addWidget(split, 1)

    # -- data ---------------------------------------------------------------------------------------------------
    def set_runs(self, paths: list[str], labels: list[str] | None = None) -> None:
        """Compare these runs, named by `labels` (the runs list's unique names; folder names by default). A run
        that cannot be read is left out and named in `problems` (the window shows them)."""
        paths = [os.fspath(p) for p in paths]
        names = list(labels) if labels and len(labels) == len(paths) else [os.path.basename(p) for p in paths]
        self.problems: list[str] = []
        good = []
        for p, name in zip(paths, names):
            why = _unreadable(p)
            if why:
                self.problems.append(f"{name}: {why}")
            else:
                good.append((p, name))
        self.paths = [p for p, _ in good]
        self.labels = _unique([n for _, n in good], self.paths)
        self.states = []
        for p in self.paths:
            st = RunState()
            try:
                st.load_run_dir(p)
            except Exception:  # noqa: BLE001 - checked above; a file changed meanwhile: an empty curve
                pass
            self.states.append(st)
        try:
            self.header, self.rows = compare.compare_table(self.paths)
            self.diffs = compare.config_differences(self.paths) if self.paths else {}
        except Exception as e:  # noqa: BLE001 - never a silent empty view
            self.problems.append(f"the comparison failed: {e}")
            self.header, self.rows, self.diffs = [], [], {}
        self.header = [*self.header, "path"] if self.header else self.header
        for row, label, p in zip(self.rows, self.labels, self.paths):
            row[0] = label
            row.append(p)
        n = len(self.paths)
        text = f"{n} runs" if n else "Select two or more runs in the runs list and choose Compare."
        if self.problems:
            text += f" — left out: {'; '.join(self.problems)}"
        self.info.setText(text)
        self._fill_table()
        self._fill_diff()
        self._draw()
        self.dev_curves.set_runs(self.paths, self.labels, [COLORS[i % len(COLORS)] for i in range(len(self.paths))])

    def _fill_table(self) -> None:
        self.table.clear()
        self.table.setColumnCount(len(self.header))
        self.table.setRowCount(len(self.rows))
        self.table.setHorizontalHeaderLabels(self.header)
        for r, row in enumerate(self.rows):
            for c, v in enumerate(row):
                item = QTableWidgetItem(_cell(v))
                if c == 0:
                    item.setForeground(pg.mkColor(COLORS[r % len(COLORS)]))
                else:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.table.setItem(r, c, item)

    def _fill_diff(self) -> None:
        names = list(self.labels)
        self.diff.clear()
        self.diff.setColumnCount(1 + len(names))
        self.diff.setHorizontalHeaderLabels(["setting", *names])
        self.diff.setRowCount(len(self.diffs))
        for r, (field, vals) in enumerate(self.diffs.items()):
            self.diff.setItem(r, 0, QTableWidgetItem(field))
            for c, v in enumerate(vals):
                self.diff.setItem(r, c + 1, QTableWidgetItem(",".join(v) if isinstance(v, list) else str(v)))

    def curve_data(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """The plotted (x, smoothed loss) of run i: finite, positive losses only (log axis)."""
        s = self.states[i].steps
        x = s.view("step" if self.x_combo.currentText() == "step" else "elapsed")
        y = s.view("loss")
        ok = np.isfinite(x) & np.isfinite(y) & (y > 0)
        x, y = x[ok], y[ok]
        return x, smooth(y, self.smooth.value()) if len(y) else y

    def _draw(self) -> None:
        pi = self.plot.getPlotItem()
        for c in self.curves:
            pi.removeItem(c)
        self.legend.clear()
        self.curves = []
        for i in range(len(self.states)):
            x, y = self.curve_data(i)
            name = self.labels[i] if i < len(self.labels) else f"run {i + 1}"
            item = pi.plot(x, y, name=name, pen=pg.mkPen(COLORS[i % len(COLORS)], width=2))
            item.setDownsampling(auto=True, method="peak")
            item.setClipToView(True)
            self.curves.append(item)
        pi.setLabel("bottom", "optimizer step" if self.x_combo.currentText() == "step" else "training time (s)")

    # -- export ---------------------------------------------------------------------------------------------------
    def displayed_table(self) -> list[list[str]]:
        out = [[self.table.horizontalHeaderItem(c).text() for c in range(self.table.columnCount())]]
        for r in range(self.table.rowCount()):
            out.append([self.table.item(r, c).text() for c in range(self.table.columnCount())])
        return out

    def export_csv(self, path) -> None:
        """The comparison table exactly as shown."""
        with open(os.fspath(path), "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh, lineterminator="\n").writerows(self.displayed_table())

    def export_png(self, path) -> None:
        plot_to_png(self.plot, path)

    def _export_csv_dialog(self) -> str | None:
        return save_as(self, "Run comparison table (CSV)", "comparison.csv", CSV, self.export_csv)

    def _export_png_dialog(self) -> str | None:
        return save_as(self, "Run comparison plot (PNG)", "comparison.png", PNG, self.export_png)
