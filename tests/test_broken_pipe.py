"""Issue 10 item 6: a dead reader of stderr (the console crashed, the terminal closed) never costs the run its
graceful stop, and a process started with stderr closed still trains. The event file is the source of truth."""
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, tiny_config
from engine import checkpoint as ckpt
from engine.contract.config import to_cli_args
from engine.contract.events import read_events

pytestmark = pytest.mark.slow


def _args(run, budget, **sets):
    cfg = tiny_config(**{"budget.seconds": budget, "eval.checkpoint_minutes": 10, **sets})
    return [sys.executable, "-m", "engine", "train", *to_cli_args(cfg), "--run-dir", str(run)]


def _wait_for(path, pred, proc, timeout=180):
    t0 = time.time()
    while time.time() - t0 < timeout:
        evs = list(read_events(path))
        if pred(evs):
            return evs
        if proc.poll() is not None:
            raise AssertionError(f"the engine ended early ({proc.returncode}): {evs[-3:]}")
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting on {path}")


def test_sigterm_after_the_stderr_reader_died_still_checkpoints_and_ends_stopped(tmp_path, stdlib_corpus):
    run = tmp_path / "run"
    # no --jsonl: the human progress line and every message go to stderr, a pipe whose reader then dies
    p = subprocess.Popen(_args(run, 120), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         env=dict(os.environ, PYTHONUNBUFFERED="1"), start_new_session=True)
    try:
        _wait_for(run / "events.jsonl", lambda evs: sum(e["event"] == "step" for e in evs) >= 3, p)
        p.stderr.close()  # the console is gone: the next write to stderr gets EPIPE
        time.sleep(0.5)
        os.killpg(p.pid, signal.SIGTERM)
        assert p.wait(timeout=120) == 0
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    evs = list(read_events(run / "events.jsonl"))
    done = evs[-1]
    assert done["event"] == "done" and done["status"] == "stopped" and done["stopped"] is True
    assert not [e for e in evs if e["event"] == "error"]
    last = ckpt.find(run, "last")
    assert last is not None and ckpt.load_state(last)["step"] == done["step"]
    assert not (run / "worker.pid").exists() and not (run / "writer.lock").exists()


def test_a_run_started_with_stderr_closed_completes(tmp_path, stdlib_corpus):
    run = tmp_path / "run"
    r = subprocess.run(_args(run, 2), cwd=ROOT, stdout=subprocess.PIPE, stderr=None, text=True, timeout=300,
                       preexec_fn=lambda: os.close(2))  # like `cram train ... 2>&-`
    evs = list(read_events(run / "events.jsonl"))
    assert r.returncode == 0, evs[-3:]
    assert evs[-1]["event"] == "done" and evs[-1]["status"] == "completed"
    assert (run / "results.csv").is_file()
    # nothing meant for stderr landed in the files the engine opened (fd 2 was free for the taking)
    assert all(line.startswith("{") for line in (run / "events.jsonl").read_text().splitlines() if line)
