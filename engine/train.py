"""The training loop, in phases: setup (engine.session) -> train (this file) -> finish (engine.evaluator).

`run` is `cram train`: holding the run directory's writer lock, it sets a session up (fresh, or resumed from the
last checkpoint with its `TrainState`), announces it (`started`), trains until a limit or a stop signal, then
evaluates the best dev checkpoint on the test split (a stop signal ends that at the next batch too). `phase` events
mark each change of what it is doing. `train` is the loop itself: before every step ONE decision
(engine.stopping.decide: stop? evaluate? checkpoint?), then one optimizer step (engine.step.train_step).
"""
from __future__ import annotations

import math
import os
import socket
import time
from pathlib import Path
from collections.abc import Callable

from . import checkpoint as ckpt
from . import hardware
from . import model as model_lib
from .batching import BatchPlan, bucket_key as default_bucket_key, collate as default_collate
from .budget import BudgetClock
from .contract import config as config_lib
from .contract import schedule as schedule_lib
from .dev_eval import dev_eval
from .contract.files import say
from .errors import StopRun, end, guarded
from .evaluator import finish
from .mirrors import open_mirrors
from .progress import ProgressLine, emitter
from .session import Session, setup
from .state import TrainState
from .step import StepEvents, StepTimer, train_step
from .stopping import Milestones, StopReason, StopSignal, decide


def train(s: Session, st: TrainState, emit: Callable, stop: StopSignal, *, collate: Callable = default_collate,
          clock_class: type[BudgetClock] = BudgetClock) -> StopReason:
    """Train from `st` until the budget, budget.max_steps, budget.max_epochs or a stop signal; `st` follows along.
    Ends with the 'last' checkpoint (and a dev evaluation unless stopped by a signal or just evaluated)."""
    cfg, dist = s.cfg, s.dist
    clock = clock_class(cfg.budget.seconds, st.elapsed)
    plan = BatchPlan(s.train_lengths, cfg.train.batch_size, cfg.train.seed, cfg.train.grad_accum, dist.world,
                     dist.rank, repeats=s.train_repeats)
    timer, events, due = StepTimer(s.train_enc), StepEvents(emit, s, st.elapsed), Milestones(cfg.eval, st.elapsed)
    s.model.train()
    compiling = bool(cfg.hardware.compile)  # until the first step is done
    lr_plan = schedule_record(s)             # the LR the `started` event announces is the LR trained with
    clock.start()
    group = plan.next_group(st)              # the next step's batches, all ranks'
    while True:
        mine = plan.mine(group)              # this rank's share
        d = decide(st, cfg.budget, clock, timer.predict(mine), stop.requested, dist, s.hw.device,
                   evaluate_due=due.eval_due(st.elapsed), checkpoint_due=due.checkpoint_due(st.elapsed))
        if d.stop:
            break
        if d.evaluate:
            emit("phase", phase="dev_eval")
            dev_eval(s, st, clock, emit)
            due.evaluated(st.elapsed)
        if d.checkpoint:
            emit("phase", phase="checkpointing", message="last")
            ckpt.write(s, st, "last", clock, emit)
            due.checkpointed(st.elapsed)
        if d.evaluate or d.checkpoint:
            emit("phase", phase="training")

        t0 = time.perf_counter()
        lr = schedule_lib.lr(lr_plan, clock.progress, st.step)
        r = train_step(s, mine, lr, collate=collate)
        if compiling:
            compiling = False
            emit("phase", phase="training")
        examples = sum(map(len, group))
        st.step += 1
        st.batch_in_epoch += len(group)
        st.tokens_seen += r.tokens
        st.examples_seen += examples
        s.hw.synchronize()
        timer.observe(time.perf_counter() - t0, mine)
        st.elapsed = clock.elapsed
        loss = r.loss_sum / max(r.n_tok, 1)
        if not math.isfinite(loss):
            raise StopRun("nonfinite", f"training loss is {loss} at step {st.step}",
                          "lower train.lr, set train.grad_clip, or use precision fp32/bf16 instead of fp16; "
                          "the last good checkpoint is kept")
        events.add(r, examples)
        events.maybe_emit(st, clock.progress)
        group = plan.next_group(st)

    clock.pause()
    st.elapsed = clock.elapsed
    if dist.enabled:
        say(f"cram[rank {dist.rank}/{dist.world}]: training ended at step {st.step}")
    events.flush(st, clock.progress)
    if d.stop is not StopReason.SIGNAL and st.last_eval_step != st.step:
        emit("phase", phase="dev_eval")
        dev_eval(s, st, clock, emit)
    emit("phase", phase="checkpointing", message="last")
    ckpt.write(s, st, "last", clock, emit)
    return d.stop


def resume_checkpoint(run_dir: Path, emit: Callable) -> Path | None:
    """The checkpoint a resumed run continues from (half-written ones are removed first)."""
    ckpt.clean_temp(run_dir)
    folder = ckpt.find(run_dir, "last")
    if folder is None:
        emit("log", level="warning", message="no checkpoint to resume from: starting from step 0")
    return folder


def schedule_record(s: Session) -> dict:
    """The LR schedule as the `started` event records it (engine.contract.schedule.lr reads it)."""
    t = s.cfg.train
    return {"name": t.schedule, "warmup": t.warmup, "peak_lr": t.lr, "total_steps": s.total_steps,
            "decay": t.decay, "floor": t.lr_floor}


def announce(s: Session, st: TrainState, emit: Callable) -> None:
    cfg = s.cfg
    emit("started", run_dir=str(s.run_dir), config=cfg.to_dict(), device=s.hw.describe(), precision=s.hw.precision,
         versions=hardware.versions(), n_params=model_lib.count_params(s.model), resumed=s.resume_from is not None,
         step=st.step, elapsed=st.elapsed, budget_seconds=cfg.budget.seconds, n_train=len(s.train_enc),
         host=socket.gethostname(), pid=os.getpid(), world_size=s.dist.world,
         schedule=schedule_record(s))


def run(cfg: config_lib.RunConfig, run_dir: Path, writer, resume: bool = False,
        progress: ProgressLine | None = None, stop: StopSignal | None = None, *,
        collate: Callable = default_collate, bucket_key: Callable = default_bucket_key,
        clock_class: type[BudgetClock] = BudgetClock) -> int:
    """`cram train`: exit code 0 when completed or stopped, 2 for a config or data error, 1 for other failures.
    `collate`, `bucket_key` and `clock_class` are the seams the benchmarks use (engine.batching, engine.budget)."""
    run_dir = Path(run_dir)
    # metrics.csv and (log.tensorboard) TensorBoard files, written by the rank that writes events.jsonl
    mirrors = open_mirrors(cfg, run_dir) if getattr(writer, "path", None) else None
    emit = emitter(writer, progress, mirrors)
    stop = stop or StopSignal()
    st = TrainState()

    def body() -> int:
        nonlocal st
        emit("phase", phase="starting", message="resume" if resume else "train")
        for problem in mirrors.problems if mirrors is not None else ():
            emit("log", level="warning", message=problem)
        resume_from = resume_checkpoint(run_dir, emit) if resume else None
        s = setup(cfg, run_dir, emit, resume_from=resume_from, bucket_key=bucket_key)
        if resume_from is not None:
            st = TrainState.from_dict(ckpt.load_state(resume_from))
            emit("log", level="info", message=f"resumed from {resume_from} at step {st.step}, "
                 f"{st.elapsed:.1f}s of {cfg.budget.seconds:.0f}s")
        announce(s, st, emit)
        # torch.compile compiles at the first step (train() announces `training` after it)
        emit("phase", phase="compiling" if cfg.hardware.compile else "training")
        if train(s, st, emit, stop, collate=collate, clock_class=clock_class) is StopReason.SIGNAL:
            end(emit, stop.status, **st.summary())
            return 0
        finish(s, st, emit, stop=stop)
        return 0

    # one writer per run directory: a second one is refused before it touches anything (errors.refuse_locked)
    try:
        return guarded(run_dir, emit, lambda: st.summary(), body, lock="resume" if resume else "train",
                       writer=writer)
    finally:
        if mirrors is not None:
            mirrors.close()
