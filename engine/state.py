"""Training progress: one `TrainState`, saved to and restored from a checkpoint's trainer_state.json as a whole."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass
class TrainState:
    step: int = 0                       # optimizer steps taken
    elapsed: float = 0.0                # training seconds on the budget clock (evaluation and checkpoints excluded)
    epoch: int = 0                      # the epoch the next step draws its batches from
    batch_in_epoch: int = 0             # batches of that epoch already consumed (all ranks together)
    tokens_seen: int = 0                # real source + target tokens trained on
    examples_seen: int = 0
    best_dev_bleu: float | None = None
    eval_seconds: float = 0.0           # wall seconds spent in dev evaluation
    last_eval_step: int | None = None   # the step of the latest dev evaluation

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainState:
        """Unknown keys are ignored and missing ones take their defaults, so older checkpoints still resume."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def summary(self) -> dict:
        """The progress fields of a `done` event."""
        return {"step": self.step, "elapsed": round(self.elapsed, 3), "eval_seconds": round(self.eval_seconds, 3),
                "best_dev_bleu": self.best_dev_bleu, "tokens_seen": self.tokens_seen}
