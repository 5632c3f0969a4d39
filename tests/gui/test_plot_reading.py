"""Plots a researcher can read: dev BLEU with the best checkpoint, a hover readout with a crosshair, readable log
ticks, legends outside the data, resume markers, h:m:s time axes, gradient norm and MFU, de-biased smoothing shared
with Compare, the app's own context menu, exported PNGs that carry the run name and the caveat."""
from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QImage

import cramgui.plot_export as plot_export
import cramgui.plots as plots_mod
from cramgui.axes import LogAxis, TimeAxis, log_label
from cramgui.curves import smooth
from cramgui.plots import TrainingPlots
from cramgui.run_state import RunState

SCHED = {"name": "budget-triangle", "warmup": 0.05, "peak_lr": 5e-4}


def data(item):
    x, y = item.getOriginalDataset()
    if x is None:
        return np.empty(0), np.empty(0)
    return np.asarray(x), np.asarray(y)


def run_state(n=200, resume_at=None):
    st = RunState()
    st.ingest({"event": "started", "budget_seconds": 4000.0, "schedule": SCHED, "step": 0, "run_dir": "/runs/r1",
               "config": {"name": "r1", "model": {"source": "scratch", "size": "tiny"}}})
    evs = []
    for i in range(1, n + 1):
        if resume_at and i == resume_at + 1:
            evs.append({"event": "started", "resumed": True, "step": resume_at, "elapsed": 10.0 * resume_at,
                        "budget_seconds": 4000.0, "schedule": SCHED})
        evs.append({"event": "step", "step": i, "elapsed": 10.0 * i, "progress": i / 400, "loss": 4.0 - i / 100,
                    "lr": 1e-4, "tokens_per_s": 500.0, "grad_norm": 2.0 / i, "mfu": 0.25 if i % 2 else None})
        if i % 50 == 0:
            evs.append({"event": "eval", "step": i, "elapsed": 10.0 * i, "dev_loss": 3.0,
                        "dev_bleu": [4, 9, 7, 8][i // 50 - 1], "best": i == 100})
    st.ingest_many(evs)
    return st


@pytest.fixture
def plots(qtbot):
    def make(state):
        w = TrainingPlots(state)
        qtbot.addWidget(w)
        w.resize(1100, 750)
        w.redraw_now()
        return w
    return make


def test_dev_bleu_over_training_with_the_best_checkpoint(plots):
    w = plots(run_state())
    x, y = data(w.bleu_curve)
    np.testing.assert_array_equal(x, [50, 100, 150, 200])
    np.testing.assert_array_equal(y, [4, 9, 7, 8])
    bx, by = data(w.best_marker)
    assert list(bx) == [100] and list(by) == [9]            # the evaluation the engine marked best
    w.set_x_axis("elapsed")
    x, _ = data(w.bleu_curve)
    np.testing.assert_array_equal(x, [500, 1000, 1500, 2000])
    assert list(data(w.best_marker)[0]) == [1000]


def test_hover_readout_and_crosshair(plots):
    w = plots(run_state())
    r = w.hover_at("loss", 120.4, 2.9)
    assert r["step"] == 120 and r["elapsed"] == 1200.0 and r["loss"] == pytest.approx(2.8) and r["lr"] == 1e-4
    assert r["dev_loss"] == 3.0                                      # the last dev evaluation before it
    assert r["ema"] == pytest.approx(smooth(4.0 - np.arange(1, 201) / 100, 0.9)[119])
    text = w.hover_label.text()
    assert text.startswith("step 120") and "time 0:20:00" in text and "loss 2.8" in text and "LR 0.0001" in text
    for name, line in w._vlines.items():
        assert line.isVisible() and line.value() == pytest.approx(120.4), name
    assert w._hline["loss"].isVisible() and not w._hline["lr"].isVisible()
    st = RunState()
    empty = plots(st)
    assert empty.hover_at("loss", 5.0) is None and empty.hover_label.text() == plots_mod.HOVER_HINT


def test_time_axis_reads_hms_and_log_ticks_are_labelled(plots):
    w = plots(run_state())
    w.set_x_axis("elapsed")
    axis = w.plot_widgets()["loss"].getPlotItem().getAxis("bottom")
    assert isinstance(axis, TimeAxis) and axis.time_mode
    assert axis.tickStrings([0, 90, 3600, 36000], 1.0, 60) == ["0:00", "1:30", "1:00:00", "10:00:00"]
    major, _minor = axis.tickSpacing(0, 36000, 700)
    assert major[0] in (3600, 7200)                                   # round hours, not 5000 s
    w.set_x_axis("step")
    assert not axis.time_mode and axis.tickStrings([1000.0], 1.0, 1000) == ["1000"]
    left = w.plot_widgets()["loss"].getPlotItem().getAxis("left")
    assert isinstance(left, LogAxis)
    vals = [math.log10(v) for v in (1, 2, 3, 5, 7)]
    assert [left.label_for(v, 300) for v in vals] == ["1", "2", "3", "5", "7"]     # inside a decade: every tick
    assert [left.label_for(v, 60) for v in vals] == ["1", "2", "", "5", ""]       # over a few: 2 and 5
    assert log_label(0.02) == "0.02" and log_label(40.0) == "40" and log_label(1e6) == "1e+06"


def test_legends_never_cover_the_data(plots):
    w = plots(run_state())
    for name in ("loss", "lr", "bleu"):
        pi = w.plot_widgets()[name].getPlotItem()
        title = pi.titleLabel
        assert "train" in title.text or "actual" in title.text or "best" in title.text
        # the legend is the title row: above the view box, not inside it
        assert title.sceneBoundingRect().bottom() <= pi.getViewBox().sceneBoundingRect().top() + 1
        assert pi.legend is None


def test_resume_marker(plots):
    w = plots(run_state(resume_at=120))
    assert w.resume_positions() == [120]
    lines = w._resume_lines["loss"]
    assert len(lines) == 1 and lines[0].value() == 120
    w.set_x_axis("elapsed")
    assert w._resume_lines["lr"][0].value() == 1200.0


def test_gradient_norm_and_mfu(plots):
    w = plots(run_state())
    assert w.extra.currentWidget() is w.plot_widgets()["throughput"]
    assert len(data(w.grad_curve)[0]) == 0                           # not shown: not drawn
    w.show_extra("grad_norm")
    assert w.extra.currentWidget() is w.plot_widgets()["grad_norm"] and w.is_log_y("grad_norm")
    x, y = data(w.grad_curve)
    np.testing.assert_allclose(y, 2.0 / np.arange(1, 201))
    w.show_extra("mfu")
    mx, my = data(w.mfu_curve)
    np.testing.assert_array_equal(mx, np.arange(1, 201, 2))
    np.testing.assert_allclose(my, 25.0)                             # in %


def test_smoothing_is_de_biased_and_shared():
    y = np.array([10.0, 10.0, 10.0, np.nan, 10.0])
    np.testing.assert_allclose(smooth(y, 0.9)[[0, 1, 2, 4]], 10.0)   # a constant stays constant from the start
    assert np.isnan(smooth(y, 0.9)[3])
    z = np.array([4.0, 2.0])
    np.testing.assert_allclose(smooth(z, 0.5), [4.0, (0.25 * 4 + 0.5 * 2) / 0.75])
    np.testing.assert_allclose(smooth(z, 0.0), z)


def test_context_menu_has_the_apps_actions(plots, tmp_path, monkeypatch):
    w = plots(run_state())
    menu = w.context_menu("loss")
    texts = [a.text() for a in menu.actions() if a.text()]
    assert texts[:2] == ["Export PNG…", "Export CSV…"] and "Reset zoom" in texts and "Log y axis" in texts
    subs = {a.text(): a.menu() for a in menu.actions() if a.menu()}
    assert set(subs) == {"x axis", "Smoothing"}
    flat = " ".join(texts).lower()
    assert "fft" not in flat and "derivative" not in flat and "plot options" not in flat
    # the viewbox opens this menu, not pyqtgraph's
    assert isinstance(w.plot_widgets()["loss"].getPlotItem().getViewBox(), plots_mod._MenuViewBox)
    log = next(a for a in menu.actions() if a.text() == "Log y axis")
    assert log.isChecked()
    log.trigger()
    assert not w.is_log_y("loss")
    smoothing = subs["Smoothing"]
    next(a for a in smoothing.actions() if a.text() == "0.99").trigger()
    assert w.alpha == pytest.approx(0.99)
    next(a for a in subs["x axis"].actions() if a.text() == "training time").trigger()
    assert w.x_mode == "elapsed"
    vb = w.plot_widgets()["loss"].getPlotItem().getViewBox()
    vb.setXRange(10, 20, padding=0)
    next(a for a in w.context_menu("loss").actions() if a.text() == "Reset zoom").trigger()
    assert vb.autoRangeEnabled()[0]
    # Export CSV writes the data behind the plot
    monkeypatch.setattr(plot_export, "save_as", lambda parent, title, name, flt, write, folder=None: write(
        str(tmp_path / name)) or str(tmp_path / name))
    next(a for a in w.context_menu("bleu").actions() if a.text() == "Export CSV…").trigger()
    lines = (tmp_path / "dev_evals.csv").read_text().splitlines()
    assert lines[0].startswith("step,") and len(lines) == 5
    next(a for a in w.context_menu("lr").actions() if a.text() == "Export CSV…").trigger()
    assert len((tmp_path / "history.csv").read_text().splitlines()) == 201


def test_exported_png_carries_run_name_and_caveat(plots, tmp_path, monkeypatch):
    w = plots(run_state())
    seen = {}
    real = plot_export.plot_to_png

    def spy(pw, path):
        pi = pw.getPlotItem()
        seen["title"] = pi.titleLabel.text
        seen["items"] = [it for it in pi.scene().items() if getattr(it, "objectName", lambda: "")() == "exportCaption"]
        real(pw, path)
    monkeypatch.setattr(plot_export, "plot_to_png", spy)
    w.export_png("bleu", tmp_path / "bleu.png")
    assert seen["title"].startswith("r1 — ") and "Dev BLEU-4" in seen["title"]
    assert len(seen["items"]) == 1
    assert "r1 (/runs/r1)" in w.export_caption and "not comparable" in w.export_caption
    img = QImage(str(tmp_path / "bleu.png"))
    assert not img.isNull() and img.height() > 200
    # the caption is removed again, the title restored
    pi = w.plot_widgets()["bleu"].getPlotItem()
    assert not pi.titleLabel.text.startswith("r1") and not [
        it for it in pi.scene().items() if getattr(it, "objectName", lambda: "")() == "exportCaption"]


def test_smoothing_remembered(plots, tmp_path):
    QSettings.setPath(QSettings.NativeFormat, QSettings.UserScope, str(tmp_path / "settings"))
    w = plots(run_state())
    w.smooth_spin.setValue(0.6)
    again = plots(run_state())
    assert again.alpha == pytest.approx(0.9)                         # only the window restores it ...
    again.restore_settings()
    assert again.alpha == pytest.approx(0.6)                         # ... from QSettings
