"""The dev evaluation during training: dev loss and dev BLEU-4 per language on the fixed dev subsets
(engine.session.dev_subset: seeded random samples of eval.dev_subset examples) decoded with eval.dev_beam_size
beams, with the budget clock paused; an `eval` event; a better evaluation (`better`) writes the 'best'
checkpoint.

A checkpoint that writes one sentence for most inputs is a constant predictor, not a summariser: its dev BLEU
measures how well that one sentence happens to fit the dev subset (on the CodeXGLUE Ruby benchmark split such a
checkpoint won dev at 8.13 and scored 2.75 below the floor on test, where the run's later, diverse checkpoint
scored 1.36 above it). So every dev evaluation records `top_share`, the share of the dev examples that get its
most frequent prediction, and selection never trades a varied checkpoint for a constant one (`better`)."""
from __future__ import annotations

import math
import time
from collections import Counter
from typing import TYPE_CHECKING
from collections.abc import Callable

import numpy as np

from . import checkpoint as ckpt
from .budget import BudgetClock
from .evaluate import decode_and_score, dev_loss, perplexity
from .state import TrainState

if TYPE_CHECKING:
    from .session import Session


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


# a dev evaluation whose most frequent prediction is this share of the dev examples or more is constant
CONSTANT_SHARE = 0.5


def top_share(predictions: list[str]) -> float:
    """The share of `predictions` that are its most frequent one (compared as the scorer would: stripped and
    lower-cased): 1.0 for a constant predictor, 1/n when every prediction differs; 0.0 for none."""
    if not predictions:
        return 0.0
    counts = Counter(p.strip().lower() for p in predictions)
    return max(counts.values()) / len(predictions)


def is_constant(share: float | None) -> bool:
    return share is not None and share >= CONSTANT_SHARE


def _kind_differs(share: float | None, st: TrainState) -> bool:
    """Whether an evaluation of `share` is constant where the best checkpoint of `st` is varied, or the reverse
    (False when either share is unknown)."""
    return share is not None and st.best_top_share is not None and is_constant(share) != is_constant(st.best_top_share)


def better(bleu: float, loss: float, st: TrainState, margin: float, share: float | None = None) -> bool:
    """Whether a dev evaluation (mean dev BLEU `bleu`, mean dev loss `loss`, most frequent prediction's `share`
    of the dev examples, the highest over the languages) beats the 'best' checkpoint of `st`. A constant
    evaluation (`share` >= CONSTANT_SHARE) never replaces a varied best, and a varied one always replaces a
    constant best; between two of a kind, dev BLEU differences up to `margin` (eval.dev_tie_bleu) are noise: a
    BLEU more than `margin` above the best's wins; one within `margin` of the best's -- and of the highest dev BLEU
    seen so far among evaluations of the best's kind, so that a chain of ties cannot drift down -- wins when its
    dev loss is lower (by strictly higher BLEU when a loss is unknown or not finite: a checkpoint from before the
    tie-break); anything lower loses."""
    best = st.best_dev_bleu
    if best is None:
        return True
    if _kind_differs(share, st):
        return is_constant(st.best_top_share)
    if bleu > best + margin:
        return True
    top = max(best, st.top_dev_bleu if st.top_dev_bleu is not None else best)
    if bleu < best - margin or bleu < top - margin:
        return False
    if _finite(loss) and _finite(st.best_dev_loss):
        return loss < st.best_dev_loss or (loss == st.best_dev_loss and bleu > best)
    return bleu > best


def dev_eval(s: Session, st: TrainState, clock: BudgetClock, emit: Callable) -> None:
    with clock.paused():
        t0 = time.perf_counter()
        cfg = s.cfg
        losses, bleus, shares, n = [], [], [], 0
        for es in s.dev_sets:
            losses.append(dev_loss(s.model, es.enc, s.ids, cfg.eval.batch_size, s.hw.device, s.hw.autocast(),
                                   s.dist))
            sc = decode_and_score(s.model, s.tokenizer, es, s.ids, beam_size=cfg.eval.dev_beam_size,
                                  max_len=cfg.data.max_target_len, batch_size=cfg.eval.batch_size,
                                  device=s.hw.device, autocast=s.hw.autocast(), d=s.dist,
                                  no_repeat_ngram=cfg.eval.no_repeat_ngram)
            bleus.append(sc["bleu4"])
            shares.append(top_share(sc["predictions"]))
            n += len(es.examples)
        s.model.train()
        loss, bleu4, share = float(np.mean(losses)), float(np.mean(bleus)), max(shares, default=0.0)
        best = better(bleu4, loss, st, cfg.eval.dev_tie_bleu, share)
        # a varied best replacing a constant one starts the "highest seen" afresh: the anti-drift rule compares
        # evaluations of the best's kind only (a constant one's BLEU must not hold the varied ones down)
        kind_changed = best and _kind_differs(share, st)
        if best:
            st.best_dev_bleu = bleu4
            st.best_dev_loss = loss if math.isfinite(loss) else None
            st.best_top_share = share
        if kind_changed or st.top_dev_bleu is None:
            st.top_dev_bleu = bleu4
        elif is_constant(share) == is_constant(st.best_top_share):
            st.top_dev_bleu = max(st.top_dev_bleu, bleu4)
        st.last_eval_step = st.step
        seconds = time.perf_counter() - t0
        st.eval_seconds += seconds
        emit("eval", step=st.step, elapsed=round(st.elapsed, 3), split="valid", dev_loss=loss,
             dev_ppl=perplexity(loss), dev_bleu=bleu4, n=n, eval_seconds=round(seconds, 3), top_share=round(share, 4),
             best=best, per_language={es.language: b for es, b in zip(s.dev_sets, bleus)})
        if best:
            ckpt.write(s, st, "best", clock, emit, with_optimizer=False)
