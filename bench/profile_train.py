"""Why item 1 lands where it does, and what would move it: `python -m bench.profile_train [--steps N]`.

1. torch.profiler of one engine step and one reference step (top operators by self CPU time) -> bench/out/
2. the same examples trained, interleaved, by five step variants (identical initial weights each):
     engine            as shipped (bucket key = src + tgt length, LM head over every target position)
     engine+2d-bucket  bucket key (src // 16, tgt): sorted by target length inside source-length bands
     engine+real-head  the LM head and the loss only at real (non-pad) target positions
     engine+both       the two together
     reference         the original recipe (256/128 padding, random batches)
Variants 2-4 are proposals measured here without touching engine/ (their losses equal the engine's: the same
terms are summed; the bucketing changes only which examples share a batch).
"""
from __future__ import annotations

import argparse
import json
import random
import time

from . import common  # noqa: F401
from .common import OUT, log


def real_head_loss(model, batch, device, label_smoothing: float = 0.0):
    """token_loss with the LM head applied only where labels are real tokens (BART-shaped models)."""
    import torch

    out = model.model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device),
                      decoder_input_ids=batch["decoder_input_ids"].to(device),
                      decoder_attention_mask=batch["decoder_attention_mask"].to(device))
    labels = batch["labels"].to(device)
    keep = labels != -100
    h = out.last_hidden_state[keep]
    logits = (model.lm_head(h) + model.final_logits_bias).float()
    loss = torch.nn.functional.cross_entropy(logits, labels[keep], reduction="sum", label_smoothing=label_smoothing)
    return loss, int(keep.sum())


def variant_step(s, batch_idx, loss_fn, pad_to=None):
    """A simplified training step on session `s` (engine.session.Session) with a given loss function."""
    import torch

    from engine.batching import collate

    batch = collate(s.train_enc, batch_idx, s.ids, pad_to=pad_to)
    n = sum(len(s.train_enc.tgt[i]) for i in batch_idx)
    loss, _ = loss_fn(s.model, batch, s.hw.device)
    (loss / n).backward()
    torch.nn.utils.clip_grad_norm_(s.model.parameters(), 1.0)
    s.optimizer.step()
    s.optimizer.zero_grad(set_to_none=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=12)
    a = ap.parse_args(argv)
    from torch.profiler import ProfilerActivity, profile

    from engine.batching import bucket_batches
    from engine.evaluate import token_loss

    from .reference import clone
    from .train_throughput import config, setup

    cfg = config("small")
    eng, ref = setup(cfg)
    enc = eng.s.train_enc
    S = [len(s) for s in enc.src]
    T = [len(t) for t in enc.tgt]
    bs = cfg.train.batch_size
    rng = random.Random(99)
    order = list(range(len(enc)))
    rng.shuffle(order)
    subset = order[: bs * a.steps]

    def buckets(key):
        ks = [key(i) for i in subset]
        return [[subset[j] for j in b] for b in bucket_batches(ks, bs, 42, 0)]

    plain = buckets(lambda i: S[i] + T[i])
    twod = buckets(lambda i: (S[i] // 16) * 1000 + T[i])
    rand = [subset[k:k + bs] for k in range(0, len(subset), bs)]
    pad = lambda bb: (sum(len(b) * max(S[i] for i in b) for b in bb), sum(len(b) * max(T[i] for i in b) for b in bb))
    log(f"profile: padded src/tgt tokens: engine {pad(plain)}, 2d {pad(twod)}, real {sum(S[i] for i in subset)}/"
        f"{sum(T[i] for i in subset)}")

    # 0. padded tokens of a full epoch under alternative bucket keys (the engine's pool of 50 batches)
    epoch = {}
    keys = {"src+tgt (engine)": lambda i: S[i] + T[i], "(src//16, tgt)": lambda i: (S[i] // 16) * 1000 + T[i],
            "max(src, 2*tgt)": lambda i: max(S[i], 2 * T[i]), "src+4*tgt": lambda i: S[i] + 4 * T[i]}
    for name, key in keys.items():
        bb = bucket_batches([key(i) for i in range(len(enc))], bs, 42, 0)
        ps = sum(len(b) * max(S[i] for i in b) for b in bb)
        pt = sum(len(b) * max(T[i] for i in b) for b in bb)
        epoch[name] = {"src_efficiency": sum(S) / ps, "tgt_efficiency": sum(T) / pt, "padded_src": ps,
                       "padded_tgt": pt}
    epoch["reference (256/128)"] = {"src_efficiency": sum(S) / (256 * len(S)),
                                    "tgt_efficiency": sum(T) / (128 * len(T)),
                                    "padded_src": 256 * len(S), "padded_tgt": 128 * len(T)}
    for k, v in epoch.items():
        print(f"epoch padding {k:<22} src eff {v['src_efficiency']:.3f}  tgt eff {v['tgt_efficiency']:.3f}  "
              f"padded src {v['padded_src']:,} tgt {v['padded_tgt']:,}")

    # 1. operator profile of one step each
    prof_out = {}
    for name, tr, b, pad_to in (("engine", eng.s, plain[len(plain) // 2], None),
                                ("reference", ref.s, rand[0], (256, 128))):
        variant_step(tr, b, token_loss, pad_to)  # warm
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            variant_step(tr, b, token_loss, pad_to)
        table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18)
        prof_out[name] = table
        print(f"--- {name} step (batch of {len(b)}) ---\n{table}")

    # 2. variants, interleaved step by step
    variants = {
        "engine": (clone(eng.s).s, plain, token_loss, None),
        "engine+2d-bucket": (clone(eng.s).s, twod, token_loss, None),
        "engine+real-head": (clone(eng.s).s, plain, real_head_loss, None),
        "engine+both": (clone(eng.s).s, twod, real_head_loss, None),
        "reference": (clone(eng.s, reference=True).s, rand, token_loss, (256, 128)),
    }
    times = {k: 0.0 for k in variants}
    for tr, bb, fn, pt in variants.values():
        variant_step(tr, bb[0], fn, pt)  # warm-up
    for i in range(a.steps):
        names = list(variants) if i % 2 == 0 else list(reversed(list(variants)))
        for k in names:
            tr, bb, fn, pt = variants[k]
            t0 = time.perf_counter()
            variant_step(tr, bb[i], fn, pt)
            times[k] += time.perf_counter() - t0
        log(f"profile: step {i + 1}/{a.steps}: " + ", ".join(f"{k} {v:.1f}s" for k, v in times.items()))
    tokens = sum(S[i] + T[i] for i in subset)
    res = {k: {"seconds": v, "tokens_per_s": tokens / v, "vs_reference": times["reference"] / v}
           for k, v in times.items()}
    for k, v in res.items():
        print(f"{k:<18} {v['tokens_per_s']:>8,.0f} real tok/s  {v['vs_reference']:.2f}x reference")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "profile_train.json").write_text(json.dumps({"variants": res, "steps": a.steps, "profiles": prof_out,
                                                        "padded": {"engine": pad(plain), "2d": pad(twod)},
                                                        "epoch_padding": epoch},
                                                       indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
