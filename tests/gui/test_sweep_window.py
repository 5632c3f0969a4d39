"""The Sweep action, tab and Compare embedding in the main window (skipped until the window has them: the patch
for cramgui/main_window.py, tabs.py and compare_view.py is in helper H9's report)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialogButtonBox

from cramgui.main_window import MainWindow
from cramgui.worker import EngineWorker

from .test_sweep import FAKE_SWEEP, fake_sweep


@pytest.fixture
def win(qtbot, qloop, tmp_path):
    w = MainWindow(runs_dir=tmp_path / "runs")
    if not hasattr(w, "sweep_view"):
        w.deleteLater()
        pytest.skip("the main window has no Sweep tab yet (H9's patch)")
    qtbot.addWidget(w)
    w.show()
    yield w
    if w.sweep_view.running():
        w.sweep_view.worker.kill()


def test_sweep_action_dialog_tab_and_compare(qtbot, win, tmp_path):
    script = tmp_path / "fake_sweep.py"
    script.write_text(FAKE_SWEEP)
    win.sweep_view._worker_factory = lambda: EngineWorker([sys.executable, str(script)])
    action = next(a for a in win.actions.menus["run"].actions() if a.text() == "S&weep…")
    action.trigger()
    dlg = win.dialogs["sweep"]
    dlg.edits["train.lr"].setText("1e-3, 3e-3")
    dlg.total.setValue(4 * win.form.config().budget.seconds)
    assert dlg.summary.text().startswith("2 trials (grid of 2)")
    dlg.buttons.button(QDialogButtonBox.Ok).click()
    assert win.current_tab() == "sweep"
    qtbot.waitUntil(lambda: win.sweep_view.running() and win.sweep_view.sweep is not None, timeout=20_000)
    assert win.sweep_view.worker.args[:2] == [str(dlg.spec_path), "--sweep-dir"]
    assert Path(dlg.sweep_dir).parent == tmp_path / "runs" / "sweeps"
    win.sweep_view.stop()
    qtbot.waitUntil(lambda: not win.sweep_view.running(), timeout=20_000)
    # an existing sweep, its trials opened in Compare with the dev BLEU overlay
    d = fake_sweep(tmp_path)
    win.open_sweep_folder(str(d))
    assert win.current_tab() == "sweep" and win.sweep_view.table.rowCount() == 4
    win.sweep_view.select_trials([0, 2])
    win.sweep_view.compare_btn.click()
    assert win.current_tab() == "compare"
    assert [s[0] for s in win.compare.dev_curves.series()] == [win.runs.label(str(d / "trial-000-a")),
                                                               win.runs.label(str(d / "trial-002-c"))]
    assert json.loads((d / "sweep.json").read_text())["name"] == "fake"
