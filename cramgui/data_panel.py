"""What the chosen data holds: examples per language and split, length histograms of code and summaries, and the
max source/target lengths that cover 95 % of the examples (with Apply, which sets them in the form).

`StatsLoader` works out which folder the form's data settings mean (a CodeXGLUE-layout folder, or the built-in
corpus's cache folder) and runs `engine.contract.lengths.length_stats` on it in a worker thread (pure Python, no
engine process: it reads the files; about 5000 lines per file are measured), caching by the files' sizes and times.
`DataPanel` is the "Data" tab (its histograms are cramgui.data_hist); `DataSummary` is one line of it inside the
form's data section.
"""
from __future__ import annotations

import csv
import json
import queue
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (QHBoxLayout, QHeaderView, QLabel, QPushButton, QSizePolicy, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from engine.contract.config import RunConfig, field_specs
from engine.contract.lengths import length_stats
from engine.contract.paths import BUILTIN_LANGUAGE, LANGUAGES, SPLITS, builtin_corpus_dir, split_path

from .thread_results import drain
from .data_hist import LengthHistograms

MAX_EXAMPLES = 5000            # lines measured per file (spread evenly); counts are exact line counts


# -- which folder ----------------------------------------------------------------------------------------------
def data_root(cfg: RunConfig) -> tuple[Path | None, str]:
    """(folder to measure or None, a note). The built-in corpus lives in its cache folder (data.path when set);
    it does not exist before the first run that needs it."""
    d = cfg.data
    if d.source == "codexglue":
        if not d.path.strip():
            return None, "Choose the CodeXGLUE folder (data.path), or get it with “Get CodeXGLUE…”."
        p = Path(d.path).expanduser()
        if not p.is_dir():
            return None, f"{p}: folder not found."
        return p, ""
    p = Path(d.path).expanduser() if d.path.strip() else builtin_corpus_dir(d.site_packages)
    if not all(split_path(p, BUILTIN_LANGUAGE, s).is_file() for s in SPLITS):
        what = "this Python's standard library" + (" + site-packages" if d.site_packages else "")
        return None, f"The built-in corpus ({what}) is built when a run starts (about a minute, once), in {p}."
    return p, ""


def signature(root: Path) -> tuple:
    """Sizes and times of the split files and the manifest: what the cached stats depend on."""
    sig = []
    for name in ["manifest.json"] + [split_path("", lang, s).as_posix() for lang in LANGUAGES for s in SPLITS]:
        try:
            st = (root / name).stat()
            sig.append((name, st.st_size, st.st_mtime_ns))
        except OSError:
            pass
    return tuple(sig)


def read_manifest(root: Path) -> dict:
    try:
        m = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return m if isinstance(m, dict) else {}


def suggest(stats: dict, languages) -> tuple[int, int, str]:
    """(max source length, max target length, over what) covering `coverage` of the examples. Over the train
    splits of all the folder's languages (the engine's suggestion) when the selection is all of them, else the
    largest per-language value among the selected languages."""
    have = list(stats.get("languages") or {})
    sel = [x for x in languages if x in have]
    if not sel or set(sel) == set(have):
        s = stats.get("suggested") or {}
        return int(s.get("max_source_length") or 0), int(s.get("max_target_length") or 0), ", ".join(have)
    src = tgt = 0
    for lang in sel:
        splits = stats["languages"][lang]
        e = splits.get("train") or next(iter(splits.values()))
        src, tgt = max(src, int(e.get("max_source_length") or 0)), max(tgt, int(e.get("max_target_length") or 0))
    return src, tgt, ", ".join(sel)


def clamp_length(name: str, v: int) -> int:
    """`v` within the config field's range (data.max_source_len or data.max_target_len)."""
    spec = next(s for s in field_specs() if s["name"] == name)
    return max(spec["min"], min(spec["max"], int(v)))


POLL_MS = 50   # how often the GUI thread collects a finished computation


class StatsLoader(QObject):
    """Stats of the form's data folder, computed off the GUI thread. `changed` after every update (also when only
    the selected languages or the max lengths changed). State: root, note, stats, error, busy, languages,
    current (max_source_len, max_target_len)."""

    changed = Signal()

    def __init__(self, parent: QObject | None = None, max_examples: int = MAX_EXAMPLES):
        super().__init__(parent)
        self.max_examples = max_examples
        self.root: Path | None = None
        self.note = "No data chosen."
        self.stats: dict | None = None
        self.manifest: dict = {}
        self.error = ""
        self.busy = False
        self.languages: list[str] = []
        self.current = (0, 0)
        self._key: tuple | None = None
        self._cache: dict = {}
        self._generation = 0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cramgui-datastats")
        # the worker thread never touches Qt: it puts its answer in a queue that a GUI-thread timer collects
        # (emitting a Qt signal from a plain Python thread could deadlock against the GUI thread's own calls)
        self._answers: queue.SimpleQueue = queue.SimpleQueue()
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._collect)
        self.destroyed.connect(lambda *_: self._executor.shutdown(wait=False, cancel_futures=True))

    def request(self, cfg: RunConfig, force: bool = False) -> None:
        self.languages = list(cfg.data.languages)
        self.current = (cfg.data.max_source_len, cfg.data.max_target_len)
        root, note = data_root(cfg)
        key = (str(root), signature(root)) if root else ("", note)
        if key == self._key and not force:
            self.changed.emit()
            return
        self._key = key
        self._generation += 1
        self.root, self.note, self.error = root, note, ""
        if root is None:
            self.stats, self.manifest, self.busy = None, {}, False
            self.changed.emit()
            return
        if key in self._cache and not force:
            self.stats, self.manifest = self._cache[key]
            self.busy = False
            self.changed.emit()
            return
        self.busy = True
        self.changed.emit()
        gen, answers, n = self._generation, self._answers, self.max_examples

        def job():
            try:
                result = (length_stats(root, max_examples=n), read_manifest(root)), ""
            except Exception as e:  # noqa: BLE001 - DataError, OSError: shown in the panel
                result = None, str(e)
            answers.put((gen, key, result))

        self._executor.submit(job)
        self._poll.start()

    def _collect(self) -> None:
        """GUI thread: hand every finished computation to _on_ready; stop polling when nothing is pending."""
        drain(self._answers, self._on_ready)
        if not self.busy:
            self._poll.stop()

    def _on_ready(self, payload) -> None:
        gen, key, (value, error) = payload
        if gen != self._generation:
            return                          # an answer to an older question
        self.busy = False
        if value is None:
            self.stats, self.manifest, self.error = None, {}, error
        else:
            self._cache[key] = value
            self.stats, self.manifest = value
        self.changed.emit()

    def suggestion(self) -> tuple[int, int, str] | None:
        if not self.stats:
            return None
        return suggest(self.stats, self.languages)


# -- the compact line in the form ------------------------------------------------------------------------------
class DataSummary(QWidget):
    """'python: 5,655 / 389 / 421 examples · 95 % fit in 255 / 38 tokens [Apply]' under the data settings."""

    apply_requested = Signal(int, int)
    details_requested = Signal()

    def __init__(self, loader: StatsLoader, parent: QWidget | None = None):
        super().__init__(parent)
        self.loader = loader
        self.label = QLabel()
        self.label.setObjectName("dataSummary")
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.RichText)
        self.label.setStyleSheet("color: #444;")
        self.label.linkActivated.connect(lambda _l: self.details_requested.emit())
        self.apply_button = QPushButton("Apply")
        self.apply_button.setToolTip("Set Max source length and Max target length to the suggestion")
        self.apply_button.clicked.connect(self._apply)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.apply_button, 0, Qt.AlignTop)
        loader.changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        ld = self.loader
        sug = ld.suggestion()
        self.apply_button.setVisible(sug is not None)
        if ld.busy:
            self.label.setText("Reading the data folder…")
            return
        if ld.error:
            self.label.setText(f"<span style='color:#c62828'>{_esc(ld.error)}</span>")
            return
        if not ld.stats:
            self.label.setText(_esc(ld.note))
            return
        langs = ld.stats["languages"]
        parts = []
        for lang in [x for x in ld.languages if x in langs] or list(langs):
            parts.append(f"{lang} " + " / ".join(f"{(langs[lang].get(s) or {}).get('n', 0):,}" for s in SPLITS))
        src, tgt, _over = sug
        cur_s, cur_t = ld.current
        self.apply_button.setEnabled((src, tgt) != (cur_s, cur_t) and src > 0 and tgt > 0)
        self.label.setText(f"{', '.join(parts)} examples (train / valid / test). {int(ld.stats['coverage'] * 100)} % "
                           f"fit in <b>{src} / {tgt}</b> tokens (source / target). <a href='#'>Details</a>")

    def _apply(self) -> None:
        sug = self.loader.suggestion()
        if sug:
            self.apply_requested.emit(sug[0], sug[1])


# -- the tab ---------------------------------------------------------------------------------------------------
def _esc(text: str) -> str:
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


COLUMNS = ("Language", "train", "valid", "test", "unreadable", "code median / p95", "summary median / p95")


class DataPanel(QWidget):
    """The Data tab."""

    apply_requested = Signal(int, int)

    def __init__(self, loader: StatsLoader, parent: QWidget | None = None):
        super().__init__(parent)
        self.loader = loader
        self.header = QLabel()
        self.header.setObjectName("dataHeader")
        self.header.setWordWrap(True)
        self.header.setTextFormat(Qt.RichText)
        self.header.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(False)
        self.table.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Maximum)
        self.table.itemSelectionChanged.connect(self._on_table_selection)
        self.skipped_label = QLabel()
        self.skipped_label.setWordWrap(True)
        self.skipped_label.setTextInteractionFlags(Qt.TextSelectableByMouse)

        self.histograms = LengthHistograms()
        self.lang_combo, self.split_combo = self.histograms.lang_combo, self.histograms.split_combo
        self.suggestion_label = QLabel()
        self.suggestion_label.setObjectName("dataSuggestion")
        self.suggestion_label.setWordWrap(True)
        self.suggestion_label.setTextFormat(Qt.RichText)
        self.apply_button = QPushButton("Apply")
        self.apply_button.setObjectName("applyLengths")
        self.apply_button.setToolTip("Set data.max_source_len and data.max_target_len in the setup form")
        self.apply_button.clicked.connect(self._apply)

        sug = QHBoxLayout()
        sug.addWidget(self.suggestion_label, 1)
        sug.addWidget(self.apply_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.header)
        lay.addWidget(self.table)
        lay.addWidget(self.skipped_label)
        lay.addLayout(sug)
        lay.addWidget(self.histograms, 1)
        loader.changed.connect(self.refresh)
        self.refresh()

    # -- public API -------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        ld = self.loader
        st = ld.stats
        if ld.busy:
            self.header.setText(f"Reading <code>{_esc(str(ld.root))}</code>…")
        elif ld.error:
            self.header.setText(f"<span style='color:#c62828'>{_esc(ld.error)}</span>")
        elif not st:
            self.header.setText(_esc(ld.note))
        else:
            m = ld.manifest
            src = f" — source: {_esc(str(m.get('source')))}" if m.get("source") else ""
            sampled = any(e.get("sampled") for sp in st["languages"].values() for e in sp.values())
            self.header.setText(f"<b>{_esc(st['root'])}</b>{src}<br>Lengths in whitespace tokens of the "
                                f"tokenised code and summary (the model's subword tokens are usually more)"
                                + (f"; measured on about {ld.max_examples:,} examples per file" if sampled else "")
                                + ".")
        self._fill_table(st if not ld.busy else None)
        self._fill_skipped(ld.manifest if st else {})
        self._fill_suggestion()
        self.histograms.show_stats(st, ld.current, ld.languages)

    def counts(self) -> dict[str, dict[str, int]]:
        """{language: {split: examples}} as shown."""
        st = self.loader.stats or {}
        return {lang: {s: int(e["n"]) for s, e in splits.items()} for lang, splits in
                (st.get("languages") or {}).items()}

    def suggestion_text(self) -> str:
        return self.suggestion_label.text()

    def bars(self, which: str = "code") -> tuple[np.ndarray, np.ndarray]:
        """(bin left edges, counts) drawn in the code or summary histogram."""
        return self.histograms.bars(which)

    def export_csv(self, path) -> None:
        """The counts table (per language and split, plus the length statistics) as CSV."""
        st = self.loader.stats or {}
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["language", "split", "n", "unreadable", "code_median", "code_p95", "code_max",
                        "summary_median", "summary_p95", "summary_max", "max_source_length", "max_target_length"])
            for lang, splits in (st.get("languages") or {}).items():
                for s, e in splits.items():
                    w.writerow([lang, s, e["n"], e["skipped"], e["code"]["median"], e["code"]["p95"],
                                e["code"]["max"], e["summary"]["median"], e["summary"]["p95"], e["summary"]["max"],
                                e["max_source_length"], e["max_target_length"]])

    # -- internals --------------------------------------------------------------------------------------------
    def _fill_table(self, st: dict | None) -> None:
        self.table.setRowCount(0)
        if not st:
            self.table.hide()
            return
        self.table.show()
        selected = set(self.loader.languages)
        bold = QFont()
        bold.setBold(True)
        for lang, splits in st["languages"].items():
            r = self.table.rowCount()
            self.table.insertRow(r)
            train = splits.get("train") or next(iter(splits.values()))
            cells = [lang] + [f"{splits[s]['n']:,}" if s in splits else "–" for s in SPLITS]
            cells.append(f"{sum(e['skipped'] for e in splits.values()):,}")
            cells.append(f"{train['code']['median']} / {train['code']['p95']}")
            cells.append(f"{train['summary']['median']} / {train['summary']['p95']}")
            for c, text in enumerate(cells):
                it = QTableWidgetItem(text)
                if c:
                    it.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                if lang in selected:
                    it.setFont(bold)
                else:
                    it.setForeground(QBrush(QColor(130, 130, 130)))
                    it.setToolTip(f"{lang} is in the folder but not selected in the form")
                self.table.setItem(r, c, it)
        h = self.table.horizontalHeader().height() + 2 * self.table.frameWidth()
        h += sum(self.table.rowHeight(r) for r in range(self.table.rowCount()))
        self.table.setFixedHeight(h + 2)

    def _fill_skipped(self, manifest: dict) -> None:
        skipped = manifest.get("skipped") or {}
        if isinstance(skipped, dict) and skipped and all(isinstance(v, (int, float)) for v in skipped.values()):
            text = ", ".join(f"{k.replace('_', ' ')} {int(v):,}" for k, v in
                             sorted(skipped.items(), key=lambda kv: -kv[1]))
            self.skipped_label.setText(f"Skipped while building: {text}")
            self.skipped_label.show()
        else:
            self.skipped_label.hide()

    def _fill_suggestion(self) -> None:
        ld = self.loader
        sug = ld.suggestion()
        self.apply_button.setVisible(sug is not None)
        if sug is None:
            self.suggestion_label.setText("")
            return
        src, tgt, over = sug
        cov = int(round(ld.stats["coverage"] * 100))
        cur_s, cur_t = ld.current
        self.suggestion_label.setText(
            f"Suggested max source / target length covering {cov} % (train, {_esc(over)}): "
            f"<b>{src} / {tgt}</b> &nbsp; <span style='color:#666'>(form: {cur_s} / {cur_t})</span>")
        self.apply_button.setEnabled(src > 0 and tgt > 0 and (src, tgt) != (cur_s, cur_t))

    def _on_table_selection(self) -> None:
        items = self.table.selectedItems()
        if items:
            self.lang_combo.setCurrentText(self.table.item(items[0].row(), 0).text())

    def _apply(self) -> None:
        sug = self.loader.suggestion()
        if sug:
            self.apply_requested.emit(sug[0], sug[1])
