"""The dev evaluation during training: dev loss and dev BLEU-4 per language on the fixed dev subsets, with the
budget clock paused; an `eval` event; a new best dev BLEU writes the 'best' checkpoint."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING
from collections.abc import Callable

import numpy as np

from . import checkpoint as ckpt
from .budget import BudgetClock
from .evaluate import decode_and_score, dev_loss, perplexity
from .state import TrainState

if TYPE_CHECKING:
    from .session import Session


def dev_eval(s: Session, st: TrainState, clock: BudgetClock, emit: Callable) -> None:
    with clock.paused():
        t0 = time.perf_counter()
        cfg = s.cfg
        losses, bleus, n = [], [], 0
        for es in s.dev_sets:
            losses.append(dev_loss(s.model, es.enc, s.ids, cfg.eval.batch_size, s.hw.device, s.hw.autocast(),
                                   s.dist))
            sc = decode_and_score(s.model, s.tokenizer, es, s.ids, beam_size=cfg.eval.beam_size,
                                  max_len=cfg.data.max_target_len, batch_size=cfg.eval.batch_size,
                                  device=s.hw.device, autocast=s.hw.autocast(), d=s.dist)
            bleus.append(sc["bleu4"])
            n += len(es.examples)
        s.model.train()
        loss, bleu4 = float(np.mean(losses)), float(np.mean(bleus))
        best = st.best_dev_bleu is None or bleu4 > st.best_dev_bleu
        if best:
            st.best_dev_bleu = bleu4
        st.last_eval_step = st.step
        seconds = time.perf_counter() - t0
        st.eval_seconds += seconds
        emit("eval", step=st.step, elapsed=round(st.elapsed, 3), split="valid", dev_loss=loss,
             dev_ppl=perplexity(loss), dev_bleu=bleu4, n=n, eval_seconds=round(seconds, 3),
             best=best, per_language={es.language: b for es, b in zip(s.dev_sets, bleus)})
        if best:
            ckpt.write(s, st, "best", clock, emit, with_optimizer=False)
