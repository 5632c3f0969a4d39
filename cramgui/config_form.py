"""The setup panel: a form GENERATED from `engine.contract.config.field_specs()`, validated with the engine's own
rules.

One row per engine field, grouped by section, with the editor `cramgui.config_fields.make_editor` picks for the
field's type and metadata; a field added to the engine appears here without a change to this file. Presets and
config files load into it. Every problem comes from `engine.contract.config.validate_field` / `validate` (plus a
check that the chosen languages exist in the CodeXGLUE folder), is shown at its field (red frame + the message under
it), and `valid_changed(False)` keeps Start disabled. `train_args()` is the `cram train` request the form stands
for (engine.contract.launch.TrainArgs): the command-line box, Start and the torchrun line all come from it.

The field labels, messages and problem list are in cramgui.config_problems; presets, config files and the
"modified" mark in cramgui.config_presets (their names are importable from here as before).
"""
from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (QFormLayout, QGroupBox, QHBoxLayout, QLabel, QPlainTextEdit, QScrollArea, QSizePolicy,
                               QToolButton, QVBoxLayout, QWidget)

from engine.contract import config as ec
from engine.contract.launch import TrainArgs, launch_command

from .config_fields import ComboBox, Editor, FieldRow, LanguagesEditor, field_tooltip, make_editor
from .config_presets import (CUSTOM_DESCRIPTION, CUSTOM_ITEM, DEFAULTS_DESCRIPTION, DEFAULTS_ITEM,  # noqa: F401
                             SETTINGS_PRESET, PresetControls, preset_description, settings)
from .config_problems import LABELS, ProblemList, _label_for, detect_languages, field_message  # noqa: F401
from .preflight import preflight

SECTION_TITLES = {"run": "Run", "model": "Model", "data": "Data", "train": "Training", "budget": "Time budget",
                  "eval": "Evaluation", "hardware": "Hardware", "log": "Logging"}

# Fields that only matter for some values of another field: disabled (not hidden) otherwise, so the form keeps its
# shape. Pure presentation: the engine ignores the irrelevant values anyway.
RELEVANT: dict[str, Callable[[dict], bool]] = {
    "model.size": lambda v: v.get("model.source") == "scratch",
    "model.vocab_size": lambda v: v.get("model.source") == "scratch",
    "model.name_or_path": lambda v: v.get("model.source") in ("encoder", "seq2seq"),
    "model.decoder_layers": lambda v: v.get("model.source") == "encoder",
    "data.site_packages": lambda v: v.get("data.source") == "builtin",
}


# ---------------------------------------------------------------------------------------------------------------
class ConfigForm(PresetControls, QWidget):
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
        self._warnings: dict[str, str] = {}
        self._data_stats: dict | None = None
        self._valid = True
        self._loading = False
        self.problems_view = ProblemList(self)      # the window shows it beside Start

        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        outer.setSpacing(6)
        outer.addLayout(self._build_top())
        self.preset_note = QLabel()
        self.preset_note.setObjectName("presetNote")
        self.preset_note.setWordWrap(True)
        self.preset_note.setTextFormat(Qt.PlainText)
        self.preset_note.setStyleSheet("color: #555;")
        self.revert_button = QToolButton()
        self.revert_button.setText("Revert")
        self.revert_button.setToolTip("Back to the preset's values")
        self.revert_button.clicked.connect(self.revert)
        note_row = QHBoxLayout()
        note_row.addWidget(self.preset_note, 1)
        note_row.addWidget(self.revert_button, 0, Qt.AlignTop)
        outer.addLayout(note_row)
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
                fl.setRowWrapPolicy(QFormLayout.WrapLongRows)     # a narrow panel puts a label above its field
                fl.setLabelAlignment(Qt.AlignRight | Qt.AlignVCenter)
                fl.setContentsMargins(6, 4, 6, 4)
                fl.setVerticalSpacing(2)
                sections[sec] = fl
                outer.addWidget(box)
            editor = make_editor(spec)
            row = FieldRow(spec, editor)
            label = QLabel(_label_for(spec))
            label.setObjectName(f"label_{spec['name']}")
            label.setToolTip(field_tooltip(spec))
            label.setBuddy(editor)
            sections[sec].addRow(label, row)
            self.rows[spec["name"]] = row
            editor.changed.connect(lambda n=spec["name"]: self._on_edit(n))
        self.section_layouts = sections          # more rows can be added to a section (data tools)

        cmd_label = QLabel("Command line (copy to run headless):")
        cmd_label.setWordWrap(True)
        outer.addWidget(cmd_label)
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

        if cfg is None:
            self.preset_combo.setCurrentText(DEFAULTS_ITEM)
        self.set_config(cfg or ec.RunConfig())

    def _build_top(self) -> QHBoxLayout:
        top = QHBoxLayout()
        top.addWidget(QLabel("Preset:"))
        self.preset_combo = ComboBox()
        self.preset_combo.setObjectName("presetCombo")
        self.preset_combo.addItem(CUSTOM_ITEM)
        self.preset_combo.addItem(DEFAULTS_ITEM)
        self.preset_combo.addItems(ec.preset_names())
        self.preset_combo.setToolTip("Load a preset from resources/presets/ (replaces every field); "
                                     "'(custom)' when the form came from a file or an opened run")
        for i in range(1, self.preset_combo.count()):
            name = self.preset_combo.itemText(i)
            self.preset_combo.setItemData(i, DEFAULTS_DESCRIPTION if name == DEFAULTS_ITEM
                                          else preset_description(name), Qt.ToolTipRole)
        self.preset_combo.activated.connect(self._on_preset)
        self.preset_combo.setMinimumContentsLength(4)
        top.addWidget(self.preset_combo, 1)
        self.load_button = QToolButton()
        self.load_button.setText("Load…")
        self.load_button.setToolTip("Load a config file (.toml or .json)")
        self.load_button.clicked.connect(self.load_config_dialog)
        self.save_button = QToolButton()
        self.save_button.setText("Save…")
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

    def errors(self) -> list[ec.ConfigError]:
        return list(self._errors)

    def is_valid(self) -> bool:
        return not self._errors

    def warnings(self) -> dict[str, str]:
        """Preflight warnings {field: message} (cramgui.preflight): shown at the fields, Start stays enabled."""
        return dict(self._warnings)

    def field_warning(self, name: str) -> str | None:
        return self.rows[name].warning

    def set_data_stats(self, stats: dict | None) -> None:
        """The Data tab's statistics of the chosen folder (engine.contract.lengths.length_stats), for preflight."""
        if stats is not self._data_stats:
            self._data_stats = stats
            self._refresh()

    def attach_data_stats(self, loader) -> None:
        """Follow a cramgui.data_panel.StatsLoader: its statistics feed the preflight warnings."""
        loader.changed.connect(lambda: self.set_data_stats(loader.stats))
        self.set_data_stats(loader.stats)

    def focus_field(self, name: str) -> bool:
        """Focus a field's editor and scroll the form (inside its scroll area) to it."""
        row = self.rows.get(name)
        if row is None:
            return False
        target = next((w for w in [row.editor, *row.editor.findChildren(QWidget)]
                       if w.focusPolicy() != Qt.NoFocus and w.isEnabled()), None)
        if target is not None:
            target.setFocus(Qt.OtherFocusReason)
        area = self.parentWidget()
        while area is not None and not isinstance(area, QScrollArea):
            area = area.parentWidget()
        if area is not None:
            area.ensureWidgetVisible(row, 40, 60)
        return True

    def field_error(self, name: str) -> str | None:
        """The message shown at a field (None when it is fine)."""
        return self.rows[name].message

    def editor(self, name: str) -> Editor:
        return self.rows[name].editor

    def train_args(self) -> TrainArgs:
        """The `cram train` request reproducing the form: the chosen preset (when there is one) plus the `--set`
        overrides that turn it (or the defaults) into the form's values. `.on(run_dir, jsonl).argv()` is what
        Start runs."""
        cfg = self.config()
        preset, base = None, None
        if self._preset:
            try:
                preset, base = self._preset, ec.preset(self._preset)
            except ec.ConfigError:
                preset = None
        return TrainArgs(preset=preset, sets=ec.to_cli_args(cfg, base)[1::2])

    def cli_args(self) -> list[str]:
        """`[--preset P] --set k=v ...`: the arguments of `cram train` reproducing the form."""
        return self.train_args().argv()[1:]

    def command_line(self) -> str:
        return shlex.join(["cram", *self.train_args().argv()])

    def launch_argv(self, run_dir: str = "RUN_DIR", jsonl: bool = False) -> list[str] | None:
        """The torchrun command `cram train` runs when hardware.gpus > 1 (engine.contract.launch.launch_command, as
        the CLI builds it); None for 1."""
        n = self.config().hardware.gpus
        if n <= 1:
            return None
        return launch_command(n, self.train_args().on(run_dir, jsonl).argv())

    def command_text(self) -> str:
        """What the command-line box shows: the `cram train` line, and with several GPUs the launch it becomes."""
        launch = self.launch_argv()
        if launch is None:
            return self.command_line()
        return (f"{self.command_line()}\n# {self.config().hardware.gpus} GPUs: it runs torchrun (RUN_DIR = the new "
                f"run):\n{shlex.join(launch)}")

    # -- internals --------------------------------------------------------------------------------------------
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
                messages[name] = field_message(self.rows[name].spec, v, msg)
        cfg = self.config()
        for err in ec.validate(cfg):
            if err.field in self.rows and err.field not in messages:
                messages[err.field] = field_message(self.rows[err.field].spec, values[err.field], err.message)
        lang_msg = self._languages_message(cfg)
        if lang_msg and "data.languages" not in messages:
            messages["data.languages"] = field_message(self.rows["data.languages"].spec, None, lang_msg)
        warnings = {f: field_message(self.rows[f].spec, None, m)
                    for f, m in preflight(cfg, self._data_stats).items() if f in self.rows and f not in messages}

        for name, row in self.rows.items():
            row.set_error(messages.get(name))
            row.set_warning(warnings.get(name))
            rel = RELEVANT.get(name)
            row.editor.setEnabled(True if rel is None else bool(rel(values)))
        self._errors = [ec.ConfigError(n, m) for n, m in messages.items()]
        self._warnings = warnings
        self.problems_view.set_problems(self._errors, warnings)
        self._update_note()
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
