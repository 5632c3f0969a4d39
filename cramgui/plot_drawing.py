"""How the live plots draw their curves (cramgui.plots.TrainingPlots mixes this in).

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
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QTimer

from .curves import DECIMATE_ABOVE, _Series, decimate
from .plot_items import _TRANSFORMS, MIN_COLUMNS, OVERDRAW, _translucent


class CurveDrawing:
    """The drawing part of TrainingPlots: uses its _pw, the curve caches (_cache, _lr, _tps, _grad, _mfu), the
    curve items and the _drawn / _busy / _extents / _refit / _export bookkeeping set up in its __init__."""

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
