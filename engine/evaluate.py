"""Dev loss/perplexity, dev BLEU on a fixed subset, and the final per-language evaluation that writes
predictions in the official format, results.csv, samples, and `result` / `samples` events."""
from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from . import bleu
from .batching import Encoded, collate, sorted_batches
from .data import Example
from .distributed import Dist, shard, unshard
from .floor import floor_on
from .generate import DecodeStopped, generate_texts
from .contract.rundir import prediction_paths, write_predictions
from .errors import write_or_stop


@dataclass
class EvalSet:
    language: str
    split: str
    examples: list[Example]
    enc: Encoded


def token_loss(model, batch: dict, device, label_smoothing: float = 0.0) -> tuple[torch.Tensor, int]:
    """Sum of cross-entropy over real target tokens, and their count (padding never contributes)."""
    out = model(input_ids=batch["input_ids"].to(device, non_blocking=True),
                attention_mask=batch["attention_mask"].to(device, non_blocking=True),
                decoder_input_ids=batch["decoder_input_ids"].to(device, non_blocking=True),
                decoder_attention_mask=batch["decoder_attention_mask"].to(device, non_blocking=True))
    labels = batch["labels"].to(device, non_blocking=True)
    logits = out.logits.float()
    loss = torch.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), labels.view(-1),
                                             ignore_index=-100, reduction="sum",
                                             label_smoothing=label_smoothing)
    return loss, int((labels != -100).sum())


def dev_loss(model, enc: Encoded, ids: dict, batch_size: int, device, autocast, d: Dist | None = None) -> float:
    """Mean cross-entropy per real target token; with several ranks each takes a strided shard."""
    d = d or Dist()
    model.eval()
    total, count = 0.0, 0
    mine = shard(len(enc), d)
    with torch.inference_mode(), autocast:
        for b in sorted_batches([len(enc.src[i]) for i in mine], batch_size):
            loss, n = token_loss(model, collate(enc, [mine[i] for i in b], ids), device)
            total += float(loss)
            count += n
    total, count = d.sum([total, count], device)
    return total / max(count, 1)


def decode_and_score(model, tokenizer, es: EvalSet, ids: dict, *, beam_size: int, max_len: int,
                     batch_size: int, device, autocast, d: Dist | None = None, no_repeat_ngram: int = 0,
                     progress: Callable[[int, int], None] | None = None,
                     should_stop: Callable[[], bool] | None = None) -> dict:
    """Decode every example (sharded across ranks, gathered in order, no duplicates) and score it. When
    `should_stop()` turns true between two batches, every rank stops at its next batch and the result is
    {"stopped": True, "done": examples decoded, "total"} (the ranks agree through the one gather)."""
    d = d or Dist()
    mine = shard(len(es.enc), d)
    stopped, done = False, 0
    try:
        preds, seconds = generate_texts(model, tokenizer, [es.enc.src[i] for i in mine], ids, beam_size=beam_size,
                                        max_len=max_len, batch_size=batch_size, device=device, autocast=autocast,
                                        no_repeat_ngram=no_repeat_ngram, progress=progress,
                                        should_stop=should_stop)
    except DecodeStopped as e:
        preds, seconds, stopped, done = [], e.seconds, True, e.done
    if d.enabled:
        gathered = d.gather((preds, seconds, stopped, done if stopped else len(mine)))
        if any(g[2] for g in gathered):
            return {"stopped": True, "done": sum(g[3] for g in gathered), "total": len(es.enc)}
        preds = unshard([g[0] for g in gathered], len(es.enc), d.world)
        seconds = max(g[1] for g in gathered)
    elif stopped:
        return {"stopped": True, "done": done, "total": len(es.enc)}
    refs = [e.target for e in es.examples]
    return {"predictions": preds, "references": refs, "seconds": seconds, "stopped": False,
            "bleu4": bleu.smoothed_bleu4(refs, preds), "nltk_bleu4": bleu.nltk_corpus_bleu4(refs, preds)}


class DecodeProgress:
    """`progress` events (task "decode") for one split, at most every `interval` seconds (and the last one), with
    an ETA from the rate so far. With several ranks, rank 0 reports its shard scaled to the whole split."""

    def __init__(self, emit, es: EvalSet, world: int = 1, interval: float = 0.5):
        self.emit, self.es, self.world, self.interval = emit, es, world, interval
        self.t0 = time.monotonic()
        self._last = -math.inf

    def start(self) -> None:
        self.emit("progress", task="decode", language=self.es.language, split=self.es.split, done=0,
                  total=len(self.es.enc), message="decoding")

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last < self.interval:
            return
        self._last = now
        n = len(self.es.enc)
        scaled = n if done >= total else min(n, done * self.world)
        rate = (now - self.t0) / max(done, 1)
        eta = round(rate * (total - done), 1)
        self.emit("progress", task="decode", language=self.es.language, split=self.es.split, done=scaled, total=n,
                  eta_seconds=eta, message="decoding")


def pick_samples(es: EvalSet, scored: dict, k: int, seed: int) -> list[dict]:
    idx = list(range(len(es.examples)))
    random.Random(seed).shuffle(idx)
    items = []
    for i in sorted(idx[:k]):
        ex = es.examples[i]
        items.append({"idx": i, "language": es.language, "split": es.split, "code": ex.code,
                      "reference": scored["references"][i], "prediction": scored["predictions"][i],
                      "bleu": round(bleu.sentence_bleu4(scored["references"][i], scored["predictions"][i]), 4)})
    return items


def final_evaluation(model, tokenizer, sets: list[EvalSet], ids: dict, *, run_dir, beam_size: int,
                     max_len: int, batch_size: int, device, autocast, n_samples: int, seed: int,
                     emit, d: Dist | None = None, should_stop: Callable[[], bool] | None = None,
                     floors: dict | None = None,
                     no_repeat_ngram: int = 0) -> tuple[list[dict], list[dict], dict | None]:
    """Decode and score each set; the main rank writes its predictions as soon as it is scored (a failed write
    is StopRun naming the file) and emits `progress` (decoding), `result` and `samples`. Returns (rows,
    samples, stopped): `stopped` is None, or {language, split, done, total} where `should_stop()` ended it
    (checked before each batch). `floors` {language: constant} adds the constant-prediction floor of each split
    (engine.floor) to its row: floor_bleu4, above_floor, floor_text."""
    d = d or Dist()
    rows, all_samples = [], []
    for es in sets:
        progress = DecodeProgress(emit, es, d.world) if d.is_main else None
        if progress:
            progress.start()
        sc = decode_and_score(model, tokenizer, es, ids, beam_size=beam_size, max_len=max_len,
                              batch_size=batch_size, device=device, autocast=autocast, d=d, progress=progress,
                              should_stop=should_stop, no_repeat_ngram=no_repeat_ngram)
        if sc["stopped"]:
            return rows, all_samples, {"language": es.language, "split": es.split, "done": sc["done"],
                                       "total": sc["total"]}
        if not d.is_main:
            continue
        out, _ = prediction_paths(run_dir, es.language, es.split)
        write_or_stop(out, "the predictions", write_predictions, run_dir, es.language, es.split, sc["predictions"],
                      sc["references"])
        row = {"language": es.language, "split": es.split, "n": len(es.examples),
               "bleu4": sc["bleu4"], "nltk_bleu4": sc["nltk_bleu4"],
               "decode_seconds": round(sc["seconds"], 3), "beam_size": beam_size}
        if floors and es.language in floors:
            constant = floors[es.language]
            row["floor_bleu4"] = floor_on(constant, sc["references"])
            row["above_floor"] = row["bleu4"] - row["floor_bleu4"]
            row["floor_text"] = constant
        rows.append(row)
        emit("result", **{k: v for k, v in row.items() if k != "above_floor"})
        samples = pick_samples(es, sc, n_samples, seed)
        all_samples += samples
        if samples:
            emit("samples", language=es.language, split=es.split, items=samples)
    return rows, all_samples, None


def perplexity(loss: float) -> float:
    return math.exp(min(loss, 50.0))
