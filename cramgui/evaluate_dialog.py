"""Evaluate… a run's checkpoint: split, beam size and checkpoint (best / last), then `cram eval RUN_DIR --split S
--beam B --checkpoint C --jsonl` through the session's worker."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QSpinBox, QVBoxLayout

from engine.contract import rundir

from .runs import read_config


class EvaluateDialog(QDialog):
    """`requested(path, split, beam, checkpoint)` on OK. Only checkpoints the run has are offered."""

    requested = Signal(str, str, int, str)

    def __init__(self, run_dir, label: str = "", stop_first: bool = False, parent=None):
        super().__init__(parent)
        self.setObjectName("evaluateDialog")
        self.run_dir = Path(run_dir)
        self.setWindowTitle(("Stop and evaluate " if stop_first else "Evaluate ") + (label or self.run_dir.name))
        cfg, _problem = read_config(self.run_dir)
        ev = (cfg or {}).get("eval") if isinstance((cfg or {}).get("eval"), dict) else {}
        self.split = QComboBox()
        self.split.addItems(["test", "valid"])
        split = ev.get("split") if ev.get("split") in ("test", "valid") else "test"
        self.split.setCurrentText(split)
        self.beam = QSpinBox()
        self.beam.setRange(1, 64)
        beam = ev.get("beam_size")
        self.beam.setValue(int(beam) if isinstance(beam, int) and not isinstance(beam, bool) and 0 < beam <= 64
                           else 10)
        self.beam.setToolTip("Beam width of the decoding (the CodeXGLUE baselines use 10)")
        self.checkpoint = QComboBox()
        for kind, text in (("best", "best (highest dev BLEU)"), ("last", "last (latest step)")):
            if stop_first or rundir.checkpoint_dir(self.run_dir, kind) is not None:
                self.checkpoint.addItem(text, kind)
        form = QFormLayout()
        form.addRow("Split", self.split)
        form.addRow("Beam size", self.beam)
        form.addRow("Checkpoint", self.checkpoint)
        note = QLabel("The run is stopped gracefully first (it writes its checkpoint), then evaluated."
                      if stop_first else "Results are added to the run (results.csv, predictions, events).")
        note.setTextFormat(Qt.PlainText)
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.button(QDialogButtonBox.Ok).setText("Stop and evaluate" if stop_first else "Evaluate")
        buttons.button(QDialogButtonBox.Ok).setEnabled(self.checkpoint.count() > 0)
        buttons.accepted.connect(self._ok)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(note)
        lay.addWidget(buttons)

    def choice(self) -> tuple[str, int, str]:
        return self.split.currentText(), self.beam.value(), self.checkpoint.currentData() or "best"

    def _ok(self) -> None:
        split, beam, cp = self.choice()
        self.requested.emit(str(self.run_dir), split, beam, cp)
        self.accept()
