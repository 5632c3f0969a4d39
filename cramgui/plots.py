"""Live training plots: loss (log-y, raw + EMA + dev), learning rate (actual + planned ahead), throughput.

The widget observes a RunState. New data only sets a dirty flag; a single-shot QTimer redraws at most ~15 times a
second. Everything derived from the step series is kept incrementally (only new rows are looked at): the points of
each curve, the EMA of the training loss (recomputed, vectorised, only when the smoothing changes or rows were
dropped) and, per chunk of CHUNK points, each curve's min and max.

Curves are decimated before pyqtgraph sees them. When more than DECIMATE_ABOVE of a curve's points fall in the x
range shown, that range is cut at the boundaries of the device pixels it covers and each pixel column keeps the
first minimum and the first maximum of its points (real data points, in order), plus the first and last point shown
and one neighbour outside on either side. A line drawn at that resolution shows each column's vertical extent and
nothing else, so the plot is the same while pyqtgraph bounds, maps (log y) and paints a few thousand points, not
millions. A translucent pen (the raw loss) darkens where segments overlap, so its columns keep OVERDRAW runs' min
and max instead: the band as dense as drawing every point. With auto-range on, the view is first fitted to the
data's extents so the cut follows its pixels; the cut is redone when the x range or the plot's size changes (zoom,
pan, resize) and at the image's pixels for PNG exports. pyqtgraph's own downsampling / clip-to-view serve only where
this cannot apply: x not sorted, or the FFT / derivative / phase-map / subtract-mean transforms of the plot menu,
which need every point.

The axes (which draw the translucent grid, most of a repaint) are cached as device pixels and repainted only when
they change.
"""
from __future__ import annotations

import html
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QSettings, Qt, QTimer
from PySide6.QtGui import QActionGroup, QPen
from PySide6.QtWidgets import (QComboBox, QGraphicsItem, QHBoxLayout, QLabel, QMenu, QStackedWidget,
                               QToolButton, QVBoxLayout, QWidget)

from .curves import (DECIMATE_ABOVE, _LossCache, _Series, _Track, _XYCache, decimate,  # noqa: F401
                     ema, smooth)  # re-exported: the plots' public helpers
from engine.contract.events import number

from .axes import LogAxis, TimeAxis
from .config_fields import DoubleSpinBox
from .export import CSV, PNG, evals_to_csv, history_to_csv, plot_to_png, save_as
from .formatting import hms, loss as fmt_loss
from .lr_plan import planned_lr
from .run_card import RunCard
from .run_state import RunState

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


# -- widget -----------------------------------------------------------------------------------------------------
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


class TrainingPlots(QWidget):
    def __init__(self, state: RunState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.x_mode = "step"
        self.alpha = 0.9
        self._cache = _LossCache()
        self._lr = _XYCache("lr")
        self._tps = _XYCache("tokens_per_s")
        self._dirty = False
        self._dev_hidden = 0
        self._drawn: dict[str, tuple] = {}            # plot -> (the cut its curves were drawn for, data versions)
        self._export: tuple[float, float] | None = None   # while exporting: (scene x of the image's left, scale)
        self._busy: set[str] = set()                # plots being drawn (their own view changes are ignored)
        self._extents: dict[str, tuple] = {}         # plot -> the data extents its view was last fitted to
        self._refit: dict[str, tuple] = {}           # plot -> the extents a deferred fit was last asked for

        self.x_combo = QComboBox()
        self.x_combo.addItems(X_MODES)
        self.x_combo.setToolTip("x axis: optimizer step or training time (dev-eval pauses excluded)")
        self.x_combo.currentTextChanged.connect(self.set_x_axis)
        self.smooth_spin = DoubleSpinBox()
        self.smooth_spin.setRange(0.0, 0.999)
        self.smooth_spin.setDecimals(3)
        self.smooth_spin.setSingleStep(0.05)
        self.smooth_spin.setValue(self.alpha)
        self.smooth_spin.setToolTip("EMA smoothing of the training loss (0 = raw, 0.999 = very smooth), de-biased "
                                    "so the start is not pulled toward the first value; Compare uses the same")
        self.smooth_spin.valueChanged.connect(self.set_smoothing)
        self.smooth_spin.valueChanged.connect(self._remember_smoothing)
        self.extra_combo = QComboBox()
        self.extra_combo.addItems([TITLES[n] for n in EXTRA_PLOTS])
        self.extra_combo.setToolTip("What the lower-right plot shows: throughput, gradient norm (before clipping) or "
                                    "model FLOPs utilisation")
        self.hover_label = QLabel()
        self.hover_label.setObjectName("hoverReadout")
        self.hover_label.setTextFormat(Qt.PlainText)
        self.hover_label.setStyleSheet("color: #333;")
        self.hover_label.setToolTip("Values at the crosshair (move the mouse over a plot)")
        self.hover_label.setText(HOVER_HINT)
        self.masked_label = QLabel()
        self.masked_label.setStyleSheet("color: #a05a00;")
        self.masked_label.setToolTip("Log-scale plots cannot show values <= 0; missing (NaN) values are skipped")
        self.masked_label.hide()
        self.export_button = QToolButton()
        self.export_button.setText("Export PNG")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        for which in PLOTS:
            menu.addAction(f"{TITLES[which]} plot…", lambda w=which: self._export_dialog(w))
        self.export_button.setMenu(menu)

        bar = QHBoxLayout()
        bar.addWidget(QLabel("x axis:"))
        bar.addWidget(self.x_combo)
        bar.addSpacing(12)
        bar.addWidget(QLabel("smoothing:"))
        bar.addWidget(self.smooth_spin)
        bar.addSpacing(12)
        bar.addWidget(QLabel("lower right:"))
        bar.addWidget(self.extra_combo)
        bar.addSpacing(12)
        bar.addWidget(self.masked_label)
        bar.addStretch(1)
        bar.addWidget(self.export_button)

        menu_for = {n: (lambda pos, n=n: self.context_menu(n).popup(pos)) for n in PLOTS}
        self._pw = {"loss": _plot("Loss", "loss (log)", menu_for["loss"], log_y=True),
                    "lr": _plot("Learning rate", "lr", menu_for["lr"]),
                    "throughput": _plot("Throughput", "tokens/s", menu_for["throughput"]),
                    "grad_norm": _plot("Gradient norm", "‖g‖ (log)", menu_for["grad_norm"], log_y=True),
                    "mfu": _plot("MFU", "% of peak", menu_for["mfu"]),
                    "bleu": _plot("Dev BLEU-4", "BLEU-4", menu_for["bleu"])}
        lp = self._pw["loss"].getPlotItem()
        lp.setLogMode(x=False, y=True)
        self.loss_raw = _curve(lp, None, pen=pg.mkPen((70, 110, 200, 70), width=1))
        self.loss_ema = _curve(lp, None, pen=pg.mkPen((30, 70, 180), width=2))
        self.dev_loss = lp.plot([], [], pen=None, symbol="o", symbolSize=7, symbolBrush=(220, 90, 30),
                                symbolPen="w")
        self.legends = {"loss": [("━", "#9fb4e0", "train"), ("━", "#1e46b4", "train (EMA)"),
                                 ("●", "#dc5a1e", "dev")]}
        rp = self._pw["lr"].getPlotItem()
        self.lr_curve = _curve(rp, None, pen=pg.mkPen((40, 140, 60), width=2))
        self.lr_planned = _curve(rp, None, pen=pg.mkPen((40, 140, 60, 160), width=2, style=Qt.PenStyle.DashLine))
        self.legends["lr"] = [("━", "#288c3c", "actual"), ("╍", "#288c3c", "plan")]
        rp.getAxis("left").enableAutoSIPrefix(False)        # 0.0002, not "x1e-06" on the axis label
        tp = self._pw["throughput"].getPlotItem()
        self.tps_curve = _curve(tp, None, pen=pg.mkPen((150, 60, 160), width=1))
        gp = self._pw["grad_norm"].getPlotItem()
        gp.setLogMode(x=False, y=True)
        self.grad_curve = _curve(gp, None, pen=pg.mkPen((120, 90, 30), width=1))
        mp = self._pw["mfu"].getPlotItem()
        self.mfu_curve = _curve(mp, None, pen=pg.mkPen((30, 130, 150), width=1))
        bp = self._pw["bleu"].getPlotItem()
        self.bleu_curve = bp.plot([], [], pen=pg.mkPen((200, 120, 0), width=2), symbol="o", symbolSize=6,
                                  symbolBrush=(200, 120, 0), symbolPen="w")
        self.best_marker = bp.plot([], [], pen=None, symbol="star", symbolSize=16, symbolBrush=(230, 30, 30),
                                   symbolPen=(120, 0, 0))
        self.legends["bleu"] = [("●", "#c87800", "dev"), ("★", "#e61e1e", "best")]
        for name, entries in self.legends.items():
            self._pw[name].getPlotItem().setTitle(legend_title(HEADS.get(name, TITLES[name]), entries),
                                                  size="10pt", justify="left")
        self._grad = _XYCache("grad_norm", positive=True)
        self._mfu = _XYCache("mfu", scale=100.0)
        self._resume_lines: dict[str, list[pg.InfiniteLine]] = {n: [] for n in PLOTS}
        # the crosshair: a vertical line on every plot at the same x, a horizontal one on the plot under the mouse
        self._vlines = {}
        self._hline = {}
        for name, pw in self._pw.items():
            pi = pw.getPlotItem()
            v = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen((90, 90, 90, 150), width=1))
            h = pg.InfiniteLine(angle=0, movable=False, pen=pg.mkPen((90, 90, 90, 110), width=1))
            for line in (v, h):
                line.hide()
                pi.addItem(line, ignoreBounds=True)
            self._vlines[name], self._hline[name] = v, h
            pw.scene().sigMouseMoved.connect(lambda pos, n=name: self._on_mouse(n, pos))
        self.hover: dict | None = None
        # decimation follows the view: zoom / pan / resize, log x and the transforms that need every point
        for name, pw in self._pw.items():
            pi = pw.getPlotItem()
            pi.getViewBox().sigXRangeChanged.connect(lambda *_, n=name: self._view_changed(n))
            pi.getViewBox().sigResized.connect(lambda *_, n=name: self._view_changed(n))
            for check in (pi.ctrl.logXCheck, pi.ctrl.fftCheck, pi.ctrl.derivativeCheck, pi.ctrl.phasemapCheck,
                          pi.ctrl.subtractMeanCheck):
                check.toggled.connect(lambda *_, n=name: self._view_changed(n, force=True))

        self.extra = QStackedWidget()
        for n in EXTRA_PLOTS:
            self.extra.addWidget(self._pw[n])
        self.extra_combo.currentIndexChanged.connect(self.extra.setCurrentIndex)
        self.extra_combo.currentIndexChanged.connect(lambda i: self._draw(EXTRA_PLOTS[i], force=True))
        lower = QHBoxLayout()
        lower.addWidget(self._pw["bleu"])
        lower.addWidget(self._pw["lr"])
        lower.addWidget(self.extra)
        self.run_card = RunCard(state)           # the run's identity and usage, above the plots
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.run_card)
        layout.addWidget(self._pw["loss"], 3)
        layout.addWidget(self.hover_label)
        layout.addLayout(lower, 2)
        self._set_axis_labels()

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REDRAW_INTERVAL_MS)
        self._timer.timeout.connect(self._on_timer)
        state.progressed.connect(self._mark_dirty)
        state.started.connect(self._mark_dirty)
        state.reset_signal.connect(self._mark_dirty)
        state.finished.connect(self._mark_dirty)
        self.redraw_now()

    # -- public API -----------------------------------------------------------------------------------------
    def plot_widgets(self) -> dict[str, pg.PlotWidget]:
        return dict(self._pw)

    def set_x_axis(self, mode: str) -> None:
        if mode not in X_MODES:
            raise ValueError(f"x axis must be one of {X_MODES}, not {mode!r}")
        if self.x_combo.currentText() != mode:
            self.x_combo.setCurrentText(mode)     # re-enters through currentTextChanged
            return
        if mode != self.x_mode:
            self.x_mode = mode
            self._set_axis_labels()
            for pw in self._pw.values():
                pw.getPlotItem().enableAutoRange()
            self.redraw_now()

    def set_smoothing(self, alpha: float) -> None:
        alpha = float(min(max(alpha, 0.0), 0.999))
        if abs(self.smooth_spin.value() - alpha) > 1e-9:
            self.smooth_spin.setValue(alpha)      # re-enters through valueChanged
            return
        if alpha != self.alpha:
            self.alpha = alpha
            self.redraw_now()

    def show_extra(self, which: str) -> None:
        """Which plot the lower-right place shows: throughput, grad_norm or mfu."""
        self.extra_combo.setCurrentIndex(EXTRA_PLOTS.index(which))

    def restore_settings(self) -> None:
        """The smoothing chosen last time (QSettings, organisation "cramgui")."""
        v = QSettings("cramgui", "cramgui").value(SETTINGS_SMOOTHING, None)
        try:
            if v is not None:
                self.set_smoothing(float(v))
        except (TypeError, ValueError):
            pass

    def _remember_smoothing(self, v: float) -> None:
        QSettings("cramgui", "cramgui").setValue(SETTINGS_SMOOTHING, float(v))

    def run_name(self) -> str:
        card = self.state.card()
        return str(card.get("name") or "")

    def caption(self, which: str) -> str:
        """What an exported image says under the plot: the run, and what its numbers can be compared with."""
        run = self.run_name() or "unnamed run"
        where = f" ({self.state.run_dir})" if self.state.run_dir else ""
        return f"{run}{where}. {CAVEATS.get(which, CAVEAT_DEFAULT)}"

    def export_png(self, which: str, path) -> None:
        if which not in self._pw:
            raise ValueError(f"which must be one of {PLOTS}, not {which!r}")
        pw = self._pw[which]
        pi = pw.getPlotItem()
        title = pi.titleLabel.text
        run = self.run_name()
        head = legend_title(TITLES[which], self.legends[which]) if which in self.legends else f"<b>{TITLES[which]}</b>"
        pi.setTitle(f"{html.escape(run)} — {head}" if run else head, size="10pt", justify="left")
        caption = pg.LabelItem(html.escape(self.caption(which)), size="8pt", color="#444", justify="left")
        caption.setObjectName("exportCaption")
        pi.layout.addItem(caption, 5, 0, 1, 3)
        self.export_caption = caption.text            # what the last export drew (tests)
        self.export_title = pi.titleLabel.text
        for line in (self._vlines[which], self._hline[which]):
            line.hide()
        try:
            self._export_png(which, path)
        finally:
            pi.layout.removeItem(caption)
            caption.setParentItem(None)
            if caption.scene() is not None:
                caption.scene().removeItem(caption)
            pi.setTitle(title, size="10pt", justify="left")

    def export_csv(self, which: str, path) -> None:
        """The data behind a plot: the dev evaluations for the BLEU plot, every logged step for the others."""
        if which == "bleu":
            evals_to_csv(self.state, path)
        else:
            history_to_csv(self.state, path)

    def reset_zoom(self, which: str | None = None) -> None:
        for name in ([which] if which else PLOTS):
            self._pw[name].getPlotItem().enableAutoRange()
        self.redraw_now()

    def set_log_y(self, which: str, on: bool) -> None:
        pi = self._pw[which].getPlotItem()
        pi.setLogMode(x=False, y=bool(on))
        pi.enableAutoRange()
        self.redraw_now()

    def is_log_y(self, which: str) -> bool:
        return bool(self._pw[which].getPlotItem().getAxis("left").logMode)

    def context_menu(self, which: str) -> QMenu:
        """The plot's right-click menu: this app's actions only."""
        menu = QMenu(self)
        menu.setObjectName(f"plotMenu_{which}")
        menu.addAction("Export PNG…", lambda: self._export_dialog(which))
        menu.addAction("Export CSV…", lambda: self._export_csv_dialog(which))
        menu.addSeparator()
        menu.addAction("Reset zoom", lambda: self.reset_zoom(which))
        log = menu.addAction("Log y axis")
        log.setCheckable(True)
        log.setChecked(self.is_log_y(which))
        log.toggled.connect(lambda on: self.set_log_y(which, on))
        xs = menu.addMenu("x axis")
        group = QActionGroup(xs)
        for mode, text in (("step", "optimizer step"), ("elapsed", "training time")):
            a = xs.addAction(text, lambda m=mode: self.set_x_axis(m))
            a.setCheckable(True)
            a.setChecked(self.x_mode == mode)
            group.addAction(a)
        if which == "loss":
            sm = menu.addMenu("Smoothing")
            group = QActionGroup(sm)
            for alpha in SMOOTHING_CHOICES:
                a = sm.addAction("off" if alpha == 0 else f"{alpha:g}", lambda v=alpha: self.smooth_spin.setValue(v))
                a.setCheckable(True)
                a.setChecked(abs(self.alpha - alpha) < 1e-9)
                group.addAction(a)
        return menu

    def readout_at(self, x: float) -> dict | None:
        """The values nearest to x (in the current x units): step, time, raw loss, EMA, dev loss, LR."""
        xs = self._x()
        if not len(xs) or not np.isfinite(xs).any():
            return None
        i = int(np.nanargmin(np.abs(xs - x)))
        s = self.state.steps
        out = {"step": _finite(s.view("step")[i]), "elapsed": _finite(s.view("elapsed")[i]),
               "loss": _finite(s.view("loss")[i]), "lr": _finite(s.view("lr")[i]),
               "grad_norm": _finite(s.view("grad_norm")[i]), "ema": None, "dev_loss": None}
        ls = self._cache.series
        if len(ls):
            lx = ls.x.view()
            j = int(np.nanargmin(np.abs(lx - xs[i])))
            out["ema"] = _finite(ls.tracks[1].y.view()[j])
        key = self.x_mode
        before = [e for e in self.state.evals if (number(e.get(key)) or 0.0) <= xs[i] + 1e-9]
        if before:
            out["dev_loss"] = number(before[-1].get("dev_loss"))
            out["dev_bleu"] = number(before[-1].get("dev_bleu"))
        return out

    def readout_text(self, r: dict | None) -> str:
        if not r:
            return ""
        parts = [f"step {int(r['step']):,}" if r.get("step") is not None else "step –",
                 f"time {hms(r.get('elapsed'))}", f"loss {fmt_loss(r.get('loss'))}",
                 f"EMA {fmt_loss(r.get('ema'))}", f"dev loss {fmt_loss(r.get('dev_loss'))}",
                 f"LR {r['lr']:.3g}" if r.get("lr") is not None else "LR –"]
        return "   ".join(parts)

    def hover_at(self, which: str, x: float, y: float | None = None) -> dict | None:
        """Show the crosshair at x (and y on `which`) and the readout of the nearest point."""
        r = self.readout_at(x)
        self.hover = r
        for line in self._vlines.values():
            line.setPos(x)
            line.setVisible(r is not None)
        for name, line in self._hline.items():
            line.setVisible(r is not None and name == which and y is not None)
            if name == which and y is not None:
                line.setPos(y)
        self.hover_label.setText(self.readout_text(r) or HOVER_HINT)
        return r

    def _on_mouse(self, which: str, pos) -> None:
        vb = self._pw[which].getPlotItem().getViewBox()
        if not vb.sceneBoundingRect().contains(pos):
            return
        p = vb.mapSceneToView(pos)
        self.hover_at(which, p.x(), p.y())

    def _export_png(self, which: str, path) -> None:
        pw = self._pw[which]
        if pw.width() < 50 or pw.height() < 50:
            pw.resize(900, 500)                   # as plot_to_png would
        self.redraw_now()
        # curves cut for the image's pixels (plot_to_png renders the plot item at least 1200 px wide, twice the
        # widget's width), the axes drawn directly, not from their screen cache
        src = pw.getPlotItem().sceneBoundingRect()             # what ImageExporter renders
        self._export = (src.left(), max(int(pw.width()) * 2, 1200) / max(src.width(), 1.0))
        axes = [pw.getPlotItem().getAxis(side) for side in ("left", "bottom")]
        try:
            self._draw(which)
            for ax in axes:
                ax.setCacheMode(QGraphicsItem.CacheMode.NoCache)
            plot_to_png(pw, path)
        finally:
            for ax in axes:
                ax.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            self._export = None
            self._draw(which)                     # back to the screen's pixels

    def redraw_now(self) -> None:
        self._timer.stop()
        self._dirty = False
        self._redraw()

    # -- internals ------------------------------------------------------------------------------------------
    def _mark_dirty(self, *_):
        self._dirty = True
        if not self._timer.isActive():
            self._timer.start()

    def _on_timer(self) -> None:
        if self._dirty:
            self._dirty = False
            self._redraw()

    def _set_axis_labels(self) -> None:
        for pw in self._pw.values():
            pi = pw.getPlotItem()
            pi.setLabel("bottom", X_LABELS[self.x_mode])
            axis = pi.getAxis("bottom")
            if isinstance(axis, TimeAxis):
                axis.set_time_mode(self.x_mode == "elapsed")

    def _x(self) -> np.ndarray:
        return self.state.steps.view(self.x_mode)

    def _redraw(self) -> None:
        s = self.state.steps
        x = self._x()
        self._cache.update(s.view("loss"), x, s.generation, self.alpha, self.x_mode)
        self._lr.update(x, s.view("lr"), s.generation, self.x_mode)
        self._tps.update(x, s.view("tokens_per_s"), s.generation, self.x_mode)
        self._grad.update(x, s.view("grad_norm"), s.generation, self.x_mode)
        self._mfu.update(x, s.view("mfu"), s.generation, self.x_mode)
        # the other items first: with auto-range on, the view (and so the columns the curves are cut at) fits them
        evals_key = (len(self.state.evals), id(self.state.evals), self.x_mode)
        if evals_key != getattr(self, "_evals_key", None):      # redrawn only when they change (a repaint)
            self._evals_key = evals_key
            dx, dy = self._dev_points()
            self.dev_loss.setData(dx, dy)
            (bx, by), best = self._bleu_points()
            self.bleu_curve.setData(bx, by)
            self.best_marker.setData(*best)
        self.lr_planned.setData(*self._planned())
        self._draw_resumes()
        shown = EXTRA_PLOTS[self.extra_combo.currentIndex()]
        for name in PLOTS:
            if name in EXTRA_PLOTS and name != shown:
                continue                         # drawn when chosen (the lower-right place shows one of them)
            self._draw(name)
        hidden = self._cache.hidden + self._dev_hidden
        if hidden:
            self.masked_label.setText(f"{hidden} non-positive or missing loss value{'s' if hidden != 1 else ''}"
                                      " hidden (log scale)")
        self.masked_label.setVisible(hidden > 0)

    def _curves(self, name: str) -> tuple[_Series, list[pg.PlotDataItem]]:
        if name == "loss":
            return self._cache.series, [self.loss_raw, self.loss_ema]
        if name == "lr":
            return self._lr.series, [self.lr_curve]
        if name == "grad_norm":
            return self._grad.series, [self.grad_curve]
        if name == "mfu":
            return self._mfu.series, [self.mfu_curve]
        if name == "bleu":
            return _Series(1), []
        return self._tps.series, [self.tps_curve]

    def _decimated(self, name: str) -> bool:
        s, items = self._curves(name)
        return s.ordered and len(s) > DECIMATE_ABOVE and not any(it.opts[m] for it in items for m in _TRANSFORMS)

    def _fit_range(self, name: str) -> bool:
        """With x auto-range on, bring the view to the range the new data will get now, so the columns can be cut
        at its pixels: the curves first get just their extents (the bounds the decimated curves will have).
        True when the curves were given their extents (and so must be drawn again)."""
        vb = self._pw[name].getPlotItem().getViewBox()
        if not vb.autoRangeEnabled()[0]:
            return False
        s, items = self._curves(name)
        x = s.x.view()
        ext = [t.extent() for t in s.tracks]
        key = (float(x[0]), float(x[-1]), tuple(ext))
        changed = key != self._extents.get(name)
        if changed:
            self._extents[name] = key
            for item, (lo, hi) in zip(items, ext):
                item.setData(np.array([x[0], x[-1]]), np.array([lo, hi]))
        vb.updateAutoRange()
        if not self._covers(name, x) and self._refit.get(name) != key:
            # called back from inside the view's own auto-range update, which ignores a nested one: the view is
            # about to fit what the curves held before, so cut them again once it is done (once per data extents)
            self._refit[name] = key
            QTimer.singleShot(0, self, lambda: self._draw(name, force=True))
        return changed

    def _covers(self, name: str, x: np.ndarray) -> bool:
        """Whether the plot's x range holds the data's (all of its positive x on a log axis)."""
        pi = self._pw[name].getPlotItem()
        v0, v1 = pi.getViewBox().viewRange()[0]
        x0, x1 = float(x[0]), float(x[-1])
        if pi.ctrl.logXCheck.isChecked():
            if x1 <= 0:
                return True
            x0 = float(x[int(np.searchsorted(x, 0.0, "right"))])
            v0, v1 = 10.0 ** v0, 10.0 ** v1
        return v0 <= x0 and x1 <= v1

    def _cut(self, name: str) -> tuple:
        """Where the plot's x range lies in device pixels now: ("px", v0, v1, d0, d1, log_x), view range v0..v1
        (log10 x when log_x) drawn from device x d0 to d1 (on screen; in an export, in the image); or ("even", x0,
        x1, columns, log_x) while the plot has no usable size (never shown)."""
        pw = self._pw[name]
        pi = pw.getPlotItem()
        vb = pi.getViewBox()
        log_x = pi.ctrl.logXCheck.isChecked()
        v0, v1 = (float(v) for v in vb.viewRange()[0])
        s0 = vb.mapViewToScene(QPointF(v0, 0.0)).x()
        s1 = vb.mapViewToScene(QPointF(v1, 0.0)).x()
        if self._export is not None:
            origin, scale = self._export
            d0, d1 = (s0 - origin) * scale, (s1 - origin) * scale
        else:
            t = pw.viewportTransform()
            dpr = pw.devicePixelRatioF()
            d0, d1 = (s0 * t.m11() + t.m31()) * dpr, (s1 * t.m11() + t.m31()) * dpr
        if v1 > v0 and d1 - d0 >= 50 and all(map(math.isfinite, (v0, v1, d0, d1))):
            return "px", v0, v1, d0, d1, log_x
        s, _ = self._curves(name)
        x = s.x.view()
        x0 = float(x[0])
        if log_x and x0 <= 0:
            x0 = float(x[min(int(np.searchsorted(x, 0.0, "right")), len(x) - 1)])
        return "even", x0, float(x[-1]), MIN_COLUMNS, log_x

    def _draw(self, name: str, force: bool = False) -> None:
        if name in self._busy:
            return                               # a view change caused by this very redraw
        self._busy.add(name)
        try:
            s, items = self._curves(name)
            decimated = self._decimated(name)
            if decimated and self._fit_range(name):
                force = True
            cut = self._cut(name) if decimated else None
            key = (cut, tuple(t.version for t in s.tracks))
            if key == self._drawn.get(name) and not force:
                return                           # same data, same view: nothing to redo
            self._drawn[name] = key
            x = s.x.view()
            for item, t in zip(items, s.tracks):
                if cut is None:
                    p = slice(0, len(s))
                else:
                    # A translucent pen darkens where segments overlap: drawn from every point the raw loss is a
                    # dense band, from two points per pixel a faint, streaky one. OVERDRAW runs per pixel keep the
                    # density, and the look, of drawing every point (pyqtgraph's peak downsampling kept ~10).
                    p = decimate(x, t, _edges(cut), OVERDRAW if _translucent(item) else 1)
                # pyqtgraph's own data reduction only where ours cannot apply (x not sorted, transforms)
                native = cut is None and len(s) > DECIMATE_ABOVE
                if item.opts["autoDownsample"] != native:
                    item.setDownsampling(auto=native, method="peak")
                if item.opts["clipToView"] != (native and s.ordered):
                    item.setClipToView(native and s.ordered)
                item.setData(np.array(x[p]), np.array(t.y.view()[p]))
            if (cut is None or not self._pw[name].getPlotItem().getViewBox().autoRangeEnabled()[0]
                    or not self._covers(name, x)):
                self._extents.pop(name, None)     # the curves may not span the data's extents
        finally:
            self._busy.discard(name)

    def _view_changed(self, name: str, force: bool = False) -> None:
        self._draw(name, force)

    def _dev_points(self) -> tuple[np.ndarray, np.ndarray]:
        key = "step" if self.x_mode == "step" else "elapsed"
        xs = np.array([_nan(number(e.get(key))) for e in self.state.evals], dtype=np.float64)
        ys = np.array([_nan(number(e.get("dev_loss"))) for e in self.state.evals], dtype=np.float64)
        ok = np.isfinite(ys) & (ys > 0)
        self._dev_hidden = int(np.count_nonzero(~ok))
        ok &= np.isfinite(xs)
        return xs[ok], ys[ok]

    def bleu_points(self) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        return self._bleu_points()

    def _bleu_points(self):
        """Dev BLEU of every dev evaluation against x, and the best checkpoint's point (the last evaluation the
        engine marked best, else the highest)."""
        key = "step" if self.x_mode == "step" else "elapsed"
        pts = [(number(e.get(key)), number(e.get("dev_bleu")), e.get("best") is True) for e in self.state.evals]
        pts = [p for p in pts if p[0] is not None and p[1] is not None]
        if not pts:
            return (np.empty(0), np.empty(0)), (np.empty(0), np.empty(0))
        xs = np.array([p[0] for p in pts])
        ys = np.array([p[1] for p in pts])
        marked = [i for i, p in enumerate(pts) if p[2]]
        b = marked[-1] if marked else int(np.argmax(ys))
        return (xs, ys), (xs[b:b + 1], ys[b:b + 1])

    def resume_positions(self) -> list[float]:
        """Where resumed sessions started, in the current x units."""
        key = "step" if self.x_mode == "step" else "elapsed"
        return [v for v in (number(e.get(key)) for e in self.state.resumes) if v is not None]

    def _draw_resumes(self) -> None:
        xs = self.resume_positions()
        for name, pw in self._pw.items():
            lines = self._resume_lines[name]
            pi = pw.getPlotItem()
            while len(lines) > len(xs):
                pi.removeItem(lines.pop())
            while len(lines) < len(xs):
                line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen((120, 120, 120), width=1,
                                                                            style=Qt.PenStyle.DashLine),
                                       label="resumed" if name == "loss" else None,
                                       labelOpts={"position": 0.95, "color": (90, 90, 90), "anchors": [(0, 0), (0, 0)]})
                pi.addItem(line, ignoreBounds=True)
                lines.append(line)
            for line, x in zip(lines, xs):
                line.setPos(x)

    def _planned(self) -> tuple[np.ndarray, np.ndarray]:
        """The schedule from the last logged point to the run's end, in the current x units (cramgui.lr_plan)."""
        st = self.state.status
        return planned_lr(self.state.schedule, st.get("step"), st.get("elapsed"), st.get("budget_seconds"),
                          self.x_mode)

    def _export_dialog(self, which: str) -> str | None:
        return save_as(self, f"{TITLES[which]} plot (PNG)", f"{which}.png", PNG,
                       lambda path: self.export_png(which, path), folder=self.state.run_dir)

    def _export_csv_dialog(self, which: str) -> str | None:
        name = "dev_evals.csv" if which == "bleu" else "history.csv"
        return save_as(self, f"{TITLES[which]} data (CSV)", name, CSV,
                       lambda path: self.export_csv(which, path), folder=self.state.run_dir)


def _edges(cut: tuple) -> np.ndarray:
    """Column edges in x for a cut (TrainingPlots._cut): the boundaries of the device pixels the view covers (a
    line's point at device x lands in pixel floor(x))."""
    if cut[0] == "even":
        _, x0, x1, columns, log_x = cut
        if log_x:
            return 10.0 ** np.linspace(math.log10(x0), math.log10(x1), columns + 1)
        return np.linspace(x0, x1, columns + 1)
    _, v0, v1, d0, d1, log_x = cut
    # (rounding noise in the view's mapping, 991.0000000000005, must not add a pixel column beyond the view)
    dev = np.arange(math.floor(d0 + 1e-6), math.ceil(d1 - 1e-6) + 1, dtype=np.float64)
    v = v0 + (dev - d0) * ((v1 - v0) / (d1 - d0))
    if abs(dev[0] - d0) < 1e-6:
        v[0] = v0                        # the view's own ends, exactly
    if abs(dev[-1] - d1) < 1e-6:
        v[-1] = v1
    return 10.0 ** v if log_x else v


def _finite(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def _nan(v: float | None) -> float:
    return math.nan if v is None else v


def _translucent(item: pg.PlotDataItem) -> bool:
    pen = item.opts.get("pen")
    return isinstance(pen, QPen) and pen.color().alpha() < 255
