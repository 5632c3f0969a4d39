"""The Sweep view: the live trial table and three plots of a sweep directory.

It reads SWEEP_DIR/sweep.json (written by the sweep's workers after every change) and each trial's run directory
through engine.contract only; the console never imports Optuna. A sweep started here runs as
`python -m engine.sweep SPEC --sweep-dir D --jsonl` (== `cram sweep ...`) in a cramgui.worker.EngineWorker:
Stop signals it (the running trial checkpoints, the sweep ends after it), Resume runs `--resume D`.

Plots: the objective against a varied parameter (log x for log-scaled ranges and for positive values spanning a
decade or more), dev BLEU against training time for every trial (a pruned or stopped trial is dashed and ends with
a cross), and the best objective so far against sweep time. Selecting trials and choosing Compare emits
`compare_requested(list of run dirs)`.

The pieces: engine.contract.sweeps (reading the sweep directory), cramgui.sweep_table (the trial table),
cramgui.sweep_plots (the three plots and their CSV).
"""
from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QSplitter, QVBoxLayout,
                               QWidget)

from engine.contract.events import number
from engine.contract.launch import engine_command
from engine.contract.sweeps import param_names, read_sweep, trial_dir

from . import sweep_plots
from .compare_curves import dev_curve
from .export import CSV, PNG, plot_to_png, save_as, table_model_to_csv
from .formatting import DASH
from .sweep_table import TrialTable

POLL_MS = 1000


def sweep_command() -> list[str]:
    """The sweep launcher: `python -m engine.sweep` (the same as `cram sweep`)."""
    py, flag, _ = engine_command()
    return [py, flag, "engine.sweep"]


class SweepView(QWidget):
    compare_requested = Signal(list)
    state_changed = Signal(str)

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

        self.table = TrialTable()
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.doubleClicked.connect(lambda _: self._compare())

        self.param_combo = QComboBox()
        self.param_combo.setToolTip("the varied parameter on the x axis")
        self.param_combo.currentTextChanged.connect(lambda _: self._draw_params())
        self.plots = {key: sweep_plots.new_plot(key) for key in sweep_plots.PLOTS}
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
    def _fill_table(self) -> None:
        self.table.fill(self.sweep)

    def selected_numbers(self) -> list[int]:
        return self.table.selected_numbers()

    def select_trials(self, numbers: list[int]) -> None:
        self.table.select_numbers(numbers)
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
        return name, sweep_plots.param_points(self.sweep, name)

    def _draw_params(self) -> None:
        sweep_plots.draw_params(self.plots["params"], self.sweep, self.param_combo.currentText())

    def _draw_curves(self) -> None:
        sweep_plots.draw_curves(self.plots["curves"], self.sweep, self.curves)

    def _draw_best(self) -> None:
        sweep_plots.draw_best(self.plots["best"], self.sweep)

    # -- exports -------------------------------------------------------------------------------------------------
    def export_table_csv(self, path) -> None:
        table_model_to_csv(self.table.model(), path)

    def export_plot_png(self, key: str, path) -> None:
        plot_to_png(self.plots[key], path)

    def export_plot_csv(self, key: str, path) -> None:
        sweep_plots.write_plot_csv(path, key, self.sweep, self.curves, self.param_combo.currentText())

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
