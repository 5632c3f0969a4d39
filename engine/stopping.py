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
from dataclasses import dataclass

from .budget import BudgetClock
from .contract.config import BudgetConfig, EvalConfig
from .contract.files import say
from .distributed import Dist
from .state import TrainState


class StopReason(enum.Enum):
    SIGNAL = "signal"            # a stop signal (StopSignal): checkpoint and stop, no final evaluation
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
    """Set by a stop signal (see `install`): the loop finishes its step, checkpoints and stops; during the final
    evaluation, decoding stops at the next batch. SIGTERM / SIGINT (the console's Stop, Ctrl-C), SIGUSR1 (a
    cluster's time-limit warning) and SIGHUP (the terminal closed; left alone under nohup) end the run `stopped`;
    SIGUSR2 (a sweep pruning the trial) ends it `pruned`, checkpoint kept all the same. A second SIGINT
    interrupts at once."""

    STATUS = {"SIGTERM": "stopped", "SIGINT": "stopped", "SIGUSR1": "stopped", "SIGHUP": "stopped",
              "SIGUSR2": "pruned"}

    def __init__(self):
        self.requested = False
        self.status = "stopped"      # the `done` status a stop ends with (engine.contract.events.DONE_STATUSES)
        self.signal_name: str | None = None

    def request(self, status: str = "stopped", signal_name: str | None = None) -> None:
        """Ask the run to stop; the first request decides the status."""
        if not self.requested:
            self.status, self.signal_name = status, signal_name
        self.requested = True

    def install(self) -> StopSignal:
        """Handle the stop signals in this process (main thread), with stdio that survives a dead reader."""
        from .stdio import protect_stdio

        protect_stdio()

        def handler(signum, frame):
            name = signal.Signals(signum).name
            if self.requested and signum == signal.SIGINT:
                raise KeyboardInterrupt
            first = not self.requested
            self.request(self.STATUS.get(name, "stopped"), name)
            if first:
                why = " (pruned)" if self.status == "pruned" else ""
                say(f"cram: {name} received{why}: finishing the step, then checkpoint and stop")

        for name in self.STATUS:
            sig = getattr(signal, name, None)
            if sig is None:
                continue
            if name == "SIGHUP" and signal.getsignal(sig) is signal.SIG_IGN:
                continue  # nohup: the user asked to outlive the terminal
            signal.signal(sig, handler)
        return self
