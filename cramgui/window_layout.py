"""The window's layout: the Setup dock (form, problems line, Start / Stop / Resume / Job script), the Runs dock,
their default sizes, the data tools under the form's folder field, and the layout remembered between sessions
(geometry, docks, tab, runs folder). A mixin of cramgui.main_window.MainWindow (it uses the window's form, runs,
actions, data_stats and select_tab / current_tab)."""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtWidgets import QDockWidget, QHBoxLayout, QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget

from engine.contract.paths import default_runs_dir

from .data_panel import DataSummary
from .settings import settings
from .tabs import TABS

MIN_SIZE = (1024, 640)


class WindowLayout:
    """Docks, data tools and the remembered layout of the main window."""

    def _build_data_tools(self) -> None:
        """Get / build buttons and the data summary line, in the form's data section under the folder field."""
        fl = self.form.section_layouts["data"]
        row, _role = fl.getWidgetPosition(self.form.rows["data.path"])
        self.fetch_button = QPushButton("Get CodeXGLUE…")
        self.fetch_button.setToolTip(self.actions.fetch_data.toolTip())
        self.fetch_button.clicked.connect(self.open_fetch_dialog)
        self.build_button = QPushButton("Build corpus…")
        self.build_button.setToolTip(self.actions.build_data.toolTip())
        self.build_button.clicked.connect(self.open_build_dialog)
        tools = QWidget()
        tl = QHBoxLayout(tools)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addStretch(1)                             # right-aligned under the folder field, spanning the row
        tl.addWidget(self.fetch_button)
        tl.addWidget(self.build_button)
        fl.insertRow(row + 1, tools)
        self.data_summary = DataSummary(self.data_stats)
        self.data_summary.apply_requested.connect(self.apply_lengths)
        self.data_summary.details_requested.connect(lambda: self.select_tab("data"))
        fl.addRow(self.data_summary)

    def _build_docks(self) -> None:
        scroll = QScrollArea()
        scroll.setObjectName("setupScroll")
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
        scroll.setWidget(self.form)
        self.setup_scroll = scroll
        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.stop_button = QPushButton("Stop")
        self.resume_button = QPushButton("Resume")
        for b, a in ((self.start_button, self.actions.start), (self.stop_button, self.actions.stop),
                     (self.resume_button, self.actions.resume)):
            b.clicked.connect(a.trigger)
            b.setToolTip(f"{a.toolTip()} ({a.shortcut().toString()})")
        self.job_button = QPushButton("Job script…")
        self.job_button.setToolTip(self.actions.job_script.toolTip())
        self.job_button.clicked.connect(self.open_job_script_dialog)
        self.problems_label = QLabel()
        self.problems_label.setObjectName("formProblems")
        self.problems_label.setTextFormat(Qt.PlainText)
        self.problems_label.setWordWrap(True)
        self.problems_label.setStyleSheet("color: #c62828;")
        self.problems_label.hide()
        buttons = QHBoxLayout()
        for b in (self.start_button, self.stop_button, self.resume_button, self.job_button):
            buttons.addWidget(b)
        setup = QWidget()
        lay = QVBoxLayout(setup)
        lay.setContentsMargins(0, 0, 0, 4)
        lay.addWidget(scroll, 1)
        lay.addWidget(self.problems_label)
        lay.addWidget(self.form.problems_view)    # every problem and preflight warning, each a link to its field
        lay.addLayout(buttons)
        setup.setMinimumWidth(300)
        self.setup_dock = QDockWidget("Setup", self)
        self.setup_dock.setObjectName("setupDock")
        self.setup_dock.setWidget(setup)
        self.setup_dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable)
        self.addDockWidget(Qt.LeftDockWidgetArea, self.setup_dock)
        self.runs_dock = QDockWidget("Runs", self)
        self.runs_dock.setObjectName("runsDock")
        self.runs_dock.setWidget(self.runs)
        self.runs.setMinimumHeight(90)
        self.addDockWidget(Qt.BottomDockWidgetArea, self.runs_dock)
        self.setCorner(Qt.BottomLeftCorner, Qt.LeftDockWidgetArea)
        self._default_dock_sizes()
        self.actions.view_menu.addAction(self.setup_dock.toggleViewAction())
        self.actions.view_menu.addAction(self.runs_dock.toggleViewAction())

    def _default_dock_sizes(self) -> None:
        """Setup about a third of the width (at most 430 px), runs about a fifth of the height."""
        w, h = max(self.width(), MIN_SIZE[0]), max(self.height(), MIN_SIZE[1])
        self.resizeDocks([self.setup_dock], [min(430, int(w * 0.36))], Qt.Horizontal)
        self.resizeDocks([self.runs_dock], [min(190, int(h * 0.24))], Qt.Vertical)

    # -- remembered layout ----------------------------------------------------------------------------------------
    def _restore_layout(self) -> None:
        st = settings()
        geom, layout = st.value("geometry"), st.value("window_state")
        if isinstance(geom, QByteArray) and not geom.isEmpty():
            self.restoreGeometry(geom)
            self._fit_to_screen()
        if isinstance(layout, QByteArray) and not layout.isEmpty():
            self.restoreState(layout)
        tab = st.value("tab")
        if isinstance(tab, str) and tab in TABS:
            self.select_tab(tab)

    def _fit_to_screen(self) -> None:
        """Keep a restored geometry inside the screen the window opens on: one saved on a larger monitor, or with
        a frame offset no window manager reported (Qt then restores it 25 px down: on a 1024x640 screen the status
        bar was off-screen), is shrunk to the screen (never under the minimum size) and moved inside it."""
        screen = self.screen()
        if screen is None:
            return
        avail, g = screen.availableGeometry(), self.geometry()
        if avail.contains(g):
            return
        w = max(min(g.width(), avail.width()), self.minimumWidth())
        h = max(min(g.height(), avail.height()), self.minimumHeight())
        x = min(max(g.x(), avail.x()), avail.x() + max(0, avail.width() - w))
        y = min(max(g.y(), avail.y()), avail.y() + max(0, avail.height() - h))
        self.setGeometry(x, y, w, h)

    def save_layout(self) -> None:
        st = settings()
        st.setValue("geometry", self.saveGeometry())
        st.setValue("window_state", self.saveState())
        st.setValue("tab", self.current_tab())
        st.setValue("runs_dir", str(self.runs.runs_dir.resolve()))
        st.sync()


def remembered_runs_dir() -> Path:
    """$CRAM_RUNS_DIR, else the runs folder of the last session (when it still exists), else ./runs."""
    if os.environ.get("CRAM_RUNS_DIR"):
        return default_runs_dir()
    remembered = settings().value("runs_dir")
    if isinstance(remembered, str) and remembered and Path(remembered).is_dir():
        return Path(remembered)
    return default_runs_dir()
