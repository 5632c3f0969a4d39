"""Training progress: one `TrainState`, saved to and restored from a checkpoint's state file (rundir.STATE_FILE,
cram_state.json; trainer_state.json in older runs) as a whole."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass


@dataclass
class TrainState:
    step: int = 0                       # optimizer steps taken
    elapsed: float = 0.0                # training seconds on the budget clock (evaluation and checkpoints excluded)
    epoch: int = 0                      # the epoch the next step draws its batches from
    batch_in_epoch: int = 0             # batches of that epoch already consumed (all ranks together)
    tokens_seen: int = 0                # real source + target tokens trained on
    examples_seen: int = 0
    best_dev_bleu: float | None = None  # dev BLEU of the 'best' checkpoint
    best_dev_loss: float | None = None  # dev loss of the 'best' checkpoint (the tie-break, engine.dev_eval.better)
    top_dev_bleu: float | None = None   # the highest dev BLEU of any dev evaluation
    best_top_share: float | None = None  # the 'best' checkpoint's most frequent dev prediction's share (dev_eval)
    eval_seconds: float = 0.0           # wall seconds spent in dev evaluation
    last_eval_step: int | None = None   # the step of the latest dev evaluation

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainState:
        """Unknown keys are ignored and missing ones take their defaults, so older checkpoints still resume. A
        value of the wrong type (the file comes from a run directory, which is untrusted) is a ValueError naming
        the field."""
        out = {}
        for f in dataclasses.fields(cls):
            if f.name not in d:
                continue
            v = d[f.name]
            optional = "None" in str(f.type)
            if v is None and optional:
                out[f.name] = None
                continue
            whole = str(f.type).startswith("int")
            ok = (not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)
                  and (not whole or float(v).is_integer()) and v >= 0)
            if not ok:
                raise ValueError(f"{f.name}: expected a {'whole ' if whole else ''}number >= 0, got {v!r}")
            out[f.name] = int(v) if whole else float(v)
        return cls(**out)

    def summary(self) -> dict:
        """The progress fields of a `done` event."""
        return {"step": self.step, "elapsed": round(self.elapsed, 3), "eval_seconds": round(self.eval_seconds, 3),
                "best_dev_bleu": self.best_dev_bleu, "tokens_seen": self.tokens_seen}
