"""The Sweep view's three plots, drawn from sweep.json and the trials' dev BLEU curves:

- "params": the objective against a varied parameter (log x for log-scaled ranges and for positive values spanning
  a decade or more; text values as categories), one marker kind per trial status;
- "curves": dev BLEU against training time for every trial (a pruned or stopped trial is dashed and ends with a
  cross);
- "best": the best objective so far against sweep time, as a staircase.

Each plot's data exports as CSV (write_plot_csv) with floats in repr, so they read back exactly.
"""
from __future__ import annotations

import csv
import math
import os

import pyqtgraph as pg

from engine.contract.events import number

from .compare_curves import draw_curve
from .sweep_table import STATUS_COLORS, trial_color

# key: (title, left axis, bottom axis)
PLOTS = {"params": ("Objective by parameter", "objective", ""),
         "curves": ("Dev BLEU per trial", "dev BLEU-4", "training time (s)"),
         "best": ("Best objective so far", "best objective", "sweep time (s)")}
POINT_STATUSES = ("completed", "pruned", "running", "interrupted")


def log_scaled(sweep: dict, name: str) -> bool:
    """A log range, or positive numeric values spanning a factor of 10 or more."""
    for p in (sweep.get("spec") or {}).get("params", []):
        if isinstance(p, dict) and p.get("name") == name:
            if p.get("log") is True:
                return True
            vals = [number(v) for v in (p.get("values") or [])]
            if vals and all(v is not None and v > 0 for v in vals):
                return max(vals) / min(vals) >= 10
    return False


def best_so_far(sweep: dict) -> list[tuple[float, float]]:
    """(seconds since the sweep's first trial started, best objective among trials completed by then)."""
    minimize = ((sweep.get("spec") or {}).get("objective") or {}).get("direction") == "minimize"
    trials = sweep["trials"]
    starts = [number(t.get("started")) for t in trials if number(t.get("started")) is not None]
    if not starts:
        return []
    t0 = min(starts)
    done = sorted((number(t.get("finished")), number(t.get("objective"))) for t in trials
                  if t.get("status") == "completed" and number(t.get("finished")) is not None
                  and number(t.get("objective")) is not None)
    out, best = [], None
    for when, value in done:
        best = value if best is None else (min(best, value) if minimize else max(best, value))
        out.append((when - t0, best))
    return out


def param_points(sweep: dict | None, name: str) -> list[tuple[int, object, float, str]]:
    """[(trial, value, objective, status)] for the objective-by-parameter plot of parameter `name`."""
    pts = []
    for t in (sweep or {}).get("trials", []):
        obj = number(t.get("objective"))
        params = t.get("params") if isinstance(t.get("params"), dict) else {}
        if obj is not None and name in params and t.get("status") in POINT_STATUSES:
            pts.append((t.get("number"), params[name], obj, t.get("status")))
    return pts


def new_plot(key: str) -> pg.PlotWidget:
    title, left, bottom = PLOTS[key]
    w = pg.PlotWidget(background="w")
    pi = w.getPlotItem()
    pi.setTitle(title, size="10pt")
    pi.showGrid(x=True, y=True, alpha=0.25)
    pi.setLabel("left", left)
    if bottom:
        pi.setLabel("bottom", bottom)
    pi.addLegend(offset=(-5, 5), brush=pg.mkBrush(255, 255, 255, 200), labelTextSize="8pt")
    pi.getAxis("bottom").enableAutoSIPrefix(False)  # a log axis reads 10^-3, not "1 (x0.001)"
    return w


def draw_params(plot: pg.PlotWidget, sweep: dict | None, name: str) -> None:
    pi = plot.getPlotItem()
    pi.clear()
    pts = param_points(sweep, name)
    log = bool(sweep) and log_scaled(sweep, name)
    numeric = all(number(v) is not None for _, v, _, _ in pts)
    cats: list = []
    if not numeric:
        cats = sorted({str(v) for _, v, _, _ in pts})
    pi.setLogMode(x=log and numeric, y=False)
    pi.setLabel("bottom", name + (" (log)" if log and numeric else ""))
    ax = pi.getAxis("bottom")
    ax.setTicks([list(enumerate(cats))] if cats else None)
    for status in POINT_STATUSES:
        sel = [p for p in pts if p[3] == status]
        if not sel:
            continue
        xs = [float(v) if numeric else cats.index(str(v)) for _, v, _, _ in sel]
        if log and numeric:
            xs = [math.log10(x) if x > 0 else float("nan") for x in xs]
        ys = [o for _, _, o, _ in sel]
        color = STATUS_COLORS[status]
        pi.addItem(pg.ScatterPlotItem(xs, ys, size=10, symbol="o" if status == "completed" else "x",
                                      brush=color, pen=pg.mkPen(color), name=status))


def draw_curves(plot: pg.PlotWidget, sweep: dict | None, curves: dict[int, dict]) -> None:
    pi = plot.getPlotItem()
    pi.clear()
    for t in (sweep or {}).get("trials", []):
        c = curves.get(t.get("number"))
        if not c or not c["bleu"]:
            continue
        status = t.get("status")
        early = status in ("pruned", "failed", "interrupted") or c["status"] in ("stopped", "pruned", "failed")
        draw_curve(pi, c["elapsed"], c["bleu"], trial_color(t), f"trial {t.get('number')}"
                   + (f" ({status})" if early else ""), early)


def draw_best(plot: pg.PlotWidget, sweep: dict | None) -> None:
    pi = plot.getPlotItem()
    pi.clear()
    pts = best_so_far(sweep) if sweep else []
    if pts:
        xs, ys = [pts[0][0]], [pts[0][1]]
        for x, y in pts[1:]:  # a staircase: the best holds until the next better trial ends
            xs += [x, x]
            ys += [ys[-1], y]
        pi.plot(xs, ys, pen=pg.mkPen("#2ca02c", width=2))
        pi.plot([p[0] for p in pts], [p[1] for p in pts], pen=None, symbol="o", symbolSize=7,
                symbolBrush="#2ca02c")


def write_plot_csv(path, key: str, sweep: dict | None, curves: dict[int, dict], name: str) -> None:
    """The data of plot `key` as CSV; `name` is the parameter on the objective-by-parameter plot's x axis."""
    with open(os.fspath(path), "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        if key == "params":
            pts = param_points(sweep, name)
            w.writerow(["trial", name, "objective", "status"])
            for n, v, o, s in pts:
                w.writerow([n, repr(v) if isinstance(v, float) else v, repr(o), s])
        elif key == "curves":
            w.writerow(["trial", "status", "elapsed", "tokens_seen", "dev_bleu"])
            for t in (sweep or {}).get("trials", []):
                c = curves.get(t.get("number"))
                for e, tok, b in zip(*(c[k] for k in ("elapsed", "tokens", "bleu"))) if c else ():
                    w.writerow([t.get("number"), t.get("status"), repr(e), int(tok), repr(b)])
        else:
            w.writerow(["sweep_seconds", "best_objective"])
            for x, y in (best_so_far(sweep) if sweep else []):
                w.writerow([repr(x), repr(y)])
