"""The wall-clock budget clock.

Training time is counted only while the clock runs: dev evaluation and checkpoint writing pause it (they are
reported separately). The LR schedule that turns its progress into a learning rate is
engine.contract.schedule.lr_factor (shared with the console, which draws it).
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
