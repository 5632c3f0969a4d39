"""Real tiny sweeps on CPU: a 2x2 grid run by two workers at once on one journal, a random search with successive
halving that prunes, and a sweep killed with SIGKILL mid-trial and resumed. Each checks the trial directories,
the statuses, the budget accounting and the report."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.contract.events import read_events
from engine.contract.rundir import EVENTS, checkpoint_dir, pid_alive, read_pid, summarize
from engine.sweep import report

ROOT = Path(__file__).resolve().parent.parent
TINY = ["data.max_train=300", "data.max_valid=30", "data.max_test=30", "eval.dev_subset=20", "eval.beam_size=2",
        "eval.samples=5", "model.vocab_size=600", "hardware.threads=1", "data.site_packages_train=false"]

pytestmark = pytest.mark.slow


def write_spec(path: Path, *, sets: list[str], params: str, extra: str = "", total: float) -> Path:
    path.write_text(f"""
name = "{path.stem}"
[base]
preset = "smoke"
set = {json.dumps(TINY + sets)}
[params]
{params}
[budget]
total_seconds = {total}
{extra}
""")
    return path


def sweep_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "engine.sweep", *map(str, args)]


def run_sweep(*args, timeout=400) -> subprocess.CompletedProcess:
    r = subprocess.run(sweep_cmd(*args), capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def trial_dirs(d: Path) -> list[Path]:
    return sorted(p for p in d.iterdir() if p.is_dir() and p.name.startswith("trial-"))


def check_budget(sweep: dict) -> None:
    b = sweep["budget"]
    trained = sum(t["trained_seconds"] for t in sweep["trials"])
    assert b["trained_seconds"] == pytest.approx(trained, abs=0.01)
    assert b["unused_seconds"] == pytest.approx(max(0.0, b["total_seconds"] - trained), abs=0.01)
    assert b["eval_seconds"] > 0 and b["overhead_seconds"] >= 0
    assert b["reserved_seconds"] == 0
    for t in sweep["trials"]:
        assert t["trained_seconds"] <= t["budget_seconds"] + 1.0
        assert t["wall_seconds"] >= t["trained_seconds"] + t["eval_seconds"] - 0.5


def test_two_workers_complete_a_2x2_grid_without_duplicates(tmp_path, stdlib_corpus):
    spec = write_spec(tmp_path / "grid.toml", sets=["budget.seconds=5", "eval.every_seconds=2"],
                      params='"train.lr" = [1e-3, 3e-3]\n"train.batch_size" = [8, 16]', total=20)
    d = tmp_path / "sweep"
    procs = [subprocess.Popen(sweep_cmd(spec, "--sweep-dir", d, "--worker", "--jsonl"), cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=400) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    sweep = report.read_sweep(d)
    trials = sweep["trials"]
    assert [t["number"] for t in trials] == [0, 1, 2, 3]
    combos = {(t["params"]["train.lr"], t["params"]["train.batch_size"]) for t in trials}
    assert combos == {(1e-3, 8), (1e-3, 16), (3e-3, 8), (3e-3, 16)}  # every grid point once
    assert {t["status"] for t in trials} == {"completed"} and sweep["state"] == "completed"
    assert len({t["worker"] for t in trials}) == 2  # both workers ran trials
    dirs = trial_dirs(d)
    assert [p.name for p in dirs] == sorted(t["dir"] for t in trials) and len(dirs) == 4
    for t in trials:
        run = d / t["dir"]
        assert t["dir"].startswith(f"trial-{t['number']:03d}-") and t["dir"].endswith(f"grid-t{t['number']:03d}")
        info = summarize(run)  # an ordinary run directory
        assert info["status"] == "completed" and info["name"] == f"grid-t{t['number']:03d}"
        cfg = json.loads((run / "config.json").read_text())
        assert cfg["train"]["lr"] == t["params"]["train.lr"] and cfg["budget"]["seconds"] == 5
        assert t["objective"] == pytest.approx(info["best_dev_bleu"])
        assert set(t["test"]) == {"python"} and t["tokens_seen"] > 0
        assert [i[0] for i in t["intermediate"]] == sorted({i[0] for i in t["intermediate"]})
    check_budget(sweep)
    best = max(trials, key=lambda t: t["objective"])
    assert sweep["best"]["number"] == best["number"]
    assert not list((d / "claims").iterdir())
    # the progress stream: contract events only, ending with done
    for out, _ in outs:
        events = [json.loads(x) for x in out.splitlines()]
        assert {e["event"] for e in events} <= {"progress", "log", "done"}
        assert events[-1]["event"] == "done" and events[-1]["status"] == "completed"
    text = run_sweep("report", d).stdout
    assert f"best: trial {best['number']}" in text and "unused" in text
    rows = run_sweep("report", d, "--csv").stdout.splitlines()
    assert len(rows) == 5 and rows[0].startswith("trial,train.lr,train.batch_size,status,objective")
    # a finished grid: another worker has nothing to do
    r = run_sweep(spec, "--sweep-dir", d, "--worker")
    assert "every grid point (4) has a trial" in r.stderr and len(report.read_sweep(d)["trials"]) == 4


def test_random_search_with_successive_halving_prunes(tmp_path, stdlib_corpus):
    spec = write_spec(tmp_path / "sh.toml", sets=["budget.seconds=6", "eval.every_seconds=2"],
                      params='"train.lr" = { low = 1e-5, high = 1e-2, log = true }',
                      extra='n_trials = 3\n[sampler]\nname = "random"\nseed = 3\n'
                            '[pruner]\nname = "successive-halving"\nmin_resource = 2\nreduction_factor = 2',
                      total=18)
    d = tmp_path / "sweep"
    r = run_sweep(spec, "--sweep-dir", d)
    sweep = report.read_sweep(d)
    trials = sweep["trials"]
    assert len(trials) == 3 and "n_trials (3) reached" in r.stderr
    pruned = [t for t in trials if t["status"] == "pruned"]
    assert pruned, [(t["params"], t["status"], t["intermediate"]) for t in trials]
    for t in pruned:
        run = d / t["dir"]
        assert t["trained_seconds"] < 6 - 0.5  # cut off before its budget
        assert checkpoint_dir(run) is not None  # stopped like a Stop: checkpoint kept
        done = [e for e in read_events(run / EVENTS) if e["event"] == "done"]
        assert done and done[-1]["status"] == "pruned" and t["test"] == {}
        assert summarize(run)["status"] == "pruned"
        assert f"trial {t['number']} pruned at" in r.stderr
    assert any(t["status"] == "completed" for t in trials)
    check_budget(sweep)
    # the total budget is not spent by pruned trials: what they did not train is unused
    assert sweep["budget"]["unused_seconds"] >= sum(6 - t["trained_seconds"] for t in pruned) - 0.5
    rows = run_sweep("report", d, "--csv").stdout.splitlines()
    assert sum(",pruned," in row for row in rows) == len(pruned)


def test_sigkill_mid_trial_then_resume(tmp_path, stdlib_corpus):
    spec = write_spec(tmp_path / "kill.toml",
                      sets=["budget.seconds=8", "eval.every_seconds=3", "eval.checkpoint_minutes=0.1"],
                      params='"train.lr" = [3e-3, 1e-3]', total=16)
    d = tmp_path / "sweep"
    proc = subprocess.Popen(sweep_cmd(spec, "--sweep-dir", d), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        first = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, "the sweep ended before it was killed"
            dirs = trial_dirs(d) if d.is_dir() else []
            if dirs:
                first = dirs[0]
                if any(e["event"] == "checkpoint" and e.get("kind") == "last"
                       for e in read_events(first / EVENTS)):
                    break
            time.sleep(0.2)
        else:
            pytest.fail("the first trial wrote no checkpoint")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the worker and its trial, like a dead node
        proc.wait()
    child = read_pid(first)
    for _ in range(100):  # the trial's engine, reparented, is reaped by init
        if not pid_alive(child):
            break
        time.sleep(0.1)
    killed = report.read_sweep(d)
    assert [t["status"] for t in killed["trials"]] == ["interrupted"]
    assert killed["budget"]["reserved_seconds"] > 0
    steps_before = summarize(first)["step"]

    r = run_sweep("--resume", d)
    assert "trial 0 resumed" in r.stderr
    sweep = report.read_sweep(d)
    assert [t["status"] for t in sweep["trials"]] == ["completed", "completed"] and sweep["state"] == "completed"
    assert [p.name for p in trial_dirs(d)] == [t["dir"] for t in sweep["trials"]]  # resumed in place, not again
    started = [e for e in read_events(first / EVENTS) if e["event"] == "started"]
    assert len(started) == 2 and started[1]["resumed"] is True and started[1]["step"] >= 1
    assert summarize(first)["step"] > steps_before and sweep["trials"][0]["resumed"] is True
    started = [e for e in read_events(d / sweep["trials"][1]["dir"] / EVENTS) if e["event"] == "started"]
    assert len(started) == 1 and not started[0]["resumed"]
    check_budget(sweep)
    # a resume of a finished sweep starts nothing
    r = run_sweep("--resume", d)
    assert len(report.read_sweep(d)["trials"]) == 2
