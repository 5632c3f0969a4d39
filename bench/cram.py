"""`python -m bench cram`: test BLEU-4 ABOVE THE CONSTANT FLOOR at fixed CPU budgets (issue 14).

Smoothed BLEU-4 gives one constant sentence a sizeable score (about 12 on the built-in corpus, 9-10 on CodeXGLUE
Ruby), so every row shows the floor of the same test split -- computed by the engine (engine.floor: the best single
training summary, chosen on dev) and written to results.csv beside BLEU -- and the headline is BLEU above it.

Tasks (each run is a complete `cram train` in its own process, sequentially, with --threads torch threads):
  builtin  the built-in stdlib corpus with the `smoke` preset (--builtin-preset)
  ruby     real CodeXGLUE Ruby: ../shared/data/codexglue/ruby/valid.jsonl (1,400 examples) split by this benchmark,
           seeded, into train 1,200 / dev 100 / test 100, with the `cpu-codexglue` preset (--ruby-preset); skipped
           cleanly when the file is absent (--ruby-file names another one)
  builtin-recipe, ruby-recipe
           the reference rows: the same data, model and budget trained with the original code2nl recipe's
           settings (RECIPE: lr 5e-5, linear decay from the start, AdamW beta2 0.999 without weight decay, dropout
           0.1, 256/128 tokens, beam 10, none of the engine's options)
For --seeds N seeds (train.seed = 1..N) at each --budget; --busy keeps the other core(s) busy with a spinning
process for the whole measurement (the "second core busy" condition). Prints a table (one row per task, budget and
seed, then the median per task and budget) and writes bench/out/latest-cram.json (every run's numbers, the machine
and its load); the run directories stay in bench/out/cram/.
"""
from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from .common import OUT, ROOT, ItemResult, Row, loadavg, log, write_results

RUBY_FILE = ROOT.parent / "shared" / "data" / "codexglue" / "ruby" / "valid.jsonl"
RUBY_SPLIT = {"train": 1200, "valid": 100, "test": 100}
TASKS = ("builtin", "ruby", "builtin-recipe", "ruby-recipe")
# the original code2nl run.py's settings, on top of the task's preset (the model stays the preset's)
RECIPE = ["train.lr=5e-5", "train.schedule=budget-linear", "train.warmup=0", "train.adam_beta2=0.999",
          "train.weight_decay=0", "model.dropout=0.1", "data.max_source_len=256", "data.max_target_len=128",
          "eval.beam_size=10", "eval.no_repeat_ngram=0", "data.split_identifiers=false", "model.norm=post",
          "train.batch_size=32"]


def ruby_folder(src: Path, dest: Path, seed: int = 0) -> Path | None:
    """A CodeXGLUE folder DEST/ruby/{train,valid,test}.jsonl cut from `src` (seeded shuffle, RUBY_SPLIT sizes);
    None when `src` is absent or too short."""
    if not src.is_file():
        return None
    lines = [ln for ln in src.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if len(lines) < sum(RUBY_SPLIT.values()):
        log(f"{src}: {len(lines)} lines, fewer than the {sum(RUBY_SPLIT.values())} the split needs")
        return None
    random.Random(seed).shuffle(lines)
    out = dest / "ruby"
    out.mkdir(parents=True, exist_ok=True)
    start = 0
    for split, n in RUBY_SPLIT.items():
        (out / f"{split}.jsonl").write_text("\n".join(lines[start:start + n]) + "\n", encoding="utf-8")
        start += n
    return dest


def train_once(preset: str, sets: list[str], run_dir: Path, timeout: float) -> dict:
    """One `cram train` run; its test result row (bleu4, floor_bleu4, above_floor, n) and its done event."""
    cmd = [sys.executable, "-m", "engine", "train", "--preset", preset, "--run-dir", str(run_dir)]
    for s in sets:
        cmd += ["--set", s]
    log(" ".join(cmd[1:]))
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"cram train exited {p.returncode}: {p.stderr.strip()[-600:]}")
    from engine.contract.events import read_events
    from engine.contract.rundir import read_results

    rows = [r for r in read_results(run_dir) if r.get("split") == "test"]
    done = [e for e in read_events(run_dir / "events.jsonl") if e.get("event") == "done"]
    r = rows[0] if rows else {}
    d = done[-1] if done else {}
    floor = r.get("floor_bleu4")
    bleu = r.get("bleu4")
    above = r.get("above_floor")
    if above is None and bleu is not None and floor is not None:
        above = bleu - floor
    return {"bleu4": bleu, "floor_bleu4": floor, "above_floor": above, "n": r.get("n"),
            "floor_text": r.get("floor_text"), "steps": d.get("step"), "eval_seconds": d.get("eval_seconds"),
            "best_dev_bleu": d.get("best_dev_bleu"), "wall_seconds": round(wall, 1), "run_dir": str(run_dir)}


class Busy:
    """Spinning processes on the other cores for the duration of a `with` (ended by their own pids)."""

    def __init__(self, n: int):
        self.n, self.procs = n, []

    def __enter__(self):
        for _ in range(self.n):
            self.procs.append(subprocess.Popen([sys.executable, "-c", "while True: pass"]))
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
            p.wait()


def _med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def run(tasks, budgets, threads, seeds, busy: int = 0, builtin_preset: str = "smoke",
        ruby_preset: str = "cpu-codexglue", ruby_file: Path = RUBY_FILE) -> ItemResult:
    base = OUT / "cram" / time.strftime("%Y%m%d-%H%M%S")
    base.mkdir(parents=True, exist_ok=True)
    res = ItemResult("cram", details={"runs": [], "busy_processes": busy, "threads": threads})
    plan = []
    for task in tasks:
        recipe = RECIPE if task.endswith("-recipe") else []
        if task.startswith("builtin"):
            plan.append((task, builtin_preset, recipe))
        else:
            folder = ruby_folder(Path(ruby_file), base / "ruby-data")
            if folder is None:
                log(f"{task}: {ruby_file} is absent: skipped")
                res.rows.append(Row(f"cram {task}", f"skipped: {ruby_file} absent", None))
                continue
            plan.append((task, ruby_preset, [f"data.path={folder}", "data.languages=ruby"] + recipe))
    with Busy(busy):
        for task, preset, sets in plan:
            for budget in budgets:
                got = []
                for seed in range(1, seeds + 1):
                    load0 = loadavg()
                    name = f"{task}-{int(budget)}s-t{threads}-seed{seed}"
                    r = train_once(preset, sets + [f"budget.seconds={budget}", f"hardware.threads={threads}",
                                                   f"train.seed={seed}", f"name={name}"], base / name,
                                   timeout=budget * 4 + 900)
                    r.update(task=task, preset=preset, budget=budget, threads=threads, seed=seed,
                             load_before=load0, load_after=loadavg())
                    res.details["runs"].append(r)
                    got.append(r)
                    res.rows.append(Row(f"cram {task}", f"{preset} {int(budget)}s {threads}t seed {seed}: test BLEU-4",
                                        r["bleu4"], reference=r["floor_bleu4"], ratio=None,
                                        note=f"above floor {r['above_floor']:+.2f}" if r["above_floor"] is not None
                                        else ""))
                    log(f"{name}: BLEU {r['bleu4']} floor {r['floor_bleu4']} above {r['above_floor']} "
                        f"({r['steps']} steps, load {load0} -> {r['load_after']})")
                med = _med([g["above_floor"] for g in got])
                res.rows.append(Row(f"cram {task}", f"{preset} {int(budget)}s {threads}t median of {len(got)} seeds",
                                    _med([g["bleu4"] for g in got]), reference=_med([g["floor_bleu4"] for g in got]),
                                    note=f"above floor {med:+.2f}" if med is not None else ""))
    return res


def table(res: ItemResult) -> str:
    head = ("task", "preset", "budget", "threads", "seed", "test BLEU-4", "floor", "above floor", "steps", "load")
    lines = [head]
    for r in res.details["runs"]:
        lines.append((r["task"], r["preset"], f"{int(r['budget'])} s", str(r["threads"]), str(r["seed"]),
                      _f(r["bleu4"]), _f(r["floor_bleu4"]), _f(r["above_floor"], sign=True), str(r["steps"]),
                      f"{r['load_before'][0] if r['load_before'] else '-'}->"
                      f"{r['load_after'][0] if r['load_after'] else '-'}"))
    groups: dict = {}
    for r in res.details["runs"]:
        groups.setdefault((r["task"], r["preset"], r["budget"], r["threads"]), []).append(r)
    for (task, preset, budget, threads), rs in groups.items():
        if len(rs) > 1:
            lines.append((task, preset, f"{int(budget)} s", str(threads), f"median/{len(rs)}",
                          _f(_med([r["bleu4"] for r in rs])), _f(_med([r["floor_bleu4"] for r in rs])),
                          _f(_med([r["above_floor"] for r in rs]), sign=True), "", ""))
    for row in res.rows:
        if row.metric.startswith("skipped"):
            lines.append((row.item.split()[-1], row.metric, "", "", "", "", "", "", "", ""))
    w = [max(len(x[i]) for x in lines) for i in range(len(head))]
    out = ["  ".join(c.ljust(w[i]) for i, c in enumerate(line)).rstrip() for line in lines]
    out.insert(1, "-" * len(out[0]))
    return "\n".join(out)


def _f(v, sign: bool = False) -> str:
    if v is None:
        return "-"
    return f"{v:+.2f}" if sign else f"{v:.2f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench cram", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", default="builtin,ruby", help="comma-separated: builtin, ruby, builtin-recipe, "
                    "ruby-recipe (default builtin,ruby)")
    ap.add_argument("--budget", default="120", help="training budget(s) in seconds, comma-separated (default 120)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds per task and budget: train.seed 1..N (default 3)")
    ap.add_argument("--busy", type=int, default=0, help="spinning processes kept running meanwhile (1 = the "
                    "second core busy on a 2-core machine)")
    ap.add_argument("--builtin-preset", default="smoke")
    ap.add_argument("--ruby-preset", default="cpu-codexglue")
    ap.add_argument("--ruby-file", type=Path, default=RUBY_FILE)
    args = ap.parse_args(argv)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    bad = [t for t in tasks if t not in TASKS]
    if bad or args.seeds < 1 or args.threads < 1:
        ap.error(f"unknown task(s) {bad}" if bad else "--seeds and --threads must be >= 1")
    budgets = [float(b) for b in args.budget.split(",") if b.strip()]
    t0 = time.perf_counter()
    res = run(tasks, budgets, args.threads, args.seeds, args.busy, args.builtin_preset, args.ruby_preset,
              args.ruby_file)
    res.seconds = time.perf_counter() - t0
    path = write_results([res], ["cram"] + (argv if argv is not None else sys.argv[1:]), res.seconds, name="latest")
    print(table(res))
    print(f"\n{res.seconds / 60:.1f} min; load average now {loadavg()}; results in {path} "
          f"(and {OUT / 'latest-cram.json'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
