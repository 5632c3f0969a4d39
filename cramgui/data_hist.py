"""The Data tab's length histograms: code and summary lengths of one language and split, with the length that
covers 95 % (dashed) and the form's max length (red)."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from engine.contract.paths import SPLITS

CODE_COLOR = (40, 100, 200)
SUMMARY_COLOR = (60, 150, 90)
TITLES = {"code": "Code length", "summary": "Summary length"}


def _hist_plot(title: str) -> pg.PlotWidget:
    w = pg.PlotWidget(background="w")
    pi = w.getPlotItem()
    pi.setTitle(title, size="10pt", color="#222")
    pi.setLabel("bottom", "tokens")
    pi.setLabel("left", "examples")
    pi.showGrid(y=True, alpha=0.25)
    pi.setMenuEnabled(False)
    pi.setMouseEnabled(x=False, y=False)
    pi.hideButtons()
    w.setMinimumHeight(180)
    return w


class LengthHistograms(QWidget):
    """A language and a split to pick, and the two histograms of engine.contract.lengths.length_stats's entry."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.stats: dict | None = None
        self.limits = (0, 0)                     # the form's (max_source_len, max_target_len)
        self._bars: dict = {"code": None, "summary": None}
        self.lang_combo = QComboBox()
        self.split_combo = QComboBox()
        self.split_combo.addItems(list(SPLITS))
        self.lang_combo.currentTextChanged.connect(self.draw)
        self.split_combo.currentTextChanged.connect(self.draw)
        self.code_plot = _hist_plot(TITLES["code"])
        self.summary_plot = _hist_plot(TITLES["summary"])

        pick = QHBoxLayout()
        pick.addWidget(QLabel("Histograms of"))
        pick.addWidget(self.lang_combo)
        pick.addWidget(self.split_combo)
        pick.addStretch(1)
        legend = QLabel("<span style='color:#c62828'>━</span> form's max length &nbsp; "
                        "<span style='color:#555'>┅</span> covers 95 %")
        legend.setTextFormat(Qt.RichText)
        pick.addWidget(legend)
        plots = QHBoxLayout()
        plots.addWidget(self.code_plot, 1)
        plots.addWidget(self.summary_plot, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(pick)
        lay.addLayout(plots, 1)

    def show_stats(self, stats: dict | None, limits: tuple[int, int], preferred=()) -> None:
        """Show `stats` (None: nothing); keep the chosen language if it is still there, else the first of
        `preferred` that is, else the first."""
        self.stats, self.limits = stats, limits
        langs = list((stats or {}).get("languages") or {})
        cur = self.lang_combo.currentText()
        self.lang_combo.blockSignals(True)
        self.lang_combo.clear()
        self.lang_combo.addItems(langs)
        pick = cur if cur in langs else next((x for x in preferred if x in langs), langs[0] if langs else "")
        self.lang_combo.setCurrentText(pick)
        self.lang_combo.blockSignals(False)
        self.draw()

    def bars(self, which: str = "code") -> tuple[np.ndarray, np.ndarray]:
        """(bin left edges, counts) drawn in the code or summary histogram."""
        item = self._bars.get(which)
        if item is None:
            return np.array([]), np.array([])
        opts = item.opts
        return np.asarray(opts["x0"]), np.asarray(opts["height"])

    def draw(self, *_) -> None:
        st = self.stats
        lang, split = self.lang_combo.currentText(), self.split_combo.currentText()
        entry = ((st or {}).get("languages") or {}).get(lang, {}).get(split) if st else None
        cur_s, cur_t = self.limits
        for which, plot, limit, color in (("code", self.code_plot, cur_s, CODE_COLOR),
                                          ("summary", self.summary_plot, cur_t, SUMMARY_COLOR)):
            pi = plot.getPlotItem()
            pi.clear()
            self._bars[which] = None
            title = TITLES[which]
            if not entry:
                pi.setTitle(f"{title}: no data", size="10pt", color="#222")
                continue
            d = entry[which]
            edges = np.asarray(d["hist"]["edges"], dtype=float)
            counts = np.asarray(d["hist"]["counts"], dtype=float)
            width = float(edges[1] - edges[0]) if len(edges) > 1 else 1.0
            bars = pg.BarGraphItem(x0=edges[:-1], height=counts, width=width * 0.92, brush=color,
                                   pen=pg.mkPen(color))
            pi.addItem(bars)
            self._bars[which] = bars
            over = d["hist"].get("overflow") or 0
            pi.setTitle(f"{title}, {lang} {split}", size="10pt", color="#222")
            pi.setLabel("bottom", f"tokens · median {d['median']} · p95 {d['p95']} · max {d['max']:,}")
            plot.setToolTip(f"{entry['n']:,} examples; {over:,} longer than the axis (the 1 % longest) are not "
                            "drawn" if over else f"{entry['n']:,} examples")
            cov = pg.InfiniteLine(pos=d["covering"], angle=90, pen=pg.mkPen((90, 90, 90), width=1.5,
                                                                               style=Qt.DashLine))
            pi.addItem(cov)
            xmax = float(edges[-1])
            if limit and limit <= xmax * 1.5:
                line = pg.InfiniteLine(pos=limit, angle=90, pen=pg.mkPen((198, 40, 40), width=2))
                pi.addItem(line)
                xmax = max(xmax, limit * 1.05)
            pi.setXRange(0, xmax, padding=0.02)
            pi.setYRange(0, max(1.0, float(counts.max()) if len(counts) else 1.0) * 1.08, padding=0)
