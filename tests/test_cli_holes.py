"""Config and CLI holes: each bad request gets a field-level message and exit 2, before any data is loaded where
possible. Also: the step counts of the step-based schedule under DDP, data.max_line_bytes reaching the reader, and
the CUDA memory fields of `step` events (None on CPU)."""
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import ROOT, tiny_config
from engine.contract.events import read_events


def cram(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "engine", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env=dict(os.environ, **(env or {})))


def train_events(run_dir: Path) -> list[dict]:
    return list(read_events(run_dir / "events.jsonl"))


def _model_run(tmp_path, source, name_or_path, env=None):
    run = tmp_path / "run"
    r = cram("train", "--preset", "smoke", "--set", f"model.source={source}", "--set",
             f"model.name_or_path={name_or_path}", "--run-dir", run, "--jsonl", env=env)
    return r, train_events(run)


def _field_error(r, evs, text):
    assert r.returncode == 2, r.stderr
    err = [e for e in evs if e["event"] == "error"]
    assert err and err[0]["kind"] == "config", evs
    assert err[0]["message"].startswith("model.name_or_path: ") and text in err[0]["message"], err[0]["message"]
    assert not any(e["event"] == "data" for e in evs)   # before any data is loaded
    assert "Traceback" not in r.stderr


# ------------------------------------------------------------------------------------------------- model folders
def test_missing_absolute_model_folder(tmp_path):
    r, evs = _model_run(tmp_path, "encoder", tmp_path / "no" / "such-model")
    _field_error(r, evs, f"folder {tmp_path / 'no' / 'such-model'} does not exist")


def test_empty_model_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    r, evs = _model_run(tmp_path, "seq2seq", tmp_path / "empty")
    _field_error(r, evs, "no config.json")


def _encoder_only_folder(path: Path) -> Path:
    from transformers import RobertaConfig

    path.mkdir()
    RobertaConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                  intermediate_size=32).save_pretrained(path)
    return path


def test_encoder_only_folder_for_seq2seq(tmp_path):
    folder = _encoder_only_folder(tmp_path / "roberta")
    r, evs = _model_run(tmp_path, "seq2seq", folder)
    _field_error(r, evs, "not an encoder-decoder")
    assert "model.source=encoder" in [e for e in evs if e["event"] == "error"][0]["message"]


def test_model_folder_without_weights(tmp_path):
    folder = _encoder_only_folder(tmp_path / "roberta")
    r, evs = _model_run(tmp_path, "encoder", folder)
    _field_error(r, evs, "no weights")


def test_hub_id_while_offline_fails_fast(tmp_path):
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "HF_HUB_CACHE": str(tmp_path / "hf" / "hub")}
    r, evs = _model_run(tmp_path, "encoder", "nobody-xyz/not-a-model", env=env)
    _field_error(r, evs, "offline")


def test_hub_id_with_the_hub_unreachable_fails_fast(tmp_path):
    env = {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": str(tmp_path / "hf"),
           "HF_HUB_CACHE": str(tmp_path / "hf" / "hub")}
    env.pop("HF_HUB_OFFLINE", None)
    r, evs = _model_run(tmp_path, "encoder", "nobody-xyz/not-a-model",
                        env={**env, "HF_HUB_OFFLINE": ""})
    _field_error(r, evs, "not reachable")


def test_model_location_unit(tmp_path, monkeypatch):
    from engine.errors import StopRun
    from engine.session import model_location

    assert model_location(tiny_config()) is None   # scratch: nothing to find
    cfg = tiny_config(**{"model.source": "encoder", "model.name_or_path": "~/does-not-exist-cram"})
    with pytest.raises(StopRun) as e:
        model_location(cfg)
    assert "does not exist" in e.value.message
    # a cached hub id while the hub is unreachable resolves to the cached snapshot (no network wait)
    folder = _encoder_only_folder(tmp_path / "snap")
    (folder / "model.safetensors").write_bytes(b"")
    monkeypatch.setattr("engine.session._hub_reachable", lambda: False)
    monkeypatch.setattr("engine.session._cached_snapshot", lambda repo: folder)
    cfg = tiny_config(**{"model.source": "encoder", "model.name_or_path": "org/model"})
    assert model_location(cfg) == str(folder)


# ------------------------------------------------------------------------------------------------------ cram eval
@pytest.mark.parametrize("beam", ["-3", "0", "1000", "x"])
def test_eval_beam_out_of_range(tmp_path, beam):
    r = cram("eval", tmp_path, "--beam", beam, timeout=60)
    assert r.returncode == 2
    assert "--beam" in r.stderr and ("1..64" in r.stderr or "integer" in r.stderr)


# ----------------------------------------------------------------------------------------------------- cram slurm
def test_slurm_gpus_zero_for_a_cuda_config(tmp_path):
    r = cram("slurm", "--preset", "smoke", "--set", "hardware.device=cuda", "--gpus", "0", "--run-dir",
             tmp_path / "r", timeout=60)
    assert r.returncode == 2
    assert "cram: invalid config: --gpus: hardware.device=cuda needs at least one GPU" in r.stderr
    assert "Traceback" not in r.stderr


def test_slurm_gpus_default_follows_the_config(tmp_path):
    r = cram("slurm", "--preset", "smoke", "--set", "hardware.device=cuda", "--set", "hardware.gpus=2",
             "--run-dir", tmp_path / "r", timeout=60)
    assert r.returncode == 0, r.stderr
    assert "#SBATCH --gres=gpu:2" in r.stdout
    r = cram("slurm", "--preset", "smoke", "--run-dir", tmp_path / "r", timeout=60)   # a CPU config: no GPU
    assert r.returncode == 0, r.stderr
    assert "--gres" not in r.stdout


# ------------------------------------------------------------------------------------------- config files, via CLI
@pytest.fixture
def bad_configs(tmp_path):
    lst = tmp_path / "list.json"
    lst.write_text("[1, 2]")
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'name = "caf\xe9"\n')
    boolean = tmp_path / "bool.toml"
    boolean.write_text("[train]\nlr = true\n")
    wide = tmp_path / "wide.json"
    wide.write_text('{"train": {"batch_size": "\uff13\uff12"}}')
    return {"list": (lst, "config: "), "utf8": (latin, "not UTF-8"), "bool": (boolean, "train.lr: "),
            "wide": (wide, "train.batch_size: ")}


@pytest.mark.parametrize("which", ["list", "utf8", "bool", "wide"])
def test_bad_config_files_through_train_and_slurm(bad_configs, tmp_path, which):
    path, text = bad_configs[which]
    for cmd in (["train", path, "--run-dir", tmp_path / "r"], ["slurm", path, "--run-dir", tmp_path / "r"]):
        r = cram(*cmd, timeout=60)
        assert r.returncode == 2, (cmd, r.stderr)
        line = [x for x in r.stderr.splitlines() if x.startswith("cram: invalid config: ")]
        assert line and text in line[0], (cmd, r.stderr)
        assert "Traceback" not in r.stderr
    assert not (tmp_path / "r" / "events.jsonl").exists()


def test_bad_run_config_through_eval(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text('{"train": {"lr": true}}')
    r = cram("eval", run, timeout=60)
    assert r.returncode == 2
    assert "cram: invalid config: train.lr: " in r.stderr
    (run / "config.json").write_text("[]")
    r = cram("eval", run, timeout=60)
    assert r.returncode == 2 and "cram: invalid config: config: " in r.stderr
    assert sorted(p.name for p in run.iterdir()) == ["config.json"]


# ---------------------------------------------------------------------------------------------------- step counts
def test_step_counts_follow_the_world_size():
    from engine.session import step_counts

    cfg = tiny_config(**{"train.schedule": "linear", "budget.max_epochs": 2, "train.grad_accum": 2})
    assert step_counts(cfg, 100, 1) == (50, 100)       # ceil(100 / 2) per epoch
    assert step_counts(cfg, 100, 4) == (12, 24)        # the last partial step of 4 ranks x 2 is dropped
    assert step_counts(cfg, 101, 1) == (51, 102)
    cfg.budget.max_steps = 30
    assert step_counts(cfg, 100, 4) == (12, 30)
    cfg = tiny_config(**{"budget.max_epochs": 0.5})
    assert step_counts(cfg, 10, 1) == (10, 5)


def test_max_line_bytes_reaches_the_reader(tmp_path, monkeypatch):
    from engine import data, distributed, session

    seen = {}
    real = data.load_corpus

    def spy(*a, **k):
        seen.update(k)
        return real(*a, **k)

    monkeypatch.setattr(data, "load_corpus", spy)
    root = tmp_path / "cx" / "ruby"
    root.mkdir(parents=True)
    line = json.dumps({"code_tokens": ["def", "f"], "docstring_tokens": ["does", "f"]})
    long = json.dumps({"code_tokens": ["x" * 3000], "docstring_tokens": ["long"]})
    for split in ("train", "valid", "test"):
        (root / f"{split}.jsonl").write_text("\n".join([line, long, line]) + "\n")
    cfg = tiny_config(**{"data.source": "codexglue", "data.path": str(tmp_path / "cx"), "data.languages": "ruby",
                         "data.max_line_bytes": 2048})
    events = []
    splits = session.load_splits(cfg.data, distributed.Dist(), lambda kind, **f: events.append((kind, f)))
    assert seen["max_line_bytes"] == 2048
    assert len(splits[("ruby", "train")]) == 2
    assert any(kind == "log" and "too_long" in f["message"] for kind, f in events)


def test_step_events_have_no_cuda_memory_on_cpu():
    import torch

    from engine.state import TrainState
    from engine.step import StepEvents, StepResult

    out = []
    s = SimpleNamespace(hw=SimpleNamespace(peak_flops=None, device=torch.device("cpu")), flops_per_token=0.0)
    ev = StepEvents(lambda kind, **f: out.append(f), s, 0.0)
    ev.add(StepResult(2.0, 2, 10, 1e-3, 0.5), 4)
    ev.flush(TrainState(step=1, elapsed=1.0), 0.1)
    assert out[0]["max_memory_allocated"] is None and out[0]["max_memory_reserved"] is None
