"""Run history: a runs folder as a sortable, filterable table (name, model, started, status, budget, step, best dev
BLEU, test BLEU-4, notes) with a context menu. Statuses come from engine.contract.rundir (summarize / run_status /
writer_host); reading the folder is cramgui.runs_scan (summaries, each run's console name and notes from
cramgui.run_meta, "unreadable: <reason>" for a run whose files cannot be read; the others stay listed), the table
model, its display status (staleness) and the filter are cramgui.runs_model, the context menu cramgui.runs_menu.
Following one run's events.jsonl is cramgui.tailer.RunFollower."""
from __future__ import annotations

import os
import queue
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QItemSelectionModel, Qt, QTimer, Signal
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
                               QPushButton, QSpinBox, QTableView, QVBoxLayout, QWidget)

from engine.contract.paths import default_runs_dir

from .thread_results import drain
from .runs_menu import RunsMenu
from .runs_model import COL, COLUMNS, PATH_ROLE, STALE_MINUTES, RunsFilter, RunsModel
from .runs_scan import file_problem as file_problem   # re-exported: compare_view and evaluate_dialog import them here
from .runs_scan import read_config as read_config
from .runs_scan import scan_runs

RESUMABLE = ("stopped", "interrupted", "failed")


POLL_MS = 50   # how often the GUI thread collects a finished background scan


class RunsPanel(RunsMenu, QWidget):
    """The runs folder as a table. Double-click or Open emits `open_requested(path)`; the context menu also asks
    for resume / evaluate / use-settings (the window decides), and renames, annotates, reveals, copies and archives
    runs itself.

    The folder is scanned in a background thread (reading a long run's events.jsonl takes a while), with a cache
    so only runs that changed are read again; `refreshed` is emitted when the table was updated."""

    open_requested = Signal(str)
    compare_requested = Signal(list)
    resume_requested = Signal(str)
    evaluate_requested = Signal(str)
    use_settings_requested = Signal(str)
    folder_changed = Signal(str)
    refreshed = Signal()
    status_message = Signal(str)

    def __init__(self, runs_dir: str | os.PathLike | None = None, parent: QWidget | None = None,
                 poll_ms: int = 3000):
        super().__init__(parent)
        self.runs_dir = Path(runs_dir) if runs_dir else default_runs_dir()
        self._cache: dict = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cramgui-runs")
        self._scanning = False
        self._again = False
        # the scanning thread never touches Qt: its answer goes into a queue a GUI-thread timer collects
        self._answers: queue.SimpleQueue = queue.SimpleQueue()
        self._collector = QTimer(self)
        self._collector.setInterval(POLL_MS)
        self._collector.timeout.connect(self._collect)
        self.busy_paths = lambda: set()          # runs a writer here works on (the window sets it)

        self.folder_label = QLabel()
        self.folder_label.setTextFormat(Qt.PlainText)
        self.folder_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.folder_label.setMinimumWidth(80)
        self.filter_edit = QLineEdit()
        self.filter_edit.setObjectName("runsFilter")
        self.filter_edit.setPlaceholderText("Filter runs (name, model, status, notes)")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setMinimumWidth(170)
        self.filter_edit.setMaximumWidth(320)
        self.choose_button = QPushButton("Choose folder…")
        self.choose_button.clicked.connect(self.choose_folder)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        self.open_button = QPushButton("Open")
        self.open_button.setToolTip("Open the selected run: replay its plots and results, follow it if it runs")
        self.open_button.clicked.connect(self._open_selected)
        self.compare_button = QPushButton("Compare")
        self.compare_button.setToolTip("Compare the selected runs (select two or more with Ctrl/Shift-click)")
        self.compare_button.clicked.connect(lambda: self.compare_requested.emit(self.selected_paths()))
        self.stale_spin = QSpinBox()
        self.stale_spin.setObjectName("staleMinutes")
        self.stale_spin.setRange(1, 7 * 24 * 60)
        self.stale_spin.setValue(STALE_MINUTES)
        self.stale_spin.setSuffix(" min")
        self.stale_spin.setPrefix("stale after ")
        self.stale_spin.setToolTip("A run that may still be written (running here, or on another machine) but "
                                   "wrote no event for this long is marked stale")
        self.stale_spin.valueChanged.connect(lambda _v: self.relabel())

        self.model = RunsModel(self)
        self.proxy = RunsFilter(self)
        self.proxy.setSourceModel(self.model)
        self.filter_edit.textChanged.connect(self.proxy.set_text)
        self.table = QTableView()
        self.table.setObjectName("runsTable")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(COL["Started"], Qt.DescendingOrder)
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.table.setWordWrap(False)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.Interactive)
        hh.setStretchLastSection(True)
        self.table.setToolTip("Double-click a run to open it; right-click for more")
        self.table.doubleClicked.connect(lambda ix: self.open_requested.emit(ix.data(PATH_ROLE)))
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._on_selection())
        self.table.setContextMenuPolicy(Qt.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self._sized = False
        self._on_selection()

        top = QHBoxLayout()
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.folder_label, 1)
        top.addWidget(self.stale_spin)
        top.addWidget(self.choose_button)
        top.addWidget(self.refresh_button)
        top.addWidget(self.open_button)
        top.addWidget(self.compare_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 2)
        lay.setSpacing(2)
        lay.addLayout(top)
        lay.addWidget(self.table, 1)

        # the watcher notices new run folders at once; the timer catches runs growing inside them (and folders
        # on network filesystems where inotify says nothing)
        self.watcher = QFileSystemWatcher(self)
        self.watcher.directoryChanged.connect(self._schedule_refresh)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(300)
        self._debounce.timeout.connect(self.refresh)
        self.poll = QTimer(self)
        self.poll.setInterval(poll_ms)
        self.poll.timeout.connect(self._poll)
        self.poll.start()
        self.destroyed.connect(lambda *_: self._executor.shutdown(wait=False, cancel_futures=True))
        self.set_runs_dir(self.runs_dir)

    # -- API --------------------------------------------------------------------------------------------------
    @property
    def runs(self) -> list[dict]:
        return self.model.runs

    def set_runs_dir(self, path: str | os.PathLike) -> None:
        self.runs_dir = Path(path)
        if self.watcher.directories():
            self.watcher.removePaths(self.watcher.directories())
        if self.runs_dir.is_dir():
            self.watcher.addPath(str(self.runs_dir))
        full = str(self.runs_dir.resolve())
        self.folder_label.setText(f"Runs folder: {full}")
        self.folder_label.setToolTip(full)
        self._cache = {}
        self.refresh()
        self.folder_changed.emit(str(self.runs_dir))

    def choose_folder(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Choose the runs folder", str(self.runs_dir))
        if d:
            self.set_runs_dir(d)

    def refresh(self) -> None:
        """Rescan in the background (coalesced: at most one scan at a time, one more queued)."""
        if self.runs_dir.is_dir() and str(self.runs_dir) not in self.watcher.directories():
            self.watcher.addPath(str(self.runs_dir))
        if self._scanning:
            self._again = True
            return
        self._scanning = True
        base, cache, answers = self.runs_dir, dict(self._cache), self._answers

        def job():
            try:
                result = scan_runs(base, cache)
            except Exception:  # noqa: BLE001 - a vanished folder, say: show nothing new
                result = None
            answers.put((base, result))

        self._executor.submit(job)
        self._collector.start()

    def _collect(self) -> None:
        """GUI thread: hand a finished scan to _on_scanned; stop polling when no scan is running."""
        drain(self._answers, self._on_scanned)
        if not self._scanning:
            self._collector.stop()

    def refresh_now(self) -> None:
        """Synchronous scan (tests, start-up)."""
        runs, self._cache = scan_runs(self.runs_dir, self._cache)
        self._show(runs)

    def run(self, path: str | os.PathLike) -> dict | None:
        """The listed summary of a run (None when it is not listed)."""
        p = str(path)
        return next((r for r in self.model.runs if r["path"] == p), None)

    def label(self, path: str | os.PathLike) -> str:
        """The run's unique display name (its console name or folder name)."""
        r = self.run(path)
        return r["label"] if r else Path(path).name

    def selected_paths(self) -> list[str]:
        """Selected runs, in the table's order."""
        rows = sorted(ix.row() for ix in self.table.selectionModel().selectedRows())
        return [self.proxy.index(r, 0).data(PATH_ROLE) for r in rows]

    def select_paths(self, paths) -> None:
        want = {str(p) for p in paths}
        sm = self.table.selectionModel()
        sm.clearSelection()
        for r in range(self.proxy.rowCount()):
            ix = self.proxy.index(r, 0)
            if ix.data(PATH_ROLE) in want:
                sm.select(ix, QItemSelectionModel.Select | QItemSelectionModel.Rows)

    def set_current(self, path: str | os.PathLike | None) -> None:
        """Highlight the run the window shows."""
        self.model.set_current(str(path) if path else None)

    def stale_seconds(self) -> float:
        return self.stale_spin.value() * 60.0

    def set_stale_minutes(self, minutes: int) -> None:
        self.stale_spin.setValue(int(minutes))

    def relabel(self) -> None:
        """Recompute the status texts (staleness changes with time, without any file changing)."""
        self.model.relabel(self.stale_seconds())

    def row_texts(self) -> list[list[str]]:
        """What the table shows, in its (sorted, filtered) order."""
        return [[self.proxy.index(r, c).data() or "" for c in range(len(COLUMNS))]
                for r in range(self.proxy.rowCount())]

    def can_resume(self, path: str) -> bool:
        r = self.run(path)
        return bool(r and not r.get("unreadable") and r.get("status") in RESUMABLE
                    and not r.get("never_started") and str(path) not in self.busy_paths())

    def can_evaluate(self, path: str) -> bool:
        r = self.run(path)
        return bool(r and not r.get("unreadable") and r.get("has_checkpoint") and r.get("status") != "running"
                    and str(path) not in self.busy_paths())

    # -- internals --------------------------------------------------------------------------------------------
    def _on_scanned(self, payload) -> None:
        base, result = payload
        self._scanning = False
        if result is not None and base == self.runs_dir:
            runs, self._cache = result
            self._show(runs)
        if self._again:
            self._again = False
            self.refresh()

    def _show(self, runs: list[dict]) -> None:
        selected = set(self.selected_paths())
        self.model.stale_s = self.stale_seconds()
        self.model.set_runs(runs)
        if selected:
            self.select_paths(selected)
        if runs and not self._sized:
            self._sized = True
            self.table.resizeColumnsToContents()
            for c in range(len(COLUMNS)):
                self.table.setColumnWidth(c, min(self.table.columnWidth(c), 260))
        self._on_selection()
        self.refreshed.emit()

    def _on_selection(self) -> None:
        n = len(self.table.selectionModel().selectedRows())
        self.open_button.setEnabled(n == 1)
        self.compare_button.setEnabled(n >= 2)

    def _schedule_refresh(self, *_):
        self._debounce.start()

    def _poll(self) -> None:
        # only when something may change: a running run (here or on another machine), or a folder that appeared
        if any(r.get("status") == "running" or r.get("writer_host") for r in self.model.runs) or \
                (self.runs_dir.is_dir() and not self.watcher.directories()):
            self.refresh()
        else:
            self.relabel()

    def _open_selected(self) -> None:
        paths = self.selected_paths()
        if paths:
            self.open_requested.emit(paths[0])
