"""Item 2: beam search (beam 10), examples/s, the engine's batched KV-cache beam against the original `Beam`'s
cost profile, on the same trained weights and the same test examples.

  engine     engine.generate.generate_ids(batch_size=32, use_cache=True): length-sorted batches, all beams of all
             examples of a batch in one forward per step, key/value cache
  reference  engine.generate.generate_ids(batch_size=1, use_cache=False): one example at a time, the whole
             decoder re-run over the full prefix at every step (the encoder runs once per example, as in the
             original), the same search (transformers' beam search, length penalty 1, early stopping)

Weights, in this order: `--model DIR`; item 3's engine run (bench/out/runs/bleu-smoke-engine-120s, best
dev checkpoint: the smoke preset after 120 s); else a 120 s smoke-preset engine run made here and cached in
bench/out/models/ (`--retrain` to redo). A 2-minute tiny model predicts almost the same sentence for every input,
which makes agreement easy, so the same measurement is repeated on the same shape with random weights (flat
distributions, many near-ties, outputs that run to max_len): the stress case for agreement. The rounds interleave
the two: each round the engine decodes all N examples and the reference decodes the next N/rounds of them;
examples/s per round, median over rounds. Agreement: the engine's
top beam (token ids) equals the reference's on what share of the N examples.
"""
from __future__ import annotations

import collections
import json
import shutil
import time
from pathlib import Path

from .common import OUT, ItemResult, QuietWriter, Row, corpus_splits, log, median

TARGET_SPEED = 10.0
TARGET_AGREE = 0.99


def model_config(seconds: float, lr: float | None = None):
    """The smoke preset (tiny model, 128/32 tokens) with dev evaluation at the end only."""
    from engine.contract import config as config_lib

    cfg = config_lib.preset("smoke")
    cfg.name = "bench-beam-model"
    cfg.budget.seconds = seconds
    if lr:
        cfg.train.lr = lr
    cfg.eval.every_seconds = 0
    cfg.eval.dev_subset = 50
    cfg.eval.samples = 0
    cfg.data.max_test = 20
    return cfg


def trained_model(seconds: float = 120.0, retrain: bool = False, path: str | None = None, lr: float | None = None,
                  prefer_item3: bool = True):
    """(model, tokenizer, info): a given checkpoint folder, the cached bench model, or a fresh engine run."""
    from engine import model as model_lib

    if path:
        model, tok, _ = model_lib.load(path)
        info = {"source": str(path), "max_source_len": model.config.max_position_embeddings - 2, "max_target_len": 32}
        for cand in (Path(path) / "bench_model.json", Path(path).parent.parent / "config.json"):
            if cand.is_file():  # a bench model's info, or a run directory's config
                d = json.loads(cand.read_text())
                d = d.get("data", d)
                info.update({k: d[k] for k in ("max_source_len", "max_target_len") if k in d})
        return model, tok, info
    item3_run = OUT / "runs" / "bleu-smoke-engine-120s"
    item3 = item3_run / "checkpoints" / "best"
    if prefer_item3 and not retrain and (item3 / "config.json").is_file():
        log(f"beam: using item 3's engine model ({item3})")
        model, tok, _ = model_lib.load(item3)
        data_cfg = json.loads((item3_run / "config.json").read_text())["data"]
        return model, tok, {"source": f"item 3 engine run (smoke preset, 120 s), best dev checkpoint ({item3})",
                            "max_source_len": data_cfg["max_source_len"],
                            "max_target_len": data_cfg["max_target_len"]}
    cfg = model_config(seconds, lr)
    folder = OUT / "models" / (f"beam-smoke-{int(seconds)}s" + (f"-lr{lr:g}" if lr else ""))
    info_file = folder / "bench_model.json"
    if folder.is_dir() and info_file.is_file() and not retrain:
        info = json.loads(info_file.read_text())
        log(f"beam: reusing the trained model in {folder} (--retrain to train it again)")
        model, tok, _ = model_lib.load(folder)
        return model, tok, info
    from engine.train import run

    run_dir = OUT / "tmp" / "beam-model-run"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    log(f"beam: training the model for the beam benchmark ({seconds:.0f}s budget, smoke preset, lr "
        f"{cfg.train.lr:g}); cached in {folder}")
    t0 = time.perf_counter()
    writer = QuietWriter()
    code = run(cfg, run_dir, writer)
    if code != 0:
        errors = [e for e in writer.events if e["event"] == "error"]
        raise RuntimeError(f"training the beam benchmark's model failed: {errors}")
    src = run_dir / "checkpoints" / "last"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(src, folder)
    done = [e for e in writer.events if e["event"] == "done"][-1]
    info = {"source": f"engine run, smoke preset, lr {cfg.train.lr:g}", "budget_s": seconds, "steps": done.get("step"),
            "train_wall_s": round(time.perf_counter() - t0, 1), "checkpoint": "last",
            "max_source_len": cfg.data.max_source_len, "max_target_len": cfg.data.max_target_len}
    info_file.write_text(json.dumps(info, indent=2))
    model, tok, _ = model_lib.load(folder)
    return model, tok, info


def _random_init(like_model, tok, info):
    """The same tiny shape with fresh random weights: flat output distributions (many near-ties) and outputs that
    run to max_len; a stress test of the agreement, not a realistic model."""
    import torch

    from engine import model as model_lib

    cfg = model_config(0)
    torch.manual_seed(0)
    model, _ = model_lib.build(cfg.model, tok, like_model.config.max_position_embeddings)
    return model, {"source": "random init (tiny shape, seed 0)", "max_source_len": info.get("max_source_len", 64),
                   "max_target_len": info.get("max_target_len", 32)}


def measure(model, tok, info, n: int, rounds: int, beam: int, batch_size: int, label: str) -> dict:
    import torch

    from engine import model as model_lib
    from engine.batching import encode
    from engine.generate import generate_ids, to_text

    model.eval()
    ids = model_lib.special_ids(model)
    max_src, max_len = info.get("max_source_len", 128), info.get("max_target_len", 32)
    test = corpus_splits()[("python", "test")]
    # a fixed spread of the test split (every k-th example), so lengths are representative
    step = max(1, len(test) // n)
    examples = test[::step][:n]
    enc = encode(examples, tok, max_src, max_len, ids["eos"])
    src = enc.src
    dev = torch.device("cpu")
    per = len(src) // rounds
    log(f"beam[{label}]: beam {beam}, {len(src)} test examples, max_len {max_len}; engine batch {batch_size} + KV "
        f"cache vs reference batch 1, no cache; {rounds} rounds")

    def gen(sources, bs, cache):
        t0 = time.perf_counter()
        out = generate_ids(model, sources, ids, beam_size=beam, max_len=max_len, batch_size=bs, device=dev,
                           use_cache=cache)
        return out, time.perf_counter() - t0

    gen(src[:2], batch_size, True)  # warm-up (first-call overheads), not timed
    gen(src[:1], 1, False)
    eng_out, ref_out = None, [None] * len(src)
    rows = []
    for r in range(rounds):
        lo, hi = r * per, (r + 1) * per if r < rounds - 1 else len(src)
        first_ref = r % 2 == 0
        if first_ref:
            ro, rt = gen(src[lo:hi], 1, False)
        eo, et = gen(src, batch_size, True)
        if not first_ref:
            ro, rt = gen(src[lo:hi], 1, False)
        ref_out[lo:hi] = ro
        if eng_out is None:
            eng_out = eo
        rows.append({"engine_ex_s": len(src) / et, "reference_ex_s": (hi - lo) / rt, "engine_s": et,
                     "reference_s": rt, "engine_n": len(src), "reference_n": hi - lo,
                     "engine_deterministic": eo == eng_out})
        rows[-1]["ratio"] = rows[-1]["engine_ex_s"] / rows[-1]["reference_ex_s"]
        log(f"beam[{label}]: round {r + 1}/{rounds}: engine {rows[-1]['engine_ex_s']:.2f} ex/s, reference "
            f"{rows[-1]['reference_ex_s']:.3f} ex/s, ratio {rows[-1]['ratio']:.1f}x")
    same = [a == b for a, b in zip(eng_out, ref_out)]
    texts = to_text(tok, eng_out)
    out = {"label": label, "model": info, "params": model_lib.count_params(model), "beam": beam,
           "max_len": max_len, "engine_batch_size": batch_size, "n": len(src), "rounds": rows,
           "ratio": median([x["ratio"] for x in rows]),
           "engine_ex_s": median([x["engine_ex_s"] for x in rows]),
           "reference_ex_s": median([x["reference_ex_s"] for x in rows]),
           "agreement": sum(same) / len(same), "distinct_predictions": len(set(texts)),
           "most_common_predictions": collections.Counter(texts).most_common(3),
           "mean_output_tokens": sum(map(len, eng_out)) / len(eng_out),
           "mean_source_tokens": sum(map(len, src)) / len(src),
           "mismatches": [{"i": i, "engine": to_text(tok, [eng_out[i]])[0], "reference": to_text(tok, [ref_out[i]])[0]}
                          for i, s in enumerate(same) if not s][:10]}
    log(f"beam[{label}]: median ratio {out['ratio']:.1f}x, agreement {out['agreement']:.1%}, "
        f"{out['distinct_predictions']} distinct predictions, mean output {out['mean_output_tokens']:.1f} tokens")
    return out


def run(n: int = 96, rounds: int = 3, beam: int = 10, batch_size: int = 32, model_seconds: float = 120.0,
        retrain: bool = False, model_path: str | None = None, stress_n: int = 48, lr: float | None = None,
        prefer_item3: bool = True) -> ItemResult:
    res = ItemResult("beam")
    model, tok, info = trained_model(model_seconds, retrain, model_path, lr, prefer_item3)
    m = measure(model, tok, info, n, rounds, beam, batch_size, "trained")
    res.rows.append(Row("2 beam", f"beam-{beam} examples/s (trained)", m["engine_ex_s"], m["reference_ex_s"],
                        m["ratio"], f">= {TARGET_SPEED:.0f}x", m["ratio"] >= TARGET_SPEED))
    res.rows.append(Row("2 beam", "top-beam agreement (trained)", m["agreement"], None, None,
                        f">= {TARGET_AGREE:.0%}", m["agreement"] >= TARGET_AGREE,
                        note=f"{m['distinct_predictions']} distinct predictions of {m['n']}"))
    rmodel, rinfo = _random_init(model, tok, info)
    s = measure(rmodel, tok, rinfo, stress_n, rounds, beam, batch_size, "random-init")
    res.rows.append(Row("2 beam", "beam-10 ex/s (random init, stress)", s["engine_ex_s"], s["reference_ex_s"],
                        s["ratio"], f">= {TARGET_SPEED:.0f}x", s["ratio"] >= TARGET_SPEED))
    res.rows.append(Row("2 beam", "top-beam agreement (random init)", s["agreement"], None, None,
                        f">= {TARGET_AGREE:.0%}", s["agreement"] >= TARGET_AGREE,
                        note=f"{s['distinct_predictions']} distinct of {s['n']}, {s['mean_output_tokens']:.0f} tokens"))
    res.details = {"trained": m, "random_init": s}
    return res
