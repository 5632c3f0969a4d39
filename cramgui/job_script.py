""""Export job script…": a SLURM sbatch script for the form's configuration (engine.contract.slurm.render, the same text
`cram slurm` writes), with a live preview, validation messages, and Save (chmod 755)."""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QPlainTextEdit, QSpinBox, QSplitter, QToolButton, QVBoxLayout, QWidget)

from engine.contract import config as ec
from engine.contract import slurm
from engine.contract.rundir import run_dir_name, safe_name

def fmt_slurm_time(seconds: float) -> str:
    """Seconds as SLURM's HH:MM:SS / D-HH:MM:SS (the inverse of engine.contract.slurm.parse_time)."""
    s = int(seconds)
    d, rest = divmod(s, 86400)
    hms = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{d}-{hms}" if d else hms


def default_time(cfg: ec.RunConfig, signal_s: int = 300) -> str:
    """The job's default time limit: engine.contract.slurm.default_time (budget + evaluation + margin + the
    early signal), the same as `cram slurm` uses."""
    return slurm.default_time(cfg, signal_s)


def default_run_dir(runs_dir, name: str) -> str:
    """RUNS_DIR/DATE-TIME-NAME (engine.contract.rundir.run_dir_name), absolute."""
    return str((Path(runs_dir) / run_dir_name(name)).resolve())


def project_dir() -> str:
    """This checkout's folder (the engine package's parent): what to type as the Project folder when the cluster
    runs a source checkout rather than an installed package."""
    return str(Path(slurm.__file__).resolve().parents[2])


class JobScriptDialog(QDialog):
    """Options on the left, the script on the right. `script()` is the text Save writes (None while invalid)."""

    def __init__(self, cfg: ec.RunConfig, runs_dir="runs", form_errors=(), parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export SLURM job script")
        self.setObjectName("jobScriptDialog")
        self.cfg = cfg.copy()
        self.form_errors = list(form_errors)
        self._script: str | None = None
        self.saved_path: Path | None = None

        self.gpus = QSpinBox()
        self.gpus.setRange(0, 64)
        self.gpus.setSpecialValueText("none (CPU job)")
        self.gpus.setValue(slurm.job_gpus(cfg))          # the config's: none for a CPU config
        self.gpus.setToolTip("GPUs on one node (none: a CPU job, no --gres); more than 1 runs torchrun with one "
                             "process per GPU. Follows the form's hardware settings.")
        self.time_edit = QLineEdit(default_time(cfg))
        self.time_edit.setObjectName("jobTime")
        self.time_edit.setToolTip("The job's time limit, HH:MM:SS or D-HH:MM:SS")
        self.partition = QLineEdit()
        self.partition.setPlaceholderText("cluster default")
        self.account = QLineEdit()
        self.account.setPlaceholderText("none")
        self.cpus = QSpinBox()
        self.cpus.setRange(1, 1024)
        self.cpus.setValue(8)
        self.mem = QLineEdit()
        self.mem.setPlaceholderText("cluster default (e.g. 64G)")
        self.signal_s = QSpinBox()
        self.signal_s.setRange(10, 7 * 86400)
        self.signal_s.setValue(300)
        self.signal_s.setSuffix(" s")
        self.signal_s.setToolTip("SLURM sends SIGUSR1 this long before the time limit: the engine checkpoints and "
                                 "the job requeues itself to resume (scancel sends SIGTERM: it stops, no requeue)")
        self.run_dir = QLineEdit(default_run_dir(runs_dir, cfg.name or "run"))
        self.run_dir.setObjectName("jobRunDir")
        self.run_dir.setToolTip("The run directory on the cluster's shared filesystem (the job's log goes there "
                                "too; open it here with File ▸ Open run… to follow the job)")
        self.project = QLineEdit()
        self.project.setObjectName("jobProject")
        self.project.setPlaceholderText("none: the installed package")
        self.project.setToolTip("Leave empty when the node's Python has cramgui/engine installed (the job does not "
                                f"cd). For a source checkout, its folder as the node sees it (here: {project_dir()}).")
        self.python = QLineEdit(sys.executable)
        self.python.setToolTip("The Python (with torch) as the compute node sees it")

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignRight | Qt.AlignVCenter)
        form.addRow("GPUs", self.gpus)
        form.addRow("Time limit", self.time_edit)
        form.addRow("Partition", self.partition)
        form.addRow("Account", self.account)
        form.addRow("CPUs per task", self.cpus)
        form.addRow("Memory", self.mem)
        form.addRow("Signal before limit", self.signal_s)
        form.addRow("Run directory", self.run_dir)
        form.addRow("Project folder", self.project)
        form.addRow("Python", self.python)
        self.note = QLabel()
        self.note.setObjectName("jobNote")
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #555;")
        self.problems = QLabel()
        self.problems.setObjectName("jobProblems")
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet("color: #c62828;")
        self.problems.setTextInteractionFlags(Qt.TextSelectableByMouse)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 6, 0)
        ll.addLayout(form)
        ll.addWidget(self.problems)
        ll.addWidget(self.note)
        ll.addStretch(1)

        self.preview = QPlainTextEdit(readOnly=True)
        self.preview.setObjectName("jobPreview")
        self.preview.setFont(QFontDatabase.systemFont(QFontDatabase.FixedFont))
        self.preview.setLineWrapMode(QPlainTextEdit.NoWrap)
        self.preview.setTextInteractionFlags(Qt.TextSelectableByMouse | Qt.TextSelectableByKeyboard)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(6, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(QLabel("Script (submit with <code>sbatch FILE</code>):"), 1)
        copy = QToolButton()
        copy.setText("Copy")
        copy.setToolTip("Copy the script to the clipboard")
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self._script or ""))
        top.addWidget(copy)
        rl.addLayout(top)
        rl.addWidget(self.preview, 1)

        split = QSplitter(Qt.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setSizes([380, 640])
        self.buttons = QDialogButtonBox()
        self.save_button = self.buttons.addButton("Save…", QDialogButtonBox.AcceptRole)
        self.save_button.setObjectName("jobSave")
        self.close_button = self.buttons.addButton(QDialogButtonBox.Close)
        self.save_button.clicked.connect(self.save_dialog)
        self.close_button.clicked.connect(self.reject)
        self.status = QLabel()
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.buttons)
        lay = QVBoxLayout(self)
        lay.addWidget(split, 1)
        lay.addLayout(bottom)
        self.resize(1060, 640)

        for w in (self.time_edit, self.partition, self.account, self.mem, self.run_dir, self.project, self.python):
            w.textChanged.connect(self.update_preview)
        for w in (self.gpus, self.cpus, self.signal_s):
            w.valueChanged.connect(self.update_preview)
        # the time limit follows the signal's lead until it is typed
        self._time_typed = False
        self.time_edit.textEdited.connect(lambda _t: setattr(self, "_time_typed", True))
        self.signal_s.valueChanged.connect(self._default_time)
        self.update_preview()

    # -- public API -------------------------------------------------------------------------------------------
    def problems_text(self) -> str:
        return self.problems.text()

    def script(self) -> str | None:
        return self._script

    def update_preview(self, *_) -> None:
        problems: list[str] = [f"{e.field}: {e.message}" for e in self.form_errors]
        text = None
        run_dir = self.run_dir.text().strip()
        if not run_dir:
            problems.append("Run directory: give the run directory on the shared filesystem")
        for label, w in (("Partition", self.partition), ("Account", self.account)):
            if re.search(r"\s", w.text().strip()):
                problems.append(f"{label}: no spaces allowed")
        if self.mem.text().strip() and not re.fullmatch(r"\d+[KMGT]?", self.mem.text().strip(), re.IGNORECASE):
            problems.append("Memory: a number with an optional unit K, M, G or T (e.g. 64G)")
        limit = None
        try:
            limit = slurm.parse_time(self.time_edit.text())
            if limit <= 0:
                problems.append("Time limit: must be more than 0")
        except ec.ConfigError as e:
            problems.append(f"Time limit: {e.message}")
        if not problems:
            try:
                text = slurm.render(self.cfg, run_dir=run_dir, gpus=self.gpus.value(),
                                    time=self.time_edit.text().strip(),
                                    partition=self.partition.text().strip(), account=self.account.text().strip(),
                                    cpus_per_task=self.cpus.value(), mem=self.mem.text().strip(),
                                    signal_seconds=self.signal_s.value(),
                                    project_dir=self.project.text().strip() or None,
                                    python=self.python.text().strip() or None)
            except ec.ConfigError as e:
                field = {"--signal-seconds": "Signal before limit", "--time": "Time limit"}.get(e.field, e.field)
                problems.append(f"{field}: {e.message}")
        self._script = text
        self.problems.setText("\n".join(problems))
        self.problems.setVisible(bool(problems))
        self.save_button.setEnabled(text is not None)
        if text is not None:
            bar = self.preview.verticalScrollBar().value()
            self.preview.setPlainText(text)
            self.preview.verticalScrollBar().setValue(bar)
        else:
            self.preview.setPlainText("# fix the problems on the left to see the script")
        self._update_note(limit)

    def save_to(self, path) -> Path:
        """Write the script (mode 755); returns the path."""
        if self._script is None:
            raise ValueError("the job script has problems: " + self.problems.text())
        p = Path(path)
        p.write_text(self._script, encoding="utf-8")
        os.chmod(p, 0o755)
        self.saved_path = p
        # sbatch opens --output=RUN_DIR/slurm-%j.out before the script runs, so the folder must exist (`cram slurm
        # --out` creates it). Created here when its parent is (a runs folder on a shared filesystem mounted here);
        # a path only the cluster has is left alone, with a note.
        run_dir = Path(self.run_dir.text().strip()).expanduser()
        note = f" (create {run_dir} on the cluster first: sbatch writes the job's log there)"
        if run_dir.parent.is_dir():
            try:
                run_dir.mkdir(exist_ok=True)
                note = ""
            except OSError:
                pass
        self.status.setText(f"Saved {p} — submit with: sbatch {p}{note}")
        return p

    def save_dialog(self) -> Path | None:
        name = safe_name(self.cfg.name)
        path, _ = QFileDialog.getSaveFileName(self, "Save job script", str(Path.cwd() / f"cram-{name}.sbatch"),
                                              "sbatch scripts (*.sbatch *.sh);;All files (*)")
        if not path:
            return None
        try:
            return self.save_to(path)
        except OSError as e:
            self.status.setText(f"Could not write {path}: {e}")
            return None

    # -- internals --------------------------------------------------------------------------------------------
    def _default_time(self, *_):
        if not self._time_typed:
            self.time_edit.setText(default_time(self.cfg, self.signal_s.value()))

    def _update_note(self, limit: int | None) -> None:
        budget = self.cfg.budget.seconds
        sig = self.signal_s.value()
        gpus = self.gpus.value()
        parts = [f"Training budget {fmt_slurm_time(budget)}. SLURM sends SIGUSR1 {sig} s before the time limit: "
                 "the engine finishes its step, writes a checkpoint and stops; the script then requeues the job, "
                 "which resumes from that checkpoint. scancel (SIGTERM) stops the same way, without requeue."]
        if gpus == 0:
            parts.append("A CPU job: no GPU is requested (the form's hardware.device is cpu).")
        if not self.project.text().strip():
            parts.append("Project folder empty: the job runs the engine installed in that Python (no cd).")
        if limit and budget + sig > limit:
            parts.append(f"The budget does not fit in {self.time_edit.text().strip()} before the signal: the job "
                         "will checkpoint and requeue to finish it.")
        if gpus > 1:
            parts.append(f"{gpus} GPUs: torchrun, one process per GPU (DDP).")
        parts.append("Open the run directory here (File ▸ Open run…) to follow the job live.")
        self.note.setText("\n".join(parts))
