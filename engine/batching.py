"""Tokenised examples and length-bucketed dynamic batches: each batch is padded only to its own longest
example, never to the configured maximum (the original recipe padded every example to 256/128 tokens)."""
from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from .data import Example


@dataclass
class Encoded:
    src: list[list[int]]      # source ids incl. special tokens, truncated to max_source_len
    tgt: list[list[int]]      # target ids WITHOUT start token, ending with eos, truncated to max_target_len

    def __len__(self) -> int:
        return len(self.src)


def encode(examples: list[Example], tokenizer, max_source_len: int, max_target_len: int, eos_id: int) -> Encoded:
    src = tokenizer([e.source for e in examples], add_special_tokens=True, truncation=True,
                    max_length=max_source_len)["input_ids"]
    tgt_raw = tokenizer([e.target for e in examples], add_special_tokens=False)["input_ids"]
    tgt = [t[: max_target_len - 1] + [eos_id] for t in tgt_raw]
    return Encoded(src=src, tgt=tgt)


def bucket_batches(lengths: list, batch_size: int, seed: int, epoch: int, shuffle: bool = True,
                   pool: int = 50) -> list[list[int]]:
    """Index batches: shuffle, then sort by length key (an int or a tuple such as (src // 16, tgt)) inside pools
    of `pool` batches and cut; batch order shuffled. Deterministic in (seed, epoch), so a resumed run replays the
    same order."""
    idx = list(range(len(lengths)))
    rng = random.Random(seed * 1_000_003 + epoch)
    if shuffle:
        rng.shuffle(idx)
    chunk = batch_size * pool
    batches = []
    for start in range(0, len(idx), chunk):
        part = sorted(idx[start:start + chunk], key=lambda i: lengths[i])
        batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    if shuffle:
        rng.shuffle(batches)
    return batches


def sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Evaluation: globally length-sorted (longest first, so memory peaks early), no shuffling."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def pad(seqs: list[list[int]], pad_id: int, length: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad to the longest sequence (or to `length`); returns ids and the 0/1 mask of real tokens."""
    n = length or max(len(s) for s in seqs)
    ids = torch.full((len(seqs), n), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), n), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s, dtype=torch.long)
        mask[i, :len(s)] = 1
    return ids, mask


def collate(enc: Encoded, batch: list[int], ids: dict, pad_to: tuple[int, int] | None = None) -> dict:
    """Tensors for one batch. `decoder_input_ids` = [start] + target[:-1]; `labels` = target, -100 on padding.
    `pad_to=(src, tgt)` pads to fixed lengths instead (the original recipe, for the reference benchmark)."""
    src = [enc.src[i] for i in batch]
    tgt = [enc.tgt[i] for i in batch]
    src_len, tgt_len = pad_to if pad_to else (None, None)
    input_ids, attn = pad(src, ids["pad"], src_len)
    dec_ids, dec_mask = pad([[ids["start"]] + t[:-1] for t in tgt], ids["pad"], tgt_len)
    labels, _ = pad(tgt, -100, tgt_len)
    return {"input_ids": input_ids, "attention_mask": attn, "decoder_input_ids": dec_ids,
            "decoder_attention_mask": dec_mask, "labels": labels,
            "n_src_tokens": sum(map(len, src)), "n_tgt_tokens": sum(map(len, tgt))}
