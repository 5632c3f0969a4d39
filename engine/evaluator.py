"""The final evaluation of a run: after training (`finish`) and for `cram eval RUN_DIR` (`evaluate_run`, built on
engine.session.setup_eval). Decodes the test split (or eval.split) with the best dev checkpoint, writes the
official-format predictions, results.csv and samples, and ends with a `done` event."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from collections.abc import Callable

from . import checkpoint as ckpt
from . import model as model_lib
from .contract import config as config_lib
from .contract.events import EventWriter
from .contract.rundir import CONFIG, EVENTS, write_results, write_samples
from .errors import StopRun, guarded
from .evaluate import final_evaluation
from .progress import ProgressLine, emitter
from .session import Session, setup_eval
from .state import TrainState


def finish(s: Session, st: TrainState, emit: Callable, model=None) -> None:
    """Evaluate `model` (default: the best dev checkpoint if there is one, else the session's model) on the test
    sets; rank 0 writes the results and emits `done` (completed)."""
    cfg = s.cfg
    if model is None:
        model = s.model
        best = ckpt.find(s.run_dir, "best")
        if best is not None:
            model, _, _ = model_lib.load(best)
            model.to(s.hw.device)
            emit("log", level="info", message=f"evaluating the best dev checkpoint ({best.name}, step "
                 f"{ckpt.load_state(best)['step']})")
    rows, samples = final_evaluation(
        model, s.tokenizer, s.test_sets, s.ids, run_dir=s.run_dir, beam_size=cfg.eval.beam_size,
        max_len=cfg.data.max_target_len, batch_size=cfg.eval.batch_size, device=s.hw.device,
        autocast=s.hw.autocast(), n_samples=cfg.eval.samples, seed=cfg.train.seed, emit=emit, d=s.dist)
    if not s.dist.is_main:
        return
    write_results(s.run_dir, rows)
    write_samples(s.run_dir, samples)
    emit("done", status="completed", stopped=False, results={r["language"]: r["bleu4"] for r in rows},
         **st.summary())


def evaluate_checkpoint(cfg: config_lib.RunConfig, run_dir: Path, emit: Callable, kind: str = "best",
                        split: str = "test", beam: int | None = None) -> int:
    """Load checkpoint `kind` of the run (else its last one) and evaluate it, no training."""
    st = TrainState()

    def body() -> int:
        nonlocal st
        folder = ckpt.find(run_dir, kind) or ckpt.find(run_dir, "last")
        if folder is None:
            raise StopRun("config", f"{run_dir} has no checkpoint", "train the run first (cram train)")
        cfg.eval.split = split
        if beam:
            cfg.eval.beam_size = beam
        s = setup_eval(cfg, run_dir, emit, folder)
        st = TrainState.from_dict(ckpt.load_state(folder))
        finish(s, st, emit, model=s.model)
        return 0

    return guarded(run_dir, emit, lambda: st.summary(), body)


def evaluate_run(run_dir: Path, split: str = "test", beam: int | None = None, checkpoint: str = "best",
                 jsonl: bool = False) -> int:
    """`cram eval RUN_DIR`: events to RUN_DIR/events.jsonl (and stdout with --jsonl, else a progress line)."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).is_file():
        print(f"cram: {run_dir} is not a run directory (no {CONFIG})", file=sys.stderr)
        return 2
    cfg = config_lib.load(run_dir / CONFIG)
    main = int(os.environ.get("RANK", "0")) == 0  # under torchrun, rank 0 alone writes events
    writer = EventWriter(run_dir / EVENTS if main else None, sys.stdout if jsonl and main else None)
    progress = ProgressLine() if main and not jsonl else None
    try:
        return evaluate_checkpoint(cfg, run_dir, emitter(writer, progress), checkpoint, split, beam)
    finally:
        writer.close()

