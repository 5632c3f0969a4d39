"""What the setup form says about its fields: each field's label, the engine's messages said with the field's label
and unit (field_message), the languages a CodeXGLUE folder holds (detect_languages) and the list of problems beside
Start (ProblemList). cramgui.config_form uses them."""
from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from engine.contract import config as ec
from engine.contract.paths import LANGUAGES, SPLITS, split_path

from .config_fields import DURATION_FIELDS
from .formatting import span

if TYPE_CHECKING:
    from .config_form import ConfigForm

LABELS = {"name_or_path": "Pretrained model", "lr": "Learning rate", "grad_accum": "Grad. accumulation",
          "max_source_len": "Max source length", "max_target_len": "Max target length", "grad_clip": "Grad. clip",
          "seconds": "Budget", "every_seconds": "Dev eval every", "dev_subset": "Dev examples / lang",
          "samples": "Test samples / lang", "checkpoint_minutes": "Checkpoint every", "gpus": "GPUs",
          "compile": "torch.compile", "path": "Folder", "site_packages": "Use site-packages",
          "max_train": "Max train / lang", "max_valid": "Max valid / lang", "max_test": "Max test / lang",
          "split": "Final split", "threads": "CPU threads", "source": "Source", "max_steps": "Max steps",
          "max_epochs": "Max epochs", "max_line_bytes": "Max line size", "vocab_size": "Vocabulary size",
          "label_smoothing": "Label smoothing", "weight_decay": "Weight decay", "beam_size": "Beam size",
          "batch_size": "Batch size", "tensorboard": "TensorBoard"}


def detect_languages(folder: str | Path) -> list[str] | None:
    """Languages of a CodeXGLUE folder: subfolders holding train/valid/test .jsonl. None when the folder does not
    exist (unknown)."""
    p = Path(folder).expanduser() if str(folder).strip() else None
    if p is None or not p.is_dir():
        return None
    return [lang for lang in LANGUAGES
            if (p / lang).is_dir() and any(split_path(p, lang, s).is_file() for s in SPLITS)]


def _label_for(spec: dict) -> str:
    return LABELS.get(spec["key"]) or spec["key"].replace("_", " ").capitalize()


def _quantity(spec: dict, v) -> str:
    """A bound of a field with its unit: durations in words (1 s, 30 days), others with the unit."""
    if spec["name"] in DURATION_FIELDS:
        return span(float(v) * DURATION_FIELDS[spec["name"]])
    text = f"{v:,}" if isinstance(v, int) else f"{v:g}"
    return f"{text} {spec['unit']}" if spec.get("unit") else text


def field_message(spec: dict, value: Any, message: str) -> str:
    """The engine's message about a field, said with the field's label and unit: "Budget must be between 1 s and
    30 days", "Learning rate: must be a number"."""
    label = _label_for(spec)
    lo, hi = spec.get("min"), spec.get("max")
    if spec["type"] in ("int", "float") and (lo is not None or hi is not None):
        try:
            v = float(ec.coerce(spec["name"], value))
        except (ec.ConfigError, TypeError, ValueError):
            v = None
        if v is not None and v == v and ((lo is not None and v < lo) or (hi is not None and v > hi)):
            if lo is not None and hi is not None:
                return f"{label} must be between {_quantity(spec, lo)} and {_quantity(spec, hi)}"
            if lo is not None:
                return f"{label} must be at least {_quantity(spec, lo)}"
            return f"{label} must be at most {_quantity(spec, hi)}"
    return f"{label}: {message}"


class ProblemList(QLabel):
    """What stops Start (and the preflight warnings), one line per field, each a link to its field: clicking it
    focuses the field and scrolls the form to it. Every text is escaped (a config can come from a run folder)."""

    def __init__(self, form: ConfigForm, parent: QWidget | None = None):
        super().__init__(parent)
        self.form = form
        self.setObjectName("formProblems")
        self.setWordWrap(True)
        self.setTextFormat(Qt.RichText)
        self.setTextInteractionFlags(Qt.LinksAccessibleByMouse | Qt.LinksAccessibleByKeyboard)
        self.linkActivated.connect(self._on_link)
        self.lines: list[tuple[str, str, str]] = []      # (kind: error|warning, field, message)
        self.hide()

    def set_problems(self, errors: list[ec.ConfigError], warnings: dict[str, str]) -> None:
        lines = [("error", e.field, e.message) for e in errors]
        lines += [("warning", f, m) for f, m in warnings.items()]
        if lines == self.lines:
            return
        self.lines = lines
        parts = []
        if errors:
            n = len(errors)
            parts.append(f"<b style='color:#c62828'>Fix {n} field{'s' if n > 1 else ''} to start:</b>")
        for kind, field, msg in lines:
            colour = "#c62828" if kind == "error" else "#a04500"
            mark = "" if kind == "error" else "⚠ "
            parts.append(f"<a href='field:{html.escape(field, quote=True)}' style='color:{colour}'>"
                         f"{mark}{html.escape(msg)}</a>")
        self.setText("<br>".join(parts))
        self.setVisible(bool(lines))

    def _on_link(self, link: str) -> None:
        if link.startswith("field:"):
            self.form.focus_field(link[len("field:"):])

