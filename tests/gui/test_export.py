"""CSV exports: training history, dev evaluations, any table model as displayed."""
from __future__ import annotations

import csv

from PySide6.QtGui import QStandardItem, QStandardItemModel

from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox

from cramgui.export import CSV, evals_to_csv, history_to_csv, save_as, table_model_to_csv
from cramgui.run_state import RunState


def read(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_history_to_csv(qapp, tmp_path):
    st = RunState()
    st.ingest_many([{"event": "started", "budget_seconds": 10.0, "step": 0}]
                   + [{"event": "step", "step": i, "elapsed": i * 0.5, "progress": i / 20, "loss": 4.0 - i / 8,
                       "lr": 1e-4 * i, "tokens_per_s": 1500.0} for i in range(1, 4)]
                   + [{"event": "step", "step": 4, "elapsed": 2.0, "progress": 0.2, "loss": None, "lr": None}])
    path = tmp_path / "history.csv"
    history_to_csv(st, path)
    rows = read(path)
    assert rows[0] == ["step", "elapsed", "progress", "loss", "lr", "tokens_per_s"]
    assert len(rows) == 5
    assert rows[1] == ["1", "0.5", "0.05", "3.875", repr(1e-4), "1500.0"]
    assert [float(r[3]) for r in rows[1:4]] == [3.875, 3.75, 3.625]
    assert rows[4] == ["4", "2.0", "0.2", "", "", ""]       # nulls stay empty
    # numbers round-trip exactly
    assert float(rows[3][4]) == st.steps.view("lr")[2]


def test_evals_to_csv(qapp, tmp_path):
    st = RunState()
    st.ingest({"event": "eval", "step": 10, "elapsed": 5.0, "split": "valid", "dev_loss": 3.5, "dev_ppl": 33.1,
               "dev_bleu": 7.25, "n": 200, "eval_seconds": 4.0, "best": True, "top_share": 0.125})
    st.ingest({"event": "eval", "step": 20, "elapsed": 10.0, "split": "valid", "dev_loss": None, "dev_bleu": 6.0,
               "best": False})
    path = tmp_path / "evals.csv"
    evals_to_csv(st, path)
    rows = read(path)
    assert rows[0] == ["step", "elapsed", "split", "dev_loss", "dev_ppl", "dev_bleu", "n", "eval_seconds", "best",
                       "top_share"]
    assert rows[1] == ["10", "5.0", "valid", "3.5", "33.1", "7.25", "200", "4.0", "true", "0.125"]
    assert rows[2] == ["20", "10.0", "valid", "", "", "6.0", "", "", "false", ""]  # a run from before top_share


def test_table_model_to_csv(qapp, tmp_path):
    m = QStandardItemModel(2, 3)
    m.setHorizontalHeaderLabels(["a", "b, with comma", "c"])
    for r in range(2):
        for c in range(3):
            if (r, c) != (1, 2):
                m.setItem(r, c, QStandardItem(f'{r}-{c} "q"'))
    path = tmp_path / "t.csv"
    table_model_to_csv(m, path)
    assert read(path) == [["a", "b, with comma", "c"], ['0-0 "q"', '0-1 "q"', '0-2 "q"'],
                          ['1-0 "q"', '1-1 "q"', ""]]


def test_save_as_is_the_one_export_path(qtbot, tmp_path, monkeypatch):
    """save_as: dialog at FOLDER/NAME, extension added, status-bar confirmation, error box, None when cancelled;
    the views' own Export buttons go through it."""
    from cramgui.compare_view import CompareView
    from cramgui.results import ResultsView
    from cramgui.samples import SamplesView

    win = QMainWindow()
    qtbot.addWidget(win)
    asked = []
    answer = {"path": str(tmp_path / "out")}

    def dialog(parent, title, start, filt):
        asked.append((title, start, filt))
        return answer["path"], filt

    monkeypatch.setattr(QFileDialog, "getSaveFileName", dialog)
    written = []
    assert save_as(win, "Thing (CSV)", "thing.csv", CSV, written.append, folder=tmp_path) == str(tmp_path / "out.csv")
    assert written == [str(tmp_path / "out.csv")] and asked[-1] == ("Thing (CSV)", str(tmp_path / "thing.csv"), CSV)
    assert "Exported Thing (CSV) to" in win.statusBar().currentMessage()

    def fail(path):
        raise OSError("disk full")

    assert save_as(win, "Thing (CSV)", "thing.csv", CSV, fail) is None
    box = win.findChild(QMessageBox, "message_export")
    assert box is not None and box.isVisible() and "disk full" in box.informativeText()
    box.close()
    answer["path"] = ""
    assert save_as(win, "Thing (CSV)", "thing.csv", CSV, written.append) is None and len(written) == 1

    answer["path"] = str(tmp_path / "view")
    state = RunState()
    for view, buttons in ((ResultsView(state), ("csv_button", "png_button")), (SamplesView(state), ("csv_button",)),
                          (CompareView(), ("csv_btn", "png_btn"))):
        qtbot.addWidget(view)
        for name in buttons:
            n = len(asked)
            getattr(view, name).click()
            assert len(asked) == n + 1, (type(view).__name__, name)
