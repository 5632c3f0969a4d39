"""Smoothed BLEU-4, numerically identical to the CodeXGLUE code-to-text evaluator.

The official scorer is ``Code-Text/code-to-text/evaluator/bleu.py`` in microsoft/CodeXGLUE (itself the CodeBERT /
codenn ``bleu.py``, adapted from the MOSES ``bleu.py`` by hieuhoang1972).  This module re-implements its algorithm
step for step, with the evaluator's module settings (``nonorm = 0``, ``preserve_case = False``,
``eff_ref_len = "shortest"``, ``smooth = 1``):

1. **Pre-processing** (``computeMaps``): every text goes through ``splitPuncts(text.strip().lower())``, where
   ``splitPuncts`` joins ``re.findall(r"[\\w]+|[^\\s\\w]", line)`` with single spaces (``\\w`` includes ``_``, so
   ``foo_bar`` is still one word here; step 2 splits it into ``foo _ bar``, whence DESIGN.md's net summary
   ``[^\\W_]+|_|[^\\s\\w]``, which is what :func:`tokenize` uses as a proven-equivalent shortcut).
2. **Normalisation** (``normalize``, lifted from NIST mteval-v11a): strip ``<skipped>``, join hyphenated/line-broken
   text, XML-unescape (``&lt; &gt; &amp; &quot;``), pad with spaces, lower-case, then four regex substitutions that
   space out punctuation (period/comma only when not next to a digit, dash after a digit), and ``split()``.
3. **Per-sentence score** (``cook_refs``/``cook_test``/``score_cooked``): clipped n-gram matches for n = 1..4 against
   the per-n-gram maximum count over all references of the idx; effective reference length = the *shortest*
   reference; ``log p_n = log(correct_n + s + tiny) - log(guess_n + s + tiny)`` with ``s = 1`` for n > 1 and ``s = 0``
   for unigrams (``tiny = sys.float_info.min``); brevity penalty ``min(0, 1 - (r + 1) / (c + 1))`` added to the mean
   log precision; score = ``exp(...)``.
4. **Corpus score** (``bleuFromMaps``): walk the gold map in order, score every idx that also has a prediction,
   sum the sentence scores and return ``sum * 100.0 / n``.

The floating-point operations are performed in the same order as in the original, so the result is bit-identical
(the evaluator's sample, ``predictions.txt`` against ``reference.txt``, gives ``9.554726113590661``).

File format (``computeMaps``): one ``idx<TAB>text`` per line.  Prediction lines are ``strip()``-ed and split on tabs
(``idx`` alone means an empty prediction; columns after the second are ignored; a repeated idx keeps the last line).
Gold lines are split on tabs into exactly two fields; an idx may occur on several lines (several references).
Predictions whose idx is not in the gold file, and gold entries without a prediction, are ignored.

Deviations from the original, none of which changes a score the original can compute: blank gold lines are skipped
(the original raises ``ValueError``), a malformed gold line raises a ``ValueError`` that names the line, and scoring
zero pairs raises ``ValueError`` instead of ``ZeroDivisionError``.  Files are read as UTF-8 (the original uses the
locale's encoding).

Public API
----------
``read_map(path_or_lines, kind="gold")``        idx -> list of texts, as ``computeMaps`` reads them
``smoothed_bleu4(references, predictions)``     the headline number (percentage), as the official evaluator prints it
``bleu_from_maps(references, predictions)``     the evaluator's full 5-element ``bleuFromMaps`` list
``sentence_bleu4(reference, prediction)``       one pair's smoothed BLEU-4 (percentage)
``nltk_corpus_bleu4(references, predictions)``  secondary column: NLTK corpus BLEU-4 on the same tokens
``score_files(reference_file, prediction_lines)`` / ``main(argv)``   the evaluator's command line
"""

from __future__ import annotations

import math
import os
import re
import sys
import xml.sax.saxutils
from collections import Counter
from collections.abc import Iterable, Mapping
from itertools import chain

__all__ = [
    "split_puncts",
    "normalize",
    "preprocess",
    "tokenize",
    "tokenize_literal",
    "read_map",
    "bleu_from_maps",
    "smoothed_bleu4",
    "sentence_bleu4",
    "sentence_scores",
    "nltk_corpus_bleu4",
    "score_files",
    "main",
]

N = 4  # BLEU order
_TINY = sys.float_info.min

# --- tokenisation (compiled once) ------------------------------------------------------------------------------

_SPLIT_PUNCTS = re.compile(r"[\w]+|[^\s\w]")

_NORMALIZE1 = [
    (re.compile(pattern), replace)
    for (pattern, replace) in (
        ("<skipped>", ""),  # strip "skipped" tags
        (r"-\n", ""),  # strip end-of-line hyphenation and join lines
        (r"\n", " "),  # join lines
    )
]
_NORMALIZE2 = [
    (re.compile(pattern), replace)
    for (pattern, replace) in (
        (r"([\{-\~\[-\` -\&\(-\+\:-\@\/])", r" \1 "),  # tokenize punctuation. apostrophe is missing
        (r"([^0-9])([\.,])", r"\1 \2 "),  # tokenize period and comma unless preceded by a digit
        (r"([\.,])([^0-9])", r" \1 \2"),  # tokenize period and comma unless followed by a digit
        (r"([0-9])(-)", r"\1 \2 "),  # tokenize dash when preceded by a digit
    )
]
_UNESCAPE_EXTRA = {"&quot;": '"'}


def split_puncts(line: str) -> str:
    """The evaluator's ``splitPuncts``: words (``\\w+``) and single non-space punctuation marks, space-joined."""
    return " ".join(_SPLIT_PUNCTS.findall(line))


def normalize(s) -> list[str]:
    """The evaluator's ``normalize`` (NIST mteval-v11a, ``nonorm = 0``, ``preserve_case = False``): token list."""
    if type(s) is not str:
        s = " ".join(s)
    for pattern, replace in _NORMALIZE1:
        s = pattern.sub(replace, s)
    s = xml.sax.saxutils.unescape(s, _UNESCAPE_EXTRA)
    s = (" %s " % s).lower()
    for pattern, replace in _NORMALIZE2:
        s = pattern.sub(replace, s)
    return s.split()


def preprocess(text: str) -> str:
    """What ``computeMaps`` stores for a text: ``splitPuncts(text.strip().lower())``."""
    return split_puncts(text.strip().lower())


# ``normalize(split_puncts(t))`` for ``t = text.strip().lower()`` collapses to one regex: on ``split_puncts`` output
# (space-separated ``\w+`` runs and single punctuation marks) ``normalize1`` and the XML unescape cannot match (no
# newlines; ``<skipped>``/``&lt;`` arrive already split), the second ``lower()`` is a no-op (``str.lower`` is
# idempotent on every code point), and ``normalize2`` only inserts spaces, whose one effect on the tokens is to split
# ``_`` out of words ("foo_bar" -> "foo", "_", "bar").  tests/test_bleu.py checks this against the literal composition
# on every Unicode code point in several contexts and on random text.
_TOKEN = re.compile(r"[^\W_]+|_|[^\s\w]")


def tokenize(text: str) -> list[str]:
    """The tokens BLEU compares for a raw text: equal to ``normalize(preprocess(text))``, in one regex pass."""
    return _TOKEN.findall(text.strip().lower())


def tokenize_literal(text: str) -> list[str]:
    """``normalize(splitPuncts(text.strip().lower()))`` step by step, as the evaluator does (slow; for checks)."""
    return normalize(preprocess(text))


# --- scoring -----------------------------------------------------------------------------------------------------


def _ngram_counts(words: list[str]) -> Counter:
    """Counts of the 1..4-grams of ``words`` as tuples (the original ``count_ngrams``), counted in C."""
    w1, w2, w3 = words[1:], words[2:], words[3:]
    return Counter(chain(zip(words), zip(words, w1), zip(words, w1, w2), zip(words, w1, w2, w3)))


def _cook_refs(refs: list[list[str]]):
    """``cook_refs`` on already-normalised references: reference lengths and per-n-gram max counts."""
    if not refs:
        raise ValueError("an idx has no reference text")
    maxcounts = _ngram_counts(refs[0])
    for ref in refs[1:]:
        maxcounts |= _ngram_counts(ref)  # per-n-gram maximum over the references
    return [len(r) for r in refs], maxcounts


def _effective_reflen(reflens: list[int], testlen: int, eff_ref_len: str):
    if eff_ref_len == "shortest":
        return min(reflens)
    if eff_ref_len == "average":
        return float(sum(reflens)) / len(reflens)
    if eff_ref_len == "closest":
        best, min_diff = None, None
        for reflen in reflens:
            if min_diff is None or abs(reflen - testlen) < min_diff:
                min_diff = abs(reflen - testlen)
                best = reflen
        return best
    raise ValueError(f"eff_ref_len must be 'shortest', 'average' or 'closest', not {eff_ref_len!r}")


def _score_tokens(refs: list[list[str]], test: list[str], eff_ref_len: str = "shortest") -> list[float]:
    """``score_cooked([cook_test(test, cook_refs(refs))], smooth=1)`` on normalised token lists.

    Returns the evaluator's 5-element list: [smoothed BLEU-4, p1, p2, p3, p4] (fractions; p_n unsmoothed).
    """
    reflens, refmax = _cook_refs(refs)
    testlen = len(test)
    reflen = _effective_reflen(reflens, testlen, eff_ref_len)
    test_counts = _ngram_counts(test)
    correct = [0] * N
    for ngram in test_counts.keys() & refmax.keys():  # clipped matches; other n-grams contribute 0
        count, rc = test_counts[ngram], refmax[ngram]
        correct[len(ngram) - 1] += rc if rc < count else count
    logbleu = 0.0
    all_bleus = []
    for k in range(N):
        guess = testlen - k if testlen > k else 0
        addsmooth = 1 if k > 0 else 0
        logbleu += math.log(correct[k] + addsmooth + _TINY) - math.log(guess + addsmooth + _TINY)
        if guess == 0:
            all_bleus.append(-10000000)
        else:
            all_bleus.append(math.log(correct[k] + _TINY) - math.log(guess))
    logbleu /= float(N)
    all_bleus.insert(0, logbleu)
    brev_penalty = min(0, 1 - float(reflen + 1) / (testlen + 1))
    all_bleus[0] += brev_penalty
    return [math.exp(x) for x in all_bleus]


# --- maps ----------------------------------------------------------------------------------------------------------

def _lines(path_or_lines) -> Iterable[str]:
    if isinstance(path_or_lines, (str, os.PathLike)):
        with open(path_or_lines, encoding="utf-8") as f:
            return list(f)
    return path_or_lines


def read_map(path_or_lines, kind: str = "gold") -> dict[str, list[str]]:
    """Read ``idx<TAB>text`` lines (a file path, or an iterable of lines) the way ``computeMaps`` does.

    ``kind="gold"``: each line is split on tabs into exactly two fields; every line appends its text to its idx's
    list (several references per idx), in file order.  Blank lines are skipped.
    ``kind="prediction"``: each line is ``strip()``-ed and split on tabs; a line holding only an idx is an empty
    prediction; extra columns are ignored; a repeated idx keeps the last line.  Values are one-element lists.

    Texts are returned ``strip()``-ed (the scorer strips them anyway), not lower-cased or tokenised.
    """
    if kind not in ("gold", "prediction"):
        raise ValueError(f"kind must be 'gold' or 'prediction', not {kind!r}")
    out: dict[str, list[str]] = {}
    for lineno, row in enumerate(_lines(path_or_lines), 1):
        if kind == "prediction":
            cols = row.strip().split("\t")
            rid, text = (cols[0], "") if len(cols) == 1 else (cols[0], cols[1])
            out[rid] = [text.strip()]
        else:
            if not row.strip():
                continue
            cols = row.split("\t")
            if len(cols) != 2:
                raise ValueError(
                    f"reference line {lineno}: expected 'idx<TAB>text' (exactly one tab), got {len(cols) - 1} tabs"
                )
            rid, text = cols
            out.setdefault(rid, []).append(text.strip())
    return out


def _as_map(data, *, name: str) -> dict[str, list[str]]:
    """dict idx -> str | list[str], or a list aligned by position (idx = str(i)) -> dict str -> list[str]."""
    if isinstance(data, Mapping):
        items = data.items()
    elif isinstance(data, (str, bytes)):
        raise TypeError(f"{name} must be a dict or a list of texts, not a single string")
    else:
        items = enumerate(data)
    out: dict[str, list[str]] = {}
    for key, value in items:
        out[str(key)] = [value] if isinstance(value, str) else list(value)
    return out


def _pairs(references, predictions):
    """(idx, reference texts, prediction text) in gold order, for each idx present in both, as ``bleuFromMaps``."""
    refs = _as_map(references, name="references")
    preds = _as_map(predictions, name="predictions")
    for key, ref_texts in refs.items():
        if key in preds:
            pred = preds[key]
            yield key, ref_texts, (pred[0] if pred else "")


def bleu_from_maps(references, predictions, *, eff_ref_len: str = "shortest") -> list[float]:
    """The evaluator's ``bleuFromMaps``: [smoothed BLEU-4, p1, p2, p3, p4], each a sentence average ×100.

    ``references``/``predictions``: dicts idx -> text (or list of texts; a prediction list uses its first text), or
    lists aligned by position.  Raw texts: they are lower-cased and tokenised here.
    """
    score = [0] * 5
    num = 0.0
    for _key, ref_texts, pred in _pairs(references, predictions):
        bl = _score_tokens([tokenize(r) for r in ref_texts], tokenize(pred), eff_ref_len)
        score = [score[i] + bl[i] for i in range(5)]
        num += 1
    if not num:
        raise ValueError("no prediction has an idx that is in the references: nothing to score")
    return [s * 100.0 / num for s in score]


def smoothed_bleu4(references, predictions) -> float:
    """Smoothed BLEU-4 (percentage) exactly as the CodeXGLUE evaluator prints it.

    Lists are aligned by position; dicts are matched by idx (a reference entry may be a list of references);
    predictions without a reference and references without a prediction are ignored.
    """
    return bleu_from_maps(references, predictions)[0]


def sentence_bleu4(reference, prediction: str) -> float:
    """Smoothed BLEU-4 (percentage) of one prediction against one reference text or a list of them."""
    refs = [reference] if isinstance(reference, str) else list(reference)
    return _score_tokens([tokenize(r) for r in refs], tokenize(prediction))[0] * 100.0


def sentence_scores(references, predictions) -> dict[str, float]:
    """Per-idx smoothed BLEU-4 (percentage) for every idx in both maps, in reference order."""
    return {
        key: _score_tokens([tokenize(r) for r in ref_texts], tokenize(pred))[0] * 100.0
        for key, ref_texts, pred in _pairs(references, predictions)
    }


def nltk_corpus_bleu4(references, predictions) -> float:
    """Secondary metric: NLTK ``corpus_bleu`` BLEU-4 (percentage) on the evaluator's tokens.

    Same pairing and tokenisation as :func:`smoothed_bleu4` (lower-cased, ``splitPuncts`` + ``normalize``), uniform
    weights (0.25 × 4), NLTK's brevity penalty (closest reference length, corpus level) and
    ``SmoothingFunction().method1`` (epsilon 0.1 added to the numerator of an order with zero matches).  On a corpus
    where every order has at least one match (any real test set), method1 equals unsmoothed corpus BLEU; it only
    keeps tiny corpora from scoring 0 with warnings.  Returns 0.0 when there is nothing to score.
    """
    from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu

    list_of_refs, hyps = [], []
    for _key, ref_texts, pred in _pairs(references, predictions):
        list_of_refs.append([tokenize(r) for r in ref_texts])
        hyps.append(tokenize(pred))
    if not hyps or not any(hyps):
        return 0.0
    value = corpus_bleu(
        list_of_refs, hyps, weights=(0.25, 0.25, 0.25, 0.25), smoothing_function=SmoothingFunction().method1
    )
    return float(value) * 100.0


# --- the evaluator's command line --------------------------------------------------------------------------------


def _score_files(reference_file, prediction_lines) -> tuple[float, int]:
    preds = read_map(prediction_lines, kind="prediction")
    gold = read_map(reference_file, kind="gold")
    matched = {k: v for k, v in gold.items() if k in preds}  # computeMaps keeps only idx with a prediction
    if not matched:
        raise ValueError("no prediction idx occurs in the reference file: nothing to score")
    return bleu_from_maps(matched, preds)[0], len(matched)


def score_files(reference_file, prediction_lines) -> float:
    """``bleuFromMaps(*computeMaps(prediction_lines, reference_file))[0]``.

    ``reference_file``: path of the gold ``idx<TAB>text`` file (or an iterable of its lines).
    ``prediction_lines``: iterable of ``idx<TAB>text`` lines (or a path to such a file).
    """
    return _score_files(reference_file, prediction_lines)[0]


def main(argv=None) -> int:
    """``python -m engine.bleu REFERENCE_FILE < PREDICTIONS``: prints the score as the official script does.

    ``argv`` is the argument list without the program name (default ``sys.argv[1:]``); predictions come from stdin.
    Like the original, writes ``Total: N`` (matched idx count) to stderr and ``print()``s the float to stdout.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        sys.stderr.write("usage: bleu REFERENCE_FILE < PREDICTIONS_FILE  (both 'idx<TAB>text' per line)\n")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    predictions = list(sys.stdin)
    try:
        score, total = _score_files(argv[0], predictions)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    sys.stderr.write("Total: " + str(total) + "\n")
    print(score)
    return 0


if __name__ == "__main__":
    sys.exit(main())
