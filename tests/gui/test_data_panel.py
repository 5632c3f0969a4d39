"""The data panel: counts per language and split, length histograms, the 95 % suggestion and Apply."""
from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from cramgui.data_panel import DataPanel, StatsLoader, data_root, suggest
from cramgui.main_window import MainWindow
from engine.contract import paths
from engine.contract.config import RunConfig

N = {"ruby": {"train": 100, "valid": 10, "test": 12}, "go": {"train": 40, "valid": 5, "test": 5}}


def covering(lengths, share=0.95):
    s = sorted(lengths)
    return s[max(1, math.ceil(share * len(s) - 1e-9)) - 1]


def code_len(lang, i):
    return 10 + i if lang == "ruby" else 200 + 3 * i


def summary_len(lang, i):
    return 4 + i % 20 if lang == "ruby" else 30 + i % 7


def write_folder(root):
    for lang, splits in N.items():
        (root / lang).mkdir(parents=True)
        for split, n in splits.items():
            with open(root / lang / f"{split}.jsonl", "w", encoding="utf-8") as fh:
                for i in range(n):
                    fh.write(json.dumps({"code_tokens": ["t"] * code_len(lang, i),
                                         "docstring_tokens": ["w"] * summary_len(lang, i)}) + "\n")
                fh.write("{not json\n")                        # an unreadable line, counted
    return root


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CRAM_CACHE_DIR", str(tmp_path / "cache"))


def codexglue_cfg(root, langs=("ruby", "go")) -> RunConfig:
    cfg = RunConfig()
    cfg.data.source, cfg.data.path, cfg.data.languages = "codexglue", str(root), list(langs)
    return cfg


def test_panel_shows_counts_histograms_and_suggestion(qtbot, tmp_path):
    root = write_folder(tmp_path / "cxg")
    loader = StatsLoader()
    panel = DataPanel(loader)
    qtbot.addWidget(panel)
    panel.show()
    loader.request(codexglue_cfg(root))
    assert loader.busy                                         # read in a worker thread
    qtbot.waitUntil(lambda: not loader.busy, timeout=10000)
    assert not loader.error, loader.error
    assert panel.counts() == N
    rows = {panel.table.item(r, 0).text(): [panel.table.item(r, c).text() for c in range(panel.table.columnCount())]
            for r in range(panel.table.rowCount())}
    assert rows["ruby"][1:5] == ["100", "10", "12", "3"] and rows["go"][1:4] == ["40", "5", "5"]

    # histograms of ruby train: every example in a bar, bars start at 0
    panel.lang_combo.setCurrentText("ruby")
    panel.split_combo.setCurrentText("train")
    x0, heights = panel.bars("code")
    entry = loader.stats["languages"]["ruby"]["train"]
    assert heights.sum() + entry["code"]["hist"]["overflow"] == 100 and x0[0] == 0
    _, sh = panel.bars("summary")
    assert sh.sum() + entry["summary"]["hist"]["overflow"] == 100
    panel.lang_combo.setCurrentText("go")
    assert panel.bars("code")[1].sum() + loader.stats["languages"]["go"]["train"]["code"]["hist"]["overflow"] == 40

    # the suggestion over both languages' train splits = the engine's
    src = covering([code_len("ruby", i) for i in range(100)] + [code_len("go", i) for i in range(40)])
    tgt = covering([summary_len("ruby", i) for i in range(100)] + [summary_len("go", i) for i in range(40)])
    assert (src, tgt) == (loader.stats["suggested"]["max_source_length"],
                          loader.stats["suggested"]["max_target_length"])
    text = panel.suggestion_text()
    assert "covering 95 %" in text and f"<b>{src} / {tgt}</b>" in text and "(form: 256 / 128)" in text
    assert panel.apply_button.isVisible() and panel.apply_button.isEnabled()

    # only ruby selected: the suggestion covers ruby (largest per-language value among the selected)
    loader.request(codexglue_cfg(root, ["ruby"]))
    assert not loader.busy                                    # same folder: no new read
    rs, rt = covering([code_len("ruby", i) for i in range(100)]), covering([summary_len("ruby", i) for i in
                                                                             range(100)])
    assert f"<b>{rs} / {rt}</b>" in panel.suggestion_text() and "(train, ruby)" in panel.suggestion_text()
    assert suggest(loader.stats, ["ruby"])[:2] == (rs, rt)

    out = tmp_path / "stats.csv"
    panel.export_csv(out)
    got = list(csv.DictReader(out.open()))
    assert len(got) == 6 and {(r["language"], r["split"], r["n"]) for r in got} >= {("ruby", "train", "100")}


def test_apply_sets_the_forms_max_lengths(qtbot, qloop, tmp_path):
    root = write_folder(tmp_path / "cxg")
    win = MainWindow(runs_dir=tmp_path / "runs")
    qtbot.addWidget(win)
    win.show()
    win.form.set_values({"data.source": "codexglue", "data.path": str(root), "data.languages": ["ruby", "go"]})
    qtbot.waitUntil(lambda: win.data_stats.stats is not None and str(win.data_stats.root) == str(root),
                    timeout=10000)
    src, tgt = (win.data_stats.stats["suggested"][k] for k in ("max_source_length", "max_target_length"))
    assert f"{src} / {tgt}" in win.data_summary.label.text()   # the line in the form's data section
    win.data_panel.apply_button.click()
    cfg = win.form.config()
    assert (cfg.data.max_source_len, cfg.data.max_target_len) == (src, tgt)
    assert f"--set data.max_source_len={src}" in win.form.command_line()
    qtbot.waitUntil(lambda: not win.data_panel.apply_button.isEnabled(), timeout=3000)   # nothing left to apply
    # the summary line's Apply does the same after the user changed the lengths
    win.form.set_values({"data.max_source_len": 512, "data.max_target_len": 64})
    qtbot.waitUntil(lambda: win.data_summary.apply_button.isEnabled(), timeout=3000)
    win.data_summary.apply_button.click()
    assert (win.form.config().data.max_source_len, win.form.config().data.max_target_len) == (src, tgt)


def test_builtin_corpus_not_built_yet_says_so(qtbot, tmp_path):
    cfg = RunConfig()                                         # builtin, default cache folder (empty here)
    root, note = data_root(cfg)
    assert root is None and "built when a run starts" in note and str(tmp_path / "cache") in note
    loader = StatsLoader()
    panel = DataPanel(loader)
    qtbot.addWidget(panel)
    loader.request(cfg)
    assert "built when a run starts" in panel.header.text() and panel.table.isHidden()
    assert not panel.apply_button.isVisible() and np.asarray(panel.bars("code")[1]).size == 0

    # once built (here: written by hand into the cache folder) its statistics are shown
    folder = paths.builtin_corpus_dir()
    assert tmp_path / "cache" in folder.parents
    src = write_folder(tmp_path / "written")
    (folder / "python").mkdir(parents=True)
    for split in ("train", "valid", "test"):
        (folder / "python" / f"{split}.jsonl").write_text((src / "ruby" / f"{split}.jsonl").read_text())
    loader.request(cfg)
    qtbot.waitUntil(lambda: not loader.busy, timeout=10000)
    assert panel.counts() == {"python": N["ruby"]}


def test_missing_folder_is_explained(qtbot, tmp_path):
    loader = StatsLoader()
    panel = DataPanel(loader)
    qtbot.addWidget(panel)
    loader.request(codexglue_cfg(tmp_path / "nowhere"))
    assert "folder not found" in panel.header.text()
    (tmp_path / "empty").mkdir()
    loader.request(codexglue_cfg(tmp_path / "empty"))
    qtbot.waitUntil(lambda: not loader.busy, timeout=10000)
    assert "no split file" in loader.error and "no split file" in panel.header.text()
