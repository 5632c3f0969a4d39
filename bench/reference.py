"""The reference mode (the original code2nl training recipe) through the engine's public seams, plus an
observation-only event/clock recorder for the budget-adherence check. Nothing in engine/ is changed or patched.

The reference behaves like the original CodeBERT code2nl `run.py`:
  * every example is padded to the maximum lengths (data.max_source_len / data.max_target_len, 256/128 in the
    original recipe), encoder and decoder alike: `collate` with `pad_to`;
  * no length bucketing: batches are consecutive slices of a shuffled epoch (random order): a constant bucket key
    (bucket_batches sorts each pool with a stable sort, so equal keys keep the shuffled order: the original's
    RandomSampler);
  * fp32 (the bench runs it with hardware.precision=fp32);
  * the language-model head and the loss are computed over all target positions, the loss masked by the padding
    (the original's `active_loss = target_mask[..., 1:].ne(0)` selection; here `labels = -100` on padding, which
    sums exactly the same terms).
Everything else (optimizer, schedule, clipping, evaluation, budget clock) is the engine's, so the difference
between the two modes is the data layout of a training step and nothing else.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import time
from contextlib import contextmanager
from collections.abc import Callable

from engine.batching import bucket_key as engine_bucket_key, collate as engine_collate
from engine.budget import BudgetClock
from engine.contract.schedule import lr_factor
from engine.progress import emitter
from engine.session import Session, make_optimizer, setup
from engine.step import train_step
from engine.train import run


def reference_bucket_key(src, tgt) -> int:
    return 0


def reference_layout(cfg) -> dict:
    """The `collate` and `bucket_key` of the original recipe, as keyword arguments of engine.train.run / setup."""
    return {"collate": functools.partial(engine_collate, pad_to=(cfg.data.max_source_len, cfg.data.max_target_len)),
            "bucket_key": reference_bucket_key}


class Stamps:
    """Wraps an event writer: a `perf_counter` stamp for every emitted event, and (through `clock_class`, given to
    engine.train.run) the wall-clock intervals the budget clock was paused (dev evaluation, checkpoint writing).
    Used to check the budget against an independent clock."""

    def __init__(self, writer):
        self.writer = writer
        self.stamps: list[tuple[float, dict]] = []
        self.pauses: list[tuple[float, float]] = []
        pauses = self.pauses

        class RecordingClock(BudgetClock):
            @contextmanager
            def paused(self):
                t0 = time.perf_counter()
                try:
                    with super().paused():
                        yield
                finally:
                    pauses.append((t0, time.perf_counter()))

        self.clock_class = RecordingClock

    def emit(self, event: str, **fields) -> dict:
        ev = self.writer.emit(event, **fields)
        self.stamps.append((time.perf_counter(), ev))
        return ev

    def close(self) -> None:
        self.writer.close()


def run_stamped(cfg, run_dir, writer, reference: bool = False) -> tuple[int, Stamps]:
    """A complete engine run (engine.train.run), the reference recipe's step when `reference`, with stamps."""
    stamps = Stamps(writer)
    layout = reference_layout(cfg) if reference else {}
    code = run(cfg, run_dir, stamps, clock_class=stamps.clock_class, **layout)
    return code, stamps


@dataclasses.dataclass
class Side:
    """A session and the `collate` its training steps use (the engine's, or the reference's fixed padding)."""
    s: Session
    collate: Callable = engine_collate

    def pad_to(self) -> tuple[int, int]:
        """The reference's fixed lengths."""
        return self.s.cfg.data.max_source_len, self.s.cfg.data.max_target_len

    def step(self, group: list[list[int]], progress: float = 0.5):
        """The engine's own training step (engine.step.train_step) with this side's collate."""
        t = self.s.cfg.train
        lr = t.lr * lr_factor(t.schedule, progress, 0, self.s.total_steps, t.warmup)
        return train_step(self.s, group, lr, collate=self.collate)


def prepare(cfg, run_dir, writer, bucket_key: Callable = engine_bucket_key) -> Session:
    """The engine's setup (hardware, data, tokenizer, model, encoding, optimizer) without training, for step-level
    measurements."""
    return setup(cfg, run_dir, emitter(writer), bucket_key=bucket_key)


def clone(s: Session, reference: bool = False) -> Side:
    """A second side sharing `s`'s data, tokenizer and encodings, with a deep copy of its (identical initial)
    weights and a fresh optimizer; the reference recipe's batches and padding when `reference`."""
    model = copy.deepcopy(s.model)
    lengths = [reference_bucket_key(a, b) for a, b in zip(s.train_enc.src, s.train_enc.tgt)] if reference \
        else s.train_lengths
    other = dataclasses.replace(s, model=model, train_model=model, train_lengths=lengths,
                                optimizer=make_optimizer(model, s.cfg.train, s.hw))
    return Side(other, reference_layout(s.cfg)["collate"]) if reference else Side(other)
