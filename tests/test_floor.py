"""The constant-prediction floor: chosen on dev among training summaries, scored exactly like the evaluator, and
reported beside every test BLEU (result events, results.csv, the progress line)."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import tiny_config
from engine import bleu, floor, train
from engine.contract.events import EventWriter, read_events
from engine.contract.rundir import read_results


def test_fast_scorer_equals_the_official_formula():
    refs = ["Returns the value of x .", "Create a new object", "return the list of items", "set the name"]
    for text in ["return the value", "", "the", "set a new list of the items ."]:
        assert floor.Scorer(refs).score(text) == pytest.approx(bleu.smoothed_bleu4(refs, [text] * len(refs)),
                                                               abs=1e-9)


def test_the_floor_is_a_training_summary_chosen_on_dev_not_on_test():
    train_targets = ["return the value ."] * 3 + ["create a widget"] * 5 + ["set the name of the user"]
    dev = ["return the value of x .", "return the value .", "returns the value"]
    test = ["create a widget for me", "create a widget"]
    text, dev_score = floor.constant_floor(train_targets, dev)
    assert text == "return the value ."       # best on dev, though "create a widget" is more frequent
    assert dev_score == pytest.approx(bleu.smoothed_bleu4(dev, [text] * 3))
    assert floor.floor_on(text, test) == pytest.approx(bleu.smoothed_bleu4(test, [text] * 2))
    assert floor.constant_floor([], dev) == ("", 0.0)


@pytest.mark.slow
def test_a_run_reports_its_floor_beside_the_test_bleu(tmp_path, stdlib_corpus):
    w = EventWriter(Path(tmp_path) / "events.jsonl")
    try:
        code = train.run(tiny_config(), Path(tmp_path), w)
    finally:
        w.close()
    assert code == 0
    (row,) = read_results(tmp_path)
    (ev,) = [e for e in read_events(tmp_path / "events.jsonl") if e["event"] == "result"]
    refs = [line.split("\t", 1)[1] for line in (tmp_path / "python_test.gold").read_text().splitlines()]
    assert row["floor_text"] and ev["floor_text"] == row["floor_text"]
    assert row["floor_bleu4"] == pytest.approx(bleu.smoothed_bleu4(refs, [row["floor_text"]] * len(refs)))
    assert ev["floor_bleu4"] == row["floor_bleu4"]
    assert row["above_floor"] == pytest.approx(row["bleu4"] - row["floor_bleu4"])
