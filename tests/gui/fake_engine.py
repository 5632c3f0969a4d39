"""A scripted stand-in for `python -m engine train --jsonl`, for the GUI tests.

Speaks the engine's event format on stdout and appends the same lines to RUN_DIR/events.jsonl, every event
built from the contract's typed records (engine.contract.events: Started, Step, ...; encode refuses a field a
record does not declare); logs go to stderr. Accepts the real CLI's arguments (train, --jsonl, --set, --preset,
--run-dir, --runs-dir, --resume) so the console can launch it unchanged, plus behaviour switches:

  --events N            step events to emit (default 20)
  --rate R              events per second (0 = as fast as possible)
  --long-line           also emit a samples event longer than 64 KiB (one line)
  --stderr-noise N      N log lines on stderr, interleaved with the steps
  --crash               after the steps: a traceback on stderr, exit 3 (no done event)
  --error               after the steps: an `error` event with a hint, exit 1
  --data-error          before any step: a `data` error whose message has its own "Hint:", `done` failed, exit 2
  --errors N            N `error` events (a replayed log with many), then `done` failed, exit 1
  --locked              an `error` of kind `locked` naming the holder, exit 1 (no started event)
  --checkpoint-every N  write checkpoints/last (cram_state.json with the step) every N steps, with its event
  eval RUN_DIR          `cram eval`: --split, --beam, --checkpoint; a result per language, `done`
  --hang-until-term     after the steps keep running; SIGTERM -> `done` stopped:true, exit 0
  --ignore-term         ignore SIGTERM (to test the SIGKILL after the grace period)
  --results             emit result + samples events, write results.csv / samples.jsonl, then `done`
  --plain-stdout        also print a non-JSON line on stdout
  --pid-file PATH       write this process's pid there (to check it is gone afterwards)
  --leave-child PATH    leave a child (sleep 60) holding stdout/stderr open after we exit; its pid goes to PATH
"""
from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from engine.contract import config as ec  # noqa: E402
from engine.contract.events import (Checkpoint, Done, Error, Eval, Result, Samples, Started, Step,  # noqa: E402
                                    encode, read_events)
from engine.contract.rundir import new_run_dir, write_results, write_samples  # noqa: E402

LANGS = ("python", "ruby")


def parse(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("command", nargs="?", default="train")
    ap.add_argument("config", nargs="?")
    ap.add_argument("--jsonl", action="store_true")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--preset")
    ap.add_argument("--run-dir")
    ap.add_argument("--runs-dir")
    ap.add_argument("--resume")
    ap.add_argument("--events", type=int, default=20)
    ap.add_argument("--rate", type=float, default=0.0)
    ap.add_argument("--long-line", action="store_true")
    ap.add_argument("--stderr-noise", type=int, default=0)
    ap.add_argument("--crash", action="store_true")
    ap.add_argument("--error", action="store_true")
    ap.add_argument("--data-error", action="store_true")
    ap.add_argument("--errors", type=int, default=0)
    ap.add_argument("--locked", action="store_true")
    ap.add_argument("--checkpoint-every", type=int, default=0)
    ap.add_argument("--split", default="test")
    ap.add_argument("--beam", type=int)
    ap.add_argument("--checkpoint", default="best")
    ap.add_argument("--hang-until-term", action="store_true")
    ap.add_argument("--ignore-term", action="store_true")
    ap.add_argument("--results", action="store_true")
    ap.add_argument("--plain-stdout", action="store_true")
    ap.add_argument("--pid-file")
    ap.add_argument("--budget", type=float, default=100.0)
    ap.add_argument("--leave-child", help="start `sleep 60` holding our stdout, write its pid here, exit")
    args, _unknown = ap.parse_known_args(argv)
    return args


class Out:
    def __init__(self, run_dir: Path, jsonl: bool):
        self.fh = open(run_dir / "events.jsonl", "a", encoding="utf-8")
        self.jsonl = jsonl

    def emit(self, record):
        line = encode(record)
        self.fh.write(line + "\n")
        self.fh.flush()
        if self.jsonl:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()


def write_checkpoint(out: Out, run_dir: Path, step: int, elapsed: float) -> None:
    d = run_dir / "checkpoints" / "last"
    d.mkdir(parents=True, exist_ok=True)
    (d / "cram_state.json").write_text(json.dumps({"step": step, "elapsed": elapsed}))
    out.emit(Checkpoint(kind="last", step=step, elapsed=elapsed, path=str(d)))


def evaluate(a) -> int:
    """`cram eval RUN_DIR --split S --beam B --checkpoint C --jsonl`: one result per language, then done."""
    run_dir = Path(a.config)
    (run_dir / "worker.pid").write_text(str(os.getpid()))
    out = Out(run_dir, a.jsonl)
    print(f"fake engine: evaluating {run_dir} ({a.checkpoint}, {a.split}, beam {a.beam})", file=sys.stderr,
          flush=True)
    rows = []
    for j, lang in enumerate(LANGS):
        row = {"language": lang, "split": a.split, "n": 10, "bleu4": 20.0 + j + (a.beam or 0) / 100,
               "nltk_bleu4": 15.0, "decode_seconds": 0.5, "beam_size": a.beam or 10}
        rows.append(row)
        out.emit(Result(**row, floor_bleu4=3.5 + j))
    write_results(run_dir, rows)
    out.emit(Done(status="completed", stopped=False, results={r["language"]: r["bleu4"] for r in rows}))
    (run_dir / "worker.pid").unlink()
    return 0


def main(argv=None):
    a = parse(sys.argv[1:] if argv is None else argv)
    if a.pid_file:
        Path(a.pid_file).write_text(str(os.getpid()))
    if a.command == "eval":
        return evaluate(a)
    if a.resume:
        run_dir = Path(a.resume)
    elif a.run_dir:
        run_dir = Path(a.run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
    else:
        run_dir = new_run_dir(a.runs_dir, "fake")
    (run_dir / "worker.pid").write_text(str(os.getpid()))

    first_step, elapsed0 = 0, 0.0
    if a.resume:
        for ev in read_events(run_dir / "events.jsonl"):
            if ev.get("event") in ("step", "done"):
                first_step = ev.get("step") or first_step
                elapsed0 = ev.get("elapsed") or elapsed0
    # the config resolved like the real CLI does (pure Python), budget from --budget unless --set
    cfg = ec.preset(a.preset) if a.preset else ec.RunConfig()
    cfg.name = cfg.name or "fake"
    cfg.budget.seconds = a.budget
    ec.apply_overrides(cfg, a.set)
    config = cfg.to_dict()
    if not a.resume:
        (run_dir / "config.json").write_text(json.dumps(config))

    out = Out(run_dir, a.jsonl)
    stop = {"requested": False}
    if a.locked:
        out.emit(Error(kind="locked", message=f"{run_dir} is being written by another process: pid 4242 on "
                       "node7 (train since 2024-05-01 10:00:00); wait for it to end or stop it first"))
        print("cram: locked", file=sys.stderr, flush=True)
        return 1

    def on_term(signum, frame):
        stop["requested"] = True

    if a.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, on_term)

    out.emit(Started(run_dir=str(run_dir), config=config, device="cpu", precision="fp32",
             versions={"python": sys.version.split()[0], "torch": "fake", "transformers": "fake"},
             n_params=1234, resumed=bool(a.resume), step=first_step, elapsed=elapsed0,
             budget_seconds=cfg.budget.seconds,
             schedule={"name": "budget-triangle", "warmup": 0.0, "peak_lr": 1e-3}))
    print(f"fake engine: run dir {run_dir}", file=sys.stderr, flush=True)
    if a.plain_stdout:
        print("this is not an event", flush=True)

    if a.data_error:
        out.emit(Error(kind="data", message="data/python/train.jsonl: file not found. Hint: expected "
                       "DIR/{lang}/{train,valid,test}.jsonl",
                       hint="check data.path and data.languages; `cram data stats PATH` shows what is there"))
        out.emit(Done(status="failed", stopped=False, step=0, elapsed=0.0))
        print("cram: data error", file=sys.stderr, flush=True)
        return 2

    t0 = time.perf_counter()
    noise_every = max(1, a.events // a.stderr_noise) if a.stderr_noise else 0
    noise_left = a.stderr_noise
    step = first_step
    for i in range(a.events):
        if stop["requested"]:
            break
        step += 1
        el = elapsed0 + (i + 1) * 0.01
        out.emit(Step(step=step, elapsed=round(el, 4), progress=min(1.0, el / cfg.budget.seconds),
                 loss=5.0 * math.exp(-step / 500.0) + 0.1, lr=1e-3, tokens=1000, tokens_per_s=1e5 + step,
                 examples=32, epoch=0))
        if a.checkpoint_every and step % a.checkpoint_every == 0:
            write_checkpoint(out, run_dir, step, round(el, 4))
        if noise_left and i % noise_every == 0:
            print(f"noise line {a.stderr_noise - noise_left} at step {step}", file=sys.stderr, flush=True)
            noise_left -= 1
        if a.rate > 0:
            ahead = t0 + (i + 1) / a.rate - time.perf_counter()
            if ahead > 0.001:
                time.sleep(ahead)
    while noise_left:
        print(f"noise line {a.stderr_noise - noise_left}", file=sys.stderr, flush=True)
        noise_left -= 1

    if a.long_line:
        items = [{"idx": k, "code": "def f():\n    return " + "x" * 2000 + f"  # {k}", "reference": f"ref {k}",
                  "prediction": f"pred {k}", "bleu": float(k)} for k in range(50)]
        items[-1]["code"] += "END-OF-LONG-LINE"
        out.emit(Samples(language="python", split="test", items=items))

    if a.leave_child:
        import subprocess
        child = subprocess.Popen(["sleep", "60"])
        Path(a.leave_child).write_text(str(child.pid))

    if a.crash:
        print("Traceback (most recent call last):", file=sys.stderr)
        print('  File "engine/train.py", line 42, in train', file=sys.stderr)
        print("RuntimeError: fake engine crashed on purpose", file=sys.stderr, flush=True)
        os._exit(3)

    if a.errors:
        for k in range(a.errors):
            out.emit(Error(message=f"<h1>Your license expired</h1><a href=x>renew</a> #{k}", kind="internal"))
        out.emit(Done(status="failed", stopped=False, step=step))
        return 1

    if a.error:
        out.emit(Error(message="CUDA out of memory (fake)", hint="Lower train.batch_size or max_source_len",
                 kind="oom"))
        print("error: out of memory", file=sys.stderr, flush=True)
        out.emit(Done(status="failed", stopped=False, step=step, elapsed=elapsed0 + a.events * 0.01))
        return 1

    if a.hang_until_term or a.ignore_term:
        while not stop["requested"]:
            time.sleep(0.02)
        write_checkpoint(out, run_dir, step, elapsed0 + a.events * 0.01)
        out.emit(Done(status="stopped", stopped=True, step=step, elapsed=elapsed0 + a.events * 0.01))
        print("fake engine: stopped", file=sys.stderr, flush=True)
        return 0

    if stop["requested"]:
        out.emit(Done(status="stopped", stopped=True, step=step, elapsed=elapsed0 + a.events * 0.01))
        return 0

    results = {}
    if a.results:
        out.emit(Eval(step=step, elapsed=elapsed0 + a.events * 0.01, split="valid", dev_loss=1.5, dev_ppl=4.5,
                 dev_bleu=12.5, n=40, eval_seconds=0.5, best=True))
        rows, samples = [], []
        for j, lang in enumerate(LANGS):
            row = {"language": lang, "split": "test", "n": 40 + j, "bleu4": 10.0 + j, "nltk_bleu4": 8.0 + j,
                   "decode_seconds": 1.5, "beam_size": 2}
            rows.append(row)
            out.emit(Result(**row))
            items = [{"idx": k, "code": f"def {lang}_{k}(): pass", "reference": f"ref {lang} {k}",
                      "prediction": f"pred {lang} {k}", "bleu": 10.0 * k} for k in range(3)]
            out.emit(Samples(language=lang, split="test", items=items))
            samples += [{"language": lang, "split": "test", **it} for it in items]
            results[lang] = row["bleu4"]
        write_results(run_dir, rows)
        write_samples(run_dir, samples)
    out.emit(Done(status="completed", stopped=False, step=step, elapsed=elapsed0 + a.events * 0.01,
             eval_seconds=0.5, best_dev_bleu=12.5 if a.results else None, results=results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
