"""Item 3: test BLEU reached in the same wall-clock budget, engine vs reference mode.

Both sides are complete engine runs (`engine.train.run`: data, BPE, model, training under the budget, dev evals,
best-checkpoint selection, test evaluation with the engine's batched beam) from the same config and seed, so they
start from the same weights. The only difference is the training step: the reference is
the original recipe's `collate` and `bucket_key` passed to it (bench.reference: every example padded to
max_source_len / max_target_len, random batches).

The two runs go AT THE SAME TIME, as two processes with one torch thread each (hardware.threads=1) on this 2-core
machine: a wall-clock budget cannot be interleaved step by step, and running them one after the other lets a load
change on the shared machine decide the comparison (it did, in a first version). Both see the same load.

Two settings:
  smoke      the `smoke` preset as shipped (tiny model, 64/32 tokens, 120 s): the reference pads to 64/32
  smoke@256  the same with the original recipe's lengths, 256/128 for both sides (the engine truncates there too,
             the reference pads every example there): the setting where the two recipes differ
Besides the BLEU it reports what tells a real model from a collapsed one: the number of distinct test predictions,
the best constant prediction's BLEU (the floor, bench.constant_baseline), and whether the model uses its input at
all (dev loss with each example's own source vs with the sources shuffled among the examples: equal losses mean
the decoder ignores the encoder).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

from .common import OUT, ROOT, ItemResult, Row, corpus_splits, loadavg, log


def config(seconds: float, lengths: tuple[int, int] | None = None, threads: int = 1):
    from engine.contract import config as config_lib

    cfg = config_lib.preset("smoke")
    cfg.budget.seconds = seconds
    if lengths:
        cfg.data.max_source_len, cfg.data.max_target_len = lengths
    cfg.hardware.threads = threads
    return cfg


# -- worker (one side, in its own process) ---------------------------------------------------------------------------
def source_use(cfg, run_dir: Path, n: int = 200) -> dict:
    """Dev loss with the right sources vs with sources shuffled among examples, for the evaluated checkpoint."""
    import contextlib

    from engine import checkpoint as ckpt
    from engine import model as model_lib
    from engine.batching import Encoded, encode
    from engine.evaluate import dev_loss

    folder = ckpt.find(run_dir, "best") or ckpt.find(run_dir, "last")
    model, tok, _ = model_lib.load(folder)
    ids = model_lib.special_ids(model)
    dev = corpus_splits()[("python", "valid")][: min(n, cfg.eval.dev_subset)]
    enc = encode(dev, tok, cfg.data.max_source_len, cfg.data.max_target_len, ids["eos"])
    src = list(enc.src)
    random.Random(0).shuffle(src)
    own = dev_loss(model, enc, ids, 32, "cpu", contextlib.nullcontext())
    shuffled = dev_loss(model, Encoded(src=src, tgt=enc.tgt), ids, 32, "cpu", contextlib.nullcontext())
    return {"checkpoint": folder.name, "dev_loss_own_source": own, "dev_loss_shuffled_source": shuffled,
            "gap": shuffled - own}


def worker(side: str, config_path: Path, run_dir: Path) -> int:
    from engine.contract import config as config_lib
    from engine.contract.events import EventWriter

    from .reference import run_stamped

    cfg = config_lib.load(config_path)
    writer = EventWriter(run_dir / "events.jsonl")
    code, stamps = run_stamped(cfg, run_dir, writer, reference=side == "reference")
    writer.close()
    out = {"side": side, "exit_code": code, "stamps": stamps.stamps, "pauses": stamps.pauses}
    if code == 0:
        try:
            out["source_use"] = source_use(cfg, run_dir)
        except Exception as e:  # a diagnostic, never the reason a run fails
            out["source_use"] = {"error": f"{type(e).__name__}: {e}"}
    (run_dir / "bench_result.json").write_text(json.dumps(out, default=str))
    return code


# -- parent -----------------------------------------------------------------------------------------------------------
class Stamped:
    """What bench.budget.analyze needs from a finished run (stamps and pauses), read back from a worker."""

    def __init__(self, d: dict):
        self.stamps = [tuple(x) for x in d["stamps"]]
        self.pauses = [tuple(x) for x in d["pauses"]]


def summarize(run_dir: Path, d: dict) -> dict:
    evs = [ev for _, ev in d["stamps"]]
    done = [e for e in evs if e["event"] == "done"][-1]
    results = [e for e in evs if e["event"] == "result"]
    if d["exit_code"] != 0 or not results:
        raise RuntimeError(f"{d['side']} run failed (exit {d['exit_code']}): "
                           f"{[e for e in evs if e['event'] == 'error']}")
    preds = [line.split("\t", 1)[1] if "\t" in line else "" for line in
             (run_dir / "python_test.output").read_text(encoding="utf-8").splitlines()]
    return {"run_dir": str(run_dir), "bleu4": results[0]["bleu4"], "n_test": results[0]["n"],
            "steps": done["step"], "elapsed": done["elapsed"], "tokens_seen": done["tokens_seen"],
            "eval_seconds": done["eval_seconds"], "best_dev_bleu": done["best_dev_bleu"],
            "decode_seconds": results[0]["decode_seconds"], "distinct_predictions": len(set(preds)),
            "predictions": len(preds), "most_common_prediction": max(set(preds), key=preds.count) if preds else "",
            "evals": [{k: e.get(k) for k in ("step", "elapsed", "dev_loss", "dev_bleu")} for e in evs
                      if e["event"] == "eval"],
            "source_use": d.get("source_use")}


def run_pair(seconds: float, lengths, tag: str) -> tuple[dict, dict]:
    """Both sides at once, one process each; returns ({side: summary}, {side: Stamped})."""
    cfg = config(seconds, lengths)
    procs = {}
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    before = loadavg()
    for side in ("engine", "reference"):
        run_dir = OUT / "runs" / f"bleu-{tag}-{side}-{int(seconds)}s"
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True)
        from engine.contract import config as config_lib

        config_lib.save(cfg, run_dir / "bench_config.json")
        log_f = open(run_dir / "bench_worker.log", "w")
        procs[side] = (run_dir, log_f, subprocess.Popen(
            [sys.executable, "-m", "bench.bleu_budget", "--worker", side, "--config",
             str(run_dir / "bench_config.json"), "--run-dir", str(run_dir)], cwd=ROOT, env=env,
            stdout=log_f, stderr=subprocess.STDOUT))
    log(f"bleu-budget[{tag}]: engine and reference running side by side ({seconds:.0f}s budget each, 1 thread "
        f"each, lengths {cfg.data.max_source_len}/{cfg.data.max_target_len})")
    out, stamped = {}, {}
    for side, (run_dir, log_f, p) in procs.items():
        p.wait()
        log_f.close()
        res_file = run_dir / "bench_result.json"
        if not res_file.is_file():
            raise RuntimeError(f"{side} worker died (exit {p.returncode}); see {run_dir / 'bench_worker.log'}")
        d = json.loads(res_file.read_text())
        out[side] = summarize(run_dir, d)
        out[side]["load_before"], out[side]["load_after"] = before, loadavg()
        stamped[side] = Stamped(d)
        s = out[side]
        su = (s.get("source_use") or {}).get("gap")
        log(f"bleu-budget[{tag}]: {side}: test BLEU {s['bleu4']:.2f}, {s['steps']} steps, {s['tokens_seen']:,} "
            f"tokens, {s['distinct_predictions']} distinct predictions, source-use gap "
            f"{su if su is None else round(su, 3)}")
    return out, stamped


def run(seconds: float = 120.0, settings=(("smoke", None), ("smoke@256", (256, 128))),
        keep: dict | None = None) -> ItemResult:
    from .constant_baseline import best_constant

    res = ItemResult(f"bleu-budget-{int(seconds)}s")
    details = {"budget_s": seconds, "settings": {}}
    all_preds = set()
    for tag, lengths in settings:
        out, stamped = run_pair(seconds, lengths, tag.replace("@", "-"))
        if keep is not None and tag == "smoke":
            keep["engine"] = stamped["engine"]
        details["settings"][tag] = {"lengths": lengths or "preset", **out}
        all_preds |= {out[s]["most_common_prediction"] for s in out}
    splits = corpus_splits()
    log("bleu-budget: constant-prediction baseline")
    const = best_constant([e.target for e in splits[("python", "valid")]],
                          [e.target for e in splits[("python", "test")]],
                          [e.target for e in splits[("python", "train")]], extra=sorted(all_preds))
    floor = const["bleu_test"]
    details["constant_baseline"] = const
    for tag, _ in settings:
        e, r = details["settings"][tag]["engine"], details["settings"][tag]["reference"]
        lens = "64/32" if tag == "smoke" else "256/128"
        res.rows.append(Row("3 bleu/budget", f"test BLEU-4 @{seconds:.0f}s, {tag} ({lens})", e["bleu4"], r["bleu4"],
                            f"{e['bleu4'] - r['bleu4']:+.2f} pts", ">= +1 pt", e["bleu4"] >= r["bleu4"] + 1.0,
                            note=f"constant floor {floor:.2f}"))
        res.rows.append(Row("3 bleu/budget", f"  distinct test predictions, {tag}", e["distinct_predictions"],
                            r["distinct_predictions"], None, f"of {e['predictions']}", None))
        res.rows.append(Row("3 bleu/budget", f"  optimizer steps, {tag}", e["steps"], r["steps"],
                            e["steps"] / max(1, r["steps"]), "", None))
        res.rows.append(Row("3 bleu/budget", f"  real tokens seen, {tag}", e["tokens_seen"], r["tokens_seen"],
                            e["tokens_seen"] / max(1, r["tokens_seen"]), "", None))
    res.rows.append(Row("3 bleu/budget", "  best constant-prediction BLEU", floor, None, None, "floor", None,
                        note=repr(const["constant"])))
    res.details = details
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", choices=["engine", "reference"], required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--run-dir", required=True)
    a = ap.parse_args(argv)
    return worker(a.worker, Path(a.config), Path(a.run_dir))


if __name__ == "__main__":
    from . import common  # noqa: F401  (environment before torch)

    sys.exit(main())
