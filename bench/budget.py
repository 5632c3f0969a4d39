"""Item 4: time-budget adherence: how far the actual training time lands from the budget.

Two measures per run:
  clock  the `done` event's `elapsed` (the engine's BudgetClock: training time, dev evals and checkpoints excluded)
  wall   an independent wall clock: perf_counter stamps of the first and the last `step` event, plus the first step
         event's own `elapsed` (the time before it), minus the wall time spent in dev evaluation and checkpoint
         writing in between (the budget clock's pauses, recorded by bench.reference.Stamps)
Target: |actual - budget| <= max(2 s, 1 % of the budget).

Runs: the smoke preset (tiny model) with dev evaluation only at the end and no periodic checkpoint; also the
`small` model at 256/128 tokens, whose steps take seconds on a CPU (the engine stops a whole step early or late,
within half a step of the budget, so step length bounds what is reachable). The 2-minute point of `python -m bench
all` is item 3's engine run (which has dev evals and checkpoints, so the pause accounting is exercised too).
"""
from __future__ import annotations

import shutil

from .common import OUT, ItemResult, Row, log


def tolerance(budget: float) -> float:
    return max(2.0, 0.01 * budget)


def _merge(intervals):
    """Union of possibly nested intervals (a checkpoint is written inside a dev evaluation)."""
    out = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out


def analyze(stamped, budget: float) -> dict:
    """`stamped`: a bench.reference.Stamps (or anything with its `stamps` and `pauses`) of a finished run."""
    stamps = stamped.stamps
    steps = [(t, ev) for t, ev in stamps if ev["event"] == "step"]
    done = [ev for _, ev in stamps if ev["event"] == "done"][-1]
    (t_first, ev_first), (t_last, _) = steps[0], steps[-1]
    paused = sum(max(0.0, min(b, t_last) - max(a, t_first)) for a, b in _merge(stamped.pauses))
    wall = (t_last - t_first) + ev_first["elapsed"] - paused
    tol = tolerance(budget)
    times = [ev["elapsed"] for _, ev in steps]
    n_steps = done["step"]
    return {"budget_s": budget, "done_elapsed_s": done["elapsed"], "wall_train_s": wall,
            "clock_error_s": done["elapsed"] - budget, "wall_error_s": wall - budget, "tolerance_s": tol,
            "steps": n_steps, "mean_step_s": done["elapsed"] / max(1, n_steps), "paused_s": paused,
            "last_step_elapsed_s": times[-1] if times else None,
            "passed": abs(done["elapsed"] - budget) <= tol and abs(wall - budget) <= tol}


def config(seconds: float, size: str = "tiny"):
    from engine.contract import config as config_lib

    cfg = config_lib.preset("smoke")
    cfg.name = f"bench-budget-{size}"
    cfg.budget.seconds = seconds
    cfg.eval.every_seconds = 0
    cfg.eval.checkpoint_minutes = 10_000
    cfg.eval.dev_subset = 20
    cfg.eval.samples = 0
    cfg.eval.beam_size = 1
    cfg.data.max_valid = 20
    cfg.data.max_test = 20
    if size != "tiny":
        cfg.model.size, cfg.model.vocab_size = size, 8000
        cfg.data.max_source_len, cfg.data.max_target_len = 256, 128
        cfg.train.lr = 5e-4
    return cfg


def run_budget(seconds: float, size: str = "tiny") -> dict:
    from engine.contract.events import EventWriter

    from .reference import run_stamped

    run_dir = OUT / "runs" / f"budget-{size}-{int(seconds)}s"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    writer = EventWriter(run_dir / "events.jsonl")
    log(f"budget: {size} model, {seconds:.0f}s budget")
    code, stamps = run_stamped(config(seconds, size), run_dir, writer)
    writer.close()
    if code != 0:
        raise RuntimeError(f"budget run failed (exit {code})")
    a = analyze(stamps, seconds)
    a["model"] = size
    log(f"budget: {size} {seconds:.0f}s -> clock {a['done_elapsed_s']:.2f}s, wall {a['wall_train_s']:.2f}s "
        f"(mean step {a['mean_step_s']:.3f}s)")
    return a


def row(a: dict, label: str) -> Row:
    worst = max(abs(a["clock_error_s"]), abs(a["wall_error_s"]))
    return Row("4 budget", f"{label}: |actual-budget| s", worst, None, None,
               f"<= {a['tolerance_s']:.1f}s", worst <= a["tolerance_s"],
               note=f"clock {a['done_elapsed_s']:.2f}s, wall {a['wall_train_s']:.2f}s, "
                    f"mean step {a['mean_step_s']:.3f}s")


def run(budgets=((30.0, "tiny"), (120.0, "tiny"), (30.0, "small")), reuse: dict | None = None) -> ItemResult:
    """`reuse`: {seconds: Stamps} of finished runs (item 3's engine run) to analyse instead of running them again.
    (The "predictive stop" proposal once measured here is the engine's own stop rule since 7f2101e.)"""
    res = ItemResult("budget")
    out = []
    for seconds, size, *_ in budgets:
        if reuse and size == "tiny" and seconds in reuse:
            a = analyze(reuse[seconds], seconds)
            a["model"] = size
            a["reused"] = "item 3 engine run (dev evals + checkpoints paused the clock)"
        else:
            a = run_budget(seconds, size)
        out.append(a)
        res.rows.append(row(a, f"{size} {seconds:.0f}s"))
    res.details = {"runs": out}
    return res
