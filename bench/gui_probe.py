"""GUI measurements, each run in a fresh process (`python -m bench.gui_probe WHAT [options]`) that prints one JSON
line on stdout. Offscreen Qt (QT_QPA_PLATFORM=offscreen). Never imports torch.

  lateness   a 10 ms QTimer's lateness while the console window ingests events from the scripted fake engine
             (tests/gui/fake_engine.py) through cramgui.worker.EngineWorker at a given rate
  redraw     TrainingPlots.redraw_now() + grab() (a forced full paint) with an N-point loss curve and its EMA
  coldstart  process start -> the cramgui main window shown and painted (the steps of cramgui.app.main, then quit)
"""
from __future__ import annotations

import time

T_PROCESS = time.time()  # as early as possible: cold start counts from the parent's spawn, this is a cross-check

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
FAKE_ENGINE = ROOT / "tests" / "gui" / "fake_engine.py"


def _stats(xs_ms: list[float]) -> dict:
    import numpy as np

    a = np.asarray(xs_ms, dtype=float)
    if not len(a):
        return {"n": 0}
    return {"n": int(len(a)), "p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99)),
            "max_ms": float(a.max()), "mean_ms": float(a.mean())}


# -- event-loop lateness ----------------------------------------------------------------------------------------------
def lateness(rate: float, seconds: float, interval_ms: int = 10) -> dict:
    import asyncio

    import qasync
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from cramgui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    tmp = Path(tempfile.mkdtemp(prefix="bench-gui-"))
    win = MainWindow(runs_dir=tmp / "runs", engine_command=[sys.executable, str(FAKE_ENGINE)])
    win.resize(1280, 800)
    win.show()
    if hasattr(win, "select_tab"):
        win.select_tab("training")
    n_events = int(rate * seconds)
    run_dir = tmp / "runs" / "fake-run"
    run_dir.mkdir(parents=True)
    args = ["train", "--jsonl", "--events", str(n_events), "--rate", str(rate), "--run-dir", str(run_dir)]

    ticks: list[float] = []
    received = {"n": 0, "first": None, "last": None, "batches": 0}
    done = {"finished": False}

    def on_events(evs):
        now = time.perf_counter()
        received["n"] += sum(1 for e in evs if e.get("event") == "step")
        received["batches"] += 1
        received["first"] = received["first"] or now
        received["last"] = now

    def on_tick():
        ticks.append(time.perf_counter())

    def on_finished(code, _tail):
        done["finished"] = True
        done["code"] = code
        QTimer.singleShot(300, loop.stop)

    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(interval_ms)
    timer.timeout.connect(on_tick)
    win.session.worker.events.connect(on_events)
    win.session.worker.finished.connect(on_finished)

    def start():
        timer.start()
        launch = getattr(win, "_launch", None)
        win.state.clear()
        win.state.run_dir = str(run_dir)
        if launch is not None:
            launch(args, run_dir, "$ fake engine (bench)")
        else:
            win.session.worker.start(args, run_dir)

    QTimer.singleShot(200, start)
    QTimer.singleShot(int((seconds + 30) * 1000), loop.stop)  # safety net
    with loop:
        loop.run_forever()
    timer.stop()
    # lateness of each tick = gap beyond the interval, over the window in which events were arriving
    t0, t1 = received["first"], received["last"]
    late = []
    if t0 is not None:
        for a, b in zip(ticks, ticks[1:]):
            if b >= t0 and a <= t1:
                late.append(max(0.0, (b - a) * 1000.0 - interval_ms))
    span = (t1 - t0) if (t0 is not None and t1 is not None and t1 > t0) else None
    out = {"what": "lateness", "rate_requested": rate, "seconds": seconds, "interval_ms": interval_ms,
           "step_events_received": received["n"], "signal_batches": received["batches"],
           "events_per_s": (received["n"] / span) if span else None, "exit_code": done.get("code"),
           "lateness": _stats(late), "steps_in_state": len(win.state.steps),
           "torch_imported": "torch" in sys.modules}
    win.shutdown_now() if hasattr(win, "shutdown_now") else None
    return out


# -- full redraw of a long curve ---------------------------------------------------------------------------------
def redraw(points: int, repeats: int) -> dict:
    import numpy as np
    from PySide6.QtWidgets import QApplication

    from cramgui.plots import TrainingPlots
    from cramgui.run_state import RunState

    app = QApplication.instance() or QApplication(sys.argv[:1])
    state = RunState()
    state.ingest({"v": 1, "event": "started", "budget_seconds": points * 0.01, "step": 0, "elapsed": 0.0,
                  "schedule": {"name": "budget-triangle", "warmup": 0.0, "peak_lr": 1e-3}, "config": {}})
    t = time.perf_counter()
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.05, points)
    chunk = 2000
    for lo in range(0, points, chunk):
        evs = [{"v": 1, "event": "step", "step": i + 1, "elapsed": (i + 1) * 0.01, "progress": (i + 1) / points,
                "loss": float((5.0 * math.exp(-i / (points / 5)) + 0.1) * math.exp(noise[i])), "lr": 1e-3,
                "tokens_per_s": 1e5 + (i % 977)} for i in range(lo, min(points, lo + chunk))]
        state.ingest_many(evs)
    ingest_s = time.perf_counter() - t
    plots = TrainingPlots(state)
    plots.resize(1280, 800)
    plots.show()
    app.processEvents()

    def measure(prepare) -> tuple[float, float]:
        prepare()
        t0 = time.perf_counter()
        plots.redraw_now()
        t1 = time.perf_counter()
        plots.grab()            # forces the paint of every plot at the widget's size
        t2 = time.perf_counter()
        app.processEvents()
        return (t1 - t0) * 1000.0, (t2 - t1) * 1000.0

    first = measure(lambda: None)  # EMA of all points computed from scratch, first paint
    full, incr = [], []
    alphas = [0.9, 0.95]
    for k in range(repeats):
        # a full redraw: EMA of all points recomputed (smoothing changed), every curve re-set, full paint
        a = alphas[k % 2]
        full.append(measure(lambda a=a: setattr(plots, "alpha", a)))
    n = points
    for _ in range(repeats):
        # the live case: 100 new steps arrive, then a redraw (EMA extended incrementally) and a paint
        evs = [{"v": 1, "event": "step", "step": n + j + 1, "elapsed": (n + j + 1) * 0.01,
                "progress": min(1.0, (n + j + 1) / points), "loss": 0.1, "lr": 1e-3, "tokens_per_s": 1e5}
               for j in range(100)]
        n += 100
        incr.append(measure(lambda evs=evs: state.ingest_many(evs)))
    tot = lambda xs: [a + b for a, b in xs]
    return {"what": "redraw", "points": points, "repeats": repeats, "ingest_s": ingest_s,
            "first": {"redraw_ms": first[0], "paint_ms": first[1], "total_ms": sum(first)},
            "full": {"redraw": _stats([a for a, _ in full]), "paint": _stats([b for _, b in full]),
                     "total": _stats(tot(full))},
            "incremental": {"redraw": _stats([a for a, _ in incr]), "paint": _stats([b for _, b in incr]),
                            "total": _stats(tot(incr))},
            "torch_imported": "torch" in sys.modules}


# -- cold start -------------------------------------------------------------------------------------------------------
def coldstart() -> dict:
    """The steps of cramgui.app.main (QApplication, qasync loop, MainWindow, initial tab, show), then quit at the
    first paint of the window. Times are wall-clock (time.time()) so the parent can subtract its spawn time."""
    import asyncio

    t_imp0 = time.time()
    import qasync
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    from cramgui import main_window as mw
    t_imp1 = time.time()

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("cramgui")
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    tmp = Path(tempfile.mkdtemp(prefix="bench-cold-"))
    win = mw.MainWindow(runs_dir=tmp / "runs")
    if hasattr(mw, "select_initial_tab"):
        mw.select_initial_tab(win)
    t_built = time.time()
    marks = {}

    class FirstPaint(QObject):
        def eventFilter(self, obj, ev):
            if ev.type() == QEvent.Type.Paint and "painted" not in marks:
                marks["painted"] = time.time()
                QTimer.singleShot(0, loop.stop)
            return False

    filt = FirstPaint()
    app.installEventFilter(filt)
    win.show()
    t_show = time.time()
    QTimer.singleShot(10000, loop.stop)
    with loop:
        loop.run_forever()
    marks.setdefault("painted", None)
    out = {"what": "coldstart", "t_process": T_PROCESS, "t_imports_done": t_imp1, "imports_s": t_imp1 - t_imp0,
           "t_window_built": t_built, "t_show": t_show, "t_painted": marks["painted"],
           "torch_imported": "torch" in sys.modules}
    app.removeEventFilter(filt)
    if hasattr(win, "shutdown_now"):
        win.shutdown_now()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["lateness", "redraw", "coldstart"])
    ap.add_argument("--rate", type=float, default=2000.0)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=7)
    a = ap.parse_args(argv)
    if a.what == "lateness":
        out = lateness(a.rate, a.seconds)
    elif a.what == "redraw":
        out = redraw(a.points, a.repeats)
    else:
        out = coldstart()
    sys.stdout.write("BENCH-JSON " + json.dumps(out) + "\n")
    sys.stdout.flush()
    os._exit(0)  # skip Qt teardown (not part of any measurement)


if __name__ == "__main__":
    raise SystemExit(main())
