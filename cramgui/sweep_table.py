"""The Sweep view's trial table: one row per trial of sweep.json (the varied values, status, objective, best dev
BLEU, test mean, trained seconds, tokens seen, run folder). The trial number cell carries the trial's plot colour
and its number (Qt.UserRole), so a selection survives a refill. Every cell is plain text.
"""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from engine.contract.events import number
from engine.contract.sweeps import param_names

from .compare_curves import COLORS
from .formatting import DASH, fixed

STATUS_COLORS = {"completed": "#2ca02c", "pruned": "#ff7f0e", "running": "#1f77b4", "failed": "#d62728",
                 "interrupted": "#8c564b", "skipped": "#7f7f7f"}
COLUMNS_AFTER = ["status", "objective", "best dev BLEU", "test mean", "trained s", "tokens seen", "dir"]


def trial_color(t: dict) -> str:
    """A trial's colour in the table and the dev BLEU plot: by trial number."""
    n = t.get("number")
    return COLORS[n % len(COLORS)] if isinstance(n, int) else "#000000"


def header(sweep: dict | None) -> list[str]:
    return ["trial", *param_names(sweep or {}), *COLUMNS_AFTER]


def _num_cell(v, digits: int = 2) -> str:
    return fixed(number(v), digits, missing=DASH)


def _param_cell(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return DASH if v is None else str(v)


class TrialTable(QTableWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("sweepTable")
        self.setEditTriggers(QTableWidget.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.verticalHeader().setVisible(False)

    def fill(self, sweep: dict | None) -> None:
        """Show the trials of `sweep` (None: an empty table), keeping the selected trials selected."""
        selected = set(self.selected_numbers())
        self.blockSignals(True)
        self.clear()
        cols = header(sweep) if sweep else []
        trials = sweep["trials"] if sweep else []
        self.setColumnCount(len(cols))
        self.setRowCount(len(trials))
        self.setHorizontalHeaderLabels(cols)
        names = param_names(sweep or {})
        for r, t in enumerate(trials):
            params = t.get("params") if isinstance(t.get("params"), dict) else {}
            cells = ([str(t.get("number"))] + [_param_cell(params.get(n)) for n in names]
                     + [str(t.get("status") or DASH), _num_cell(t.get("objective")), _num_cell(t.get("best_dev_bleu")),
                        _num_cell(t.get("test_mean")), _num_cell(t.get("trained_seconds"), 1),
                        str(int(number(t.get("tokens_seen")))) if number(t.get("tokens_seen")) is not None else DASH,
                        str(t.get("dir") or DASH)])
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 0:
                    item.setData(Qt.UserRole, t.get("number"))
                    item.setForeground(pg.mkColor(trial_color(t)))
                elif cols[c] == "status":
                    item.setForeground(pg.mkColor(STATUS_COLORS.get(t.get("status"), "#000000")))
                elif cols[c] != "dir":
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.setItem(r, c, item)
            if t.get("number") in selected:
                self._select_row(r)
        self.blockSignals(False)

    def _select_row(self, r: int) -> None:
        sm = self.selectionModel()
        sm.select(self.model().index(r, 0), QItemSelectionModel.Select | QItemSelectionModel.Rows)

    def selected_numbers(self) -> list[int]:
        rows = sorted({i.row() for i in self.selectedIndexes()})
        out = []
        for r in rows:
            item = self.item(r, 0)
            n = item.data(Qt.UserRole) if item is not None else None
            if isinstance(n, int):
                out.append(n)
        return out

    def select_numbers(self, numbers: list[int]) -> None:
        self.clearSelection()
        for r in range(self.rowCount()):
            if self.item(r, 0).data(Qt.UserRole) in numbers:
                self._select_row(r)
