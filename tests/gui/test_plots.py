"""TrainingPlots: curve data equals the (masked) run data, EMA, planned LR ahead, x-axis switch, PNG; with a million
points, the curves are decimated per device pixel column and keep each column's extremes."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QImage

import cramgui.plot_export as plot_export
from cramgui.curves import smooth
from cramgui.plots import DECIMATE_ABOVE, TrainingPlots, _Track, decimate, ema
from cramgui.run_state import RunState
from engine.contract.schedule import lr

SCHED = {"name": "budget-triangle", "warmup": 0.05, "peak_lr": 5e-4}
BUDGET = 200.0


def ref_ema(x, alpha):
    out, s = [], x[0]
    for v in x:
        s = alpha * s + (1 - alpha) * v
        out.append(s)
    return np.array(out)


def ref_smooth(x, alpha):
    """The de-biased EMA, as a plain loop: Adam's correction of an EMA started at 0."""
    out, s = [], 0.0
    for t, v in enumerate(x):
        s = alpha * s + (1 - alpha) * v
        out.append(s / (1 - alpha ** (t + 1)))
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
                    "loss": float(loss[i]), "lr": lr(SCHED, el / BUDGET, i),
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
    np.testing.assert_allclose(ye, ref_smooth(loss[ok], 0.9), rtol=1e-12)
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
    np.testing.assert_allclose(data(w.loss_ema)[1], ref_smooth(loss[ok], 0.9), rtol=1e-12)
    w.set_smoothing(0.5)
    assert w.smooth_spin.value() == pytest.approx(0.5)
    np.testing.assert_allclose(data(w.loss_ema)[1], ref_smooth(loss[ok], 0.5), rtol=1e-12)
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
    np.testing.assert_allclose(y, lr(SCHED, x / 200.0, x))
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


def million_state(n=1_000_000):
    st = RunState()
    st.ingest({"event": "started", "budget_seconds": 1e6, "schedule": SCHED, "step": 0})
    idx = np.arange(1, n + 1, dtype=float)
    noise = np.random.default_rng(2).normal(0.0, 0.05, n)
    loss = (2 + np.sin(idx / 1000.0)) * np.exp(noise)
    loss[::1000] = 0.0                             # masked on the log axis
    st.steps.extend({"step": idx, "elapsed": idx, "progress": idx / 1e6 * 0.5, "loss": loss,
                     "lr": np.full(n, 1e-4), "tokens_per_s": 5e4 + (np.arange(n) % 977)})
    st.progressed.emit()
    return st


def pixel_columns(pw, x):
    """The device pixel column each x is drawn in (a line's point at device x lands in pixel floor(x)), whether it
    lies too close to a pixel boundary to tell, and the columns the x range shown covers (first, last)."""
    vb = pw.getPlotItem().getViewBox()
    v0, v1 = vb.viewRange()[0]
    t = pw.viewportTransform()
    d0, d1 = ((vb.mapViewToScene(QPointF(v, 0.0)).x() * t.m11() + t.m31()) * pw.devicePixelRatioF()
              for v in (v0, v1))
    d = d0 + (np.asarray(x, dtype=float) - v0) * ((d1 - d0) / (v1 - v0))
    return np.floor(d).astype(np.int64), np.abs(d - np.round(d)) < 1e-6, (int(np.floor(d0)), int(np.ceil(d1)) - 1)


def assert_pixel_extremes(pw, x_all, y_all, x_kept, y_kept):
    """Each device pixel column the x range shown covers keeps exactly the min and max of the data drawn in it."""
    col, unsure, (c0, c1) = pixel_columns(pw, x_all)
    inside = (col >= c0) & (col <= c1)
    cols, inv = np.unique(col[inside], return_inverse=True)
    tmin, tmax = np.full(len(cols), np.inf), np.full(len(cols), -np.inf)
    np.minimum.at(tmin, inv, y_all[inside])
    np.maximum.at(tmax, inv, y_all[inside])
    kcol = pixel_columns(pw, x_kept)[0]
    k = np.isin(kcol, cols)
    kinv = np.searchsorted(cols, kcol[k])
    kmin, kmax = np.full(len(cols), np.inf), np.full(len(cols), -np.inf)
    np.minimum.at(kmin, kinv, y_kept[k])
    np.maximum.at(kmax, kinv, y_kept[k])
    sure = ~np.isin(np.arange(len(cols)), inv[unsure[inside]])
    assert len(cols) > 100 and sure.sum() > 0.99 * len(cols)
    np.testing.assert_array_equal(kmin[sure], tmin[sure])
    np.testing.assert_array_equal(kmax[sure], tmax[sure])


def test_million_points(plots, qtbot):
    n = 1_000_000
    st = million_state(n)
    w = plots(st)
    w.show()
    w.redraw_now()
    qtbot.wait(50)
    loss = st.steps.view("loss")
    ok = np.isfinite(loss) & (loss > 0)
    steps = st.steps.view("step")
    assert w.masked_label.text().startswith("1000 ")
    # decimated before pyqtgraph sees it: a few points per pixel column, all of them real data points
    x, y = data(w.loss_raw)
    width = w.plot_widgets()["loss"].getPlotItem().getViewBox().width()
    assert 2 * width < len(x) < 2 * 8 * (width + 2) + 4 and (y > 0).all()
    assert (np.diff(x) > 0).all()
    np.testing.assert_array_equal(y, loss[x.astype(int) - 1])
    assert x[0] == steps[ok][0] and x[-1] == n                      # first and last point kept
    # ... and every pixel column keeps the extremes of the data drawn in it
    assert_pixel_extremes(w.plot_widgets()["loss"], steps[ok], loss[ok], x, y)
    # the EMA: its values at the points kept are the full-resolution EMA's, and its pixel extremes too
    full_ema = smooth(loss[ok], 0.9)
    xe, ye = data(w.loss_ema)
    assert len(xe) < 2 * (width + 2) + 4 and xe[0] == steps[ok][0] and xe[-1] == n
    np.testing.assert_array_equal(ye, full_ema[np.searchsorted(steps[ok], xe)])
    assert_pixel_extremes(w.plot_widgets()["loss"], steps[ok], full_ema, xe, ye)
    tx, ty = data(w.tps_curve)
    assert len(tx) < 2 * (w.plot_widgets()["throughput"].width() + 2) + 4 and tx[-1] == n
    assert_pixel_extremes(w.plot_widgets()["throughput"], steps, st.steps.view("tokens_per_s"), tx, ty)
    lx, ly = data(w.lr_curve)
    assert lx[0] == 1 and lx[-1] == n and (ly == 1e-4).all()
    # pyqtgraph's own downsampling / clipping stay off: they would thin the curves further
    for item in (w.loss_raw, w.loss_ema, w.lr_curve, w.tps_curve):
        assert not item.opts["autoDownsample"] and not item.opts["clipToView"]
        assert len(item.getData()[0]) == len(data(item)[0])
    # appending a few more points keeps the incremental EMA consistent with the tail
    st.ingest_many([{"event": "step", "step": n + 1, "elapsed": n + 1.0, "progress": 0.5, "loss": 2.5}])
    w.redraw_now()
    xe, ye = data(w.loss_ema)
    assert xe[-1] == n + 1 and ye[-1] == pytest.approx(0.9 * full_ema[-1] + 0.1 * 2.5, rel=1e-12)


def test_million_points_zoom(plots, qtbot):
    n = 1_000_000
    st = million_state(n)
    w = plots(st)
    w.show()
    w.redraw_now()
    qtbot.wait(20)
    loss = st.steps.view("loss")
    ok = np.isfinite(loss) & (loss > 0)
    steps = st.steps.view("step")
    pw = w.plot_widgets()["loss"]
    vb = pw.getPlotItem().getViewBox()
    # zoomed to 60,000 steps: cut again for what is shown, and one point beyond each side
    vb.setXRange(200_000, 260_000, padding=0)
    qtbot.wait(20)
    x, y = data(w.loss_raw)
    assert x[0] < 200_000 <= x[1] and x[-2] <= 260_000 < x[-1] and len(x) < 2 * 8 * (vb.width() + 2) + 4
    np.testing.assert_array_equal(y, loss[x.astype(int) - 1])
    assert_pixel_extremes(pw, steps[ok], loss[ok], x, y)
    # zoomed to 10,000 steps: every point shown
    vb.setXRange(200_000, 210_000, padding=0)
    qtbot.wait(20)
    x, y = data(w.loss_raw)
    shown = ok & (steps >= x[0]) & (steps <= x[-1])
    np.testing.assert_array_equal(x, steps[shown])
    np.testing.assert_array_equal(y, loss[shown])
    assert x[0] < 200_000 and x[-1] > 210_000 and len(x) < 10_000 + 40    # and one point beyond each side
    xe, ye = data(w.loss_ema)
    np.testing.assert_array_equal(ye, ema(loss[ok], 0.9)[np.searchsorted(steps[ok], xe)])
    # auto-range again: all of it
    vb.enableAutoRange()
    qtbot.waitUntil(lambda: data(w.loss_raw)[0][-1] == n and data(w.loss_raw)[0][0] == steps[ok][0],
                    timeout=2000)
    assert vb.viewRange()[0][0] < steps[ok][0] and vb.viewRange()[0][1] > n


def test_million_points_export_and_fallbacks(plots, qtbot, tmp_path, monkeypatch):
    n = 200_000
    st = million_state(n)
    w = plots(st)
    w.show()
    w.redraw_now()
    qtbot.wait(20)
    before = [data(c) for c in (w.loss_raw, w.loss_ema)]
    # an export is cut for the image's (finer) pixels, the screen's curves come back afterwards
    seen = []
    real = plot_export.plot_to_png

    def spy(pw, path):
        seen.append(len(data(w.loss_raw)[0]))
        real(pw, path)
    monkeypatch.setattr(plot_export, "plot_to_png", spy)
    w.export_png("loss", tmp_path / "loss.png")
    assert not QImage(str(tmp_path / "loss.png")).isNull()
    assert seen[0] > 1.5 * len(before[0][0])
    for (x0, y0), c in zip(before, (w.loss_raw, w.loss_ema)):
        x1, y1 = data(c)
        np.testing.assert_array_equal(x1, x0)
        np.testing.assert_array_equal(y1, y0)
    # transforms of the plot menu need every point: pyqtgraph gets them all (and its own downsampling)
    ok = st.steps.view("loss") > 0
    pi = w.plot_widgets()["loss"].getPlotItem()
    pi.ctrl.derivativeCheck.setChecked(True)
    assert len(data(w.loss_raw)[0]) == ok.sum() and w.loss_raw.opts["autoDownsample"]
    pi.ctrl.derivativeCheck.setChecked(False)
    assert len(data(w.loss_raw)[0]) < n / 10 and not w.loss_raw.opts["autoDownsample"]
    # x not sorted (training time restarting): no decimation by x range, every point to pyqtgraph
    st.steps.view("elapsed")[n // 2:] -= n / 2
    w.set_x_axis("elapsed")
    x, _ = data(w.loss_raw)
    assert len(x) == ok.sum() and w.loss_raw.opts["autoDownsample"] and not w.loss_raw.opts["clipToView"]
    w.set_x_axis("step")
    assert len(data(w.loss_raw)[0]) < n / 10


def test_decimate_matches_brute_force():
    rng = np.random.default_rng(7)
    for trial in range(40):
        n = int(rng.choice([20_500, 50_000, 120_001]))
        x = np.cumsum(rng.integers(0, 3, n)).astype(float) if trial % 2 else np.arange(n) * 0.5
        y = rng.normal(size=n) if trial % 3 else np.round(rng.normal(size=n))      # ties too
        t = _Track()
        for part in np.array_split(y, 1 + trial % 3):
            t.extend(part)
        x0 = x[0] + (x[-1] - x[0]) * rng.uniform(-0.1, 0.4)
        x1 = x[-1] - (x[-1] - x[0]) * rng.uniform(-0.1, 0.4)
        edges = np.linspace(x0, x1, int(rng.choice([7, 300, 1500, 30_000])) + 1)
        lo, hi = np.searchsorted(x, x0, "left"), np.searchsorted(x, x1, "right")
        col = np.clip(np.searchsorted(edges, x[lo:hi], "right") - 1, 0, len(edges) - 2)
        for over in (1, 8):
            got = decimate(x, t, edges, over)
            if hi - lo <= DECIMATE_ABOVE:
                assert got == slice(max(lo - 1, 0), min(hi + 1, n))
                continue
            assert (np.diff(got) > 0).all() and got[0] == max(lo - 1, 0) and got[-1] == min(hi, n - 1)
            assert lo in got and hi - 1 in got
            if over == 1:             # exactly: the first min and the first max of each column, and the ends
                want = {max(lo - 1, 0), lo, hi - 1, min(hi, n - 1)}
                for c in np.unique(col):
                    i = np.flatnonzero(col == c) + lo
                    want |= {i[np.argmin(y[i])], i[np.argmax(y[i])]}
                np.testing.assert_array_equal(got, sorted(want))
            else:                     # runs inside columns: the columns' extremes are kept
                inside = got[(got >= lo) & (got < hi)]
                for c in rng.choice(np.unique(col), 50):
                    i = np.flatnonzero(col == c) + lo
                    k = inside[col[inside - lo] == c]
                    assert y[k].min() == y[i].min() and y[k].max() == y[i].max()


@pytest.mark.parametrize("alpha", [0.3, 0.9, 0.999])
def test_ema_long_series_matches_loop(alpha):
    x = np.exp(np.random.default_rng(3).normal(size=100_003))
    np.testing.assert_allclose(ema(x, alpha), ref_ema(x, alpha), rtol=1e-12)
    out = np.empty(len(x) - 1)
    assert ema(x[1:], alpha, init=x[0], out=out) is out
    np.testing.assert_allclose(out, ref_ema(x, alpha)[1:], rtol=1e-12)


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
    sched = {"name": "linear", "warmup": 0.1, "peak_lr": 1e-3, "total_steps": 400}    # as the engine sends it
    st = RunState()
    st.ingest({"event": "started", "budget_seconds": 1000.0, "schedule": sched, "step": 0,
               "config": {"budget": {"seconds": 1000.0, "max_steps": 400}}})
    st.ingest_many([{"event": "step", "step": i, "elapsed": 2.0 * i, "progress": i / 400, "loss": 1.0,
                     "lr": 1e-3} for i in range(1, 101)])
    w = plots(st)
    w.redraw_now()
    x, y = data(w.lr_planned)
    assert x[0] == pytest.approx(100) and x[-1] == pytest.approx(400)
    np.testing.assert_allclose(y, lr(sched, 2.0 * x / 1000.0, x))
    w.set_x_axis("elapsed")
    x2, _ = data(w.lr_planned)
    assert x2[-1] == pytest.approx(800.0)         # 2 s per step extrapolated
