"""The setup panel: a form GENERATED from `engine.contract.config.field_specs()`, validated with the engine's own rules.

One row per engine field, grouped by section; the widget follows the field's type and metadata (choices -> combo
box, bool -> check box, int -> spin box with the field's range, float -> line edit that accepts scientific
notation, budget.seconds -> hours:minutes:seconds, data.languages -> language check boxes, paths -> folder
pickers). A field added to the engine appears here without a change to this file. Every problem comes from
`engine.contract.config.validate_field` / `validate` (plus a check that the chosen languages exist in the CodeXGLUE folder),
is shown at its field (red frame + the message under it), and `valid_changed(False)` keeps Start disabled.
"""
from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QFrame, QGridLayout, QGroupBox,
                               QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QPushButton, QSizePolicy, QSpinBox,
                               QToolButton, QVBoxLayout, QWidget)

from engine.contract import config as ec
from engine.contract.launch import launch_command

SECTION_TITLES = {"run": "Run", "model": "Model", "data": "Data", "train": "Training", "budget": "Time budget",
                  "eval": "Evaluation", "hardware": "Hardware"}
LABELS = {"name_or_path": "Pretrained model", "lr": "Learning rate", "grad_accum": "Grad. accumulation",
          "max_source_len": "Max source length", "max_target_len": "Max target length", "grad_clip": "Grad. clip",
          "seconds": "Budget (h:m:s)", "every_seconds": "Dev eval every", "dev_subset": "Dev subset",
          "samples": "Samples / language", "checkpoint_minutes": "Checkpoint every", "gpus": "GPUs",
          "compile": "torch.compile", "path": "Folder", "site_packages": "Use site-packages",
          "max_train": "Max train / lang", "max_valid": "Max valid / lang", "max_test": "Max test / lang",
          "split": "Final split", "threads": "CPU threads", "source": "Source"}
DEFAULTS_ITEM = "defaults"
FOLDER_FIELDS = {"model.name_or_path", "data.path"}
DURATION_FIELDS = {"budget.seconds"}
SPLITS = ("train", "valid", "test")
INT_MAX = 2**31 - 1

# Fields that only matter for some values of another field: disabled (not hidden) otherwise, so the form keeps its
# shape. Pure presentation: the engine ignores the irrelevant values anyway.
RELEVANT: dict[str, Callable[[dict], bool]] = {
    "model.size": lambda v: v.get("model.source") == "scratch",
    "model.vocab_size": lambda v: v.get("model.source") == "scratch",
    "model.name_or_path": lambda v: v.get("model.source") in ("encoder", "seq2seq"),
    "model.decoder_layers": lambda v: v.get("model.source") == "encoder",
    "data.site_packages": lambda v: v.get("data.source") == "builtin",
}

INVALID_FRAME = "QFrame#fieldFrame { border: 2px solid #d32f2f; border-radius: 4px; }"
VALID_FRAME = "QFrame#fieldFrame { border: 2px solid transparent; border-radius: 4px; }"


def detect_languages(folder: str | Path) -> list[str] | None:
    """Languages of a CodeXGLUE folder: subfolders holding train/valid/test .jsonl. None when the folder does not
    exist (unknown)."""
    p = Path(folder).expanduser() if str(folder).strip() else None
    if p is None or not p.is_dir():
        return None
    found = []
    for lang in ec.LANGUAGES:
        d = p / lang
        if d.is_dir() and any((d / f"{s}.jsonl").is_file() for s in SPLITS):
            found.append(lang)
    return found


def train_argv(cli_args: list[str], run_dir: str, jsonl: bool = False) -> list[str]:
    """engine.cli.train_argv for `cram train [--preset P] --set ...` on a fixed run directory (mirrored here so
    the console does not import the CLI module)."""
    preset, sets, i = [], [], 0
    while i < len(cli_args):
        if cli_args[i] == "--preset" and i + 1 < len(cli_args):
            preset = ["--preset", cli_args[i + 1]]
        elif cli_args[i] == "--set" and i + 1 < len(cli_args):
            sets += ["--set", cli_args[i + 1]]
        i += 2
    return ["train", *preset, "--run-dir", str(run_dir), *sets] + (["--jsonl"] if jsonl else [])


def _fmt_float(v: Any) -> str:
    try:
        return f"{float(v):.10g}"
    except (TypeError, ValueError):
        return str(v)


def _label_for(spec: dict) -> str:
    return LABELS.get(spec["key"]) or spec["key"].replace("_", " ").capitalize()


def _tooltip(spec: dict) -> str:
    parts = [f"<b>{spec['name']}</b><br>{spec.get('help') or ''}"]
    lo, hi = spec.get("min"), spec.get("max")
    if lo is not None or hi is not None:
        parts.append(f"Allowed: {'' if lo is None else lo} .. {'' if hi is None else hi} {spec.get('unit') or ''}")
    if spec.get("choices"):
        parts.append("Choices: " + ", ".join(spec["choices"]))
    parts.append(f"Default: {spec['default']!r}")
    return "<br>".join(parts)


# ---------------------------------------------------------------------------------------------------------------
# Editors: each exposes value() (raw, possibly invalid), set_value(v), changed (a Qt signal) and a focus widget.
class _Editor(QWidget):
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


class ChoiceEditor(_Editor):
    def __init__(self, spec, parent=None):
        super().__init__(spec, parent)
        self.combo = QComboBox()
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


class BoolEditor(_Editor):
    def __init__(self, spec, parent=None):
        super().__init__(spec, parent)
        self.box = QCheckBox()
        self.box.toggled.connect(self.changed)
        self._lay.addWidget(self.box, 1)

    def value(self):
        return self.box.isChecked()

    def set_value(self, v):
        self.box.setChecked(bool(v))


class IntEditor(_Editor):
    def __init__(self, spec, parent=None):
        super().__init__(spec, parent)
        self.spin = QSpinBox()
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


class FloatEditor(_Editor):
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


class TextEditor(_Editor):
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


class DurationEditor(_Editor):
    """Hours : minutes : seconds -> seconds (budget.seconds)."""

    def __init__(self, spec, parent=None):
        super().__init__(spec, parent)
        hi = spec.get("max") or 30 * 24 * 3600
        self.h, self.m, self.s = QSpinBox(), QSpinBox(), QSpinBox()
        self.h.setRange(0, int(hi // 3600))
        self.m.setRange(0, 59)
        self.s.setRange(0, 59)
        for w, suffix in ((self.h, " h"), (self.m, " min"), (self.s, " s")):
            w.setSuffix(suffix)
            w.setKeyboardTracking(True)
            w.valueChanged.connect(self.changed)
            self._lay.addWidget(w, 1)

    def value(self):
        return float(self.h.value() * 3600 + self.m.value() * 60 + self.s.value())

    def set_value(self, v):
        try:
            total = int(round(float(v)))
        except (TypeError, ValueError):
            total = 0
        total = max(0, total)
        for w, val in ((self.h, total // 3600), (self.m, total % 3600 // 60), (self.s, total % 60)):
            w.blockSignals(True)
            w.setValue(val)
            w.blockSignals(False)
        self.changed.emit()


class LanguagesEditor(_Editor):
    """One check box per language; those missing from the chosen CodeXGLUE folder are greyed and marked."""

    def __init__(self, spec, parent=None):
        super().__init__(spec, parent)
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(2)
        self.boxes: dict[str, QCheckBox] = {}
        for i, lang in enumerate(ec.LANGUAGES):
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

    def __init__(self, spec: dict, editor: _Editor, parent=None):
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
        self.setToolTip(_tooltip(spec))
        editor.setToolTip(_tooltip(spec))
        self.message: str | None = None

    def set_error(self, message: str | None) -> None:
        if message == self.message:
            return
        self.message = message
        self.frame.setStyleSheet(INVALID_FRAME if message else VALID_FRAME)
        self.error_label.setText(message or "")
        self.error_label.setVisible(bool(message))


def make_editor(spec: dict) -> _Editor:
    name, t = spec["name"], spec["type"]
    if name in DURATION_FIELDS:
        return DurationEditor(spec)
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


# ---------------------------------------------------------------------------------------------------------------
class ConfigForm(QWidget):
    """The run configuration form. `config()` is what Start runs; `command_line()` is the same as `cram train`."""

    changed = Signal()
    valid_changed = Signal(bool)

    def __init__(self, parent: QWidget | None = None, cfg: ec.RunConfig | None = None):
        super().__init__(parent)
        self.specs = ec.field_specs()
        self.rows: dict[str, FieldRow] = {}
        self._base = ec.RunConfig()
        self._preset: str | None = None
        self._errors: list[ec.ConfigError] = []
        self._valid = True
        self._loading = False

        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        outer.setSpacing(6)
        outer.addLayout(self._build_top())
        self.form_error = QLabel()
        self.form_error.setWordWrap(True)
        self.form_error.setStyleSheet("color: #c62828;")
        self.form_error.hide()
        outer.addWidget(self.form_error)

        sections: dict[str, QFormLayout] = {}
        for spec in self.specs:
            sec = spec["section"]
            if sec not in sections:
                box = QGroupBox(SECTION_TITLES.get(sec, sec.capitalize()))
                box.setObjectName(f"section_{sec}")
                fl = QFormLayout(box)
                fl.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
                fl.setLabelAlignment(Qt.AlignRight | Qt.AlignVCenter)
                fl.setContentsMargins(6, 4, 6, 4)
                fl.setVerticalSpacing(2)
                sections[sec] = fl
                outer.addWidget(box)
            editor = make_editor(spec)
            row = FieldRow(spec, editor)
            label = QLabel(_label_for(spec))
            label.setToolTip(_tooltip(spec))
            label.setBuddy(editor)
            sections[sec].addRow(label, row)
            self.rows[spec["name"]] = row
            editor.changed.connect(lambda n=spec["name"]: self._on_edit(n))
        self.section_layouts = sections          # more rows can be added to a section (data tools)

        outer.addWidget(QLabel("Command line (copy to run headless):"))
        cmd_row = QHBoxLayout()
        self.command_box = QPlainTextEdit()
        self.command_box.setObjectName("commandLine")
        self.command_box.setReadOnly(True)
        self.command_box.setFont(QFontDatabase.systemFont(QFontDatabase.FixedFont))
        self.command_box.setFixedHeight(64)
        self.command_box.setTextInteractionFlags(Qt.TextSelectableByMouse | Qt.TextSelectableByKeyboard)
        self.command_box.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        cmd_row.addWidget(self.command_box, 1)
        copy = QToolButton()
        copy.setText("Copy")
        copy.setToolTip("Copy the command line to the clipboard")
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.command_line()))
        cmd_row.addWidget(copy, 0, Qt.AlignTop)
        outer.addLayout(cmd_row)
        outer.addStretch(1)

        self.set_config(cfg or ec.RunConfig())
        if cfg is None:
            self.preset_combo.setCurrentText(DEFAULTS_ITEM)

    def _build_top(self) -> QHBoxLayout:
        top = QHBoxLayout()
        top.addWidget(QLabel("Preset:"))
        self.preset_combo = QComboBox()
        self.preset_combo.setObjectName("presetCombo")
        self.preset_combo.addItem("(custom)")
        self.preset_combo.addItem(DEFAULTS_ITEM)
        self.preset_combo.addItems(ec.preset_names())
        self.preset_combo.setToolTip("Load a preset from resources/presets/ (replaces every field); "
                                     "'(custom)' when the form came from a file or an opened run")
        self.preset_combo.activated.connect(self._on_preset)
        top.addWidget(self.preset_combo, 1)
        self.load_button = QPushButton("Load…")
        self.load_button.setToolTip("Load a config file (.toml or .json)")
        self.load_button.clicked.connect(self.load_config_dialog)
        self.save_button = QPushButton("Save…")
        self.save_button.setToolTip("Save this config to a .toml or .json file")
        self.save_button.clicked.connect(self.save_config_dialog)
        top.addWidget(self.load_button)
        top.addWidget(self.save_button)
        return top

    # -- public API -------------------------------------------------------------------------------------------
    def config(self) -> ec.RunConfig:
        """The form as a RunConfig. A value the engine cannot even parse keeps its previous value (and the form
        is invalid, so it is never run)."""
        cfg = self._base.copy()
        for name, row in self.rows.items():
            try:
                ec.set_value(cfg, name, row.editor.value())
            except ec.ConfigError:
                pass
        return cfg

    def set_config(self, cfg: ec.RunConfig) -> None:
        self._loading = True
        try:
            self._base = cfg.copy()
            for name, row in self.rows.items():
                row.editor.blockSignals(True)
                try:
                    row.editor.set_value(ec.get_value(cfg, name))
                finally:
                    row.editor.blockSignals(False)
        finally:
            self._loading = False
        self._refresh()

    def set_values(self, values: dict[str, Any]) -> None:
        """Set several fields at once (field name -> value), validated once; the preset stays the base."""
        self._loading = True
        try:
            for name, v in values.items():
                editor = self.rows[name].editor
                editor.blockSignals(True)
                try:
                    editor.set_value(v)
                finally:
                    editor.blockSignals(False)
        finally:
            self._loading = False
        self._refresh()

    def set_custom_config(self, cfg: ec.RunConfig) -> None:
        """A config that is not a preset (a file, an opened run's config.json): the combo says '(custom)'."""
        self._preset = None
        self.preset_combo.setCurrentIndex(0)
        self.set_config(cfg)

    def set_preset(self, name: str) -> None:
        self.set_config(ec.preset(name))
        self._preset = name
        self.preset_combo.setCurrentText(name)
        self._refresh()

    def preset(self) -> str | None:
        return self._preset

    def errors(self) -> list[ec.ConfigError]:
        return list(self._errors)

    def is_valid(self) -> bool:
        return not self._errors

    def field_error(self, name: str) -> str | None:
        """The message shown at a field (None when it is fine)."""
        return self.rows[name].message

    def editor(self, name: str) -> _Editor:
        return self.rows[name].editor

    def cli_args(self) -> list[str]:
        """`[--preset P] --set k=v ...` reproducing the form (the preset's values as base when one is chosen)."""
        cfg = self.config()
        if self._preset:
            try:
                base = ec.preset(self._preset)
            except ec.ConfigError:
                base = None
            if base is not None:
                return ["--preset", self._preset] + ec.to_cli_args(cfg, base)
        return ec.to_cli_args(cfg)

    def command_line(self) -> str:
        return shlex.join(["cram", "train", *self.cli_args()])

    def launch_argv(self, run_dir: str = "RUN_DIR", jsonl: bool = False) -> list[str] | None:
        """The torchrun command `cram train` runs when hardware.gpus > 1 (engine.contract.launch.launch_command on the
        arguments engine.cli.train_argv rebuilds: preset, --run-dir, the --set overrides, --jsonl); None for 1."""
        n = self.config().hardware.gpus
        if n <= 1:
            return None
        return launch_command(n, train_argv(self.cli_args(), run_dir, jsonl))

    def command_text(self) -> str:
        """What the command-line box shows: the `cram train` line, and with several GPUs the launch it becomes."""
        launch = self.launch_argv()
        if launch is None:
            return self.command_line()
        return (f"{self.command_line()}\n# {self.config().hardware.gpus} GPUs: it runs torchrun (RUN_DIR = the new "
                f"run):\n{shlex.join(launch)}")

    # -- files ------------------------------------------------------------------------------------------------
    def load_config_file(self, path: str | Path) -> bool:
        try:
            cfg = ec.load(path)
        except ec.ConfigError as e:
            self._show_form_error(f"Could not load {path}: {e.message}")
            return False
        self.set_custom_config(cfg)
        return True

    def save_config_file(self, path: str | Path) -> Path:
        p = Path(path)
        if p.suffix not in (".toml", ".json"):
            p = p.with_name(p.name + ".toml")
        ec.save(self.config(), p)
        return p

    def load_config_dialog(self) -> bool:
        path, _ = QFileDialog.getOpenFileName(self, "Load config", str(Path.cwd()),
                                              "Config files (*.toml *.json);;All files (*)")
        return bool(path) and self.load_config_file(path)

    def save_config_dialog(self) -> Path | None:
        name = (self.config().name or "config") + ".toml"
        path, _ = QFileDialog.getSaveFileName(self, "Save config", str(Path.cwd() / name),
                                              "TOML (*.toml);;JSON (*.json)")
        if not path:
            return None
        try:
            return self.save_config_file(path)
        except OSError as e:
            self._show_form_error(f"Could not save {path}: {e}")
            return None

    def _show_form_error(self, text: str) -> None:
        self.form_error.setText(text)
        self.form_error.setVisible(bool(text))

    # -- internals --------------------------------------------------------------------------------------------
    def _on_preset(self, index: int) -> None:
        text = self.preset_combo.itemText(index)
        if index <= 0:
            return
        if text == DEFAULTS_ITEM:
            self._preset = None
            self.set_config(ec.RunConfig())
        else:
            self.set_preset(text)
        self._show_form_error("")

    def _on_edit(self, name: str) -> None:
        if not self._loading:
            self._refresh()

    def _values(self) -> dict[str, Any]:
        return {name: row.editor.value() for name, row in self.rows.items()}

    def _refresh(self) -> None:
        values = self._values()
        messages: dict[str, str] = {}
        for name, v in values.items():
            msg = ec.validate_field(name, v)
            if msg:
                messages[name] = msg
        cfg = self.config()
        for err in ec.validate(cfg):
            if err.field in self.rows and err.field not in messages:
                messages[err.field] = err.message
        lang_msg = self._languages_message(cfg)
        if lang_msg and "data.languages" not in messages:
            messages["data.languages"] = lang_msg

        for name, row in self.rows.items():
            row.set_error(messages.get(name))
            rel = RELEVANT.get(name)
            row.editor.setEnabled(True if rel is None else bool(rel(values)))
        self._errors = [ec.ConfigError(n, m) for n, m in messages.items()]
        text = self.command_text()
        if text != self.command_box.toPlainText():
            self.command_box.setPlainText(text)
            self.command_box.setFixedHeight(64 if "\n" not in text else 150)
        self.changed.emit()
        valid = not self._errors
        if valid != self._valid:
            self._valid = valid
            self.valid_changed.emit(valid)

    def _languages_message(self, cfg: ec.RunConfig) -> str | None:
        editor = self.rows["data.languages"].editor
        langs = detect_languages(cfg.data.path) if cfg.data.source == "codexglue" else None
        if isinstance(editor, LanguagesEditor):
            editor.set_available(langs)
        if langs is None:
            return None
        if not langs:
            return (f"no language folders in {cfg.data.path} (expected DIR/{{lang}}/{{train,valid,test}}.jsonl)")
        missing = [x for x in cfg.data.languages if x not in langs]
        if missing:
            return f"not in the folder: {', '.join(missing)} (found: {', '.join(langs)})"
        return None
