"""The live plots' crosshair and hover readout (cramgui.plots.TrainingPlots mixes this in): a vertical line on
every plot at the same x, a horizontal one on the plot under the mouse, and one plain-text line with the step,
time, loss, EMA, dev loss and LR of the nearest logged point."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from engine.contract.events import number

from .formatting import hms, loss as fmt_loss
from .plot_items import HOVER_HINT, _finite


class HoverReadout:
    """The crosshair part of TrainingPlots: uses its _pw, state, x_mode, _cache and hover_label."""

    def _add_crosshairs(self) -> None:
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
