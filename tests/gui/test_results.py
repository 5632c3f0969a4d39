"""ResultsView: our BLEU beside the published references (values from the csv), Δ columns, CSV and PNG export."""
from __future__ import annotations

import csv

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from cramgui.references import DEFAULT_REFERENCES, REFERENCE_CSV, load_reference_table
from cramgui.results import ResultsView
from cramgui.run_state import RunState

RESULTS = {"python": (14918, 18.4, 17.1, 120.5), "java": (10955, 16.9, None, 98.1)}


def published():
    return {r["model"]: r for r in load_reference_table()}


def make_state():
    st = RunState()
    st.ingest({"event": "started", "budget_seconds": 60.0, "step": 0,
               "config": {"data": {"languages": ["python", "java"]}}})
    st.ingest({"event": "eval", "step": 10, "dev_loss": 3.0, "dev_bleu": 12.5})
    st.ingest({"event": "eval", "step": 20, "dev_loss": 2.9, "dev_bleu": 13.25})
    for lang, (n, b, nb, sec) in RESULTS.items():
        st.ingest({"event": "result", "language": lang, "split": "test", "n": n, "bleu4": b, "nltk_bleu4": nb,
                   "decode_seconds": sec, "beam_size": 10})
    return st


def table(view):
    m = view.model
    header = [m.headerData(c, Qt.Orientation.Horizontal) for c in range(m.columnCount())]
    rows = [[m.data(m.index(r, c)) for c in range(m.columnCount())] for r in range(m.rowCount())]
    return header, rows


@pytest.fixture
def view(qtbot):
    v = ResultsView(make_state())
    qtbot.addWidget(v)
    v.resize(1200, 750)
    return v


def test_reference_csv_is_in_resources():
    rows = load_reference_table()
    names = [r["model"] for r in rows]
    assert REFERENCE_CSV.is_file()
    assert all(n in names for n in DEFAULT_REFERENCES)
    codebert = published()["CodeBERT"]
    assert codebert["python"] == 19.06 and codebert["ruby"] == 12.16 and codebert["overall"] == 17.83
    assert published()["Cramming LM (student re-run)"]["overall"] is None     # empty cell -> None


def test_table_contents(view):
    header, rows = table(view)
    assert header[:7] == ["Model", "Language", "Examples", "BLEU-4", "NLTK BLEU-4", "Best dev BLEU", "Decode s"]
    assert header[7:] == [f"Δ vs {n}" for n in DEFAULT_REFERENCES]
    pub = published()
    by_key = {(r[0], r[1]): r for r in rows}
    # language order follows engine.contract.config.LANGUAGES (python before java)
    assert [r[1] for r in rows if r[0] == "this run"] == ["python", "java", "mean (2)"]
    py = by_key[("this run", "python")]
    assert py[2:7] == ["14918", "18.40", "17.10", "13.25", "120.5"]
    for k, ref in enumerate(DEFAULT_REFERENCES):
        assert float(py[7 + k]) == pytest.approx(18.4 - pub[ref]["python"], abs=0.005)
        assert by_key[(ref, "python")][3] == f"{pub[ref]['python']:.2f}"
        assert by_key[(ref, "java")][3] == f"{pub[ref]['java']:.2f}"
    java = by_key[("this run", "java")]
    assert java[4] == ""                                   # null NLTK BLEU stays empty, no crash
    assert java[7] == f"{16.9 - pub['CodeBERT']['java']:+.2f}"
    mean = by_key[("this run", "mean (2)")]
    assert mean[3] == "17.65" and mean[2] == str(14918 + 10955)
    ref_mean = (pub["CodeT5-base"]["python"] + pub["CodeT5-base"]["java"]) / 2
    assert float(mean[9]) == pytest.approx(17.65 - ref_mean, abs=0.005)
    # raw numbers behind the text
    m = view.model
    r = [i for i, row in enumerate(rows) if row[:2] == ["this run", "python"]][0]
    assert m.data(m.index(r, 7), Qt.ItemDataRole.UserRole) == pytest.approx(18.4 - pub["CodeBERT"]["python"])


def test_export_csv_equals_table(view, tmp_path):
    path = tmp_path / "results.csv"
    view.export_csv(path)
    with open(path, newline="", encoding="utf-8") as fh:
        got = list(csv.reader(fh))
    header, rows = table(view)
    assert got == [header] + rows


def test_bar_chart(view):
    bars = [it for it in view.chart.getPlotItem().items if isinstance(it, pg.BarGraphItem)]
    assert len(bars) == 1 + len(DEFAULT_REFERENCES)
    ours = bars[0]
    np.testing.assert_allclose(ours.opts["height"], [18.4, 16.9])      # python, java
    pub = published()
    np.testing.assert_allclose(bars[1].opts["height"], [pub["CodeBERT"]["python"], pub["CodeBERT"]["java"]])
    assert view.legend_names() == ["this run", *DEFAULT_REFERENCES]   # under the chart: never over a bar
    assert all(w.textFormat() == Qt.TextFormat.PlainText for w in view.legend_labels)


def test_export_png(view, tmp_path):
    path = tmp_path / "bleu.png"
    view.export_png(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = QImage(str(path))
    assert img.width() >= 1200 and img.height() > 200


def test_live_updates_and_reset(qtbot):
    st = RunState()
    v = ResultsView(st)
    qtbot.addWidget(v)
    assert v.model.rowCount() == 0
    st.ingest({"event": "result", "language": "go", "n": 3, "bleu4": None})
    _, rows = table(v)
    assert rows[0][:4] == ["this run", "go", "3", ""] and rows[0][7] == ""
    assert len(rows) == 1 + len(DEFAULT_REFERENCES)
    st.clear()
    assert v.model.rowCount() == 0


def test_caption_says_what_the_reference_rows_are(qtbot):
    st = RunState()
    view = ResultsView(st)
    qtbot.addWidget(view)
    view.show()
    assert view.caption.isVisible()
    base = "published CodeXGLUE code-to-text TEST-SET scores"
    same = "comparable only when this run evaluates on the CodeXGLUE test split of the same language"
    assert base in view.caption_text() and same in view.caption_text() and not view.caption_emphasised()

    st.ingest({"event": "started", "config": {"data": {"source": "codexglue", "languages": ["ruby"]},
                                              "eval": {"split": "test"}}})
    assert not view.caption_emphasised() and "Not comparable" not in view.caption_text()

    # the built-in corpus: emphasised, and says why
    st.clear()
    st.ingest({"event": "started", "config": {"data": {"source": "builtin", "languages": ["python"]},
                                              "eval": {"split": "test"}}})
    assert view.caption_emphasised() and "Not comparable" in view.caption_text()
    assert "data is builtin, not CodeXGLUE" in view.caption_text() and same in view.caption_text()

    # CodeXGLUE data evaluated on valid
    st.clear()
    st.ingest({"event": "started", "config": {"data": {"source": "codexglue", "languages": ["ruby"]},
                                              "eval": {"split": "valid"}}})
    st.ingest({"event": "result", "language": "ruby", "split": "valid", "n": 10, "bleu4": 9.0})
    assert view.caption_emphasised() and "the valid split" in view.caption_text()


def test_caption_renders_the_runs_strings_as_plain_text(qtbot):
    st = RunState()
    view = ResultsView(st)
    qtbot.addWidget(view)
    evil = "<h1>Your license expired</h1><a href=x>renew</a>"
    st.ingest({"event": "started", "config": {"data": {"source": evil, "languages": ["python"]}}})
    assert view.caption.textFormat() == Qt.TextFormat.PlainText
    assert "<h1>Your license expired</h1>" in view.caption_text()


def test_the_constant_floor_is_shown_beside_the_bleu(qtbot):
    from engine.contract.events import encode, decode

    from cramgui.results import FLOOR_COLUMNS, ResultsTableModel

    m = ResultsTableModel([])
    m.set_data({"python": decode(encode("result", language="python", split="test", n=10, bleu4=14.0,
                                        floor_bleu4=11.5, floor_text="returns the value ."))}, {})
    header = [m.headerData(c, Qt.Orientation.Horizontal) for c in range(m.columnCount())]
    assert header[3:6] == ["BLEU-4", *FLOOR_COLUMNS]          # right beside the BLEU
    assert [m.data(m.index(0, c)) for c in range(len(header))][3:6] == ["14.00", "11.50", "+2.50"]
    assert "returns the value ." in m.data(m.index(0, 0), Qt.ItemDataRole.ToolTipRole)
    m.set_data({"python": {"language": "python", "bleu4": 14.0}}, {})   # no floor measured: no floor columns
    assert m.columnCount() == len(header) - 2
