"""The reference mode (the original code2nl training recipe) as a subclass of the engine's Trainer, plus an
observation-only Trainer subclass that timestamps events for the budget-adherence check.

Nothing in engine/ is changed: the subclasses override two methods.

ReferenceTrainer behaves like the original CodeBERT code2nl `run.py`:
  * every example is padded to the maximum lengths (data.max_source_len / data.max_target_len, 256/128 in the
    original recipe), encoder and decoder alike;
  * no length bucketing: batches are consecutive slices of a shuffled epoch (random order);
  * fp32 (the bench runs it with hardware.precision=fp32);
  * the language-model head and the loss are computed over all target positions, the loss masked by the padding
    (the original's `active_loss = target_mask[..., 1:].ne(0)` selection; here `labels = -100` on padding, which
    sums exactly the same terms).
Everything else (optimizer, schedule, clipping, evaluation, budget clock) is the engine's, so the difference
between the two modes is the data layout of a training step and nothing else.
"""
from __future__ import annotations

import time

import engine.train as engine_train
from engine.train import Trainer


class StampTrainer(Trainer):
    """The engine's Trainer, unchanged, except that it records a `perf_counter` stamp for every emitted event
    and the wall-clock intervals spent in dev evaluation and checkpoint writing (the pauses of the budget
    clock). Used to check the budget against an independent clock."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.stamps: list[tuple[float, dict]] = []
        self.pauses: list[tuple[float, float]] = []

    def emit(self, event: str, **fields):
        ev = super().emit(event, **fields)
        self.stamps.append((time.perf_counter(), ev))
        return ev

    def _dev_eval(self, clock):
        t0 = time.perf_counter()
        try:
            return super()._dev_eval(clock)
        finally:
            self.pauses.append((t0, time.perf_counter()))

    def _checkpoint(self, kind, clock, with_optimizer=True):
        t0 = time.perf_counter()
        try:
            return super()._checkpoint(kind, clock, with_optimizer)
        finally:
            self.pauses.append((t0, time.perf_counter()))


class ReferenceTrainer(StampTrainer):
    """The original recipe's training step (see the module docstring)."""

    def _encode(self) -> None:
        super()._encode()
        # bucket_batches sorts each pool by length with a stable sort: equal keys keep the shuffled order, so the
        # batches are plain consecutive slices of a random permutation (the original's RandomSampler).
        self.train_lengths = [0] * len(self.train_enc)

    def pad_to(self) -> tuple[int, int]:
        return self.cfg.data.max_source_len, self.cfg.data.max_target_len

    def _step(self, group: list[list[int]], progress: float) -> tuple[float, int, int]:
        # The engine's own Trainer._step, run with engine.train's `collate` bound to pad_to=(max_source_len,
        # max_target_len) for the duration of the call: nothing but the padding differs, and the reference follows
        # any change to the engine's step (DDP, scaling, clipping) automatically.
        orig = engine_train.collate
        pad_to = self.pad_to()
        engine_train.collate = lambda enc, batch, ids, pad_to_=None: orig(enc, batch, ids, pad_to=pad_to)
        try:
            return super()._step(group, progress)
        finally:
            engine_train.collate = orig


def prepare(trainer: Trainer) -> Trainer:
    """Run a Trainer's setup (hardware, data, tokenizer, model, encoding, optimizer) without training, for
    step-level measurements. Mirrors the first half of `Trainer._run`."""
    from engine import hardware

    trainer.hw = hardware.resolve(trainer.cfg.hardware)
    trainer._seed(trainer.cfg.train.seed)
    trainer._load_data()
    trainer._setup_model(None)
    trainer._encode()
    trainer._setup_optimizer(None)
    return trainer


def clone_as(trainer: Trainer, cls, run_dir=None):
    """A second trainer of class `cls` sharing `trainer`'s data, tokenizer and encodings, with a deep copy of its
    (identical initial) weights and a fresh optimizer."""
    import copy

    other = cls(trainer.cfg, run_dir or trainer.run_dir, trainer.writer)
    for k in ("hw", "splits", "tokenizer", "meta", "ids", "train_enc", "train_lengths", "dev_sets", "test_sets",
              "steps_per_epoch", "total_steps", "flops_per_token"):
        setattr(other, k, getattr(trainer, k))
    other.model = copy.deepcopy(trainer.model)
    other.train_model = other.model
    other._setup_optimizer(None)
    if isinstance(other, ReferenceTrainer):
        other.train_lengths = [0] * len(other.train_enc)
    return other
