"""Run history: a runs folder listed (name, date, status, budget, best BLEU). Statuses come from
engine.contract.rundir (summarize / run_status / writer_host); this module only adds staleness for display.
Following one run's events.jsonl is cramgui.tailer.RunFollower."""
from __future__ import annotations

import datetime as _dt
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QPushButton,
                               QSpinBox, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from engine.contract.paths import default_runs_dir
from engine.contract.rundir import CONFIG, EVENTS, PID_FILE, is_run_dir, summarize, writer_alive, writer_host

from .formatting import age, bleu, duration, status_colour

COLUMNS = ("Name", "Started", "Status", "Budget", "Step", "Best dev BLEU", "Test BLEU-4")
STALE_MINUTES = 10          # default: a run that may still be written but said nothing for this long is stale


def display_status(run: dict, now: float, stale_s: float) -> tuple[str, str]:
    """(status text, tooltip) for the runs list. A run without `done` that may still be written (its writer
    lives here, or it is written on another host) is 'stale (no event for 14 min)' once its last event is older
    than `stale_s`; a run written elsewhere and still talking is 'running on HOST'."""
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


class _Bridge(QObject):
    """Carries a finished background scan to the GUI thread (a queued signal)."""
    ready = Signal(object)


def _signature(d: Path) -> tuple:
    sig = []
    for name in (EVENTS, CONFIG, PID_FILE):
        try:
            st = (d / name).stat()
            sig.append((st.st_size, st.st_mtime_ns))
        except OSError:
            sig.append(None)
    return tuple(sig)


def scan_runs(base: Path, cache: dict) -> tuple[list[dict], dict]:
    """engine.contract.rundir.summarize for every run directory of `base`, reusing `cache` {path: (signature, summary,
    when, seconds)} for runs that did not change. A growing run is re-read at most every max(2 s, 10 x the time
    one read took), so a huge events.jsonl never keeps a core busy. Runs in a worker thread."""
    out, new_cache = [], {}
    if not base.is_dir():
        return [], {}
    now = time.monotonic()
    for d in sorted(base.iterdir()):
        try:
            if not d.is_dir() or not is_run_dir(d):
                continue
        except OSError:
            continue
        key = str(d)
        sig = _signature(d)
        old = cache.get(key)
        if old is not None:
            osig, summary, when, took = old
            fresh = osig == sig
            if fresh and summary.get("status") == "running":
                fresh = writer_alive(d)                 # a run whose writer died is 'interrupted' now
            elif not fresh and (summary.get("status") == "running" or summary.get("writer_host")) and \
                    now - when < max(2.0, 10 * took):
                fresh = True                            # growing: re-read later
                sig = osig
            if fresh:
                new_cache[key] = (sig, summary, when, took)
                out.append(summary)
                continue
        t0 = time.perf_counter()
        try:
            summary = summarize(d)
        except (OSError, ValueError):
            continue
        summary["writer_host"] = writer_host(d)
        new_cache[key] = (sig, summary, now, time.perf_counter() - t0)
        out.append(summary)
    out.sort(key=lambda r: r["started"] or "", reverse=True)
    return out, new_cache


class RunsPanel(QWidget):
    """The runs folder as a table. Double-click or Open emits `open_requested(path)`.

    The folder is scanned in a background thread (reading a long run's events.jsonl takes a while), with a cache
    so only runs that changed are read again; `refreshed` is emitted when the table was updated."""

    open_requested = Signal(str)
    compare_requested = Signal(list)
    folder_changed = Signal(str)
    refreshed = Signal()

    def __init__(self, runs_dir: str | os.PathLike | None = None, parent: QWidget | None = None,
                 poll_ms: int = 3000):
        super().__init__(parent)
        self.runs_dir = Path(runs_dir) if runs_dir else default_runs_dir()
        self.runs: list[dict] = []
        self._cache: dict = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cramgui-runs")
        self._scanning = False
        self._again = False
        self._bridge = _Bridge(self)
        self._bridge.ready.connect(self._on_scanned)

        self.folder_label = QLabel()
        self.folder_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
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

        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.tree.header().setStretchLastSection(True)
        self.tree.setToolTip("Double-click a run to open it")
        self.tree.itemDoubleClicked.connect(lambda item, _col: self._emit_open(item))
        self.tree.itemSelectionChanged.connect(self._on_selection)
        self._on_selection()

        top = QHBoxLayout()
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
        lay.addWidget(self.tree, 1)

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
        base, cache, bridge = self.runs_dir, dict(self._cache), self._bridge

        def job():
            try:
                result = scan_runs(base, cache)
            except Exception:  # noqa: BLE001 - a vanished folder, say: show nothing new
                result = None
            try:
                bridge.ready.emit((base, result))
            except RuntimeError:      # the panel is gone
                pass

        self._executor.submit(job)

    def refresh_now(self) -> None:
        """Synchronous scan (tests, start-up)."""
        runs, self._cache = scan_runs(self.runs_dir, self._cache)
        self._show(runs)

    def selected_paths(self) -> list[str]:
        """Selected runs, in the table's order."""
        items = [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())]
        return [it.data(0, Qt.UserRole) for it in items if it.isSelected()]

    def stale_seconds(self) -> float:
        return self.stale_spin.value() * 60.0

    def set_stale_minutes(self, minutes: int) -> None:
        self.stale_spin.setValue(int(minutes))

    def relabel(self) -> None:
        """Recompute the status texts (staleness changes with time, without any file changing)."""
        now, stale = time.time(), self.stale_seconds()
        by_path = {r["path"]: r for r in self.runs}
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            r = by_path.get(item.data(0, Qt.UserRole))
            if r is not None:
                self._set_status(item, r, now, stale)

    def _set_status(self, item: QTreeWidgetItem, r: dict, now: float, stale: float) -> None:
        text, tip = display_status(r, now, stale)
        if item.text(2) != text:
            item.setText(2, text)
        item.setToolTip(2, tip)
        color = status_colour(text)
        item.setForeground(2, QBrush(QColor(color)) if color else QBrush())

    def row_texts(self) -> list[list[str]]:
        return [[self.tree.topLevelItem(i).text(c) for c in range(len(COLUMNS))]
                for i in range(self.tree.topLevelItemCount())]

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
        self.runs = runs
        now, stale = time.time(), self.stale_seconds()
        self.tree.clear()
        for r in runs:
            results = r.get("results") or {}
            test = ", ".join(f"{lang} {bleu(b)}" for lang, b in results.items() if b is not None)
            item = QTreeWidgetItem([r.get("name") or "", _fmt_started(r.get("started")), r.get("status") or "",
                                    duration(r.get("budget_seconds")), str(r.get("step") or 0),
                                    bleu(r.get("best_dev_bleu")), test])
            item.setData(0, Qt.UserRole, r["path"])
            item.setToolTip(0, r["path"])
            self._set_status(item, r, now, stale)
            self.tree.addTopLevelItem(item)
            if r["path"] in selected:
                item.setSelected(True)
        self.refreshed.emit()

    def _on_selection(self) -> None:
        n = len(self.tree.selectedItems())
        self.open_button.setEnabled(n == 1)
        self.compare_button.setEnabled(n >= 2)

    def _schedule_refresh(self, *_):
        self._debounce.start()

    def _poll(self) -> None:
        # only when something may change: a running run (here or on another machine), or a folder that appeared
        if any(r.get("status") == "running" or r.get("writer_host") for r in self.runs) or \
                (self.runs_dir.is_dir() and not self.watcher.directories()):
            self.refresh()
        else:
            self.relabel()

    def _open_selected(self) -> None:
        items = self.tree.selectedItems()
        if items:
            self._emit_open(items[0])

    def _emit_open(self, item: QTreeWidgetItem) -> None:
        self.open_requested.emit(item.data(0, Qt.UserRole))
