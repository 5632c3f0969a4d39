"""`phase` events at each change of what `cram train` / `cram eval` does, `progress` events while the test
split is decoded (the console's "test decoding k / N, ETA"), and the stop signals: SIGUSR1 stops like SIGTERM,
SIGUSR2 ends the run `pruned` with its checkpoint kept."""
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, tiny_config
from engine import checkpoint as ckpt
from engine import train
from engine.contract.config import to_cli_args
from engine.contract.events import PHASES, EventWriter, read_events
from engine.stopping import StopSignal


def _phases(evs):
    out = []
    for e in evs:
        if e["event"] == "phase" and (not out or out[-1] != e["phase"]):
            out.append(e["phase"])
    return out


@pytest.mark.slow
def test_phases_and_decode_progress_of_a_run(tmp_path, stdlib_corpus):
    run = tmp_path / "run"
    w = EventWriter(run / "events.jsonl")
    try:
        assert train.run(tiny_config(**{"budget.seconds": 3, "eval.every_seconds": 1, "eval.batch_size": 4}),
                         run, w) == 0
    finally:
        w.close()
    evs = list(read_events(run / "events.jsonl"))
    ph = _phases(evs)
    assert set(ph) <= set(PHASES)
    assert ph[:2] == ["starting", "loading_data"] and ph[-3:] == ["checkpointing", "test_decode", "finished"]
    for a, b in [("loading_data", "training"), ("training", "dev_eval"), ("dev_eval", "checkpointing")]:
        assert ph.index(a) < ph.index(b)
    kinds = [e["event"] for e in evs]
    assert kinds[-1] == "done" and kinds[-2] == "phase" and evs[-2]["phase"] == "finished"
    # training goes on after each dev evaluation
    assert ph.count("training") >= 2
    first_step = kinds.index("step")
    assert [e["phase"] for e in evs[:first_step] if e["event"] == "phase"][-1] == "training"
    dec = [e for e in evs if e["event"] == "progress"]
    assert dec and all(e["task"] == "decode" and e["language"] == "python" and e["split"] == "test" for e in dec)
    assert [e["done"] for e in dec] == sorted(e["done"] for e in dec)
    assert dec[-1]["done"] == dec[-1]["total"] == 30 and all(e["total"] == 30 for e in dec)
    assert all(e.get("eta_seconds") is not None for e in dec[1:])
    assert kinds.index("progress") > kinds.index("phase", max(i for i, k in enumerate(kinds) if k == "step"))
    # at most a few a second
    times = [e["time"] for e in dec[1:-1]]
    assert all(b - a >= 0.45 for a, b in zip(times, times[1:]))


def test_sigusr1_stops_like_sigterm_and_sighup_respects_nohup():
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2,
                                                signal.SIGHUP)}
    streams = sys.stdout, sys.stderr  # install() wraps them (engine.stdio.protect_stdio)
    try:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        stop = StopSignal().install()
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
        os.kill(os.getpid(), signal.SIGUSR1)
        assert stop.requested and stop.status == "stopped" and stop.signal_name == "SIGUSR1"
        os.kill(os.getpid(), signal.SIGUSR2)  # the first request decides
        assert stop.status == "stopped"
        pruned = StopSignal().install()
        os.kill(os.getpid(), signal.SIGUSR2)
        assert pruned.requested and pruned.status == "pruned"
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
        sys.stdout, sys.stderr = streams


@pytest.mark.slow
def test_sigusr2_prunes_with_the_checkpoint_kept(tmp_path, stdlib_corpus):
    run = tmp_path / "run"
    cfg = tiny_config(**{"budget.seconds": 120, "eval.checkpoint_minutes": 10})
    p = subprocess.Popen([sys.executable, "-m", "engine", "train", *to_cli_args(cfg), "--run-dir", str(run),
                          "--jsonl"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        t0 = time.time()
        while sum(e["event"] == "step" for e in read_events(run / "events.jsonl")) < 3:
            assert p.poll() is None, p.stderr.read()
            assert time.time() - t0 < 180
            time.sleep(0.2)
        os.killpg(p.pid, signal.SIGUSR2)
        assert p.wait(timeout=120) == 0
        assert "SIGUSR2 received (pruned)" in p.stderr.read()
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    evs = list(read_events(run / "events.jsonl"))
    done = evs[-1]
    assert done["event"] == "done" and done["status"] == "pruned" and done["stopped"] is True
    assert not [e for e in evs if e["event"] in ("result", "error")]
    assert ckpt.load_state(ckpt.find(run, "last"))["step"] == done["step"]
    from engine.contract.rundir import summarize

    assert summarize(run)["status"] == "pruned"
