"""Budget clock and budget-aware schedules."""
import time

import pytest

from engine.budget import BudgetClock
from engine.contract.schedule import lr_factor


def test_budget_triangle_matches_cramming():
    for x, want in [(0.0, 0.25), (0.5, 0.75), (0.75, 1.0), (0.875, 0.5), (1.0, 0.0)]:
        assert lr_factor("budget-triangle", x) == pytest.approx(want)


def test_budget_linear_warmup_then_decay_to_zero():
    assert lr_factor("budget-linear", 0.05, warmup=0.1) == pytest.approx(0.5)
    assert lr_factor("budget-linear", 0.1, warmup=0.1) == pytest.approx(1.0)
    assert lr_factor("budget-linear", 0.55, warmup=0.1) == pytest.approx(0.5)
    assert lr_factor("budget-linear", 1.0, warmup=0.1) == 0.0


def test_step_linear_and_constant():
    assert lr_factor("constant", 0.9) == 1.0
    assert lr_factor("linear", 0, step=0, total_steps=100, warmup=0.1) == pytest.approx(0.1)
    assert lr_factor("linear", 0, step=55, total_steps=100, warmup=0.1) == pytest.approx(0.5)
    assert lr_factor("linear", 0, step=100, total_steps=100) == 0.0
    with pytest.raises(ValueError):
        lr_factor("cosine", 0.5)


def test_clock_excludes_paused_time_and_resumes_from_elapsed():
    clock = BudgetClock(10.0, elapsed=4.0)
    t0 = time.perf_counter()
    clock.start()
    time.sleep(0.05)
    with clock.paused():
        p0 = time.perf_counter()
        time.sleep(0.2)
        assert not clock.running
        paused = time.perf_counter() - p0
    assert clock.running
    e = clock.elapsed
    wall = time.perf_counter() - t0
    # the running time counts, the paused time does not (bounds from measured wall time: no timing assumption)
    assert 4.05 <= e <= 4.0 + wall - paused + 1e-3
    clock.pause()
    assert clock.progress == pytest.approx(clock.elapsed / 10.0)
    assert not clock.should_stop(step_seconds=1.0)
    assert BudgetClock(1.0, elapsed=0.8).should_stop(step_seconds=0.5)


def test_one_stop_decision_and_its_reasons():
    from engine.contract.config import BudgetConfig
    from engine.distributed import Dist
    from engine.state import TrainState
    from engine.stopping import StopReason, decide

    st = TrainState(step=5, epoch=1)
    clock = BudgetClock(10.0, elapsed=4.0)
    d = decide(st, BudgetConfig(seconds=10.0), clock, 1.0, False, Dist(), "cpu", evaluate_due=True)
    assert (d.stop, d.evaluate, d.checkpoint) == (None, True, False)
    assert decide(st, BudgetConfig(seconds=10.0, max_steps=5), clock, 0.0, False, Dist(), "cpu").stop \
        is StopReason.MAX_STEPS
    assert decide(st, BudgetConfig(seconds=10.0, max_epochs=1), clock, 0.0, False, Dist(), "cpu").stop \
        is StopReason.MAX_EPOCHS
    # within half a step of the budget; a stop signal wins over everything and cancels a due checkpoint
    assert decide(st, BudgetConfig(seconds=10.0), clock, 12.0, False, Dist(), "cpu").stop is StopReason.BUDGET
    d = decide(st, BudgetConfig(seconds=10.0, max_steps=5), clock, 0.0, True, Dist(), "cpu", checkpoint_due=True)
    assert (d.stop, d.checkpoint) == (StopReason.SIGNAL, False)


def test_train_state_round_trips_and_reads_old_checkpoints():
    from engine.state import TrainState

    st = TrainState(step=7, elapsed=3.5, best_dev_bleu=1.25, last_eval_step=7)
    assert TrainState.from_dict(st.to_dict()) == st
    old = {"step": 3, "elapsed": 1.0, "epoch": 0, "batch_in_epoch": 4, "tokens_seen": 10, "best_dev_bleu": None,
           "eval_seconds": 0.5, "examples_seen": 8, "something_removed_later": 1}
    got = TrainState.from_dict(old)
    assert got.step == 3 and got.batch_in_epoch == 4 and got.last_eval_step is None


def test_budget_wsd_warms_up_holds_and_decays_to_its_floor():
    # warm-up 10 %, peak until 70 %, linear down to 0.1 of the peak at 100 %
    kw = dict(warmup=0.1, decay=0.3, floor=0.1)
    assert lr_factor("budget-wsd", 0.05, **kw) == pytest.approx(0.5)
    assert lr_factor("budget-wsd", 0.1, **kw) == pytest.approx(1.0)
    assert lr_factor("budget-wsd", 0.69, **kw) == pytest.approx(1.0)
    assert lr_factor("budget-wsd", 0.85, **kw) == pytest.approx(0.55)
    assert lr_factor("budget-wsd", 1.0, **kw) == pytest.approx(0.1)
    assert lr_factor("budget-wsd", 1.5, **kw) == pytest.approx(0.1)       # progress is clipped to 1
    import numpy as np
    y = lr_factor("budget-wsd", np.linspace(0, 1, 101), **kw)
    assert np.all(np.diff(y[10:]) <= 1e-12) and y.max() == pytest.approx(1.0)
