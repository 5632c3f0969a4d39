"""Batched beam search with a KV cache, over length-sorted batches, decoded to text.

The search itself is transformers' `generate()` (beam search with a per-layer key/value cache, all beams of all
examples of a batch in one forward per step; num_beams=1 is greedy). Hypotheses are ranked by sum of
log-probabilities divided by length (length_penalty=1.0) and a beam finishes once `beam_size` hypotheses have
ended (early_stopping=True). Batches hold examples of similar source length, so almost no compute is spent on
padding. `use_cache=False, batch_size=1` gives the original code2nl Beam's cost profile (one example at a time,
the whole prefix re-run each step) with the same search, which the benchmark uses as its reference.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import torch
from transformers.cache_utils import DynamicCache, EncoderDecoderCache

from .batching import pad, sorted_batches

LENGTH_PENALTY = 1.0


class BeamCache(EncoderDecoderCache):
    """The KV cache for encoder-decoder beam search, minus a wasted copy: transformers reorders the self- and the
    cross-attention caches after every step, but the beams of one example share its encoder states, so reordering
    the cross-attention keys/values (every layer, every beam) is a no-op copy. Outputs are identical (tested);
    beam-10 decoding measured +19 % (tiny) to 4.3x (small, 32-token outputs) faster on CPU."""

    def reorder_cache(self, beam_idx: torch.LongTensor):
        self.self_attention_cache.reorder_cache(beam_idx)


def _cache_kwarg() -> str:
    """transformers renamed generate()'s `past_key_values` to `cache` (5.2x); older releases only know the former."""
    from packaging.version import Version
    import transformers

    return "cache" if Version(transformers.__version__) >= Version("5.20") else "past_key_values"


_CACHE_KWARG = _cache_kwarg()


def _search_kwargs(model, beam_size: int, use_cache: bool, no_repeat_ngram: int = 0) -> dict:
    rep = {"no_repeat_ngram_size": no_repeat_ngram} if no_repeat_ngram > 0 else {}
    if beam_size == 1:
        return rep  # greedy: no beam flags (transformers warns about early_stopping otherwise)
    kw = {"early_stopping": True, "length_penalty": LENGTH_PENALTY, **rep}
    if use_cache and model.config.is_encoder_decoder:
        kw[_CACHE_KWARG] = BeamCache(DynamicCache(), DynamicCache())
    return kw


class DecodeStopped(Exception):
    """`should_stop()` said so between two batches: `done` of `total` sources were decoded."""

    def __init__(self, done: int, total: int, seconds: float):
        super().__init__(f"decoding stopped after {done} of {total}")
        self.done, self.total, self.seconds = done, total, seconds


def generate_ids(model, src: list[list[int]], ids: dict, *, beam_size: int, max_len: int, batch_size: int,
                 device: torch.device, autocast=None, use_cache: bool = True, no_repeat_ngram: int = 0,
                 progress: Callable[[int, int], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> list[list[int]]:
    """Output token ids (without the start token, cut at eos) for each source, in input order. `progress(done,
    total)` is called after each batch; `should_stop()` before each one (DecodeStopped when it says so).
    `no_repeat_ngram` > 0: no n-gram of that many tokens twice in one output (eval.no_repeat_ngram)."""
    model.eval()
    out: list[list[int] | None] = [None] * len(src)
    autocast = autocast or contextlib.nullcontext()
    lengths = [len(s) for s in src]
    done, t0 = 0, time.perf_counter()
    with torch.inference_mode(), autocast:
        for batch in sorted_batches(lengths, batch_size):
            if should_stop is not None and should_stop():
                raise DecodeStopped(done, len(src), time.perf_counter() - t0)
            input_ids, mask = pad([src[i] for i in batch], ids["pad"])
            gen = model.generate(
                input_ids=input_ids.to(device), attention_mask=mask.to(device), num_beams=beam_size,
                max_new_tokens=max_len, do_sample=False, decoder_start_token_id=ids["start"],
                eos_token_id=ids["eos"], pad_token_id=ids["pad"], use_cache=use_cache, num_return_sequences=1,
                **_search_kwargs(model, beam_size, use_cache, no_repeat_ngram))
            for row, i in zip(gen.tolist(), batch):
                out[i] = _strip(row, ids)
            done += len(batch)
            if progress is not None:
                progress(done, len(src))
    return out  # type: ignore[return-value]


def _strip(row: list[int], ids: dict) -> list[int]:
    toks = row[1:] if row and row[0] == ids["start"] else row
    res = []
    for t in toks:
        if t == ids["eos"]:
            break
        if t != ids["pad"]:
            res.append(t)
    return res


def to_text(tokenizer, rows: list[list[int]]) -> list[str]:
    texts = tokenizer.batch_decode(rows, skip_special_tokens=True, clean_up_tokenization_spaces=False)
    return [" ".join(t.split()) for t in texts]


def generate_texts(model, tokenizer, src: list[list[int]], ids: dict, **kw) -> tuple[list[str], float]:
    t0 = time.perf_counter()
    rows = generate_ids(model, src, ids, **kw)
    return to_text(tokenizer, rows), time.perf_counter() - t0
