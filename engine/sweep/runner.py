"""One sweep worker: resume an orphaned trial or ask a new one, run it as an ordinary `cram train` subprocess on a
run directory under the sweep directory, tail its events.jsonl and feed the dev objective of every `eval` event
to the Optuna trial (step = training seconds of that evaluation); when the pruner says so, stop the trial like a
Stop and record it pruned. Until no trial fits the remaining total budget, the grid is done or n_trials is reached.

Signals: SIGTERM / SIGINT / SIGUSR1 = stop gracefully: the running trial is stopped (SIGTERM: it checkpoints),
stays RUNNING in the study, and `cram sweep --resume D` (or any worker) continues it from its checkpoint.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable

import optuna
from optuna.trial import TrialState

from engine.contract.config import ConfigError, save as save_config
from engine.contract.events import decode, encode
from engine.contract.files import open_read, say
from engine.contract.launch import TrainArgs, engine_command
from engine.contract.rundir import EVENTS, checkpoint_dir, run_dir_name, writer_alive
from engine.contract.sweeps import BASE_FILE, SPEC_FILE

from . import study as S
from .plan import SweepSpec, format_value, param_sets
from .report import objective_of, trial_metrics

POLL_S = 0.5
LOGS_DIR = "logs"
# the signal that prunes a trial: the engine stops on SIGUSR2 like a Stop (checkpoint kept) with `done` status
# `pruned` (engine.stopping.StopSignal)
PRUNE_SIGNAL = signal.SIGUSR2


def prune_signal() -> int:
    return PRUNE_SIGNAL


@dataclass
class Job:
    number: int
    trial_id: int
    run_dir: Path
    values: dict[str, Any]
    resume: bool
    budget: float


@dataclass
class Outcome:
    state: str                 # completed | pruned | failed | stopped (left RUNNING to resume)
    objective: float | None = None
    metrics: dict = field(default_factory=dict)
    exit_code: int | None = None


class Tail:
    """New complete lines of a growing events.jsonl (a torn last line waits for its end)."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self._buf = b""

    def read(self) -> list[dict]:
        if not self.path.is_file() or self.path.is_symlink():
            return []
        try:
            with open_read(self.path) as fh:
                fh.seek(self.offset)
                data = fh.read()
        except OSError:
            return []
        self.offset += len(data)
        self._buf += data
        *lines, self._buf = self._buf.split(b"\n")
        return [ev for ev in map(decode, lines) if ev is not None]


class Sweep:
    def __init__(self, spec: SweepSpec, sweep_dir: Path, *, jsonl: bool = False, python: str | None = None,
                 out: Callable[[str], None] | None = None):
        self.spec, self.dir = spec, Path(sweep_dir)
        self.jsonl = jsonl
        self.python = python
        self.stop_requested = False
        self.child: subprocess.Popen | None = None
        self.started_trials = 0
        self._out = out or (lambda line: print(line, flush=True))
        self.study: optuna.Study | None = None

    # -- output ---------------------------------------------------------------------------------------------------
    def emit(self, event: str, **fields) -> None:
        if self.jsonl:
            try:
                self._out(encode(event, **fields))
            except (OSError, ValueError):
                pass

    def log(self, message: str, level: str = "info") -> None:
        say(f"cram sweep: {message}")
        self.emit("log", level=level, message=message)

    def progress(self, message: str) -> None:
        trials = self.study.get_trials(deepcopy=False)
        finished = sum(t.state.is_finished() and not t.user_attrs.get(S.A_SKIPPED) for t in trials)
        self.emit("progress", task="sweep", done=finished, total=self.spec.planned_trials() or 0, message=message)

    # -- signals --------------------------------------------------------------------------------------------------
    def install_signals(self) -> None:
        def handler(signum, frame):
            if self.stop_requested and signum == signal.SIGINT:
                raise KeyboardInterrupt
            if not self.stop_requested:
                say(f"cram sweep: {signal.Signals(signum).name} received: stopping the running trial "
                    "(checkpoint), then the sweep; resume with `cram sweep --resume`")
            self.stop_requested = True
            if self.child is not None and self.child.poll() is None:
                try:
                    self.child.send_signal(signal.SIGTERM)
                except OSError:
                    pass

        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
            signal.signal(sig, handler)

    # -- the loop -------------------------------------------------------------------------------------------------
    def run(self) -> int:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.study = S.open_study(self.spec, self.dir)
        S.write_summary(self.spec, self.study, self.dir)
        self.progress(f"sweep {self.spec.name} in {self.dir}")
        reason = ""
        failed = 0
        while not self.stop_requested:
            with S.AskLock(self.dir):
                job, reason = self.next_job()
            if job is None:
                break
            claim = S.Claim(self.dir, job.number)
            claim.held = True  # taken under the lock by next_job
            S.write_summary(self.spec, self.study, self.dir)
            try:
                outcome = self.run_trial(job, claim)
            finally:
                claim.release()
            failed += outcome.state == "failed"
            S.write_summary(self.spec, self.study, self.dir, self._state())
            self.progress(f"trial {job.number} {outcome.state}"
                          + (f": objective {outcome.objective:.3f}" if outcome.objective is not None else ""))
        state = "stopped" if self.stop_requested else self._state()
        s = S.write_summary(self.spec, self.study, self.dir, state)
        if not self.stop_requested and reason:
            self.log(reason)
        b = s["budget"]
        self.log(f"sweep {state}: {len(s['trials'])} trials; trained {b['trained_seconds']:.1f}s of "
                 f"{b['total_seconds']:.0f}s, dev evaluation {b['eval_seconds']:.1f}s, other overhead "
                 f"{b['overhead_seconds']:.1f}s, unused {b['unused_seconds']:.1f}s")
        best = s["best"]
        self.emit("done", status="stopped" if self.stop_requested else ("completed" if state != "failed" else "failed"),
                  stopped=self.stop_requested, elapsed=b["trained_seconds"], eval_seconds=b["eval_seconds"],
                  best_dev_bleu=best["best_dev_bleu"] if best else None, path=str(self.dir))
        return 0

    def _state(self) -> str:
        trials = self.study.get_trials(deepcopy=False)
        if any(t.state == TrialState.RUNNING and S.Claim(self.dir, t.number).live() for t in trials):
            return "running"
        if self.stop_requested:
            return "stopped"
        if any(t.state == TrialState.RUNNING for t in trials):
            return "interrupted"
        return "completed"

    # -- what to run next (under the ask lock) ----------------------------------------------------------------------
    def next_job(self) -> tuple[Job | None, str]:
        trials = self.study.get_trials(deepcopy=False)
        # 1. an orphan: RUNNING in the study, no live worker
        for t in sorted(trials, key=lambda t: t.number):
            if t.state != TrialState.RUNNING:
                continue
            claim = S.Claim(self.dir, t.number)
            if claim.live():
                continue
            rel = t.user_attrs.get(S.A_DIR)
            if rel and writer_alive(self.dir / rel):
                continue  # its engine process still runs (its worker died): leave it alone
            if not claim.acquire():
                continue
            if rel:
                job = Job(t.number, t._trial_id, self.dir / rel, dict(t.params), resume=True,
                          budget=float(t.user_attrs.get(S.A_BUDGET) or 0.0))
                return job, ""
            # asked, but its worker died before it got a directory: give it one now (same values)
            return self._prepare(optuna.trial.Trial(self.study, t._trial_id)), ""
        # 2. a new trial, if the grid, n_trials and the budget allow
        started = [t for t in trials if not t.user_attrs.get(S.A_SKIPPED)]
        grid = self.spec.grid_size()
        if grid is not None and len(trials) >= grid:
            return None, f"every grid point ({grid}) has a trial"
        if self.spec.n_trials and len(started) >= self.spec.n_trials:
            return None, f"n_trials ({self.spec.n_trials}) reached"
        committed = S.committed_seconds(trials, self.dir)
        budgets = self.spec.trial_budgets()
        if not S.fits(self.spec, committed, budgets[0]):
            return None, (f"the remaining budget ({self.spec.total_seconds - committed:.1f}s of "
                          f"{self.spec.total_seconds:.0f}s) cannot fit another trial of {budgets[0]:.0f}s")
        trial = self.study.ask()
        values = S.suggest(trial, self.spec)
        budget = float(self.spec.trial_config(values).budget.seconds)
        if not S.fits(self.spec, S.committed_seconds(self.study.get_trials(deepcopy=False), self.dir,
                                                     before=trial.number), budget):
            trial.set_user_attr(S.A_SKIPPED, f"the remaining budget could not fit its {budget:.0f}s")
            self.study.tell(trial, state=TrialState.FAIL)
            return None, (f"the remaining budget cannot fit trial {trial.number} ({budget:.0f}s); "
                          "no more trials started")
        S.Claim(self.dir, trial.number).acquire()
        return self._prepare(trial, values), ""

    def _prepare(self, trial: optuna.Trial, values: dict | None = None) -> Job:
        values = values if values is not None else S.suggest(trial, self.spec)
        cfg = self.spec.trial_config(values, trial.number)
        run_dir = self.dir / f"trial-{trial.number:03d}-{run_dir_name(cfg.name)}"
        run_dir.mkdir(parents=True, exist_ok=False)
        trial.set_user_attr(S.A_DIR, run_dir.name)
        trial.set_user_attr(S.A_BUDGET, float(cfg.budget.seconds))
        trial.set_user_attr(S.A_WORKER, S.worker_id())
        return Job(trial.number, trial._trial_id, run_dir, values, resume=False, budget=float(cfg.budget.seconds))

    # -- one trial ---------------------------------------------------------------------------------------------
    def argv(self, job: Job) -> list[str]:
        if job.resume and ((job.run_dir / "config.json").is_file() or checkpoint_dir(job.run_dir) is not None):
            args = TrainArgs(resume=str(job.run_dir))
        else:
            job.resume = False
            sets = param_sets(job.values) + [f"name={self.spec.trial_config(job.values, job.number).name}"]
            args = TrainArgs(config=str(self.dir / BASE_FILE), sets=sets, run_dir=str(job.run_dir))
        return engine_command(self.python) + args.argv()

    def run_trial(self, job: Job, claim: S.Claim) -> Outcome:
        trial = optuna.trial.Trial(self.study, job.trial_id)
        if job.resume:
            done = trial_metrics(job.run_dir, self.spec.metric, self.spec.pick, self.spec.direction)["done_status"]
            if done in ("completed", "pruned"):  # its worker died after the trial ended: only the study lags
                self.log(f"trial {job.number} had ended ({done}) when its worker died: recorded")
                return self.finish(job, trial, 0)
        what = ", ".join(f"{k}={format_value(v)}" for k, v in job.values.items())
        cmd = self.argv(job)
        self.log(f"trial {job.number} {'resumed' if job.resume else 'started'} ({what}): {job.run_dir.name}")
        self.started_trials += 1
        logs = self.dir / LOGS_DIR
        logs.mkdir(exist_ok=True)
        env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
               "PYTHONUNBUFFERED": "1"}
        root = str(Path(__file__).resolve().parent.parent.parent)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        tail = Tail(job.run_dir / EVENTS)
        reported = set(trial.storage.get_trial(job.trial_id).intermediate_values)
        prune_sent = bool(trial.storage.get_trial_user_attrs(job.trial_id).get(S.A_PRUNE))
        t0 = time.monotonic()
        with open(logs / f"trial-{job.number:03d}.log", "ab") as log:
            self.child = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          env=env)
            if self.stop_requested:  # a signal that came before the child existed
                self.child.send_signal(signal.SIGTERM)
            while True:
                code = self.child.poll()
                for ev in tail.read():
                    if ev.get("event") != "eval" or prune_sent:
                        continue
                    value = objective_of(ev, self.spec.metric)
                    step = report_step(ev)
                    if value is None or step is None or step in reported:
                        continue
                    reported.add(step)
                    trial.report(value, step)
                    S.write_summary(self.spec, self.study, self.dir)
                    self.emit("log", level="info", message=f"trial {job.number}: {self.spec.metric} "
                              f"{value:.3f} at {step}s of training")
                    if self.spec.pruner != "none" and trial.should_prune() and not self.stop_requested:
                        prune_sent = True
                        trial.set_user_attr(S.A_PRUNE, True)
                        self.log(f"trial {job.number} pruned at {step}s of training ({self.spec.metric} "
                                 f"{value:.3f})")
                        try:
                            self.child.send_signal(prune_signal())
                        except OSError:
                            pass
                claim.heartbeat()
                if code is not None:
                    break
                time.sleep(POLL_S)
            self.child = None
        before = float(trial.storage.get_trial_user_attrs(job.trial_id).get(S.A_PROCESS) or 0.0)
        trial.set_user_attr(S.A_PROCESS, round(before + time.monotonic() - t0, 3))
        return self.finish(job, trial, code)

    def finish(self, job: Job, trial: optuna.Trial, code: int | None) -> Outcome:
        m = trial_metrics(job.run_dir, self.spec.metric, self.spec.pick, self.spec.direction)
        result = {k: m[k] for k in ("trained_seconds", "eval_seconds", "wall_seconds", "tokens_seen",
                                    "best_dev_bleu", "test_mean")}
        attrs = trial.storage.get_trial_user_attrs(job.trial_id)
        done = m["done_status"]
        if attrs.get(S.A_PRUNE) and done in ("stopped", "pruned", "completed"):
            trial.set_user_attr(S.A_RESULT, result)
            self.study.tell(trial, state=TrialState.PRUNED)
            return Outcome("pruned", m["objective"], m, code)
        if done == "completed" and m["objective"] is not None:
            trial.set_user_attr(S.A_RESULT, result)
            self.study.tell(trial, m["objective"])
            return Outcome("completed", m["objective"], m, code)
        if self.stop_requested and done in (None, "stopped"):
            self.log(f"trial {job.number} stopped at {m['trained_seconds']:.1f}s of training; it continues from "
                     f"its checkpoint on resume")
            return Outcome("stopped", None, m, code)
        why = ("no dev evaluation gave an objective" if done == "completed"
               else f"the engine exited with {code} ({done or 'no done event'})")
        self.log(f"trial {job.number} failed: {why}; see {self.dir / LOGS_DIR / f'trial-{job.number:03d}.log'}",
                 level="warning")
        trial.set_user_attr(S.A_RESULT, result)
        self.study.tell(trial, state=TrialState.FAIL)
        return Outcome("failed", None, m, code)


def report_step(ev: dict) -> int | None:
    """The pruner's step for an `eval` event: its training seconds, rounded (the resource every trial spends)."""
    el = ev.get("elapsed")
    if isinstance(el, bool) or not isinstance(el, (int, float)) or el != el:
        return None
    return max(1, int(round(el)))


# -- entry points -------------------------------------------------------------------------------------------------
def prepare_dir(spec_path: Path | None, sweep_dir: Path, *, resume: bool, worker: bool) -> SweepSpec:
    """Create the sweep directory (spec.toml, base.toml) or check the one there; the spec it runs."""
    from . import spec as spec_lib

    existing = sweep_dir / SPEC_FILE
    if resume:
        if not existing.is_file():
            raise ConfigError("--resume", f"{sweep_dir} is not a sweep directory (no {SPEC_FILE})")
        spec = spec_lib.load(existing)
        if spec_path is not None and spec_lib.load(spec_path).to_dict() != spec.to_dict():
            raise ConfigError("--resume", f"{spec_path} differs from the sweep's own {existing}; resume with the "
                              "sweep directory alone")
        return spec
    spec = spec_lib.load(spec_path)
    if existing.is_file():
        if not worker:
            raise ConfigError("--sweep-dir", f"{sweep_dir} already holds a sweep: continue it with "
                              f"`cram sweep --resume {sweep_dir}`, or join it with --worker")
        if spec_lib.load(existing).to_dict() != spec.to_dict():
            raise ConfigError("--worker", f"{spec_path} differs from the spec of the sweep in {sweep_dir}")
        return spec
    sweep_dir.mkdir(parents=True, exist_ok=True)
    from engine.contract.rundir import atomic_write_text
    import tomli_w

    src = dict(spec.source)
    base = dict(src.get("base") or {})
    if spec.base_config:
        base["config"] = spec.base_config  # absolute: the copy must not depend on where the spec was
    src["base"] = base
    src["name"] = spec.name
    text = tomli_w.dumps(src)
    # base.toml before spec.toml: a worker that finds spec.toml (and so skips this) finds base.toml too
    save_config(spec.base(), sweep_dir / BASE_FILE)
    if not existing.exists():
        atomic_write_text(existing, text)
    return spec_lib.load(existing)


def main(spec_path: str | None, sweep_dir: str | None, *, resume: str | None = None, worker: bool = False,
         jsonl: bool = False) -> int:
    from . import spec as spec_lib
    from engine.contract.paths import default_runs_dir

    def fail(e: ConfigError) -> int:
        say(f"cram sweep: invalid sweep: {e}")
        if jsonl:
            print(encode("error", kind="config", message=str(e), hint="fix the sweep spec and start again"),
                  flush=True)
            print(encode("done", status="failed", stopped=False), flush=True)
        return 2

    try:
        if resume:
            d = Path(resume)
        elif sweep_dir:
            d = Path(sweep_dir)
        else:
            name = spec_lib.load(spec_path).name
            d = Path(default_runs_dir()) / "sweeps" / run_dir_name(name)
        spec = prepare_dir(Path(spec_path) if spec_path else None, d, resume=bool(resume), worker=worker)
    except ConfigError as e:
        return fail(e)
    say(f"cram sweep: sweep directory {d}")
    sweep = Sweep(spec, d, jsonl=jsonl)
    sweep.install_signals()
    try:
        return sweep.run()
    except KeyboardInterrupt:
        say("cram sweep: interrupted")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1], None))
