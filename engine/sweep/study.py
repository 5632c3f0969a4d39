"""The Optuna side of a sweep: the study in a journal file inside the sweep directory, the sampler and pruner of
the spec, the sweep-wide ask lock, trial claims, and sweep.json (what the console reads, without Optuna).

Several workers (processes, possibly on several hosts of a shared filesystem) share one study:
  - the study lives in SWEEP_DIR/study.journal (Optuna's JournalFileBackend, whose lock works on NFS);
  - deciding what to run next (resume an orphaned trial, or ask a new one after checking the grid, n_trials and
    the remaining budget) happens under ONE sweep-wide lock (SWEEP_DIR/ask.lock, Optuna's JournalFileOpenLock):
    two workers never pick the same trial, the budget check sees every trial started before, and the grid sampler
    gives trial number k grid point k (so a grid of N points is N trials, none twice);
  - the worker running a trial holds its claim, SWEEP_DIR/claims/trial-NNN.json (host, pid, time), and touches
    it every few seconds; a claim whose process is dead on this host, or that was not touched for
    CLAIM_STALE_S, is free: the trial is an orphan (its worker was killed) and the next worker resumes it from
    its checkpoint (`cram train --resume TRIAL_DIR`) within the same Optuna trial.
"""
from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock
from optuna.trial import TrialState

from engine.contract.rundir import atomic_write_json
from engine.contract.sweeps import JOURNAL_FILE, SWEEP_FILE

from .claims import CLAIM_STALE_S, HEARTBEAT_S, Claim, worker_id  # noqa: F401  (re-exported)
from .report import trial_metrics
from .plan import SweepSpec, fit_slack

STUDY_NAME = "sweep"
ASK_LOCK = "ask.lock"

# user attributes of a trial (the journal keeps them; sweep.json repeats them)
A_DIR = "dir"                  # the trial's run directory, relative to the sweep directory
A_BUDGET = "budget_seconds"    # the trial's training budget (reserved while it runs)
A_WORKER = "worker"
A_PRUNE = "prune_requested"    # the pruner said stop: the trial's end is `pruned` whatever the engine wrote
A_SKIPPED = "skipped"          # a trial asked but not started (the budget could not fit it)
A_RESULT = "result"            # the trial's metrics when it ended (trained seconds, ...)
A_PROCESS = "process_seconds"  # wall seconds of its `cram train` processes (start-up, training, evaluation)

optuna.logging.set_verbosity(optuna.logging.WARNING)


def storage(sweep_dir: Path) -> JournalStorage:
    path = str(Path(sweep_dir) / JOURNAL_FILE)
    return JournalStorage(JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))


class SweepGridSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler, minus its `study.stop()` when the grid is exhausted (that only works inside
    `study.optimize`; the sweep's workers stop asking by themselves: trial k is grid point k, see the module doc)."""

    def after_trial(self, study, trial, state, values) -> None:
        pass


def sampler(spec: SweepSpec) -> optuna.samplers.BaseSampler:
    if spec.sampler == "grid":
        return SweepGridSampler(spec.grid(), seed=spec.seed)
    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=spec.seed)
    kw: dict[str, Any] = {"seed": spec.seed}
    if spec.n_startup_trials is not None:
        kw["n_startup_trials"] = spec.n_startup_trials
    return optuna.samplers.TPESampler(**kw)


def pruner(spec: SweepSpec) -> optuna.pruners.BasePruner:
    """Pruners judge trials at steps = training seconds of each dev evaluation (see runner.report_step)."""
    base = spec.base()
    every = max(1, int(round(base.eval.every_seconds or 1)))
    if spec.pruner == "successive-halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=spec.min_resource or every,
                                                      reduction_factor=spec.reduction_factor)
    if spec.pruner == "hyperband":
        top = spec.max_resource or int(max(spec.trial_budgets()))
        return optuna.pruners.HyperbandPruner(min_resource=spec.min_resource or every, max_resource=top,
                                              reduction_factor=spec.reduction_factor)
    return optuna.pruners.NopPruner()


def open_study(spec: SweepSpec, sweep_dir: Path) -> optuna.Study:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=optuna.exceptions.ExperimentalWarning)
        return optuna.create_study(study_name=STUDY_NAME, storage=storage(sweep_dir), load_if_exists=True,
                                   direction=spec.direction, sampler=sampler(spec), pruner=pruner(spec))


def distributions(spec: SweepSpec) -> dict[str, optuna.distributions.BaseDistribution]:
    out = {}
    for p in spec.params:
        if p.is_grid:
            out[p.name] = optuna.distributions.CategoricalDistribution(p.values)
        elif p.type == "int":
            out[p.name] = optuna.distributions.IntDistribution(int(p.low), int(p.high), log=p.log,
                                                               step=int(p.step or 1))
        else:
            out[p.name] = optuna.distributions.FloatDistribution(p.low, p.high, log=p.log, step=p.step)
    return out


def suggest(trial: optuna.Trial, spec: SweepSpec) -> dict[str, Any]:
    """The trial's values (the same ones again for a trial that already has them)."""
    values = {}
    for p in spec.params:
        if p.is_grid:
            values[p.name] = trial.suggest_categorical(p.name, p.values)
        elif p.type == "int":
            values[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log, step=int(p.step or 1))
        else:
            values[p.name] = trial.suggest_float(p.name, p.low, p.high, log=p.log, step=p.step)
    return values


# -- the sweep-wide lock -----------------------------------------------------------------------------------------
class AskLock:
    """Held while a worker decides what to run next (a few milliseconds)."""

    def __init__(self, sweep_dir: Path):
        self._lock = JournalFileOpenLock(str(Path(sweep_dir) / ASK_LOCK), grace_period=60)

    def __enter__(self):
        self._lock.acquire()
        return self

    def __exit__(self, *exc):
        self._lock.release()


# -- accounting and sweep.json ----------------------------------------------------------------------------------
def trial_status(t: optuna.trial.FrozenTrial, sweep_dir: Path) -> str:
    if t.state == TrialState.COMPLETE:
        return "completed"
    if t.state == TrialState.PRUNED:
        return "pruned"
    if t.state == TrialState.FAIL:
        return "skipped" if t.user_attrs.get(A_SKIPPED) else "failed"
    if t.state == TrialState.WAITING:
        return "waiting"
    return "running" if Claim(sweep_dir, t.number).live() else "interrupted"


def committed_seconds(trials: list[optuna.trial.FrozenTrial], sweep_dir: Path, before: int | None = None) -> float:
    """Training seconds spent by finished trials plus the budgets reserved by running (or interrupted, to be
    resumed) ones; with `before`, only trials numbered below it."""
    total = 0.0
    for t in trials:
        if before is not None and t.number >= before:
            continue
        if t.state == TrialState.RUNNING:
            total += float(t.user_attrs.get(A_BUDGET) or 0.0)
        elif t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL):
            res = t.user_attrs.get(A_RESULT) or {}
            total += float(res.get("trained_seconds") or 0.0)
    return total


def fits(spec: SweepSpec, committed: float, trial_budget: float) -> bool:
    return committed + trial_budget <= spec.total_seconds + fit_slack(trial_budget)


def summary(spec: SweepSpec, study: optuna.Study, sweep_dir: Path, state: str | None = None) -> dict:
    """sweep.json: the spec, every trial (dir, values, status, objective, seconds, tokens, test BLEU), the budget
    accounting and the best trial. Built from the journal and the trial run directories."""
    sweep_dir = Path(sweep_dir)
    trials = study.get_trials(deepcopy=False)
    rows = []
    trained = evals = wall = reserved = 0.0
    for t in trials:
        status = trial_status(t, sweep_dir)
        rel = t.user_attrs.get(A_DIR)
        m = _metrics(sweep_dir / rel, spec) if rel else {}
        row = {"number": t.number, "dir": rel, "params": dict(t.params), "status": status,
               "objective": (t.value if t.state == TrialState.COMPLETE else m.get("objective")),
               "best_dev_bleu": m.get("best_dev_bleu"), "trained_seconds": m.get("trained_seconds", 0.0),
               "eval_seconds": m.get("eval_seconds", 0.0),
               "wall_seconds": max(float(t.user_attrs.get(A_PROCESS) or 0.0), m.get("wall_seconds", 0.0)),
               "tokens_seen": m.get("tokens_seen"), "test": m.get("test", {}), "test_mean": m.get("test_mean"),
               "floor_mean": m.get("floor_mean"), "above_floor": m.get("above_floor"),
               "budget_seconds": t.user_attrs.get(A_BUDGET), "worker": t.user_attrs.get(A_WORKER),
               "sessions": m.get("sessions", 0), "resumed": m.get("resumed", False),
               "intermediate": sorted([int(k), v] for k, v in t.intermediate_values.items()),
               "started": t.datetime_start.timestamp() if t.datetime_start else None,
               "finished": t.datetime_complete.timestamp() if t.datetime_complete else None,
               "skipped": t.user_attrs.get(A_SKIPPED)}
        rows.append(row)
        trained += row["trained_seconds"] or 0.0
        evals += row["eval_seconds"] or 0.0
        wall += row["wall_seconds"] or 0.0
        if t.state == TrialState.RUNNING:
            reserved += max(0.0, float(t.user_attrs.get(A_BUDGET) or 0.0) - (row["trained_seconds"] or 0.0))
    done = [r for r in rows if r["status"] == "completed" and r["objective"] is not None]
    best = None
    if done:
        key = (lambda r: r["objective"])
        b = min(done, key=key) if spec.direction == "minimize" else max(done, key=key)
        best = {k: b[k] for k in ("number", "dir", "params", "objective", "best_dev_bleu", "test", "test_mean")}
    running = [r for r in rows if r["status"] == "running"]
    if state is None:
        state = "running" if running else ("interrupted" if any(r["status"] == "interrupted" for r in rows)
                                           else "completed")
    return {"version": 1, "name": spec.name, "sweep_dir": str(sweep_dir.resolve()), "state": state,
            "updated": round(time.time(), 3), "spec": spec.to_dict(), "grid_size": spec.grid_size(),
            "planned_trials": spec.planned_trials(),
            "budget": {"total_seconds": spec.total_seconds, "trained_seconds": round(trained, 3),
                       "eval_seconds": round(evals, 3), "overhead_seconds": round(max(0.0, wall - trained - evals), 3),
                       "wall_seconds": round(wall, 3), "reserved_seconds": round(reserved, 3),
                       "unused_seconds": round(max(0.0, spec.total_seconds - trained - reserved), 3)},
            "trials": rows, "best": best}


_CACHE: dict = {}


def _metrics(run_dir: Path, spec: SweepSpec) -> dict:
    """trial_metrics, re-read only when the trial's events or its pid file changed."""
    try:
        st = (run_dir / "events.jsonl").stat()
        key = (str(run_dir), st.st_size, st.st_mtime_ns, (run_dir / "worker.pid").exists(), spec.metric, spec.pick)
    except OSError:
        key = None
    if key is not None and _CACHE.get(str(run_dir), (None,))[0] == key:
        return _CACHE[str(run_dir)][1]
    m = trial_metrics(run_dir, spec.metric, spec.pick, spec.direction)
    if key is not None:
        _CACHE[str(run_dir)] = (key, m)
    return m


def write_summary(spec: SweepSpec, study: optuna.Study, sweep_dir: Path, state: str | None = None) -> dict:
    s = summary(spec, study, sweep_dir, state)
    atomic_write_json(Path(sweep_dir) / SWEEP_FILE, s)
    return s
