"""The pieces the live training plots are built from (cramgui.plots lays them out): the plot names, titles and
caveats, a PlotWidget with the console's own right-click menu (not pyqtgraph's) and cached axes, the title that is
also the legend, empty curve items, and small value helpers."""
from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtGui import QPen
from PySide6.QtWidgets import QGraphicsItem

from .axes import LogAxis, TimeAxis

REDRAW_INTERVAL_MS = 66          # <= 15 Hz
X_MODES = ("step", "elapsed")
X_LABELS = {"step": "optimizer step", "elapsed": "training time (h:mm:ss)"}
PLOTS = ("loss", "lr", "throughput", "grad_norm", "mfu", "bleu")
TITLES = {"loss": "Loss", "lr": "Learning rate", "throughput": "Throughput", "grad_norm": "Gradient norm",
          "mfu": "MFU", "bleu": "Dev BLEU-4"}
HEADS = {"lr": "LR"}                                  # shorter on screen, where the title row is also the legend
EXTRA_PLOTS = ("throughput", "grad_norm", "mfu")     # the lower-right plot shows one of these
HOVER_HINT = "Move the mouse over a plot: step, time, loss, EMA, dev loss and LR at the crosshair."
SMOOTHING_CHOICES = (0.0, 0.6, 0.8, 0.9, 0.95, 0.99)
SETTINGS_SMOOTHING = "plots/smoothing"
CAVEATS = {
    "loss": "Training loss per real target token (this run's tokenizer); dev loss on the dev subset. Loss values "
            "are not comparable across tokenizers or vocabularies.",
    "bleu": "Dev BLEU-4 on the dev subset during training (eval.dev_subset examples per language): not comparable "
            "with published test-set BLEU-4.",
}
CAVEAT_DEFAULT = "Training-time measurements of this run only: not comparable with other hardware or settings."
MIN_COLUMNS = 200                # columns while a plot has no usable size
OVERDRAW = 8                     # runs per pixel column for a translucent pen (see TrainingPlots._draw)
_TRANSFORMS = ("fftMode", "derivativeMode", "phasemapMode", "subtractMeanMode")   # need every point


class _MenuViewBox(pg.ViewBox):
    """A ViewBox whose right-click menu is the console's (export, reset zoom, log/linear, smoothing, x axis), not
    pyqtgraph's (FFT, derivative, ...)."""

    def __init__(self, on_menu, **kw):
        super().__init__(**kw)
        self._on_menu = on_menu

    def raiseContextMenu(self, ev):  # noqa: N802 (pyqtgraph's name)
        self._on_menu(ev.screenPos().toPoint())
        ev.accept()


def _plot(title: str, left: str, on_menu=None, log_y: bool = False) -> pg.PlotWidget:
    axes = {"bottom": TimeAxis("bottom")}
    if log_y:
        axes["left"] = LogAxis("left")
    vb = _MenuViewBox(on_menu) if on_menu is not None else None
    pw = pg.PlotWidget(background="w", axisItems=axes, viewBox=vb)
    pi = pw.getPlotItem()
    pi.setTitle(title, size="10pt", justify="left")
    pi.setLabel("left", left)
    pi.showGrid(x=True, y=True, alpha=0.25)
    pi.getAxis("bottom").enableAutoSIPrefix(False)
    pi.getAxis("left").setWidth(64)          # room for "50000"-wide tick labels; keeps the plots aligned
    for side in ("left", "bottom"):
        # the grid is drawn by the axes with translucent lines, which the raster engine blends pixel by pixel:
        # most of a repaint. Cached as device pixels, it is redrawn only when the axis itself changes.
        pi.getAxis(side).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    return pw


def legend_title(title: str, entries: list[tuple[str, str, str]]) -> str:
    """A plot title that is also its legend: "Loss  ━ train  ━ EMA  ● dev", each mark in its curve's colour. It
    sits in the title row, above the data area, so it never covers a curve. Entries: (mark, colour, name)."""
    marks = "&nbsp;&nbsp;".join(f"<span style='color:{c}'>{m}</span>&nbsp;{n}" for m, c, n in entries)
    return f"<b>{title}</b>&nbsp;&nbsp;<span style='font-size:8pt'>{marks}</span>"


def _curve(pi: pg.PlotItem, name: str | None, **kw) -> pg.PlotDataItem:
    return pi.plot([], [], name=name, **kw)


def _finite(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def _nan(v: float | None) -> float:
    return math.nan if v is None else v


def _translucent(item: pg.PlotDataItem) -> bool:
    pen = item.opts.get("pen")
    return isinstance(pen, QPen) and pen.color().alpha() < 255
