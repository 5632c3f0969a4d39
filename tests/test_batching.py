"""Length-bucketed batches and collation: every example once, deterministic, little padding, loss masks."""
import random

import torch

from engine.batching import BatchPlan, Encoded, bucket_batches, collate, sorted_batches

IDS = {"start": 0, "eos": 2, "pad": 1}


def _enc(n=400, seed=0):
    rng = random.Random(seed)
    src = [[5] * rng.randint(3, 250) for _ in range(n)]
    tgt = [[6] * rng.randint(1, 60) + [2] for _ in range(n)]
    return Encoded(src, tgt)


def _padded(enc, batches):
    return sum(len(b) * (max(len(enc.src[i]) for i in b) + max(len(enc.tgt[i]) for i in b)) for b in batches)


def test_bucket_batches_cover_every_example_once_and_are_deterministic():
    enc = _enc()
    keys = [(len(s) // 16, len(t)) for s, t in zip(enc.src, enc.tgt)]
    a = bucket_batches(keys, 32, seed=1, epoch=0)
    assert sorted(i for b in a for i in b) == list(range(400))
    assert a == bucket_batches(keys, 32, seed=1, epoch=0)
    assert a != bucket_batches(keys, 32, seed=1, epoch=1)
    real = sum(len(s) + len(t) for s, t in zip(enc.src, enc.tgt))
    rand = list(range(400))
    random.Random(3).shuffle(rand)
    unbucketed = [rand[i:i + 32] for i in range(0, 400, 32)]
    # bucketing computes far fewer padded tokens than random batches, and far fewer than fixed 256/128 padding
    assert _padded(enc, a) < 0.75 * _padded(enc, unbucketed)
    assert real / _padded(enc, a) > 0.6 and real / (400 * (256 + 128)) < 0.45


def test_sorted_batches_longest_first():
    b = sorted_batches([3, 9, 1, 7], 2)
    assert b == [[1, 3], [0, 2]]


def test_collate_pads_to_batch_max_and_masks_labels():
    enc = Encoded([[0, 7, 8, 2], [0, 9, 2]], [[4, 5, 2], [6, 2]])
    out = collate(enc, [0, 1], IDS)
    assert out["input_ids"].tolist() == [[0, 7, 8, 2], [0, 9, 2, 1]]
    assert out["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]
    assert out["decoder_input_ids"].tolist() == [[0, 4, 5], [0, 6, 1]]
    assert out["labels"].tolist() == [[4, 5, 2], [6, 2, -100]]
    assert out["decoder_attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    fixed = collate(enc, [0, 1], IDS, pad_to=(8, 5))
    assert fixed["input_ids"].shape == (2, 8) and fixed["labels"].shape == (2, 5)
    assert (fixed["labels"][:, 3:] == -100).all() and out["n_tgt_tokens"] == 5 and out["n_src_tokens"] == 7
    assert torch.equal(fixed["labels"][:, :3], out["labels"])


def test_batch_plan_repeats_examples_per_epoch_and_none_is_the_plain_plan():
    rng = random.Random(1)
    lengths = [(rng.randint(0, 3), rng.randint(1, 20)) for _ in range(300)]
    plain = BatchPlan(lengths, 16, seed=5, accum=1)
    assert plain.batches(0) == bucket_batches(lengths, 16, 5, 0)          # no repeats: the plan as it was
    assert BatchPlan(lengths, 16, seed=5, accum=1, repeats=None).batches(2) == bucket_batches(lengths, 16, 5, 2)
    repeats = [3 if i < 40 else 1 for i in range(300)]                    # the first 40 are the own examples
    plan = BatchPlan(lengths, 16, seed=5, accum=1, repeats=repeats)
    for epoch in (0, 1):
        seen = [i for b in plan.batches(epoch) for i in b]
        assert sorted(seen) == sorted(i for i, r in enumerate(repeats) for _ in range(r))
        assert all(len(b) <= 16 for b in plan.batches(epoch))
    assert plan.batches(0) != plan.batches(1)                             # a new order every epoch
    again = BatchPlan(lengths, 16, seed=5, accum=1, repeats=repeats)
    assert again.batches(1) == plan.batches(1)                            # deterministic: a resume replays it
    # batches stay length-bucketed: most hold examples of one source bucket
    same = sum(len({lengths[i][0] for i in b}) == 1 for b in plan.batches(0))
    assert same >= 0.8 * len(plan.batches(0))
