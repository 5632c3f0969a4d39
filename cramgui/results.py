"""Per-language BLEU-4 results beside published reference numbers: a table and a grouped bar chart."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (QHBoxLayout, QHeaderView, QLabel, QPushButton, QSplitter,
                               QTableView, QVBoxLayout, QWidget)

from engine.contract.config import LANGUAGES

from engine.contract.events import number

from .export import CSV, PNG, plot_to_png, save_as, table_model_to_csv
from .formatting import fixed
from .references import DEFAULT_REFERENCES, load_reference_table, select_references
from .run_state import RunState

OURS = "this run"
MEAN = "mean"
BASE_COLUMNS = ("Model", "Language", "Examples", "BLEU-4", "NLTK BLEU-4", "Best dev BLEU", "Decode s")
# shown when the run measured the constant-prediction floor of its test split (engine.floor)
FLOOR_COLUMNS = ["Constant floor", "Above floor"]
FLOOR_AT = 4   # the floor columns' place: right after BLEU-4
FLOOR_TIPS = ["smoothed BLEU-4 of writing one constant sentence (the best training summary, chosen on dev) for "
              "every test example: what a model that learned nothing about the input scores",
              "BLEU-4 minus the constant floor: what the model adds over predicting one sentence"]
BAR_COLORS = [(40, 100, 200), (230, 140, 40), (120, 120, 120), (60, 160, 90), (170, 70, 160)]


def _lang_order(langs) -> list[str]:
    known = [lang for lang in LANGUAGES if lang in langs]
    return known + sorted(lang for lang in langs if lang not in LANGUAGES)


_HEADER_TIPS = {
    0: "'this run', or a published model",
    2: "test examples evaluated",
    3: "smoothed sentence-level BLEU-4 as computed by the CodeXGLUE evaluator (the headline number)",
    4: "corpus-level BLEU-4 from NLTK (an additional metric, not comparable to published numbers)",
    5: "best dev BLEU seen during training (one number for all languages when the engine reports one)",
    6: "seconds spent decoding the test set",
    7: "BLEU-4 of this run minus the reference's published BLEU-4 (positive = better)",
}


class ResultsTableModel(QAbstractTableModel):
    """Rows grouped by language: our result (bold), then each reference model's published BLEU-4.
    Columns: Model, Language, Examples, BLEU-4, NLTK BLEU-4, Best dev BLEU, Decode s, Δ vs <reference>...
    With results in two or more languages a 'mean' group compares the means over those same languages.
    Qt.UserRole gives the raw number behind a numeric cell (None when empty)."""

    def __init__(self, references: list[dict], parent=None):
        super().__init__(parent)
        self.references = references
        self.headers = list(BASE_COLUMNS) + [f"Δ vs {r['model']}" for r in references]
        self._rows: list[dict] = []   # {"kind": "ours"|"ref", "values": [...], "text": [...], "tooltip": str}

    # -- building -------------------------------------------------------------------------------------------
    def set_data(self, results: dict[str, dict], best_dev: dict[str, float | None], languages=()) -> None:
        self.beginResetModel()
        self._rows = []
        # the constant-prediction floor of each split, when the engine measured it: two more columns
        self.with_floor = any(number(r.get("floor_bleu4")) is not None for r in results.values())
        self.headers = list(BASE_COLUMNS) + [f"Δ vs {r['model']}" for r in self.references]
        if self.with_floor:  # right after BLEU-4: "above the floor" is the headline
            self.headers[FLOOR_AT:FLOOR_AT] = FLOOR_COLUMNS
        langs = _lang_order(set(results) | set(languages))
        for lang in langs:
            res = results.get(lang)
            if res is not None:
                self._add_ours(lang, res, best_dev.get(lang))
            for ref in self.references:
                self._add_ref(ref, lang, number(ref.get(lang)))
        done = [lang for lang in langs if lang in results and number(results[lang].get("bleu4")) is not None]
        if len(done) >= 2:
            mean = {"n": sum(int(number(results[x].get("n")) or 0) for x in done),
                    "bleu4": float(np.mean([number(results[x].get("bleu4")) for x in done]))}
            nltk = [number(results[x].get("nltk_bleu4")) for x in done]
            if all(v is not None for v in nltk):
                mean["nltk_bleu4"] = float(np.mean(nltk))
            dec = [number(results[x].get("decode_seconds")) for x in done]
            if all(v is not None for v in dec):
                mean["decode_seconds"] = float(np.sum(dec))
            floors = [number(results[x].get("floor_bleu4")) for x in done]
            if all(v is not None for v in floors):
                mean["floor_bleu4"] = float(np.mean(floors))
            label = f"{MEAN} ({len(done)})"
            self._add_ours(label, mean, best_dev.get(MEAN), ref_langs=done)
            for ref in self.references:
                vals = [number(ref.get(x)) for x in done]
                self._add_ref(ref, label, float(np.mean(vals)) if all(v is not None for v in vals) else None)
        self.endResetModel()

    def _add_ours(self, lang, res, best_dev, ref_langs=None) -> None:
        bleu = number(res.get("bleu4"))
        deltas = []
        for ref in self.references:
            if ref_langs is None:
                rv = number(ref.get(lang))
            else:
                vals = [number(ref.get(x)) for x in ref_langs]
                rv = float(np.mean(vals)) if all(v is not None for v in vals) else None
            deltas.append(None if bleu is None or rv is None else bleu - rv)
        n = number(res.get("n"))
        values = [OURS, lang, None if n is None else int(n), bleu, number(res.get("nltk_bleu4")), number(best_dev),
                  number(res.get("decode_seconds"))] + deltas
        text = [OURS, lang, "" if n is None else str(int(n)), fixed(bleu), fixed(res.get("nltk_bleu4")),
                fixed(best_dev), fixed(res.get("decode_seconds"), 1)] + [fixed(d, signed=True) for d in deltas]
        tip = f"beam size {res.get('beam_size')}, split {res.get('split')}" if res.get("beam_size") else ""
        if getattr(self, "with_floor", False):
            fl = number(res.get("floor_bleu4"))
            above = None if bleu is None or fl is None else bleu - fl
            values[FLOOR_AT:FLOOR_AT] = [fl, above]
            text[FLOOR_AT:FLOOR_AT] = [fixed(fl), fixed(above, signed=True)]
            if isinstance(res.get("floor_text"), str) and res["floor_text"]:
                tip += (", " if tip else "") + f"constant floor: “{res['floor_text'][:120]}” for every example"
        self._rows.append({"kind": "ours", "values": values, "text": text, "tooltip": tip})

    def _add_ref(self, ref, lang, value) -> None:
        values = [ref["model"], lang, None, value, None, None, None] + [None] * len(self.references)
        text = [ref["model"], lang, "", fixed(value), "", "", ""] + [""] * len(self.references)
        if getattr(self, "with_floor", False):
            values[FLOOR_AT:FLOOR_AT] = [None, None]
            text[FLOOR_AT:FLOOR_AT] = ["", ""]
        self._rows.append({"kind": "ref", "values": values, "text": text,
                           "tooltip": f"published: {ref.get('source') or '?'}"})

    def row_kind(self, row: int) -> str:
        return self._rows[row]["kind"]

    # -- Qt model -------------------------------------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.headers)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.headers[section] if 0 <= section < len(self.headers) else None
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            if getattr(self, "with_floor", False):
                if FLOOR_AT <= section < FLOOR_AT + len(FLOOR_COLUMNS):
                    return FLOOR_TIPS[section - FLOOR_AT]
                if section > FLOOR_AT:
                    section -= len(FLOOR_COLUMNS)
            return _HEADER_TIPS.get(min(section, 7))
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        c = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return row["text"][c]
        if role == Qt.ItemDataRole.UserRole:
            return row["values"][c]
        if role == Qt.ItemDataRole.TextAlignmentRole and c >= 2:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.FontRole and row["kind"] == "ours":
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ForegroundRole:
            if row["kind"] == "ref":
                return QBrush(QColor(110, 110, 110))
            v = row["values"][c]
            first_delta = 7
            if getattr(self, "with_floor", False):
                if c == FLOOR_AT:
                    return None  # the floor itself is no gain or loss
                if c == FLOOR_AT + 1 and v is not None:
                    return QBrush(QColor(20, 120, 40) if v >= 0 else QColor(180, 40, 40))
                first_delta += len(FLOOR_COLUMNS)
            if c >= first_delta and v is not None:
                return QBrush(QColor(20, 120, 40) if v >= 0 else QColor(180, 40, 40))
        if role == Qt.ItemDataRole.ToolTipRole:
            return row["tooltip"] or None
        return None


class ResultsView(QWidget):
    def __init__(self, state: RunState, parent: QWidget | None = None, reference_path=None):
        super().__init__(parent)
        self.state = state
        self.references = select_references(load_reference_table(reference_path), DEFAULT_REFERENCES)
        self.model = ResultsTableModel(self.references, self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setStretchLastSection(True)

        self.chart = pg.PlotWidget(background="w")
        pi = self.chart.getPlotItem()
        pi.setTitle("BLEU-4 per language (smoothed, CodeXGLUE evaluator)", size="10pt")
        pi.setLabel("left", "BLEU-4")
        pi.showGrid(y=True, alpha=0.25)
        pi.setMenuEnabled(False)
        pi.setMouseEnabled(x=False, y=False)
        self._bars: list[pg.BarGraphItem] = []
        self.legend_row = QHBoxLayout()          # the legend sits under the chart, never over its bars
        self.legend_row.setContentsMargins(6, 0, 6, 0)
        self.legend_labels: list[QLabel] = []
        chart_box = QWidget()
        cb = QVBoxLayout(chart_box)
        cb.setContentsMargins(0, 0, 0, 0)
        cb.setSpacing(2)
        cb.addWidget(self.chart, 1)
        cb.addLayout(self.legend_row)

        self.summary = QLabel("No results yet: they appear when the final evaluation finishes.")
        self.csv_button = QPushButton("Export CSV…")
        self.csv_button.clicked.connect(self._export_csv_dialog)
        self.png_button = QPushButton("Export chart PNG…")
        self.png_button.clicked.connect(self._export_png_dialog)
        bar = QHBoxLayout()
        bar.addWidget(self.summary, 1)
        bar.addWidget(self.csv_button)
        bar.addWidget(self.png_button)
        self.caption = QLabel()
        self.caption.setObjectName("referenceCaption")
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(Qt.TextFormat.PlainText)    # the run's own strings (data source, split)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.setSpacing(3)
        tl.addWidget(self.table, 1)
        tl.addWidget(self.caption)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(chart_box)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([480, 320])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(split, 1)

        for sig in (state.result_added, state.evaluated, state.started, state.finished):
            sig.connect(self.refresh)
        state.reset_signal.connect(self.refresh)
        self.refresh()

    # -- public API -----------------------------------------------------------------------------------------
    def export_csv(self, path) -> None:
        table_model_to_csv(self.model, path)

    def export_png(self, path) -> None:
        plot_to_png(self.chart, path)

    def refresh(self, *_) -> None:
        st = self.state
        langs = ((st.config or {}).get("data") or {}).get("languages") or []
        best = self._best_dev()
        self.model.set_data(st.results, best, langs)
        self._update_caption()
        self._draw_chart(_lang_order(set(st.results) | set(langs)))
        if st.results:
            parts = []
            for lang in _lang_order(st.results):
                r = st.results[lang]
                b, fl = number(r.get("bleu4")), number(r.get("floor_bleu4"))
                above = ""
                if b is not None and fl is not None:
                    where = "above" if b >= fl else "below"
                    above = f" ({abs(b - fl):.2f} {where} the constant floor {fl:.2f})"
                parts.append(f"{lang} {fixed(b)}{above}")
            self.summary.setText("BLEU-4 (this run): " + ", ".join(parts))
        else:
            self.summary.setText("No results yet: they appear when the final evaluation finishes."
                                 if not langs else "No results yet; published references for comparison:")

    def caption_text(self) -> str:
        return self.caption.text()

    def caption_emphasised(self) -> bool:
        return self._caption_warning

    # -- internals ------------------------------------------------------------------------------------------
    def _update_caption(self) -> None:
        """What the reference rows are, and when they compare; emphasised when this run's data or split differ."""
        base = ("The reference rows are published CodeXGLUE code-to-text TEST-SET scores (smoothed BLEU-4). "
                "They are comparable only when this run evaluates on the CodeXGLUE test split of the same language.")
        cfg = self.state.config or {}
        source = (cfg.get("data") or {}).get("source")
        split = (cfg.get("eval") or {}).get("split")
        split = next((r.get("split") for r in self.state.results.values() if r.get("split")), split)
        why = []
        if source and source != "codexglue":
            why.append(f"this run's data is {source!s:.80}, not CodeXGLUE")
        if split and split != "test":
            why.append(f"it evaluates on the {split!s:.40} split")
        self._caption_warning = bool(why)
        if why:
            self.caption.setText(f"⚠ Not comparable: {' and '.join(why)}. {base}")
            self.caption.setStyleSheet("QLabel { background: #fff3e0; color: #6d3a00; border: 1px solid #ef6c00; "
                                       "border-radius: 3px; padding: 3px 6px; }")
        else:
            self.caption.setText(base)
            self.caption.setStyleSheet("QLabel { color: #555; padding: 0 2px; }")

    def _best_dev(self) -> dict:
        """Best dev BLEU per language (evals carrying 'language') or overall, applied to every language."""
        best: dict = {}
        overall = None
        for e in self.state.evals:
            b = number(e.get("dev_bleu"))
            if b is None:
                continue
            lang = e.get("language")
            if lang:
                best[lang] = max(b, best.get(lang, b))
            else:
                overall = b if overall is None else max(overall, b)
        if overall is None:
            overall = number(self.state.status.get("best_dev_bleu"))
        out = {lang: best.get(lang, overall) for lang in set(self.state.results) | set(best)}
        out[MEAN] = overall
        return out

    def _draw_chart(self, langs: list[str]) -> None:
        pi = self.chart.getPlotItem()
        for item in self._bars:
            pi.removeItem(item)
        self._bars = []
        self._set_legend([])
        series = [(OURS, [number((self.state.results.get(x) or {}).get("bleu4")) for x in langs])]
        series += [(r["model"], [number(r.get(x)) for x in langs]) for r in self.references]
        if not langs:
            return
        k = len(series)
        width = 0.8 / k
        shown: list[tuple[str, tuple]] = []
        for j, (name, vals) in enumerate(series):
            xs = np.arange(len(langs)) - 0.4 + width * (j + 0.5)
            ys = np.array([np.nan if v is None else v for v in vals])
            ok = np.isfinite(ys)
            if not ok.any():
                continue
            color = BAR_COLORS[j % len(BAR_COLORS)]
            bars = pg.BarGraphItem(x=xs[ok], height=ys[ok], width=width * 0.9, brush=color,
                                   pen=pg.mkPen(color, width=1), name=name)
            pi.addItem(bars)
            self._bars.append(bars)
            shown.append((name, color))
            if j == 0:
                for x, y in zip(xs[ok], ys[ok]):
                    label = pg.TextItem(f"{y:.2f}", color=(20, 20, 20), anchor=(0.5, 1.0))
                    label.setPos(float(x), float(y))
                    pi.addItem(label)
                    self._bars.append(label)
        self._set_legend(shown)
        pi.getAxis("bottom").setTicks([[(i, x) for i, x in enumerate(langs)]])
        ymax = max([v for _, vals in series for v in vals if v is not None] or [1.0])
        pi.setXRange(-0.6, len(langs) - 0.4, padding=0)
        pi.setYRange(0, ymax * 1.12, padding=0)   # headroom for the value labels (the legend is outside)

    def _set_legend(self, entries: list[tuple[str, tuple]]) -> None:
        """One '■ name' label per series drawn, under the chart (plain text; the square in the series' colour)."""
        for w in self.legend_labels:
            self.legend_row.removeWidget(w)
            w.deleteLater()
        self.legend_labels = []
        while self.legend_row.count():
            self.legend_row.takeAt(0)
        for name, (r, g, b) in entries:
            w = QLabel(f"■ {name}")
            w.setTextFormat(Qt.TextFormat.PlainText)
            w.setStyleSheet(f"QLabel {{ color: rgb({r},{g},{b}); }}")
            w.setToolTip(name)
            self.legend_row.addWidget(w)
            self.legend_labels.append(w)
        self.legend_row.addStretch(1)

    def legend_names(self) -> list[str]:
        return [w.text()[2:] for w in self.legend_labels]

    def _export_csv_dialog(self) -> str | None:
        return save_as(self, "Results table (CSV)", "results.csv", CSV, self.export_csv,
                       run_dir=self.state.run_dir)

    def _export_png_dialog(self) -> str | None:
        return save_as(self, "Results chart (PNG)", "bleu.png", PNG, self.export_png,
                       run_dir=self.state.run_dir)
