"""Live training plots: loss (log-y, raw + EMA + dev), learning rate (actual + planned ahead), throughput.

The widget observes a RunState. New data only sets a dirty flag; a single-shot QTimer redraws at most ~15 times a
second. Curves use pyqtgraph's auto 'peak' downsampling and clip-to-view, so a million points stay fluid; the EMA
is kept incrementally (only new points are smoothed, vectorised) and recomputed only when the smoothing changes or
rows were dropped (resume/clear).
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFileDialog, QHBoxLayout, QLabel, QMenu, QToolButton,
                               QVBoxLayout, QWidget)

from .export import plot_to_png
from .run_state import RunState, planned_lr

REDRAW_INTERVAL_MS = 66          # <= 15 Hz
X_MODES = ("step", "elapsed")
X_LABELS = {"step": "optimizer step", "elapsed": "training time (s)"}
PLOTS = ("loss", "lr", "throughput")


# -- EMA --------------------------------------------------------------------------------------------------------
def ema(x: np.ndarray, alpha: float, init: float | None = None) -> np.ndarray:
    """y[t] = alpha * y[t-1] + (1 - alpha) * x[t], y[-1] = init (default: x[0], so y[0] = x[0]). Vectorised in
    blocks short enough that alpha**-block stays well inside float64 precision; x must be finite."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    out = np.empty(n)
    if n == 0:
        return out
    a = float(alpha)
    if a <= 0.0:
        out[:] = x
        return out
    s = float(x[0]) if init is None else float(init)
    block = int(min(65536, max(1, math.floor(8 * math.log(10) / -math.log(a))))) if a < 1.0 else 65536
    if a >= 1.0:
        out[:] = s
        return out
    if block < 32:
        # small alpha: the filter forgets within a few dozen points -> truncated convolution
        k = int(math.ceil(math.log(1e-17) / math.log(a))) + 1
        w = (1.0 - a) * a ** np.arange(k)
        out[:] = np.convolve(x, w)[:n]
        m = min(n, k)
        out[:m] += s * a ** np.arange(1, m + 1)
        return out
    pw = a ** np.arange(1, block + 1)
    inv = 1.0 / pw
    for lo in range(0, n, block):
        xb = x[lo:lo + block]
        m = len(xb)
        yb = pw[:m] * (s + (1.0 - a) * np.cumsum(xb * inv[:m]))
        out[lo:lo + m] = yb
        s = yb[-1]
    return out


class _Grow:
    """A growable 1-D array (amortised O(1) append of chunks)."""

    def __init__(self, dtype=np.float64):
        self.a = np.empty(1024, dtype=dtype)
        self.n = 0

    def extend(self, chunk: np.ndarray) -> None:
        need = self.n + len(chunk)
        if need > len(self.a):
            cap = len(self.a)
            while cap < need:
                cap *= 2
            b = np.empty(cap, dtype=self.a.dtype)
            b[: self.n] = self.a[: self.n]
            self.a = b
        self.a[self.n:need] = chunk
        self.n = need

    def view(self) -> np.ndarray:
        return self.a[: self.n]


class _LossCache:
    """Indices of plottable (finite, > 0) training losses and their EMA, kept incrementally."""

    def __init__(self):
        self.reset(None, 0.9)

    def reset(self, generation, alpha: float) -> None:
        self.generation = generation
        self.alpha = alpha
        self.done = 0                    # rows of the series processed
        self.idx = _Grow(np.int64)
        self.ema = _Grow()
        self.hidden = 0

    def update(self, loss: np.ndarray, generation, alpha: float) -> None:
        if generation != self.generation or alpha != self.alpha or len(loss) < self.done:
            self.reset(generation, alpha)
        if len(loss) == self.done:
            return
        chunk = loss[self.done:]
        ok = np.isfinite(chunk) & (chunk > 0)
        idx = np.flatnonzero(ok) + self.done
        self.hidden += int(len(chunk) - len(idx))
        if len(idx):
            init = self.ema.a[self.ema.n - 1] if self.ema.n else None
            self.ema.extend(ema(loss[idx], alpha, init))
            self.idx.extend(idx)
        self.done = len(loss)


# -- widget -----------------------------------------------------------------------------------------------------
def _plot(title: str, left: str) -> pg.PlotWidget:
    pw = pg.PlotWidget(background="w")
    pi = pw.getPlotItem()
    pi.setTitle(title, size="10pt")
    pi.setLabel("left", left)
    pi.showGrid(x=True, y=True, alpha=0.25)
    pi.setDownsampling(auto=True, mode="peak")
    pi.setClipToView(True)
    pi.getAxis("bottom").enableAutoSIPrefix(False)
    pi.getAxis("left").setWidth(64)          # room for "50000"-wide tick labels; keeps the plots aligned
    return pw


def _curve(pi: pg.PlotItem, name: str | None, **kw) -> pg.PlotDataItem:
    item = pi.plot([], [], name=name, **kw)
    item.setDownsampling(auto=True, method="peak")
    item.setClipToView(True)
    return item


class TrainingPlots(QWidget):
    def __init__(self, state: RunState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.x_mode = "step"
        self.alpha = 0.9
        self._cache = _LossCache()
        self._dirty = False
        self._dev_hidden = 0

        self.x_combo = QComboBox()
        self.x_combo.addItems(X_MODES)
        self.x_combo.setToolTip("x axis: optimizer step or training time (dev-eval pauses excluded)")
        self.x_combo.currentTextChanged.connect(self.set_x_axis)
        self.smooth_spin = QDoubleSpinBox()
        self.smooth_spin.setRange(0.0, 0.999)
        self.smooth_spin.setDecimals(3)
        self.smooth_spin.setSingleStep(0.05)
        self.smooth_spin.setValue(self.alpha)
        self.smooth_spin.setToolTip("EMA smoothing of the training loss (0 = raw, 0.999 = very smooth)")
        self.smooth_spin.valueChanged.connect(self.set_smoothing)
        self.masked_label = QLabel()
        self.masked_label.setStyleSheet("color: #a05a00;")
        self.masked_label.setToolTip("Log-scale plots cannot show values <= 0; missing (NaN) values are skipped")
        self.masked_label.hide()
        self.export_button = QToolButton()
        self.export_button.setText("Export PNG")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        for which in PLOTS:
            menu.addAction(f"{which.capitalize()} plot…", lambda w=which: self._export_dialog(w))
        self.export_button.setMenu(menu)

        bar = QHBoxLayout()
        bar.addWidget(QLabel("x axis:"))
        bar.addWidget(self.x_combo)
        bar.addSpacing(12)
        bar.addWidget(QLabel("smoothing:"))
        bar.addWidget(self.smooth_spin)
        bar.addSpacing(12)
        bar.addWidget(self.masked_label)
        bar.addStretch(1)
        bar.addWidget(self.export_button)

        self._pw = {"loss": _plot("Loss", "loss (log)"), "lr": _plot("Learning rate", "lr"),
                    "throughput": _plot("Throughput", "tokens/s")}
        lp = self._pw["loss"].getPlotItem()
        lp.setLogMode(x=False, y=True)
        lp.addLegend(offset=(-10, 10), labelTextColor=(30, 30, 30))
        self.loss_raw = _curve(lp, "train", pen=pg.mkPen((70, 110, 200, 70), width=1))
        self.loss_ema = _curve(lp, "train (EMA)", pen=pg.mkPen((30, 70, 180), width=2))
        self.dev_loss = lp.plot([], [], name="dev", pen=None, symbol="o", symbolSize=7,
                                symbolBrush=(220, 90, 30), symbolPen="w")
        rp = self._pw["lr"].getPlotItem()
        rp.addLegend(offset=(-10, 10), labelTextColor=(30, 30, 30))
        self.lr_curve = _curve(rp, "actual", pen=pg.mkPen((40, 140, 60), width=2))
        self.lr_planned = _curve(rp, "planned", pen=pg.mkPen((40, 140, 60, 160), width=2,
                                                              style=Qt.PenStyle.DashLine))
        tp = self._pw["throughput"].getPlotItem()
        self.tps_curve = _curve(tp, None, pen=pg.mkPen((150, 60, 160), width=1))

        lower = QHBoxLayout()
        lower.addWidget(self._pw["lr"])
        lower.addWidget(self._pw["throughput"])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self._pw["loss"], 3)
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

    def export_png(self, which: str, path) -> None:
        if which not in self._pw:
            raise ValueError(f"which must be one of {PLOTS}, not {which!r}")
        self.redraw_now()
        plot_to_png(self._pw[which], path)

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
            pw.getPlotItem().setLabel("bottom", X_LABELS[self.x_mode])

    def _x(self) -> np.ndarray:
        return self.state.steps.view(self.x_mode)

    def _redraw(self) -> None:
        s = self.state.steps
        x = self._x()
        loss = s.view("loss")
        self._cache.update(loss, s.generation, self.alpha)
        idx = self._cache.idx.view()
        self.loss_raw.setData(x[idx], loss[idx])
        self.loss_ema.setData(x[idx], self._cache.ema.view().copy())
        dx, dy = self._dev_points()
        self.dev_loss.setData(dx, dy)
        hidden = self._cache.hidden + self._dev_hidden
        if hidden:
            self.masked_label.setText(f"{hidden} non-positive or missing loss value{'s' if hidden != 1 else ''}"
                                      " hidden (log scale)")
        self.masked_label.setVisible(hidden > 0)
        self.lr_curve.setData(*_finite_xy(x, s.view("lr")))
        self.lr_planned.setData(*self._planned())
        self.tps_curve.setData(*_finite_xy(x, s.view("tokens_per_s")))

    def _dev_points(self) -> tuple[np.ndarray, np.ndarray]:
        key = "step" if self.x_mode == "step" else "elapsed"
        xs = np.array([_f(e.get(key)) for e in self.state.evals], dtype=np.float64)
        ys = np.array([_f(e.get("dev_loss")) for e in self.state.evals], dtype=np.float64)
        ok = np.isfinite(ys) & (ys > 0)
        self._dev_hidden = int(np.count_nonzero(~ok))
        ok &= np.isfinite(xs)
        return xs[ok], ys[ok]

    def _planned(self) -> tuple[np.ndarray, np.ndarray]:
        """The schedule from the last logged point to the end of the budget, in the current x units."""
        sched = self.state.schedule
        empty = (np.empty(0), np.empty(0))
        if not sched:
            return empty
        s = self.state.steps
        budget = _f(self.state.status.get("budget_seconds"))
        step_l, el_l, prog_l = _last_row(s)
        linear = sched.get("name") == "linear"
        max_steps = _f(sched.get("max_steps"))
        if linear and not max_steps > 0:
            max_steps = _f(((self.state.config or {}).get("budget") or {}).get("max_steps"))
        if linear:
            if not max_steps > 0:
                return empty
            u0 = (step_l / max_steps) if math.isfinite(step_l) else 0.0
        else:
            u0 = prog_l if math.isfinite(prog_l) else 0.0
        if u0 >= 1.0:
            return empty
        u = np.linspace(u0, 1.0, 256)
        w = _f(sched.get("warmup"))
        kinks = [k for k in (0.75, w) if math.isfinite(k) and u0 < k < 1.0]
        u = np.union1d(u, kinks)
        y = planned_lr(sched, u)
        # convert the schedule coordinate to the x axis
        if linear:
            steps_x = u * max_steps
            if self.x_mode == "step":
                return steps_x, y
            if step_l > 0 and math.isfinite(el_l):
                return el_l * steps_x / step_l, y
            return empty
        if self.x_mode == "elapsed":
            if budget > 0:
                return u * budget, y
            if prog_l > 0 and math.isfinite(el_l):
                return u * el_l / prog_l, y
            return empty
        if prog_l > 0 and math.isfinite(step_l):
            return u * step_l / prog_l, y
        return empty

    def _export_dialog(self, which: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self, f"Export {which} plot", f"{which}.png", "PNG image (*.png)")
        if path:
            self.export_png(which, path)


def _f(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _finite_xy(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ok = np.isfinite(x) & np.isfinite(y)
    return x[ok], y[ok]


def _last_row(s) -> tuple[float, float, float]:
    """Last finite step, elapsed and progress of the series (NaN when none)."""
    out = []
    for c in ("step", "elapsed", "progress"):
        a = s.view(c)[-64:]
        ok = np.flatnonzero(np.isfinite(a))
        out.append(float(a[ok[-1]]) if len(ok) else math.nan)
    return tuple(out)
