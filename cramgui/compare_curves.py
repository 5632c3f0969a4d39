"""Dev BLEU against training seconds (or tokens seen), one curve per run: the curve that matters under a budget.

Compare shows it beside the loss overlay; the Sweep view draws the same curves for its trials. The points come
from each run's events.jsonl through engine.contract (a resumed run's evaluations after its checkpoint replace the
ones it lost). A run that ended early (stopped, pruned) ends with a cross.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from engine.contract.events import number, read_events
from engine.contract.rundir import EVENTS, fold_status

from .export import CSV, PNG, plot_to_png, save_as

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f",
          "#bcbd22"]
X_AXES = {"elapsed": "training time (s)", "tokens": "tokens seen"}
EARLY = ("stopped", "pruned", "failed")


def dev_curve(run_dir: str | os.PathLike) -> dict:
    """{elapsed: [...], tokens: [...], bleu: [...], status}: one point per dev evaluation with a dev BLEU, tokens
    seen up to it; status is the run's folded status from its events (completed, stopped, pruned, ...)."""
    elapsed: list[float] = []
    tokens: list[float] = []
    bleu: list[float] = []
    seen = 0.0
    marks: list[tuple[float, float]] = []   # (elapsed, tokens seen) after each step event, to rewind on resume
    status = "unknown"
    for ev in read_events(Path(run_dir) / EVENTS):
        status = fold_status(status, ev)
        kind = ev.get("event")
        el = number(ev.get("elapsed"))
        if kind == "started" and ev.get("resumed") is True and el is not None:
            keep = [i for i, e in enumerate(elapsed) if e <= el + 1e-6]
            elapsed, tokens, bleu = ([xs[i] for i in keep] for xs in (elapsed, tokens, bleu))
            marks = [m for m in marks if m[0] <= el + 1e-6]
            seen = marks[-1][1] if marks else 0.0
        elif kind == "step":
            seen += number(ev.get("tokens")) or 0.0
            if el is not None:
                marks.append((el, seen))
        elif kind == "eval" and el is not None:
            b = number(ev.get("dev_bleu"))
            if b is not None:
                elapsed.append(el)
                tokens.append(seen)
                bleu.append(b)
    return {"elapsed": elapsed, "tokens": tokens, "bleu": bleu, "status": status}


def draw_curve(pi: pg.PlotItem, xs: list, ys: list, color: str, name: str | None, early: bool) -> list:
    """One run's dev BLEU curve; an early end (stopped/pruned/failed) is dashed and ends with a cross."""
    items = []
    pen = pg.mkPen(color, width=2, style=Qt.DashLine if early else Qt.SolidLine)
    items.append(pi.plot(xs, ys, pen=pen, symbol="o", symbolSize=5, symbolBrush=color, symbolPen=color, name=name))
    if early and xs:
        end = pg.ScatterPlotItem([xs[-1]], [ys[-1]], symbol="x", size=14, pen=pg.mkPen(color, width=2),
                                 brush=color)
        pi.addItem(end)
        items.append(end)
    return items


class CompareCurves(QWidget):
    """Dev BLEU per run against training seconds or tokens seen. `set_runs(paths, labels, colors)`."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.paths: list[str] = []
        self.labels: list[str] = []
        self.colors: list[str] = []
        self.curves: list[dict] = []
        self.items: list = []
        self.x_combo = QComboBox()
        for key, text in X_AXES.items():
            self.x_combo.addItem(text, key)
        self.x_combo.setToolTip("x axis: training seconds (the budget's currency) or tokens seen")
        self.x_combo.currentIndexChanged.connect(lambda _: self._draw())
        self.png_btn = QPushButton("Export PNG…")
        self.png_btn.clicked.connect(lambda: save_as(self, "dev BLEU overlay", "dev_bleu_overlay.png", PNG,
                                                     self.export_png))
        self.csv_btn = QPushButton("Export CSV…")
        self.csv_btn.clicked.connect(lambda: save_as(self, "dev BLEU curves", "dev_bleu_curves.csv", CSV,
                                                     self.export_csv))
        self.plot = pg.PlotWidget(background="w")
        pi = self.plot.getPlotItem()
        pi.setTitle("Dev BLEU, all selected runs", size="10pt")
        pi.showGrid(x=True, y=True, alpha=0.25)
        pi.setLabel("left", "dev BLEU-4")
        self.legend = pi.addLegend(offset=(-10, -10))
        bar = QHBoxLayout()
        bar.addWidget(QLabel("x axis"))
        bar.addWidget(self.x_combo)
        bar.addStretch(1)
        bar.addWidget(self.csv_btn)
        bar.addWidget(self.png_btn)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(self.plot, 1)
        self._draw()

    @property
    def x_axis(self) -> str:
        return self.x_combo.currentData()

    def set_x_axis(self, key: str) -> None:
        self.x_combo.setCurrentIndex(list(X_AXES).index(key))

    def set_runs(self, paths: list, labels: list[str] | None = None, colors: list[str] | None = None) -> None:
        self.paths = [os.fspath(p) for p in paths]
        self.labels = list(labels) if labels and len(labels) == len(self.paths) else [
            os.path.basename(p) for p in self.paths]
        self.colors = list(colors) if colors and len(colors) == len(self.paths) else [
            COLORS[i % len(COLORS)] for i in range(len(self.paths))]
        self.curves = [dev_curve(p) for p in self.paths]
        self._draw()

    def _draw(self) -> None:
        pi = self.plot.getPlotItem()
        pi.clear()
        self.legend.clear()
        self.items = []
        key = self.x_axis
        pi.setLabel("bottom", X_AXES[key])
        for c, label, color in zip(self.curves, self.labels, self.colors):
            early = c["status"] in EARLY
            self.items += draw_curve(pi, c[key], c["bleu"], color, label + (f" ({c['status']})" if early else ""),
                                     early)
        if not any(c["bleu"] for c in self.curves):
            pi.setTitle("Dev BLEU, all selected runs (no dev evaluation yet)", size="10pt")
        else:
            pi.setTitle("Dev BLEU, all selected runs", size="10pt")

    def series(self) -> list[tuple[str, list, list]]:
        """What is drawn: (label, x, dev BLEU) per run."""
        return [(label, list(c[self.x_axis]), list(c["bleu"])) for c, label in zip(self.curves, self.labels)]

    def export_csv(self, path) -> None:
        """run,status,elapsed,tokens_seen,dev_bleu: one row per dev evaluation of every run."""
        with open(os.fspath(path), "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["run", "status", "elapsed", "tokens_seen", "dev_bleu"])
            for c, label in zip(self.curves, self.labels):
                for e, t, b in zip(c["elapsed"], c["tokens"], c["bleu"]):
                    w.writerow([label, c["status"], repr(e), int(t), repr(b)])

    def export_png(self, path) -> None:
        plot_to_png(self.plot, path)
