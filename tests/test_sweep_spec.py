"""Sweep spec validation, planning, the report and the job-array script (no training)."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest

from engine.contract.config import ConfigError
from engine.contract.sweeps import SWEEP_FILE
from engine.sweep import plan as plan_lib, report, spec as spec_lib, study as study_lib
from engine.sweep.slurm import render

BASE = """
name = "t"
[base]
preset = "smoke"
set = ["budget.seconds=5", "eval.every_seconds=2"]
[budget]
total_seconds = 20
"""


def load(extra: str, base: str = BASE):
    return spec_lib.loads(base + extra)


def error(extra: str, base: str = BASE) -> ConfigError:
    with pytest.raises(ConfigError) as e:
        load(extra, base)
    return e.value


def test_example_spec_is_valid_and_plans_six_trials_of_40s():
    s = spec_lib.load(spec_lib.config_lib.resource("sweeps", "lr-batch.toml"))
    assert s.sampler == "grid" and s.grid_size() == 6
    assert s.trial_budgets() == [40.0]
    assert s.planned_trials() == 6
    cfg = s.trial_config({"train.lr": 0.01, "train.batch_size": 16}, 3)
    assert cfg.train.lr == 0.01 and cfg.train.batch_size == 16 and cfg.name == "lr-batch-t003"
    assert cfg.budget.seconds == 40 and cfg.data.source == "builtin"


def test_grid_counts_budget_and_n_trials_cap():
    s = load('[params]\n"train.lr" = [1e-3, 3e-3]\n"train.batch_size" = [8, 16]\n')
    assert s.grid_size() == 4 and s.planned_trials() == 4
    s = spec_lib.loads(BASE.replace("total_seconds = 20", "total_seconds = 12")
                       + '[params]\n"train.lr" = [1e-3, 3e-3]\n"train.batch_size" = [8, 16]\n')
    assert s.planned_trials() == 2  # 12 s fit two 5-second trials
    s = load('[params]\n"train.lr" = { low = 1e-4, high = 1e-2, log = true }\n[sampler]\nname = "tpe"\n'
             '[budget]\nn_trials = 3\n'.replace("[budget]\nn_trials", "n_trials").replace("n_trials = 3", ""),
             BASE.replace("total_seconds = 20", "total_seconds = 20\nn_trials = 3"))
    assert s.grid_size() is None and s.planned_trials() == 3


def test_grid_over_budget_seconds_plans_by_the_sum():
    s = spec_lib.loads(BASE.replace("total_seconds = 20", "total_seconds = 30")
                       + '[params]\n"budget.seconds" = [5, 10, 20]\n')
    assert s.trial_budgets() == [5.0, 10.0, 20.0]
    assert s.planned_trials() == 2  # 5 + 10 fit, + 20 does not


@pytest.mark.parametrize("extra, field, words", [
    ('[params]\n"train.learning_rate" = [1e-3]\n', "params.train.learning_rate", "not a config setting"),
    ('[params]\n"lr" = [1e-3]\n', "params.lr", "did you mean train.lr"),
    ('[params]\n"train.lr" = [-1.0]\n', "params.train.lr", "value -1.0: -1.0 is below the minimum"),
    ('[params]\n"train.lr" = []\n', "params.train.lr", "empty list"),
    ('[params]\n"train.lr" = [1e-3, 1e-3]\n', "params.train.lr", "listed twice"),
    ('[params]\n"train.lr" = { low = 1e-4, high = 1e-2 }\n', "params.train.lr", "needs sampler random or tpe"),
    ('[params]\n"train.schedule" = ["budget-triangle", "cosine"]\n', "params.train.schedule",
     "'cosine' is not allowed"),
    ('[params]\n"train.batch_size" = [8, "many"]\n', "params.train.batch_size", "expected a whole number"),
    ('[params]\n', "params", "at least one setting"),
    ('[sampler]\nname = "bayes"\n[params]\n"train.lr" = [1e-3]\n', "sampler.name", "'bayes' is not allowed"),
    ('[pruner]\nname = "median"\n[params]\n"train.lr" = [1e-3]\n', "pruner.name", "choose one of none"),
    ('[objective]\nmetric = "test_bleu"\n[params]\n"train.lr" = [1e-3]\n', "objective.metric", "dev_bleu"),
    ('[objective]\nmetric = "dev_bleu.java"\n[params]\n"train.lr" = [1e-3]\n', "objective.metric",
     "not among the trials' languages (python)"),
    ('[params]\n"train.schedule" = ["linear"]\n', "params.train.schedule", "needs budget.max_steps"),
    ('[params]\n"train.lr" = [1e-3]\n[other]\nx = 1\n', "other", "unknown setting"),
])
def test_validation_names_the_field_the_value_and_the_problem(extra, field, words):
    e = error(extra)
    assert e.field == field, str(e)
    assert words in e.message, e.message


@pytest.mark.parametrize("rng, field, words", [
    ("{ low = 1e-2, high = 1e-4 }", "params.train.lr", "must be below high"),
    ("{ low = 0.0, high = 1e-2, log = true }", "params.train.lr", "low"),
    ("{ low = 1e-4, high = 1e-2, log = true, step = 1e-4 }", "params.train.lr.step", "log range cannot have a step"),
    ("{ low = 1e-4, high = 2.0 }", "params.train.lr.high", "above the maximum"),
    ("{ low = 1e-4 }", "params.train.lr.high", "required"),
    ("{ low = 1e-4, high = 1e-2, scale = 'log' }", "params.train.lr.scale", "unknown key"),
], ids=["inverted", "log-zero", "log-step", "over-max", "no-high", "unknown-key"])
def test_range_validation(rng, field, words):
    e = error(f'[sampler]\nname = "random"\n[params]\n"train.lr" = {rng}\n')
    assert e.field.startswith(field), str(e)
    assert words in e.message, e.message


def test_int_ranges_and_texts_cannot_be_ranges():
    e = error('[sampler]\nname = "random"\n[params]\n"train.batch_size" = { low = 8, high = 64, type = "float" }\n')
    assert e.field == "params.train.batch_size.type" and "whole numbers" in e.message
    e = error('[sampler]\nname = "random"\n[params]\n"train.schedule" = { low = 1, high = 2 }\n')
    assert e.field == "params.train.schedule" and "not a range" in e.message
    s = load('[sampler]\nname = "random"\n[params]\n"train.batch_size" = { low = 8, high = 64, type = "int", '
             'step = 8 }\n')
    assert s.params[0].type == "int" and s.params[0].step == 8


def test_budget_and_pruner_need_what_they_judge_by():
    e = error('[params]\n"train.lr" = [1e-3]\n', BASE.replace("total_seconds = 20", "total_seconds = 3"))
    assert e.field == "budget.total_seconds" and "cannot fit one trial of 5 s" in e.message
    e = error('[params]\n"train.lr" = [1e-3]\n', BASE.replace("total_seconds = 20\n", ""))
    assert e.field == "budget.total_seconds" and "required" in e.message
    e = error('[pruner]\nname = "hyperband"\n[params]\n"train.lr" = [1e-3]\n',
              BASE.replace("eval.every_seconds=2", "eval.every_seconds=0"))
    assert e.field == "pruner.name" and "eval.every_seconds above 0" in e.message
    e = error('[params]\n"train.lr" = [1e-3]\n', BASE.replace('preset = "smoke"', 'preset = "nope"'))
    assert e.field == "base.preset" and "unknown preset 'nope'" in e.message
    e = error('[params]\n"train.lr" = [1e-3]\n', BASE.replace('"budget.seconds=5"', '"budget.sconds=5"'))
    assert e.field == "base.set" and "budget.sconds" in e.message


def test_param_sets_round_trip_floats():
    assert plan_lib.param_sets({"train.lr": 0.1 + 0.2, "hardware.compile": True, "train.batch_size": 8}) == [
        f"train.lr={0.1 + 0.2!r}", "hardware.compile=true", "train.batch_size=8"]


def test_cli_prints_validation_errors_with_exit_2(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text(BASE + '[params]\n"train.lr" = [5.0]\n')
    r = subprocess.run([sys.executable, "-m", "engine.sweep", str(p), "--sweep-dir", str(tmp_path / "d"), "--jsonl"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "params.train.lr: value 5.0: 5.0 is above the maximum 1.0" in r.stderr
    events = [json.loads(x) for x in r.stdout.splitlines()]
    assert [e["event"] for e in events] == ["error", "done"] and events[0]["kind"] == "config"
    assert not (tmp_path / "d").exists()


# -- report ------------------------------------------------------------------------------------------------------
def fake_sweep() -> dict:
    return {"name": "t", "state": "completed",
            "spec": {"params": [{"name": "train.lr", "values": [0.001, 0.003]}],
                     "objective": {"metric": "dev_bleu", "pick": "best", "direction": "maximize"},
                     "sampler": {"name": "grid"}, "pruner": {"name": "none"}},
            "budget": {"total_seconds": 20.0, "trained_seconds": 10.0, "eval_seconds": 1.0,
                       "overhead_seconds": 4.0, "reserved_seconds": 0.0, "unused_seconds": 10.0},
            "trials": [{"number": 0, "params": {"train.lr": 0.001}, "status": "completed", "objective": 3.5,
                        "best_dev_bleu": 3.5, "test": {"python": 2.0}, "test_mean": 2.0, "trained_seconds": 5.0,
                        "eval_seconds": 0.5, "tokens_seen": 100, "dir": "trial-000-x"},
                       {"number": 1, "params": {"train.lr": 0.003}, "status": "pruned", "objective": 1.0,
                        "best_dev_bleu": 1.0, "test": {}, "test_mean": None, "trained_seconds": 5.0,
                        "eval_seconds": 0.5, "tokens_seen": 90, "dir": "trial-001-x"}],
            "best": {"number": 0, "params": {"train.lr": 0.001}, "objective": 3.5, "test_mean": 2.0,
                     "dir": "trial-000-x"}}


def test_report_table_and_csv(tmp_path):
    (tmp_path / SWEEP_FILE).write_text(json.dumps(fake_sweep()))
    text = report.format_report(report.read_sweep(tmp_path))
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("trial"))
    assert header.split() == ["trial", "train.lr", "status", "objective", "best_dev_bleu", "test_python",
                              "test_mean", "trained_s", "eval_s", "tokens_seen", "dir"]
    assert any(line.split()[:3] == ["1", "0.003", "pruned"] for line in lines)
    assert "unused 10.0s" in text and "best: trial 0 (train.lr=0.001): objective 3.50" in text
    csv_text = report.report_csv(report.read_sweep(tmp_path))
    rows = [r.split(",") for r in csv_text.splitlines()]
    assert rows[0][:3] == ["trial", "train.lr", "status"] and rows[1][:4] == ["0", "0.001", "completed", "3.5"]
    assert rows[2][5] == "" and len(rows) == 3  # no test BLEU for the pruned trial
    r = subprocess.run([sys.executable, "-m", "engine.sweep", "report", str(tmp_path), "--csv"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and r.stdout == csv_text
    r = subprocess.run([sys.executable, "-m", "engine.sweep", "report", str(tmp_path / "nope")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "not a sweep directory" in r.stderr


# -- claims ------------------------------------------------------------------------------------------------------
def test_claims_exclusive_and_stale_ones_taken_over(tmp_path):
    a = study_lib.Claim(tmp_path, 3)
    assert a.acquire() and a.path.name == "trial-003.json"
    assert not study_lib.Claim(tmp_path, 3).acquire() and study_lib.Claim(tmp_path, 3).live()
    a.release()
    assert not a.path.exists()
    # a dead worker of this host: stale at once
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    a.path.parent.mkdir(exist_ok=True)
    a.path.write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid}))
    assert not study_lib.Claim(tmp_path, 3).live() and study_lib.Claim(tmp_path, 3).acquire()
    # another host's claim: live until it was not touched for CLAIM_STALE_S
    a.path.write_text(json.dumps({"host": "elsewhere", "pid": 1}))
    assert study_lib.Claim(tmp_path, 3).live()
    old = time.time() - study_lib.CLAIM_STALE_S - 5
    import os

    os.utime(a.path, (old, old))
    assert not study_lib.Claim(tmp_path, 3).live()


# -- job array ---------------------------------------------------------------------------------------------------
def test_job_array_script(tmp_path):
    s = spec_lib.load(spec_lib.config_lib.resource("sweeps", "lr-batch.toml"))
    text = render(s, "/shared/lr-batch.toml", sweep_dir="/shared/sweeps/lr", workers=3, partition="gpu")
    assert "#SBATCH --array=0-2" in text and "#SBATCH --signal=B:USR1@300" in text and "--requeue" in text
    assert "#SBATCH --gres" not in text  # the smoke preset is a CPU config
    assert "-m engine sweep \"$SPEC\" --sweep-dir \"$SWEEP_DIR\" --worker &" in text
    assert "SPEC=/shared/lr-batch.toml" in text and "#SBATCH --partition=gpu" in text
    assert "scontrol requeue \"$TASK\"" in text and "on_cancel() { REQUEUE=0;" in text
    # 6 trials over 3 workers: 2 trials of (40 s + 10 min + 10 min) each + the 5-minute signal lead
    assert "#SBATCH --time=00:47:00" in text
    with pytest.raises(ConfigError) as e:
        render(s, "x.toml", sweep_dir="/d", workers=0)
    assert e.value.field == "--workers"
    gpu = render(s, "x.toml", sweep_dir="/d", workers=2, gpus=2)
    assert "#SBATCH --gres=gpu:2" in gpu
    script = tmp_path / "job.sh"
    script.write_text(text)
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0


def test_the_report_shows_the_floor_when_trials_measured_it(tmp_path):
    from engine.contract.events import EventWriter

    d = tmp_path / "t0"
    w = EventWriter(d / "events.jsonl")
    w.emit("started", budget_seconds=10)
    w.emit("result", language="python", split="test", n=5, bleu4=14.0, floor_bleu4=11.5)
    w.emit("done", status="completed")
    w.close()
    m = report.trial_metrics(d)
    assert m["floor_mean"] == 11.5 and m["above_floor"] == 2.5
    sweep = {"trials": [{"number": 0, "status": "completed", "test": m["test"], "test_mean": m["test_mean"],
                         "floor_mean": m["floor_mean"], "above_floor": m["above_floor"], "dir": "t0"}],
             "spec": {"params": []}}
    header, rows = report.report_rows(sweep)
    assert header[header.index("test_mean") + 1:header.index("test_mean") + 3] == ["floor_mean", "above_floor"]
    assert rows[0][header.index("above_floor")] == 2.5
