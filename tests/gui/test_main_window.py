"""MainWindow with the scripted fake engine: start/stop/resume, errors, exports, opening and following runs."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from cramgui.main_window import MainWindow
from engine.contract.events import encode
from engine.contract.rundir import read_results

FAKE = Path(__file__).resolve().parent / "fake_engine.py"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def make_window(qtbot, qloop, tmp_path, fake_engine_cmd):
    windows = []

    def make(*switches):
        win = MainWindow(runs_dir=tmp_path / "runs", engine_command=fake_engine_cmd(*switches))
        qtbot.addWidget(win)
        win.show()
        windows.append(win)
        return win

    yield make
    for win in windows:                      # never leave an engine behind, even when a test failed
        if win.session.worker.is_running():
            win.session.worker.kill()
            qtbot.waitUntil(lambda w=win: not w.session.worker.is_running(), timeout=10000)


def visible_boxes(win):
    return [b for b in win.message_boxes if b.isVisible()]


def wait_finished(qtbot, win, timeout=20000):
    qtbot.waitUntil(lambda: not win.session.worker.is_running(), timeout=timeout)


def fake_run_dir(tmp_path, *switches, name="finished") -> Path:
    """A run directory written by the fake engine run to completion, headless."""
    d = tmp_path / "runs" / name
    subprocess.run([sys.executable, str(FAKE), "train", "--run-dir", str(d), *switches], check=True,
                   capture_output=True, timeout=60)
    (d / "worker.pid").unlink()
    return d


# -----------------------------------------------------------------------------------------------------------
def test_start_streams_into_views_and_keeps_loop_responsive(qtbot, make_window, lateness_probe):
    n = 12000
    win = make_window("--events", str(n), "--rate", "6000")
    win.form.set_preset("smoke")
    win.form.editor("budget.seconds").set_value(8)
    assert win.actions.start.isEnabled() and win.start_button.isEnabled()

    lateness = lateness_probe.lateness
    lateness_probe.start()
    t0 = time.perf_counter()
    win.start_button.click()
    assert win.session.worker.is_running()
    assert not win.actions.start.isEnabled() and win.actions.stop.isEnabled()
    args = win.session.worker.args
    assert args == ["train", "--preset", "smoke", "--run-dir", str(win.session.run_dir), "--set", "budget.seconds=8.0",
                    "--jsonl"]                          # engine.contract.launch.TrainArgs order
    assert win.session.run_dir.parent == (win.runs.runs_dir).resolve()
    wait_finished(qtbot, win, 30000)
    wall = time.perf_counter() - t0
    lateness_probe.stop()

    assert len(win.state.steps) == n
    assert list(win.state.steps.view("step")[:3]) == [1, 2, 3] and win.state.steps.view("step")[-1] == n
    assert n / wall > 2000
    print(f"max timer lateness {max(lateness)} ms over {len(lateness)} ticks, {n / wall:.0f} events/s")
    # the loop never freezes while 6,000 events/s stream in: every 10 ms tick within 500 ms, one hiccup up to 1 s.
    # A loop that blocks on the stream or redraws per event falls seconds behind; what is left under those bounds
    # is the scheduler of a loaded 2-core machine (another test worker runs beside this one; CI saw 229 ms). The
    # lateness itself is measured, not asserted, by `python -m bench gui` (bench/RESULTS.md, item 5).
    late = sorted(lateness)
    assert late[-2] < 500 and late[-1] < 1000, f"event loop fell behind: {late[-5:]} ms"
    qtbot.wait(300)
    status = win.status_panel.text()
    assert f"step {n:,}" in status and "device cpu" in status and "completed" in status
    assert not visible_boxes(win)
    qtbot.waitUntil(lambda: [r[3] for r in win.runs.row_texts()] == ["completed"], timeout=5000)


def test_stderr_noise_and_plain_stdout_go_to_the_log_pane(qtbot, make_window):
    win = make_window("--events", "50", "--stderr-noise", "300", "--plain-stdout", "--long-line")
    win.start_run()
    wait_finished(qtbot, win)
    log = win.log_view.toPlainText()
    assert sum(line.startswith("noise line") for line in win.log_view.messages()) == 300
    first = log.splitlines()[0]                       # each line shown with its time and level
    assert first[2] == ":" and first[5] == ":" and " cmd " in first[:20]
    assert "[stdout] this is not an event" in log
    assert "Engine exited: exited with status 0" in log
    assert win.state.samples["python"][-1]["code"].endswith("END-OF-LONG-LINE")
    assert not visible_boxes(win)


def test_crash_shows_exit_status_and_last_stderr(qtbot, make_window):
    win = make_window("--events", "5", "--crash")
    win.start_run()
    wait_finished(qtbot, win)
    qtbot.waitUntil(lambda: bool(visible_boxes(win)), timeout=5000)
    box = visible_boxes(win)[0]
    assert box.icon() == QMessageBox.Critical
    assert "exited with status 3" in box.text()
    assert "RuntimeError: fake engine crashed on purpose" in box.informativeText()
    assert "Traceback" in box.informativeText()
    assert "exited with status 3" in win.status_panel.text()
    assert win.actions.start.isEnabled() and win.actions.resume.isEnabled()   # interrupted: resumable


def test_error_event_shows_message_with_hint(qtbot, make_window):
    win = make_window("--events", "3", "--error")
    win.start_run()
    wait_finished(qtbot, win)
    boxes = visible_boxes(win)
    assert len(boxes) == 1, "the error event, not a second 'died' box for the controlled exit 1"
    assert boxes[0].text() == "CUDA out of memory (fake)"
    assert "Lower train.batch_size" in boxes[0].informativeText()


def test_stop_then_resume_continues_the_same_run(qtbot, make_window, pid_alive):
    win = make_window("--events", "10", "--hang-until-term")
    win.start_run()
    qtbot.waitUntil(lambda: len(win.state.steps) == 10, timeout=20000)
    pid = win.session.worker.pid
    assert not win.actions.resume.isEnabled()
    win.actions.stop.trigger()
    assert not win.actions.stop.isEnabled()
    wait_finished(qtbot, win)
    assert win.session.worker.exit_code == 0 and not pid_alive(pid)
    assert win.state.done["stopped"] is True and win.state.status["state"] == "stopped"
    assert not visible_boxes(win)
    run_dir = win.session.run_dir
    assert win.actions.resume.isEnabled() and win.resume_button.isEnabled()

    win.session.worker.command = win.session.worker.command[:2] + ["--events", "7"]
    win.resume_button.click()
    assert win.session.worker.args == ["train", "--resume", str(run_dir), "--jsonl"]
    wait_finished(qtbot, win)
    assert win.session.run_dir == run_dir
    steps = list(win.state.steps.view("step"))
    assert steps == list(range(1, 18)), "the state continues: steps 1..10 then 11..17"
    assert win.state.started_event["resumed"] is True and win.state.status["state"] == "completed"
    assert not win.actions.resume.isEnabled()


def test_keyboard_shortcuts_start_stop_export(qtbot, make_window, monkeypatch, tmp_path):
    win = make_window("--events", "5", "--hang-until-term")
    assert win.actions.start.shortcut().toString() == "Ctrl+R"
    assert win.actions.stop.shortcut().toString() == "Ctrl+."
    assert win.actions.export_current.shortcut().toString() == "Ctrl+E"
    win.activateWindow()
    qtbot.waitUntil(lambda: win.isActiveWindow(), timeout=3000)
    qtbot.keyClick(win, Qt.Key_R, Qt.ControlModifier)
    assert win.session.worker.is_running()
    qtbot.waitUntil(lambda: len(win.state.steps) == 5, timeout=20000)
    qtbot.keyClick(win, Qt.Key_Period, Qt.ControlModifier)
    assert win.session.worker.stopping
    wait_finished(qtbot, win)
    assert win.state.done["stopped"] is True
    win.select_tab("training")
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "h.csv"), ""))
    qtbot.keyClick(win, Qt.Key_E, Qt.ControlModifier)
    assert (tmp_path / "h.csv").read_text().splitlines()[0] == "step,elapsed,progress,loss,lr,tokens_per_s"
    assert len((tmp_path / "h.csv").read_text().splitlines()) == 6


def test_open_a_stopped_run_then_resume_it(qtbot, make_window):
    first = make_window("--events", "8", "--hang-until-term")
    first.start_run()
    qtbot.waitUntil(lambda: len(first.state.steps) == 8, timeout=20000)
    first.stop_run()
    wait_finished(qtbot, first)
    run_dir = first.session.run_dir

    win = make_window("--events", "4")
    assert not win.actions.resume.isEnabled()
    win.open_run(run_dir)
    assert win.actions.resume.isEnabled() and len(win.state.steps) == 8
    win.actions.resume.trigger()
    assert win.session.worker.args == ["train", "--resume", str(run_dir), "--jsonl"]
    assert win.session.follower is None, "the worker's stream replaces the file follower"
    wait_finished(qtbot, win)
    assert list(win.state.steps.view("step")) == list(range(1, 13))
    assert win.state.status["state"] == "completed"


def test_invalid_form_disables_start_until_fixed(qtbot, make_window):
    win = make_window()
    win.form.editor("train.lr").edit.setText("-1")
    assert not win.actions.start.isEnabled() and not win.start_button.isEnabled()
    row = win.form.rows["train.lr"]
    assert row.error_label.isVisible() and "must be between" in row.error_label.text()
    assert "train.lr" in win.start_button.toolTip()
    assert win.problems_label.isVisible() and win.problems_label.text() == "Fix 1 field to start: train.lr"
    assert win.start_run() is False and not win.session.worker.is_running()
    win.form.editor("train.lr").edit.setText("1e-3")
    assert win.actions.start.isEnabled() and win.start_button.isEnabled()
    assert not row.error_label.isVisible() and not win.problems_label.isVisible()


def test_presets_from_the_window(qtbot, make_window):
    from engine.contract import config as ec

    win = make_window()
    combo = win.form.preset_combo
    i = combo.findText("smoke")
    combo.setCurrentIndex(i)
    combo.activated.emit(i)
    assert win.form.config() == ec.preset("smoke")
    assert win.form.command_box.toPlainText() == "cram train --preset smoke"


def _finished_window(qtbot, make_window):
    win = make_window("--events", "40", "--results")
    win.start_run()
    wait_finished(qtbot, win)
    qtbot.waitUntil(lambda: len(win.state.results) == 2, timeout=5000)
    return win


def test_every_export_through_the_menu(qtbot, make_window, tmp_path, monkeypatch):
    win = _finished_window(qtbot, make_window)
    other = fake_run_dir(tmp_path, "--events", "10", "--results", name="other")
    win.compare_runs([str(win.session.run_dir), str(other)])
    assert win.current_tab() == "compare"
    out = tmp_path / "exports"
    out.mkdir()
    asked = []

    def fake_dialog(parent, title, start, filt):
        asked.append((title, Path(start).name, filt))
        return str(out / Path(start).name), filt

    monkeypatch.setattr(QFileDialog, "getSaveFileName", fake_dialog)
    for action in win.actions.exports.values():
        assert action in win.actions.export_menu.actions()
        action.trigger()
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["results.csv", "bleu.png", "history.csv", "dev_evals.csv", "loss.png", "lr.png",
                            "throughput.png", "samples_python.csv", "comparison.csv", "comparison.png",
                            "dev_bleu_overlay.png", "dev_bleu_curves.csv", "sweep_trials.csv", "sweep_params.png",
                            "sweep_curves.png", "sweep_best.png", "data_stats.csv", "engine.log"])

    # results CSV == the table as shown
    rows = list(csv.reader((out / "results.csv").open()))
    model = win.results.model
    assert rows[0] == [model.headerData(c, Qt.Horizontal) for c in range(model.columnCount())]
    assert len(rows) - 1 == model.rowCount()
    assert rows[1:] == [[model.data(model.index(r, c)) or "" for c in range(model.columnCount())]
                        for r in range(model.rowCount())]
    flat = " ".join(",".join(r) for r in rows)
    assert "10.00" in flat and "11.00" in flat        # python 10.0, ruby 11.0 from the fake engine

    hist = list(csv.DictReader((out / "history.csv").open()))
    assert len(hist) == 40 and hist[0]["step"] == "1" and hist[-1]["step"] == "40"
    assert float(hist[-1]["tokens_per_s"]) == 1e5 + 40
    evals = list(csv.DictReader((out / "dev_evals.csv").open()))
    assert len(evals) == 1 and float(evals[0]["dev_bleu"]) == 12.5

    samples = list(csv.DictReader((out / "samples_python.csv").open()))
    shown = win.samples.visible_rows()
    assert [s["idx"] for s in samples] == [str(r["idx"]) for r in shown] and len(samples) == 3
    assert {s["prediction"] for s in samples} == {"pred python 0", "pred python 1", "pred python 2"}

    comparison = list(csv.reader((out / "comparison.csv").open()))
    assert comparison == win.compare.displayed_table() and len(comparison) == 3     # header + 2 runs

    for png in ("bleu.png", "loss.png", "lr.png", "throughput.png", "comparison.png"):
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000, png
    assert "Engine exited" in (out / "engine.log").read_text()

    # Ctrl+E exports what the current tab shows
    win.select_tab("results")
    (out / "results.csv").unlink()
    assert win.export_current() == str(out / "results.csv") and (out / "results.csv").is_file()
    # a cancelled dialog writes nothing
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: ("", ""))
    assert win.export_current() is None


def test_open_finished_run_shows_results_and_samples(qtbot, make_window, tmp_path):
    d = fake_run_dir(tmp_path, "--events", "25", "--results")
    win = make_window()
    assert win.open_run(d)
    assert len(win.state.steps) == 25
    assert set(win.state.results) == {"python", "ruby"}
    assert win.current_tab() == "results"
    model = win.results.model
    cells = [[model.data(model.index(r, c)) for c in range(model.columnCount())] for r in range(model.rowCount())]
    ours = [r for r in cells if "python" in r and "10.00" in r]
    assert ours, cells
    win.samples.set_language("ruby")
    assert {r["prediction"] for r in win.samples.visible_rows()} == {"pred ruby 0", "pred ruby 1", "pred ruby 2"}
    assert win.actions.resume.isEnabled() is False            # completed
    qtbot.wait(300)
    assert "completed" in win.status_panel.text() and "finished" in win.status_panel.text()
    # viewing a run never rewrites the form; "Use this run's settings" does, explicitly
    assert win.form.config().budget.seconds != 100.0 and win.form.config().name != "fake"
    assert win.actions.use_settings.isEnabled()
    win.actions.use_settings.trigger()
    assert win.form.config().budget.seconds == 100.0 and win.form.config().name == "fake"
    assert "settings of finished" in win.notice.text()
    assert win.form.preset_combo.currentText() == "(custom)"
    assert f"Opened {d}" in win.log_view.toPlainText()


def test_open_run_with_only_results_csv_and_samples_jsonl(qtbot, make_window, tmp_path):
    d = fake_run_dir(tmp_path, "--events", "5", "--results", name="csv-only")
    # drop the result/samples events: the files must be enough
    lines = [ln for ln in (d / "events.jsonl").read_text().splitlines()
             if json.loads(ln)["event"] not in ("result", "samples")]
    (d / "events.jsonl").write_text("\n".join(lines) + "\n")
    win = make_window()
    win.open_run(d)
    assert {r["language"]: r["bleu4"] for r in read_results(d)} == \
        {k: v["bleu4"] for k, v in win.state.results.items()}
    win.samples.set_language("python")
    assert len(win.samples.visible_rows()) == 3


def test_follow_a_run_written_by_another_process(qtbot, make_window, tmp_path, request):
    d = tmp_path / "runs" / "external"
    d.mkdir(parents=True)
    ev = d / "events.jsonl"
    with ev.open("w") as fh:
        fh.write(encode("started", run_dir=str(d), budget_seconds=60, device="cuda:0", step=0, elapsed=0) + "\n")
        for s in range(1, 6):
            fh.write(encode("step", step=s, elapsed=s * 0.5, progress=s / 120, loss=3.0, lr=1e-4,
                            tokens_per_s=5000) + "\n")
    writer = subprocess.Popen(["sleep", "30"])          # stands in for the process writing the run
    request.addfinalizer(lambda: (writer.kill(), writer.wait()))
    (d / "worker.pid").write_text(str(writer.pid))
    win = make_window()
    win.open_run(d)
    assert len(win.state.steps) == 5 and win.session.follower is not None
    qtbot.wait(300)
    assert "following — last event" in win.status_panel.text() and not win.status_panel.is_warning()
    assert not win.actions.resume.isEnabled() and not win.actions.stop.isEnabled()
    # the other process appends, one line torn across two writes
    line = encode("step", step=6, elapsed=3.0, progress=0.05, loss=2.5, lr=1e-4, tokens_per_s=5000)
    with ev.open("a") as fh:
        fh.write(line[:20])
        fh.flush()
    qtbot.wait(700)
    assert len(win.state.steps) == 5
    with ev.open("a") as fh:
        fh.write(line[20:] + "\n")
        for s in range(7, 11):
            fh.write(encode("step", step=s, elapsed=s * 0.5, progress=s / 120, loss=2.0, lr=1e-4,
                            tokens_per_s=5000) + "\n")
        fh.write(encode("result", language="python", split="test", n=10, bleu4=7.5, nltk_bleu4=5.0,
                        decode_seconds=1.0, beam_size=1) + "\n")
        fh.write(encode("done", status="completed", stopped=False, step=10, elapsed=5.0) + "\n")
    qtbot.waitUntil(lambda: win.state.done is not None, timeout=5000)
    assert list(win.state.steps.view("step")) == list(range(1, 11))
    assert win.state.results["python"]["bleu4"] == 7.5
    assert win.state.status["device"] == "cuda:0"


def test_non_run_dirs_are_refused_and_other_runs_open_read_only_while_one_trains(qtbot, make_window, tmp_path):
    other = fake_run_dir(tmp_path, "--events", "7", "--results", name="other")
    win = make_window("--events", "5", "--hang-until-term")
    assert win.open_run(tmp_path) is False
    assert "neither events.jsonl" in visible_boxes(win)[0].text()
    win.start_run()
    live = win.session.run_dir
    qtbot.waitUntil(lambda: len(win.state.steps) == 5, timeout=20000)
    assert win.form.isEnabled()                               # the next run can be prepared meanwhile
    win.form.editor("budget.seconds").set_value(33)
    assert win.actions.open_run.isEnabled() and win.open_run(other)
    assert win.session.run_dir == other and len(win.state.steps) == 7 and win.session.is_running()
    assert win.live_bar.isVisible() and "training" in win.live_bar.text()
    assert win.runs.model.current == str(other)
    assert win.form.config().budget.seconds == 33            # opening a run never rewrites the form
    win.live_bar.link("Show the live run").click()
    assert win.session.run_dir == live and len(win.state.steps) == 5 and not win.live_bar.isVisible()
    win.stop_run()
    wait_finished(qtbot, win)
    assert win.state.done is not None and win.state.done["status"] == "stopped"
    assert len(win.state.steps) == 5                          # nothing ingested twice


def test_closing_during_a_run_asks_then_stops_the_worker(qtbot, make_window, pid_alive):
    win = make_window("--events", "5", "--hang-until-term")
    win.start_run()
    qtbot.waitUntil(lambda: len(win.state.steps) == 5, timeout=20000)
    pid = win.session.worker.pid
    win.close()
    assert win.isVisible(), "a question first"
    box = win.close_box
    assert box is not None and box.isVisible() and "Stop the run" in box.text()
    box.button(QMessageBox.Cancel).click()
    assert win.isVisible() and win.session.worker.is_running()

    win.close()
    win.close_box.button(QMessageBox.Yes).click()
    wait_finished(qtbot, win)
    qtbot.waitUntil(lambda: not win.isVisible(), timeout=5000)
    assert win.state.done["stopped"] is True
    assert not pid_alive(pid)


def test_importing_the_gui_does_not_import_torch(tmp_path):
    code = (
        "import sys, os\n"
        "os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        "import cramgui, cramgui.main_window, cramgui.app\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "w = cramgui.main_window.MainWindow(runs_dir=sys.argv[1])\n"
        "w.show(); app.processEvents()\n"
        "w.open_fetch_dialog(); w.open_build_dialog(); w.open_job_script_dialog(); app.processEvents()\n"
        "heavy = ('torch', 'transformers', 'tokenizers', 'safetensors', 'datasets', 'tree_sitter', 'pyarrow')\n"
        "bad = [m for m in heavy if m in sys.modules]\n"
        "pure = {'engine', 'engine.resources', 'engine.tasks', 'engine.corpus', 'engine.data', 'engine.fetch',\n"
        "        'engine.treesitter_corpus'}\n"
        "bad += sorted(m for m in sys.modules if m.startswith('engine.') and m not in pure\n"
        "              and not m.startswith('engine.contract'))\n"
        "print('BAD', bad)\n"
        "sys.exit(1 if bad else 0)\n")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "BAD []" in r.stdout


def test_app_sigterm_stops_the_engine_gracefully_and_exits(tmp_path, pid_alive):
    """`python app.py --start` with a (fake) engine, then SIGTERM to the console: the engine checkpoints and
    emits done/stopped, both processes are gone."""
    import os
    import signal as sig

    pid_file = tmp_path / "engine.pid"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", CRAM_RUNS_DIR=str(tmp_path / "runs"),
               CRAMGUI_ENGINE=f"{sys.executable} {FAKE} --events 5 --hang-until-term --pid-file {pid_file}")
    app = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--preset", "smoke", "--start"], cwd=tmp_path,
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 30
        while time.time() < deadline and not pid_file.exists():
            time.sleep(0.1)
        assert pid_file.exists(), "the console started the engine"
        time.sleep(1.0)
        engine_pid = int(pid_file.read_text())
        assert pid_alive(engine_pid)
        app.send_signal(sig.SIGTERM)
        assert app.wait(timeout=30) == 0
    finally:
        if app.poll() is None:
            app.kill()
    deadline = time.time() + 5
    while time.time() < deadline and pid_alive(engine_pid):
        time.sleep(0.05)
    assert not pid_alive(engine_pid), "no orphan engine"
    (run_dir,) = (tmp_path / "runs").iterdir()
    last = json.loads((run_dir / "events.jsonl").read_text().splitlines()[-1])
    assert last["event"] == "done" and last["stopped"] is True


def test_app_opens_a_run_dir_given_on_the_command_line(tmp_path):
    d = fake_run_dir(tmp_path, "--events", "10", "--results")
    code = ("import sys\n"
            "from PySide6.QtCore import QTimer\n"
            "from PySide6.QtWidgets import QApplication\n"
            "import cramgui.app as a\n"
            "app = QApplication(sys.argv[:1])\n"
            "def check():\n"
            "    w = [x for x in QApplication.topLevelWidgets() if type(x).__name__ == 'MainWindow'][0]\n"
            "    print('STEPS', len(w.state.steps), 'RESULTS', sorted(w.state.results), 'TAB', w.current_tab())\n"
            "    QApplication.quit()\n"
            "QTimer.singleShot(1500, check)\n"
            "sys.exit(a.main([sys.argv[1], '--tab', 'samples']))\n")
    import os
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    r = subprocess.run([sys.executable, "-c", code, str(d)], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "STEPS 10 RESULTS ['python', 'ruby'] TAB samples" in r.stdout
