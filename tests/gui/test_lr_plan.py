"""The planned-LR line equals the engine's LR: for every schedule and every limit kind (time budget, max_steps,
max_epochs), the console's planned curve (RunState fed a `started` event and steps, drawn by TrainingPlots) has at
each point the value engine.contract.schedule.lr_factor (what engine/train.py trains with) gives at that point's
progress and step."""
from __future__ import annotations

import math

import numpy as np
import pytest

from cramgui.lr_plan import planned_lr
from cramgui.plots import TrainingPlots
from cramgui.run_state import RunState
from engine.contract import config as ec
from engine.contract.schedule import SCHEDULES, STEP_BASED, lr_factor

PEAK = 2e-3
WARMUP = 0.1


def engine_total_steps(cfg: ec.RunConfig, n_train: int) -> int:
    """budget.max_steps, else budget.max_epochs times the steps per epoch, else 0 (as engine.session.step_counts,
    which imports torch)."""
    per_epoch = max(1, math.ceil(n_train / (cfg.train.batch_size * cfg.train.grad_accum)))
    b = cfg.budget
    return b.max_steps or (int(math.ceil(b.max_epochs * per_epoch)) if b.max_epochs else 0)


def run_config(schedule: str, limit: str) -> ec.RunConfig:
    cfg = ec.RunConfig()
    cfg.train.schedule, cfg.train.lr, cfg.train.warmup, cfg.train.batch_size = schedule, PEAK, WARMUP, 10
    cfg.train.decay, cfg.train.lr_floor = 0.3, 0.1     # budget-wsd: not the defaults, so they must travel
    cfg.budget.seconds = 200.0
    if limit == "max_steps":
        cfg.budget.max_steps = 120           # reached before the budget (1 s per step)
    elif limit == "max_epochs":
        cfg.budget.max_epochs = 1.5          # 1000 examples / 10 per step -> 150 steps, before the budget
    return cfg


def started_event(cfg: ec.RunConfig, n_train: int = 1000) -> dict:
    """The `started` event as the engine writes it (its schedule record)."""
    return {"event": "started", "step": 0, "elapsed": 0.0, "budget_seconds": cfg.budget.seconds,
            "config": cfg.to_dict(), "n_train": n_train,
            "schedule": {"name": cfg.train.schedule, "warmup": cfg.train.warmup, "peak_lr": cfg.train.lr,
                         "total_steps": engine_total_steps(cfg, n_train), "decay": cfg.train.decay,
                         "floor": cfg.train.lr_floor}}


def engine_lr(cfg: ec.RunConfig, total: int, progress, step):
    return cfg.train.lr * lr_factor(cfg.train.schedule, progress, step, total, cfg.train.warmup,
                                    decay=cfg.train.decay, floor=cfg.train.lr_floor)


def steps(cfg, total, n, seconds_per_step):
    out = []
    for i in range(1, n + 1):
        el = i * seconds_per_step
        out.append({"event": "step", "step": i, "elapsed": el, "progress": el / cfg.budget.seconds, "loss": 2.0,
                    "lr": engine_lr(cfg, total, (el - seconds_per_step) / cfg.budget.seconds, i - 1)})
    return out


def curve(item):
    x, y = item.getOriginalDataset()
    return (np.empty(0), np.empty(0)) if x is None else (np.asarray(x), np.asarray(y))


CASES = [(s, limit) for s in SCHEDULES for limit in ("time", "max_steps", "max_epochs")
         if not (s in STEP_BASED and limit == "time")]          # a step-based schedule needs a step limit


@pytest.mark.parametrize("schedule,limit", CASES)
def test_planned_lr_equals_the_engines_lr(qtbot, schedule, limit):
    cfg = run_config(schedule, limit)
    assert not ec.validate(cfg)
    ev = started_event(cfg)
    total = ev["schedule"]["total_steps"]
    budget = cfg.budget.seconds
    st = RunState()
    st.ingest(ev)
    st.ingest_many(steps(cfg, total, 40, 1.0))          # 40 steps in 40 s: 1 s per step
    w = TrainingPlots(st)
    qtbot.addWidget(w)
    w.resize(900, 600)
    w.redraw_now()

    x, y = curve(w.lr_planned)                           # x = optimizer step
    assert len(x) > 100
    end = min(total or math.inf, 40 + (budget - 40.0) / 1.0)
    assert x[0] == pytest.approx(40) and x[-1] == pytest.approx(end)
    elapsed = x * 1.0                                    # extrapolated at the run's 1 s per step
    np.testing.assert_allclose(y, engine_lr(cfg, total, elapsed / budget, x), rtol=1e-12, atol=1e-15)
    # budget-wsd holds its peak until the last train.decay of the budget: a step limit that ends the run long
    # before then plans a flat line (what the engine trains with, checked above)
    assert np.ptp(y) > 0 or schedule == "constant" or (schedule == "budget-wsd" and limit != "time")

    w.set_x_axis("elapsed")
    xe, ye = curve(w.lr_planned)                         # x = training seconds
    assert xe[0] == pytest.approx(40.0) and xe[-1] == pytest.approx(end * 1.0)
    np.testing.assert_allclose(ye, engine_lr(cfg, total, xe / budget, xe / 1.0), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_planned_lr_before_the_first_step(schedule):
    """No step yet, so no seconds per step: a budget schedule is drawn on the time axis, a step-based one on the
    step axis, each from the start to its limit, with the engine's values."""
    cfg = run_config(schedule, "max_steps")
    ev = started_event(cfg)
    total = ev["schedule"]["total_steps"]
    sx, sy = planned_lr(ev["schedule"], 0, 0.0, cfg.budget.seconds, "step")
    ex, ey = planned_lr(ev["schedule"], 0, 0.0, cfg.budget.seconds, "elapsed")
    if schedule in STEP_BASED:
        assert sx[0] == 0 and sx[-1] == total and len(ex) == 0
        np.testing.assert_allclose(sy, engine_lr(cfg, total, 0.0, sx), rtol=1e-12)
    elif schedule == "constant":                          # needs neither coordinate
        np.testing.assert_allclose(sy, PEAK)
        np.testing.assert_allclose(ey, PEAK)
    else:
        assert len(sx) == 0 and ex[0] == 0 and ex[-1] == cfg.budget.seconds
        np.testing.assert_allclose(ey, engine_lr(cfg, total, ex / cfg.budget.seconds, 0), rtol=1e-12)


def test_code2nl_paper_preset_has_a_planned_line(qtbot):
    """The linear schedule with an epoch limit: the engine's record carries total_steps (there is no max_steps)."""
    cfg = ec.preset("code2nl-paper")
    assert cfg.train.schedule == "linear" and cfg.budget.max_epochs and not cfg.budget.max_steps
    ev = started_event(cfg, n_train=1000)                # 32 per step -> 32 steps per epoch, 10 epochs
    total = ev["schedule"]["total_steps"]
    assert total == 320
    st = RunState()
    st.ingest(ev)
    st.ingest_many(steps(cfg, total, 50, 10.0))          # 10 s per step: the epochs end long before 10 hours
    w = TrainingPlots(st)
    qtbot.addWidget(w)
    w.redraw_now()
    x, y = curve(w.lr_planned)
    assert x[0] == pytest.approx(50) and x[-1] == pytest.approx(320)
    np.testing.assert_allclose(y, engine_lr(cfg, total, 10.0 * x / cfg.budget.seconds, x), rtol=1e-12)
    assert y[-1] == pytest.approx(0.0, abs=1e-12)
    # the actual LR (what the engine logged) runs into the plan
    ax, ay = curve(w.lr_curve)
    assert ay[-1] == pytest.approx(engine_lr(cfg, total, 0.0, 49)) and y[0] == pytest.approx(engine_lr(cfg, total,
                                                                                                      0.0, 50))


def test_untrusted_schedule_records_draw_nothing():
    for sched in (None, "x", {}, {"name": "warp"}, {"name": "linear", "peak_lr": "1e-3"},
                  {"name": "constant", "peak_lr": float("nan")}):
        assert len(planned_lr(sched, 10, 10.0, 100.0, "step")[0]) == 0
    x, y = planned_lr({"name": "linear", "peak_lr": 1.0, "total_steps": "lots", "warmup": "x"}, 10, 10.0, 100.0,
                      "step")                            # bad total_steps: the time budget still ends the line
    assert x[-1] == pytest.approx(100.0)
