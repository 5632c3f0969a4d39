"""Live training plots: loss (log-y, raw + EMA + dev), learning rate (actual + planned ahead), dev BLEU-4 and one of
throughput / gradient norm / MFU.

The widget observes a RunState. New data only sets a dirty flag; a single-shot QTimer redraws at most ~15 times a
second. Everything derived from the step series is kept incrementally (only new rows are looked at): the points of
each curve, the EMA of the training loss (recomputed, vectorised, only when the smoothing changes or rows were
dropped) and, per chunk of CHUNK points, each curve's min and max (cramgui.curves).

Where the rest lives: the plot items, names and caveats in cramgui.plot_items; the per-pixel-column decimation of the
curves in cramgui.plot_drawing; the crosshair and hover readout in cramgui.plot_readout; the right-click menu and
the PNG / CSV exports in cramgui.plot_export. The axes (which draw the translucent grid, most of a repaint) are
cached as device pixels and repainted only when they change.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QMenu, QStackedWidget, QToolButton, QVBoxLayout, QWidget

from .curves import (DECIMATE_ABOVE, _LossCache, _Series, _Track, _XYCache, decimate,  # noqa: F401
                     ema, smooth)  # re-exported: the plots' public helpers
from engine.contract.events import number

from .axes import TimeAxis
from .config_fields import DoubleSpinBox
from .lr_plan import planned_lr
from .plot_drawing import CurveDrawing, _edges  # noqa: F401
from .plot_export import PlotMenuExport
from .plot_items import (CAVEAT_DEFAULT, CAVEATS, EXTRA_PLOTS, HEADS, HOVER_HINT, MIN_COLUMNS,  # noqa: F401
                         OVERDRAW, PLOTS, REDRAW_INTERVAL_MS, SETTINGS_SMOOTHING, SMOOTHING_CHOICES, TITLES, X_LABELS,
                         X_MODES, _curve, _MenuViewBox, _nan, _plot, legend_title)
from .plot_readout import HoverReadout
from .run_card import RunCard
from .run_state import RunState


class TrainingPlots(CurveDrawing, HoverReadout, PlotMenuExport, QWidget):
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
        self._add_crosshairs()
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
