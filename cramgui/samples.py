"""Generated summaries per language: sortable, searchable table plus a detail pane (code, reference, prediction)."""
from __future__ import annotations

import csv
import os
import random

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (QComboBox, QFormLayout, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
                               QPlainTextEdit, QPushButton, QSplitter, QTableView, QVBoxLayout, QWidget)

from engine.contract.events import number

from .export import CSV, save_as
from .formatting import bleu as bleu_text
from .run_state import RunState

SORTS = ("best", "worst", "random")
SORT_LABELS = {"best": "best BLEU first", "worst": "worst BLEU first", "random": "random"}
TABLE_COLUMNS = ("idx", "BLEU", "reference", "prediction")
CSV_COLUMNS = ("language", "idx", "BLEU", "reference", "prediction", "code")


def _bleu(item: dict) -> float | None:
    return number(item.get("bleu"))


def fmt_bleu(item: dict) -> str:
    return bleu_text(item.get("bleu"))


def _one_line(s) -> str:
    return " ".join(str(s or "").split())


class SamplesTableModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[dict] = []

    def set_rows(self, rows: list[dict]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(TABLE_COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
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
        self._visible: list[dict] = []

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
        self.search.textChanged.connect(self._refilter)
        self.count_label = QLabel()
        self.csv_button = QPushButton("Export CSV…")
        self.csv_button.clicked.connect(self._export_dialog)

        bar = QHBoxLayout()
        bar.addWidget(QLabel("language:"))
        bar.addWidget(self.lang_combo)
        bar.addWidget(QLabel("sort:"))
        bar.addWidget(self.sort_combo)
        bar.addWidget(self.shuffle_button)
        bar.addWidget(self.search, 1)
        bar.addWidget(self.count_label)
        bar.addWidget(self.csv_button)

        self.model = SamplesTableModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        self.table.setWordWrap(False)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        hh.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().currentRowChanged.connect(self._show_current)

        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.code_view = QPlainTextEdit(readOnly=True)
        self.code_view.setFont(mono)
        self.code_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.reference_view = QLabel(wordWrap=True, textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
        self.prediction_view = QLabel(wordWrap=True,
                                      textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
        self.bleu_view = QLabel()
        for label in (self.reference_view, self.prediction_view):
            label.setTextFormat(Qt.TextFormat.PlainText)
        detail = QWidget()
        form = QFormLayout(detail)
        form.setContentsMargins(4, 0, 0, 0)
        form.addRow("BLEU-4:", self.bleu_view)
        form.addRow("reference:", self.reference_view)
        form.addRow("generated:", self.prediction_view)
        form.addRow(QLabel("code:"))
        form.addRow(self.code_view)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.table)
        split.addWidget(detail)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(split, 1)

        state.samples_added.connect(self._on_samples)
        state.reset_signal.connect(self._on_reset)
        self._on_reset()
        for lang in state.samples:
            self._on_samples(lang)

    # -- public API -----------------------------------------------------------------------------------------
    def visible_rows(self) -> list[dict]:
        return list(self._visible)

    def export_csv(self, path) -> None:
        """The rows shown, in the order shown: language, idx, BLEU (as displayed), reference, prediction, code."""
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

    def reshuffle(self) -> None:
        self.seed += 1
        self.set_sort("random")
        self._refilter()

    # -- internals ------------------------------------------------------------------------------------------
    def _on_reset(self) -> None:
        self.lang_combo.blockSignals(True)
        self.lang_combo.clear()
        self.lang_combo.blockSignals(False)
        self._refilter()

    def _on_samples(self, lang: str) -> None:
        if self.lang_combo.findText(lang) < 0:
            self.lang_combo.addItem(lang)      # selects it when it is the first, which refilters
        if lang == self.current_language():
            self._refilter()

    def _refilter(self, *_) -> None:
        items = list(self.state.samples.get(self.current_language(), []))
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
            items = [it for it in items if any(q in str(it.get(k) or "").lower()
                                               for k in ("code", "reference", "prediction"))]
        self._visible = items
        self.model.set_rows(items)
        total = len(self.state.samples.get(self.current_language(), []))
        self.count_label.setText(f"{len(items)} of {total}" if q else f"{total} samples")
        if items:
            self.table.selectRow(0)
        else:
            self._show(None)

    def _show_current(self, current: QModelIndex, _previous=None) -> None:
        r = current.row()
        self._show(self._visible[r] if 0 <= r < len(self._visible) else None)

    def _show(self, item: dict | None) -> None:
        item = item or {}
        self.bleu_view.setText(fmt_bleu(item))
        self.reference_view.setText(str(item.get("reference") or ""))
        self.prediction_view.setText(str(item.get("prediction") or ""))
        self.code_view.setPlainText(str(item.get("code") or ""))

    def _export_dialog(self) -> str | None:
        name = f"samples_{self.current_language() or 'none'}.csv"
        return save_as(self, "Samples shown (CSV)", name, CSV, self.export_csv, run_dir=self.state.run_dir)


def _idx_key(it: dict):
    idx = it.get("idx")
    return (0, idx) if isinstance(idx, (int, float)) else (1, str(idx))
