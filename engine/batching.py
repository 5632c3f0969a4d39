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


def encode(examples: list[Example], tokenizer, max_source_len: int, max_target_len: int, eos_id: int,
           lowercase_targets: bool = False) -> Encoded:
    """Source ids (`<s> ... </s>`, truncated) and target ids (cut to max_target_len - 1, then eos); the targets
    lower-cased first with `lowercase_targets` (data.lowercase: the dev loss of a lower-case model)."""
    src = tokenizer([e.source for e in examples], add_special_tokens=True, truncation=True,
                    max_length=max_source_len)["input_ids"]
    tgt_raw = tokenizer([e.target.lower() if lowercase_targets else e.target for e in examples],
                        add_special_tokens=False)["input_ids"]
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


def bucket_key(src: list[int], tgt: list[int]):
    """The training batches' length key: source length in steps of 16, then target length, so both sides pad
    little (sorting by the sum left target padding efficiency at 0.33 on the built-in corpus; this key computes
    7 % fewer tokens)."""
    return len(src) // 16, len(tgt)


def padded_tokens(enc: Encoded, group: list[list[int]]) -> int:
    """Tokens a group of batches computes (each batch padded to its longest source and target)."""
    return sum(len(b) * (max(len(enc.src[i]) for i in b) + max(len(enc.tgt[i]) for i in b)) for b in group)


class BatchPlan:
    """The training batches in order. Every epoch is `bucket_batches` of the length keys (deterministic in seed and
    epoch); an optimizer step takes the next `world * accum` consecutive batches and rank r trains on its own
    `accum` of them, so a step sees the same examples whatever the world size. With several ranks an epoch's last
    partial step is dropped, so the ranks stay in step. `repeats[i]` (data.oversample) puts example i that many
    times into every epoch (bucketed like the others); None means once each."""

    def __init__(self, lengths: list, batch_size: int, seed: int, accum: int, world: int = 1, rank: int = 0,
                 repeats: list[int] | None = None):
        self.batch_size, self.seed = batch_size, seed
        self.accum, self.world, self.rank = accum, world, rank
        self.per_step = accum * world
        # an epoch's entries: example i `repeats[i]` times (in place of i, its copies after every example)
        self._index = None if repeats is None else \
            list(range(len(lengths))) + [i for i, r in enumerate(repeats) for _ in range(r - 1)]
        self.lengths = lengths if self._index is None else [lengths[i] for i in self._index]
        self._epoch: int | None = None
        self._batches: list[list[int]] = []

    def batches(self, epoch: int) -> list[list[int]]:
        if self._epoch != epoch:
            batches = bucket_batches(self.lengths, self.batch_size, self.seed, epoch)
            if self._index is not None:
                batches = [[self._index[j] for j in b] for b in batches]
            self._batches = batches
            self._epoch = epoch
        return self._batches

    def next_group(self, state) -> list[list[int]]:
        """The batches of the next step (all ranks'); moves `state` (epoch, batch_in_epoch) to the next epoch first
        when the current one has no full step left."""
        remaining = len(self.batches(state.epoch)) - state.batch_in_epoch
        if remaining <= 0 or (self.world > 1 and remaining < self.per_step):
            state.epoch += 1
            state.batch_in_epoch = 0
        start = state.batch_in_epoch
        return self.batches(state.epoch)[start: start + self.per_step]

    def mine(self, group: list[list[int]]) -> list[list[int]]:
        """This rank's share of a step's batches."""
        return group[self.rank * self.accum: (self.rank + 1) * self.accum]
