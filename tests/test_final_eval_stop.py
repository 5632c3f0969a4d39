"""Issue 10 item 11 (the engine's part): a stop during the final evaluation ends within a batch — `done`
stopped, the checkpoints intact, a message saying how to finish with `cram eval RUN_DIR` — and `cram eval` itself
stops the same way on SIGTERM."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, tiny_config
from engine import checkpoint as ckpt
from engine import train
from engine.contract.events import EventWriter, read_events
from engine.evaluator import evaluate_run
from engine.stopping import StopSignal

pytestmark = pytest.mark.slow


class StopOnDecode(EventWriter):
    """Requests a stop as soon as the first batch of the test split is decoded (no timing involved)."""

    def __init__(self, path, stop: StopSignal):
        super().__init__(path)
        self.stop = stop

    def emit(self, event, **fields):
        ev = super().emit(event, **fields)
        if ev["event"] == "progress" and ev.get("task") == "decode" and (ev.get("done") or 0) > 0:
            self.stop.request("stopped", "SIGTERM")
        return ev


def test_a_stop_during_the_final_evaluation_ends_stopped_then_cram_eval_finishes(tmp_path, stdlib_corpus):
    run = tmp_path / "run"
    cfg = tiny_config(**{"budget.seconds": 2, "eval.batch_size": 2})
    stop = StopSignal()
    w = StopOnDecode(run / "events.jsonl", stop)
    try:
        code = train.run(cfg, run, w, stop=stop)
    finally:
        w.close()
    assert code == 0
    evs = list(read_events(run / "events.jsonl"))
    done = evs[-1]
    assert done["event"] == "done" and done["status"] == "stopped" and done["stopped"] is True
    decode = [e for e in evs if e["event"] == "progress" and e.get("task") == "decode"]
    assert decode and decode[-1]["done"] < decode[-1]["total"] == 30
    assert not [e for e in evs if e["event"] in ("result", "error")]
    how = [e["message"] for e in evs if e["event"] == "log" and "cram eval" in e["message"]]
    assert how and str(run) in how[0] and "python test" in how[0]
    assert not (run / "results.csv").exists() and not (run / "python_test.output").exists()
    last = ckpt.find(run, "last")
    assert last is not None and ckpt.load_state(last)["step"] == done["step"]
    assert not (run / "writer.lock").exists() and not (run / "worker.pid").exists()
    # what the message says to do finishes the evaluation
    assert evaluate_run(run, stop=StopSignal()) == 0
    evs = list(read_events(run / "events.jsonl"))
    assert evs[-1]["event"] == "done" and evs[-1]["status"] == "completed"
    assert (run / "results.csv").is_file() and len((run / "python_test.output").read_text().splitlines()) == 30


def test_sigterm_during_cram_eval_stops_at_the_next_batch(tmp_path, stdlib_corpus):
    run = tmp_path / "run"
    w = EventWriter(run / "events.jsonl")
    try:
        assert train.run(tiny_config(**{"budget.seconds": 2}), run, w) == 0
    finally:
        w.close()
    # a slow evaluation: many examples, one at a time
    cfg = json.loads((run / "config.json").read_text())
    cfg["data"]["max_test"], cfg["eval"]["batch_size"], cfg["eval"]["beam_size"] = 400, 1, 4
    (run / "config.json").write_text(json.dumps(cfg))
    n_before = len(list(read_events(run / "events.jsonl")))
    p = subprocess.Popen([sys.executable, "-m", "engine", "eval", str(run), "--jsonl"], cwd=ROOT,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        t0 = time.time()
        while not [e for e in list(read_events(run / "events.jsonl"))[n_before:]
                   if e["event"] == "progress" and (e.get("done") or 0) > 0]:
            assert p.poll() is None, p.stderr.read()
            assert time.time() - t0 < 240
            time.sleep(0.1)
        os.killpg(p.pid, signal.SIGTERM)
        assert p.wait(timeout=120) == 0
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    evs = list(read_events(run / "events.jsonl"))[n_before:]
    assert evs[-1]["event"] == "done" and evs[-1]["status"] == "stopped"
    decode = [e for e in evs if e["event"] == "progress"]
    assert decode[-1]["done"] < decode[-1]["total"]
    assert any(e["event"] == "log" and f"cram eval {run}" in e["message"] for e in evs)
    assert ckpt.find(run, "last") is not None and ckpt.find(Path(run), "best") is not None
