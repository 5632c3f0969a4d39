"""TrainingPlots: curve data equals the (masked) run data, EMA, planned LR ahead, x-axis switch, 1M points, PNG."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from cramgui.plots import TrainingPlots, ema
from cramgui.run_state import RunState, planned_lr

SCHED = {"name": "budget-triangle", "warmup": 0.05, "peak_lr": 5e-4}
BUDGET = 200.0


def ref_ema(x, alpha):
    out, s = [], x[0]
    for v in x:
        s = alpha * s + (1 - alpha) * v
        out.append(s)
    return np.array(out)


def make_state(n=100, bad=()):
    st = RunState()
    st.ingest({"event": "started", "budget_seconds": BUDGET, "schedule": SCHED, "device": "cpu", "step": 0})
    rng = np.random.default_rng(1)
    loss = 3 + rng.random(n)
    evs = []
    for i in range(n):
        el = (i + 1) * 1.0
        evs.append({"event": "step", "step": i + 1, "elapsed": el, "progress": el / BUDGET,
                    "loss": float(loss[i]), "lr": float(planned_lr(SCHED, np.array([el / BUDGET]))[0]),
                    "tokens_per_s": 100.0 + i})
    for i, v in bad:
        evs[i]["loss"] = v
    evs.append({"event": "eval", "step": 50, "elapsed": 50.0, "dev_loss": 3.3, "dev_bleu": 4.0})
    evs.append({"event": "eval", "step": 100, "elapsed": 100.0, "dev_loss": None, "dev_bleu": 5.0})
    st.ingest_many(evs)
    return st


def data(item):
    x, y = item.getOriginalDataset()
    if x is None:                      # pyqtgraph reports an empty curve as (None, None)
        return np.empty(0), np.empty(0)
    return np.asarray(x), np.asarray(y)


@pytest.fixture
def plots(qtbot):
    def make(state):
        w = TrainingPlots(state)
        qtbot.addWidget(w)
        w.resize(1000, 700)
        return w
    return make


def test_curves_equal_masked_data(plots):
    st = make_state(100, bad=[(3, None), (10, 0.0), (20, -1.0)])
    w = plots(st)
    w.redraw_now()
    loss = st.steps.view("loss")
    ok = np.isfinite(loss) & (loss > 0)
    assert ok.sum() == 97
    x, y = data(w.loss_raw)
    np.testing.assert_array_equal(x, st.steps.view("step")[ok])
    np.testing.assert_array_equal(y, loss[ok])
    xe, ye = data(w.loss_ema)
    np.testing.assert_array_equal(xe, x)
    np.testing.assert_allclose(ye, ref_ema(loss[ok], 0.9), rtol=1e-12)
    dx, dy = data(w.dev_loss)
    np.testing.assert_array_equal(dx, [50.0])
    np.testing.assert_array_equal(dy, [3.3])
    assert not w.masked_label.isHidden()
    assert w.masked_label.text().startswith("4 ")            # 3 training values + 1 null dev loss
    assert "hidden" in w.masked_label.text()
    tx, ty = data(w.tps_curve)
    np.testing.assert_array_equal(ty, 100.0 + np.arange(100))
    assert w.plot_widgets()["loss"].getPlotItem().ctrl.logYCheck.isChecked()


def test_no_masked_label_when_clean(plots):
    st = make_state(20)
    st.evals.clear()
    w = plots(st)
    w.redraw_now()
    assert w.masked_label.isHidden()


def test_ema_incremental_and_smoothing_change(plots):
    st = make_state(50)
    w = plots(st)
    w.redraw_now()
    rng = np.random.default_rng(5)
    more = [{"event": "step", "step": 51 + i, "elapsed": 51.0 + i, "progress": (51 + i) / BUDGET,
             "loss": float(2 + rng.random()), "lr": 1e-4} for i in range(30)]
    more[4]["loss"] = None
    st.ingest_many(more)
    w.redraw_now()
    loss = st.steps.view("loss")
    ok = np.isfinite(loss)
    np.testing.assert_allclose(data(w.loss_ema)[1], ref_ema(loss[ok], 0.9), rtol=1e-12)
    w.set_smoothing(0.5)
    assert w.smooth_spin.value() == pytest.approx(0.5)
    np.testing.assert_allclose(data(w.loss_ema)[1], ref_ema(loss[ok], 0.5), rtol=1e-12)
    w.smooth_spin.setValue(0.0)                # the control drives the widget
    np.testing.assert_allclose(data(w.loss_ema)[1], loss[ok])


@pytest.mark.parametrize("alpha", [0.0, 0.05, 0.6, 0.9, 0.99, 0.999])
def test_ema_function_matches_loop(alpha):
    x = np.exp(np.random.default_rng(0).normal(size=5000))
    np.testing.assert_allclose(ema(x, alpha), ref_ema(x, alpha), rtol=1e-11)
    np.testing.assert_allclose(ema(x[2500:], alpha, init=ref_ema(x, alpha)[2499]), ref_ema(x, alpha)[2500:],
                               rtol=1e-11)


def test_planned_lr_drawn_ahead(plots):
    st = make_state(100)               # 100 steps in 100 s of a 200 s budget -> progress 0.5
    w = plots(st)
    w.redraw_now()
    assert w.lr_planned.opts["pen"].style() == Qt.PenStyle.DashLine
    x, y = data(w.lr_planned)
    assert x.min() == pytest.approx(100.0) and x.max() == pytest.approx(200.0)   # steps extrapolated to x = 1
    np.testing.assert_allclose(y, planned_lr(SCHED, x / 200.0))
    assert y.max() == pytest.approx(5e-4)            # the triangle's peak at progress 0.75 is included
    ax, ay = data(w.lr_curve)
    np.testing.assert_array_equal(ax, np.arange(1, 101))

    w.set_x_axis("elapsed")
    assert w.x_combo.currentText() == "elapsed"
    x2, y2 = data(w.lr_planned)
    np.testing.assert_allclose(x2, x / 200.0 * BUDGET)
    np.testing.assert_allclose(y2, y)


def test_x_axis_switch(plots):
    st = make_state(40)
    for i in range(40):                 # elapsed differs from step
        st.steps.view("elapsed")[i] = 2.5 * (i + 1)
    w = plots(st)
    w.redraw_now()
    np.testing.assert_array_equal(data(w.loss_raw)[0], np.arange(1, 41))
    w.x_combo.setCurrentText("elapsed")
    np.testing.assert_allclose(data(w.loss_raw)[0], 2.5 * np.arange(1, 41))
    np.testing.assert_allclose(data(w.tps_curve)[0], 2.5 * np.arange(1, 41))
    assert w.plot_widgets()["loss"].getPlotItem().getAxis("bottom").labelText.startswith("training time")
    with pytest.raises(ValueError):
        w.set_x_axis("epoch")


def test_throttled_redraw_after_burst(plots, qtbot):
    st = make_state(10)
    w = plots(st)
    w.redraw_now()
    for k in range(20):      # many bursts -> a few timer-driven redraws, not one per burst
        st.ingest_many([{"event": "step", "step": 11 + k, "elapsed": 11.0 + k, "progress": 0.1, "loss": 1.0}])
    assert len(data(w.loss_raw)[0]) == 10          # nothing redrawn synchronously
    qtbot.waitUntil(lambda: len(data(w.loss_raw)[0]) == 30, timeout=2000)


def test_million_points(plots, qtbot):
    st = RunState()
    st.ingest({"event": "started", "budget_seconds": 1e6, "schedule": SCHED, "step": 0})
    n = 1_000_000
    idx = np.arange(1, n + 1, dtype=float)
    loss = 2 + np.sin(idx / 1000.0)
    loss[::1000] = 0.0                             # masked on the log axis
    st.steps.extend({"step": idx, "elapsed": idx, "progress": idx / 1e6 * 0.5, "loss": loss,
                     "lr": np.full(n, 1e-4), "tokens_per_s": np.full(n, 5e4)})
    st.progressed.emit()
    w = plots(st)
    w.show()
    w.redraw_now()
    qtbot.wait(50)
    x, y = data(w.loss_raw)
    assert len(x) == n - 1000 and (y > 0).all()
    assert w.masked_label.text().startswith("1000 ")
    for item in (w.loss_raw, w.loss_ema, w.lr_curve, w.tps_curve):
        assert item.opts["autoDownsample"] and item.opts["downsampleMethod"] == "peak"
        assert item.opts["clipToView"]
    for pw in w.plot_widgets().values():
        pi = pw.getPlotItem()
        assert pi.downsampleMode()[1:] == (True, "peak") and pi.clipToViewMode()
    # what is actually painted is downsampled
    painted_x, _ = w.loss_raw.getData()
    assert len(painted_x) < n / 10
    # appending a few more points keeps the incremental EMA consistent with the tail
    st.ingest_many([{"event": "step", "step": n + 1, "elapsed": n + 1.0, "progress": 0.5, "loss": 2.5}])
    w.redraw_now()
    ye = data(w.loss_ema)[1]
    assert len(ye) == n - 1000 + 1 and ye[-1] == pytest.approx(0.9 * ye[-2] + 0.1 * 2.5)


@pytest.mark.parametrize("which", ["loss", "lr", "throughput"])
def test_export_png(plots, tmp_path, which):
    w = plots(make_state(60))
    path = tmp_path / f"{which}.png"
    w.export_png(which, path)
    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    img = QImage(str(path))
    assert not img.isNull() and img.width() >= 1200 and img.height() > 200
    with pytest.raises(ValueError):
        w.export_png("nope", tmp_path / "x.png")


def test_empty_and_reset(plots):
    st = RunState()
    w = plots(st)
    w.redraw_now()
    assert len(data(w.loss_raw)[0]) == 0 and len(data(w.lr_planned)[0]) == 0
    st.ingest({"event": "started", "budget_seconds": 100.0, "schedule": SCHED, "step": 0})
    w.set_x_axis("elapsed")
    x, y = data(w.lr_planned)          # before any step: the whole plan over the budget
    assert x[0] == 0.0 and x[-1] == 100.0
    st.clear()
    w.redraw_now()
    assert len(data(w.lr_planned)[0]) == 0


def test_planned_lr_step_based_linear(plots):
    sched = {"name": "linear", "warmup": 0.1, "peak_lr": 1e-3}
    st = RunState()
    st.ingest({"event": "started", "budget_seconds": 1000.0, "schedule": sched, "step": 0,
               "config": {"budget": {"seconds": 1000.0, "max_steps": 400}}})
    st.ingest_many([{"event": "step", "step": i, "elapsed": 2.0 * i, "progress": i / 400, "loss": 1.0,
                     "lr": 1e-3} for i in range(1, 101)])
    w = plots(st)
    w.redraw_now()
    x, y = data(w.lr_planned)
    assert x[0] == pytest.approx(100) and x[-1] == pytest.approx(400)
    np.testing.assert_allclose(y, planned_lr(sched, x / 400))
    w.set_x_axis("elapsed")
    x2, _ = data(w.lr_planned)
    assert x2[-1] == pytest.approx(800.0)         # 2 s per step extrapolated
