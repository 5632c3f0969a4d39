"""The editors of the setup form, one per kind of engine field (pure widgets; cramgui.config_form lays them out).

Each editor exposes value() (the raw value, possibly invalid: the engine's validate_field judges it), set_value(v),
a `changed` signal and its focus widget: choices -> combo box, bool -> check box, int -> spin box with the field's
range, float -> line edit that accepts scientific notation, budget.seconds -> hours:minutes:seconds, data.languages
-> language check boxes, paths -> folder pickers. `FieldRow` frames an editor (red when invalid) with the engine's
message under it; `make_editor(spec)` picks the editor of a field spec (engine.contract.config.field_specs()).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import (QAbstractScrollArea, QApplication, QCheckBox, QComboBox, QDoubleSpinBox,
                               QFileDialog, QFrame, QGridLayout, QHBoxLayout, QLabel, QLineEdit, QSpinBox,
                               QToolButton, QVBoxLayout, QWidget)

from engine.contract.paths import LANGUAGES

FOLDER_FIELDS = {"model.name_or_path", "data.path"}
# durations, all shown as hours : minutes : seconds whatever unit the engine's field has (field -> seconds per unit)
DURATION_FIELDS = {"budget.seconds": 1.0, "eval.every_seconds": 1.0, "eval.checkpoint_minutes": 60.0}
WARNING_FRAME = "QFrame#fieldFrame { border: 2px solid #ef6c00; border-radius: 4px; }"
INT_MAX = 2**31 - 1
INVALID_FRAME = "QFrame#fieldFrame { border: 2px solid #d32f2f; border-radius: 4px; }"
VALID_FRAME = "QFrame#fieldFrame { border: 2px solid transparent; border-radius: 4px; }"


def _fmt_float(v: Any) -> str:
    try:
        return f"{float(v):.10g}"
    except (TypeError, ValueError):
        return str(v)


def field_tooltip(spec: dict) -> str:
    parts = [f"<b>{spec['name']}</b><br>{spec.get('help') or ''}"]
    lo, hi = spec.get("min"), spec.get("max")
    if lo is not None or hi is not None:
        parts.append(f"Allowed: {'' if lo is None else lo} .. {'' if hi is None else hi} {spec.get('unit') or ''}")
    if spec.get("choices"):
        parts.append("Choices: " + ", ".join(spec["choices"]))
    parts.append(f"Default: {spec['default']!r}")
    return "<br>".join(parts)


# ---------------------------------------------------------------------------------------------------------------
# The wheel belongs to the scrolling panel: a field takes it only once it has focus (clicked or tabbed into), so
# scrolling the form past a spin box or a combo never edits it. An ignored wheel event goes on to the parent (the
# scroll area).
class _FocusWheel:
    def _init_wheel(self) -> None:
        self.setFocusPolicy(Qt.StrongFocus)

    def wheelEvent(self, event):  # noqa: N802 (Qt's name)
        if self.hasFocus():
            super().wheelEvent(event)
            return
        area = self.parentWidget()
        while area is not None and not isinstance(area, QAbstractScrollArea):
            area = area.parentWidget()
        if area is None:
            event.ignore()                 # no panel to scroll: let the parent have it
            return
        # handed to the panel's viewport directly (Qt does not pass on a synthesised wheel event, and the
        # panel's scroll bar is the one meant)
        vp = area.viewport()
        pos = QPointF(vp.mapFromGlobal(event.globalPosition().toPoint()))
        fwd = QWheelEvent(pos, event.globalPosition(), event.pixelDelta(), event.angleDelta(), event.buttons(),
                          event.modifiers(), event.phase(), event.inverted(), event.source())
        QApplication.sendEvent(vp, fwd)
        event.accept()


class SpinBox(_FocusWheel, QSpinBox):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self._init_wheel()
        self.setMinimumWidth(64)          # the range's widest value need not fit: the panel stays narrow


class DoubleSpinBox(_FocusWheel, QDoubleSpinBox):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self._init_wheel()


class ComboBox(_FocusWheel, QComboBox):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self._init_wheel()
        self.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(8)


# ---------------------------------------------------------------------------------------------------------------
# Editors: each exposes value() (raw, possibly invalid), set_value(v), changed (a Qt signal) and a focus widget.
class Editor(QWidget):
    changed = Signal()

    def __init__(self, spec: dict, parent=None):
        super().__init__(parent)
        self.spec = spec
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        self._lay = lay

    def value(self) -> Any:
        raise NotImplementedError

    def set_value(self, v: Any) -> None:
        raise NotImplementedError


class ChoiceEditor(Editor):
    def __init__(self, spec, parent=None):
        super().__init__(spec, parent)
        self.combo = ComboBox()
        self.combo.addItems([str(c) for c in spec["choices"]])
        self.combo.currentTextChanged.connect(self.changed)
        self._lay.addWidget(self.combo, 1)

    def value(self):
        return self.combo.currentText()

    def set_value(self, v):
        i = self.combo.findText(str(v))
        if i < 0:                      # a value the engine would reject: show it, so the error is visible
            self.combo.addItem(str(v))
            i = self.combo.count() - 1
        self.combo.setCurrentIndex(i)


class BoolEditor(Editor):
    def __init__(self, spec, parent=None):
        super().__init__(spec, parent)
        self.box = QCheckBox()
        self.box.toggled.connect(self.changed)
        self._lay.addWidget(self.box, 1)

    def value(self):
        return self.box.isChecked()

    def set_value(self, v):
        self.box.setChecked(bool(v))


class IntEditor(Editor):
    def __init__(self, spec, parent=None):
        super().__init__(spec, parent)
        self.spin = SpinBox()
        lo = spec.get("min")
        hi = spec.get("max")
        self.spin.setRange(int(lo) if lo is not None else -INT_MAX, min(int(hi), INT_MAX) if hi is not None
                           else INT_MAX)
        self.spin.setGroupSeparatorShown(False)
        self.spin.setKeyboardTracking(True)
        if spec.get("unit"):
            self.spin.setSuffix(f" {spec['unit']}")
        if lo == 0 and "(0 =" in (spec.get("help") or ""):
            self.spin.setSpecialValueText(_zero_text(spec["help"]))
        self.spin.valueChanged.connect(self.changed)
        self._lay.addWidget(self.spin, 1)

    def value(self):
        return self.spin.value()

    def set_value(self, v):
        try:
            self.spin.setValue(int(v))
        except (TypeError, ValueError):
            pass


def _zero_text(help_text: str) -> str:
    """'(0 = all)' in a field's help -> the spin box shows 'all' for 0."""
    tail = help_text.split("(0 =", 1)[1]
    text = tail.split(")", 1)[0].strip()
    return text.split(":")[0].split(",")[0].strip() or "0"


class FloatEditor(Editor):
    """A line edit, so 5e-4 can be typed; the engine's coerce/validate_field judge the text."""

    def __init__(self, spec, parent=None):
        super().__init__(spec, parent)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(_fmt_float(spec["default"]))
        self.edit.textChanged.connect(self.changed)
        self._lay.addWidget(self.edit, 1)
        if spec.get("unit"):
            self._lay.addWidget(QLabel(spec["unit"]))

    def value(self):
        return self.edit.text().strip()

    def set_value(self, v):
        self.edit.setText(_fmt_float(v))


class TextEditor(Editor):
    def __init__(self, spec, parent=None, folder: bool = False):
        super().__init__(spec, parent)
        self.edit = QLineEdit()
        self.edit.textChanged.connect(self.changed)
        self._lay.addWidget(self.edit, 1)
        self.browse = None
        if folder:
            self.browse = QToolButton()
            self.browse.setText("…")
            self.browse.setToolTip("Choose a folder")
            self.browse.clicked.connect(self._choose)
            self._lay.addWidget(self.browse)

    def _choose(self):
        start = self.edit.text().strip() or str(Path.cwd())
        d = QFileDialog.getExistingDirectory(self, f"Choose {self.spec['name']}", start)
        if d:
            self.edit.setText(d)

    def value(self):
        return self.edit.text()

    def set_value(self, v):
        self.edit.setText("" if v is None else str(v))


class DurationEditor(Editor):
    """Hours : minutes : seconds. value() is in the field's own unit (`scale` seconds each: 1 for budget.seconds,
    60 for eval.checkpoint_minutes), so every duration of the form reads the same way. When 0 means something
    ("(0 = only at the end)" in the help) a note says so beside it."""

    def __init__(self, spec, parent=None, scale: float = 1.0):
        super().__init__(spec, parent)
        self.scale = float(scale)
        hi = (spec.get("max") or 30 * 24 * 3600 / self.scale) * self.scale
        self.h, self.m, self.s = SpinBox(), SpinBox(), SpinBox()
        self.h.setRange(0, int(hi // 3600))
        self.m.setRange(0, 59)
        self.s.setRange(0, 59)
        for w, suffix in ((self.h, " h"), (self.m, " min"), (self.s, " s")):
            w.setSuffix(suffix)
            w.setKeyboardTracking(True)
            w.setMinimumWidth(52)
            w.valueChanged.connect(self.changed)
            w.valueChanged.connect(self._note)
            self._lay.addWidget(w, 1)
        help_text = spec.get("help") or ""
        self.zero_note = QLabel(_zero_text(help_text) if "(0 =" in help_text else "")
        self.zero_note.setStyleSheet("color: #555;")
        self.zero_note.hide()
        self._lay.addWidget(self.zero_note)

    def seconds(self) -> int:
        return self.h.value() * 3600 + self.m.value() * 60 + self.s.value()

    def value(self):
        v = self.seconds() / self.scale
        return float(round(v, 6))

    def set_value(self, v):
        try:
            total = int(round(float(v) * self.scale))
        except (TypeError, ValueError, OverflowError):
            total = 0
        total = max(0, total)
        for w, val in ((self.h, total // 3600), (self.m, total % 3600 // 60), (self.s, total % 60)):
            w.blockSignals(True)
            w.setValue(val)
            w.blockSignals(False)
        self._note()
        self.changed.emit()

    def _note(self, *_):
        self.zero_note.setVisible(bool(self.zero_note.text()) and self.seconds() == 0)


class LanguagesEditor(Editor):
    """One check box per language; those missing from the chosen CodeXGLUE folder are greyed and marked."""

    def __init__(self, spec, parent=None):
        super().__init__(spec, parent)
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(2)
        self.boxes: dict[str, QCheckBox] = {}
        for i, lang in enumerate(LANGUAGES):
            b = QCheckBox(lang)
            b.toggled.connect(self.changed)
            grid.addWidget(b, i // 3, i % 3)
            self.boxes[lang] = b
        self._lay.addLayout(grid, 1)
        self.available: list[str] | None = None

    def value(self):
        return [lang for lang, b in self.boxes.items() if b.isChecked()]

    def set_value(self, v):
        v = list(v or [])
        for lang, b in self.boxes.items():
            b.blockSignals(True)
            b.setChecked(lang in v)
            b.blockSignals(False)
        self.changed.emit()

    def set_available(self, langs: list[str] | None) -> None:
        """None = unknown (all six shown normally); a list = detected in the folder."""
        self.available = langs
        for lang, b in self.boxes.items():
            missing = langs is not None and lang not in langs
            font = b.font()
            font.setStrikeOut(missing)
            b.setFont(font)
            b.setStyleSheet("color: gray;" if missing else "")
            b.setToolTip(f"not in the folder: no {lang}/{{train,valid,test}}.jsonl" if missing else "")

    def missing(self) -> list[str]:
        """Languages shown as missing from the chosen folder."""
        return [lang for lang, b in self.boxes.items() if b.font().strikeOut()]


# ---------------------------------------------------------------------------------------------------------------
class FieldRow(QWidget):
    """Editor inside a frame (red when invalid) with the engine's message under it."""

    def __init__(self, spec: dict, editor: Editor, parent=None):
        super().__init__(parent)
        self.spec, self.editor = spec, editor
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(1)
        self.frame = QFrame()
        self.frame.setObjectName("fieldFrame")
        self.frame.setStyleSheet(VALID_FRAME)
        fl = QHBoxLayout(self.frame)
        fl.setContentsMargins(1, 1, 1, 1)
        fl.addWidget(editor)
        lay.addWidget(self.frame)
        self.error_label = QLabel()
        self.error_label.setObjectName("fieldError")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #c62828;")
        self.error_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.error_label.hide()
        lay.addWidget(self.error_label)
        self.warning_label = QLabel()
        self.warning_label.setObjectName("fieldWarning")
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet("color: #a04500;")
        self.warning_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.warning_label.hide()
        lay.addWidget(self.warning_label)
        self.setToolTip(field_tooltip(spec))
        editor.setToolTip(field_tooltip(spec))
        self.message: str | None = None
        self.warning: str | None = None

    def set_error(self, message: str | None) -> None:
        if message == self.message:
            return
        self.message = message
        self.error_label.setText(message or "")
        self.error_label.setVisible(bool(message))
        self._frame()

    def set_warning(self, message: str | None) -> None:
        """A preflight warning (orange; does not block Start)."""
        if message == self.warning:
            return
        self.warning = message
        self.warning_label.setText(f"⚠ {message}" if message else "")
        self.warning_label.setVisible(bool(message))
        self._frame()

    def _frame(self) -> None:
        self.frame.setStyleSheet(INVALID_FRAME if self.message else WARNING_FRAME if self.warning else VALID_FRAME)


def make_editor(spec: dict) -> Editor:
    name, t = spec["name"], spec["type"]
    if name in DURATION_FIELDS:
        return DurationEditor(spec, scale=DURATION_FIELDS[name])
    if name == "data.languages":
        return LanguagesEditor(spec)
    if spec.get("choices"):
        return ChoiceEditor(spec)
    if t == "bool":
        return BoolEditor(spec)
    if t == "int":
        return IntEditor(spec)
    if t == "float":
        return FloatEditor(spec)
    return TextEditor(spec, folder=name in FOLDER_FIELDS)
