"""engine.bleu: smoothed BLEU-4 identical to the CodeXGLUE code-to-text evaluator."""

import io
import math
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine import bleu as B

ROOT = Path(__file__).resolve().parents[1]
SHARED_REFERENCE = ROOT.parent / "shared" / "reference"

OFFICIAL_SAMPLE_SCORE = 9.554726113590661

# Exact copy of the sample shipped with the evaluator (../shared/reference/{reference,predictions}.txt).
SAMPLE_GOLD = [
    "0\tOutputs the deferred summary information saved via\n",
    "1\tInspect the file referenced in the kubectl stderr to make it easier for developer to understand what s going"
    " on\n",
    "2\tmake sure to never prune the ejson - keys secret\n",
    "3\tDetermine the best compressor for the current system . This method returns the class not an instance of the"
    " class .\n",
    "4\tCreate the bff file using + mkinstallp + .\n",
]
SAMPLE_PREDICTIONS = [
    "0\tPrints a summary message\n",
    "1\tFinds the output from the output file\n",
    "2\tVerify that the given JSON element is present .\n",
    "3\tDetermines the specified compression compression .\n",
    "4\tCreates a new project .\n",
]


def _write_sample(tmp_path):
    gold = tmp_path / "reference.txt"
    pred = tmp_path / "predictions.txt"
    gold.write_text("".join(SAMPLE_GOLD), encoding="utf-8")
    pred.write_text("".join(SAMPLE_PREDICTIONS), encoding="utf-8")
    return gold, pred


# --- a literal, unoptimised transcription of cook_refs / cook_test / score_cooked (smooth=1, "shortest"), used as an
# --- oracle for the optimised scorer on random inputs


def _oracle_sentence(ref_texts, pred_text, n=4):
    def count_ngrams(words):
        counts = {}
        for k in range(1, n + 1):
            for i in range(len(words) - k + 1):
                ngram = tuple(words[i : i + k])
                counts[ngram] = counts.get(ngram, 0) + 1
        return counts

    refs = [B.normalize(B.split_puncts(r.strip().lower())) for r in ref_texts]
    maxcounts = {}
    for ref in refs:
        for ngram, count in count_ngrams(ref).items():
            maxcounts[ngram] = max(maxcounts.get(ngram, 0), count)
    test = B.normalize(B.split_puncts(pred_text.strip().lower()))
    reflen = min(len(r) for r in refs)
    guess = [max(len(test) - k + 1, 0) for k in range(1, n + 1)]
    correct = [0] * n
    for ngram, count in count_ngrams(test).items():
        correct[len(ngram) - 1] += min(maxcounts.get(ngram, 0), count)
    logbleu = 0.0
    for k in range(n):
        add = 1 if k > 0 else 0
        logbleu += math.log(correct[k] + add + sys.float_info.min) - math.log(guess[k] + add + sys.float_info.min)
    logbleu /= float(n)
    logbleu += min(0, 1 - float(reflen + 1) / (len(test) + 1))
    return math.exp(logbleu)


def _oracle_corpus(gold: dict, preds: dict):
    total, num = 0, 0.0
    for key, refs in gold.items():
        if key in preds:
            total = total + _oracle_sentence(refs, preds[key])
            num += 1
    return total * 100.0 / num


# --- the official number ----------------------------------------------------------------------------------------


def test_embedded_sample_matches_official_evaluator():
    assert B.score_files(SAMPLE_GOLD, SAMPLE_PREDICTIONS) == OFFICIAL_SAMPLE_SCORE
    gold = B.read_map(SAMPLE_GOLD)
    preds = {k: v[0] for k, v in B.read_map(SAMPLE_PREDICTIONS, kind="prediction").items()}
    assert B.smoothed_bleu4(gold, preds) == OFFICIAL_SAMPLE_SCORE
    # lists aligned by position give the same number
    assert B.smoothed_bleu4([g[0] for g in gold.values()], list(preds.values())) == OFFICIAL_SAMPLE_SCORE
    assert _oracle_corpus(gold, preds) == OFFICIAL_SAMPLE_SCORE


def test_embedded_sample_files(tmp_path):
    gold, pred = _write_sample(tmp_path)
    assert B.score_files(gold, pred.read_text(encoding="utf-8").splitlines(keepends=True)) == OFFICIAL_SAMPLE_SCORE
    assert B.score_files(str(gold), pred) == OFFICIAL_SAMPLE_SCORE


def test_shared_reference_matches_official_evaluator():
    if not SHARED_REFERENCE.is_dir():
        pytest.skip("../shared not present (fresh clone)")
    gold = SHARED_REFERENCE / "reference.txt"
    with open(SHARED_REFERENCE / "predictions.txt", encoding="utf-8") as f:
        predictions = list(f)
    score = B.score_files(gold, predictions)
    assert score == OFFICIAL_SAMPLE_SCORE
    assert round(score, 12) == round(OFFICIAL_SAMPLE_SCORE, 12)
    # and the embedded copy really is a copy
    assert gold.read_text(encoding="utf-8") == "".join(SAMPLE_GOLD)
    assert "".join(predictions) == "".join(SAMPLE_PREDICTIONS)


def test_bleu_from_maps_returns_the_five_element_list():
    gold = B.read_map(SAMPLE_GOLD)
    preds = B.read_map(SAMPLE_PREDICTIONS, kind="prediction")
    full = B.bleu_from_maps(gold, preds)
    assert len(full) == 5 and full[0] == OFFICIAL_SAMPLE_SCORE
    assert all(0.0 <= x <= 100.0 for x in full)


# --- hand-computed cases ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["x", "a b", "returns the value", "Returns the value of the key .", "a a a a a a a"])
def test_identical_sentences_score_exactly_100(text):
    # every log precision is log(m) - log(m) = 0 and the brevity term is 1 - (r+1)/(c+1) = 0
    assert B.sentence_bleu4(text, text) == 100.0
    assert B.smoothed_bleu4([text], [text]) == 100.0


def test_case_and_punctuation_are_normalised():
    assert B.sentence_bleu4("Returns the X.", "returns the x .") == 100.0
    assert B.sentence_bleu4("Returns the X.", "RETURNS   the\tX .") == 100.0
    # "returns the x" has 3 tokens against 4 ("." is a token): all precisions are 1 (the 4-gram one is (0+1)/(0+1)),
    # brevity term min(0, 1 - (4+1)/(3+1)) = -0.25
    assert B.sentence_bleu4("Returns the X.", "returns the x") == math.exp(-0.25) * 100.0


def test_partial_match_hand_computed():
    # ref "a b c d", hyp "a b x d": 1-grams 3/4; 2-grams 1/3 -> (1+1)/(3+1); 3-grams 0/2 -> 1/3; 4-grams 0/1 -> 1/2
    expected = ((math.log(3) - math.log(4)) + (math.log(2) - math.log(4)) + (math.log(1) - math.log(3))
                + (math.log(1) - math.log(2))) / 4.0
    assert B.sentence_bleu4("a b c d", "a b x d") == pytest.approx(math.exp(expected) * 100.0, rel=1e-15)
    # a longer hypothesis has no brevity penalty: "a b c d e" against "a b c d" -> 4/5, 4/5 (3+1)/(4+1), ...
    expected = ((math.log(4) - math.log(5)) + (math.log(4) - math.log(5)) + (math.log(3) - math.log(4))
                + (math.log(2) - math.log(3))) / 4.0
    assert B.sentence_bleu4("a b c d", "a b c d e") == pytest.approx(math.exp(expected) * 100.0, rel=1e-15)


def test_empty_prediction():
    # no n-grams: every log term is 0; brevity term 1 - (r+1)/1 = -r
    assert B.sentence_bleu4("a b c d e f g h i j", "") == math.exp(-10.0) * 100.0
    assert B.sentence_bleu4("one two three", "   ") == math.exp(-3.0) * 100.0
    # a prediction line with only an idx is an empty prediction, as in computeMaps
    assert B.score_files(["0\ta b c\n"], ["0\n"]) == math.exp(-3.0) * 100.0
    assert B.score_files(["0\ta b c\n"], ["0\t\n"]) == math.exp(-3.0) * 100.0
    assert B.sentence_bleu4("", "") == 100.0


def test_multiple_references_per_idx():
    gold_lines = ["0\tget the value\n", "0\tReturns the value of the key\n", "1\tfoo\n"]
    gold = B.read_map(gold_lines)
    assert gold == {"0": ["get the value", "Returns the value of the key"], "1": ["foo"]}
    # every hypothesis n-gram is in the second reference; the shortest reference (3 tokens) sets r
    assert B.sentence_bleu4(gold["0"], "returns the value") == 100.0
    assert B.sentence_bleu4(gold["0"][0], "returns the value") < 100.0
    assert B.score_files(gold_lines, ["0\treturns the value\n"]) == 100.0
    # clipping uses the per-n-gram maximum over references, not the sum: "a" occurs at most twice in one reference
    expected = ((math.log(2) - math.log(3)) + (math.log(1 + 1) - math.log(2 + 1)) + (math.log(1) - math.log(2))
                + (math.log(1) - math.log(1))) / 4.0
    assert B.sentence_bleu4(["a a b", "a b b"], "a a a") == pytest.approx(math.exp(expected) * 100.0, rel=1e-15)
    # the shortest reference length is the effective one
    assert B.sentence_bleu4(["a b", "a b c d e f"], "a b") == 100.0


def test_missing_indices_are_skipped():
    gold = {"0": "returns the value", "1": "get the name", "2": "set the name"}
    preds = {"0": "returns the value", "1": "get a name", "99": "not in gold"}
    expected = (B.sentence_bleu4("returns the value", "returns the value")
                + B.sentence_bleu4("get the name", "get a name")) / 2.0
    assert B.smoothed_bleu4(gold, preds) == pytest.approx(expected, rel=1e-15)
    lines_gold = [f"{k}\t{v}\n" for k, v in gold.items()]
    lines_pred = [f"{k}\t{v}\n" for k, v in preds.items()]
    assert B.score_files(lines_gold, lines_pred) == B.smoothed_bleu4(gold, preds)
    # lists: a shorter prediction list scores only the aligned positions
    assert B.smoothed_bleu4(["a b c", "d e f"], ["a b c"]) == 100.0
    with pytest.raises(ValueError):
        B.smoothed_bleu4({"0": "a"}, {"1": "a"})


def test_underscore_is_split_like_the_evaluator():
    # splitPuncts keeps "get_value" whole (\w includes "_"), then normalize's punctuation rule spaces out "_"
    assert B.tokenize("Get_Value.") == ["get", "_", "value", "."]
    assert B.tokenize_literal("Get_Value.") == ["get", "_", "value", "."]
    assert B.tokenize("x = 3.5, y-1 &lt;a&gt; <skipped>") == B.tokenize_literal("x = 3.5, y-1 &lt;a&gt; <skipped>")
    assert B.sentence_bleu4("get_value", "get _ value") == 100.0


def test_fast_tokenizer_equals_literal_normalisation():
    chars = [chr(cp) for cp in range(0x10000)]
    for template in ("{}", "a{}_1.{}-2,"):
        text = " ".join(template.format(c, c) for c in chars)
        assert B.tokenize(text) == B.tokenize_literal(text), template
    joined = "".join(chars) + "".join(chr(cp) for cp in range(0x10000, 0x110000, 7))
    assert B.tokenize(joined) == B.tokenize_literal(joined)
    for special in ("İstanbul", "ΟΔΟΣ.", "ǅemal", "ﬃ", "Straße_X", "١٢٣.٤", "a-\nb", "&quot;x&quot;", "&amp;&#38;"):
        assert B.tokenize(special) == B.tokenize_literal(special), special


def test_matches_literal_oracle_on_random_corpora():
    rng = random.Random(1234)
    vocab = ("the a Returns X x get_value __init__ 3.5 1,000 a-b 2-3 , . ; ( ) [ ] { } & &lt; &quot; <skipped> - "
             "naïve ÉCOLE Straße self.x don't 42 -- ... + = == != of value key").split(" ")

    def sentence():
        return " ".join(rng.choice(vocab) for _ in range(rng.randint(0, 18)))

    for _ in range(60):
        n = rng.randint(1, 12)
        gold = {str(i): [sentence() for _ in range(rng.choice([1, 1, 2, 3]))] for i in range(n)}
        preds = {str(i): sentence() for i in range(n) if rng.random() < 0.85}
        preds.setdefault("0", sentence())
        assert B.smoothed_bleu4(gold, preds) == _oracle_corpus(gold, preds)
        key = next(iter(preds))
        assert B.sentence_bleu4(gold[key], preds[key]) == _oracle_sentence(gold[key], preds[key]) * 100.0


def test_read_map_formats():
    preds = B.read_map(["0\tfirst\n", "1\n", "2\tthree\textra column\n", "0\tsecond\n", "  3\tx  \n"],
                       kind="prediction")
    assert preds == {"0": ["second"], "1": [""], "2": ["three"], "3": ["x"]}
    assert B.read_map(["0\ta\n", "\n", "1\tb\r\n"]) == {"0": ["a"], "1": ["b"]}
    with pytest.raises(ValueError, match="line 2"):
        B.read_map(["0\ta\n", "1\tb\tc\n"])
    with pytest.raises(ValueError):
        B.read_map(["0 no tab\n"])


def test_eff_ref_len_options():
    refs, hyp = ["a b", "a b c d e f"], "a b c d"
    shortest = B.bleu_from_maps([refs], [hyp])[0]
    closest = B.bleu_from_maps([refs], [hyp], eff_ref_len="closest")[0]
    average = B.bleu_from_maps([refs], [hyp], eff_ref_len="average")[0]
    assert shortest == B.sentence_bleu4(refs, hyp)
    assert closest == shortest  # |2-4| == |6-4|: the first reference wins the tie, r = 2 <= c: no penalty
    assert average == shortest  # r = (2+6)/2 = 4 = c: no penalty
    assert B.bleu_from_maps([refs], ["a b c"], eff_ref_len="average")[0] < B.sentence_bleu4(refs, "a b c")


# --- command line -------------------------------------------------------------------------------------------------


def test_main_prints_like_the_official_script(monkeypatch, capsys, tmp_path):
    gold, _ = _write_sample(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.StringIO("".join(SAMPLE_PREDICTIONS)))
    assert B.main([str(gold)]) == 0
    out, err = capsys.readouterr()
    assert out == f"{OFFICIAL_SAMPLE_SCORE}\n" == "9.554726113590661\n"
    assert "Total: 5" in err


def test_main_usage_and_errors(monkeypatch, capsys, tmp_path):
    assert B.main([]) == 2
    monkeypatch.setattr(sys, "stdin", io.StringIO("0\tx\n"))
    assert B.main([str(tmp_path / "missing.txt")]) == 1
    assert "error" in capsys.readouterr().err


def test_module_runs_as_a_script(tmp_path):
    gold, pred = _write_sample(tmp_path)
    with open(pred, encoding="utf-8") as stdin:
        proc = subprocess.run([sys.executable, "-m", "engine.bleu", str(gold)], stdin=stdin, capture_output=True,
                              text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "9.554726113590661\n"


# --- secondary metric and speed -----------------------------------------------------------------------------------


def test_nltk_corpus_bleu4():
    corpus = ["Returns the value of the key.", "Creates a new project .", "make sure to never prune the keys"]
    assert B.nltk_corpus_bleu4(corpus, corpus) == pytest.approx(100.0)
    # same tokenisation as the headline metric: case and punctuation spacing do not matter
    assert B.nltk_corpus_bleu4(corpus, [c.upper().replace(".", " . ") for c in corpus]) == pytest.approx(100.0)
    gold = B.read_map(SAMPLE_GOLD)
    preds = B.read_map(SAMPLE_PREDICTIONS, kind="prediction")
    value = B.nltk_corpus_bleu4(gold, preds)
    assert 0.0 < value < 100.0
    assert B.nltk_corpus_bleu4(["a b c"], [""]) == 0.0
    assert B.nltk_corpus_bleu4({"0": "a"}, {"1": "a"}) == 0.0


def test_scoring_15k_pairs_is_fast():
    rng = random.Random(7)
    words = "returns the value of a given key in map . if none is found , raise an error ( default ) get_x".split()

    def sentence():
        return " ".join(rng.choice(words) for _ in range(rng.randint(5, 25)))

    gold = [sentence() for _ in range(15000)]
    preds = [sentence() for _ in range(15000)]
    start = time.perf_counter()
    score = B.smoothed_bleu4(gold, preds)
    elapsed = time.perf_counter() - start
    assert 0.0 < score < 100.0
    assert elapsed < 2.0, f"15k pairs took {elapsed:.2f}s"
