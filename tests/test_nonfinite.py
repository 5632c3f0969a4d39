"""Non-finite gradients never reach the weights: the update is skipped (counted, with a warning), N in a row stop
the run (kind nonfinite), and a checkpoint is never written from non-finite parameters. fp16 on CUDA trains with a
GradScaler (its skip-and-shrink path is checked here on CPU)."""
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file

from conftest import tiny_config
from engine import checkpoint as ckpt
from engine import session as session_lib
from engine import step as step_mod
from engine import train
from engine.contract.events import EventWriter, read_events
from engine.contract.rundir import STATE_FILE
from engine.errors import StopRun


def run_trainer(cfg, run_dir):
    w = EventWriter(Path(run_dir) / "events.jsonl")
    try:
        code = train.run(cfg, Path(run_dir), w)
    finally:
        w.close()
    return code, list(read_events(Path(run_dir) / "events.jsonl"))


def poison_gradients(monkeypatch, bad):
    """Training micro-batch number n (1-based) gets NaN gradients when bad(n); its loss stays finite."""
    real = step_mod.token_loss
    calls = {"n": 0}

    def token_loss(*a, **k):
        loss, n = real(*a, **k)
        calls["n"] += 1
        if bad(calls["n"]):
            loss.register_hook(lambda g: g * float("nan"))
        return loss, n

    monkeypatch.setattr(step_mod, "token_loss", token_loss)
    return calls


def all_finite(folder: Path) -> bool:
    return all(torch.isfinite(t).all() for t in load_file(folder / "model.safetensors").values())


def test_nonfinite_gradients_skip_the_update_and_training_goes_on(tmp_path, stdlib_corpus, monkeypatch):
    poison_gradients(monkeypatch, lambda n: 3 <= n <= 5)
    code, evs = run_trainer(tiny_config(**{"budget.seconds": 3}), tmp_path)
    assert code == 0, [e for e in evs if e["event"] == "error"]
    assert evs[-1]["status"] == "completed"
    steps = [e for e in evs if e["event"] == "step"]
    assert all(math.isfinite(s["loss"]) for s in steps) and steps[-1]["step"] > 10
    warn = [e for e in evs if e["event"] == "log" and "skipped" in e["message"]]
    assert warn and warn[0]["level"] == "warning" and "non-finite" in warn[0]["message"]
    assert all_finite(ckpt.find(tmp_path, "last")) and all_finite(ckpt.find(tmp_path, "best"))


def test_nonfinite_gradients_in_a_row_stop_the_run(tmp_path, stdlib_corpus, monkeypatch):
    poison_gradients(monkeypatch, lambda n: n >= 3)
    code, evs = run_trainer(tiny_config(**{"budget.seconds": 30, "eval.checkpoint_minutes": 0.1}), tmp_path)
    err = [e for e in evs if e["event"] == "error"]
    assert code == 1 and err and err[0]["kind"] == "nonfinite"
    assert f"{step_mod.MAX_SKIPPED_IN_A_ROW} updates in a row" in err[0]["message"]
    assert "checkpoint" in err[0]["hint"]
    assert evs[-1]["status"] == "failed"
    steps = [e for e in evs if e["event"] == "step"]
    assert steps[-1]["step"] <= 2 + step_mod.MAX_SKIPPED_IN_A_ROW
    last = ckpt.find(tmp_path, "last")
    if last is not None:
        assert all_finite(last)


@pytest.fixture(scope="module")
def session(tmp_path_factory, stdlib_corpus):
    d = tmp_path_factory.mktemp("sess")
    return session_lib.setup(tiny_config(), d, lambda *a, **k: None)


class Clock:
    elapsed = 1.0

    def paused(self):
        import contextlib
        return contextlib.nullcontext()


def test_a_checkpoint_is_never_written_from_nonfinite_parameters(session, monkeypatch):
    from engine.state import TrainState

    s = session
    events = []
    emit = lambda name, **f: events.append((name, f))  # noqa: E731
    ckpt.write(s, TrainState(step=3), "last", Clock(), emit)
    good = ckpt.find(s.run_dir, "last")
    assert good is not None
    p = next(s.model.parameters())
    saved = p.detach().clone()
    try:
        with torch.no_grad():
            p.view(-1)[0] = float("nan")
        with pytest.raises(StopRun) as e:
            ckpt.write(s, TrainState(step=9), "last", Clock(), emit)
    finally:
        with torch.no_grad():
            p.copy_(saved)
    assert e.value.kind == "nonfinite"
    assert "not finite" in e.value.message and "step 9" in e.value.message
    assert "the last checkpoint of step 3 is kept" in e.value.message
    assert ckpt.load_state(ckpt.find(s.run_dir, "last"))["step"] == 3 and all_finite(ckpt.find(s.run_dir, "last"))


def test_train_step_skips_a_nonfinite_update_and_keeps_the_weights(session, monkeypatch):
    s = session
    s.skipped_in_a_row = 0
    group = [list(range(8))]
    before = [p.detach().clone() for p in s.model.parameters()]
    poison_gradients(monkeypatch, lambda n: True)
    r = step_mod.train_step(s, group, 1e-3)
    assert r.skipped and math.isfinite(r.loss_sum)
    assert all(torch.equal(a, b) for a, b in zip(before, s.model.parameters()))
    assert all(p.grad is None for p in s.model.parameters())
    monkeypatch.undo()
    r = step_mod.train_step(s, group, 1e-3)
    assert not r.skipped and s.skipped_in_a_row == 0
    assert any(not torch.equal(a, b) for a, b in zip(before, s.model.parameters()))


def test_the_grad_scaler_path_skips_and_shrinks_the_scale(session, monkeypatch):
    """fp16 on CUDA uses torch.amp.GradScaler; the same code path with a CPU scaler."""
    s = session
    s.skipped_in_a_row = 0
    s.scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 10)
    try:
        group = [list(range(8))]
        before = [p.detach().clone() for p in s.model.parameters()]
        poison_gradients(monkeypatch, lambda n: True)
        r = step_mod.train_step(s, group, 1e-3)
        assert r.skipped and s.scaler.get_scale() == 2.0 ** 9
        assert all(torch.equal(a, b) for a, b in zip(before, s.model.parameters()))
        monkeypatch.undo()
        r = step_mod.train_step(s, group, 1e-3)
        assert not r.skipped and r.grad_norm is not None and math.isfinite(r.grad_norm)
        assert any(not torch.equal(a, b) for a, b in zip(before, s.model.parameters()))
    finally:
        s.scaler = None


@pytest.mark.filterwarnings("ignore:torch.cuda.amp.GradScaler is enabled, but CUDA is not available")
def test_a_scaler_only_for_fp16_on_cuda():
    hw = lambda dev, prec: SimpleNamespace(device=torch.device(dev), precision=prec)  # noqa: E731
    assert session_lib.make_scaler(hw("cpu", "fp32")) is None
    assert session_lib.make_scaler(hw("cpu", "bf16")) is None
    assert session_lib.make_scaler(hw("cuda", "bf16")) is None
    sc = session_lib.make_scaler(hw("cuda", "fp16"))
    assert isinstance(sc, torch.amp.GradScaler)


def test_the_scaler_state_is_checkpointed(session, tmp_path):
    s = session
    s.scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 7)
    try:
        s.scaler.scale(torch.ones(()))  # initialise its scale tensor
        folder = ckpt.save(tmp_path, "last", s.model, s.tokenizer, s.meta, {"step": 1}, s.optimizer, s.scaler)
        fresh = torch.amp.GradScaler("cpu", init_scale=1.0)
        blob = ckpt.read_optimizer(folder)
        ckpt.apply_optimizer(blob, s.optimizer, fresh)
        assert fresh.get_scale() == 2.0 ** 7
        assert (folder / STATE_FILE).is_file()
    finally:
        s.scaler = None


def test_a_failed_periodic_checkpoint_warns_once_and_training_goes_on(session, monkeypatch):
    """Item 7 (the periodic part): a full disk while writing a checkpoint, as safetensors and torch.save report it
    (no errno), keeps the previous checkpoint, warns once per run of failures, and does not raise."""
    from engine.state import TrainState

    s = session
    events = []
    emit = lambda name, **f: events.append((name, f))  # noqa: E731
    real = ckpt.model_lib.save
    failures = [Exception("Error while serializing: I/O error: No space left on device (os error 28)"),
                RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")]

    def flaky(*a, **k):
        if failures:
            raise failures.pop(0)
        return real(*a, **k)

    monkeypatch.setattr(ckpt.model_lib, "save", flaky)
    ckpt.write(s, TrainState(step=11), "last", Clock(), emit)
    ckpt.write(s, TrainState(step=12), "last", Clock(), emit)
    warnings = [f for name, f in events if name == "log"]
    assert len(warnings) == 1 and "(disk)" in warnings[0]["message"] and "training continues" in warnings[0]["message"]
    assert "inline_container" not in warnings[0]["message"]
    assert not any(name in ("error", "checkpoint") for name, _ in events)
    assert not list((s.run_dir / "checkpoints").glob(".*.tmp-*"))
    ckpt.write(s, TrainState(step=13), "last", Clock(), emit)
    assert [f["step"] for name, f in events if name == "checkpoint"] == [13]
    assert ckpt.load_state(ckpt.find(s.run_dir, "last"))["step"] == 13
    # a planted symlink is not a full disk: the run stops (untrusted)
    from engine.contract.files import UnsafePath

    def planted(*a, **k):
        raise UnsafePath("checkpoints/last is a symbolic link")

    monkeypatch.setattr(ckpt.model_lib, "save", planted)
    with pytest.raises(StopRun) as e:
        ckpt.write(s, TrainState(step=14), "last", Clock(), emit)
    assert e.value.kind == "untrusted"
