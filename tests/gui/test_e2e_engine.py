"""End to end: the real engine (`python -m engine train --jsonl`), tiny model, driven from the window's Start."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from cramgui.main_window import MainWindow
from engine.contract.rundir import read_results

pytestmark = pytest.mark.slow

SETTINGS = {
    "budget.seconds": 8,
    "eval.every_seconds": "0",
    "data.max_train": 300,
    "data.max_valid": 40,
    "data.max_test": 40,
    "eval.beam_size": 2,
    "eval.dev_subset": 20,
    "model.vocab_size": 600,
    "hardware.threads": 1,
    "data.site_packages_train": False,   # the site-packages corpus takes minutes to build
}


def test_start_to_results_with_the_real_engine(qtbot, qloop, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    win = MainWindow(runs_dir=tmp_path / "runs")
    qtbot.addWidget(win)
    win.show()
    win.form.set_preset("smoke")
    for name, value in SETTINGS.items():               # through the widgets, like a user
        ed = win.form.editor(name)
        if hasattr(ed, "h"):                           # durations are h/min/s fields (budget, dev-eval interval)
            ed.h.setValue(0)
            ed.m.setValue(0)
            ed.s.setValue(int(value))
        elif hasattr(ed, "box"):                       # a check box
            ed.box.setChecked(value)
        elif hasattr(ed, "spin"):
            ed.spin.setValue(value)
        else:
            ed.edit.setText(value)
    assert win.form.is_valid(), win.form.errors()
    assert win.session.worker.command[1:] == ["-m", "engine"]
    win.start_button.click()
    assert win.session.worker.is_running()

    model = win.results.model

    def our_rows():
        return [r for r in range(model.rowCount()) if model.row_kind(r) == "ours"]

    try:
        qtbot.waitUntil(lambda: bool(our_rows()) and not win.session.worker.is_running(), timeout=180_000)
    finally:
        if win.session.worker.is_running():
            win.session.worker.kill()
            qtbot.waitUntil(lambda: not win.session.worker.is_running(), timeout=10_000)

    assert win.session.worker.exit_code == 0, win.log_view.toPlainText()[-3000:]
    assert not [b for b in win.message_boxes if b.isVisible()]
    run_dir = win.session.run_dir
    assert run_dir.parent == (tmp_path / "runs").resolve()
    cfg = win.state.config
    assert cfg["budget"]["seconds"] == 8 and cfg["eval"]["beam_size"] == 2 and cfg["data"]["max_train"] == 300

    # the table shows what the engine wrote to results.csv
    rows = read_results(run_dir)
    assert [r["language"] for r in rows] == ["python"]
    r0 = our_rows()[0]
    shown = {model.headerData(c, Qt.Horizontal): model.data(model.index(r0, c)) for c in range(model.columnCount())}
    assert shown["Language"] == "python"
    assert shown["Examples"] == str(rows[0]["n"])
    assert shown["BLEU-4"] == f"{rows[0]['bleu4']:.2f}"

    assert len(win.state.steps) > 0 and win.state.status["state"] == "completed"
    assert win.samples.visible_rows(), "samples arrived"
    assert "cram: run directory" in win.log_view.toPlainText()
    qtbot.waitUntil(lambda: any(r[3] == "completed" for r in win.runs.row_texts()), timeout=10_000)
