"""Cluster job scripts (content, and the early time-limit signal honoured on CPU) and comparing runs."""
import os
import signal
import subprocess
import sys
import time
import tomllib

import pytest

from conftest import ROOT, tiny_config
from engine.contract import compare, slurm
from engine.contract.config import RunConfig, ConfigError
from engine.contract.events import EventWriter, read_events
from engine.contract.rundir import checkpoint_dir, write_results


def test_script_content(tmp_path):
    cfg = tiny_config()
    text = slurm.render(cfg, run_dir=str(tmp_path / "run"), gpus=4, time="1-02:00:00", partition="gpu",
                        account="lab", mem="64G", signal_seconds=240)
    for line in ["#SBATCH --gres=gpu:4", "#SBATCH --time=1-02:00:00", "#SBATCH --signal=B:USR1@240",
                 "#SBATCH --requeue", "#SBATCH --partition=gpu", "#SBATCH --account=lab", "#SBATCH --mem=64G",
                 f"#SBATCH --output={tmp_path / 'run'}/slurm-%j.out"]:
        assert line in text.splitlines()
    assert "torch.distributed.run --standalone --nproc_per_node=4 -m engine" in text
    assert 'ARGS=(train --resume "$RUN_DIR")' in text and "scontrol requeue" in text
    embedded = text.split("<<'CRAM_CONFIG'\n")[1].split("\nCRAM_CONFIG")[0]
    job = RunConfig.from_dict(tomllib.loads(embedded))
    assert job.hardware.gpus == 4 and job.budget.seconds == cfg.budget.seconds and job.train.lr == cfg.train.lr
    assert slurm.parse_time("1-02:00:00") == 93600
    with pytest.raises(ConfigError):
        slurm.parse_time("90 minutes")
    with pytest.raises(ConfigError):
        slurm.render(cfg, run_dir="x", gpus=1, time="00:04:00", signal_seconds=300)


def test_script_follows_the_config():
    cpu = tiny_config(**{"hardware.device": "cpu", "budget.seconds": 3600})
    text = slurm.render(cpu, run_dir="/r")
    assert "--gres" not in text and "torch.distributed.run" not in text and '-m engine "${ARGS[@]}"' in text
    # budget 1 h + evaluation 15 min + 10 min margin + the 5 min warning lead
    assert "#SBATCH --time=01:30:00" in text.splitlines()
    assert slurm.format_time(93600) == "1-02:00:00" and slurm.format_time(61) == "00:02:00"
    gpu = tiny_config(**{"hardware.device": "cuda", "hardware.gpus": 2})
    assert "#SBATCH --gres=gpu:2" in slurm.render(gpu, run_dir="/r").splitlines()
    with pytest.raises(ConfigError, match="--gpus"):
        slurm.render(gpu, run_dir="/r", gpus=0)


@pytest.mark.slow
def test_job_checkpoints_on_the_early_signal_then_resumes(tmp_path, stdlib_corpus):
    """The batch shell gets SIGUSR1 (the time-limit warning of --signal=B:USR1) and forwards SIGTERM: the engine
    checkpoints and emits done/stopped and the script requeues; running the same script again (the requeue)
    resumes and completes. scancel's SIGTERM stops the same way but does not requeue."""
    run = tmp_path / "run"
    run.mkdir()
    cfg = tiny_config(**{"budget.seconds": 60, "hardware.gpus": 1, "data.max_train": 200})
    script = tmp_path / "job.sh"
    script.write_text(slurm.render(cfg, run_dir=str(run), gpus=1, time="00:30:00", project_dir=str(ROOT)))
    p = subprocess.Popen(["bash", str(script)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, start_new_session=True)
    t0 = time.time()
    while time.time() - t0 < 120:
        if sum(e["event"] == "step" for e in read_events(run / "events.jsonl")) >= 3:
            break
        time.sleep(0.2)
    os.kill(p.pid, signal.SIGUSR1)  # to the batch shell only
    out, _ = p.communicate(timeout=120)
    evs = list(read_events(run / "events.jsonl"))
    assert evs[-1]["event"] == "done" and evs[-1]["stopped"] is True, out
    assert "cram: run status stopped" in out and "would requeue" in out
    assert checkpoint_dir(run, "last") is not None
    # a requeued job: the same script resumes; give it a short remaining budget
    import json
    c = json.loads((run / "config.json").read_text())
    c["budget"]["seconds"] = evs[-1]["elapsed"] + 2
    (run / "config.json").write_text(json.dumps(c))
    r = subprocess.run(["bash", str(script)], cwd=ROOT, capture_output=True, text=True, timeout=300,
                       start_new_session=True)
    evs2 = list(read_events(run / "events.jsonl"))
    started = [e for e in evs2 if e["event"] == "started"][-1]
    assert started["resumed"] and evs2[-1]["status"] == "completed", r.stdout[-2000:]
    assert "cram: run status completed" in r.stdout


@pytest.mark.slow
def test_scancel_stops_without_requeue(tmp_path, stdlib_corpus):
    run = tmp_path / "run"
    run.mkdir()
    cfg = tiny_config(**{"budget.seconds": 60, "hardware.gpus": 1, "data.max_train": 200})
    script = tmp_path / "job.sh"
    script.write_text(slurm.render(cfg, run_dir=str(run), gpus=1, time="00:30:00", project_dir=str(ROOT)))
    p = subprocess.Popen(["bash", str(script)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, start_new_session=True)
    t0 = time.time()
    while time.time() - t0 < 120:
        if any(e["event"] == "step" for e in read_events(run / "events.jsonl")):
            break
        time.sleep(0.2)
    os.kill(p.pid, signal.SIGTERM)
    out, _ = p.communicate(timeout=120)
    assert "cram: run status stopped" in out and "requeue" not in out.split("run status")[-1]


def _fake_run(d, name, lr, results, steps=10):
    d.mkdir(parents=True)
    cfg = RunConfig()
    cfg.name, cfg.train.lr = name, lr
    (d / "config.json").write_text(__import__("json").dumps(cfg.to_dict()))
    w = EventWriter(d / "events.jsonl")
    w.emit("started", budget_seconds=60)
    w.emit("step", step=steps, elapsed=59.5)
    w.emit("eval", dev_bleu=9.5)
    w.emit("done", status="completed")
    w.close()
    write_results(d, [{"language": k, "split": "test", "n": 10, "bleu4": v, "nltk_bleu4": 1.0,
                       "decode_seconds": 1.0, "beam_size": 10} for k, v in results.items()])


def test_compare_table_diff_and_cli(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _fake_run(a, "a", 1e-4, {"ruby": 10.0, "python": 20.0})
    _fake_run(b, "b", 5e-4, {"python": 17.0}, steps=12)
    header, rows = compare.compare_table([a, b])
    assert header == ["run", "status", "steps", "trained_s", "best_dev_bleu", "ruby", "python", "mean"]
    assert rows[0] == ["a", "completed", 10, 59.5, 9.5, 10.0, 20.0, 15.0]
    assert rows[1] == ["b", "completed", 12, 59.5, 9.5, None, 17.0, 17.0]
    assert compare.config_differences([a, b]) == {"name": ["a", "b"], "train.lr": [1e-4, 5e-4]}
    r = subprocess.run([sys.executable, "-m", "engine", "compare", str(a), str(b), "--csv"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["run,status,steps,trained_s,best_dev_bleu,ruby,python,mean",
                                     "a,completed,10,59.5,9.5,10.0,20.0,15.0", "b,completed,12,59.5,9.5,,17.0,17.0"]
    r = subprocess.run([sys.executable, "-m", "engine", "compare", str(a), str(b)], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert "train.lr: 0.0001 | 0.0005" in r.stdout and "15.00" in r.stdout


def test_compare_names_an_unreadable_run_and_keeps_the_others(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _fake_run(a, "a", 1e-4, {"python": 20.0})
    _fake_run(b, "b", 5e-4, {"python": 17.0})
    (b / "results.csv").write_text("x,y\n1,2\n")  # an export saved over the engine's file
    header, rows, problems = compare.compare_runs([a, b])
    assert rows[0][-1] == 20.0 and rows[1][1] == "unreadable" and rows[1][-1] is None
    assert len(problems) == 1 and str(b) in problems[0] and "not a results table" in problems[0]
    r = subprocess.run([sys.executable, "-m", "engine", "compare", str(a), str(b)], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and "unreadable run" in r.stderr and str(b) in r.stderr, r.stderr


def test_compare_shows_the_floor_when_runs_know_it(tmp_path):
    a = tmp_path / "a"
    _fake_run(a, "a", 1e-4, {"python": 14.0})
    write_results(a, [{"language": "python", "split": "test", "n": 10, "bleu4": 14.0, "floor_bleu4": 11.5,
                       "above_floor": 2.5}])
    header, rows = compare.compare_table([a])
    assert header[-2:] == ["mean_floor", "mean_above_floor"] and rows[0][-2:] == [11.5, 2.5]
