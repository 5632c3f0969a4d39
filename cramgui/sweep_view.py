"""The Sweep view: the live trial table and three plots of a sweep directory.

It reads SWEEP_DIR/sweep.json (written by the sweep's workers after every change) and each trial's run directory
through engine.contract only; the console never imports Optuna. A sweep started here runs as
`python -m engine.sweep SPEC --sweep-dir D --jsonl` (== `cram sweep ...`) in a cramgui.worker.EngineWorker:
Stop signals it (the running trial checkpoints, the sweep ends after it), Resume runs `--resume D`.

Plots: the objective against a varied parameter (log x for log-scaled ranges and for positive values spanning a
decade or more), dev BLEU against training time for every trial (a pruned or stopped trial is dashed and ends with
a cross), and the best objective so far against sweep time. Selecting trials and choosing Compare emits
`compare_requested(list of run dirs)`.
"""
from __future__ import annotations

import csv
import json
import math
import os
import sys
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QItemSelectionModel, Qt, QTimer, Signal
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QPlainTextEdit,
                               QPushButton, QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from engine.contract.events import number
from engine.contract.launch import engine_command
from engine.contract.rundir import pid_alive, writer_alive

from .compare_curves import COLORS, dev_curve, draw_curve
from .export import CSV, PNG, plot_to_png, save_as, table_model_to_csv
from .formatting import DASH, fixed

SWEEP_FILE = "sweep.json"
POLL_MS = 1000
STATUS_COLORS = {"completed": "#2ca02c", "pruned": "#ff7f0e", "running": "#1f77b4", "failed": "#d62728",
                 "interrupted": "#8c564b", "skipped": "#7f7f7f"}


def sweep_command() -> list[str]:
    """The sweep launcher: `python -m engine.sweep` (the same as `cram sweep`)."""
    py, flag, _ = engine_command()
    return [py, flag, "engine.sweep"]


def read_sweep(sweep_dir: str | os.PathLike, live: bool = False) -> dict | None:
    """sweep.json as a dict (None when missing or unreadable); a trial it calls running whose run has no live
    writer and whose worker's claim names a dead process of this host is shown interrupted (unless `live`: this
    console runs the sweep's worker now)."""
    d = Path(sweep_dir)
    p = d / SWEEP_FILE
    if p.is_symlink() or not p.is_file():
        return None
    try:
        s = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeError):
        return None
    if not isinstance(s, dict) or not isinstance(s.get("trials"), list):
        return None
    s["trials"] = [t for t in s["trials"] if isinstance(t, dict)]
    for t in s["trials"]:
        if t.get("status") == "running" and not live and not _worker_alive(d, t):
            t["status"] = "interrupted"
    if s.get("state") == "running" and not any(t.get("status") == "running" for t in s["trials"]):
        s["state"] = "interrupted"
    return s


def _worker_alive(d: Path, t: dict) -> bool:
    rel = trial_dir(d, t)
    if rel is not None and writer_alive(rel):
        return True
    n = t.get("number")
    claim = d / "claims" / f"trial-{n:03d}.json" if isinstance(n, int) else None
    if claim is None or claim.is_symlink() or not claim.is_file():
        return False
    try:
        holder = json.loads(claim.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeError):
        return True
    import socket

    pid = holder.get("pid") if isinstance(holder, dict) else None
    if isinstance(holder, dict) and holder.get("host") == socket.gethostname():
        return pid_alive(pid if isinstance(pid, int) else -1)
    return True  # another host's worker: as far as this machine can tell


def trial_dir(sweep_dir: Path, t: dict) -> Path | None:
    """The trial's run directory: a plain folder name inside the sweep directory, never a path out of it."""
    rel = t.get("dir")
    if not isinstance(rel, str) or not rel or Path(rel).name != rel or rel in (".", ".."):
        return None
    p = Path(sweep_dir) / rel
    return None if p.is_symlink() else p


def param_names(sweep: dict) -> list[str]:
    return [p["name"] for p in (sweep.get("spec") or {}).get("params", [])
            if isinstance(p, dict) and isinstance(p.get("name"), str)]


def log_scaled(sweep: dict, name: str) -> bool:
    """A log range, or positive numeric values spanning a factor of 10 or more."""
    for p in (sweep.get("spec") or {}).get("params", []):
        if isinstance(p, dict) and p.get("name") == name:
            if p.get("log") is True:
                return True
            vals = [number(v) for v in (p.get("values") or [])]
            if vals and all(v is not None and v > 0 for v in vals):
                return max(vals) / min(vals) >= 10
    return False


def best_so_far(sweep: dict) -> list[tuple[float, float]]:
    """(seconds since the sweep's first trial started, best objective among trials completed by then)."""
    minimize = ((sweep.get("spec") or {}).get("objective") or {}).get("direction") == "minimize"
    trials = sweep["trials"]
    starts = [number(t.get("started")) for t in trials if number(t.get("started")) is not None]
    if not starts:
        return []
    t0 = min(starts)
    done = sorted((number(t.get("finished")), number(t.get("objective"))) for t in trials
                  if t.get("status") == "completed" and number(t.get("finished")) is not None
                  and number(t.get("objective")) is not None)
    out, best = [], None
    for when, value in done:
        best = value if best is None else (min(best, value) if minimize else max(best, value))
        out.append((when - t0, best))
    return out


def _num_cell(v, digits: int = 2) -> str:
    return fixed(number(v), digits, missing=DASH)


def _param_cell(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return DASH if v is None else str(v)


class SweepView(QWidget):
    compare_requested = Signal(list)
    state_changed = Signal(str)

    COLUMNS_AFTER = ["status", "objective", "best dev BLEU", "test mean", "trained s", "tokens seen", "dir"]

    def __init__(self, parent: QWidget | None = None, worker_factory=None):
        super().__init__(parent)
        self.sweep_dir: Path | None = None
        self.sweep: dict | None = None
        self.curves: dict[int, dict] = {}
        self._curve_status: dict[int, str] = {}
        self.worker = None
        self._worker_factory = worker_factory
        self.messages: list[str] = []

        self.info = QLabel("No sweep open. Sweep… starts one from the current settings.")
        self.info.setTextFormat(Qt.PlainText)
        self.info.setWordWrap(True)
        self.budget = QLabel("")
        self.budget.setTextFormat(Qt.PlainText)
        self.budget.setWordWrap(True)
        self.stop_btn = QPushButton("Stop")
        self.stop_btn.setToolTip("Stop the running trial gracefully (checkpoint) and the sweep after it")
        self.stop_btn.clicked.connect(self.stop)
        self.resume_btn = QPushButton("Resume")
        self.resume_btn.setToolTip("Continue the sweep: the interrupted trial from its checkpoint, then new ones")
        self.resume_btn.clicked.connect(self.resume)
        self.compare_btn = QPushButton("Compare selected")
        self.compare_btn.setToolTip("Open the selected trials in Compare")
        self.compare_btn.clicked.connect(self._compare)
        self.csv_btn = QPushButton("Export table CSV…")
        self.csv_btn.clicked.connect(lambda: save_as(self, "sweep trials", "sweep_trials.csv", CSV,
                                                     self.export_table_csv, self.sweep_dir))
        bar = QHBoxLayout()
        bar.addWidget(self.info, 1)
        for b in (self.stop_btn, self.resume_btn, self.compare_btn, self.csv_btn):
            bar.addWidget(b)

        self.table = QTableWidget()
        self.table.setObjectName("sweepTable")
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.verticalHeader().setVisible(False)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.doubleClicked.connect(lambda _: self._compare())

        self.param_combo = QComboBox()
        self.param_combo.setToolTip("the varied parameter on the x axis")
        self.param_combo.currentTextChanged.connect(lambda _: self._draw_params())
        self.plots = {"params": self._plot("Objective by parameter", "objective"),
                      "curves": self._plot("Dev BLEU per trial", "dev BLEU-4", "training time (s)"),
                      "best": self._plot("Best objective so far", "best objective", "sweep time (s)")}
        row = QSplitter(Qt.Horizontal)
        for key, plot in self.plots.items():
            box = QWidget()
            lay = QVBoxLayout(box)
            lay.setContentsMargins(0, 0, 0, 0)
            tools = QHBoxLayout()
            if key == "params":
                tools.addWidget(self.param_combo)
            tools.addStretch(1)
            for label, fn, ext, flt in (("CSV…", self.export_plot_csv, "csv", CSV),
                                        ("PNG…", self.export_plot_png, "png", PNG)):
                b = QPushButton(label)
                b.setObjectName(f"export_{key}_{ext}")
                b.setToolTip(f"Export this plot as {ext.upper()}")
                b.clicked.connect(lambda _=False, k=key, f=fn, e=ext, fl=flt: save_as(
                    self, f"sweep {k} plot", f"sweep_{k}.{e}", fl, lambda p, k=k, f=f: f(k, p), self.sweep_dir))
                tools.addWidget(b)
            lay.addLayout(tools)
            lay.addWidget(plot, 1)
            row.addWidget(box)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        self.log.setPlaceholderText("the sweep's progress")
        split = QSplitter(Qt.Vertical)
        split.addWidget(self.table)
        split.addWidget(row)
        split.addWidget(self.log)
        split.setSizes([260, 320, 90])
        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(self.budget)
        lay.addWidget(split, 1)

        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.reload)
        self._update_buttons()

    @staticmethod
    def _plot(title: str, left: str, bottom: str = "") -> pg.PlotWidget:
        w = pg.PlotWidget(background="w")
        pi = w.getPlotItem()
        pi.setTitle(title, size="10pt")
        pi.showGrid(x=True, y=True, alpha=0.25)
        pi.setLabel("left", left)
        if bottom:
            pi.setLabel("bottom", bottom)
        pi.addLegend(offset=(-5, 5), brush=pg.mkBrush(255, 255, 255, 200), labelTextSize="8pt")
        pi.getAxis("bottom").enableAutoSIPrefix(False)  # a log axis reads 10^-3, not "1 (x0.001)"
        return w

    # -- opening and following -------------------------------------------------------------------------------------
    def open(self, sweep_dir) -> None:
        self.sweep_dir = Path(sweep_dir)
        self.curves, self._curve_status = {}, {}
        self.reload()
        self.timer.start()

    def reload(self) -> None:
        if self.sweep_dir is None:
            return
        sweep = read_sweep(self.sweep_dir, live=self.running())
        old_state = (self.sweep or {}).get("state")
        self.sweep = sweep
        if sweep is None:
            self.info.setText(f"{self.sweep_dir}: no sweep.json yet" + (" (starting…)" if self.running() else ""))
            self.budget.setText("")
            self._fill_table()
            self._draw()
            self._update_buttons()
            return
        for t in sweep["trials"]:
            d = trial_dir(self.sweep_dir, t)
            n = t.get("number")
            # a finished trial does not change: its curve is read once more when its status changes, then kept
            if d is not None and isinstance(n, int) and (t.get("status") in ("running", "interrupted")
                                                         or self._curve_status.get(n) != t.get("status")):
                self.curves[n] = dev_curve(d)
                self._curve_status[n] = t.get("status")
        spec = sweep.get("spec") or {}
        obj = spec.get("objective") or {}
        n = len(sweep["trials"])
        planned = sweep.get("planned_trials")
        self.info.setText(f"Sweep {sweep.get('name')} — {sweep.get('state')}: {n} trial{'s' * (n != 1)}"
                          + (f" of {planned} planned" if planned else "")
                          + f"; sampler {(spec.get('sampler') or {}).get('name')}, pruner "
                          f"{(spec.get('pruner') or {}).get('name')}, objective {obj.get('pick')} "
                          f"{obj.get('metric')}; {self.sweep_dir}")
        self.budget.setText(budget_text(sweep.get("budget") or {}))
        names = param_names(sweep)
        if [self.param_combo.itemText(i) for i in range(self.param_combo.count())] != names:
            self.param_combo.blockSignals(True)
            self.param_combo.clear()
            self.param_combo.addItems(names)
            self.param_combo.blockSignals(False)
        self._fill_table()
        self._draw()
        self._update_buttons()
        if sweep.get("state") != old_state:
            self.state_changed.emit(str(sweep.get("state")))
        if sweep.get("state") not in ("running",) and not self.running():
            self.timer.stop()

    # -- the table -----------------------------------------------------------------------------------------------
    def header(self) -> list[str]:
        return ["trial", *param_names(self.sweep or {}), *self.COLUMNS_AFTER]

    def _fill_table(self) -> None:
        selected = set(self.selected_numbers())
        self.table.blockSignals(True)
        self.table.clear()
        header = self.header() if self.sweep else []
        trials = self.sweep["trials"] if self.sweep else []
        self.table.setColumnCount(len(header))
        self.table.setRowCount(len(trials))
        self.table.setHorizontalHeaderLabels(header)
        names = param_names(self.sweep or {})
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
                    item.setForeground(pg.mkColor(self._color(t)))
                elif header[c] == "status":
                    item.setForeground(pg.mkColor(STATUS_COLORS.get(t.get("status"), "#000000")))
                elif header[c] != "dir":
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.table.setItem(r, c, item)
            if t.get("number") in selected:
                self._select_row(r)
        self.table.blockSignals(False)

    def _select_row(self, r: int) -> None:
        sm = self.table.selectionModel()
        sm.select(self.table.model().index(r, 0), QItemSelectionModel.Select | QItemSelectionModel.Rows)

    def _color(self, t: dict) -> str:
        n = t.get("number")
        return COLORS[n % len(COLORS)] if isinstance(n, int) else "#000000"

    def selected_numbers(self) -> list[int]:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        out = []
        for r in rows:
            item = self.table.item(r, 0)
            n = item.data(Qt.UserRole) if item is not None else None
            if isinstance(n, int):
                out.append(n)
        return out

    def select_trials(self, numbers: list[int]) -> None:
        self.table.clearSelection()
        for r in range(self.table.rowCount()):
            if self.table.item(r, 0).data(Qt.UserRole) in numbers:
                self._select_row(r)
        self._update_buttons()

    def selected_dirs(self) -> list[str]:
        if not self.sweep:
            return []
        by_number = {t.get("number"): t for t in self.sweep["trials"]}
        out = []
        for n in self.selected_numbers():
            d = trial_dir(self.sweep_dir, by_number.get(n, {}))
            if d is not None and d.is_dir():
                out.append(str(d))
        return out

    def _compare(self) -> None:
        dirs = self.selected_dirs()
        if dirs:
            self.compare_requested.emit(dirs)

    # -- plots ---------------------------------------------------------------------------------------------------
    def _draw(self) -> None:
        self._draw_params()
        self._draw_curves()
        self._draw_best()

    def param_points(self) -> tuple[str, list[tuple[int, object, float, str]]]:
        """(parameter, [(trial, value, objective, status)]) for the objective-by-parameter plot."""
        name = self.param_combo.currentText()
        pts = []
        for t in (self.sweep or {}).get("trials", []):
            obj = number(t.get("objective"))
            params = t.get("params") if isinstance(t.get("params"), dict) else {}
            if obj is not None and name in params and t.get("status") in ("completed", "pruned", "running",
                                                                          "interrupted"):
                pts.append((t.get("number"), params[name], obj, t.get("status")))
        return name, pts

    def _draw_params(self) -> None:
        pi = self.plots["params"].getPlotItem()
        pi.clear()
        name, pts = self.param_points()
        log = bool(self.sweep) and log_scaled(self.sweep, name)
        numeric = all(number(v) is not None for _, v, _, _ in pts)
        cats: list = []
        if not numeric:
            cats = sorted({str(v) for _, v, _, _ in pts})
        pi.setLogMode(x=log and numeric, y=False)
        pi.setLabel("bottom", name + (" (log)" if log and numeric else ""))
        ax = pi.getAxis("bottom")
        ax.setTicks([list(enumerate(cats))] if cats else None)
        for status in ("completed", "pruned", "running", "interrupted"):
            sel = [p for p in pts if p[3] == status]
            if not sel:
                continue
            xs = [float(v) if numeric else cats.index(str(v)) for _, v, _, _ in sel]
            if log and numeric:
                xs = [math.log10(x) if x > 0 else float("nan") for x in xs]
            ys = [o for _, _, o, _ in sel]
            color = STATUS_COLORS[status]
            pi.addItem(pg.ScatterPlotItem(xs, ys, size=10, symbol="o" if status == "completed" else "x",
                                          brush=color, pen=pg.mkPen(color), name=status))

    def _draw_curves(self) -> None:
        pi = self.plots["curves"].getPlotItem()
        pi.clear()
        for t in (self.sweep or {}).get("trials", []):
            c = self.curves.get(t.get("number"))
            if not c or not c["bleu"]:
                continue
            status = t.get("status")
            early = status in ("pruned", "failed", "interrupted") or c["status"] in ("stopped", "pruned", "failed")
            draw_curve(pi, c["elapsed"], c["bleu"], self._color(t), f"trial {t.get('number')}"
                       + (f" ({status})" if early else ""), early)

    def _draw_best(self) -> None:
        pi = self.plots["best"].getPlotItem()
        pi.clear()
        pts = best_so_far(self.sweep) if self.sweep else []
        if pts:
            xs, ys = [pts[0][0]], [pts[0][1]]
            for x, y in pts[1:]:  # a staircase: the best holds until the next better trial ends
                xs += [x, x]
                ys += [ys[-1], y]
            pi.plot(xs, ys, pen=pg.mkPen("#2ca02c", width=2))
            pi.plot([p[0] for p in pts], [p[1] for p in pts], pen=None, symbol="o", symbolSize=7,
                    symbolBrush="#2ca02c")

    # -- exports -------------------------------------------------------------------------------------------------
    def export_table_csv(self, path) -> None:
        table_model_to_csv(self.table.model(), path)

    def export_plot_png(self, key: str, path) -> None:
        plot_to_png(self.plots[key], path)

    def export_plot_csv(self, key: str, path) -> None:
        with open(os.fspath(path), "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            if key == "params":
                name, pts = self.param_points()
                w.writerow(["trial", name, "objective", "status"])
                for n, v, o, s in pts:
                    w.writerow([n, repr(v) if isinstance(v, float) else v, repr(o), s])
            elif key == "curves":
                w.writerow(["trial", "status", "elapsed", "tokens_seen", "dev_bleu"])
                for t in (self.sweep or {}).get("trials", []):
                    c = self.curves.get(t.get("number"))
                    for e, tok, b in zip(*(c[k] for k in ("elapsed", "tokens", "bleu"))) if c else ():
                        w.writerow([t.get("number"), t.get("status"), repr(e), int(tok), repr(b)])
            else:
                w.writerow(["sweep_seconds", "best_objective"])
                for x, y in (best_so_far(self.sweep) if self.sweep else []):
                    w.writerow([repr(x), repr(y)])

    # -- running -------------------------------------------------------------------------------------------------
    def running(self) -> bool:
        return self.worker is not None and self.worker.is_running()

    def _make_worker(self):
        if self._worker_factory is not None:
            return self._worker_factory()
        from .worker import EngineWorker

        return EngineWorker(sweep_command())

    def start(self, spec_path, sweep_dir) -> None:
        """Launch a new sweep in `sweep_dir` (created by the dialog, holding the spec)."""
        self._launch([str(spec_path), "--sweep-dir", str(sweep_dir), "--jsonl"], sweep_dir)

    def resume(self) -> None:
        if self.sweep_dir is not None and not self.running():
            self._launch(["--resume", str(self.sweep_dir), "--jsonl"], self.sweep_dir)

    def stop(self) -> None:
        if self.running():
            self._say("stopping: the running trial checkpoints, then the sweep ends")
            self.worker.stop()

    def _launch(self, args: list[str], sweep_dir) -> None:
        if self.running():
            raise RuntimeError("a sweep is already running")
        if self.worker is None:
            self.worker = self._make_worker()
            self.worker.events.connect(self._on_events)
            self.worker.stderr_lines.connect(lambda lines: None)
            self.worker.finished.connect(self._on_finished)
        self.sweep_dir = Path(sweep_dir)
        self.worker.start(args, run_dir=None)
        self.open(sweep_dir)

    def _on_events(self, events: list) -> None:
        for ev in events:
            kind = ev.get("event")
            if kind == "progress":
                self._say(f"[{ev.get('done')}/{ev.get('total') or '?'}] {ev.get('message') or ''}")
            elif kind == "log":
                self._say(str(ev.get("message") or ""))
            elif kind == "error":
                self._say(f"error: {ev.get('message')}")
            elif kind == "done":
                self._say(f"sweep {ev.get('status')}")
        self.reload()

    def _on_finished(self, code: int, tail: str) -> None:
        if code != 0:
            self._say(f"the sweep process exited with {code}" + (f": {tail.strip()}" if tail.strip() else ""))
        self.reload()
        self._update_buttons()

    def _say(self, text: str) -> None:
        self.messages.append(text)
        self.log.appendPlainText(text)

    def _update_buttons(self) -> None:
        running = self.running()
        state = (self.sweep or {}).get("state")
        self.stop_btn.setEnabled(running)
        self.resume_btn.setEnabled(self.sweep_dir is not None and not running and self.sweep is not None
                                   and state in ("stopped", "interrupted"))
        self.compare_btn.setEnabled(bool(self.selected_dirs()))
        self.csv_btn.setEnabled(self.sweep is not None)


def budget_text(b: dict) -> str:
    def s(k):
        v = number(b.get(k))
        return f"{v:.1f} s" if v is not None else DASH
    return (f"Budget {s('total_seconds')}: trained {s('trained_seconds')}, dev evaluation {s('eval_seconds')}, "
            f"other overhead {s('overhead_seconds')}, reserved by running trials {s('reserved_seconds')}, "
            f"unused {s('unused_seconds')}")


if __name__ == "__main__":  # pragma: no cover - look at a sweep: python -m cramgui.sweep_view DIR
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    v = SweepView()
    v.open(sys.argv[1])
    v.resize(1280, 800)
    v.show()
    app.exec()
