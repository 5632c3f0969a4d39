"""The setup panel: a form GENERATED from `engine.contract.config.field_specs()`, validated with the engine's own
rules.

One row per engine field, grouped by section, with the editor `cramgui.config_fields.make_editor` picks for the
field's type and metadata; a field added to the engine appears here without a change to this file. Presets and
config files load into it. Every problem comes from `engine.contract.config.validate_field` / `validate` (plus a
check that the chosen languages exist in the CodeXGLUE folder), is shown at its field (red frame + the message under
it), and `valid_changed(False)` keeps Start disabled. `train_args()` is the `cram train` request the form stands
for (engine.contract.launch.TrainArgs): the command-line box, Start and the torchrun line all come from it.
"""
from __future__ import annotations

import html
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QPlainTextEdit,
                               QScrollArea, QSizePolicy, QToolButton, QVBoxLayout, QWidget)

from engine.contract import config as ec
from engine.contract.launch import TrainArgs, launch_command
from engine.contract.paths import LANGUAGES, SPLITS, split_path

from .config_fields import DURATION_FIELDS, ComboBox, Editor, FieldRow, LanguagesEditor, field_tooltip, make_editor
from .formatting import span
from .preflight import preflight

SECTION_TITLES = {"run": "Run", "model": "Model", "data": "Data", "train": "Training", "budget": "Time budget",
                  "eval": "Evaluation", "hardware": "Hardware", "log": "Logging"}
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
DEFAULTS_ITEM = "defaults"
CUSTOM_ITEM = "(custom)"
DEFAULTS_DESCRIPTION = "The engine's defaults: a tiny model trained from scratch on the built-in corpus."
CUSTOM_DESCRIPTION = "Settings from a config file or an opened run."
SETTINGS_PRESET = "form/preset"


def settings() -> QSettings:
    """The console's settings (organisation "cramgui")."""
    return QSettings("cramgui", "cramgui")


def preset_description(name: str) -> str:
    """A preset's one-line description: its `description` key when it has one, else the first sentence of the
    comment block at the top of resources/presets/NAME.toml."""
    try:
        text = (ec.PRESETS_DIR / f"{name}.toml").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""
    comment = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("description") and "=" in stripped:
            value = stripped.split("=", 1)[1].strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                return value[1:-1]
        if stripped.startswith("#") and not (comment and comment[-1] is None):
            comment.append(stripped.lstrip("#").strip())
        elif comment:
            comment.append(None)          # the block ended: keep reading for a description key
    words = " ".join(c for c in comment if c)
    for end in (". ", ".\n"):
        if end in words + "\n":
            return (words + "\n").split(end, 1)[0].strip() + "."
    return words

# Fields that only matter for some values of another field: disabled (not hidden) otherwise, so the form keeps its
# shape. Pure presentation: the engine ignores the irrelevant values anyway.
RELEVANT: dict[str, Callable[[dict], bool]] = {
    "model.size": lambda v: v.get("model.source") == "scratch",
    "model.vocab_size": lambda v: v.get("model.source") == "scratch",
    "model.name_or_path": lambda v: v.get("model.source") in ("encoder", "seq2seq"),
    "model.decoder_layers": lambda v: v.get("model.source") == "encoder",
    "data.site_packages": lambda v: v.get("data.source") == "builtin",
}


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

    def set_custom_config(self, cfg: ec.RunConfig) -> None:
        """A config that is not a preset (a file, an opened run's config.json): the combo says '(custom)'."""
        self._preset = None
        self.preset_combo.setCurrentIndex(0)
        self.set_config(cfg)

    def set_preset(self, name: str) -> None:
        cfg = ec.preset(name)
        self._preset = name
        self.preset_combo.setCurrentText(name)
        self.set_config(cfg)

    def preset(self) -> str | None:
        return self._preset

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

    def modified_fields(self) -> list[str]:
        """Fields whose value differs from what the form was set to (the preset, the defaults, the file)."""
        return list(ec.diff(self._base, self.config()))

    def is_modified(self) -> bool:
        return bool(self.modified_fields())

    def revert(self) -> None:
        """Back to what the form was set to (the preset's values)."""
        self.set_config(self._base)

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

    def remember_preset(self) -> None:
        """Store the preset chosen (QSettings), for restore_last_preset at the next start."""
        text = self.preset_combo.currentText()
        if text != CUSTOM_ITEM:
            settings().setValue(SETTINGS_PRESET, text)

    def restore_last_preset(self) -> str | None:
        """Load the preset chosen last time (QSettings); None when there is none or it no longer exists."""
        name = settings().value(SETTINGS_PRESET, "", str)
        if name == DEFAULTS_ITEM:
            self._preset = None
            self.preset_combo.setCurrentText(DEFAULTS_ITEM)
            self.set_config(ec.RunConfig())
            return name
        if name and name in ec.preset_names():
            try:
                self.set_preset(name)
            except ec.ConfigError:
                return None
            return name
        return None

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
        self.remember_preset()
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

    def _update_note(self) -> None:
        """The preset's description, and a "modified" mark naming the fields changed since."""
        text = self.preset_combo.currentText()
        desc = (CUSTOM_DESCRIPTION if text == CUSTOM_ITEM else DEFAULTS_DESCRIPTION if text == DEFAULTS_ITEM
                else preset_description(text))
        changed = self.modified_fields()
        if changed:
            labels = [_label_for(self.rows[n].spec) for n in changed if n in self.rows]
            shown = ", ".join(labels[:4]) + (f" and {len(labels) - 4} more" if len(labels) > 4 else "")
            desc = f"{desc}\n● modified: {shown}"
        self.preset_note.setText(desc)
        self.preset_note.setVisible(bool(desc))
        self.revert_button.setVisible(bool(changed))
        combo_tip = "Load a preset from resources/presets/ (replaces every field)"
        self.preset_combo.setToolTip(f"{combo_tip}\n{desc}" if desc else combo_tip)

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
