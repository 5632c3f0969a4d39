"""The data section's dialogs with the real engine subprocess (`cram data fetch|build --jsonl`), except the cancel
test, which uses a fake that runs until SIGTERM."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from cramgui.data_dialogs import BuildDialog, FetchDialog
from cramgui.main_window import MainWindow

FAKE_DATA = Path(__file__).resolve().parent / "fake_data_engine.py"
SIZES = {"ruby": {"train": 6, "valid": 2, "test": 2}, "go": {"train": 5, "valid": 2, "test": 3}}

GO = '''package calc{i}

// Add{i} returns the sum of two integers a and b.
func Add{i}(a int, b int) int {{
\treturn a + b // plain sum
}}

// Scale multiplies every value in xs by the given factor.
func Scale(xs []int, factor int) []int {{
\tout := make([]int, len(xs))
\tfor i, x := range xs {{
\t\tout[i] = x * factor
\t}}
\treturn out
}}
'''


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CRAM_CACHE_DIR", str(tmp_path / "cache"))   # never the user's cache


@pytest.fixture
def window(qtbot, qloop, tmp_path):
    win = MainWindow(runs_dir=tmp_path / "runs")
    qtbot.addWidget(win)
    win.show()
    yield win
    for d in win.dialogs.values():
        if getattr(d, "is_running", lambda: False)():
            d.task.worker.kill()
            qtbot.waitUntil(lambda d=d: not d.is_running(), timeout=10000)


def write_local_codexglue(src: Path) -> Path:
    """One folder per language with train/valid/test .jsonl (the original CodeXGLUE dataset/ layout)."""
    for lang, sizes in SIZES.items():
        (src / lang).mkdir(parents=True)
        for split, n in sizes.items():
            with open(src / lang / f"{split}.jsonl", "w", encoding="utf-8") as fh:
                for i in range(n):
                    fh.write(json.dumps({
                        "repo": f"o/{lang}", "path": f"f{i}", "func_name": f"f_{split}_{i}",
                        "original_string": "x", "language": lang, "code": f"def f_{split}_{i} end",
                        "code_tokens": ["def", f"f_{split}_{i}", "end"] + ["x"] * i,
                        "docstring": f"Do thing {i}", "docstring_tokens": ["Do", "thing", str(i)],
                        "sha": "0", "url": "u"}) + "\n")
    return src


def wait_done(qtbot, dialog, timeout=60000):
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=timeout)


# -----------------------------------------------------------------------------------------------------------
def test_fetch_from_a_local_copy_switches_the_form(qtbot, window, tmp_path):
    pytest.importorskip("datasets", reason="the optional `datasets` package (cramgui[fetch]) is not installed")
    src = write_local_codexglue(tmp_path / "local-copy")
    out = tmp_path / "cxg"
    d = window.open_fetch_dialog()
    assert isinstance(d, FetchDialog) and d.isVisible()
    assert d.languages() == ["python"]                       # the form's languages are ticked at first
    assert d.out_edit.text().endswith("data/codexglue")      # the engine's default folder is shown
    d.set_languages(["go", "ruby"])
    d.out_edit.setText(str(out))
    d.source_edit.setText(str(src))
    qtbot.mouseClick(d.start_button, Qt.LeftButton)
    assert d.is_running() and not d.start_button.isEnabled() and d.cancel_button.isEnabled()
    wait_done(qtbot, d)
    assert d.task.status == "completed", d.task.message
    cfg = window.form.config()
    assert cfg.data.source == "codexglue" and Path(cfg.data.path) == out
    assert cfg.data.languages == ["ruby", "go"]              # the fetched languages, in the engine's order
    assert window.form.is_valid(), window.form.errors()
    assert "Done" in d.message_text() and "ruby: 6 / 2 / 2" in d.message_text() and "go: 5 / 2 / 3" in d.message_text()
    assert (out / "ruby" / "train.jsonl").is_file() and (out / "manifest.json").is_file()
    # the data panel reads the new folder
    qtbot.waitUntil(lambda: window.data_panel.counts().get("go", {}).get("test") == 3, timeout=10000)
    assert window.data_panel.counts()["ruby"] == SIZES["ruby"]


def test_fetch_offline_shows_the_engines_message(qtbot, window, tmp_path):
    d = window.open_fetch_dialog()
    d.env = {"HF_HUB_OFFLINE": "1"}
    d.set_languages(["ruby"])
    d.out_edit.setText(str(tmp_path / "cxg"))
    before = window.form.config()
    assert d.start()
    wait_done(qtbot, d, timeout=30000)
    assert d.task.status == "failed"
    text = d.error_text()
    assert "offline" in text and "ruby/train.jsonl" in text and "24,927" in text   # what to download, where
    assert d.error_box.isVisible() and d.error_box.isReadOnly()
    assert d.error_box.textInteractionFlags() & Qt.TextSelectableByMouse
    assert d.start_button.isEnabled() and d.close_button.isEnabled()
    assert window.form.config().data == before.data                                # the form is untouched


def test_cancel_stops_the_process_and_says_so(qtbot, qloop, tmp_path, pid_alive):
    pid_file = tmp_path / "pid"
    d = FetchDialog(["ruby"], [sys.executable, str(FAKE_DATA), "--pid-file", str(pid_file)])
    qtbot.addWidget(d)
    d.show()
    seen = []
    d.task.progress.connect(lambda done, total, msg: seen.append((done, total)))
    assert d.start()
    qtbot.waitUntil(lambda: len(seen) >= 3, timeout=15000)
    assert d.progress_bar.maximum() == 0                     # total unknown: a busy bar
    assert "fetching ruby/train.jsonl" in d.message_text()
    pid = int(pid_file.read_text())
    qtbot.mouseClick(d.cancel_button, Qt.LeftButton)
    assert "Cancelling" in d.message_text() and not d.cancel_button.isEnabled()
    wait_done(qtbot, d, timeout=15000)
    assert d.task.status == "stopped" and d.message_text().startswith("Cancelled")
    assert d.progress_bar.text() == "cancelled" and not d.error_text()
    qtbot.waitUntil(lambda: not pid_alive(pid), timeout=5000)

    # closing the dialog while it runs cancels first, then closes
    pid_file.unlink()
    assert d.start()
    qtbot.waitUntil(lambda: pid_file.exists() and d.task.pid is not None, timeout=15000)
    d.close()
    assert d.isVisible()                                      # still there until the engine has stopped
    qtbot.waitUntil(lambda: not d.isVisible(), timeout=15000)
    assert d.task.status == "stopped"


def test_build_dialog_shows_counts_and_uses_the_corpus(qtbot, window, tmp_path):
    src = tmp_path / "gosrc"
    for i in range(12):
        (src / f"pkg{i}").mkdir(parents=True)
        (src / f"pkg{i}" / "calc.go").write_text(GO.format(i=i))
    (src / "pkg0" / "blob.go").write_bytes(b"\x00\x01\x02 not go")
    out = tmp_path / "go-corpus"
    d = window.open_build_dialog()
    assert isinstance(d, BuildDialog)
    assert not d.start()                                      # no source folder yet
    assert "source folder" in d.error_text()
    d.src_edit.setText(str(src))
    d.lang_combo.setCurrentText("go")
    assert "gosrc-go-" in d.out_edit.placeholderText()       # the engine's default output folder
    d.out_edit.setText(str(out))
    qtbot.mouseClick(d.start_button, Qt.LeftButton)
    wait_done(qtbot, d, timeout=30000)
    assert d.task.status == "completed", d.task.message
    manifest = json.loads((out / "manifest.json").read_text())
    counts = manifest["counts"]
    assert sum(counts.values()) == 13                         # 12 Add* + one Scale (duplicates removed)
    text = d.counts_label.text()
    assert d.counts_label.isVisible() and "13 go pairs" in text
    for split in ("train", "valid", "test"):
        assert f"{counts[split]:,}" in text
    assert "duplicate 11" in text and "file binary 1" in text
    assert d.use_button.isEnabled()
    qtbot.mouseClick(d.use_button, Qt.LeftButton)
    assert not d.isVisible()
    cfg = window.form.config()
    assert cfg.data.source == "codexglue" and Path(cfg.data.path) == out and cfg.data.languages == ["go"]
    assert window.form.is_valid(), window.form.errors()
