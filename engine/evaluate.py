"""Dev loss/perplexity, dev BLEU on a fixed subset, and the final per-language evaluation that writes
predictions in the official format, results.csv, samples, and `result` / `samples` events."""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch

from . import bleu
from .batching import Encoded, collate, sorted_batches
from .data import Example
from .distributed import Dist, shard, unshard
from .generate import generate_texts
from .contract.rundir import write_predictions


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
                     batch_size: int, device, autocast, d: Dist | None = None) -> dict:
    """Decode every example (sharded across ranks, gathered in order, no duplicates) and score it."""
    d = d or Dist()
    mine = shard(len(es.enc), d)
    preds, seconds = generate_texts(model, tokenizer, [es.enc.src[i] for i in mine], ids, beam_size=beam_size,
                                    max_len=max_len, batch_size=batch_size, device=device, autocast=autocast)
    if d.enabled:
        gathered = d.gather((preds, seconds))
        preds = unshard([g[0] for g in gathered], len(es.enc), d.world)
        seconds = max(g[1] for g in gathered)
    refs = [e.target for e in es.examples]
    return {"predictions": preds, "references": refs, "seconds": seconds,
            "bleu4": bleu.smoothed_bleu4(refs, preds), "nltk_bleu4": bleu.nltk_corpus_bleu4(refs, preds)}


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
                     emit, d: Dist | None = None) -> tuple[list[dict], list[dict]]:
    """Decode and score each set; the main rank writes predictions and emits `result` / `samples`."""
    d = d or Dist()
    rows, all_samples = [], []
    for es in sets:
        sc = decode_and_score(model, tokenizer, es, ids, beam_size=beam_size, max_len=max_len,
                              batch_size=batch_size, device=device, autocast=autocast, d=d)
        if not d.is_main:
            continue
        write_predictions(run_dir, es.language, es.split, sc["predictions"], sc["references"])
        row = {"language": es.language, "split": es.split, "n": len(es.examples),
               "bleu4": sc["bleu4"], "nltk_bleu4": sc["nltk_bleu4"],
               "decode_seconds": round(sc["seconds"], 3), "beam_size": beam_size}
        rows.append(row)
        emit("result", **row)
        samples = pick_samples(es, sc, n_samples, seed)
        all_samples += samples
        if samples:
            emit("samples", language=es.language, split=es.split, items=samples)
    return rows, all_samples


def perplexity(loss: float) -> float:
    return math.exp(min(loss, 50.0))
