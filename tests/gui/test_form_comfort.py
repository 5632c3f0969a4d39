"""The setup form as a newcomer meets it: the wheel scrolls the panel (never edits an unfocused field), the form fits
a 1024x640 window's panel and follows its width, presets say what they are and when they were modified, messages
name the field and its unit and lead to it, preflight warnings, the last preset remembered."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, QSettings, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QScrollArea

from cramgui import config_form
from cramgui.config_form import ConfigForm, preset_description
from cramgui.preflight import preflight, share_over
from engine.contract import config as ec


@pytest.fixture
def isolated_settings(tmp_path):
    QSettings.setPath(QSettings.NativeFormat, QSettings.UserScope, str(tmp_path / "settings"))
    QSettings.setDefaultFormat(QSettings.NativeFormat)
    yield tmp_path / "settings"


@pytest.fixture
def panel(qtbot):
    """The form in a scroll area, as the window's Setup panel holds it."""
    form = ConfigForm()
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setWidget(form)
    qtbot.addWidget(area)
    area.resize(330, 500)
    area.show()
    qtbot.waitExposed(area)
    return area, form


def wheel(widget, dy=-120):
    pos = QPointF(widget.width() / 2, widget.height() / 2)
    ev = QWheelEvent(pos, widget.mapToGlobal(pos), QPoint(0, 0), QPoint(0, dy), Qt.NoButton, Qt.NoModifier,
                     Qt.NoScrollPhase, False)
    QApplication.sendEvent(widget, ev)


def test_wheel_scrolls_the_panel_and_never_edits_an_unfocused_field(panel, qtbot):
    area, form = panel
    spin = form.editor("data.max_train").spin
    combo = form.editor("model.size").combo
    assert spin.focusPolicy() == Qt.StrongFocus and combo.focusPolicy() == Qt.StrongFocus
    area.ensureWidgetVisible(spin)
    bar = area.verticalScrollBar()
    before_bar = bar.value()
    before = (spin.value(), combo.currentText(), form.config())
    wheel(spin, dy=-120)
    wheel(combo, dy=-120)
    assert (spin.value(), combo.currentText(), form.config()) == before      # nothing edited ...
    assert bar.value() > before_bar                                          # ... the panel scrolled
    # a focused field takes the wheel
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus)
    wheel(spin, dy=120)
    assert spin.value() == before[0] + 1
    # the duration editors' spin boxes too
    h = form.editor("budget.seconds").h
    old = h.value()
    wheel(h, dy=120)
    assert h.value() == old


def test_the_form_fits_a_narrow_panel_and_follows_its_width(panel, qtbot):
    area, form = panel
    # at 1024x640 the Setup panel is about 330 px wide: the whole form fits it (no clipped fields)
    assert form.minimumSizeHint().width() <= 300
    qtbot.waitUntil(lambda: form.width() <= area.viewport().width())
    for row in form.rows.values():
        if row.isVisibleTo(form):
            right = row.mapTo(form, QPoint(row.width(), 0)).x()
            assert right <= area.viewport().width(), row.spec["name"]
    # narrower still (a scroll bar), then wide again: the form follows, nothing stays clipped
    area.resize(200, 500)
    qtbot.waitUntil(lambda: area.horizontalScrollBar().maximum() > 0 or form.width() <= 200)
    area.resize(520, 500)
    qtbot.waitUntil(lambda: form.width() == area.viewport().width())


def test_preset_description_and_modified_mark(qtbot):
    form = ConfigForm()
    qtbot.addWidget(form)
    assert preset_description("smoke").startswith("A two-minute CPU run")
    form.set_preset("smoke")
    note = form.preset_note.text()
    assert note == preset_description("smoke") and "modified" not in note
    assert not form.is_modified() and not form.revert_button.isVisibleTo(form)
    assert "A two-minute CPU run" in form.preset_combo.itemData(form.preset_combo.findText("smoke"), Qt.ToolTipRole)
    form.editor("train.lr").edit.setText("1e-3")
    form.editor("budget.seconds").set_value(300)
    assert form.modified_fields() == ["train.lr", "budget.seconds"]
    assert "● modified: Learning rate, Budget" in form.preset_note.text()
    assert form.revert_button.isVisibleTo(form)
    form.revert_button.click()
    assert form.config() == ec.preset("smoke") and not form.is_modified()
    assert "modified" not in form.preset_note.text()
    # the defaults and a custom config say what they are too
    form.preset_combo.setCurrentText("defaults")
    form._on_preset(form.preset_combo.currentIndex())
    assert form.preset_note.text() == config_form.DEFAULTS_DESCRIPTION


def test_messages_name_the_field_and_lead_to_it(panel, qtbot):
    area, form = panel
    form.editor("budget.seconds").set_value(0)
    form.editor("data.max_source_len").spin.setValue(8)
    form.editor("data.max_source_len").spin.setMinimum(0)
    form.editor("data.max_source_len").spin.setValue(2)
    assert form.field_error("budget.seconds") == "Budget must be between 1 s and 30 days"
    assert form.field_error("data.max_source_len") == "Max source length must be between 8 tokens and 4,096 tokens"
    problems = form.problems_view
    text = problems.text()
    assert "Fix 2 fields to start" in text and "Budget must be between 1 s and 30 days" in text
    area.verticalScrollBar().setValue(0)
    problems.linkActivated.emit("field:data.max_source_len")
    spin = form.editor("data.max_source_len").spin
    qtbot.waitUntil(spin.hasFocus)
    top = form.rows["data.max_source_len"].mapTo(form, QPoint(0, 0)).y() - area.verticalScrollBar().value()
    assert 0 <= top <= area.viewport().height()                     # scrolled into view
    assert area.verticalScrollBar().value() > 0


def test_problem_text_from_a_config_is_escaped(qtbot):
    form = ConfigForm()
    qtbot.addWidget(form)
    form.editor("model.source").combo.setCurrentText("encoder")
    form.editor("data.source").set_value("<b>x</b>")                  # an out-of-choice value from a run's config
    assert "&lt;b&gt;x&lt;/b&gt;" in form.problems_view.text() and "<b>x</b>" not in form.problems_view.text()


def hist_dist(lengths_counts, overflow=0, covering=0):
    edges = [0, 10, 20, 30, 40]
    return {"hist": {"edges": edges, "counts": lengths_counts, "overflow": overflow}, "covering": covering}


def stats(n_valid=100, code=(10, 10, 40, 40), summary=(50, 50, 0, 0)):
    entry = {"n": 100, "skipped": 0, "code": hist_dist(list(code), covering=38),
             "summary": hist_dist(list(summary), covering=18)}
    return {"unit": "whitespace", "coverage": 0.95,
            "languages": {"python": {"train": entry, "valid": {**entry, "n": n_valid, "skipped": 7},
                                     "test": entry}}}


def test_share_over_from_the_histogram():
    d = hist_dist([10, 10, 40, 40])
    assert share_over(d, 0) == 1.0 and share_over(d, 40) == 0.0
    assert share_over(d, 20) == pytest.approx(0.8)
    assert share_over(d, 25) == pytest.approx(0.6)
    assert share_over(hist_dist([0, 0, 0, 0], overflow=5), 40) == 1.0
    assert share_over({}, 10) is None


def test_preflight_rules():
    cfg = ec.RunConfig()
    assert preflight(cfg, None) == {}
    cfg.eval.every_seconds = 600
    cfg.budget.seconds = 120
    w = preflight(cfg, None)
    assert "no dev evaluation" in w["eval.every_seconds"] and "10 min ≥ 2 min" in w["eval.every_seconds"]
    cfg.eval.every_seconds = 0                                   # 0 = only at the end, on purpose
    assert preflight(cfg, None) == {}
    cfg.data.max_source_len = 15                                 # 85 % of the code is longer
    w = preflight(cfg, stats(n_valid=0))
    assert w["data.languages"] == "no usable example in python valid (7 lines skipped)"
    assert w["data.max_source_len"].startswith("truncates about 85% of the python training code")
    assert "data.max_target_len" not in w                       # 128 tokens cover every summary


def test_preflight_warnings_at_the_form_do_not_block_start(qtbot):
    form = ConfigForm()
    qtbot.addWidget(form)
    form.editor("eval.every_seconds").set_value(600)
    assert form.is_valid()
    assert "no dev evaluation" in form.field_warning("eval.every_seconds")
    row = form.rows["eval.every_seconds"]
    assert row.warning_label.isVisibleTo(form) and "ef6c00" in row.frame.styleSheet()
    form.set_data_stats(stats(n_valid=0))
    form.editor("data.max_source_len").spin.setValue(15)
    assert form.is_valid() and set(form.warnings()) == {"eval.every_seconds", "data.languages",
                                                         "data.max_source_len"}
    assert "⚠" in form.problems_view.text() and "Fix" not in form.problems_view.text()
    form.editor("data.max_source_len").spin.setValue(64)
    form.editor("eval.every_seconds").set_value(60)
    form.set_data_stats(stats())
    assert form.warnings() == {} and not form.rows["eval.every_seconds"].warning_label.isVisibleTo(form)


def test_durations_read_the_same_way(qtbot):
    form = ConfigForm()
    qtbot.addWidget(form)
    ck = form.editor("eval.checkpoint_minutes")
    ck.set_value(2.5)                                            # minutes in the engine, h:m:s on screen
    assert (ck.h.value(), ck.m.value(), ck.s.value()) == (0, 2, 30) and form.config().eval.checkpoint_minutes == 2.5
    ev = form.editor("eval.every_seconds")
    ev.set_value(0)
    assert ev.zero_note.isVisibleTo(form) and ev.zero_note.text() == "only at the end"
    ev.set_value(90)
    assert not ev.zero_note.isVisibleTo(form) and form.config().eval.every_seconds == 90.0


def test_last_preset_remembered(isolated_settings, qtbot):
    form = ConfigForm()
    qtbot.addWidget(form)
    form.preset_combo.setCurrentText("smoke")
    form._on_preset(form.preset_combo.currentIndex())           # as the user's choice (activated)
    again = ConfigForm()
    qtbot.addWidget(again)
    assert again.preset() is None                               # a new form starts from the defaults ...
    assert again.restore_last_preset() == "smoke"               # ... the window restores the last choice
    assert again.preset() == "smoke" and again.config() == ec.preset("smoke")


def test_first_launch_shows_the_smoke_preset_and_defaults_stay_a_choice(isolated_settings, qtbot):
    form = ConfigForm()
    qtbot.addWidget(form)
    assert form.restore_last_preset() == "smoke"                # nothing remembered: the 2-minute CPU preset
    assert form.config() == ec.preset("smoke")
    form.preset_combo.setCurrentText("defaults")
    form._on_preset(form.preset_combo.currentIndex())
    again = ConfigForm()
    qtbot.addWidget(again)
    assert again.restore_last_preset() == "defaults" and again.config() == ec.RunConfig()


def test_the_remembered_preset_lives_in_the_console_settings_file(tmp_path, monkeypatch, qtbot):
    ini = tmp_path / "portable.ini"
    monkeypatch.setenv("CRAMGUI_SETTINGS", str(ini))          # the file every other remembered setting uses
    form = ConfigForm()
    qtbot.addWidget(form)
    form.preset_combo.setCurrentText("smoke")
    form._on_preset(form.preset_combo.currentIndex())
    assert "preset=smoke" in ini.read_text(encoding="utf-8")
