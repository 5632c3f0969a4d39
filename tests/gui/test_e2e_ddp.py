"""End to end: a 2-process CPU run (torchrun, gloo) started from the console streams into the same plots as a
single-process run and ends with results in the table."""
from __future__ import annotations

import shlex

import numpy as np
import pytest

from cramgui.main_window import MainWindow
from engine.contract.rundir import read_results

pytestmark = pytest.mark.slow

SETTINGS = {
    "hardware.gpus": 2,
    "hardware.threads": 1,
    "budget.seconds": 6,
    "eval.every_seconds": 0.0,
    "data.max_train": 200,
    "data.max_valid": 20,
    "data.max_test": 20,
    "eval.beam_size": 2,
    "model.vocab_size": 600,
    "data.site_packages_train": False,   # the site-packages corpus takes minutes to build
}


def test_two_rank_cpu_run_from_the_console(qtbot, qloop, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    win = MainWindow(runs_dir=tmp_path / "runs")
    qtbot.addWidget(win)
    win.show()
    win.form.set_preset("smoke")
    win.form.set_values(SETTINGS)
    assert win.form.is_valid(), win.form.errors()
    box = win.form.command_box.toPlainText()
    assert "--nproc_per_node=2" in box and "--set hardware.gpus=2" in box
    win.start_button.click()
    assert win.session.worker.is_running()
    try:
        qtbot.waitUntil(lambda: not win.session.worker.is_running(), timeout=60_000)
    finally:
        if win.session.worker.is_running():
            win.session.worker.kill()
            qtbot.waitUntil(lambda: not win.session.worker.is_running(), timeout=10_000)
    log = win.log_view.toPlainText()
    assert win.session.worker.exit_code == 0, log[-3000:]
    run_dir = win.session.run_dir
    # the exact launch line shown at start is the one the engine ran
    launch = shlex.join(win.form.launch_argv(str(run_dir), jsonl=True))
    assert f"(on 2 ranks: {launch})" in log
    assert "cram: launching " + " ".join(win.form.launch_argv(str(run_dir), jsonl=True)) in log
    assert "rank 1/2" in log                                   # the second rank really ran

    # steps streamed into the plots, once each (rank 0 alone writes events)
    steps = win.state.steps.view("step")
    assert len(steps) > 3 and np.all(np.diff(steps) > 0)
    win.plots.redraw_now()
    x, y = win.plots.loss_raw.getData()
    assert x is not None and len(x) == len(steps) and np.all(np.isfinite(y))
    assert win.state.started_event.get("world_size") == 2
    assert win.state.status["state"] == "completed"

    # results in the table, as the engine wrote them
    rows = read_results(run_dir)
    assert [r["language"] for r in rows] == ["python"] and rows[0]["n"] == 20
    model = win.results.model
    ours = [r for r in range(model.rowCount()) if model.row_kind(r) == "ours"]
    assert ours and model.data(model.index(ours[0], 3)) == f"{rows[0]['bleu4']:.2f}"
    assert not [b for b in win.message_boxes if b.isVisible()]
