"""Sweep…: vary settings of the current form under one total training budget.

Tick the settings to vary and give each its values — a list `1e-3, 3e-3, 1e-2` (a grid) or a range `1e-4..1e-2`
(random / TPE sampling; tick log for a log scale) —, the total budget, sampler, pruner and an optional trial cap.
The dialog shows the number of trials and the budget per trial before anything starts. On OK it makes the sweep
directory (RUNS_DIR/sweeps/DATE-NAME, named through engine.contract.rundir), writes the form's config there as
base.toml and the spec as sweep.toml (tomli_w), and `sweep_dir` / `spec_path` say where: the Sweep view launches
`cram sweep SPEC --sweep-dir D --jsonl`. Values are checked with the config's own rules
(engine.contract.config.validate_field); the engine checks the whole spec again when the sweep starts.
"""
from __future__ import annotations

import math
from pathlib import Path

import tomli_w
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout,
                               QHeaderView, QLabel, QLineEdit, QSpinBox, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from engine.contract import config as config_lib
from engine.contract.paths import default_runs_dir
from engine.contract.rundir import new_run_dir

SAMPLERS = ("grid", "random", "tpe")
PRUNERS = ("none", "successive-halving", "hyperband")
SLACK = (0.02, 0.5)   # a trial fits when committed + budget <= total + 2% of the budget + 0.5 s (as the engine)
SKIP = {"name", "data.path", "data.source", "model.name_or_path", "hardware.device", "hardware.gpus"}


def parse_values(name: str, text: str) -> tuple[dict | None, str | None]:
    """The values typed for one setting: {"values": [...]} or {"low", "high"} — or (None, problem)."""
    text = text.strip()
    spec = next(s for s in config_lib.field_specs() if s["name"] == name)
    if not text:
        return None, "enter values (a, b, c) or a range (low..high)"
    if ".." in text:
        if spec["type"] not in ("int", "float"):
            return None, f"{name} is not a number: give a list of values"
        lo_text, _, hi_text = text.partition("..")
        out = {}
        for key, part in (("low", lo_text), ("high", hi_text)):
            msg = config_lib.validate_field(name, part.strip())
            if msg:
                return None, f"{key} {part.strip()!r}: {msg}"
            out[key] = config_lib.coerce(name, part.strip())
        if not out["low"] < out["high"]:
            return None, "low must be below high"
        return out, None
    sep = ";" if spec["type"] == "list" else ","
    vals = []
    for part in [p.strip() for p in text.split(sep) if p.strip()]:
        msg = config_lib.validate_field(name, part)
        if msg:
            return None, f"{part!r}: {msg}"
        v = config_lib.coerce(name, part)
        v = ",".join(v) if isinstance(v, list) else v
        if v in vals:
            return None, f"{part!r} is listed twice"
        vals.append(v)
    return {"values": vals}, None


class SweepDialog(QDialog):
    def __init__(self, cfg: config_lib.RunConfig, runs_dir=None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Sweep")
        self.setObjectName("sweepDialog")
        self.cfg = cfg.copy()
        self.runs_dir = Path(runs_dir) if runs_dir else Path(default_runs_dir())
        self.sweep_dir: Path | None = None
        self.spec_path: Path | None = None
        self.problem: str | None = None
        self.specs = [s for s in config_lib.field_specs() if s["name"] not in SKIP and s["type"] != "bool"]

        self.name = QLineEdit(f"sweep-{cfg.name or 'run'}")
        self.table = QTableWidget(len(self.specs), 4)
        self.table.setObjectName("sweepFields")
        self.table.setHorizontalHeaderLabels(["vary", "setting", "now", "values (a, b, c) or range (low..high)",
                                              ])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.ticks: dict[str, QCheckBox] = {}
        self.edits: dict[str, QLineEdit] = {}
        self.logs: dict[str, QCheckBox] = {}
        for r, s in enumerate(self.specs):
            tick = QCheckBox()
            tick.setToolTip(f"vary {s['name']}")
            tick.toggled.connect(self._update)
            item = QTableWidgetItem(s["name"])
            item.setToolTip(s.get("help") or "")
            item.setFlags(item.flags() & ~Qt.ItemIsEditable)
            now = config_lib.get_value(self.cfg, s["name"])
            cur = QTableWidgetItem(",".join(now) if isinstance(now, list) else f"{now:g}" if isinstance(now, float)
                                   else str(now))
            cur.setFlags(cur.flags() & ~Qt.ItemIsEditable)
            cell = QWidget()
            row = QVBoxLayout(cell)
            row.setContentsMargins(0, 0, 0, 0)
            edit = QLineEdit()
            edit.setPlaceholderText("e.g. " + _example(s))
            edit.textChanged.connect(lambda _t, t=tick: (t.setChecked(True), self._update()))
            self.table.setCellWidget(r, 0, tick)
            self.table.setItem(r, 1, item)
            self.table.setItem(r, 2, cur)
            self.table.setCellWidget(r, 3, edit)
            self.ticks[s["name"]], self.edits[s["name"]] = tick, edit
            if s["type"] in ("int", "float"):
                log = QCheckBox("log")
                log.setToolTip("sample a range on a log scale")
                log.toggled.connect(self._update)
                self.logs[s["name"]] = log
        self.table.setColumnCount(5)
        self.table.setHorizontalHeaderItem(4, QTableWidgetItem("log"))
        for r, s in enumerate(self.specs):
            if s["name"] in self.logs:
                self.table.setCellWidget(r, 4, self.logs[s["name"]])
        self.total = QDoubleSpinBox()
        self.total.setRange(1, 365 * 86400.0)
        self.total.setDecimals(0)
        self.total.setSuffix(" s")
        self.total.setValue(max(1.0, 4 * float(self.cfg.budget.seconds)))
        self.total.setToolTip("training seconds summed over all trials")
        self.total.valueChanged.connect(self._update)
        self.n_trials = QSpinBox()
        self.n_trials.setRange(0, 100000)
        self.n_trials.setSpecialValueText("no cap")
        self.n_trials.valueChanged.connect(self._update)
        self.sampler = QComboBox()
        self.sampler.addItems(SAMPLERS)
        self.sampler.currentTextChanged.connect(self._update)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.pruner = QComboBox()
        self.pruner.addItems(PRUNERS)
        self.pruner.setToolTip("stop trials early by their dev BLEU at each dev evaluation (eval.every_seconds)")
        self.pruner.currentTextChanged.connect(self._update)
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Total budget", self.total)
        form.addRow("Trials at most", self.n_trials)
        form.addRow("Sampler", self.sampler)
        form.addRow("Seed", self.seed)
        form.addRow("Pruner", self.pruner)
        self.summary = QLabel()
        self.summary.setObjectName("sweepSummary")
        self.summary.setTextFormat(Qt.PlainText)
        self.summary.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.buttons.button(QDialogButtonBox.Ok).setText("Start sweep")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("Settings to vary (starting from the current form):"))
        lay.addWidget(self.table, 1)
        lay.addLayout(form)
        lay.addWidget(self.summary)
        lay.addWidget(self.buttons)
        self.resize(820, 640)
        self._update()

    # -- the plan --------------------------------------------------------------------------------------------------
    def varied(self) -> tuple[dict, str | None]:
        """{name: {"values": [...]} | {"low", "high", "log"}} of the ticked settings, or the first problem."""
        out = {}
        for name, tick in self.ticks.items():
            if not tick.isChecked():
                continue
            v, problem = parse_values(name, self.edits[name].text())
            if problem:
                return out, f"{name}: {problem}"
            if "low" in v:
                if self.sampler.currentText() == "grid":
                    return out, f"{name}: a range needs sampler random or tpe (the grid takes a list of values)"
                log = self.logs.get(name)
                if log is not None and log.isChecked():
                    if v["low"] <= 0:
                        return out, f"{name}: a log range needs low above 0"
                    v["log"] = True
                spec = next(s for s in self.specs if s["name"] == name)
                v["type"] = spec["type"]
            out[name] = v
        if not out:
            return out, "tick at least one setting to vary and enter its values"
        return out, None

    def trial_budgets(self, varied: dict) -> list[float]:
        b = varied.get("budget.seconds")
        if b is None:
            return [float(self.cfg.budget.seconds)]
        return sorted(float(x) for x in b["values"]) if "values" in b else [float(b["low"]), float(b["high"])]

    def plan(self) -> dict:
        """{trials, grid_size, budgets, problem}: what the sweep would run."""
        varied, problem = self.varied()
        budgets = self.trial_budgets(varied) if not problem else [float(self.cfg.budget.seconds)]
        total = float(self.total.value())
        grid = None
        if not problem and self.sampler.currentText() == "grid":
            grid = math.prod(len(v["values"]) for v in varied.values())
        fit = int((total + SLACK[1]) // budgets[0]) if budgets[0] > 0 else 0
        counts = [fit] + ([grid] if grid is not None else []) + ([self.n_trials.value()] if self.n_trials.value()
                                                                 else [])
        if not problem and self.pruner.currentText() != "none" and self._every(varied) <= 0:
            problem = ("a pruner judges trials at their dev evaluations: set eval.every_seconds above 0 "
                       "(now 0: only at the end)")
        if not problem and fit < 1:
            problem = f"the total budget ({total:.0f} s) cannot fit one trial of {budgets[0]:.0f} s"
        return {"trials": min(counts) if not problem else 0, "grid_size": grid, "budgets": budgets,
                "problem": problem, "varied": varied}

    def _every(self, varied: dict) -> float:
        v = varied.get("eval.every_seconds")
        if v is None:
            return float(self.cfg.eval.every_seconds)
        return min(v["values"]) if "values" in v else v["low"]

    def _update(self, *_):
        p = self.plan()
        self.problem = p["problem"]
        ok = self.buttons.button(QDialogButtonBox.Ok)
        ok.setEnabled(self.problem is None)
        if self.problem:
            self.summary.setText(f"Cannot start: {self.problem}")
            return
        b = p["budgets"]
        per = f"{b[0]:.0f} s" if len(b) == 1 else f"{b[0]:.0f}–{b[-1]:.0f} s"
        grid = f" (grid of {p['grid_size']})" if p["grid_size"] is not None else ""
        used = p["trials"] * b[0] if len(b) == 1 else None
        self.summary.setText(f"{p['trials']} trials{grid}, {per} of training each"
                             + (f" = {used:.0f} s" if used is not None else "")
                             + f" of the {self.total.value():.0f} s total budget"
                             + ("; a pruner may stop some early, leaving budget for more"
                                if self.pruner.currentText() != "none" and p["grid_size"] is None else ""))

    # -- the spec ---------------------------------------------------------------------------------------------------
    def spec_dict(self) -> dict:
        p = self.plan()
        params = {}
        for name, v in p["varied"].items():
            params[name] = v["values"] if "values" in v else {k: v[k] for k in ("low", "high", "log", "type")
                                                             if k in v}
        spec = {"name": self.name.text().strip() or "sweep",
                "base": {"config": "base-form.toml"},
                "params": params,
                "objective": {"metric": "dev_bleu", "pick": "best"},
                "sampler": {"name": self.sampler.currentText(), "seed": self.seed.value()},
                "pruner": {"name": self.pruner.currentText()},
                "budget": {"total_seconds": float(self.total.value())}}
        if self.n_trials.value():
            spec["budget"]["n_trials"] = self.n_trials.value()
        return spec

    def accept(self) -> None:
        if self.plan()["problem"]:
            return
        spec = self.spec_dict()
        d = new_run_dir(self.runs_dir / "sweeps", spec["name"])
        config_lib.save(self.cfg, d / "base-form.toml")
        path = d / "sweep.toml"
        path.write_text(tomli_w.dumps(spec), encoding="utf-8")
        self.sweep_dir, self.spec_path = d, path
        super().accept()


def _example(spec: dict) -> str:
    if spec["type"] == "float":
        return "1e-4, 3e-4  or  1e-4..1e-2" if spec["name"] == "train.lr" else "0.1, 0.2  or  0.0..0.3"
    if spec["type"] == "int":
        return "16, 32, 64  or  8..64"
    if spec["choices"]:
        return ", ".join(spec["choices"][:2])
    return "a; b" if spec["type"] == "list" else "a, b"
