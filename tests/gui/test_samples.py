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
    assert view.reference_view.text() == "Adds 0 to x"
    assert view.prediction_view.text() == "Return x plus 0"
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
