"""cramgui.samples_data (reading every prediction of a split, the console's sentence BLEU) and
cramgui.code_highlight (the code pane's colours for the six CodeXGLUE languages)."""
from __future__ import annotations

import random

import pytest
from PySide6.QtGui import QTextDocument

from cramgui.code_highlight import CodeHighlighter
from cramgui.samples_data import PredictionsError, parse_gold, parse_predictions, read_split, sentence_bleu4
from engine import bleu as engine_bleu
from engine.contract.rundir import write_predictions

WORDS = ["return", "the", "value", "of", "x", "Get", "a", "list", "foo_bar", "(", ")", ".", ",", "3.5", "-", "_",
         "é", "naïve", "<", "&", "'", '"', "HTTP", "url", "12"]


def random_text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 14)))


def test_sentence_bleu_equals_the_engines_scorer():
    rng = random.Random(7)
    for _ in range(3000):
        ref, pred = random_text(rng), random_text(rng)
        assert sentence_bleu4([ref], pred) == engine_bleu.sentence_bleu4(ref, pred)
    refs = ["Return the value", "return a value of x"]
    assert sentence_bleu4(refs, "return the value of x") == engine_bleu.sentence_bleu4(refs, "return the value of x")
    assert sentence_bleu4(["Adds x"], "") == engine_bleu.sentence_bleu4("Adds x", "")
    with pytest.raises(ValueError):
        sentence_bleu4([], "x")


def test_the_files_are_read_as_the_evaluator_reads_them():
    preds, bad = parse_predictions("0\tfirst\n1\n\n2\tx\ty\n1\tsecond\n")
    assert preds == {0: "first", 1: "second", 2: "x"} and bad == 1      # last line of an idx wins; idx alone: ""
    gold, bad = parse_gold("0\ta\n0\tb\n1\tno\textra\n\n2\tc\nbroken\n")
    assert gold == {0: ["a", "b"], 2: ["c"]} and bad == 3


def test_read_split_merges_the_files_and_the_stored_code(tmp_path):
    write_predictions(tmp_path, "java", "test", ["get x", "set  the\tname", ""], ["Gets x", "Sets the name", "r"])
    got = read_split(tmp_path, "java", "test", [{"idx": 1, "code": "void setName() {}"}, {"idx": 9, "code": "?"}])
    assert got["found"] and got["note"] == ""
    assert [(r["idx"], r["prediction"], r["reference"], r["code"]) for r in got["rows"]] == [
        (0, "get x", "Gets x", None), (1, "set the name", "Sets the name", "void setName() {}"), (2, "", "r", None)]
    assert [r["bleu"] for r in got["rows"]] == [round(engine_bleu.sentence_bleu4(r, p), 4) for r, p in
                                                (("Gets x", "get x"), ("Sets the name", "set the name"), ("r", ""))]
    (tmp_path / "java_test.gold").write_text("0\tGets x\n")
    rows = read_split(tmp_path, "java", "test")["rows"]
    assert [(r["idx"], r["bleu"] is None) for r in rows] == [(0, False), (1, True), (2, True)]   # no reference


def test_read_split_refuses_what_it_must_not_read(tmp_path):
    assert read_split(tmp_path, "go", "test") == {"rows": [], "note": "no go_test.output in the run", "found": False}
    with pytest.raises(PredictionsError, match="unknown language"):
        read_split(tmp_path, "../../etc", "test")
    (tmp_path / "real.txt").write_text("0\tx\n")
    (tmp_path / "go_test.output").symlink_to(tmp_path / "real.txt")
    with pytest.raises(PredictionsError, match="symbolic link"):
        read_split(tmp_path, "go", "test")
    (tmp_path / "go_test.output").unlink()
    (tmp_path / "go_test.output").write_bytes(b"0\t\xff\xfe broken utf-8\n" + b"1\t" + b"y" * 5000 + b"\n")
    got = read_split(tmp_path, "go", "test")
    assert got["rows"][0]["prediction"].endswith("broken utf-8") and "references missing" in got["note"]
    with pytest.raises(PredictionsError, match="more than the 4.0 KiB"):
        read_split(tmp_path, "go", "test", limit=4096)


CASES = {
    "python": ('def f(x):  # note', [("def", "keyword"), ("# note", "comment")]),
    "ruby": ('return "a#b" if x > 10', [("return", "keyword"), ('"a#b"', "string"), ("if", "keyword"),
                                       ("10", "number")]),
    "javascript": ("const s = 'x'; // done", [("const", "keyword"), ("'x'", "string"), ("// done", "comment")]),
    "go": ("func f() int { return 0x1F }", [("func", "keyword"), ("int", None), ("return", "keyword"),
                                           ("0x1F", "number")]),
    "java": ('public int n = 42; /* c */', [("public", "keyword"), ("int", "keyword"), ("42", "number"),
                                           ("/* c */", "comment")]),
    "php": ('$this->x = "y"; # c', [("this", None), ('"y"', "string"), ("# c", "comment")]),
}


@pytest.mark.parametrize("language", sorted(CASES))
def test_each_language_colours_keywords_strings_comments_numbers(qapp, language):
    line, expected = CASES[language]
    h = CodeHighlighter(QTextDocument(), language)
    spans, state = h.spans(line)
    got = {line[s:s + n]: kind for s, n, kind in spans}
    assert state == 0
    for token, kind in expected:
        assert got.get(token) == kind, (token, got)


def test_comments_and_strings_over_several_lines(qapp):
    doc = QTextDocument()
    h = CodeHighlighter(doc, "java")
    spans, state = h.spans("int a; /* starts")
    assert spans[-1][2] == "comment" and state > 0
    spans, state = h.spans("still comment */ return 1;", state)
    assert spans[0] == (0, len("still comment */"), "comment") and state == 0
    assert ("keyword" in {k for _s, _n, k in spans}) and spans[-1][2] == "number"
    h.set_language("python")
    _spans, state = h.spans('    """Doc')
    assert h.spans("  more", state) == ([(0, 6, "string")], state)
    h.set_language("ruby")
    _spans, state = h.spans("=begin")
    assert state > 0 and h.spans("=end", state)[1] == 0
    h.set_language("cobol")                                  # an unknown language: plain text
    assert h.spans("MOVE 1 TO X") == ([], 0)
    doc.setPlainText("x = 1\n/* a\nb */ y")                  # the document itself is coloured block by block
    h.set_language("go")
    third = doc.findBlockByNumber(2)
    assert third.previous().userState() > 0 and third.userState() == 0
