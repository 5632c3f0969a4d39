"""A sweep directory: its layout, as engine.sweep writes it, and one tolerant reader of it for the engine's
`cram sweep report` and the console's Sweep view. Pure Python (no Optuna).

    SWEEP_DIR/
      spec.toml               the sweep's own copy of its spec (a resume reads this one)
      base.toml               the base config every trial starts from
      study.journal           Optuna's journal storage (the engine only)
      sweep.json              the summary, rewritten atomically by the workers after every change
      claims/trial-NNN.json   {"host", "pid", "worker", "started"}: the worker running trial NNN now; it touches the
                              file every few seconds. Free when its process is dead on this host, or untouched for
                              CLAIM_STALE_S (a worker on another host that died)
      <trial dir>/            one run directory per trial: a plain folder name, sweep.json's trials[].dir

sweep.json: {version: 1, name, sweep_dir, state (SWEEP_STATES), updated, spec (the spec as plain data: name, base,
params [{name, values | low, high, log, type, step}], objective {metric, pick, direction}, sampler {name, seed},
pruner {name, min_resource, max_resource, reduction_factor}, budget {total_seconds, n_trials}), grid_size,
planned_trials, budget {total_seconds, trained_seconds, eval_seconds, overhead_seconds, wall_seconds,
reserved_seconds, unused_seconds}, trials [{number, dir, params, status (TRIAL_STATUSES), objective, best_dev_bleu,
trained_seconds, eval_seconds, wall_seconds, tokens_seen, test {language: BLEU}, test_mean, budget_seconds, worker,
sessions, resumed, intermediate [[seconds, value]], started, finished, skipped}], best (null, or the best completed
trial's number, dir, params, objective, best_dev_bleu, test, test_mean)}.

A sweep directory is untrusted input: nothing here is read through a symbolic link, a trial's run directory is only
ever a plain folder name inside the sweep directory, and no type in sweep.json is trusted: the reader drops trials
that are not objects, and callers read numbers with events.number() and check the rest with isinstance.
"""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from .files import read_text
from .rundir import pid_alive, writer_alive

SWEEP_FILE = "sweep.json"
SPEC_FILE = "spec.toml"
BASE_FILE = "base.toml"
JOURNAL_FILE = "study.journal"
CLAIMS_DIR = "claims"
CLAIM_STALE_S = 120.0
SWEEP_STATES = ("running", "stopped", "interrupted", "completed")
TRIAL_STATUSES = ("running", "waiting", "completed", "pruned", "failed", "skipped", "interrupted")


class SweepUnreadable(ValueError):
    """No sweep.json, an unreadable one, or one that is not a sweep summary."""


def claim_path(sweep_dir: str | os.PathLike, number: int) -> Path:
    return Path(sweep_dir) / CLAIMS_DIR / f"trial-{number:03d}.json"


def read_claim(sweep_dir: str | os.PathLike, number: int) -> dict | None:
    """The claim of trial `number`: None when there is none (or it is a symbolic link), {} when it cannot be read
    or is not a JSON object."""
    p = claim_path(sweep_dir, number)
    if p.is_symlink():
        return None
    try:
        d = json.loads(read_text(p, limit=1 << 16))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return d if isinstance(d, dict) else {}


def claim_live(sweep_dir: str | os.PathLike, number: int) -> bool:
    """Whether a live worker holds trial `number`'s claim: one touched within CLAIM_STALE_S whose process lives on
    this host, or that another host holds (an unreadable claim counts as another host's)."""
    holder = read_claim(sweep_dir, number)
    if holder is None:
        return False
    try:
        age = time.time() - claim_path(sweep_dir, number).stat().st_mtime
    except OSError:
        return False
    if age > CLAIM_STALE_S:
        return False
    pid = holder.get("pid")
    if holder.get("host") == socket.gethostname():
        return pid_alive(pid if isinstance(pid, int) else -1)
    return True  # another host's worker: as far as this machine can tell


def trial_dir(sweep_dir: str | os.PathLike, trial: dict) -> Path | None:
    """The trial's run directory: a plain folder name inside the sweep directory, never a path out of it nor a
    symbolic link. None when sweep.json names none (or a bad one)."""
    rel = trial.get("dir") if isinstance(trial, dict) else None
    if not isinstance(rel, str) or not rel or Path(rel).name != rel or rel in (".", ".."):
        return None
    p = Path(sweep_dir) / rel
    return None if p.is_symlink() else p


def trial_alive(sweep_dir: str | os.PathLike, trial: dict) -> bool:
    """Whether a trial sweep.json calls running still runs: its run has a live writer, or its claim a live worker."""
    d = trial_dir(sweep_dir, trial)
    if d is not None and writer_alive(d):
        return True
    n = trial.get("number")
    return isinstance(n, int) and not isinstance(n, bool) and claim_live(sweep_dir, n)


def load_sweep(sweep_dir: str | os.PathLike, live: bool = False) -> dict:
    """sweep.json as of now, or SweepUnreadable. Trials that are not objects are dropped; a trial it calls running
    that no longer runs (trial_alive) reads interrupted, and a running sweep with no running trial left reads
    interrupted too (a killed worker cannot update sweep.json). `live`: the caller runs the sweep's worker itself,
    so its trials are taken as written."""
    d = Path(sweep_dir)
    p = d / SWEEP_FILE
    if p.is_symlink() or not p.is_file():
        raise SweepUnreadable(f"{sweep_dir}: no {SWEEP_FILE} (not a sweep directory)")
    try:
        s = json.loads(read_text(p))
    except (OSError, ValueError) as e:
        raise SweepUnreadable(f"{p}: cannot read: {e}") from None
    if not isinstance(s, dict) or not isinstance(s.get("trials"), list):
        raise SweepUnreadable(f"{p}: not a sweep summary")
    s["trials"] = [t for t in s["trials"] if isinstance(t, dict)]
    for t in s["trials"]:
        if t.get("status") == "running" and not live and not trial_alive(d, t):
            t["status"] = "interrupted"
    if s.get("state") == "running" and not any(t.get("status") == "running" for t in s["trials"]):
        s["state"] = "interrupted"
    return s


def read_sweep(sweep_dir: str | os.PathLike, live: bool = False) -> dict | None:
    """load_sweep, or None when there is no readable sweep.json."""
    try:
        return load_sweep(sweep_dir, live)
    except SweepUnreadable:
        return None


def param_names(sweep: dict) -> list[str]:
    """The varied parameters' names, in the spec's order."""
    spec = sweep.get("spec") if isinstance(sweep.get("spec"), dict) else {}
    params = spec.get("params") if isinstance(spec.get("params"), list) else []
    return [p["name"] for p in params if isinstance(p, dict) and isinstance(p.get("name"), str)]
