"""The constant-prediction floor of a split: what smoothed BLEU-4 gives a model that writes ONE sentence for every
example.

Smoothed BLEU-4 (the CodeXGLUE evaluator) gives a constant prediction a sizeable score (about 12 on the built-in
corpus, about 9-10 on CodeXGLUE Ruby), so every BLEU figure is shown beside this floor. The floor is the best
single TRAINING summary, chosen on the dev references and reported on the evaluated split (a fair baseline: it
never sees the references it is scored on). Candidates are the most frequent training summaries plus the ones
whose words are most common in dev references; each is scored against all dev references with the evaluator's
formulas on pre-tokenised references (`Scorer`), and the winner is re-scored with engine.bleu.smoothed_bleu4.
"""
from __future__ import annotations

import math
import random
import sys
from collections import Counter
from itertools import chain

from . import bleu

_TINY = sys.float_info.min
N_FREQUENT = 150        # most frequent training summaries tried
N_WORDY = 150           # training summaries whose words are most frequent among dev references
MAX_SELECT_REFS = 600   # dev references used for choosing (a seeded sample when there are more)


def _ngrams(words):
    w1, w2, w3 = words[1:], words[2:], words[3:]
    return Counter(chain(zip(words), zip(words, w1), zip(words, w1, w2), zip(words, w1, w2, w3)))


class Scorer:
    """Mean smoothed BLEU-4 of one constant prediction against many references, references cooked once."""

    def __init__(self, references: list[str]):
        self.refs = []
        for r in references:
            toks = bleu.tokenize(r)
            self.refs.append((len(toks), _ngrams(toks)))

    def score_tokens(self, test: list[str]) -> float:
        tc = _ngrams(test)
        testlen = len(test)
        guesses = [testlen - k if testlen > k else 0 for k in range(4)]
        logden = [math.log(guesses[k] + (1 if k else 0) + _TINY) for k in range(4)]
        items = list(tc.items())
        total = 0.0
        for reflen, refmax in self.refs:
            correct = [0, 0, 0, 0]
            for ng, c in items:
                rc = refmax.get(ng)
                if rc:
                    correct[len(ng) - 1] += rc if rc < c else c
            lb = 0.0
            for k in range(4):
                lb += math.log(correct[k] + (1 if k else 0) + _TINY) - logden[k]
            lb /= 4.0
            lb += min(0, 1 - float(reflen + 1) / (testlen + 1))
            total += math.exp(lb)
        return total * 100.0 / max(1, len(self.refs))

    def score(self, text: str) -> float:
        return self.score_tokens(bleu.tokenize(text))


def candidates(train_targets: list[str], dev_refs: list[str]) -> list[str]:
    """Training summaries worth trying: the most frequent ones and the ones made of words common in dev."""
    norm = Counter(" ".join(bleu.tokenize(t)) for t in train_targets)
    norm.pop("", None)
    frequent = [t for t, _ in norm.most_common(N_FREQUENT)]
    df = Counter(w for r in dev_refs for w in set(bleu.tokenize(r)))
    n = max(1, len(dev_refs))

    def wordy(text: str) -> float:
        words = text.split()
        # mean share of dev references containing each word, times a brevity factor for very short candidates
        return sum(df[w] for w in words) / n / max(1, len(words)) * min(1.0, len(words) / 6)

    by_words = sorted(norm, key=lambda t: (-wordy(t), t))[:N_WORDY]
    return list(dict.fromkeys(frequent + by_words))


def constant_floor(train_targets: list[str], dev_refs: list[str], seed: int = 0) -> tuple[str, float]:
    """(the chosen constant training summary, its smoothed BLEU-4 on the dev references)."""
    if not train_targets or not dev_refs:
        return "", 0.0
    select = list(dev_refs)
    if len(select) > MAX_SELECT_REFS:
        select = random.Random(seed).sample(select, MAX_SELECT_REFS)
    scorer = Scorer(select)
    best_score, best = max((scorer.score(c), c) for c in candidates(train_targets, select))
    return best, best_score


def floor_on(constant: str, references: list[str]) -> float:
    """The exact smoothed BLEU-4 of predicting `constant` for every reference (the official formula)."""
    if not references:
        return 0.0
    return bleu.smoothed_bleu4(references, [constant] * len(references))
