"""Stale runs: a run that may still be written but has said nothing for a while, in the runs list and in the
status line of a window following it."""
from __future__ import annotations

import json
import socket
import subprocess
import time

from cramgui.main_window import MainWindow
from cramgui.formatting import age
from cramgui.runs import COLUMNS, RunsPanel
from cramgui.runs_model import display_status
from engine.contract.events import encode


def event_line(event, t, **fields):
    obj = json.loads(encode(event, **fields))
    obj["time"] = t
    return json.dumps(obj) + "\n"


def write_run(base, name, age_s, pid=None, host=None, done=False):
    """A run whose events are `age_s` old (the writer's clock), written by `pid` on `host`."""
    d = base / name
    d.mkdir(parents=True)
    t = time.time() - age_s
    (d / "config.json").write_text(json.dumps({"name": name, "budget": {"seconds": 3600}}))
    lines = [event_line("started", t - 30, budget_seconds=3600, step=0),
             event_line("step", t, step=7, elapsed=20.0, loss=2.0)]
    if done:
        lines.append(event_line("done", t, status="completed", stopped=False, step=7))
    (d / "events.jsonl").write_text("".join(lines))
    if pid is not None:
        (d / "worker.pid").write_text(str(pid))
    if host is not None:
        (d / "env.json").write_text(json.dumps({"host": host, "pid": 1}))
    return d


def status_by_name(panel):
    return {r[0]: r[COLUMNS.index("Status")] for r in panel.row_texts()}


def test_runs_list_marks_stale_runs(qtbot, tmp_path, request):
    base = tmp_path / "runs"
    writer = subprocess.Popen(["sleep", "60"])                 # a live local writer that stopped talking
    request.addfinalizer(lambda: (writer.kill(), writer.wait()))
    write_run(base, "silent-here", 14 * 60 + 5, pid=writer.pid, host=socket.gethostname())
    write_run(base, "silent-cluster", 14 * 60 + 5, pid=999999, host="node17")   # pid means nothing here
    write_run(base, "talking-cluster", 20, pid=999999, host="node17")
    write_run(base, "killed-here", 14 * 60 + 5, pid=999999, host=socket.gethostname())
    write_run(base, "old-done", 3 * 86400, host="node17", done=True)
    write_run(base, "fresh-here", 5, pid=writer.pid, host=socket.gethostname())
    panel = RunsPanel(base)
    qtbot.addWidget(panel)
    assert panel.stale_spin.value() == 10                     # minutes, the default
    qtbot.waitUntil(lambda: len(panel.row_texts()) == 6, timeout=5000)
    st = status_by_name(panel)
    assert st["silent-here"] == "stale (no event for 14 min)"
    assert st["silent-cluster"] == "stale (no event for 14 min)"
    assert st["talking-cluster"] == "running on node17"
    assert st["killed-here"] == "interrupted"                 # its writer is known to be gone
    assert st["old-done"] == "completed" and st["fresh-here"] == "running"

    panel.stale_spin.setValue(20)                             # a larger threshold: not stale any more
    st = status_by_name(panel)
    assert st["silent-here"] == "running" and st["silent-cluster"] == "running on node17"
    panel.stale_spin.setValue(1)
    assert status_by_name(panel)["talking-cluster"] == "running on node17"

    run = {"status": "running", "last_event_time": 1000.0}
    assert display_status(run, 1000.0 + 3 * 3600 + 120, 600)[0] == "stale (no event for 3 h 02 min)"
    assert age(3) == "3 s" and age(90000) == "1 d 1 h"


def test_following_window_shows_last_event_age_and_stale_warning(qtbot, qloop, tmp_path, request):
    base = tmp_path / "runs"
    writer = subprocess.Popen(["sleep", "60"])
    request.addfinalizer(lambda: (writer.kill(), writer.wait()))
    d = write_run(base, "followed", 12 * 60, pid=writer.pid, host=socket.gethostname())
    win = MainWindow(runs_dir=base)
    qtbot.addWidget(win)
    win.show()
    assert win.open_run(d)
    qtbot.waitUntil(lambda: "stale — no event for 12 min" in win.status_panel.text(), timeout=3000)
    assert win.status_panel.is_warning()
    # the run talks again: following, no warning
    with (d / "events.jsonl").open("a") as fh:
        fh.write(encode("step", step=8, elapsed=21.0, loss=1.9) + "\n")
    qtbot.waitUntil(lambda: "following — last event 0 s ago" in win.status_panel.text()
                    or "following — last event 1 s ago" in win.status_panel.text(), timeout=3000)
    assert not win.status_panel.is_warning()
    # a lower threshold in the runs panel applies to the followed run too
    win.runs.set_stale_minutes(1)
    with (d / "events.jsonl").open("a") as fh:
        fh.write(event_line("step", time.time() - 90, step=9, elapsed=22.0, loss=1.8))
    qtbot.waitUntil(lambda: "stale — no event for 1 min" in win.status_panel.text(), timeout=3000)
    assert win.status_panel.is_warning()


def test_following_a_cluster_run(qtbot, qloop, tmp_path):
    d = write_run(tmp_path / "runs", "cluster", 4, pid=999999, host="node17")
    win = MainWindow(runs_dir=tmp_path / "runs")
    qtbot.addWidget(win)
    win.show()
    assert win.open_run(d)
    qtbot.waitUntil(lambda: "following on node17 — last event" in win.status_panel.text(), timeout=3000)
    # the same run written here by a process that is gone: interrupted, not followed as live
    (d / "env.json").write_text(json.dumps({"host": socket.gethostname()}))
    win.session.recheck_writer()
    qtbot.waitUntil(lambda: "interrupted" in win.status_panel.text(), timeout=3000)
    assert not win.status_panel.is_warning()
