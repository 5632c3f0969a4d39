"""The learning-rate schedule: one vectorised function that the engine trains with and the console draws.

Budget schedules map progress x = elapsed / budget to an LR factor, so the schedule ends exactly when the
budget does and a resumed run continues it from the checkpoint's elapsed time (cramming's approach):

  budget-triangle  lr/peak = max(0, min(0.25 + x, 4 - 4x, 1))     (cramming's budget-triangle2)
  budget-linear    linear warm-up over the first `warmup` of the budget, then linear to 0 at x = 1
  budget-wsd       warmup-stable-decay: linear warm-up over the first `warmup` of the budget, the peak until
                   x = 1 - `decay`, then linear down to `floor` (a fraction of the peak) at x = 1; the weights
                   at the end of the budget are the annealed ones, and every checkpoint before the decay was
                   trained at the peak
  constant         1
  linear           the original recipe: warm-up over int(warmup * total_steps) steps, then linear to 0 at
                   total_steps (step-based; total_steps comes from budget.max_steps or budget.max_epochs)
"""
from __future__ import annotations

import numpy as np

SCHEDULES = ("budget-triangle", "budget-linear", "budget-wsd", "constant", "linear")
STEP_BASED = frozenset({"linear"})
WSD_DECAY, WSD_FLOOR = 0.2, 0.0   # budget-wsd's shape when nothing says otherwise (train.decay, train.lr_floor)


def lr_factor(schedule: str, progress=0.0, step=0, total_steps: int = 0, warmup: float = 0.0,
              decay: float = WSD_DECAY, floor: float = WSD_FLOOR):
    """LR as a fraction of the peak. `progress` (0..1) drives the budget-* schedules, `step` / `total_steps`
    drive `linear`; `decay` and `floor` shape budget-wsd. `progress` and `step` may be numbers or arrays
    (broadcast together); a float comes back for scalars, an array otherwise."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}")
    scalar = np.ndim(progress) == 0 and np.ndim(step) == 0
    x = np.clip(np.asarray(progress, dtype=np.float64), 0.0, 1.0)
    s = np.asarray(step, dtype=np.float64)
    x, s = np.broadcast_arrays(x, s)
    w = float(warmup or 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        if schedule == "budget-triangle":
            f = np.maximum(0.0, np.minimum(np.minimum(0.25 + x, 4.0 - 4.0 * x), 1.0))
        elif schedule == "budget-linear":
            down = np.maximum(0.0, (1.0 - x) / max(1e-12, 1.0 - w))
            f = np.where(x < w, x / w, down) if w > 0 else down
        elif schedule == "budget-wsd":
            d = min(max(float(decay or 0.0), 0.0), 1.0 - w)
            lo = min(max(float(floor or 0.0), 0.0), 1.0)
            down = 1.0 - (1.0 - lo) * np.clip((x - (1.0 - d)) / max(d, 1e-12), 0.0, 1.0) if d > 0 else np.ones_like(x)
            f = np.where(x < w, x / w, down) if w > 0 else down
        elif schedule == "constant":
            f = np.ones_like(x)
        else:  # linear
            total = max(1, int(total_steps or 0))
            ws = int(w * total)
            down = np.maximum(0.0, (total - s) / max(1, total - ws))
            f = np.where(s < ws, (s + 1) / max(ws, 1), down)
    return float(f) if scalar else f


def lr(schedule: dict, progress=0.0, step=0):
    """The LR itself from a `started` event's `schedule` record {name, peak_lr, warmup, total_steps, decay,
    floor}; a record without decay / floor has lr_factor's defaults."""
    return float(schedule.get("peak_lr") or 0.0) * lr_factor(
        schedule.get("name") or "constant", progress, step, int(schedule.get("total_steps") or 0),
        float(schedule.get("warmup") or 0.0), decay=float(schedule.get("decay", WSD_DECAY)),
        floor=float(schedule.get("floor", WSD_FLOOR)))
