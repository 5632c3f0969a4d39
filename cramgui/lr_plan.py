"""The planned learning rate ahead of a run, for the LR plot: the engine's own schedule function
(`engine.contract.schedule.lr`, which engine/train.py trains with) evaluated from the last logged step to where the
run will end, in the plot's x units (optimizer step or training seconds). Pure numpy, no Qt.

The run ends at the first limit it reaches: the time budget (progress = elapsed / budget reaches 1) or the
`total_steps` of the `started` event's schedule record (budget.max_steps, or budget.max_epochs times the steps per
epoch, as the engine computed it). Every future point needs both coordinates: the step (step-based schedules, the
step axis) and the elapsed time / progress (budget schedules, the time axis). They are tied by the run's seconds per
step so far. Before the first step that rate is unknown, so only what needs no conversion is drawn then: a budget
schedule on the time axis, a step-based schedule on the step axis.
"""
from __future__ import annotations

import math

import numpy as np

from engine.contract.events import number
from engine.contract.schedule import SCHEDULES, WSD_DECAY, WSD_FLOOR, lr

POINTS = 256
# where the schedules bend, sampled exactly so the line shows the corners (the triangle's peak, the end of the
# warm-up): progress values for the budget schedules, the warm-up's last steps for the step-based one. Extra points
# on a straight part change nothing.
_PROGRESS_KINKS = (0.75,)


def schedule_record(schedule) -> dict | None:
    """The `started` event's schedule record with every value checked (run directories are untrusted): None when
    there is nothing to draw (no record, an unknown schedule, no finite peak LR)."""
    if not isinstance(schedule, dict) or schedule.get("name") not in SCHEDULES:
        return None
    peak = number(schedule.get("peak_lr"))
    if peak is None:
        return None
    total = number(schedule.get("total_steps"))
    return {"name": schedule["name"], "peak_lr": peak, "warmup": number(schedule.get("warmup")) or 0.0,
            "total_steps": int(total) if total is not None and 0 < total < 2**62 else 0,
            "decay": _or(number(schedule.get("decay")), WSD_DECAY),
            "floor": _or(number(schedule.get("floor")), WSD_FLOOR)}


def _or(value, default):
    return default if value is None else value


def planned_lr(schedule, step, elapsed, budget_seconds, x_mode: str = "step",
               points: int = POINTS) -> tuple[np.ndarray, np.ndarray]:
    """(x, lr) of the schedule from the run's last point (`step` optimizer steps done after `elapsed` training
    seconds) to its end, x in `x_mode` units ("step" or "elapsed"). y = engine.contract.schedule.lr(record,
    progress, step) at each point, progress = elapsed / budget. Empty when nothing lies ahead or cannot be placed."""
    empty = (np.empty(0), np.empty(0))
    rec = schedule_record(schedule)
    if rec is None or x_mode not in ("step", "elapsed"):
        return empty
    s0, e0 = number(step) or 0.0, number(elapsed) or 0.0
    budget = number(budget_seconds)
    budget = budget if budget is not None and budget > 0 else None
    total = rec["total_steps"] or None
    rate = e0 / s0 if s0 > 0 and e0 > 0 else None           # seconds per step so far
    if rate is not None:
        s1 = min(total if total else math.inf, s0 + (budget - e0) / rate if budget else math.inf)
        if not math.isfinite(s1):
            return empty
        e1 = e0 + (s1 - s0) * rate
    elif x_mode == "elapsed" and budget:
        s0 = s1 = math.nan
        e1 = budget
    elif x_mode == "step" and total:
        s1 = total
        e0 = e1 = math.nan
    else:
        return empty
    span = (s1 - s0) if x_mode == "step" else (e1 - e0)
    if not span > 0:
        return empty
    t = np.linspace(0.0, 1.0, max(2, int(points)))
    kinks = []
    if budget and e1 > e0:
        kinks += [(p * budget - e0) / (e1 - e0) for p in (*_PROGRESS_KINKS, rec["warmup"], 1.0 - rec["decay"])]
    if total and s1 > s0:
        ws = int(rec["warmup"] * total)
        kinks += [(k - s0) / (s1 - s0) for k in (ws - 1, ws)]
    t = np.union1d(t, [k for k in kinks if 0.0 < k < 1.0])
    s = s0 + t * (s1 - s0)
    e = e0 + t * (e1 - e0)
    progress = e / budget if budget else np.full_like(t, np.nan)
    y = np.asarray(lr(rec, progress, s), dtype=np.float64)
    x = s if x_mode == "step" else e
    ok = np.isfinite(x) & np.isfinite(y)
    return (x[ok], y[ok]) if ok.any() else empty
