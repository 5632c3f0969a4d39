"""RunState: event ingestion, status/ETA, resume truncation, replay from a run directory, planned LR."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from cramgui.lr_plan import planned_lr
from cramgui.run_state import RunState, Series

SCHED = {"name": "budget-triangle", "warmup": 0.05, "peak_lr": 1e-3}


def started(**kw):
    ev = {"v": 1, "event": "started", "time": 1.0, "run_dir": "/runs/x", "device": "cpu", "budget_seconds": 100.0,
          "step": 0, "elapsed": 0.0, "schedule": SCHED, "resumed": False,
          "config": {"name": "x", "budget": {"seconds": 100.0}, "data": {"languages": ["python"]}}}
    ev.update(kw)
    return ev


def step(i, loss=None, **kw):
    ev = {"v": 1, "event": "step", "step": i, "elapsed": float(i), "progress": i / 100.0,
          "loss": 5.0 - 0.01 * i if loss is None else loss, "lr": 1e-3 * (0.25 + i / 100), "tokens": 100,
          "tokens_per_s": 1000.0 + i}
    ev.update(kw)
    return ev


class Recorder:
    def __init__(self, state: RunState):
        self.calls: list[tuple] = []
        for name in ("reset_signal", "started", "progressed", "evaluated", "result_added", "samples_added",
                     "error", "finished", "log_line", "data_report"):
            getattr(state, name).connect(lambda *a, _n=name: self.calls.append((_n,) + a))

    def names(self):
        return [c[0] for c in self.calls]


def test_scripted_sequence(qapp):
    st = RunState()
    rec = Recorder(st)
    events = [started(), {"event": "data", "language": "python", "split": "train", "n": 900, "skipped": 3}]
    events += [step(i) for i in range(1, 11)]
    events[4] = step(3, loss="NaN-as-string")          # garbage value: masked
    events[5]["loss"] = None                           # null (engine NaN): masked
    events += [{"event": "eval", "step": 10, "elapsed": 10.0, "dev_loss": 4.2, "dev_ppl": 66.7, "dev_bleu": 7.5},
               {"event": "log", "level": "warning", "message": "slow disk"},
               {"event": "eval", "step": 20, "elapsed": 20.0, "dev_loss": None, "dev_bleu": 6.0}]
    st.ingest_many(events)
    assert rec.names().count("progressed") == 1
    assert "data_report" in rec.names() and ("log_line", "[warning] slow disk") in rec.calls
    s = st.steps
    assert len(s) == 10
    np.testing.assert_array_equal(s.view("step"), np.arange(1, 11))
    loss = s.view("loss")
    assert np.isnan(loss[2]) and np.isnan(loss[3])
    np.testing.assert_allclose(loss[[0, 1, 4, 9]], [4.99, 4.98, 4.95, 4.90])
    np.testing.assert_allclose(s.view("tokens_per_s"), 1000.0 + np.arange(1, 11))
    status = st.status
    assert status["state"] == "running" and status["device"] == "cpu"
    assert status["step"] == 10 and status["elapsed"] == 10.0 and status["progress"] == pytest.approx(0.1)
    assert status["budget_seconds"] == 100.0 and status["remaining"] == pytest.approx(90.0)
    assert status["eta_seconds"] == pytest.approx(90.0)
    assert status["loss"] == pytest.approx(4.90) and status["tokens_per_s"] == pytest.approx(1010.0)
    assert status["best_dev_bleu"] == 7.5
    assert st.schedule == SCHED and st.config["name"] == "x" and st.run_dir == "/runs/x"
    assert [e["dev_bleu"] for e in st.evals] == [7.5, 6.0]

    items = [{"idx": 0, "code": "def f(): pass", "reference": "does f", "prediction": "f", "bleu": 12.0}]
    st.ingest({"event": "result", "language": "python", "split": "test", "n": 50, "bleu4": 17.3,
               "nltk_bleu4": None, "decode_seconds": 3.2, "beam_size": 10})
    st.ingest({"event": "samples", "language": "python", "split": "test", "items": items})
    st.ingest({"event": "done", "status": "completed", "stopped": False, "step": 10, "elapsed": 10.0,
               "best_dev_bleu": 7.5, "results": {"python": 17.3}})
    assert st.results["python"]["bleu4"] == 17.3
    assert st.samples["python"][0]["reference"] == "does f"
    assert ("samples_added", "python") in rec.calls
    assert st.status["state"] == "completed" and st.status["eta_seconds"] == 0.0
    assert rec.names()[-1] == "finished"
    # non-step events alone do not claim new plot data
    assert rec.names().count("progressed") == 1

    st.clear()
    assert len(st.steps) == 0 and st.results == {} and st.status["state"] == "idle"
    assert rec.names()[-1] == "reset_signal"


def test_burst_of_2000_steps_emits_one_progressed(qapp):
    st = RunState()
    rec = Recorder(st)
    st.ingest(started())
    st.ingest_many([step(i, loss=1.0 + (i % 7)) for i in range(1, 2001)])
    assert rec.names().count("progressed") == 1
    assert len(st.steps) == 2000
    np.testing.assert_array_equal(st.steps.view("loss"), 1.0 + (np.arange(1, 2001) % 7))


def test_error_then_stopped(qapp):
    st = RunState()
    st.ingest_many([started(), step(1)])
    st.ingest({"event": "error", "message": "CUDA out of memory", "hint": "lower batch size", "kind": "oom"})
    assert st.status["state"] == "failed" and st.errors[0]["hint"] == "lower batch size"
    st.ingest({"event": "done", "status": "stopped", "stopped": True, "step": 1, "elapsed": 1.0})
    assert st.status["state"] == "stopped"


def test_resume_drops_steps_after_checkpoint(qapp):
    st = RunState()
    st.ingest_many([started()] + [step(i) for i in range(1, 31)]
                   + [{"event": "eval", "step": 25, "dev_loss": 3.0, "dev_bleu": 5.0},
                      {"event": "done", "status": "stopped", "stopped": True, "step": 30}])
    gen = st.steps.generation
    st.ingest_many([started(resumed=True, step=20, elapsed=20.0)] + [step(i) for i in range(21, 24)])
    np.testing.assert_array_equal(st.steps.view("step"), np.arange(1, 24))
    assert st.steps.generation != gen
    assert st.evals == []
    assert st.status["state"] == "running" and st.status["step"] == 23


def test_series_grows_and_truncates():
    s = Series(("step", "loss"), capacity=16)
    for k in range(10):
        s.extend({"step": np.arange(k * 100, k * 100 + 100), "loss": [None] * 50 + [1.0] * 50})
    assert len(s) == 1000
    np.testing.assert_array_equal(s.view("step"), np.arange(1000))
    assert np.isnan(s.view("loss")[:50]).all() and (s.view("loss")[50:100] == 1.0).all()
    s.append(step=1000)                       # missing column -> NaN
    assert len(s) == 1001 and np.isnan(s.view("loss")[-1])
    s.truncate(5)
    assert len(s) == 5 and s.generation == 1


def test_planned_lr_formulas():
    x = np.array([0.0, 0.1, 0.5, 0.75, 0.9, 1.0])

    def plan(sched):       # the console's planned line over a whole 1 s budget, read at progress x
        px, py = planned_lr(sched, 0, 0.0, 1.0, "elapsed", points=11)
        return np.interp(x, px, py)

    tri = plan({"name": "budget-triangle", "peak_lr": 2.0})
    np.testing.assert_allclose(tri, 2.0 * np.array([0.25, 0.35, 0.75, 1.0, 0.4, 0.0]))
    lin = plan({"name": "budget-linear", "warmup": 0.1, "peak_lr": 1.0})
    np.testing.assert_allclose(lin, [0.0, 1.0, 0.5 / 0.9, 0.25 / 0.9, 0.1 / 0.9, 0.0], atol=1e-12)
    const = plan({"name": "constant", "peak_lr": 3e-4})
    np.testing.assert_allclose(const, 3e-4)
    assert len(planned_lr({"name": "constant", "peak_lr": None}, 0, 0.0, 1.0, "elapsed")[0]) == 0


def test_load_run_dir_with_torn_line_and_files(qapp, tmp_path):
    d = tmp_path / "run1"
    d.mkdir()
    lines = [json.dumps(started(run_dir=str(d)))] + [json.dumps(step(i)) for i in range(1, 6)]
    lines.append(json.dumps({"event": "eval", "step": 5, "dev_loss": 4.0, "dev_bleu": 3.5}))
    body = "\n".join(lines) + "\n"
    torn = '{"v":1,"event":"step","step":6,"loss":4.'
    (d / "events.jsonl").write_text(body + torn, encoding="utf-8")
    (d / "results.csv").write_text("language,split,n,bleu4,nltk_bleu4,decode_seconds,beam_size\n"
                                   "python,test,50,17.25,16.0,3.5,10\nruby,test,20,11.5,,2.0,10\n")
    samples = [{"language": "python", "split": "test", "idx": i, "code": f"c{i}", "reference": f"r{i}",
                "prediction": f"p{i}", "bleu": float(i)} for i in range(3)]
    samples.append({"language": "ruby", "split": "test", "idx": 0, "code": "x", "reference": "y",
                    "prediction": "z", "bleu": None})
    (d / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))

    st = RunState()
    st.ingest_many([started(), step(1)])     # stale state must be cleared
    rec = Recorder(st)
    st.load_run_dir(d)
    assert rec.names()[0] == "reset_signal"
    np.testing.assert_array_equal(st.steps.view("step"), [1, 2, 3, 4, 5])
    assert st.replay_offset == len(body.encode())
    assert st.run_dir == str(d)
    assert st.results["python"]["bleu4"] == 17.25 and st.results["ruby"]["nltk_bleu4"] is None
    assert [s["idx"] for s in st.samples["python"]] == [0, 1, 2]
    assert st.samples["ruby"][0]["bleu"] is None
    assert st.status["best_dev_bleu"] == 3.5 and st.status["step"] == 5
    assert {"python", "ruby"} <= {c[1] for c in rec.calls if c[0] == "samples_added"}


def test_events_win_over_files(qapp, tmp_path):
    d = tmp_path / "run2"
    d.mkdir()
    evs = [started(), step(1), {"event": "result", "language": "go", "bleu4": 19.0, "n": 5}]
    (d / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in evs))
    (d / "results.csv").write_text("language,split,n,bleu4,nltk_bleu4,decode_seconds,beam_size\n"
                                   "go,test,5,1.0,,,\n")
    st = RunState()
    st.load_run_dir(d)
    assert st.results["go"]["bleu4"] == 19.0
    assert math.isclose(st.status["elapsed"], 1.0)
