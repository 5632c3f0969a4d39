"""Why item 2 lands where it does: `python -m bench.profile_beam [--model DIR]`.

1. torch.profiler + cProfile of the engine's batched beam (batch 32) on the item's model: where a decoding step
   goes (model ops vs transformers' beam-search bookkeeping, cache reordering)
2. examples/s of the engine at batch 16/32/64 and of the reference, on the same examples
3. the same at the `small` shape (d 256, 4+4 layers) with random weights and outputs of 32 and 128 tokens, to show
   how the ratio grows with model size and output length (the reference re-runs the whole prefix every step, so
   its cost grows with the square of the output length)
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import time

from . import common  # noqa: F401
from .common import OUT, corpus_splits, log


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--n", type=int, default=64)
    a = ap.parse_args(argv)
    import torch
    from torch.profiler import ProfilerActivity, profile

    from engine.contract import config as config_lib
    from engine import model as model_lib
    from engine.batching import encode
    from engine.generate import generate_ids

    from .beam import trained_model

    model, tok, info = trained_model(120.0, False, a.model)
    model.eval()
    ids = model_lib.special_ids(model)
    test = corpus_splits()[("python", "test")]
    ex = test[:: max(1, len(test) // a.n)][: a.n]
    dev = torch.device("cpu")
    out = {"model": info}

    def speed(m, src, bs, cache, max_len):
        generate_ids(m, src[:2], ids, beam_size=10, max_len=max_len, batch_size=bs, device=dev, use_cache=cache)
        t0 = time.perf_counter()
        res = generate_ids(m, src, ids, beam_size=10, max_len=max_len, batch_size=bs, device=dev, use_cache=cache)
        return len(src) / (time.perf_counter() - t0), sum(map(len, res)) / len(res)

    enc = encode(ex, tok, 128, 32, ids["eos"])
    # 1. profiles
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        generate_ids(model, enc.src, ids, beam_size=10, max_len=32, batch_size=32, device=dev)
    out["torch_profile"] = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15)
    print(out["torch_profile"])
    pr = cProfile.Profile()
    pr.enable()
    generate_ids(model, enc.src, ids, beam_size=10, max_len=32, batch_size=32, device=dev)
    pr.disable()
    s = io.StringIO()
    pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(15)
    out["cprofile"] = s.getvalue()
    print(out["cprofile"])
    # 2. batch sizes, trained model
    ref, ref_len = speed(model, enc.src[:16], 1, False, 32)
    out["trained"] = {"reference_ex_s": ref, "reference_mean_out": ref_len}
    for bs in (16, 32, 64):
        e, ln = speed(model, enc.src, bs, True, 32)
        out["trained"][f"engine_bs{bs}_ex_s"] = e
        log(f"profile-beam: trained tiny, batch {bs}: {e:.1f} ex/s vs reference {ref:.1f} ex/s = {e / ref:.1f}x "
            f"(mean output {ln:.1f} tokens)")
    # 3. the small shape, random weights, longer outputs
    mc = config_lib.ModelConfig(source="scratch", size="small", vocab_size=4000)
    torch.manual_seed(0)
    small, _ = model_lib.build(mc, tok, 258)
    small.eval()
    out["small_random"] = {}
    for max_len in (32, 128):
        enc2 = encode(ex[:32], tok, 256, max_len, ids["eos"])
        r, rl = speed(small, enc2.src[:4], 1, False, max_len)
        e, el = speed(small, enc2.src, 32, True, max_len)
        out["small_random"][max_len] = {"engine_ex_s": e, "reference_ex_s": r, "ratio": e / r, "mean_out": el}
        log(f"profile-beam: small random-init, max_len {max_len}: engine {e:.2f} ex/s, reference {r:.3f} ex/s = "
            f"{e / r:.1f}x (mean output {el:.0f} tokens)")
    # 4. proposal: beams of one example share the encoder, so the cross-attention cache needs no reordering
    from transformers import cache_utils

    orig = cache_utils.EncoderDecoderCache.reorder_cache

    def self_only(self, beam_idx):
        self.self_attention_cache.reorder_cache(beam_idx)

    out["shared_cross_cache"] = {}
    for name, m, max_len, src in (("trained tiny", model, 32, enc.src),
                                  ("small random", small, 32, encode(ex[:32], tok, 256, 32, ids["eos"]).src)):
        r = {}
        for variant in ("as shipped", "no cross reorder", "as shipped", "no cross reorder"):
            cache_utils.EncoderDecoderCache.reorder_cache = orig if variant == "as shipped" else self_only
            try:
                e, _ = speed(m, src, 32, True, max_len)
                outs = generate_ids(m, src, ids, beam_size=10, max_len=max_len, batch_size=32, device=dev)
            finally:
                cache_utils.EncoderDecoderCache.reorder_cache = orig
            r.setdefault(variant, []).append(e)
            r.setdefault(variant + " outputs", outs)
        same = r.pop("as shipped outputs") == r.pop("no cross reorder outputs")
        out["shared_cross_cache"][name] = {k: max(v) for k, v in r.items()} | {"identical_outputs": same}
        log(f"profile-beam: {name}: as shipped {max(r['as shipped']):.2f} ex/s, without the cross-attention cache "
            f"reorder {max(r['no cross reorder']):.2f} ex/s, identical outputs: {same}")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "profile_beam.json").write_text(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
