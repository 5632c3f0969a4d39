"""What the loop decides before every step, in one place: stop (and why), run a dev evaluation, write a checkpoint.

`decide` is the whole decision. Each rank computes its flags, then ONE all-reduce (an element-wise OR) makes every
rank act on the same answer: all ranks stop at the same step, and rank 0's clock alone says when a dev evaluation
or a periodic checkpoint is due. A stop wins over a due evaluation or checkpoint (the end of training evaluates
and checkpoints anyway).
"""
from __future__ import annotations

import enum
import math
import signal
import sys
from dataclasses import dataclass

from .budget import BudgetClock
from .contract.config import BudgetConfig, EvalConfig
from .distributed import Dist
from .state import TrainState


class StopReason(enum.Enum):
    SIGNAL = "signal"            # SIGTERM / SIGINT: checkpoint and stop, no final evaluation
    MAX_STEPS = "max_steps"
    MAX_EPOCHS = "max_epochs"
    BUDGET = "budget"


@dataclass(frozen=True)
class Decision:
    stop: StopReason | None
    evaluate: bool
    checkpoint: bool


def limit_reached(state: TrainState, budget: BudgetConfig, clock: BudgetClock,
                  next_step_seconds: float) -> StopReason | None:
    """This rank's view of the limits. The budget stops when it is spent or when the next step (predicted to take
    `next_step_seconds`) would end further past it than stopping now ends before it (BudgetClock.should_stop)."""
    if budget.max_steps and state.step >= budget.max_steps:
        return StopReason.MAX_STEPS
    if budget.max_epochs and state.epoch >= budget.max_epochs:
        return StopReason.MAX_EPOCHS
    if clock.should_stop(next_step_seconds):
        return StopReason.BUDGET
    return None


def decide(state: TrainState, budget: BudgetConfig, clock: BudgetClock, next_step_seconds: float,
           stop_requested: bool, dist: Dist, device, *, evaluate_due: bool = False,
           checkpoint_due: bool = False) -> Decision:
    """The decision every rank acts on, from one reduction across ranks."""
    mine = limit_reached(state, budget, clock, next_step_seconds)
    reasons = list(StopReason)
    flags = [stop_requested] + [mine is r for r in reasons[1:]]
    main = dist.is_main
    flags = dist.any(flags + [main and evaluate_due, main and checkpoint_due], device)
    stop = next((r for r, f in zip(reasons, flags) if f), None)
    return Decision(stop=stop, evaluate=stop is None and flags[-2], checkpoint=stop is None and flags[-1])


class Milestones:
    """When the next dev evaluation (every eval.every_seconds of training, on multiples of it) and the next
    periodic 'last' checkpoint (eval.checkpoint_minutes after the previous one) are due."""

    def __init__(self, cfg: EvalConfig, elapsed: float):
        self.every = cfg.every_seconds
        self.ckpt_every = cfg.checkpoint_minutes * 60
        self.next_eval = self._after(elapsed)
        self.next_ckpt = elapsed + self.ckpt_every

    def _after(self, elapsed: float) -> float:
        return (elapsed // self.every + 1) * self.every if self.every > 0 else math.inf

    def eval_due(self, elapsed: float) -> bool:
        return elapsed >= self.next_eval

    def checkpoint_due(self, elapsed: float) -> bool:
        return elapsed >= self.next_ckpt

    def evaluated(self, elapsed: float) -> None:
        self.next_eval = self._after(elapsed)

    def checkpointed(self, elapsed: float) -> None:
        self.next_ckpt = elapsed + self.ckpt_every


class StopSignal:
    """Set by SIGTERM / SIGINT (see `install`): the loop finishes its step, checkpoints and stops. A second SIGINT
    interrupts at once."""

    def __init__(self):
        self.requested = False

    def request(self) -> None:
        self.requested = True

    def install(self) -> StopSignal:
        def handler(signum, frame):
            if self.requested and signum == signal.SIGINT:
                raise KeyboardInterrupt
            self.request()
            print(f"cram: {signal.Signals(signum).name} received: finishing the step, then checkpoint and stop",
                  file=sys.stderr, flush=True)

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
        return self
