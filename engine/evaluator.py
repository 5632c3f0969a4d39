"""The final evaluation of a run: after training (`finish`) and for `cram eval RUN_DIR` (`evaluate_run`, built on
engine.session.setup_eval). Decodes the test split (or eval.split) with the best dev checkpoint, writes the
official-format predictions, results.csv and samples, and ends with a `done` event. A stop signal ends it at
the next batch (`done` stopped, checkpoints intact, `cram eval RUN_DIR` finishes it); a failed write names the
file (a full disk is `disk`)."""
from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from collections.abc import Callable

from . import checkpoint as ckpt
from . import model as model_lib
from .contract import config as config_lib
from .contract.events import EventWriter
from .contract.files import say
from .contract.rundir import (CONFIG, EVENTS, RESULTS, SAMPLES, prediction_paths, write_predictions, write_results,
                              write_samples)
from .errors import StopRun, end, guarded, write_or_stop
from .evaluate import final_evaluation
from .floor import constant_floor
from .progress import ProgressLine, emitter
from .session import Session, setup_eval
from .state import TrainState
from .stopping import StopSignal


def write_final(run_dir: Path, predictions: dict, rows: list[dict], samples: list[dict]) -> None:
    """The final writes: predictions {(language, split): (predictions, references)} (final_evaluation writes its
    own as it goes), results.csv and samples.jsonl. A failure is StopRun naming the file (errors.write_or_stop):
    `disk` for a full disk, else the OS's reason; the checkpoints are untouched."""
    run_dir = Path(run_dir)
    for (language, split), (preds, refs) in predictions.items():
        out, _ = prediction_paths(run_dir, language, split)
        write_or_stop(out, "the predictions", write_predictions, run_dir, language, split, preds, refs)
    write_or_stop(run_dir / RESULTS, "the results", write_results, run_dir, rows)
    write_or_stop(run_dir / SAMPLES, "the samples", write_samples, run_dir, samples)


def constants(s: Session) -> dict[str, str]:
    """{language: the constant-prediction floor's sentence}: the best single training summary of the language,
    chosen on its whole dev split (engine.floor), so every test BLEU is shown beside it."""
    out = {}
    for lang in s.cfg.data.languages:
        train = [e.target for e in s.splits.get((lang, "train"), [])]
        dev = [e.target for e in s.splits.get((lang, "valid"), [])]
        if train and dev:
            out[lang], _ = constant_floor(train, dev, seed=s.cfg.train.seed)
    return out


def finish(s: Session, st: TrainState, emit: Callable, model=None, stop: StopSignal | None = None) -> str:
    """Evaluate `model` (default: the best dev checkpoint if there is one, else the session's model) on the test
    sets; rank 0 writes the results and ends with `done` (completed). A stop request is honoured before the next
    batch: the run ends `done` stopped (or pruned) with the checkpoints intact and a `log` saying how to finish
    the evaluation (`cram eval RUN_DIR`). Returns the `done` status."""
    cfg = s.cfg
    requested = (lambda: stop.requested) if stop is not None else None
    emit("phase", phase="test_decode", message=f"{cfg.eval.split} split, beam {cfg.eval.beam_size}")
    if model is None:
        model = s.model
        best = ckpt.find(s.run_dir, "best")
        if best is not None and not (stop and stop.requested):
            model, _, _ = model_lib.load(best)
            model.to(s.hw.device)
            emit("log", level="info", message=f"evaluating the best dev checkpoint ({best.name}, step "
                 f"{ckpt.load_state(best)['step']})")
    rows, samples, stopped = final_evaluation(
        model, s.tokenizer, s.test_sets, s.ids, run_dir=s.run_dir, beam_size=cfg.eval.beam_size,
        max_len=cfg.data.max_target_len, batch_size=cfg.eval.batch_size, device=s.hw.device,
        autocast=s.hw.autocast(), n_samples=cfg.eval.samples, seed=cfg.train.seed, emit=emit, d=s.dist,
        should_stop=requested, floors=constants(s) if s.dist.is_main else None,
        no_repeat_ngram=cfg.eval.no_repeat_ngram)
    status = stop.status if stopped else "completed"
    if not s.dist.is_main:
        return status
    results = {r["language"]: r["bleu4"] for r in rows}
    if stopped:
        done = ", ".join(f"{r['language']} {r['split']}" for r in rows)
        emit("log", level="warning", message=f"the final evaluation stopped in {stopped['language']} "
             f"{stopped['split']} ({stopped['done']} of {stopped['total']} decoded)"
             + (f" after {done}" if done else "") + f"; the checkpoints are kept. Finish it with: "
             f"cram eval {s.run_dir} --split {cfg.eval.split}")
        end(emit, status, results=results or None, **st.summary())
        return status
    write_final(s.run_dir, {}, rows, samples)
    end(emit, "completed", results=results, **st.summary())
    return status


def evaluate_checkpoint(cfg: config_lib.RunConfig, run_dir: Path, emit: Callable, kind: str = "best",
                        split: str = "test", beam: int | None = None, *, writer=None,
                        stop: StopSignal | None = None) -> int:
    """Load checkpoint `kind` of the run (else its last one) and evaluate it, no training, holding the run's
    writer lock (`writer`: the EventWriter behind `emit`, for a refusal that must not touch the run's log)."""
    st = TrainState()

    def body() -> int:
        nonlocal st
        emit("phase", phase="starting", message=f"cram eval {run_dir}")
        folder = ckpt.find(run_dir, kind) or ckpt.find(run_dir, "last")
        if folder is None:
            raise StopRun("config", f"{run_dir} has no checkpoint", "train the run first (cram train)")
        cfg.eval.split = split
        if beam:
            cfg.eval.beam_size = beam
        s = setup_eval(cfg, run_dir, emit, folder)
        st = TrainState.from_dict(ckpt.load_state(folder))
        finish(s, st, emit, model=s.model, stop=stop)
        return 0

    return guarded(run_dir, emit, lambda: st.summary(), body, lock="eval", writer=writer)


def evaluate_run(run_dir: Path, split: str = "test", beam: int | None = None, checkpoint: str = "best",
                 jsonl: bool = False, stop: StopSignal | None = None) -> int:
    """`cram eval RUN_DIR`: events to RUN_DIR/events.jsonl (and stdout with --jsonl, else a progress line). The
    stop signals end it between two batches (`done` stopped), as in training."""
    run_dir = Path(run_dir)
    if stop is None:
        stop = StopSignal()
        if threading.current_thread() is threading.main_thread():
            stop.install()
    if not (run_dir / CONFIG).is_file():
        say(f"cram: {run_dir} is not a run directory (no {CONFIG})")
        return 2
    cfg = config_lib.load(run_dir / CONFIG)
    main = int(os.environ.get("RANK", "0")) == 0  # under torchrun, rank 0 alone writes events
    writer = EventWriter(run_dir / EVENTS if main else None, sys.stdout if jsonl and main else None)
    progress = ProgressLine() if main and not jsonl else None
    try:
        return evaluate_checkpoint(cfg, run_dir, emitter(writer, progress), checkpoint, split, beam,
                                   writer=writer if main else None, stop=stop)
    finally:
        writer.close()
