"""Issue 10 item 5: one writer per run directory. `cram train`, `cram train --resume` and `cram eval` take
RUN_DIR/writer.lock; a second writer fails with error kind `locked` naming the holder, exit 2, and never
touches the first one's files (events.jsonl, worker.pid)."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, tiny_config
from engine.contract import config as config_lib
from engine.contract.events import read_events
from engine.contract.lock import RunLock, read_lock
from engine.contract.rundir import LOCK_FILE


def _run_dir(tmp_path) -> Path:
    d = tmp_path / "run"
    d.mkdir()
    config_lib.save(tiny_config(), d / "config.json")
    (d / "events.jsonl").write_text('{"v":1,"event":"started","time":1.0}\n{"v":1,"event":"step","time":2.0}\n')
    (d / "worker.pid").write_text(str(os.getpid()))
    return d


def _cram(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def _stdout_events(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("command", [["train", "--resume"], ["eval"]])
def test_a_second_writer_is_refused_naming_the_holder(tmp_path, command):
    d = _run_dir(tmp_path)
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    with RunLock(d, "train"):
        r = _cram(*command, str(d), "--jsonl")
    assert r.returncode == 2, r.stderr
    assert f"pid {os.getpid()} on {socket.gethostname()}" in r.stderr and "train" in r.stderr
    evs = _stdout_events(r.stdout)
    err = [e for e in evs if e["event"] == "error"]
    assert err and err[0]["kind"] == "locked" and str(os.getpid()) in err[0]["message"]
    assert evs[-1]["event"] == "done" and evs[-1]["status"] == "failed"
    # the holder's files are untouched: no error/done appended to its log, its pid file kept
    after = {p.name: p.read_bytes() for p in d.iterdir()}
    assert after == before


def test_a_stale_lock_of_a_dead_process_is_taken_over_and_released(tmp_path):
    d = _run_dir(tmp_path)
    dead = subprocess.Popen(["true"])
    dead.wait()
    (d / LOCK_FILE).write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid, "started": 1.0,
                                           "purpose": "train"}))
    r = _cram("eval", str(d))  # the run has no checkpoint: a config error, reached only with the lock
    assert r.returncode == 2 and "has no checkpoint" in r.stderr, r.stderr
    assert not (d / LOCK_FILE).exists()  # released on the way out, also after an error
    assert [e["kind"] for e in read_events(d / "events.jsonl") if e["event"] == "error"] == ["config"]


def test_guarded_takes_and_releases_the_lock_also_on_errors(tmp_path):
    from engine.errors import guarded

    d = tmp_path / "run"
    d.mkdir()
    seen, evs = {}, []

    def body():
        seen["holder"] = read_lock(d)
        raise RuntimeError("boom")

    code = guarded(d, lambda name, **f: evs.append((name, f)), dict, body, lock="eval")
    assert code == 1 and seen["holder"]["pid"] == os.getpid() and seen["holder"]["purpose"] == "eval"
    assert not (d / LOCK_FILE).exists()
    assert [n for n, _ in evs if n != "phase"][-2:] == ["error", "done"]


@pytest.mark.slow
def test_two_trainings_of_one_run_dir(tmp_path, stdlib_corpus):
    run = tmp_path / "run"
    cfg = tiny_config(**{"budget.seconds": 120, "eval.checkpoint_minutes": 10})
    first = subprocess.Popen([sys.executable, "-m", "engine", "train", *config_lib.to_cli_args(cfg), "--run-dir",
                              str(run), "--jsonl"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    try:
        t0 = time.time()
        while sum(e["event"] == "step" for e in read_events(run / "events.jsonl")) < 2:
            assert first.poll() is None and time.time() - t0 < 180
            time.sleep(0.2)
        size = (run / "events.jsonl").stat().st_size
        second = _cram("train", "--resume", str(run), "--jsonl")
        assert second.returncode == 2
        assert f"pid {first.pid} on {socket.gethostname()}" in second.stderr
        assert [e["kind"] for e in _stdout_events(second.stdout) if e["event"] == "error"] == ["locked"]
        assert (run / "worker.pid").read_text().strip() == str(first.pid)
        os.killpg(first.pid, signal.SIGTERM)
        assert first.wait(timeout=120) == 0
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    evs = list(read_events(run / "events.jsonl"))
    assert (run / "events.jsonl").stat().st_size > size
    assert not [e for e in evs if e["event"] == "error"]  # the refused second writer wrote nothing here
    assert evs[-1]["event"] == "done" and evs[-1]["status"] == "stopped"
    assert not (run / LOCK_FILE).exists()
