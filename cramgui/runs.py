"""Run history: a runs folder as a sortable, filterable table (name, model, started, status, budget, step, best dev
BLEU, test BLEU-4, notes) with a context menu. Statuses come from engine.contract.rundir (summarize / run_status /
writer_host); this module adds staleness for display, each run's console name and notes (cramgui.run_meta), and
marks a run whose files cannot be read "unreadable: <reason>" (the others stay listed). Following one run's
events.jsonl is cramgui.tailer.RunFollower."""
from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import os
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PySide6.QtCore import (QAbstractTableModel, QFileSystemWatcher, QItemSelectionModel, QModelIndex, QObject,
                            QSortFilterProxyModel, Qt,
                            QTimer, QUrl, Signal)
from PySide6.QtGui import QBrush, QColor, QDesktopServices, QFont, QGuiApplication
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView, QInputDialog, QLabel,
                               QLineEdit, QMenu, QMessageBox, QPushButton, QSpinBox, QTableView, QVBoxLayout, QWidget)

from engine.contract.events import decode
from engine.contract.files import read_text
from engine.contract.paths import default_runs_dir
from engine.contract.rundir import (CONFIG, EVENTS, PID_FILE, RESULTS, checkpoint_dir, is_run_dir, read_results,
                                    summarize, writer_alive, writer_host)

from .formatting import age, bleu, duration, status_colour
from .run_meta import META_FILE, read_meta, write_meta

COLUMNS = ("Name", "Model", "Started", "Status", "Budget", "Step", "Best dev BLEU", "Test BLEU-4", "Notes")
COL = {c: i for i, c in enumerate(COLUMNS)}
STALE_MINUTES = 10          # default: a run that may still be written but said nothing for this long is stale
ARCHIVE_DIR = "archive"     # RUNS_DIR/archive/: where "Move to archive" puts a run (not listed)
SORT_ROLE = Qt.UserRole + 1
PATH_ROLE = Qt.UserRole
RESUMABLE = ("stopped", "interrupted", "failed")
_FOLDER_TIME = re.compile(r"^(\d{8}-\d{6})")


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


def folder_time(d: Path) -> str:
    """When the run folder was made, ISO: from its DATE-TIME- name prefix, else the folder's mtime."""
    m = _FOLDER_TIME.match(d.name)
    if m:
        try:
            return _dt.datetime.strptime(m.group(1), "%Y%m%d-%H%M%S").isoformat(timespec="seconds")
        except ValueError:
            pass
    try:
        return _dt.datetime.fromtimestamp(d.stat().st_mtime).isoformat(timespec="seconds")
    except (OSError, OverflowError, ValueError):
        return ""


def model_label(cfg: dict | None) -> str:
    """'scratch tiny', 'codebert-base', 'codet5-small' … from a run's config (model.source / size / name)."""
    m = cfg.get("model") if isinstance(cfg, dict) else None
    if not isinstance(m, dict):
        return ""
    source = m.get("source")
    name = m.get("name_or_path")
    if source in ("encoder", "seq2seq") and isinstance(name, str) and name:
        return name.rstrip("/").rsplit("/", 1)[-1]
    size = m.get("size")
    return f"scratch {size}" if source == "scratch" and isinstance(size, str) else str(source or "")


def read_config(d: Path) -> tuple[dict | None, str | None]:
    """(config dict, problem) of RUN_DIR/config.json: (None, None) when there is none."""
    p = d / CONFIG
    if not p.exists() and not p.is_symlink():
        return None, None
    try:
        cfg = json.loads(read_text(p, limit=8 << 20))
    except (OSError, ValueError) as e:
        return None, f"config.json: {_short(e)}"
    if not isinstance(cfg, dict):
        return None, f"config.json holds a {type(cfg).__name__}, not an object"
    return cfg, None


def file_problem(d: Path) -> str | None:
    """Why a run's files cannot be read as a run (None when they can): events.jsonl without one readable event,
    a results.csv without the language / bleu4 columns or with non-numbers in them."""
    ev = d / EVENTS
    if ev.is_symlink():
        return "events.jsonl is a symbolic link"
    try:
        if ev.is_file() and ev.stat().st_size:
            with open(ev, "rb") as fh:
                head = fh.read(256 << 10)
            lines = [ln for ln in head.split(b"\n")[:-1] if ln.strip()] or ([head] if len(head) < 256 << 10 else [])
            if lines and not any(decode(ln) is not None for ln in lines):
                return "events.jsonl has no readable event"
    except OSError as e:
        return f"events.jsonl: {_short(e)}"
    res = d / RESULTS
    if res.is_symlink():
        return "results.csv is a symbolic link"
    if res.is_file():
        try:
            header = next(csv.reader(io.StringIO(read_text(res, limit=1 << 20).split("\n", 1)[0])), [])
            if "language" not in header or "bleu4" not in header:
                return "results.csv has no language / bleu4 columns (not the engine's file)"
            read_results(d)
        except (OSError, ValueError, KeyError) as e:
            return f"results.csv: {_short(e)}"
    return None


def _short(e: BaseException) -> str:
    text = str(e) or type(e).__name__
    return text if len(text) < 160 else text[:157] + "…"


def _summary(d: Path) -> dict:
    """summarize(d) plus what the console lists: folder time, model, console name and notes, checkpoint,
    'unreadable' (the reason, when a file of the run is malformed; the run stays listed)."""
    problem = None
    try:
        info = summarize(d)
    except Exception as e:  # noqa: BLE001 - a malformed run file of any kind: list the run as unreadable
        info = {"name": d.name, "path": str(d), "started": None, "status": "unknown", "budget_seconds": None,
                "step": 0, "elapsed": 0.0, "best_dev_bleu": None, "results": {}, "last_event_time": None}
        problem = _short(e)
    cfg, cfg_problem = read_config(d)
    problem = problem or cfg_problem or file_problem(d)
    meta = read_meta(d)
    try:
        host = writer_host(d)
    except (OSError, ValueError):
        host = None
    info.update(folder=d.name, folder_time=folder_time(d), model=model_label(cfg), notes=meta.get("notes", ""),
                label=meta.get("name") or d.name, unreadable=problem, writer_host=host,
                has_checkpoint=checkpoint_dir(d, "last") is not None or checkpoint_dir(d, "best") is not None,
                preset_name=cfg.get("name") if isinstance(cfg, dict) and isinstance(cfg.get("name"), str) else "")
    info["never_started"] = info.get("started") is None
    return info


def unique_labels(runs: list[dict]) -> None:
    """Make every run's `label` unique: a repeated console name gets its folder name added."""
    seen: dict[str, int] = {}
    for r in runs:
        seen[r["label"]] = seen.get(r["label"], 0) + 1
    for r in runs:
        if seen[r["label"]] > 1 and r["label"] != r["folder"]:
            r["label"] = f"{r['label']} ({r['folder']})"


class _Bridge(QObject):
    """Carries a finished background scan to the GUI thread (a queued signal)."""
    ready = Signal(object)


def _signature(d: Path) -> tuple:
    sig = []
    for name in (EVENTS, CONFIG, PID_FILE, RESULTS, META_FILE):
        try:
            st = (d / name).stat()
            sig.append((st.st_size, st.st_mtime_ns))
        except (OSError, ValueError):
            sig.append(None)
    return tuple(sig)


def scan_runs(base: Path, cache: dict) -> tuple[list[dict], dict]:
    """A summary (see _summary) for every run directory of `base`, reusing `cache` {path: (signature, summary,
    when, seconds)} for runs that did not change. A growing run is re-read at most every max(2 s, 10 x the time
    one read took), so a huge events.jsonl never keeps a core busy. Runs in a worker thread. One malformed run
    never hides the others."""
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
                    now - when < max(2.0, 10 * took) and sig[-1] == osig[-1]:
                fresh = True                            # growing: re-read later
                sig = osig
            if fresh:
                new_cache[key] = (sig, summary, when, took)
                out.append(dict(summary))
                continue
        t0 = time.perf_counter()
        summary = _summary(d)
        new_cache[key] = (sig, summary, now, time.perf_counter() - t0)
        out.append(dict(summary))
    unique_labels(out)
    out.sort(key=lambda r: r["started"] or r["folder_time"] or "", reverse=True)
    return out, new_cache


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


class RunsPanel(QWidget):
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
        self._bridge = _Bridge(self)
        self._bridge.ready.connect(self._on_scanned)
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

    # -- the run's identity -----------------------------------------------------------------------------------
    def rename(self, path: str, name: str) -> None:
        write_meta(path, name=name.strip())
        self._cache.pop(str(path), None)
        self.refresh_now()
        self.status_message.emit(f"Renamed {Path(path).name} to {name.strip() or Path(path).name}")

    def set_notes(self, path: str, notes: str) -> None:
        write_meta(path, notes=notes.strip())
        self._cache.pop(str(path), None)
        self.refresh_now()
        self.status_message.emit(f"Notes of {self.label(path)} saved")

    def archive(self, path: str) -> Path | None:
        """Move the run folder to RUNS_DIR/archive/ (never a run being written); returns where it went."""
        p = Path(path)
        r = self.run(path)
        if str(p) in self.busy_paths() or (r and r.get("status") == "running"):
            raise RuntimeError(f"{p.name} is being written; stop it first")
        dest_dir = p.parent / ARCHIVE_DIR
        dest_dir.mkdir(exist_ok=True)
        dest = dest_dir / p.name
        i = 1
        while dest.exists():
            i += 1
            dest = dest_dir / f"{p.name}-{i}"
        shutil.move(str(p), str(dest))
        self._cache.pop(str(p), None)
        self.refresh_now()
        self.status_message.emit(f"Moved {p.name} to {dest}")
        return dest

    # -- the context menu ---------------------------------------------------------------------------------------
    def context_menu(self, path: str) -> QMenu:
        """The actions for one run (also what a right-click shows)."""
        m = QMenu(self)
        label = self.label(path)
        m.addAction("Open", lambda: self.open_requested.emit(path))
        a = m.addAction("Resume", lambda: self.resume_requested.emit(path))
        a.setEnabled(self.can_resume(path))
        a = m.addAction("Evaluate…", lambda: self.evaluate_requested.emit(path))
        a.setEnabled(self.can_evaluate(path))
        m.addAction("Use this run's settings", lambda: self.use_settings_requested.emit(path))
        m.addSeparator()
        m.addAction("Rename…", lambda: self._rename_dialog(path))
        m.addAction("Notes…", lambda: self._notes_dialog(path))
        m.addSeparator()
        m.addAction("Open folder", lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(path)))
        m.addAction("Copy path", lambda: self._copy_path(path))
        m.addSeparator()
        a = m.addAction("Move to archive…", lambda: self._archive_dialog(path))
        a.setEnabled(str(path) not in self.busy_paths())
        m.setTitle(label)
        for act in m.actions():
            act.setObjectName(act.text().rstrip("…").replace(" ", "_").replace("'", "").lower())
        return m

    def _context_menu(self, pos) -> None:
        ix = self.table.indexAt(pos)
        if not ix.isValid():
            return
        path = ix.data(PATH_ROLE)
        if path not in self.selected_paths():
            self.select_paths([path])
        self.context_menu(path).popup(self.table.viewport().mapToGlobal(pos))

    def _copy_path(self, path: str) -> None:
        QGuiApplication.clipboard().setText(str(path))
        self.status_message.emit(f"Copied {path}")

    def _rename_dialog(self, path: str) -> None:
        r = self.run(path) or {}
        d = QInputDialog(self)
        d.setObjectName("renameDialog")
        d.setWindowTitle("Rename run")
        d.setLabelText(f"Name shown for {Path(path).name} (the folder keeps its name; empty = the folder's):")
        d.setTextValue(r.get("label") if r.get("label") != Path(path).name else "")
        d.textValueSelected.connect(lambda text: self._guard(lambda: self.rename(path, text)))
        d.setAttribute(Qt.WA_DeleteOnClose)
        d.open()

    def _notes_dialog(self, path: str) -> None:
        r = self.run(path) or {}
        d = QInputDialog(self)
        d.setObjectName("notesDialog")
        d.setWindowTitle(f"Notes — {self.label(path)}")
        d.setLabelText("Notes (kept in the run folder, console.json):")
        d.setOption(QInputDialog.UsePlainTextEditForTextInput)
        d.setTextValue(r.get("notes") or "")
        d.textValueSelected.connect(lambda text: self._guard(lambda: self.set_notes(path, text)))
        d.setAttribute(Qt.WA_DeleteOnClose)
        d.open()

    def _archive_dialog(self, path: str) -> None:
        box = QMessageBox(QMessageBox.Question, "Move run to archive",
                          f"Move {self.label(path)} to {Path(path).parent / ARCHIVE_DIR}?",
                          QMessageBox.Yes | QMessageBox.Cancel, self)
        box.setObjectName("confirmArchive")
        box.setTextFormat(Qt.PlainText)
        box.setInformativeText("The folder is moved, not deleted: move it back to list it again.")
        box.button(QMessageBox.Yes).setText("Move to archive")
        box.setDefaultButton(QMessageBox.Cancel)
        box.finished.connect(lambda r: self._guard(lambda: self.archive(path)) if r == QMessageBox.Yes else None)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.open()

    def _guard(self, fn) -> None:
        try:
            fn()
        except (OSError, RuntimeError) as e:
            box = QMessageBox(QMessageBox.Warning, "Runs", str(e), QMessageBox.Ok, self)
            box.setTextFormat(Qt.PlainText)
            box.setAttribute(Qt.WA_DeleteOnClose)
            box.open()

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
