"""ConfigForm: generated from the engine's fields, validated with the engine's rules, presets, files."""
from __future__ import annotations

import shlex

import pytest
from PySide6.QtWidgets import QFileDialog, QGroupBox

from cramgui.config_fields import (DURATION_FIELDS, BoolEditor, ChoiceEditor, DurationEditor, FloatEditor,
                                   IntEditor, LanguagesEditor, TextEditor)
from cramgui.config_form import ConfigForm, detect_languages
from engine.contract import config as ec


@pytest.fixture
def form(qtbot):
    w = ConfigForm()
    qtbot.addWidget(w)
    return w


def test_every_engine_field_has_a_widget_of_the_right_type_and_a_tooltip(form):
    specs = ec.field_specs()
    assert set(form.rows) == {s["name"] for s in specs}
    for s in specs:
        ed = form.editor(s["name"])
        assert s["help"] and s["help"] in ed.toolTip(), s["name"]
        if s["name"] in DURATION_FIELDS:
            assert isinstance(ed, DurationEditor)
        elif s["name"] == "data.languages":
            assert isinstance(ed, LanguagesEditor)
        elif s["choices"]:
            assert isinstance(ed, ChoiceEditor)
            assert [ed.combo.itemText(i) for i in range(ed.combo.count())] == s["choices"]
        elif s["type"] == "bool":
            assert isinstance(ed, BoolEditor)
        elif s["type"] == "int":
            assert isinstance(ed, IntEditor)
            if s["max"] is not None:
                assert ed.spin.maximum() == min(s["max"], 2**31 - 1)
        elif s["type"] == "float":
            assert isinstance(ed, FloatEditor)
        else:
            assert isinstance(ed, TextEditor)
    assert form.editor("data.path").browse is not None and form.editor("model.name_or_path").browse is not None
    # sections are the engine's, in its order
    titles = [b.title() for b in form.findChildren(QGroupBox) if b.objectName().startswith("section_")]
    assert titles == ["Run", "Model", "Data", "Training", "Time budget", "Evaluation", "Hardware", "Logging"]


def test_defaults_round_trip_and_command_line(form):
    assert form.config() == ec.RunConfig() and form.preset_combo.currentText() == "defaults"
    assert form.is_valid() and form.errors() == []
    assert form.command_line() == "cram train"
    form.editor("train.lr").edit.setText("3e-4")
    form.editor("train.batch_size").spin.setValue(16)
    form.editor("hardware.compile").box.setChecked(True)
    form.editor("budget.seconds").set_value(3725)
    cfg = form.config()
    assert cfg.train.lr == 3e-4 and cfg.train.batch_size == 16 and cfg.hardware.compile is True
    assert cfg.budget.seconds == 3725.0
    ed = form.editor("budget.seconds")
    assert (ed.h.value(), ed.m.value(), ed.s.value()) == (1, 2, 5)
    args = shlex.split(form.command_line())
    assert args[:2] == ["cram", "train"]
    sets = {args[i + 1] for i, a in enumerate(args) if a == "--set"}
    assert sets == {"train.lr=0.0003", "train.batch_size=16", "hardware.compile=true", "budget.seconds=3725.0"}
    # the command line box shows it, read-only
    assert form.command_box.toPlainText() == form.command_line()
    assert form.command_box.isReadOnly()
    # what the box says is what the engine would build
    rebuilt = ec.RunConfig()
    ec.apply_overrides(rebuilt, sorted(sets))
    assert rebuilt == cfg


def test_invalid_values_marked_at_the_field_and_fixed(form, qtbot):
    seen = []
    form.valid_changed.connect(seen.append)
    lr = form.editor("train.lr").edit
    lr.setText("abc")
    assert not form.is_valid() and seen == [False]
    # the engine's message, said with the field's label (and, for a range, its unit)
    assert form.field_error("train.lr") == "Learning rate: " + ec.validate_field("train.lr", "abc")
    row = form.rows["train.lr"]
    assert row.error_label.isVisibleTo(form) and "expected a float" in row.error_label.text()
    assert "d32f2f" in row.frame.styleSheet()
    lr.setText("2")                       # above the max 1.0: the engine's message
    assert ec.validate_field("train.lr", "2")
    assert form.field_error("train.lr") == "Learning rate must be between 1e-07 and 1"
    lr.setText("1e-4")
    assert form.is_valid() and seen == [False, True]
    assert not row.error_label.isVisibleTo(form) and form.field_error("train.lr") is None

    # a cross-field rule from engine.contract.config.validate, shown at its field
    sched = form.editor("train.schedule").combo
    sched.setCurrentText("linear")
    assert not form.is_valid()
    assert "max_steps" in form.field_error("train.schedule")
    form.editor("budget.max_steps").spin.setValue(100)
    assert form.is_valid()

    # budget 0:00:00 is below the engine's minimum of 1 s
    form.editor("budget.seconds").set_value(0)
    assert form.field_error("budget.seconds") == "Budget must be between 1 s and 30 days"
    form.editor("budget.seconds").s.setValue(5)
    assert form.is_valid() and form.config().budget.seconds == 5.0

    # a pretrained encoder needs a name
    form.editor("model.source").combo.setCurrentText("encoder")
    assert "needs a hub id" in form.field_error("model.name_or_path")
    assert form.editor("model.name_or_path").isEnabled() and not form.editor("model.size").isEnabled()
    form.editor("model.name_or_path").edit.setText("microsoft/codebert-base")
    assert form.is_valid()


def test_languages_detected_from_the_codexglue_folder(form, tmp_path):
    assert detect_languages(tmp_path / "nope") is None
    for lang, split in (("ruby", "train"), ("go", "valid")):
        (tmp_path / lang).mkdir()
        (tmp_path / lang / f"{split}.jsonl").write_text("{}\n")
    (tmp_path / "notes").mkdir()
    assert detect_languages(tmp_path) == ["ruby", "go"]

    langs = form.editor("data.languages")
    assert [b.text() for b in langs.boxes.values()] == list(ec.LANGUAGES)   # unknown: all six shown
    assert langs.missing() == []
    form.editor("data.source").combo.setCurrentText("codexglue")
    assert "needs the CodeXGLUE folder" in form.field_error("data.path")
    form.editor("data.path").edit.setText(str(tmp_path))
    assert form.field_error("data.path") is None
    assert "not in the folder: python" in form.field_error("data.languages")
    assert langs.missing() == ["javascript", "python", "java", "php"]
    assert "not in the folder" in langs.boxes["python"].toolTip()
    langs.boxes["python"].setChecked(False)
    assert "at least one" in form.field_error("data.languages")
    langs.boxes["ruby"].setChecked(True)
    langs.boxes["go"].setChecked(True)
    assert form.is_valid()
    assert form.config().data.languages == ["ruby", "go"]
    assert "data.languages=ruby,go" in form.command_line()


def test_folder_picker(form, monkeypatch, tmp_path):
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path))
    form.editor("data.path").browse.click()
    assert form.config().data.path == str(tmp_path)


def test_presets_set_fields_to_the_preset_values(form):
    names = [form.preset_combo.itemText(i) for i in range(form.preset_combo.count())]
    assert set(ec.preset_names()) <= set(names) and "smoke" in names
    i = form.preset_combo.findText("smoke")
    form.preset_combo.setCurrentIndex(i)
    form.preset_combo.activated.emit(i)
    smoke = ec.preset("smoke")
    assert form.config() == smoke
    assert form.editor("train.lr").edit.text() == f"{smoke.train.lr:.10g}"      # 0.003 (the preset may be retuned)
    assert form.editor("budget.seconds").m.value() == 2
    assert form.editor("hardware.device").combo.currentText() == "cpu"
    assert form.command_line() == "cram train --preset smoke"
    form.editor("budget.seconds").set_value(8)
    assert form.command_line() == "cram train --preset smoke --set budget.seconds=8.0"
    assert form.cli_args() == ["--preset", "smoke", "--set", "budget.seconds=8.0"]
    # 'defaults' goes back to the engine's defaults
    j = form.preset_combo.findText("defaults")
    form.preset_combo.setCurrentIndex(j)
    form.preset_combo.activated.emit(j)
    assert form.config() == ec.RunConfig() and form.command_line() == "cram train"


def test_save_and_load_round_trip(form, tmp_path, monkeypatch):
    form.set_preset("smoke")
    form.editor("train.lr").edit.setText("7.5e-05")
    form.editor("eval.beam_size").spin.setValue(3)
    want = form.config()
    for suffix in (".toml", ".json"):
        path = tmp_path / f"cfg{suffix}"
        monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, p=path, **k: (str(p), ""))
        assert form.save_config_dialog() == path
        assert ec.load(path) == want
        other = ConfigForm()
        monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, p=path, **k: (str(p), ""))
        assert other.load_config_dialog()
        assert other.config() == want
        assert other.preset_combo.currentText() == "(custom)" and other.preset() is None
        assert other.editor("train.lr").edit.text() == "7.5e-05"
    # no suffix -> .toml
    assert form.save_config_file(tmp_path / "plain") == tmp_path / "plain.toml"
    # a broken file: the message is shown, the form is unchanged
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nlr = ")
    assert not form.load_config_file(bad)
    assert "cannot parse" in form.form_error.text() and form.form_error.isVisibleTo(form)
    assert form.config() == want


def test_set_config_shows_out_of_choice_value_as_error(form):
    cfg = ec.RunConfig()
    cfg.hardware.device = "tpu"
    form.set_config(cfg)
    assert form.editor("hardware.device").combo.currentText() == "tpu"
    assert "not allowed" in form.field_error("hardware.device")
    assert not form.is_valid()
