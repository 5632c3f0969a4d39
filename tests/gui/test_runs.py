"""RunsPanel (the runs folder) and RunFollower (tailing events.jsonl written by another process)."""
from __future__ import annotations

import json
import os
import subprocess

from PySide6.QtWidgets import QFileDialog

from cramgui.formatting import duration
from cramgui.runs import COLUMNS, RunsPanel, default_runs_dir, scan_runs
from cramgui.tailer import RunFollower
from engine.contract.events import encode


def write_run(base, name, *events, config=None, pid=None):
    d = base / name
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps(config or {"name": name, "budget": {"seconds": 90}}))
    (d / "events.jsonl").write_text("".join(encode(e, **f) + "\n" for e, f in events))
    if pid is not None:
        (d / "worker.pid").write_text(str(pid))
    return d


def started(t=None, **kw):
    return ("started", {"budget_seconds": kw.pop("budget", 90), **kw})


def test_runs_listed_with_name_date_status_budget_bleu(qtbot, tmp_path):
    base = tmp_path / "runs"
    write_run(base, "a-completed", started(), ("step", {"step": 5, "elapsed": 1.0}),
              ("eval", {"step": 5, "dev_bleu": 11.25}), ("result", {"language": "python", "bleu4": 17.5}),
              ("done", {"status": "completed", "stopped": False, "step": 5}))
    write_run(base, "b-stopped", started(budget=3600), ("step", {"step": 3}),
              ("done", {"status": "stopped", "stopped": True, "step": 3}))
    write_run(base, "c-interrupted", started(), ("step", {"step": 2}), pid=999999)
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        write_run(base, "d-running", started(), ("step", {"step": 7}), pid=sleeper.pid)
        (base / "not-a-run").mkdir()
        panel = RunsPanel(base)
        qtbot.addWidget(panel)
        qtbot.waitUntil(lambda: len(panel.row_texts()) == 4, timeout=5000)
        rows = {r[0]: dict(zip(COLUMNS, r)) for r in panel.row_texts()}
        assert rows["a-completed"]["Status"] == "completed"
        assert rows["a-completed"]["Best dev BLEU"] == "11.25"
        assert rows["a-completed"]["Test BLEU-4"] == "python 17.50"
        assert rows["a-completed"]["Budget"] == "0:01:30" and rows["a-completed"]["Step"] == "5"
        assert rows["a-completed"]["Started"][:2] == "20"
        assert rows["b-stopped"]["Status"] == "stopped" and rows["b-stopped"]["Budget"] == "1:00:00"
        assert rows["c-interrupted"]["Status"] == "interrupted"
        assert rows["d-running"]["Status"] == "running"

        # the writer of d dies: the next poll says interrupted without re-reading unchanged runs
        sleeper.kill()
        sleeper.wait()
        panel.refresh_now()
        rows = {r[0]: r for r in panel.row_texts()}
        assert rows["d-running"][COLUMNS.index("Status")] == "interrupted"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_double_click_and_open_emit_open_requested(qtbot, tmp_path):
    base = tmp_path / "runs"
    d = write_run(base, "r1", started())
    panel = RunsPanel(base)
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: panel.proxy.rowCount() == 1, timeout=5000)
    ix = panel.proxy.index(0, 0)
    with qtbot.waitSignal(panel.open_requested) as sig:
        panel.table.doubleClicked.emit(ix)
    assert sig.args == [str(d)]
    assert not panel.open_button.isEnabled()
    panel.select_paths([d])
    assert panel.open_button.isEnabled()
    with qtbot.waitSignal(panel.open_requested) as sig:
        panel.open_button.click()
    assert sig.args == [str(d)]
    assert not panel.compare_button.isEnabled()


def test_compare_two_selected_runs(qtbot, tmp_path):
    base = tmp_path / "runs"
    a = write_run(base, "a", started())
    b = write_run(base, "b", started())
    panel = RunsPanel(base)
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: panel.proxy.rowCount() == 2, timeout=5000)
    panel.select_paths([a, b])
    assert panel.compare_button.isEnabled() and not panel.open_button.isEnabled()
    with qtbot.waitSignal(panel.compare_requested) as sig:
        panel.compare_button.click()
    assert sorted(sig.args[0]) == sorted([str(a), str(b)])


def test_new_runs_appear_and_folder_can_be_chosen(qtbot, tmp_path, monkeypatch):
    base = tmp_path / "runs"
    base.mkdir()
    panel = RunsPanel(base, poll_ms=200)
    qtbot.addWidget(panel)
    assert panel.row_texts() == []
    write_run(base, "late", started())
    qtbot.waitUntil(lambda: [r[0] for r in panel.row_texts()] == ["late"], timeout=5000)

    other = tmp_path / "elsewhere"
    write_run(other, "x", started())
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(other))
    panel.choose_button.click()
    assert panel.runs_dir == other and str(other) in panel.folder_label.text()
    qtbot.waitUntil(lambda: [r[0] for r in panel.row_texts()] == ["x"], timeout=5000)


def test_default_runs_dir_and_durations(monkeypatch, tmp_path):
    monkeypatch.setenv("CRAM_RUNS_DIR", str(tmp_path))
    assert default_runs_dir() == tmp_path
    monkeypatch.delenv("CRAM_RUNS_DIR")
    assert str(default_runs_dir()) == "runs"
    assert duration(3725) == "1:02:05" and duration(None) == ""


def test_scan_cache_rereads_only_changed_runs(tmp_path, monkeypatch):
    base = tmp_path / "runs"
    write_run(base, "a", started())
    write_run(base, "b", started())
    import cramgui.runs_scan as runs_mod

    calls = []
    real = runs_mod.summarize
    monkeypatch.setattr(runs_mod, "summarize", lambda d: calls.append(os.path.basename(d)) or real(d))
    runs, cache = scan_runs(base, {})
    assert sorted(calls) == ["a", "b"]
    calls.clear()
    runs, cache = scan_runs(base, cache)
    assert calls == []
    with (base / "b" / "events.jsonl").open("a") as fh:
        fh.write(encode("step", step=1) + "\n")
    runs, cache = scan_runs(base, cache)
    assert calls == ["b"]


def test_follower_tails_partial_lines_and_restarts_on_truncation(qtbot, tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    ev = d / "events.jsonl"
    ev.write_text(encode("started", step=0) + "\n")
    f = RunFollower(d, offset=0, interval_ms=50)
    got, resets = [], []
    f.events.connect(got.extend)
    f.reset.connect(lambda: resets.append(1))
    assert f.poll() == 1 and got[0]["event"] == "started"
    line = encode("step", step=1, loss=2.0)
    with ev.open("a") as fh:
        fh.write(line[:10])
    assert f.poll() == 0 and len(got) == 1
    with ev.open("a") as fh:
        fh.write(line[10:] + "\n" + "not json\n" + encode("step", step=2) + "\n")
    assert f.poll() == 2 and [e.get("step") for e in got[1:]] == [1, 2]
    # live, with the timer
    f.start()
    with ev.open("a") as fh:
        fh.write(encode("done", status="completed") + "\n")
    qtbot.waitUntil(lambda: got[-1]["event"] == "done", timeout=3000)
    # a new run written over the file
    ev.write_text(encode("started", step=0) + "\n")
    qtbot.waitUntil(lambda: bool(resets) and got[-1]["event"] == "started", timeout=3000)
    f.stop()
    assert not f.is_active()


def test_follower_replays_a_big_file_in_chunks(qtbot, tmp_path, monkeypatch):
    d = tmp_path / "run"
    d.mkdir()
    n = 3000
    (d / "events.jsonl").write_text("".join(encode("step", step=i) + "\n" for i in range(n)))
    monkeypatch.setattr(RunFollower, "MAX_READ", 16 * 1024)
    f = RunFollower(d)
    batches = []
    f.events.connect(batches.append)
    f.start()
    qtbot.waitUntil(lambda: sum(len(b) for b in batches) == n, timeout=5000)
    assert len(batches) > 5
    assert [e["step"] for b in batches for e in b] == list(range(n))
    f.stop()
