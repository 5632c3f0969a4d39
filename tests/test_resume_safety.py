"""Resuming is safe: a checkpoint's tensors are loaded with weights_only=True (a crafted pickle is refused, kind
`untrusted`, and runs nothing), the RNG states round-trip through that safe format, the best dev score comes from
the `best` checkpoint (not an older `last`), checkpoint folders follow the umask, the TrainState file is
cram_state.json (trainer_state.json of older runs still read), and `cram eval` validates the run's config."""
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import ROOT, tiny_config
from engine import checkpoint as ckpt
from engine.contract.events import EventWriter, read_events
from engine.contract.rundir import LEGACY_STATE_FILE, STATE_FILE, state_file
from engine.errors import StopRun
from engine import train


def run_trainer(cfg, run_dir, resume=False):
    w = EventWriter(Path(run_dir) / "events.jsonl")
    try:
        code = train.run(cfg, Path(run_dir), w, resume=resume)
    finally:
        w.close()
    return code, list(read_events(Path(run_dir) / "events.jsonl"))


def cram(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "engine", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env=dict(os.environ, **(env or {})))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, stdlib_corpus):
    """A completed tiny run (last + best checkpoints, results), trained under umask 022."""
    d = tmp_path_factory.mktemp("trained")
    old = os.umask(0o022)
    try:
        code, evs = run_trainer(tiny_config(**{"budget.seconds": 2}), d)
    finally:
        os.umask(old)
    assert code == 0, [e for e in evs if e["event"] == "error"]
    return d


@pytest.fixture
def run(trained, tmp_path):
    d = tmp_path / "run"
    shutil.copytree(trained, d, symlinks=True)
    return d


class Evil:
    """What an attacker plants: unpickling it runs code (here: writes a marker file)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


# ---------------------------------------------------------------------------------------------- item 1: unpickling
def test_crafted_optimizer_pickle_is_refused_and_runs_nothing(run, tmp_path):
    marker = tmp_path / "marker"
    last = ckpt.find(run, "last")
    torch.save({"optimizer": Evil(marker), "rng": {}}, last / "optimizer.pt")
    n_before = len(list(read_events(run / "events.jsonl")))
    r = cram("train", "--resume", run, "--set", "budget.seconds=4", "--jsonl")
    assert not marker.exists(), "the crafted pickle ran"
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    new = list(read_events(run / "events.jsonl"))[n_before:]
    errors = [e for e in new if e["event"] == "error"]
    assert errors and errors[0]["kind"] == "untrusted"
    assert "is not a safe tensor file; refusing to unpickle it" in errors[0]["message"]
    assert str(last / "optimizer.pt") in errors[0]["message"] and "optimizer.pt" in errors[0]["hint"]
    assert not any(e["event"] in ("data", "step") for e in new)   # refused before loading data or training
    assert new[-1]["event"] == "done" and new[-1]["status"] == "failed"


def test_old_format_optimizer_file_is_refused_with_a_way_out(tmp_path):
    folder = tmp_path / "ck"
    folder.mkdir()
    # the format before: numpy's RNG state as numpy arrays, python's as a tuple (needs full unpickling)
    torch.save({"optimizer": {"state": {}, "param_groups": []},
                "rng": {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}},
               folder / "optimizer.pt")
    with pytest.raises(StopRun) as e:
        ckpt.read_optimizer(folder)
    assert e.value.kind == "untrusted" and "refusing to unpickle it" in e.value.message
    assert "delete" in e.value.hint or "remove" in e.value.hint


def test_rng_states_round_trip_through_weights_only(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    random.random(), np.random.rand(), torch.rand(1), np.random.randn()  # a cached gaussian, too
    torch.save({"rng": ckpt.rng_state()}, tmp_path / "rng.pt")
    want = (random.random(), float(np.random.rand()), float(np.random.randn()), float(torch.rand(1)))
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    ckpt.set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True)["rng"])
    assert (random.random(), float(np.random.rand()), float(np.random.randn()), float(torch.rand(1))) == want


def test_resume_loads_the_new_format_and_continues(run):
    """The whole resume path with weights_only=True: optimizer moments and RNG states restored."""
    last = ckpt.find(run, "last")
    blob = torch.load(last / "optimizer.pt", map_location="cpu", weights_only=True)
    assert blob["optimizer"]["state"] and {"python", "numpy", "torch"} <= set(blob["rng"])
    cfg = tiny_config(**{"budget.seconds": 3})
    code, evs = run_trainer(cfg, run, resume=True)
    assert code == 0, [e for e in evs if e["event"] == "error"]
    assert not any(e["event"] == "log" and "fresh AdamW" in e.get("message", "") for e in evs)
    assert evs[-1]["status"] == "completed"


# -------------------------------------------------------------------------------------- item 8: best after resume
def test_resume_restores_the_best_score_from_the_best_checkpoint(run):
    """A kill can leave `last` older than `best`: the resumed run must not overwrite the better `best`."""
    best = ckpt.find(run, "best")
    state = json.loads(state_file(best).read_text())
    state["best_dev_bleu"] = 99.0   # the best checkpoint scored higher than anything `last` knows of
    state_file(best).write_text(json.dumps(state))
    last_state = json.loads(state_file(ckpt.find(run, "last")).read_text())
    assert (last_state["best_dev_bleu"] or 0) < 99.0
    weights = (best / "model.safetensors").read_bytes()
    code, evs = run_trainer(tiny_config(**{"budget.seconds": 3}), run, resume=True)
    assert code == 0, [e for e in evs if e["event"] == "error"]
    started = [i for i, e in enumerate(evs) if e["event"] == "started"][-1]
    new = evs[started:]
    assert any(e["event"] == "eval" for e in new)
    assert not any(e["event"] == "eval" and e["best"] for e in new)
    assert not any(e["event"] == "checkpoint" and e["kind"] == "best" for e in new)
    assert (best / "model.safetensors").read_bytes() == weights
    assert evs[-1]["best_dev_bleu"] == 99.0


def test_load_state_of_last_takes_the_best_checkpoints_score(tmp_path):
    for kind, bleu in (("last", 3.0), ("best", 7.5)):
        (tmp_path / "checkpoints" / kind).mkdir(parents=True)
        (tmp_path / "checkpoints" / kind / STATE_FILE).write_text(json.dumps({"step": 4, "best_dev_bleu": bleu}))
    assert ckpt.load_state(tmp_path / "checkpoints" / "last")["best_dev_bleu"] == 7.5
    assert ckpt.load_state(tmp_path / "checkpoints" / "best")["best_dev_bleu"] == 7.5


# ------------------------------------------------------------------------------------ item 12: umask, state file
def _fake_model_save(model, tokenizer, meta, folder, decoding=None):
    Path(folder, "model.safetensors").write_bytes(b"x")


def test_checkpoint_folders_follow_the_umask(trained, tmp_path, monkeypatch):
    assert stat.S_IMODE((trained / "checkpoints" / "last").stat().st_mode) == 0o755
    assert stat.S_IMODE((trained / "checkpoints" / "best").stat().st_mode) == 0o755
    monkeypatch.setattr(ckpt.model_lib, "save", _fake_model_save)
    old = os.umask(0o027)
    try:
        folder = ckpt.save(tmp_path, "last", None, None, {}, {"step": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o750


def test_state_file_is_cram_state_and_the_legacy_name_still_loads(tmp_path, monkeypatch):
    monkeypatch.setattr(ckpt.model_lib, "save", _fake_model_save)
    folder = ckpt.save(tmp_path, "last", None, None, {}, {"step": 5})
    assert (folder / STATE_FILE).is_file() and not (folder / LEGACY_STATE_FILE).exists()
    assert ckpt.load_state(folder)["step"] == 5
    old = tmp_path / "old"
    old.mkdir()
    (old / LEGACY_STATE_FILE).write_text('{"step": 7}')
    assert ckpt.load_state(old)["step"] == 7


# ----------------------------------------------------------------------------------------- item 2: cram eval config
def test_cram_eval_validates_the_runs_config_and_writes_nothing_outside(run, tmp_path):
    target = tmp_path / "x"
    target.mkdir()
    cfg = json.loads((run / "config.json").read_text())
    cfg["data"]["languages"] = [f"../../../..{target}/pwn"]
    (run / "config.json").write_text(json.dumps(cfg))
    before = (run / "events.jsonl").read_bytes()
    r = cram("eval", run)
    assert r.returncode == 2
    assert "cram: invalid config: data.languages: unknown language" in r.stderr
    assert list(target.iterdir()) == []
    assert (run / "events.jsonl").read_bytes() == before   # refused before the run is touched


def test_setup_eval_refuses_an_invalid_config(run):
    from engine.contract import config as config_lib
    from engine.session import setup_eval

    cfg = tiny_config()
    cfg.data.languages = ["../../pwn"]
    with pytest.raises(StopRun) as e:
        setup_eval(cfg, run, lambda *a, **k: None, ckpt.find(run, "best"))
    assert e.value.kind == "config" and e.value.message.startswith("data.languages:")
    assert config_lib.validate(tiny_config()) == []


# ----------------------------------------------------------------------------------- item 11: resume edge cases
def test_resume_without_config_json_says_so(tmp_path):
    d = tmp_path / "empty-run"
    d.mkdir()
    r = cram("train", "--resume", d)
    assert r.returncode == 2
    assert f"{d} has no config.json" in r.stderr and "nothing to resume" in r.stderr
    assert list(d.iterdir()) == []


def test_resume_of_a_completed_run_has_nothing_to_do_unless_the_budget_grows(run):
    n = len(list(read_events(run / "events.jsonl")))
    r = cram("train", "--resume", run)
    assert r.returncode == 0, r.stderr
    assert "completed: nothing to do" in r.stderr and "budget" in r.stderr
    assert len(list(read_events(run / "events.jsonl"))) == n   # untouched
    # a longer budget continues it
    r = cram("train", "--resume", run, "--set", "budget.seconds=3", "--jsonl")
    assert r.returncode == 0, r.stderr
    evs = list(read_events(run / "events.jsonl"))[n:]
    started = [e for e in evs if e["event"] == "started"]
    assert started and started[0]["resumed"] is True
    assert evs[-1]["status"] == "completed"


def test_a_stopped_resume_does_not_print_an_older_sessions_results(run):
    assert (run / "results.csv").is_file()
    n = len(list(read_events(run / "events.jsonl")))
    p = subprocess.Popen([sys.executable, "-m", "engine", "train", "--resume", str(run), "--set",
                          "budget.seconds=600"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        t0 = time.time()
        while time.time() - t0 < 120:
            evs = list(read_events(run / "events.jsonl"))[n:]
            if sum(e["event"] == "step" for e in evs) >= 2:
                break
            time.sleep(0.2)
        os.killpg(p.pid, signal.SIGTERM)
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode == 0, err
    assert list(read_events(run / "events.jsonl"))[-1]["status"] == "stopped"
    assert "BLEU-4" not in out and "Results" not in out
    assert "stopped" in err and "--resume" in err
