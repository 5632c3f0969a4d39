"""One optimizer step, its time prediction, and the `step` events that report steps.

`train_step` runs a step on this rank's batches (gradient accumulation, DDP, clipping, AdamW); `StepTimer`
predicts the next step's seconds from its padded size (for the budget stop); `StepEvents` aggregates steps into
`step` events (the first 10 steps each, then at most one every 0.1 s).
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from collections.abc import Callable

import torch

from .batching import Encoded, collate as default_collate, padded_tokens
from .errors import StopRun
from .evaluate import token_loss

if TYPE_CHECKING:
    from .session import Session
    from .state import TrainState


MAX_SKIPPED_IN_A_ROW = 20   # updates skipped for non-finite gradients, one after the other, before the run stops


@dataclass
class StepResult:
    loss_sum: float          # summed cross-entropy over the step's real target tokens (all ranks)
    n_tok: int               # those target tokens (all ranks)
    tokens: int              # real source + target tokens trained on (all ranks)
    lr: float
    grad_norm: float | None  # before clipping (unscaled under fp16); None when it was not finite
    skipped: bool = False    # the gradients were not finite: no update (the weights are unchanged)


def _grad_norm(s: Session) -> torch.Tensor:
    """The gradients' total norm; clipped to train.grad_clip when that is set."""
    clip = s.cfg.train.grad_clip
    if clip > 0:
        return torch.nn.utils.clip_grad_norm_(s.model.parameters(), clip)
    return torch.nn.utils.get_total_norm([p.grad for p in s.model.parameters() if p.grad is not None])


def train_step(s: Session, group: list[list[int]], lr: float, *, collate: Callable = default_collate) -> StepResult:
    """One optimizer step on this rank's batches `group`. `collate(enc, batch, ids)` makes a batch's tensors
    (engine.batching.collate pads each batch to its own longest example).

    Gradients that are not finite (a NaN or an infinity anywhere; under fp16 an overflow of the loss scale) are
    not applied: the step is `skipped` and the weights stay as they were; MAX_SKIPPED_IN_A_ROW skipped steps in a
    row stop the run (StopRun `nonfinite`). Every rank sees the same all-reduced gradients, so all ranks decide
    alike. fp16 on CUDA scales the loss with the session's GradScaler."""
    for g in s.optimizer.param_groups:  # a group may train at a multiple of the schedule's LR (train.decoder_lr)
        g["lr"] = lr * g.get("lr_scale", 1.0)
    enc, dist, device = s.train_enc, s.dist, s.hw.device
    scaler = getattr(s, "scaler", None)
    n_local = sum(sum(len(enc.tgt[i]) for i in b) for b in group)
    # DDP averages gradients over ranks: scale by world / global tokens so the gradient equals the
    # single-process gradient of the mean loss over every real target token of the step
    n_tok_total = int(dist.sum([n_local], device)[0])
    scale = dist.world / max(n_tok_total, 1)
    loss_total, tokens = 0.0, 0
    try:
        for j, b in enumerate(group):
            batch = collate(enc, b, s.ids)
            sync = j == len(group) - 1 or not dist.enabled
            with contextlib.nullcontext() if sync else s.train_model.no_sync():
                with s.hw.autocast():
                    loss, _ = token_loss(s.train_model, batch, device, s.cfg.train.label_smoothing)
                scaled = loss * scale
                (scaler.scale(scaled) if scaler is not None else scaled).backward()
            loss_total += float(loss.detach())
            tokens += batch["n_src_tokens"] + batch["n_tgt_tokens"]
        if scaler is not None:
            scaler.unscale_(s.optimizer)
        norm = float(_grad_norm(s))
        finite = math.isfinite(norm)
        if finite:
            if scaler is not None:
                scaler.step(s.optimizer)
            else:
                s.optimizer.step()
        if scaler is not None:
            scaler.update()  # a skipped step lowers the loss scale
        s.optimizer.zero_grad(set_to_none=True)
        if dist.enabled:
            loss_total, tokens = dist.sum([loss_total, tokens], device)
            tokens = int(tokens)
    except torch.cuda.OutOfMemoryError:
        s.optimizer.zero_grad(set_to_none=True)
        raise StopRun("oom", "CUDA out of memory", f"lower train.batch_size (now {s.cfg.train.batch_size}) "
                      "and use train.grad_accum to keep the effective batch, or lower data.max_source_len / "
                      "max_target_len; the last checkpoint is kept") from None
    if finite:
        s.skipped_in_a_row = 0
    else:
        s.skipped_updates += 1
        s.skipped_in_a_row += 1
        if s.skipped_in_a_row >= MAX_SKIPPED_IN_A_ROW:
            raise StopRun("nonfinite", f"the gradients were not finite for {MAX_SKIPPED_IN_A_ROW} updates in a row "
                          f"({s.skipped_updates} skipped in all); those updates were not applied, so the weights "
                          "are still finite",
                          "lower train.lr, set train.grad_clip, or use precision fp32/bf16 instead of fp16; the "
                          "last checkpoint is kept")
    return StepResult(loss_total, n_tok_total, tokens, lr, norm if finite else None, skipped=not finite)


class StepTimer:
    """Seconds per padded token (an EMA over steps): predicts a step's time from its own batches, which are known
    in advance, so the budget stop lands within half of the real next step (steps differ a lot in length)."""

    def __init__(self, enc: Encoded):
        self.enc = enc
        self.sec_per_token = 0.0
        self.last = 0.0

    def observe(self, seconds: float, group: list[list[int]]) -> None:
        spt = seconds / max(1, padded_tokens(self.enc, group))
        self.sec_per_token = spt if self.sec_per_token == 0 else 0.8 * self.sec_per_token + 0.2 * spt
        self.last = seconds

    def predict(self, group: list[list[int]]) -> float:
        return self.sec_per_token * padded_tokens(self.enc, group) if group else self.last


class StepEvents:
    """Aggregates steps between `step` events: the first 10 steps each, then at most one event every 0.1 s.
    Tokens/s and MFU are over training time only (evaluations and checkpoints excluded)."""

    def __init__(self, emit: Callable, s: Session, elapsed: float):
        self.emit, self.peak, self.flops_per_token = emit, s.hw.peak_flops, s.flops_per_token
        device = getattr(s.hw, "device", None)
        self.cuda = device if device is not None and device.type == "cuda" else None
        self.skipped = 0                 # updates skipped for non-finite gradients, in this session
        self.last_emit, self.since = 0.0, elapsed
        self.loss = 0.0
        self.targets = self.tokens = self.examples = 0
        self.lr: float | None = None
        self.grad_norm: float | None = None

    def add(self, r: StepResult, examples: int) -> None:
        if r.skipped:
            self.skipped += 1
            if self.skipped == 1 or math.log10(self.skipped).is_integer():  # the first, then the 10th, 100th, ...
                self.emit("log", level="warning", message=f"update skipped: non-finite gradients, the weights are "
                          f"unchanged ({self.skipped} skipped so far in this session; {MAX_SKIPPED_IN_A_ROW} in a "
                          "row stop the run)")
        self.loss += r.loss_sum
        self.targets += r.n_tok
        self.tokens += r.tokens
        self.examples += examples
        self.lr, self.grad_norm = r.lr, r.grad_norm

    def maybe_emit(self, st: TrainState, progress: float) -> None:
        now = time.perf_counter()
        if now - self.last_emit >= 0.1 or st.step <= 10:
            self.flush(st, progress)
            self.last_emit = now

    def flush(self, st: TrainState, progress: float) -> None:
        """Emit what was aggregated (nothing when no step was added since the last event)."""
        if not self.tokens:
            return
        window = st.elapsed - self.since
        tps = self.tokens / window if window else None
        mfu = (tps * self.flops_per_token / self.peak) if (tps and self.peak) else None
        self.emit("step", step=st.step, elapsed=round(st.elapsed, 3), progress=round(progress, 5),
                  loss=self.loss / max(self.targets, 1), lr=self.lr, tokens=self.tokens,
                  tokens_per_s=round(tps, 1) if tps else None, examples=self.examples, epoch=st.epoch,
                  grad_norm=self.grad_norm, mfu=round(mfu, 4) if mfu else None,
                  max_memory_allocated=torch.cuda.max_memory_allocated(self.cuda) if self.cuda else None,
                  max_memory_reserved=torch.cuda.max_memory_reserved(self.cuda) if self.cuda else None)
        self.loss, self.targets, self.tokens, self.examples = 0.0, 0, 0, 0
        self.since = st.elapsed
