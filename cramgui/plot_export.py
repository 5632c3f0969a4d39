"""The live plots' right-click menu and exports (cramgui.plots.TrainingPlots mixes this in): the console's own
context menu (export PNG / CSV, reset zoom, log y, x axis, smoothing), PNG exports that carry the run name and the
caveat under the plot, with the curves cut at the image's pixels, and CSV exports of the data behind a plot (all
through cramgui.export.save_as, the one export path)."""
from __future__ import annotations

import html

import pyqtgraph as pg
from PySide6.QtGui import QActionGroup
from PySide6.QtWidgets import QGraphicsItem, QMenu

from .export import CSV, PNG, evals_to_csv, history_to_csv, plot_to_png, save_as
from .plot_items import CAVEAT_DEFAULT, CAVEATS, PLOTS, SMOOTHING_CHOICES, TITLES, legend_title


class PlotMenuExport:
    """The menu / export part of TrainingPlots: uses its _pw, state, legends, x_mode, alpha, smooth_spin, the
    crosshair lines, _draw, redraw_now and set_x_axis."""

    def run_name(self) -> str:
        card = self.state.card()
        return str(card.get("name") or "")

    def caption(self, which: str) -> str:
        """What an exported image says under the plot: the run, and what its numbers can be compared with."""
        run = self.run_name() or "unnamed run"
        where = f" ({self.state.run_dir})" if self.state.run_dir else ""
        return f"{run}{where}. {CAVEATS.get(which, CAVEAT_DEFAULT)}"

    def export_png(self, which: str, path) -> None:
        if which not in self._pw:
            raise ValueError(f"which must be one of {PLOTS}, not {which!r}")
        pw = self._pw[which]
        pi = pw.getPlotItem()
        title = pi.titleLabel.text
        run = self.run_name()
        head = legend_title(TITLES[which], self.legends[which]) if which in self.legends else f"<b>{TITLES[which]}</b>"
        pi.setTitle(f"{html.escape(run)} — {head}" if run else head, size="10pt", justify="left")
        caption = pg.LabelItem(html.escape(self.caption(which)), size="8pt", color="#444", justify="left")
        caption.setObjectName("exportCaption")
        pi.layout.addItem(caption, 5, 0, 1, 3)
        self.export_caption = caption.text            # what the last export drew (tests)
        self.export_title = pi.titleLabel.text
        for line in (self._vlines[which], self._hline[which]):
            line.hide()
        try:
            self._export_png(which, path)
        finally:
            pi.layout.removeItem(caption)
            caption.setParentItem(None)
            if caption.scene() is not None:
                caption.scene().removeItem(caption)
            pi.setTitle(title, size="10pt", justify="left")

    def export_csv(self, which: str, path) -> None:
        """The data behind a plot: the dev evaluations for the BLEU plot, every logged step for the others."""
        if which == "bleu":
            evals_to_csv(self.state, path)
        else:
            history_to_csv(self.state, path)

    def reset_zoom(self, which: str | None = None) -> None:
        for name in ([which] if which else PLOTS):
            self._pw[name].getPlotItem().enableAutoRange()
        self.redraw_now()

    def set_log_y(self, which: str, on: bool) -> None:
        pi = self._pw[which].getPlotItem()
        pi.setLogMode(x=False, y=bool(on))
        pi.enableAutoRange()
        self.redraw_now()

    def is_log_y(self, which: str) -> bool:
        return bool(self._pw[which].getPlotItem().getAxis("left").logMode)

    def context_menu(self, which: str) -> QMenu:
        """The plot's right-click menu: this app's actions only."""
        menu = QMenu(self)
        menu.setObjectName(f"plotMenu_{which}")
        menu.addAction("Export PNG…", lambda: self._export_dialog(which))
        menu.addAction("Export CSV…", lambda: self._export_csv_dialog(which))
        menu.addSeparator()
        menu.addAction("Reset zoom", lambda: self.reset_zoom(which))
        log = menu.addAction("Log y axis")
        log.setCheckable(True)
        log.setChecked(self.is_log_y(which))
        log.toggled.connect(lambda on: self.set_log_y(which, on))
        xs = menu.addMenu("x axis")
        group = QActionGroup(xs)
        for mode, text in (("step", "optimizer step"), ("elapsed", "training time")):
            a = xs.addAction(text, lambda m=mode: self.set_x_axis(m))
            a.setCheckable(True)
            a.setChecked(self.x_mode == mode)
            group.addAction(a)
        if which == "loss":
            sm = menu.addMenu("Smoothing")
            group = QActionGroup(sm)
            for alpha in SMOOTHING_CHOICES:
                a = sm.addAction("off" if alpha == 0 else f"{alpha:g}", lambda v=alpha: self.smooth_spin.setValue(v))
                a.setCheckable(True)
                a.setChecked(abs(self.alpha - alpha) < 1e-9)
                group.addAction(a)
        return menu

    def _export_png(self, which: str, path) -> None:
        pw = self._pw[which]
        if pw.width() < 50 or pw.height() < 50:
            pw.resize(900, 500)                   # as plot_to_png would
        self.redraw_now()
        # curves cut for the image's pixels (plot_to_png renders the plot item at least 1200 px wide, twice the
        # widget's width), the axes drawn directly, not from their screen cache
        src = pw.getPlotItem().sceneBoundingRect()             # what ImageExporter renders
        self._export = (src.left(), max(int(pw.width()) * 2, 1200) / max(src.width(), 1.0))
        axes = [pw.getPlotItem().getAxis(side) for side in ("left", "bottom")]
        try:
            self._draw(which)
            for ax in axes:
                ax.setCacheMode(QGraphicsItem.CacheMode.NoCache)
            plot_to_png(pw, path)
        finally:
            for ax in axes:
                ax.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            self._export = None
            self._draw(which)                     # back to the screen's pixels

    def _export_dialog(self, which: str) -> str | None:
        return save_as(self, f"{TITLES[which]} plot (PNG)", f"{which}.png", PNG,
                       lambda path: self.export_png(which, path), folder=self.state.run_dir)

    def _export_csv_dialog(self, which: str) -> str | None:
        name = "dev_evals.csv" if which == "bleu" else "history.csv"
        return save_as(self, f"{TITLES[which]} data (CSV)", name, CSV,
                       lambda path: self.export_csv(which, path), folder=self.state.run_dir)
