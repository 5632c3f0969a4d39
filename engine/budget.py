"""The wall-clock budget and budget-aware learning-rate schedules.

Training time is counted only while the clock runs: dev evaluation and checkpoint writing pause it (they are
reported separately). Budget schedules map progress x = elapsed / budget to an LR factor, so the schedule ends
exactly when the budget does and a resumed run continues it from the checkpoint's elapsed time (cramming's
approach). The step-based `linear` schedule is the original recipe's warm-up + linear decay.
"""
from __future__ import annotations

import time
from contextlib import contextmanager


class BudgetClock:
    def __init__(self, budget_seconds: float, elapsed: float = 0.0):
        self.budget = float(budget_seconds)
        self._elapsed = float(elapsed)
        self._since: float | None = None

    @property
    def running(self) -> bool:
        return self._since is not None

    def start(self) -> None:
        if self._since is None:
            self._since = time.perf_counter()

    def pause(self) -> None:
        if self._since is not None:
            self._elapsed += time.perf_counter() - self._since
            self._since = None

    @contextmanager
    def paused(self):
        """Stop counting inside the block (evaluation, checkpoints), then restore the previous state."""
        was_running = self.running
        self.pause()
        try:
            yield
        finally:
            if was_running:
                self.start()

    @property
    def elapsed(self) -> float:
        run = time.perf_counter() - self._since if self._since is not None else 0.0
        return self._elapsed + run

    @property
    def progress(self) -> float:
        return min(1.0, self.elapsed / self.budget) if self.budget > 0 else 1.0

    def remaining(self) -> float:
        return max(0.0, self.budget - self.elapsed)

    def should_stop(self, step_seconds: float = 0.0) -> bool:
        """True when the budget is spent, or when the next step (of `step_seconds`) would end further past the
        budget than stopping now ends before it: the stop lands within half a step of the budget."""
        return self.elapsed + 0.5 * step_seconds >= self.budget


def lr_factor(schedule: str, progress: float, step: int = 0, total_steps: int = 0, warmup: float = 0.0) -> float:
    """LR as a fraction of the peak. `progress` in [0, 1] drives the budget-* schedules; `step`/`total_steps`
    drive `linear`."""
    x = min(max(progress, 0.0), 1.0)
    if schedule == "budget-triangle":  # cramming's budget-triangle2
        return max(0.0, min(0.25 + x, 4.0 - 4.0 * x, 1.0))
    if schedule == "budget-linear":
        if warmup > 0 and x < warmup:
            return x / warmup
        return max(0.0, (1.0 - x) / max(1e-12, 1.0 - warmup))
    if schedule == "constant":
        return 1.0
    if schedule == "linear":
        total = max(1, total_steps)
        w = int(warmup * total)
        if step < w:
            return (step + 1) / w
        return max(0.0, (total - step) / max(1, total - w))
    raise ValueError(f"unknown schedule {schedule!r}")
