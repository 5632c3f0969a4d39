"""`python -m bench all|train|beam|bleu-budget|budget|gui|gpu [--long]`: the speed benchmarks (issue 5);
`python -m bench faults --trials N`: fault injection (issue 10, bench/faults.py; not part of `all`).
`python -m bench cram [--tasks builtin,ruby] [--budget 120,600] [--threads 1] [--seeds 3] [--busy 1]`: test BLEU-4
above the constant floor at fixed CPU budgets (issue 14, bench/cram.py; not part of `all`).

  all          items 1-5 (about 8 minutes on a 2-core CPU); prints the table, writes bench/out/latest.json
  train        1. training throughput, engine step vs the original recipe's padded step
  beam         2. beam-10 decoding, batched KV-cache beam vs one-at-a-time, no-cache
  bleu-budget  3. test BLEU after the smoke preset's budget (120 s), engine vs reference mode
  budget       4. time-budget adherence (30 s and 2 min; --long adds 10 min)
  gui          5. GUI event-loop lateness, 1M-point redraw, cold start
  gpu          6. CodeBERT-shaped GPU throughput / MFU / beam (skips without a CUDA device)
--long adds the opt-in parts: 10-minute budgets for items 3 and 4, and more steps / examples for 1 and 2.
"""
from __future__ import annotations

import argparse
import sys
import time
import traceback

from . import common  # noqa: F401  (sets OMP_WAIT_POLICY etc. before torch is imported)
from .common import ItemResult, Row, loadavg, log, table, write_results

ITEMS = ("train", "beam", "bleu-budget", "budget", "gui", "gpu")


def _item(name: str, fn) -> ItemResult:
    before = loadavg()
    t0 = time.perf_counter()
    try:
        res = fn()
    except Exception as e:
        traceback.print_exc()
        res = ItemResult(name, rows=[Row(name, "FAILED", None, note=f"{type(e).__name__}: {e}", passed=False)])
    res.seconds = time.perf_counter() - t0
    res.load_before, res.load_after = before, loadavg()
    log(f"{name}: {res.seconds:.0f}s, load {before} -> {res.load_after}")
    return res


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("all",) + ITEMS + ("faults", "cram"))
    ap.add_argument("--long", action="store_true", help="also the opt-in parts (10-minute budgets)")
    ap.add_argument("--retrain", action="store_true", help="beam: train the beam model again (else reused)")
    ap.add_argument("--model", help="beam: use this checkpoint folder instead of training one")
    ap.add_argument("--steps", type=int, default=None, help="train: steps per side (default 9, --long 30)")
    args, rest = ap.parse_known_args(argv)

    if args.what == "faults":
        from . import faults

        return faults.main(rest)

    if args.what == "cram":
        from . import cram

        return cram.main(rest)

    if args.what == "gpu":
        from . import gpu

        return gpu.main(rest)

    t_all = time.perf_counter()
    results: list[ItemResult] = []
    long = args.long
    keep: dict = {}

    def train():
        from . import train_throughput

        steps = args.steps or (30 if long else 9)
        return train_throughput.run(steps=steps, rounds=3)

    def bleu(seconds):
        def go():
            from . import bleu_budget

            return bleu_budget.run(seconds, keep=keep if seconds == 120 else None)

        return go

    def budget():
        from . import budget as budget_mod

        plan = [(30.0, "tiny"), (120.0, "tiny"), (30.0, "small")]
        if long:
            plan += [(120.0, "small"), (600.0, "tiny")]
        reuse = {120.0: keep["engine"]} if "engine" in keep else None
        return budget_mod.run(plan, reuse=reuse)

    def beam():
        from . import beam as beam_mod

        if long:  # a 10-minute model (lr 1e-3: the smoke preset's 2e-3 collapses the encoder) predicts more variety
            return beam_mod.run(n=192, retrain=args.retrain, model_path=args.model, model_seconds=600.0, lr=1e-3,
                                prefer_item3=False)
        return beam_mod.run(n=96, retrain=args.retrain, model_path=args.model)

    def gui():
        from . import gui as gui_mod

        return gui_mod.run()

    plan = {"train": [("train", train)], "beam": [("beam", beam)],
            "bleu-budget": [("bleu-budget-120s", bleu(120))] + ([("bleu-budget-600s", bleu(600))] if long else []),
            "budget": [("budget", budget)], "gui": [("gui", gui)]}
    # `all`: item 3 before 4 (its 2-minute engine run is item 4's 2-minute point) and before 2
    order = ["train", "bleu-budget", "budget", "beam", "gui"] if args.what == "all" else [args.what]
    for what in order:
        for name, fn in plan[what]:
            log(f"=== {name} ===")
            results.append(_item(name, fn))
    results.sort(key=lambda r: r.rows[0].item if r.rows else "")
    if args.what == "all":
        from . import gpu

        import torch

        if not torch.cuda.is_available():
            results.append(ItemResult("gpu", rows=[Row("6 gpu", "skipped: no CUDA device", None,
                                                       note="run `python -m bench gpu` on a GPU machine")]))
    total = time.perf_counter() - t_all
    path = write_results(results, argv, total)
    print()
    print(table(results))
    print(f"\ntotal {total / 60:.1f} min; load average now {loadavg()}; results in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
