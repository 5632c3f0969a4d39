"""Comparing runs in the console: overlay curves, BLEU table, settings that differ, exports."""
import csv
import json

import numpy as np
import pytest
from PySide6.QtGui import QImage

from cramgui.compare_view import CompareView
from cramgui.curves import smooth
from engine.contract.config import RunConfig
from engine.contract.events import EventWriter
from engine.contract.rundir import write_results


def _run(d, name, lr, losses, results):
    d.mkdir(parents=True)
    cfg = RunConfig()
    cfg.name, cfg.train.lr = name, lr
    (d / "config.json").write_text(json.dumps(cfg.to_dict()))
    w = EventWriter(d / "events.jsonl")
    w.emit("started", budget_seconds=10, step=0, elapsed=0.0)
    for i, loss in enumerate(losses, 1):
        w.emit("step", step=i, elapsed=i * 0.5, progress=i / len(losses), loss=loss, lr=1e-3, tokens_per_s=100.0)
    w.emit("done", status="completed", stopped=False, step=len(losses), elapsed=len(losses) * 0.5)
    w.close()
    write_results(d, [{"language": k, "split": "test", "n": 5, "bleu4": v, "nltk_bleu4": 1.0, "decode_seconds": 1.0,
                       "beam_size": 4} for k, v in results.items()])


@pytest.fixture
def view(qtbot, tmp_path):
    _run(tmp_path / "a", "alpha", 1e-3, [5.0, 4.0, 0.0, 3.0], {"python": 12.5, "ruby": 7.5})
    _run(tmp_path / "b", "beta", 5e-4, [6.0, 5.5, 5.0], {"python": 9.0})
    v = CompareView()
    qtbot.addWidget(v)
    v.resize(1000, 700)
    v.set_runs([tmp_path / "a", tmp_path / "b"])
    return v


def test_table_and_differences(view):
    t = view.displayed_table()
    assert t[0] == ["run", "status", "steps", "trained_s", "best_dev_bleu", "ruby", "python", "mean", "path"]
    a, b = view.paths
    assert t[1] == ["a", "completed", "4", "2.00", "–", "7.50", "12.50", "10.00", a]    # the folder: unique
    assert t[2] == ["b", "completed", "3", "1.50", "–", "–", "9.00", "9.00", b]
    assert [view.diff.horizontalHeaderItem(c).text() for c in range(3)] == ["setting", "a", "b"]
    d = view.diff
    rows = {d.item(r, 0).text(): [d.item(r, c).text() for c in (1, 2)] for r in range(d.rowCount())}
    assert rows == {"name": ["alpha", "beta"], "train.lr": ["0.001", "0.0005"]}


def test_overlay_curves_smoothing_and_x_axis(view):
    assert len(view.curves) == 2
    x, y = view.curves[0].getData()
    # the zero loss is masked (log axis); the rest smoothed with the same EMA as the live plot
    np.testing.assert_allclose(x, [1, 2, 4])
    np.testing.assert_allclose(y, np.log10(smooth(np.array([5.0, 4.0, 3.0]), 0.9)))
    view.smooth.setValue(0.0)
    np.testing.assert_allclose(view.curves[1].getData()[1], np.log10([6.0, 5.5, 5.0]))
    view.x_combo.setCurrentText("elapsed")
    np.testing.assert_allclose(view.curves[1].getData()[0], [0.5, 1.0, 1.5])


def test_exports(view, tmp_path):
    view.export_csv(tmp_path / "cmp.csv")
    with open(tmp_path / "cmp.csv", newline="") as fh:
        assert list(csv.reader(fh)) == view.displayed_table()
    view.export_png(tmp_path / "cmp.png")
    img = QImage(str(tmp_path / "cmp.png"))
    assert not img.isNull() and img.width() >= 1200
