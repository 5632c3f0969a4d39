"""Item 6 (GPU only): CodeBERT-shaped training throughput and MFU, fp32 vs bf16, eager vs torch.compile, and
beam-10 decoding speed. Skips cleanly (exit 0, says why) when no CUDA device is present.

Model: the engine's `base` from-scratch size (BART-shaped: d_model 768, 12 encoder + 6 decoder layers, 12 heads,
FFN 3072, vocabulary 32,000 BPE like the cram-1h preset), max lengths 256/128, batch 64, the built-in corpus's real
length distribution, the engine's own setup and step (engine.session.setup, engine.step.train_step: length-bucketed
batches, loss on real tokens).

For each of (fp32, bf16) x (eager, compile): warm-up steps (compile's recompiles for new shapes happen there), then
timed steps for `--seconds` seconds: real tokens/s and MFU = tokens/s x engine.model.flops_per_token / peak, with
the peak from engine.hardware's table for the precision (fp32 runs with TF32 matmuls enabled by the engine, so
the fp32 MFU is also reported against the TF32 tensor-core peak). Then beam-10 examples/s with the engine's
batched KV-cache beam (batch 128, bf16) and, on a few examples, the batch-1 no-cache reference, with the weights
of the last eager training configuration (seconds of training: outputs are long, close to a worst case).

One command for a session with the device tool (about 7-8 minutes on an H200):
    PYTHONUNBUFFERED=1 python3 -m bench gpu --out "$OUT"
Check the script on a CPU first (tiny model, a few steps, same code path):
    .venv/bin/python -m bench gpu --dry-run
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .common import OUT, QuietWriter, log

# dense TF32 tensor-core peaks (no sparsity), for the fp32 rows (engine.hardware enables TF32)
PEAK_TF32 = [("H200", 494.5e12), ("H100", 494.5e12), ("A100", 156e12), ("L40S", 183e12), ("A10G", 62.5e12),
             ("L4", 60e12), ("RTX 4090", 82.6e12)]


def _lookup(table, name):
    for frag, v in table:
        if frag in name:
            return v
    return None


def config(size: str, precision: str, compile_: bool, device: str):
    from engine.contract import config as config_lib

    cfg = config_lib.preset("cram-1h")
    cfg.name = "bench-gpu"
    cfg.model.size = size
    cfg.model.vocab_size = 32000 if size == "base" else 4000
    cfg.model.dropout = 0.1
    cfg.data.max_source_len, cfg.data.max_target_len = 256, 128
    cfg.data.max_valid, cfg.data.max_test = 64, 600
    cfg.train.batch_size = 64 if size == "base" else 16
    cfg.train.schedule = "constant"
    cfg.hardware.device = device
    cfg.hardware.precision = precision
    cfg.hardware.compile = compile_
    return cfg


def train_speed(base, precision: str, compile_: bool, seconds: float, warmup: int, device: str,
                size: str, keep: dict | None = None) -> dict:
    """Timed engine steps with a fresh copy of the weights at the given precision / compile setting. `keep`
    receives the trained model of an eager run ("model"), for the beam benchmark."""
    import copy
    import dataclasses

    import torch

    from engine import hardware
    from engine.batching import bucket_batches
    from engine.session import make_optimizer
    from engine.step import train_step

    cfg = config(size, precision, compile_, device)
    hw = hardware.resolve(cfg.hardware)
    model = copy.deepcopy(base.model).to(hw.device)
    model.train()
    t_compile0 = time.perf_counter()
    t = dataclasses.replace(base, cfg=cfg, hw=hw, model=model,
                            train_model=torch.compile(model) if compile_ else model,
                            optimizer=make_optimizer(model, cfg.train, hw))
    batches = bucket_batches(t.train_lengths, t.cfg.train.batch_size, 42, 0)
    lr = cfg.train.lr  # the constant schedule
    sync = torch.cuda.synchronize if t.hw.device.type == "cuda" else (lambda: None)
    k = 0
    for _ in range(warmup):
        train_step(t, [batches[k % len(batches)]], lr)
        k += 1
    sync()
    warm_s = time.perf_counter() - t_compile0
    tokens = steps = 0
    t0 = time.perf_counter()
    while True:
        b = batches[k % len(batches)]
        k += 1
        tokens += train_step(t, [b], lr).tokens
        steps += 1
        if steps % 5 == 0:
            sync()
            if time.perf_counter() - t0 >= seconds:
                break
    sync()
    dt = time.perf_counter() - t0
    tps = tokens / dt
    fpt = t.flops_per_token
    peak = t.hw.peak_flops
    out = {"precision": t.hw.precision, "compile": compile_, "steps": steps, "seconds": dt, "tokens_per_s": tps,
           "steps_per_s": steps / dt, "warmup_steps": warmup, "warmup_s": warm_s, "flops_per_token": fpt,
           "achieved_tflops": tps * fpt / 1e12, "peak_tflops": peak / 1e12 if peak else None,
           "mfu": tps * fpt / peak if peak else None}
    if precision == "fp32" and t.hw.device.type == "cuda":
        p32 = _lookup(PEAK_TF32, t.hw.name)
        out["mfu_vs_tf32_peak"] = tps * fpt / p32 if p32 else None
    if not compile_ and keep is not None:
        keep["model"] = t.model  # the beam benchmark decodes with trained (not random) weights
    if t.hw.device.type == "cuda":
        out["max_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
        torch.cuda.reset_peak_memory_stats()
    del t, model
    import gc

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return out


def beam_speed(s, cfg, model, n: int, n_ref: int, device: str) -> dict:
    """Beam-10 decoding of session `s`'s test sources with `model`, under config `cfg`."""
    import torch

    from engine import hardware
    from engine.generate import generate_ids

    hw = hardware.resolve(cfg.hardware)
    model = model.to(hw.device).eval()
    src = s.test_sets[0].enc.src[:n]
    kw = dict(beam_size=10, max_len=cfg.data.max_target_len, device=hw.device, autocast=hw.autocast())
    sync = torch.cuda.synchronize if hw.device.type == "cuda" else (lambda: None)
    generate_ids(model, src[:8], s.ids, batch_size=8, **kw)  # warm-up
    sync()
    t0 = time.perf_counter()
    out = generate_ids(model, src, s.ids, batch_size=cfg.eval.batch_size, **kw)
    sync()
    e_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = generate_ids(model, src[:n_ref], s.ids, batch_size=1, use_cache=False, **kw)
    sync()
    r_s = time.perf_counter() - t0
    # proposal measured alongside: no reorder of the cross-attention cache (beams of one example share it)
    from transformers import cache_utils

    orig = cache_utils.EncoderDecoderCache.reorder_cache
    cache_utils.EncoderDecoderCache.reorder_cache = lambda self, idx: self.self_attention_cache.reorder_cache(idx)
    try:
        t0 = time.perf_counter()
        out2 = generate_ids(model, src, s.ids, batch_size=cfg.eval.batch_size, **kw)
        sync()
        p_s = time.perf_counter() - t0
    finally:
        cache_utils.EncoderDecoderCache.reorder_cache = orig
    return {"no_cross_reorder_examples_per_s": len(src) / p_s, "no_cross_reorder_identical": out2 == out,
            "n": len(src), "batch_size": cfg.eval.batch_size, "precision": hw.precision,
            "engine_examples_per_s": len(src) / e_s, "reference_n": n_ref, "reference_examples_per_s": n_ref / r_s,
            "ratio": (len(src) / e_s) / (n_ref / r_s), "mean_output_tokens": sum(map(len, out)) / len(out),
            "top_beam_agreement_on_reference_subset": sum(a == b for a, b in zip(out[:n_ref], ref)) / n_ref}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench gpu")
    ap.add_argument("--out", default=None, help="folder for gpu.json (default bench/out)")
    ap.add_argument("--seconds", type=float, default=30.0, help="timed seconds per configuration")
    ap.add_argument("--warmup", type=int, default=12, help="untimed steps per configuration (compile happens here)")
    ap.add_argument("--dry-run", action="store_true", help="on the CPU, tiny model, a few seconds: checks the script")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--beam-n", type=int, default=512)
    a, _ = ap.parse_known_args(argv)
    import torch

    out_dir = Path(a.out) if a.out else OUT
    if not torch.cuda.is_available() and not a.dry_run:
        msg = "item 6 (GPU) skipped: no CUDA device on this machine (torch.cuda.is_available() is False)"
        print(msg)
        return 0
    device, size = ("cpu", "tiny") if a.dry_run else ("cuda", "base")
    seconds, warmup = (3.0, 2) if a.dry_run else (a.seconds, a.warmup)
    from engine import model as model_lib

    from .reference import prepare

    t_all = time.perf_counter()
    run_dir = (OUT / "tmp" / "gpu")
    run_dir.mkdir(parents=True, exist_ok=True)
    log(f"gpu: setting up the '{size}' model and the built-in corpus on {device}")
    base = prepare(config(size, "fp32", False, device), run_dir, QuietWriter())
    base.model.to("cpu")
    info = {"device": base.hw.name, "size": size, "params": model_lib.count_params(base.model),
            "batch_size": base.cfg.train.batch_size, "max_lengths": [256, 128],
            "mean_src_tokens": sum(map(len, base.train_enc.src)) / len(base.train_enc),
            "mean_tgt_tokens": sum(map(len, base.train_enc.tgt)) / len(base.train_enc),
            "versions": {"torch": torch.__version__}, "setup_s": time.perf_counter() - t_all}
    log(f"gpu: {info['params']:,} params, mean lengths {info['mean_src_tokens']:.0f}/{info['mean_tgt_tokens']:.0f}")
    rows = []
    trained: dict = {}
    combos = [("fp32", False), ("bf16", False)]
    if not a.no_compile:
        combos += [("bf16", True), ("fp32", True)]
    for prec, comp in combos:
        if a.dry_run and prec == "bf16":
            continue   # bf16 autocast on this CPU is only a correctness path; keep the dry run short
        log(f"gpu: training {prec} {'compile' if comp else 'eager'}")
        try:
            r = train_speed(base, prec, comp, seconds, warmup, device, size, keep=trained)
        except Exception as e:  # one configuration failing (a compile error, say) must not lose the others
            r = {"precision": prec, "compile": comp, "error": f"{type(e).__name__}: {e}"}
        rows.append(r)
        log(f"gpu:   {json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()})}")
        if time.perf_counter() - t_all > 420 and not a.dry_run:
            log("gpu: time is short, skipping the remaining configurations")
            break
    log("gpu: beam-10 decoding")
    beam_cfg = config(size, "bf16" if device == "cuda" else "fp32", False, device)
    beam = beam_speed(base, beam_cfg, trained.get("model", base.model), 64 if a.dry_run else a.beam_n,
                      2 if a.dry_run else 8, device)
    doc = {"info": info, "train": rows, "beam": beam, "total_s": time.perf_counter() - t_all,
           "target": "MFU >= 40% in bf16 training"}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / ("gpu-dry-run.json" if a.dry_run else "gpu.json")).write_text(json.dumps(doc, indent=2))
    print(f"{'precision':<10}{'mode':<9}{'tokens/s':>12}{'TFLOP/s':>10}{'MFU':>8}")
    for r in rows:
        if "error" in r:
            print(f"{r['precision']:<10}{'compile' if r['compile'] else 'eager':<9}  error: {r['error'][:80]}")
            continue
        mfu = f"{r['mfu']:.1%}" if r.get("mfu") is not None else "-"
        print(f"{r['precision']:<10}{'compile' if r['compile'] else 'eager':<9}{r['tokens_per_s']:>12,.0f}"
              f"{r['achieved_tflops']:>10.1f}{mfu:>8}")
    print(f"beam-10: engine {beam['engine_examples_per_s']:.1f} ex/s (batch {beam['batch_size']}), reference "
          f"{beam['reference_examples_per_s']:.2f} ex/s, ratio {beam['ratio']:.0f}x, agreement "
          f"{beam['top_beam_agreement_on_reference_subset']:.0%} on {beam['reference_n']}")
    print(f"wrote {out_dir}/{'gpu-dry-run.json' if a.dry_run else 'gpu.json'} ({doc['total_s']:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
