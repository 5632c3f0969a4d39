"""Item 1: training throughput of the engine's step against the original code2nl recipe's step.

Both sides are the engine's own setup and training step (engine.session.setup, engine.step.train_step; the
reference passes the original recipe's `collate`, see bench.reference), built once and
sharing the tokenizer, the encoded data and identical initial weights (a deep copy). They train on the SAME set of
examples from the built-in corpus, in the same number of steps of the same batch size:
  engine     the examples bucketed by `engine.batching.bucket_batches` (padded to each batch's longest)
  reference  the examples in random order, every one padded to max_source_len / max_target_len (256 / 128)
Steps are interleaved one by one (engine, reference, reference, engine, ...), so a load change on the machine hits
both sides alike. The steps are dealt into rounds with the same mix of batch lengths; the headline ratio is the
median of the per-round ratios, and the totals over all steps are reported too.
"""
from __future__ import annotations

import random
import time

from .common import OUT, ItemResult, QuietWriter, Row, log, median

TARGET = 3.0


def config(size: str = "small", max_src: int = 256, max_tgt: int = 128, batch_size: int = 32):
    from engine.contract import config as config_lib

    cfg = config_lib.RunConfig(name="bench-train")
    cfg.model.source, cfg.model.size, cfg.model.vocab_size, cfg.model.dropout = "scratch", size, 8000, 0.1
    cfg.data.max_source_len, cfg.data.max_target_len = max_src, max_tgt
    cfg.data.max_valid, cfg.data.max_test = 16, 16
    cfg.train.batch_size, cfg.train.schedule, cfg.train.lr, cfg.train.seed = batch_size, "constant", 5e-4, 42
    cfg.hardware.device, cfg.hardware.precision = "cpu", "fp32"
    return cfg


def setup(cfg):
    """(engine side, reference side): bench.reference.Side objects with identical initial weights."""
    from .reference import Side, clone, prepare

    run_dir = OUT / "tmp" / "train-throughput"
    run_dir.mkdir(parents=True, exist_ok=True)
    base = prepare(cfg, run_dir, QuietWriter())
    return Side(base), clone(base, reference=True)


def _timed_step(side, batch):
    t0 = time.perf_counter()
    side.step([batch], 0.5)
    return time.perf_counter() - t0


def check_same_loss(eng, ref, n: int = 8) -> dict:
    """The per-token loss of one batch, dynamic padding vs fixed padding, same weights, eval mode (no dropout):
    padding must not change the result beyond float rounding."""
    import copy

    import torch

    from engine.batching import collate
    from engine.evaluate import token_loss

    e = eng.s
    model = copy.deepcopy(e.model).eval()
    batch = list(range(n))
    with torch.inference_mode():
        a, na = token_loss(model, collate(e.train_enc, batch, e.ids), e.hw.device)
        b, nb = token_loss(model, collate(e.train_enc, batch, e.ids, pad_to=ref.pad_to()), e.hw.device)
    a, b = float(a) / na, float(b) / nb
    return {"loss_dynamic_padding": a, "loss_fixed_padding": b, "abs_diff": abs(a - b), "tokens": na}


def run(steps: int = 9, rounds: int = 3, size: str = "small", batch_size: int = 32) -> ItemResult:
    from engine import model as model_lib
    from engine.batching import bucket_batches

    res = ItemResult("train")
    cfg = config(size, batch_size=batch_size)
    eng, ref = setup(cfg)
    enc = eng.s.train_enc
    d, ne, nd, h, ffn = model_lib.SIZES[size]
    log(f"train: model '{size}' (d={d}, {ne}+{nd} layers, ffn {ffn}, vocab {len(eng.s.tokenizer)}, "
        f"{model_lib.count_params(eng.s.model):,} params), batch {batch_size}, {steps} steps per side")

    # the same examples for both sides
    rng = random.Random(1234)
    order = list(range(len(enc)))
    rng.shuffle(order)
    warm = order[:batch_size]
    subset = order[batch_size: batch_size * (steps + 1)]
    lengths = [len(enc.src[i]) + len(enc.tgt[i]) for i in subset]
    eng_batches = [[subset[j] for j in b] for b in bucket_batches(lengths, batch_size, cfg.train.seed, 0)]
    ref_batches = [subset[k:k + batch_size] for k in range(0, len(subset), batch_size)]
    assert sorted(sum(eng_batches, [])) == sorted(sum(ref_batches, [])) == sorted(subset)

    def cost(b):
        return len(b) * (max(len(enc.src[i]) for i in b) + max(len(enc.tgt[i]) for i in b))

    # rounds with the same mix: deal the batches, sorted by padded size, round-robin
    def deal(batches):
        s = sorted(batches, key=cost)
        return [s[r::rounds] for r in range(rounds)]

    eng_rounds, ref_rounds = deal(eng_batches), deal(ref_batches)

    real = lambda b: sum(len(enc.src[i]) + len(enc.tgt[i]) for i in b)
    padded_ref = lambda b: len(b) * sum(ref.pad_to())
    log("train: warm-up step on each side")
    _timed_step(eng, [warm[i] for i in sorted(range(len(warm)), key=lambda i: len(enc.src[warm[i]]))])
    _timed_step(ref, warm)

    per_round = []
    all_e, all_r = {"t": 0.0, "tok": 0, "pad": 0, "n": 0}, {"t": 0.0, "tok": 0, "pad": 0, "n": 0}
    flip = False
    for r in range(rounds):
        e_t = r_t = 0.0
        e_tok = r_tok = 0
        for eb, rb in zip(eng_rounds[r], ref_rounds[r]):
            pair = [("e", eb), ("r", rb)]
            if flip:
                pair.reverse()
            flip = not flip
            for side, b in pair:
                if side == "e":
                    dt = _timed_step(eng, b)
                    e_t += dt
                    e_tok += real(b)
                    all_e["pad"] += cost(b)
                else:
                    dt = _timed_step(ref, b)
                    r_t += dt
                    r_tok += real(b)
                    all_r["pad"] += padded_ref(b)
        n = len(eng_rounds[r])
        per_round.append({"engine_s": e_t, "reference_s": r_t, "engine_tokens": e_tok, "reference_tokens": r_tok,
                          "steps": n, "engine_tok_s": e_tok / e_t, "reference_tok_s": r_tok / r_t,
                          "ratio": (e_tok / e_t) / (r_tok / r_t)})
        for tot, t_, tok in ((all_e, e_t, e_tok), (all_r, r_t, r_tok)):
            tot["t"] += t_
            tot["tok"] += tok
            tot["n"] += n
        log(f"train: round {r + 1}/{rounds}: engine {e_tok / e_t:,.0f} tok/s, reference {r_tok / r_t:,.0f} tok/s, "
            f"ratio {per_round[-1]['ratio']:.2f}x")

    ratio = median([p["ratio"] for p in per_round])
    e_tps, r_tps = median([p["engine_tok_s"] for p in per_round]), median([p["reference_tok_s"] for p in per_round])
    e_sps, r_sps = all_e["n"] / all_e["t"], all_r["n"] / all_r["t"]  # all steps: same examples on both sides
    total_ratio = (all_e["tok"] / all_e["t"]) / (all_r["tok"] / all_r["t"])
    res.rows.append(Row("1 train", f"real tok/s ({size}, CPU fp32)", e_tps, r_tps, ratio, f">= {TARGET:.0f}x",
                        ratio >= TARGET))
    res.rows.append(Row("1 train", f"steps/s (batch {batch_size}, all steps)", e_sps, r_sps, e_sps / r_sps,
                        f">= {TARGET:.0f}x",
                        e_sps / r_sps >= TARGET))
    res.details = {
        "model": {"size": size, "d_model": d, "encoder_layers": ne, "decoder_layers": nd, "heads": h, "ffn": ffn,
                  "vocab": len(eng.s.tokenizer), "params": model_lib.count_params(eng.s.model)},
        "batch_size": batch_size, "steps_per_side": all_e["n"], "rounds": per_round,
        "max_lengths": list(ref.pad_to()),
        "padding_efficiency": {"engine": all_e["tok"] / all_e["pad"], "reference": all_r["tok"] / all_r["pad"]},
        "total": {"engine_tok_s": all_e["tok"] / all_e["t"], "reference_tok_s": all_r["tok"] / all_r["t"],
                  "ratio": total_ratio, "engine_s": all_e["t"], "reference_s": all_r["t"],
                  "real_tokens": all_e["tok"]},
        "same_loss_check": check_same_loss(eng, ref),
    }
    log(f"train: median ratio {ratio:.2f}x (total {total_ratio:.2f}x); padding efficiency engine "
        f"{res.details['padding_efficiency']['engine']:.2f}, "
        f"reference {res.details['padding_efficiency']['reference']:.2f}")
    return res
