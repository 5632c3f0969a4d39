"""Status-bar confirmations stay readable at 1024x640: the permanent panel gives a message room (down to its core
labels), a long path is elided in the middle with the file name kept, the whole text is the bar's tooltip."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cramgui.main_window import MainWindow
from cramgui.status_bar import MessageBar, elide_message

FAKE = Path(__file__).resolve().parent / "fake_engine.py"
LONG = ("/home/a-researcher/projects/code-summarisation/runs/20261202-101010-a-rather-long-run-name/exports/"
        "results.csv")


@pytest.fixture
def window(qtbot, qloop, tmp_path, fake_engine_cmd):
    d = tmp_path / "runs" / "20261202-101010-a-long-run-name-for-the-status-line"
    subprocess.run([sys.executable, str(FAKE), "train", "--run-dir", str(d), "--events", "5", "--results"],
                   capture_output=True, timeout=60, check=True)
    (d / "worker.pid").unlink(missing_ok=True)
    win = MainWindow(runs_dir=tmp_path / "runs", engine_command=fake_engine_cmd())
    qtbot.addWidget(win)
    win.resize(1024, 640)
    win.show()
    qtbot.waitExposed(win)
    win.open_run(d)
    qtbot.wait(300)                                  # the throttled status update
    return win


def shown_fits(bar: MessageBar) -> bool:
    shown = bar.currentMessage()
    return (bar.fontMetrics().horizontalAdvance(shown) <= bar.message_rect_width()
            and 6 + bar.message_rect_width() <= bar.panel.x())


@pytest.mark.parametrize("width", [1024, 1280])
def test_a_long_export_confirmation_is_readable_beside_the_panel(qtbot, window, width):
    window.resize(width, 640)
    bar = window.statusBar()
    assert isinstance(bar, MessageBar) and bar.panel is window.status_panel
    bar.clearMessage()                                              # the "Opened …" notice
    qtbot.wait(100)
    normal = window.status_panel.width()
    text = f"Exported Results table (CSV) to {LONG}"
    window.notify(text)
    qtbot.waitUntil(lambda: shown_fits(bar))
    shown = bar.currentMessage()
    assert shown.startswith("Exported Results table (CSV) to /home/") and shown.endswith("/exports/results.csv")
    assert "…" in shown and bar.full_message() == text and bar.toolTip() == text
    assert window.status_panel.width() < normal                     # the panel made room
    assert window.status_panel.state_label.isVisible() and window.status_panel.progress.isVisible()
    assert "completed" in window.status_panel.text()                # what it hid is still said
    assert window.notice.text() == text                             # the notice line above the tabs has it whole
    bar.clearMessage()
    qtbot.waitUntil(lambda: window.status_panel.width() >= normal)
    assert bar.toolTip() == "" and bar.full_message() == "" and window.status_panel.message_width == 0


def test_a_message_that_fits_is_shown_whole_and_the_panel_returns_after_the_timeout(qtbot, window):
    bar = window.statusBar()
    window.notify("Data: /tmp/corpus (python)", timeout_ms=300)
    assert bar.currentMessage() == "Data: /tmp/corpus (python)" and bar.toolTip() == ""
    assert shown_fits(bar)
    qtbot.waitUntil(lambda: bar.currentMessage() == "" and window.status_panel.message_width == 0, timeout=3000)


def test_the_message_is_fitted_again_when_the_window_grows(qtbot, window):
    bar = window.statusBar()
    text = f"Exported Samples shown (CSV) to {LONG}"
    window.notify(text)
    qtbot.waitUntil(lambda: "…" in bar.currentMessage())
    window.resize(1900, 640)
    qtbot.waitUntil(lambda: bar.currentMessage() == text)
    assert shown_fits(bar) and bar.toolTip() == ""


def test_elide_message_keeps_the_file_name(qapp):
    from PySide6.QtGui import QFontMetrics

    fm = QFontMetrics(qapp.font())
    text = f"Exported Results table (CSV) to {LONG} (results.csv is the engine's own file)"
    assert elide_message(text, fm, 10_000) == text
    for width in (700, 520):
        short = elide_message(text, fm, width)
        assert fm.horizontalAdvance(short) <= width
        assert short.startswith("Exported Results table (CSV) to /h") and "…" in short
        assert short.endswith("/results.csv (results.csv is the engine's own file)")   # the file name whole
    tiny = elide_message(text, fm, 120)
    assert fm.horizontalAdvance(tiny) <= 120 and tiny.endswith("…")
    assert elide_message("no path here but a long sentence " * 5, fm, 200).endswith("…")
