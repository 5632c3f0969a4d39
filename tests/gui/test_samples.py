"""SamplesView: language selector, sort best/worst/random, search, detail pane, CSV export of the visible rows."""
from __future__ import annotations

import csv

import pytest
from PySide6.QtCore import Qt

from cramgui.run_state import RunState
from cramgui.samples import SamplesView

BLEUS = [30.0, 75.5, None, 10.25, 50.0]


def make_state():
    st = RunState()
    items = [{"idx": i, "code": f"def f{i}(x):\n    return x + {i}\n", "reference": f"Adds {i} to x",
              "prediction": f"Return x plus {i}" if i != 4 else "Parse the config file", "bleu": b}
             for i, b in enumerate(BLEUS)]
    st.ingest({"event": "samples", "language": "python", "split": "test", "items": items})
    st.ingest({"event": "samples", "language": "ruby", "split": "test",
               "items": [{"idx": 0, "code": "def x; end", "reference": "r", "prediction": "p", "bleu": 1.0}]})
    return st


@pytest.fixture
def view(qtbot):
    v = SamplesView(make_state())
    qtbot.addWidget(v)
    v.resize(1200, 700)
    return v


def idxs(view):
    return [r["idx"] for r in view.visible_rows()]


def test_sort_best_worst(view):
    assert view.current_language() == "python"
    assert [view.lang_combo.itemText(i) for i in range(view.lang_combo.count())] == ["python", "ruby"]
    assert idxs(view) == [1, 4, 0, 3, 2]                # best first, missing BLEU last
    view.set_sort("worst")
    assert idxs(view) == [3, 0, 4, 1, 2]
    m = view.model
    assert [m.data(m.index(r, 1)) for r in range(m.rowCount())] == ["10.25", "30.00", "50.00", "75.50", ""]
    assert m.headerData(3, Qt.Orientation.Horizontal) == "prediction"


def test_random_is_seeded(view):
    view.set_sort("random")
    first = idxs(view)
    assert sorted(first) == [0, 1, 2, 3, 4]
    view.set_sort("best")
    view.set_sort("random")
    assert idxs(view) == first                         # same seed, same order
    orders = {tuple(first)}
    for _ in range(5):
        view.shuffle_button.click()
        orders.add(tuple(idxs(view)))
    assert len(orders) > 1 and view.seed == 5


def test_search_filters_code_reference_prediction(view):
    view.set_search("config")                          # prediction only
    assert idxs(view) == [4]
    view.set_search("RETURN X + 3")                    # code, case-insensitive
    assert idxs(view) == [3]
    view.set_search("adds")                            # reference
    assert len(idxs(view)) == 5
    assert view.count_label.text() == "5 of 5"
    view.set_search("no such text")
    assert idxs(view) == [] and view.model.rowCount() == 0 and view.code_view.toPlainText() == ""


def test_detail_pane_follows_selection(view):
    assert view.bleu_view.text() == "75.50"            # first row selected
    assert "return x + 1" in view.code_view.toPlainText()
    view.table.selectRow(2)
    assert view.reference_view.toPlainText() == "Adds 0 to x"
    assert view.prediction_view.toPlainText() == "Return x plus 0"
    view.set_language("ruby")
    assert idxs(view) == [0] and view.code_view.toPlainText() == "def x; end"


def test_export_csv_equals_visible_rows(view, tmp_path):
    view.set_sort("worst")
    view.set_search("plus")                            # excludes idx 4
    path = tmp_path / "samples.csv"
    view.export_csv(path)
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["language", "idx", "BLEU", "reference", "prediction", "code"]
    shown = view.visible_rows()
    assert [r[1] for r in rows[1:]] == [str(r["idx"]) for r in shown] == ["3", "0", "1", "2"]
    assert rows[1] == ["python", "3", "10.25", "Adds 3 to x", "Return x plus 3", "def f3(x):\n    return x + 3\n"]
    assert rows[-1][2] == ""
    # the table shows the same rows, in the same order, with the same BLEU text
    m = view.model
    assert [[m.data(m.index(r, c)) for c in range(2)] for r in range(m.rowCount())] == \
        [[r[1], r[2]] for r in rows[1:]]


def test_reset_and_late_samples(qtbot):
    st = RunState()
    v = SamplesView(st)
    qtbot.addWidget(v)
    assert v.visible_rows() == [] and v.lang_combo.count() == 0
    st.ingest({"event": "samples", "language": "go", "items": [{"idx": 7, "code": "c", "reference": "r",
                                                               "prediction": "p", "bleu": 3}]})
    assert v.current_language() == "go" and idxs(v) == [7]
    st.ingest({"event": "samples", "language": "go", "items": [{"idx": 8, "code": "c", "reference": "r",
                                                               "prediction": "p", "bleu": 9}]})
    assert idxs(v) == [8, 7]
    st.clear()
    assert v.lang_combo.count() == 0 and v.visible_rows() == []


# -- every prediction of the split, from the run's prediction files (issue 12 leftovers) --------------------------
def write_run(d, n=40, language="python", split="test"):
    """A run directory with the engine's own prediction files and the result/samples events of 3 examples."""
    from engine.contract.rundir import write_predictions

    refs = [f"Return the sum of x and {i}" for i in range(n)]
    preds = [f"return the SUM of {i}" if i % 3 else f"parse file {i}" for i in range(n)]
    write_predictions(d, language, split, preds, refs)
    st = RunState()
    st.run_dir = str(d)
    st.ingest({"event": "result", "language": language, "split": split, "n": n, "bleu4": 20.0})
    items = [{"idx": i, "code": f"def add{i}(x):\n    return x + {i}  # sum\n", "reference": refs[i],
              "prediction": preds[i], "bleu": 1.0} for i in (1, 5, 7)]
    st.ingest({"event": "samples", "language": language, "split": split, "items": items})
    return st, refs, preds


def loaded_view(qtbot, st):
    v = SamplesView(st)
    qtbot.addWidget(v)
    v.resize(1200, 700)
    qtbot.waitUntil(lambda: not v.loading(), timeout=10000)
    return v


def test_every_prediction_of_the_split_with_the_engines_sentence_bleu(qtbot, tmp_path):
    from engine.bleu import sentence_bleu4

    st, refs, preds = write_run(tmp_path, n=40)
    v = loaded_view(qtbot, st)
    rows = v.visible_rows()
    assert len(rows) == 40 and v.count_label.text() == "40 predictions"
    assert sorted(r["idx"] for r in rows) == list(range(40))
    for r in rows:
        assert r["reference"] == refs[r["idx"]] and r["prediction"] == preds[r["idx"]]
        assert r["bleu"] == round(sentence_bleu4(refs[r["idx"]], preds[r["idx"]]), 4)
    assert [r["bleu"] for r in rows] == sorted((r["bleu"] for r in rows), reverse=True)
    assert {r["idx"] for r in rows if r["code"]} == {1, 5, 7}           # code only where the run stored it
    src = v.source_label.text()
    assert src == "every prediction of python test (python_test.output / .gold); code stored for 3 (eval.samples)"
    v.set_search("parse file 6")                                       # a prediction not among the samples
    assert [r["idx"] for r in v.visible_rows()] == [6] and v.count_label.text() == "1 of 40"
    assert v.detail.code_stored() is False and v.code_view.toPlainText() == ""
    assert v.detail.code_note.text() == "code: not stored for this example"
    assert "eval.samples" in v.code_view.placeholderText()
    assert v.prediction_view.toPlainText() == "parse file 6"
    v.set_search("return x + 5")                                       # searches the stored code too
    assert [r["idx"] for r in v.visible_rows()] == [5] and v.detail.code_stored()
    assert v.detail.code_note.text() == "code:" and "def add5" in v.code_view.toPlainText()
    v.set_search("")
    assert v.code_only.isVisibleTo(v)
    v.code_only.setChecked(True)                                       # only the examples with their code
    assert sorted(r["idx"] for r in v.visible_rows()) == [1, 5, 7] and v.count_label.text() == "3 of 40"
    assert v.detail.code_stored()


def test_samples_arriving_after_the_files_were_read_bring_their_code(qtbot, tmp_path):
    from engine.contract.rundir import write_predictions

    write_predictions(tmp_path, "go", "valid", ["a", "b"], ["a b", "b c"])
    st = RunState()
    st.run_dir = str(tmp_path)
    st.ingest({"event": "result", "language": "go", "split": "valid", "n": 2})
    v = loaded_view(qtbot, st)
    assert v.count_label.text() == "2 predictions" and all(r["code"] is None for r in v.visible_rows())
    st.ingest({"event": "samples", "language": "go", "split": "valid",
               "items": [{"idx": 1, "code": "func b() {}", "reference": "b c", "prediction": "b"}]})
    assert {r["idx"]: r["code"] for r in v.visible_rows()} == {0: None, 1: "func b() {}"}
    assert "go_valid.output" in v.source_label.text()


def test_a_large_split_is_read_off_the_gui_thread(qtbot, tmp_path, monkeypatch):
    import threading

    from cramgui import samples as samples_mod

    threads = []
    real = samples_mod.read_split

    def spy(*a, **k):
        threads.append(threading.current_thread().name)
        return real(*a, **k)

    monkeypatch.setattr(samples_mod, "read_split", spy)
    st, _refs, _preds = write_run(tmp_path, n=15000)
    v = SamplesView(st)
    qtbot.addWidget(v)
    assert v.loading() and v.count_label.text() == "3 samples"        # the events' samples until then
    qtbot.waitUntil(lambda: not v.loading(), timeout=60000)
    assert threads and all(t.startswith("cramgui-samples") for t in threads)
    assert v.model.rowCount() == 15000 and v.count_label.text() == "15,000 predictions"
    v.set_sort("worst")
    assert v.visible_rows()[0]["bleu"] == min(r["bleu"] for r in v.visible_rows())
    v.set_search("sum of 14999")
    assert [r["idx"] for r in v.visible_rows()] == [14999]


def test_oversized_or_linked_prediction_files_are_refused_with_a_message(qtbot, tmp_path):
    st, _refs, _preds = write_run(tmp_path, n=40)
    v = SamplesView(st)
    v.max_file_bytes = 1000                                            # read once the constructor returned
    qtbot.addWidget(v)
    qtbot.waitUntil(lambda: not v.loading(), timeout=10000)
    assert v.count_label.text() == "3 samples"                         # the events' samples, still browsable
    size = (tmp_path / "python_test.gold").stat().st_size                # the .output is under 1000 bytes
    assert v.source_label.text() == (f"the samples of the events: python_test.gold is {size / 1024:.1f} KiB, more "
                                     f"than the 1000 bytes the Samples view reads")

    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "secret.txt").write_text("0\tsecret\n")
    (tmp_path / "python_test.output").unlink()
    (tmp_path / "python_test.output").symlink_to(other / "secret.txt")
    v2 = loaded_view(qtbot, st)
    assert "symbolic link" in v2.source_label.text()
    assert all("secret" not in r["prediction"] for r in v2.visible_rows())


def test_a_run_not_yet_evaluated_shows_the_event_samples(qtbot, tmp_path):
    st = make_state()
    st.run_dir = str(tmp_path)
    v = loaded_view(qtbot, st)
    assert len(v.visible_rows()) == 5 and v.count_label.text() == "5 samples"
    assert not v.code_only.isVisibleTo(v)                                 # every event sample has its code
    assert v.source_label.text() == "the samples of the events: no python_test.output in the run yet"


def test_a_reset_drops_a_read_in_flight(qtbot, tmp_path):
    st, _refs, _preds = write_run(tmp_path, n=2000)
    v = SamplesView(st)
    qtbot.addWidget(v)
    st.clear()
    qtbot.wait(300)
    assert v.visible_rows() == [] and v.lang_combo.count() == 0 and not v._loaded


# -- the detail pane: shared words, wrapped and coloured code -----------------------------------------------------
def marked(edit):
    """The words of a plain-text edit that carry a highlighter format (background set)."""
    block = edit.document().firstBlock()
    text = block.text()
    return [text[r.start:r.start + r.length] for r in block.layout().formats() if r.format.background().style()]


def test_words_shared_with_the_reference_are_highlighted(qtbot, tmp_path):
    st, _refs, _preds = write_run(tmp_path, n=10)
    v = loaded_view(qtbot, st)
    v.set_search("sum of x and 4")
    assert v.prediction_view.toPlainText() == "return the SUM of 4"
    assert marked(v.prediction_view) == ["return", "the", "SUM", "of", "4"]   # lower-cased comparison
    assert marked(v.reference_view) == ["Return", "the", "sum", "of", "4"]
    v.set_search("parse file 3")
    assert marked(v.prediction_view) == ["3"] and marked(v.reference_view) == ["3"]
    assert v.prediction_view.document().toPlainText() == "parse file 3"     # plain text, never HTML
    assert v.prediction_view.lineWrapMode() == v.prediction_view.LineWrapMode.WidgetWidth


def test_code_is_wrapped_and_coloured(qtbot, view):
    from PySide6.QtGui import QFont

    assert view.code_view.lineWrapMode() == view.code_view.LineWrapMode.WidgetWidth
    assert view.detail.code_colours.language == "python"
    block = view.code_view.document().firstBlock()          # "def f1(x):"
    ranges = block.layout().formats()
    weights = {block.text()[r.start:r.start + r.length]: r.format.fontWeight() for r in ranges}
    assert weights == {"def": QFont.Weight.Bold}
    view.set_language("ruby")
    assert view.detail.code_colours.language == "ruby"
    block = view.code_view.document().firstBlock()          # "def x; end"
    assert [block.text()[r.start:r.start + r.length] for r in block.layout().formats()] == ["def", "end"]
