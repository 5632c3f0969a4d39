"""The runs table's model: the scanned runs (cramgui.runs_scan) as sortable rows with their display status
(staleness, "running on HOST", "unreadable: <reason>"), and the filter proxy behind the filter box."""
from __future__ import annotations

import datetime as _dt
import time

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from .formatting import age, bleu, duration, status_colour

COLUMNS = ("Name", "Model", "Started", "Status", "Budget", "Step", "Best dev BLEU", "Test BLEU-4", "Notes")
COL = {c: i for i, c in enumerate(COLUMNS)}
STALE_MINUTES = 10          # default: a run that may still be written but said nothing for this long is stale
SORT_ROLE = Qt.UserRole + 1
PATH_ROLE = Qt.UserRole


def display_status(run: dict, now: float, stale_s: float) -> tuple[str, str]:
    """(status text, tooltip) for the runs list. A run without `done` that may still be written (its writer
    lives here, or it is written on another host) is 'stale (no event for 14 min)' once its last event is older
    than `stale_s`; a run written elsewhere and still talking is 'running on HOST'. A run whose files cannot be
    read is 'unreadable: <reason>'."""
    if run.get("unreadable"):
        return f"unreadable: {run['unreadable']}", f"{run.get('path')}: {run['unreadable']}"
    status = run.get("status") or ""
    t = run.get("last_event_time")
    remote = run.get("writer_host")
    if status not in ("running", "interrupted") or t is None:
        return status, ""
    if status == "interrupted" and not remote:
        return status, "its engine process is gone (no done event): Resume continues from the last checkpoint"
    elapsed = max(0.0, now - float(t))
    where = f" on {remote}" if remote and status != "running" else ""
    if elapsed > stale_s:
        return (f"stale (no event for {age(elapsed)})",
                f"no event for {age(elapsed)}: the run{where} may hang, or its writer died without a word")
    if where:
        return f"running{where}", f"written{where} (no process here); last event {age(elapsed)} ago"
    return status, f"last event {age(elapsed)} ago"


def _fmt_started(iso) -> str:
    if not iso:
        return ""
    try:
        return _dt.datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return str(iso)


class RunsModel(QAbstractTableModel):
    """The scanned runs as table rows. DisplayRole: the text; SORT_ROLE: a sortable value; PATH_ROLE: the path.
    The run being shown (`current`) is bold on a tinted background."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.runs: list[dict] = []
        self.current: str | None = None
        self._status: list[tuple[str, str]] = []
        self.stale_s = STALE_MINUTES * 60.0

    def set_runs(self, runs: list[dict]) -> None:
        self.beginResetModel()
        self.runs = runs
        self._status = [display_status(r, time.time(), self.stale_s) for r in runs]
        self.endResetModel()

    def relabel(self, stale_s: float) -> None:
        self.stale_s = stale_s
        now = time.time()
        for i, r in enumerate(self.runs):
            st = display_status(r, now, stale_s)
            if st != self._status[i]:
                self._status[i] = st
                ix = self.index(i, COL["Status"])
                self.dataChanged.emit(ix, ix)

    def set_current(self, path: str | None) -> None:
        self.current = path
        if self.runs:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.runs) - 1, len(COLUMNS) - 1))

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.runs)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if orientation == Qt.Horizontal and role == Qt.DisplayRole and 0 <= section < len(COLUMNS):
            return COLUMNS[section]
        return None

    def text(self, row: int, col: int) -> str:
        r = self.runs[row]
        name = COLUMNS[col]
        if name == "Name":
            return r["label"]
        if name == "Model":
            return r.get("model") or ""
        if name == "Started":
            return _fmt_started(r.get("started") or r.get("folder_time"))
        if name == "Status":
            return self._status[row][0]
        if name == "Budget":
            return duration(r.get("budget_seconds"))
        if name == "Step":
            return str(r.get("step") or 0)
        if name == "Best dev BLEU":
            return bleu(r.get("best_dev_bleu"))
        if name == "Test BLEU-4":
            return ", ".join(f"{lang} {bleu(b)}" for lang, b in (r.get("results") or {}).items() if b is not None)
        if name == "Notes":
            return (r.get("notes") or "").split("\n", 1)[0]
        return ""

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        row, col = index.row(), index.column()
        r = self.runs[row]
        name = COLUMNS[col]
        if role == Qt.DisplayRole:
            return self.text(row, col)
        if role == PATH_ROLE:
            return r["path"]
        if role == SORT_ROLE:
            if name == "Started":
                return r.get("started") or r.get("folder_time") or ""
            if name in ("Budget", "Step", "Best dev BLEU"):
                v = {"Budget": r.get("budget_seconds"), "Step": r.get("step"),
                     "Best dev BLEU": r.get("best_dev_bleu")}[name]
                return float(v) if isinstance(v, (int, float)) else -1.0
            return self.text(row, col).lower()
        if role == Qt.ToolTipRole:
            if name == "Status":
                return self._status[row][1] or None
            if name == "Name":
                return r["path"] + (f"\n{r['notes']}" if r.get("notes") else "")
            if name == "Started" and not r.get("started"):
                return "never started: the folder's time"
            if name == "Notes":
                return r.get("notes") or None
            return None
        if role == Qt.ForegroundRole and name == "Status":
            text = self._status[row][0]
            color = "#c62828" if text.startswith("unreadable") else status_colour(text)
            return QBrush(QColor(color)) if color else None
        if role == Qt.FontRole and r["path"] == self.current:
            f = QFont()
            f.setBold(True)
            return f
        if role == Qt.BackgroundRole and r["path"] == self.current:
            return QBrush(QColor(227, 239, 253))
        if role == Qt.TextAlignmentRole and name in ("Budget", "Step", "Best dev BLEU"):
            return int(Qt.AlignRight | Qt.AlignVCenter)
        return None


class RunsFilter(QSortFilterProxyModel):
    """Rows whose name, model, status or notes contain every word of the filter text (case-insensitive)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.words: list[str] = []
        self.setSortRole(SORT_ROLE)

    def set_text(self, text: str) -> None:
        if hasattr(self, "beginFilterChange"):          # Qt >= 6.9 (invalidateFilter is deprecated there)
            self.beginFilterChange()
            self.words = text.lower().split()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self.words = text.lower().split()
            self.invalidateFilter()

    def filterAcceptsRow(self, row, parent) -> bool:
        if not self.words:
            return True
        m = self.sourceModel()
        hay = " ".join(m.text(row, c) for c in range(len(COLUMNS))).lower() + " " + m.runs[row]["folder"].lower()
        return all(w in hay for w in self.words)
