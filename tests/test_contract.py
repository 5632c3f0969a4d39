"""engine.contract: the event records against the README, the vectorised schedule, the one run status."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from engine.contract import events, rundir, schedule
from engine.contract.launch import TrainArgs, launch_command

README = Path(__file__).resolve().parent.parent / "README.md"


def _readme_event_table() -> dict[str, set[str]]:
    text = README.read_text(encoding="utf-8")
    table = text[text.index("| event | fields |"):]
    rows = {}
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        _, name, fields, _ = line.split("|", 3)
        # top-level names only: drop {...}, [...], (...) groups and the text after "—" or ";"-labels
        flat = fields.split("—")[0]
        for pat in (r"\{[^{}]*\}", r"\[[^\[\]]*\]", r"\([^()]*\)"):
            while re.search(pat, flat):
                flat = re.sub(pat, "", flat)
        flat = re.sub(r"[a-z ]+:", ",", flat)  # "data tasks:" labels
        rows[name.strip().strip("`")] = {w.strip().split()[0] for w in re.split(r"[,;]", flat) if w.strip()}
    return rows


def test_readme_event_table_matches_the_records():
    table = _readme_event_table()
    assert set(table) == set(events.RECORDS)
    for name in events.RECORDS:
        assert table[name] == set(events.fields_of(name)), name


def test_encode_refuses_fields_the_record_lacks_and_round_trips():
    with pytest.raises(ValueError, match="no field"):
        events.encode("step", stepp=3)
    with pytest.raises(ValueError, match="unknown event"):
        events.encode("stepped", step=3)
    line = events.encode(events.Step(step=3, loss=float("nan"), lr=1e-3))
    ev = events.decode(line)
    assert ev["event"] == "step" and ev["step"] == 3 and ev["loss"] is None and ev["lr"] == 1e-3
    assert "mfu" not in ev  # fields left None are not written


@pytest.mark.parametrize("value, want", [(3, 3.0), (2.5, 2.5), (None, None), (True, None), ("3", None),
                                         (float("nan"), None), (float("inf"), None), (10**400, None)])
def test_number_reads_only_finite_numbers(value, want):
    assert events.number(value) == want


@pytest.mark.parametrize("name", schedule.SCHEDULES)
def test_schedule_is_vectorised_and_equals_the_scalar_form(name):
    progress = np.linspace(0.0, 1.0, 41)
    steps = np.arange(41) * 3
    vec = schedule.lr_factor(name, progress, steps, total_steps=120, warmup=0.1)
    assert isinstance(vec, np.ndarray) and vec.shape == (41,)
    one = [schedule.lr_factor(name, float(p), int(s), 120, 0.1) for p, s in zip(progress, steps)]
    assert all(isinstance(x, float) for x in one)
    np.testing.assert_allclose(vec, one)
    rec = {"name": name, "peak_lr": 2e-3, "warmup": 0.1, "total_steps": 120}
    np.testing.assert_allclose(schedule.lr(rec, progress, steps), 2e-3 * vec)


def _fold(evs):
    st = "unknown"
    for ev in evs:
        st = rundir.fold_status(st, ev)
    return st


@pytest.mark.parametrize("evs, alive, want", [
    ([], False, "unknown"),
    ([{"event": "started"}], True, "running"),
    ([{"event": "started"}, {"event": "step"}], False, "interrupted"),
    ([{"event": "started"}, {"event": "error"}], False, "failed"),
    ([{"event": "started"}, {"event": "error"}, {"event": "done", "status": "failed"}], False, "failed"),
    ([{"event": "started"}, {"event": "done", "status": "stopped"}], False, "stopped"),
    ([{"event": "started"}, {"event": "done", "stopped": True}], False, "stopped"),
    ([{"event": "started"}, {"event": "done", "status": "completed"}], True, "completed"),
    # a failed run resumed: the new session's state counts, not the old error
    ([{"event": "error"}, {"event": "done", "status": "failed"}, {"event": "started"}], False, "interrupted"),
])
def test_run_status_is_one_function_of_the_events_and_the_writer(evs, alive, want):
    assert rundir.run_status(_fold(evs), alive) == want


def test_summarize_uses_run_status(tmp_path):
    d = tmp_path / "r"
    d.mkdir()
    (d / rundir.EVENTS).write_text("".join(events.encode(n, **f) + "\n" for n, f in [
        ("started", {"budget_seconds": 60}), ("step", {"step": 5, "elapsed": 1.5}),
        ("done", {"status": "stopped", "stopped": True})]))
    info = rundir.summarize(d)
    assert info["status"] == "stopped" and info["step"] == 5 and info["budget_seconds"] == 60


@pytest.mark.parametrize("text", ["99999999999999999999999", "-5", "abc", "", "0", "12\x00"])
def test_a_malformed_pid_file_is_no_writer(tmp_path, text):
    (tmp_path / rundir.PID_FILE).write_text(text)
    assert rundir.read_pid(tmp_path) is None
    assert rundir.writer_alive(tmp_path) is False
    assert rundir.pid_alive(99999999999999999999999) is False


def test_run_dir_names_are_sanitised(tmp_path):
    assert rundir.safe_name("../../etc/x y") == "-..-etc-x-y"
    assert rundir.safe_name("") == "run" and rundir.safe_name("..") == "run"
    d = rundir.new_run_dir(tmp_path, "a/b")
    assert d.parent == tmp_path and d.name.endswith("-a-b")


def test_train_args_build_the_cli_and_torchrun_lines():
    a = TrainArgs(preset="smoke", sets=["budget.seconds=10"], jsonl=True)
    assert a.on("/r").argv() == ["train", "--preset", "smoke", "--run-dir", "/r", "--set", "budget.seconds=10",
                                 "--jsonl"]
    assert TrainArgs(resume="/old").on("/r").argv() == ["train", "--resume", "/r"]
    cmd = launch_command(2, a.on("/r").argv(), python="py")
    assert cmd[:6] == ["py", "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m"]
    assert cmd[6:8] == ["engine", "train"]
    json.dumps(cmd)
