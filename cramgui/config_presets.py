"""Presets, config files and the "modified" mark of the setup form (cramgui.config_form.ConfigForm mixes this in):
the preset combo's items and descriptions, the preset remembered across starts (QSettings), loading and saving
.toml / .json configs, and the note under the combo naming the fields changed since the preset was loaded."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from engine.contract import config as ec

from .config_problems import _label_for
from .settings import settings

DEFAULTS_ITEM = "defaults"
CUSTOM_ITEM = "(custom)"
DEFAULTS_DESCRIPTION = "The engine's defaults: a tiny model trained from scratch on the built-in corpus."
CUSTOM_DESCRIPTION = "Settings from a config file or an opened run."
SETTINGS_PRESET = "form/preset"
# what a first launch shows (nothing remembered yet): the preset tuned for 2 CPU minutes on the built-in corpus
# (the bare defaults are a general starting point that collapses to one constant prediction in 2 CPU minutes)
FIRST_PRESET = "smoke"




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


class PresetControls:
    """The preset / file part of ConfigForm: uses its preset_combo, preset_note, revert_button, form_error, rows,
    _base, _preset, config() and set_config()."""

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

    def modified_fields(self) -> list[str]:
        """Fields whose value differs from what the form was set to (the preset, the defaults, the file)."""
        return list(ec.diff(self._base, self.config()))

    def is_modified(self) -> bool:
        return bool(self.modified_fields())

    def revert(self) -> None:
        """Back to what the form was set to (the preset's values)."""
        self.set_config(self._base)

    def remember_preset(self) -> None:
        """Store the preset chosen (QSettings), for restore_last_preset at the next start."""
        text = self.preset_combo.currentText()
        if text != CUSTOM_ITEM:
            settings().setValue(SETTINGS_PRESET, text)

    def restore_last_preset(self) -> str | None:
        """Load the preset chosen last time (QSettings; on a first launch FIRST_PRESET); None when it no longer
        exists."""
        name = settings().value(SETTINGS_PRESET, "", str) or FIRST_PRESET
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
