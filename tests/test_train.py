"""End-to-end training on the built-in corpus with the tiny model (seconds each): results files, official-format
predictions re-scored to the same BLEU, samples, budget adherence, resume, stop, kill, and every error path."""
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, tiny_config
from engine import bleu, checkpoint as ckpt
from engine.contract.events import EventWriter, read_events
from engine.contract.rundir import read_results, read_samples
from engine import train

pytestmark = pytest.mark.slow


def run_trainer(cfg, run_dir, resume=False):
    w = EventWriter(Path(run_dir) / "events.jsonl")
    try:
        code = train.run(cfg, Path(run_dir), w, resume=resume)
    finally:
        w.close()
    return code, list(read_events(Path(run_dir) / "events.jsonl"))


def kinds(evs):
    return [e["event"] for e in evs]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, stdlib_corpus):
    d = tmp_path_factory.mktemp("run")
    code, evs = run_trainer(tiny_config(**{"eval.every_seconds": 2}), d)
    assert code == 0, [e for e in evs if e["event"] == "error"]
    return d, evs


def test_run_writes_results_predictions_and_samples(finished_run):
    d, evs = finished_run
    k = kinds(evs)
    assert k.index("started") < k.index("step") < k.index("result") < k.index("done")
    assert evs[-1]["status"] == "completed" and evs[-1]["stopped"] is False
    rows = read_results(d)
    assert [(r["language"], r["split"], r["n"]) for r in rows] == [("python", "test", 30)]
    # the official evaluator's number, recomputed from the written files, equals ours
    gold = d / "python_test.gold"
    preds = (d / "python_test.output").read_text().splitlines()
    assert bleu.score_files(gold, preds) == rows[0]["bleu4"]
    assert len(preds) == 30 and all("\t" in p for p in preds)
    samples = read_samples(d)
    assert len(samples) == 20 and {"code", "reference", "prediction", "bleu"} <= set(samples[0])
    sample_ev = [e for e in evs if e["event"] == "samples"][0]
    assert len(sample_ev["items"]) == 20
    result_ev = [e for e in evs if e["event"] == "result"][0]
    assert result_ev["bleu4"] == rows[0]["bleu4"] and result_ev["beam_size"] == 2


def test_step_events_and_schedule(finished_run):
    d, evs = finished_run
    steps = [e for e in evs if e["event"] == "step"]
    assert len(steps) >= 5
    assert all(math.isfinite(s["loss"]) and s["tokens"] > 0 and s["lr"] > 0 for s in steps[:-1])
    assert steps[-1]["loss"] < steps[0]["loss"]  # it learns
    assert [s["step"] for s in steps] == sorted(s["step"] for s in steps)
    # budget-triangle: lr/peak = min(0.25 + x, 4 - 4x), x = progress when the step began (between the previous
    # step event's progress and this one's)
    prev = 0.0
    peak = [e for e in evs if e["event"] == "started"][0]["schedule"]["peak_lr"]
    for s in steps:
        xs = [prev + (s["progress"] - prev) * i / 50 for i in range(51)]
        f = [min(0.25 + x, 4 - 4 * x, 1.0) for x in xs]
        assert min(f) - 1e-6 <= s["lr"] / peak <= max(f) + 1e-6
        prev = s["progress"]
    started = evs[[e["event"] for e in evs].index("started")]
    assert started["schedule"]["name"] == "budget-triangle" and started["budget_seconds"] == 4


def test_budget_adherence_and_eval_excluded(finished_run):
    d, evs = finished_run
    done = evs[-1]
    assert abs(done["elapsed"] - 4) <= 2.0
    evals = [e for e in evs if e["event"] == "eval"]
    assert len(evals) >= 2 and done["eval_seconds"] > 0
    assert done["best_dev_bleu"] == max(e["dev_bleu"] for e in evals)
    assert ckpt.find(d, "best") is not None and ckpt.find(d, "last") is not None
    state = ckpt.load_state(ckpt.find(d, "last"))
    assert state["step"] == done["step"]


def test_cram_eval_reproduces_the_result(finished_run):
    d, _ = finished_run
    before = read_results(d)[0]["bleu4"]
    r = subprocess.run([sys.executable, "-m", "engine", "eval", str(d), "--checkpoint", "best"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert read_results(d)[0]["bleu4"] == before
    assert "BLEU-4" in r.stderr


def test_resume_continues_step_and_budget(tmp_path, stdlib_corpus):
    cfg = tiny_config(**{"budget.seconds": 3})
    code, evs = run_trainer(cfg, tmp_path)
    first_done = evs[-1]
    cfg.budget.seconds = 6  # extend the budget, continue where it stopped
    (tmp_path / "config.json").write_text(json.dumps(cfg.to_dict()))
    code, evs = run_trainer(cfg, tmp_path, resume=True)
    assert code == 0
    started = [e for e in evs if e["event"] == "started"][-1]
    assert started["resumed"] is True and started["step"] == first_done["step"]
    assert started["elapsed"] == pytest.approx(first_done["elapsed"], abs=0.01)
    steps_after = [e for e in evs if e["event"] == "step" and e["time"] >= started["time"]]
    assert steps_after[0]["step"] == first_done["step"] + 1
    assert abs(evs[-1]["elapsed"] - 6) <= 2.0


def test_data_error_is_reported_not_crashed(tmp_path):
    bad = tmp_path / "data"
    (bad / "ruby").mkdir(parents=True)
    for split in ("train", "valid", "test"):
        (bad / "ruby" / f"{split}.jsonl").write_text("not json\n{\"code_tokens\": 3}\n")
    cfg = tiny_config(**{"data.source": "codexglue", "data.path": str(bad), "data.languages": "ruby"})
    code, evs = run_trainer(cfg, tmp_path / "run")
    err = [e for e in evs if e["event"] == "error"][0]
    assert code == 2 and err["kind"] == "data"
    assert "train.jsonl" in err["message"] and "no usable example" in err["message"] and err["hint"]
    assert evs[-1]["event"] == "done" and evs[-1]["status"] == "failed"


def test_nonfinite_loss_stops_with_error_and_keeps_checkpoint(tmp_path, stdlib_corpus, monkeypatch):
    import engine.step as train_mod

    real = train_mod.token_loss
    calls = {"n": 0}

    def poisoned(*a, **k):
        loss, n = real(*a, **k)
        calls["n"] += 1
        return (loss * float("nan"), n) if calls["n"] > 3 else (loss, n)

    monkeypatch.setattr(train_mod, "token_loss", poisoned)
    code, evs = run_trainer(tiny_config(), tmp_path)
    err = [e for e in evs if e["event"] == "error"][0]
    assert code == 1 and err["kind"] == "nonfinite" and "lr" in err["hint"]
    assert evs[-1]["status"] == "failed"


def test_oom_gives_a_hint(tmp_path, stdlib_corpus, monkeypatch):
    import engine.step as train_mod
    import torch

    def oom(*a, **k):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(train_mod, "token_loss", oom)
    code, evs = run_trainer(tiny_config(), tmp_path)
    err = [e for e in evs if e["event"] == "error"][0]
    assert err["kind"] == "oom" and "batch_size" in err["hint"] and "grad_accum" in err["hint"]


def _spawn(args, tmp_path):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "engine", "train", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_for(path: Path, pred, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        evs = list(read_events(path))
        if pred(evs):
            return evs
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting on {path}")


def _cli_args(run_dir, budget):
    cfg = tiny_config(**{"budget.seconds": budget, "eval.checkpoint_minutes": 0.1})
    from engine.contract.config import to_cli_args
    return [*to_cli_args(cfg), "--run-dir", str(run_dir), "--jsonl"]


def test_sigterm_checkpoints_and_reports_stopped_then_resume(tmp_path, stdlib_corpus):
    run = tmp_path / "run"
    p = _spawn(_cli_args(run, 60), tmp_path)
    _wait_for(run / "events.jsonl", lambda evs: sum(e["event"] == "step" for e in evs) >= 3)
    os.killpg(p.pid, signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    evs = list(read_events(run / "events.jsonl"))
    assert evs[-1]["event"] == "done" and evs[-1]["stopped"] is True and evs[-1]["status"] == "stopped"
    stdout_events = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert stdout_events[-1]["event"] == "done"  # --jsonl streams the same events on stdout
    assert ckpt.load_state(ckpt.find(run, "last"))["step"] == evs[-1]["step"]
    assert not (run / "worker.pid").exists()
    # resume with a short remaining budget
    cfg = json.loads((run / "config.json").read_text())
    cfg["budget"]["seconds"] = evs[-1]["elapsed"] + 2
    (run / "config.json").write_text(json.dumps(cfg))
    p2 = subprocess.run([sys.executable, "-m", "engine", "train", "--resume", str(run)], cwd=ROOT,
                        capture_output=True, text=True, timeout=300)
    assert p2.returncode == 0, p2.stderr
    evs2 = list(read_events(run / "events.jsonl"))
    assert evs2[-1]["status"] == "completed" and evs2[-1]["step"] > evs[-1]["step"]
    assert "BLEU-4" in p2.stdout  # the human results table


def test_sigkill_leaves_last_checkpoint_and_resume_continues(tmp_path, stdlib_corpus):
    run = tmp_path / "run"
    p = _spawn(_cli_args(run, 60), tmp_path)
    evs = _wait_for(run / "events.jsonl", lambda evs: any(e["event"] == "checkpoint" and e["kind"] == "last"
                                                          for e in evs))
    time.sleep(0.5)
    os.killpg(p.pid, signal.SIGKILL)
    p.communicate(timeout=30)
    last = ckpt.find(run, "last")
    assert last is not None
    saved = ckpt.load_state(last)
    cfg = json.loads((run / "config.json").read_text())
    cfg["budget"]["seconds"] = saved["elapsed"] + 2
    (run / "config.json").write_text(json.dumps(cfg))
    r = subprocess.run([sys.executable, "-m", "engine", "train", "--resume", str(run), "--jsonl"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    evs = list(read_events(run / "events.jsonl"))
    started = [e for e in evs if e["event"] == "started"][-1]
    assert started["resumed"] and started["step"] == saved["step"]
    assert evs[-1]["status"] == "completed"


def test_cli_rejects_bad_config_with_field_message(tmp_path):
    r = subprocess.run([sys.executable, "-m", "engine", "train", "--preset", "smoke", "--set", "eval.beam_size=0",
                        "--run-dir", str(tmp_path / "r"), "--jsonl"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2
    assert "eval.beam_size: 0 is below the minimum 1" in r.stderr
    assert json.loads(r.stdout.splitlines()[0])["kind"] == "config"
