"""Issue 12 (a console researchers enjoy) and issue 10 item 4 (the console trusts no run text), window side: each
item through the window with the fake engine."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QLabel, QMessageBox

from cramgui import export
from cramgui.main_window import MainWindow
from cramgui.run_meta import META_FILE, read_meta
from cramgui.runs import COLUMNS, RunsPanel
from engine.contract.rundir import read_results

FAKE = Path(__file__).resolve().parent / "fake_engine.py"
EVIL = "<h1>Your license expired</h1><a href=x>renew</a>"


@pytest.fixture
def make_window(qtbot, qloop, tmp_path, fake_engine_cmd):
    windows = []

    def make(*switches, runs_dir=None):
        win = MainWindow(runs_dir=runs_dir or tmp_path / "runs", engine_command=fake_engine_cmd(*switches))
        qtbot.addWidget(win)
        win.show()
        windows.append(win)
        return win

    yield make
    for win in windows:
        if win.session.worker.is_running():
            win.session.worker.kill()
            qtbot.waitUntil(lambda w=win: not w.session.worker.is_running(), timeout=10000)


def boxes(win):
    return [b for b in win.message_boxes if b.isVisible()]


def wait_finished(qtbot, win, timeout=20000):
    qtbot.waitUntil(lambda: not win.session.worker.is_running(), timeout=timeout)


def fake_run(tmp_path, *switches, name="finished") -> Path:
    d = tmp_path / "runs" / name
    subprocess.run([sys.executable, str(FAKE), "train", "--run-dir", str(d), *switches], capture_output=True,
                   timeout=60)
    (d / "worker.pid").unlink(missing_ok=True)
    return d


def col(row, name):
    return row[COLUMNS.index(name)]


# -- 1. exports never target engine files ------------------------------------------------------------------------
def test_exports_default_to_the_runs_exports_folder_and_never_replace_engine_files(qtbot, make_window, tmp_path,
                                                                                    monkeypatch):
    d = fake_run(tmp_path, "--events", "5", "--results")
    original = (d / "results.csv").read_text()
    win = make_window()
    win.open_run(d)
    asked = []

    def dialog(parent, title, start, flt):
        asked.append(start)
        return str(d / "results.csv"), flt          # the user accepts the engine's own file

    monkeypatch.setattr(QFileDialog, "getSaveFileName", dialog)
    path = win.export_current() if win.current_tab() == "results" else None
    assert asked[0] == str(d / "exports" / "results.csv")                    # the default: RUN_DIR/exports/
    assert path == str(d / "exports" / "results.csv")                        # redirected, not overwritten
    assert (d / "results.csv").read_text() == original and read_results(d)[0]["language"] == "python"
    assert "engine's own file" in win.notice.text() and win.notice.isVisible()
    # a checkpoint file is just as protected
    assert export.engine_owned(d / "checkpoints" / "last" / "model.safetensors") == d
    assert export.engine_owned(d / "python_test.output") == d and export.engine_owned(d / "exports" / "x.csv") is None


def test_a_run_with_an_unreadable_file_is_named_in_compare(qtbot, make_window, tmp_path):
    good = fake_run(tmp_path, "--events", "4", "--results", name="good")
    bad = fake_run(tmp_path, "--events", "4", "--results", name="bad")
    (bad / "results.csv").write_text("Model,Language,BLEU-4\nthis run,python,10.00\n")   # an export over it
    win = make_window()
    win.runs.refresh_now()
    rows = {r[0]: r for r in win.runs.row_texts()}
    assert col(rows["bad"], "Status").startswith("unreadable: results.csv has no language")
    win.compare_runs([str(good), str(bad)])
    assert win.compare.paths == [str(good)]
    box = boxes(win)[0]
    assert "bad: results.csv has no language" in box.text() and box.textFormat() == Qt.PlainText
    assert "left out: bad" in win.compare.info.text()


# -- 2. confirmations are seen -------------------------------------------------------------------------------------
def test_confirmations_are_visible_with_show_in_folder(qtbot, make_window, tmp_path, monkeypatch):
    d = fake_run(tmp_path, "--events", "5", "--results")
    win = make_window()
    win.open_run(d)
    assert win.notice.isVisible() and "Opened finished" in win.notice.text()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda p, t, start, f: (str(tmp_path / "h"), f))
    opened = []
    monkeypatch.setattr("cramgui.export.QDesktopServices.openUrl", lambda url: opened.append(url.toLocalFile()))
    from cramgui.tabs import run_export

    assert run_export(win, "history_csv") == str(tmp_path / "h.csv")
    assert win.notice.isVisible() and win.notice.text().startswith("Exported Training history (CSV) to")
    assert "Exported" in win.statusBar().currentMessage()
    win.notice.link("Show in folder").click()
    assert opened == [str(tmp_path)]
    win.apply_lengths(200, 60)
    assert "Max source / target length set to 200 / 60" in win.notice.text()
    # the permanent status widget does not take the whole bar: the message area keeps the rest
    lay = win.statusBar().layout()
    assert win.statusBar().isVisible() and lay is not None
    assert win.status_panel.width() < win.statusBar().width()


# -- 4. engine errors: one dialog with the engine's message --------------------------------------------------------
def test_a_data_error_is_one_dialog_with_the_engines_message(qtbot, make_window):
    win = make_window("--data-error")
    win.start_run()
    wait_finished(qtbot, win)
    qtbot.wait(100)
    shown = boxes(win)
    assert len(shown) == 1, [b.text() for b in shown]
    box = shown[0]
    assert box.windowTitle() == "Data error" and "train.jsonl: file not found" in box.text()
    full = box.text() + "\n" + box.informativeText()
    assert full.count("Hint:") == 1 and "cram data stats" in full and "expected DIR/" in full
    assert "unexpectedly" not in full


def test_a_crash_still_says_unexpectedly(qtbot, make_window):
    win = make_window("--events", "3", "--crash")
    win.start_run()
    wait_finished(qtbot, win)
    assert [b.windowTitle() for b in boxes(win)] == ["The engine stopped unexpectedly"]


# -- 5. kill now says what happened --------------------------------------------------------------------------------
def test_kill_now_says_which_checkpoint_is_left(qtbot, make_window):
    win = make_window("--events", "12", "--checkpoint-every", "5", "--hang-until-term")
    win.start_run()
    qtbot.waitUntil(lambda: len(win.state.steps) == 12, timeout=20000)
    win.actions.kill.trigger()
    wait_finished(qtbot, win)
    box = boxes(win)[0]
    assert box.windowTitle() == "Run killed" and "Killed with SIGKILL" in box.text()
    assert "did not stop within" not in box.text()
    assert "The last checkpoint is step 10 (checkpoints/last), written at" in box.informativeText()


def test_kill_before_any_checkpoint_says_so(qtbot, make_window):
    win = make_window("--events", "3", "--hang-until-term")
    win.start_run()
    qtbot.waitUntil(lambda: len(win.state.steps) == 3, timeout=20000)
    win.kill_run()
    wait_finished(qtbot, win)
    assert "no checkpoint yet" in boxes(win)[0].informativeText()


# -- 6. the window from 1024x640 up --------------------------------------------------------------------------------
def test_the_window_works_at_1024x640_and_back(qtbot, make_window):
    win = make_window()
    assert (win.minimumWidth(), win.minimumHeight()) == (1024, 640)
    win.resize(1024, 640)
    qtbot.wait(50)
    assert win.tabs.width() >= 420 and win.setup_dock.width() >= 300
    assert win.setup_scroll.verticalScrollBarPolicy() != Qt.ScrollBarAlwaysOff
    win.resize(1400, 900)
    qtbot.wait(50)
    assert win.setup_scroll.viewport().width() >= 280 and win.tabs.width() > 600


# -- finished runs announce themselves -----------------------------------------------------------------------------
def test_a_finished_run_announces_itself(qtbot, make_window, monkeypatch):
    win = make_window("--events", "10", "--results")
    monkeypatch.setattr(win, "isActiveWindow", lambda: False)
    win.start_run()
    wait_finished(qtbot, win)
    b = win.finished_banner
    assert b.isVisible() and "completed" in b.text()
    assert "Test BLEU-4: python 10.00, ruby 11.00" in b.text() and "Best dev BLEU 12.50 at step 10" in b.text()
    assert b.label.textFormat() == Qt.PlainText
    win.select_tab("log")
    b.link("View results").click()
    assert win.current_tab() == "results"
    assert win.notifications and "completed" in win.notifications[0][0]


# -- runs with an identity -----------------------------------------------------------------------------------------
def test_rename_notes_model_filter_and_sort(qtbot, tmp_path):
    a = fake_run(tmp_path, "--events", "3", "--set", "model.source=seq2seq", "--set",
                 "model.name_or_path=Salesforce/codet5-small", name="20240101-100000-a")
    b = fake_run(tmp_path, "--events", "3", name="20240102-100000-b")
    failed = tmp_path / "runs" / "20240103-100000-never"
    failed.mkdir()
    (failed / "config.json").write_text(json.dumps({"name": "never"}))
    (failed / "events.jsonl").write_text(json.dumps({"v": 1, "event": "error", "kind": "config",
                                                     "message": "bad"}) + "\n")
    panel = RunsPanel(tmp_path / "runs")
    qtbot.addWidget(panel)
    panel.refresh_now()
    rows = {r[0]: r for r in panel.row_texts()}
    assert col(rows["20240101-100000-a"], "Model") == "codet5-small"
    assert col(rows["20240102-100000-b"], "Model") == "scratch tiny"
    # a run that failed before it started: listed at its folder time (older than today's runs), no Resume
    assert panel.row_texts()[-1][0] == "20240103-100000-never"
    assert col(panel.row_texts()[-1], "Started") == "2024-01-03 10:00"
    menu = panel.context_menu(str(failed))
    assert not next(x for x in menu.actions() if x.text() == "Resume").isEnabled()

    panel.rename(str(a), "codet5 baseline")
    panel.set_notes(str(a), "lr too high?\nsecond line")
    assert read_meta(a) == {"name": "codet5 baseline", "notes": "lr too high?\nsecond line"}
    assert json.loads((a / META_FILE).read_text())["name"] == "codet5 baseline"
    assert json.loads((a / "config.json").read_text())["name"] == "fake"          # engine files untouched
    rows = {r[0]: r for r in panel.row_texts()}
    assert col(rows["codet5 baseline"], "Notes") == "lr too high?"
    panel.rename(str(b), "codet5 baseline")                                         # a repeated name stays unique
    names = sorted(r[0] for r in panel.row_texts())
    assert names == ["20240103-100000-never", "codet5 baseline (20240101-100000-a)",
                     "codet5 baseline (20240102-100000-b)"]
    panel.filter_edit.setText("tiny")
    assert [r[0] for r in panel.row_texts()] == ["codet5 baseline (20240102-100000-b)"]
    panel.filter_edit.setText("")
    panel.table.sortByColumn(COLUMNS.index("Name"), Qt.AscendingOrder)
    assert panel.row_texts()[0][0] == "20240103-100000-never"
    panel.set_current(str(b))
    ix = next(panel.proxy.index(r, 0) for r in range(panel.proxy.rowCount())
              if panel.proxy.index(r, 0).data(Qt.UserRole) == str(b))
    assert ix.data(Qt.FontRole).bold()


def test_archive_asks_then_moves_the_run(qtbot, tmp_path):
    d = fake_run(tmp_path, "--events", "3", name="old")
    panel = RunsPanel(tmp_path / "runs")
    qtbot.addWidget(panel)
    panel.refresh_now()
    panel._archive_dialog(str(d))
    box = panel.findChild(QMessageBox, "confirmArchive")
    assert box is not None and box.isVisible() and d.exists()
    box.button(QMessageBox.Yes).click()
    assert not d.exists() and (tmp_path / "runs" / "archive" / "old" / "events.jsonl").is_file()
    assert panel.row_texts() == []


def test_resume_from_the_runs_context_menu(qtbot, make_window, tmp_path):
    d = fake_run(tmp_path, "--events", "4", "--checkpoint-every", "2", "--crash", name="crashed")
    win = make_window("--events", "2")
    win.runs.refresh_now()
    menu = win.runs.context_menu(str(d))
    resume = next(x for x in menu.actions() if x.text() == "Resume")
    assert resume.isEnabled()
    resume.trigger()
    assert win.session.worker.args == ["train", "--resume", str(d), "--jsonl"]
    wait_finished(qtbot, win)
    assert win.state.done["status"] == "completed"


# -- evaluate ------------------------------------------------------------------------------------------------------
def test_evaluate_a_run_with_a_checkpoint(qtbot, make_window, tmp_path):
    d = fake_run(tmp_path, "--events", "6", "--checkpoint-every", "3", name="ck")
    win = make_window()
    win.open_run(d)
    assert win.actions.evaluate.isEnabled()
    dlg = win.open_evaluate_dialog()
    assert [dlg.checkpoint.itemData(i) for i in range(dlg.checkpoint.count())] == ["last"]
    dlg.split.setCurrentText("valid")
    dlg.beam.setValue(4)
    dlg._ok()
    assert win.session.worker.args == ["eval", str(d), "--split", "valid", "--beam", "4", "--checkpoint", "last",
                                       "--jsonl"]
    wait_finished(qtbot, win)
    assert win.state.results["python"]["bleu4"] == pytest.approx(20.04)
    assert "Evaluation of ck completed" in win.finished_banner.text()
    assert "python 20.04 (constant floor 3.50)" in win.finished_banner.text()      # the floor, when sent


def test_stop_and_evaluate(qtbot, make_window):
    win = make_window("--events", "4", "--hang-until-term")
    win.start_run()
    qtbot.waitUntil(lambda: len(win.state.steps) == 4, timeout=20000)
    run_dir = win.session.run_dir
    assert win.actions.stop_and_evaluate.isEnabled()
    dlg = win.open_evaluate_dialog(stop_first=True)
    dlg.checkpoint.setCurrentIndex(dlg.checkpoint.findData("last"))
    dlg._ok()
    qtbot.waitUntil(lambda: win.session.worker.args[:1] == ["eval"], timeout=20000)
    assert win.session.worker.args[1] == str(run_dir)
    wait_finished(qtbot, win)
    assert set(win.state.results) == {"python", "ruby"}


# -- comfort -------------------------------------------------------------------------------------------------------
def test_runs_folder_layout_and_tab_are_remembered(qtbot, make_window, tmp_path, monkeypatch):
    monkeypatch.delenv("CRAM_RUNS_DIR", raising=False)
    other = tmp_path / "elsewhere"
    other.mkdir()
    win = make_window()
    win.runs.set_runs_dir(other)
    win.select_tab("compare")
    win.close()
    again = MainWindow(engine_command=[sys.executable, str(FAKE)])
    qtbot.addWidget(again)
    assert again.runs.runs_dir == other.resolve() and again.current_tab() == "compare"


def test_a_geometry_remembered_on_a_larger_screen_is_fitted_into_this_one(qtbot, make_window):
    """A window saved on a bigger monitor (or with a frame offset the window manager never reported: Xvfb put it
    25 px down, its status bar off a 1024x640 screen) comes back inside the screen it opens on, as far as its
    minimum size (1024x640) allows."""
    from cramgui.settings import settings

    win = make_window()
    avail = win.screen().availableGeometry()          # offscreen: 800x800, narrower than the minimum width

    def inside(g):
        assert g.left() == avail.left() or (g.width() <= avail.width() and avail.left() <= g.left()
                                              and g.right() <= avail.right())
        assert g.top() == avail.top() or (g.height() <= avail.height() and avail.top() <= g.top()
                                           and g.bottom() <= avail.bottom())
        assert g.width() <= max(avail.width(), win.minimumWidth())
        assert g.height() <= max(avail.height(), win.minimumHeight())

    win.setGeometry(avail.x() + 300, avail.y() + 250, avail.width() + 400, avail.height() + 300)
    settings().setValue("geometry", win.saveGeometry())
    again = MainWindow(engine_command=[sys.executable, str(FAKE)])
    qtbot.addWidget(again)
    inside(again.geometry())
    # the Xvfb case itself: a window as tall as the screen, 25 px down, is moved up to the screen's top
    again.setGeometry(avail.x() + 1, avail.y() + 25, again.minimumWidth(), avail.height())
    again._fit_to_screen()
    g = again.geometry()
    assert (g.x(), g.y(), g.height()) == (avail.x(), avail.y(), avail.height())
    inside(g)
    # a window that fits stays where the user put it
    again.setMinimumSize(100, 100)
    again.setGeometry(avail.x() + 20, avail.y() + 30, 300, 200)
    again._fit_to_screen()
    assert (again.x(), again.y(), again.width(), again.height()) == (avail.x() + 20, avail.y() + 30, 300, 200)


def test_opening_a_run_at_start_keeps_the_remembered_preset_in_the_form(qtbot, make_window, tmp_path):
    """`cramgui RUN_DIR` opens the run and still fills the form as a plain start does (smoke on a first launch),
    not with the bare engine defaults; the run's own settings are the notice's one click."""
    from cramgui.app import fill_window
    from engine.contract import config as ec

    d = fake_run(tmp_path, "--events", "5", "--results")
    win = make_window()
    fill_window(win, run_dir=str(d))
    assert win.form.preset_combo.currentText() == "smoke" and win.form.config() == ec.preset("smoke")
    assert win.session.run_dir == d.resolve() and win.session.status() == "completed"
    win2 = make_window()
    fill_window(win2, preset="cpu-codexglue", run_dir=str(d))   # --preset still wins
    assert win2.form.preset_combo.currentText() == "cpu-codexglue"


def test_first_launch_says_what_to_do_and_starts_the_smoke_preset(qtbot, make_window):
    win = make_window("--events", "3")
    assert win.empty_state.isVisible() and "Try the smoke preset: 2 minutes on a CPU" in win.empty_state.text()
    assert "constant-prediction floor" in win.empty_state.text()  # the headline: BLEU above the floor
    win.empty_state.link("Start the smoke preset").click()
    assert win.session.worker.is_running() and "--preset" in win.session.worker.args
    assert win.session.worker.args[win.session.worker.args.index("--preset") + 1] == "smoke"
    assert not win.empty_state.isVisible()
    wait_finished(qtbot, win)


def test_log_view_times_levels_and_search(qtbot, make_window):
    win = make_window("--events", "3", "--crash")
    win.start_run()
    wait_finished(qtbot, win)
    log = win.log_view
    assert any(" error " in line for line in log.toPlainText().splitlines())
    log.level.setCurrentText("errors")
    assert all(" error " in line for line in log.toPlainText().splitlines())
    log.level.setCurrentText("all")
    log.search.setText("fake engine crashed")
    assert log.find_next() and "fake engine crashed" in log.text.textCursor().selectedText()
    assert log.matches.text() == "1 matches"


def test_cyclic_garbage_with_qt_objects_is_collected_on_the_gui_thread(qtbot):
    """What made the test above hang: a Qt object in a reference cycle, freed by a collection a background thread
    triggered. With collection on the GUI thread only, a thread that allocates a lot frees nothing of Qt."""
    import threading

    from PySide6.QtCore import QObject

    freed_in = []

    class Holder(QObject):
        def __del__(self):
            freed_in.append(threading.current_thread().name)

    h = Holder()
    h.me = h                                          # a cycle: only the cyclic collector frees it
    del h

    def allocate():                                   # would trigger several collections with automatic gc on
        for _ in range(20):
            [(i, str(i)) for i in range(20000)]

    t = threading.Thread(target=allocate, name="busy-background")
    t.start()
    t.join()
    assert freed_in == []
    qtbot.waitUntil(lambda: freed_in == ["MainThread"], timeout=5000)


# -- issue 10 item 4: run text is untrusted ------------------------------------------------------------------------
def test_error_text_is_plain_and_a_replayed_log_opens_one_message(qtbot, make_window, tmp_path):
    d = fake_run(tmp_path, "--events", "2", "--errors", "200", name="evil")
    win = make_window()
    win.open_run(d)
    shown = boxes(win)
    assert len(shown) <= 1
    box = shown[0]
    assert box.textFormat() == Qt.PlainText and "<h1>Your license expired</h1>" in box.text()
    assert all(lbl.textFormat() == Qt.PlainText for lbl in box.findChildren(QLabel))
    assert "200 error events" in box.informativeText()


def test_a_live_error_with_markup_is_shown_as_plain_text(qtbot, make_window):
    win = make_window("--events", "1", "--errors", "3")
    win.start_run()
    wait_finished(qtbot, win)
    shown = boxes(win)
    assert len(shown) == 1 and shown[0].text().startswith(EVIL)
    assert all(lbl.textFormat() == Qt.PlainText for lbl in shown[0].findChildren(QLabel))


def test_a_huge_pid_neither_crashes_the_console_nor_empties_the_runs_list(qtbot, make_window, tmp_path):
    a = fake_run(tmp_path, "--events", "3", name="a")
    fake_run(tmp_path, "--events", "3", name="b")
    (a / "worker.pid").write_text("99999999999999999999999")
    win = make_window()
    win.runs.refresh_now()
    assert sorted(r[0] for r in win.runs.row_texts()) == ["a", "b"]
    assert win.open_run(a) and win.session.status() == "completed"


def test_malformed_run_files_mark_that_run_unreadable(qtbot, tmp_path):
    base = tmp_path / "runs"
    fake_run(tmp_path, "--events", "3", name="ok")
    lst = fake_run(tmp_path, "--events", "3", name="list-config")
    (lst / "config.json").write_text("[1, 2, 3]")
    junk = base / "junk-events"
    junk.mkdir()
    (junk / "events.jsonl").write_bytes(b"\x00\xff\xfe garbage \x80\n" * 50)
    garbage = fake_run(tmp_path, "--events", "3", "--results", name="garbage-results")
    (garbage / "results.csv").write_bytes(b"language,split,n,bleu4\npython,test,ten,\xff\xfe\n")
    panel = RunsPanel(base)
    qtbot.addWidget(panel)
    panel.refresh_now()
    status = {r[0]: col(r, "Status") for r in panel.row_texts()}
    assert status["ok"] == "completed"
    assert status["list-config"] == "unreadable: config.json holds a list, not an object"
    assert status["junk-events"] == "unreadable: events.jsonl has no readable event"
    assert status["garbage-results"].startswith("unreadable: results.csv:")
    assert len(status) == 4


def test_a_locked_run_shows_the_holders_message(qtbot, make_window):
    win = make_window("--locked")
    win.start_run()
    wait_finished(qtbot, win)
    shown = boxes(win)
    assert len(shown) == 1 and shown[0].windowTitle() == "The run is being written elsewhere"
    assert "pid 4242 on node7" in shown[0].text()


def test_sighup_is_handled_like_sigterm(qtbot):
    from cramgui.app import install_signal_handlers

    calls = []
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        handled = install_signal_handlers(lambda: calls.append(1))
        assert signal.SIGHUP in handled and signal.SIGTERM in handled
        signal.getsignal(signal.SIGHUP)(signal.SIGHUP, None)
        assert calls == [1]
    finally:
        for s, h in old.items():
            signal.signal(s, h)
