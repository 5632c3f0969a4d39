"""Every generated summary of the evaluated split, per language: a sortable, searchable table plus a detail pane
(BLEU, reference and prediction with their shared words marked, the code where the run stored it).

The rows come from the run's prediction files ({lang}_{split}.output / .gold, read off the GUI thread by
cramgui.samples_data); until they are read (a run still training, files missing or refused) the view shows the
`samples` events' examples. The reading thread never touches Qt: its answer goes through a queue a GUI-thread timer
drains (cramgui.thread_results)."""
from __future__ import annotations

import csv
import os
import queue
import random
from concurrent.futures import ThreadPoolExecutor

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, QTimer
from PySide6.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton,
                               QSplitter, QTableView, QVBoxLayout, QWidget)

from engine.contract.events import number
from engine.contract.paths import SPLITS

from .export import CSV, save_as
from .formatting import bleu as bleu_text
from .run_state import RunState
from .samples_data import MAX_FILE_BYTES, PredictionsError, read_split
from .samples_detail import SampleDetail
from .thread_results import drain

SORTS = ("best", "worst", "random")
SORT_LABELS = {"best": "best BLEU first", "worst": "worst BLEU first", "random": "random"}
TABLE_COLUMNS = ("idx", "BLEU", "reference", "prediction")
CSV_COLUMNS = ("language", "idx", "BLEU", "reference", "prediction", "code")
POLL_MS = 50          # how often the GUI thread collects a finished read
SEARCH_DELAY_MS = 150  # typing in the search box refilters after this pause


def _bleu(item: dict) -> float | None:
    return number(item.get("bleu"))


def fmt_bleu(item: dict) -> str:
    return bleu_text(item.get("bleu"))


def _one_line(s) -> str:
    return " ".join(str(s or "").split())


def _haystack(item: dict) -> str:
    return "\n".join(str(item.get(k) or "") for k in ("code", "reference", "prediction")).lower()


class SamplesTableModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[dict] = []

    def set_rows(self, rows: list[dict]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(TABLE_COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return TABLE_COLUMNS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        item = self.rows[index.row()]
        c = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            if c == 0:
                return "" if item.get("idx") is None else str(item.get("idx"))
            if c == 1:
                return fmt_bleu(item)
            text = item.get("reference" if c == 2 else "prediction")
            return _one_line(text) if role == Qt.ItemDataRole.DisplayRole else str(text or "")
        if role == Qt.ItemDataRole.TextAlignmentRole and c < 2:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class SamplesView(QWidget):
    def __init__(self, state: RunState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.seed = 0
        self.max_file_bytes = MAX_FILE_BYTES
        self._visible: list[dict] = []
        self._loaded: dict[str, dict] = {}      # language -> read_split's answer (+ the split it is of)
        self._pending: set[str] = set()         # languages being read
        self._generation = 0                    # answers to an older generation (before a reset) are dropped
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cramgui-samples")
        self._answers: queue.SimpleQueue = queue.SimpleQueue()
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._collect)
        self._reload = QTimer(self, singleShot=True, interval=0)   # after a replay has set the run directory
        self._reload.timeout.connect(self._request_all)
        self.destroyed.connect(lambda *_, ex=self._executor: ex.shutdown(wait=False, cancel_futures=True))

        self.lang_combo = QComboBox()
        self.lang_combo.setMinimumWidth(110)
        self.lang_combo.currentTextChanged.connect(self._refilter)
        self.sort_combo = QComboBox()
        for key in SORTS:
            self.sort_combo.addItem(SORT_LABELS[key], key)
        self.sort_combo.currentIndexChanged.connect(self._refilter)
        self.shuffle_button = QPushButton("New seed")
        self.shuffle_button.setToolTip("Random order is reproducible: the same seed gives the same order")
        self.shuffle_button.clicked.connect(self.reshuffle)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search code, reference or prediction…")
        self.search.setClearButtonEnabled(True)
        self._search_timer = QTimer(self, singleShot=True, interval=SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self._refilter)
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        self.count_label = QLabel()
        self.count_label.setStyleSheet("font-weight: bold;")
        self.csv_button = QPushButton("Export CSV…")
        self.csv_button.clicked.connect(self._export_dialog)
        self.source_label = QLabel()
        self.source_label.setObjectName("samplesSource")
        self.source_label.setTextFormat(Qt.TextFormat.PlainText)
        self.source_label.setWordWrap(True)
        self.source_label.setStyleSheet("color: #555;")

        bar = QHBoxLayout()
        bar.addWidget(QLabel("language:"))
        bar.addWidget(self.lang_combo)
        bar.addWidget(QLabel("sort:"))
        bar.addWidget(self.sort_combo)
        bar.addWidget(self.shuffle_button)
        bar.addWidget(self.search, 1)
        bar.addWidget(self.csv_button)
        self.code_only = QCheckBox("only with code")
        self.code_only.setToolTip("Only the examples whose source code the run stored (eval.samples)")
        self.code_only.toggled.connect(self._refilter)
        about = QHBoxLayout()                  # under the bar: how many, where they come from, code only
        about.addWidget(self.count_label)
        about.addWidget(self.source_label, 1)
        about.addWidget(self.code_only)

        self.model = SamplesTableModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAlternatingRowColors(True)
        vh = self.table.verticalHeader()
        vh.setVisible(False)
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vh.setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        self.table.setWordWrap(False)
        hh = self.table.horizontalHeader()
        fm = self.fontMetrics()
        for col, sample in ((0, "000000"), (1, "100.00")):   # fixed widths: nothing measures 15,000 rows
            hh.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
            hh.resizeSection(col, fm.horizontalAdvance(sample) + 16)
        hh.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        hh.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().currentRowChanged.connect(self._show_current)

        self.detail = SampleDetail()
        # the detail pane's widgets, named as before for the window and the tests
        self.bleu_view, self.reference_view = self.detail.bleu_view, self.detail.reference_view
        self.prediction_view, self.code_view = self.detail.prediction_view, self.detail.code_view

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.table)
        split.addWidget(self.detail)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addLayout(about)
        layout.addWidget(split, 1)

        state.samples_added.connect(self._on_samples)
        state.result_added.connect(self._on_result)
        state.reset_signal.connect(self._on_reset)
        self._on_reset()
        for lang in [*state.samples, *state.results]:
            self._add_language(lang)
        self._reload.start()

    # -- public API -----------------------------------------------------------------------------------------
    def visible_rows(self) -> list[dict]:
        return list(self._visible)

    def loading(self) -> bool:
        """True while a prediction file is being read (or a read is about to start)."""
        return bool(self._pending) or self._reload.isActive()

    def export_csv(self, path) -> None:
        """The rows shown, in the order shown: language, idx, BLEU (as displayed), reference, prediction, code
        (empty where the run did not store it)."""
        lang = self.current_language()
        with open(os.fspath(path), "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(CSV_COLUMNS)
            for it in self._visible:
                w.writerow([lang, "" if it.get("idx") is None else it.get("idx"), fmt_bleu(it),
                            it.get("reference") or "", it.get("prediction") or "", it.get("code") or ""])

    def current_language(self) -> str:
        return self.lang_combo.currentText()

    def set_language(self, lang: str) -> None:
        self.lang_combo.setCurrentText(lang)

    def set_sort(self, key: str) -> None:
        if key not in SORTS:
            raise ValueError(f"sort must be one of {SORTS}")
        self.sort_combo.setCurrentIndex(SORTS.index(key))

    def set_search(self, text: str) -> None:
        self.search.setText(text)
        self._search_timer.stop()
        self._refilter()

    def reshuffle(self) -> None:
        self.seed += 1
        self.set_sort("random")
        self._refilter()

    # -- where the rows come from ---------------------------------------------------------------------------
    def _split_of(self, lang: str) -> str:
        """The split evaluated for `lang`: its result's, else its samples', else test."""
        for cand in [(self.state.results.get(lang) or {}).get("split"),
                     *(it.get("split") for it in self.state.samples.get(lang, [])[:1])]:
            if cand in SPLITS:
                return cand
        return "test"

    def _rows(self, lang: str) -> list[dict]:
        got = self._loaded.get(lang)
        if got and got["found"]:
            return got["rows"]
        return self.state.samples.get(lang, [])

    def _request_all(self) -> None:
        for i in range(self.lang_combo.count()):
            lang = self.lang_combo.itemText(i)
            if lang not in self._loaded and lang not in self._pending:
                self._request(lang)

    def _request(self, lang: str) -> None:
        run_dir = self.state.run_dir
        if not run_dir:
            return
        split = self._split_of(lang)
        samples = [dict(it) for it in self.state.samples.get(lang, [])]
        gen, answers, limit = self._generation, self._answers, self.max_file_bytes
        self._pending.add(lang)

        def job():
            try:
                got = read_split(run_dir, lang, split, samples, limit)
                for row in got["rows"]:
                    row["search"] = _haystack(row)
            except PredictionsError as e:
                got = {"rows": [], "note": str(e), "found": False, "refused": True}
            except Exception as e:  # noqa: BLE001 - any failure is shown in the view, never raised in a thread
                got = {"rows": [], "note": f"cannot read the predictions: {e}", "found": False, "refused": True}
            got["split"] = split
            answers.put((gen, lang, got))

        self._executor.submit(job)
        self._poll.start()
        self._show_source()

    def _collect(self) -> None:
        drain(self._answers, self._on_read)
        if not self._pending:
            self._poll.stop()

    def _on_read(self, payload) -> None:
        gen, lang, got = payload
        if gen != self._generation:
            return
        self._pending.discard(lang)
        self._loaded[lang] = got
        self._merge_code(lang)                # samples that arrived while the files were read
        if lang == self.current_language():
            self._refilter()

    # -- state signals --------------------------------------------------------------------------------------
    def _on_reset(self) -> None:
        self._generation += 1
        self._loaded.clear()
        self._pending.clear()
        self.lang_combo.blockSignals(True)
        self.lang_combo.clear()
        self.lang_combo.blockSignals(False)
        self._refilter()

    def _add_language(self, lang: str) -> None:
        if self.lang_combo.findText(lang) < 0:
            self.lang_combo.addItem(lang)      # selects it when it is the first, which refilters

    def _on_samples(self, lang: str) -> None:
        self._add_language(lang)
        self._merge_code(lang)
        if lang == self.current_language():
            self._refilter()

    def _merge_code(self, lang: str) -> None:
        """The code of the `samples` examples into the rows read from the files (matched by idx)."""
        got = self._loaded.get(lang)
        if not (got and got["found"]):
            return
        by_idx = {str(r.get("idx")): r for r in got["rows"]}
        for it in self.state.samples.get(lang, []):
            row = by_idx.get(str(it.get("idx")))
            if row is not None and isinstance(it.get("code"), str) and row.get("code") != it["code"]:
                row["code"] = it["code"]
                row["search"] = _haystack(row)

    def _on_result(self, ev: dict) -> None:
        lang = str(ev.get("language") or "?")
        self._add_language(lang)
        self._loaded.pop(lang, None)          # a new evaluation rewrote its prediction files
        self._reload.start()
        self._show_source()

    # -- the table ------------------------------------------------------------------------------------------
    def _refilter(self, *_) -> None:
        lang = self.current_language()
        rows = self._rows(lang)
        items = list(rows)
        key = self.sort_combo.currentData() or "best"
        if key == "random":
            random.Random(self.seed).shuffle(items)
        else:
            have = [it for it in items if _bleu(it) is not None]
            none = [it for it in items if _bleu(it) is None]
            have.sort(key=lambda it: (-_bleu(it) if key == "best" else _bleu(it), _idx_key(it)))
            items = have + none
        q = self.search.text().strip().lower()
        if q:
            items = [it for it in items if q in (it.get("search") or _haystack(it))]
        from_files = bool((self._loaded.get(lang) or {}).get("found"))
        self.code_only.setVisible(from_files)     # the events' samples all have their code
        code_only = from_files and self.code_only.isChecked()
        if code_only:
            items = [it for it in items if isinstance(it.get("code"), str)]
        self._visible = items
        self.model.set_rows(items)
        noun = "predictions" if from_files else "samples"
        filtered = q or code_only
        self.count_label.setText(f"{len(items):,} of {len(rows):,}" if filtered else f"{len(rows):,} {noun}")
        self._show_source()
        if items:
            self.table.selectRow(0)
        else:
            self._show(None)

    def _show_source(self) -> None:
        lang = self.current_language()
        got = self._loaded.get(lang)
        if not lang:
            text = ""
        elif lang in self._pending or (got is None and self._reload.isActive()):
            text = f"reading every prediction of {lang} {self._split_of(lang)}…"
        elif got and got["found"]:
            with_code = sum(1 for r in got["rows"] if isinstance(r.get("code"), str))
            text = (f"every prediction of {lang} {got['split']} ({lang}_{got['split']}.output / .gold); code "
                    f"stored for {with_code:,} (eval.samples)")
            if got["note"]:
                text += f"; {got['note']}"
        elif got:
            why = got["note"] if got.get("refused") else f"{got['note']} yet"
            text = f"the samples of the events: {why}"
        else:
            text = "the samples of the events"
        self.source_label.setText(text)
        self.source_label.setVisible(bool(text))

    def _show_current(self, current: QModelIndex, _previous=None) -> None:
        r = current.row()
        self._show(self._visible[r] if 0 <= r < len(self._visible) else None)

    def _show(self, item: dict | None) -> None:
        self.detail.show_row(item, self.current_language())

    def _export_dialog(self) -> str | None:
        name = f"samples_{self.current_language() or 'none'}.csv"
        return save_as(self, "Samples shown (CSV)", name, CSV, self.export_csv, run_dir=self.state.run_dir)


def _idx_key(it: dict):
    idx = it.get("idx")
    return (0, idx) if isinstance(idx, (int, float)) else (1, str(idx))
