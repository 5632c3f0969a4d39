"""The honest floor for a BLEU number: the best score reachable by predicting ONE constant string for every example.

Smoothed BLEU-4 (the CodeXGLUE evaluator) gives a constant prediction a sizeable score (~12 on the built-in corpus),
so a model that has collapsed to one sentence still "scores". This module finds good constant strings fast: the
references are tokenised and cooked once, and a candidate is scored against all of them with the evaluator's
formulas (engine.bleu._score_tokens, re-implemented here on pre-cooked references; the winner is re-scored with
engine.bleu.smoothed_bleu4 to check they agree).

Candidates: given strings (the models' predictions), the most frequent training summaries, and a greedy search
that grows a sentence word by word from the most frequent summary words. The constant is CHOSEN on one set of
references (valid) and REPORTED on another (test), so it is a fair baseline; the best constant chosen on the test
references themselves (an oracle) is reported alongside.
"""
from __future__ import annotations

from collections import Counter

from engine import bleu

# the fast constant scorer is the engine's own (engine.floor: the floor every result is shown beside)
from engine.floor import Scorer  # noqa: E402


def greedy(scorer: Scorer, vocab: list[str], max_len: int = 14) -> tuple[list[str], float]:
    """Grow a constant sentence by inserting, at any position, the word that raises the score most."""
    best, best_s = [], scorer.score_tokens([])
    while len(best) < max_len:
        cand_s, cand = best_s, None
        for w in vocab:
            for pos in range(len(best) + 1):
                t = best[:pos] + [w] + best[pos:]
                s = scorer.score_tokens(t)
                if s > cand_s:
                    cand_s, cand = s, t
        if cand is None:
            break
        best, best_s = cand, cand_s
    return best, best_s


def best_constant(select_refs: list[str], report_refs: list[str], train_targets: list[str],
                  extra: list[str] = (), n_frequent: int = 200, vocab_size: int = 40) -> dict:
    sel, rep = Scorer(select_refs), Scorer(report_refs)
    freq = [t for t, _ in Counter(" ".join(bleu.tokenize(t)) for t in train_targets).most_common(n_frequent)]
    words = [w for w, _ in Counter(w for t in train_targets for w in bleu.tokenize(t)).most_common(vocab_size)]
    g, _ = greedy(sel, words)
    cands = list(dict.fromkeys([*extra, *freq, " ".join(g)]))
    scored_sel = sorted(((sel.score(c), c) for c in cands), reverse=True)
    chosen = scored_sel[0][1]
    rep_score = rep.score(chosen)
    exact = bleu.smoothed_bleu4(report_refs, [chosen] * len(report_refs))
    oracle_cands = cands + [" ".join(greedy(rep, words)[0])]
    oracle = max((rep.score(c), c) for c in oracle_cands)
    return {"chosen_on": "valid", "constant": chosen, "bleu_test": exact,
            "fast_scorer_matches": abs(exact - rep_score) < 1e-9,
            "oracle_constant_on_test": oracle[1], "oracle_bleu_test": oracle[0],
            "given": {c: rep.score(c) for c in extra}}
