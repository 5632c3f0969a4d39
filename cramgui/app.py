"""`cramgui [RUN_DIR]`: the console. QApplication + qasync event loop; opens RUN_DIR when given (replay + follow)."""
from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import signal
import sys

from .tabs import TABS


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="cramgui", description="Console for cram: configure, run, watch, compare.")
    ap.add_argument("run_dir", nargs="?", help="open this run directory (replays it and follows it live)")
    ap.add_argument("--runs-dir", help="runs folder listed in the Runs panel (default: $CRAM_RUNS_DIR or ./runs)")
    ap.add_argument("--preset", help="start with this preset in the form")
    ap.add_argument("--config", help="start with this config file (.toml/.json) in the form")
    ap.add_argument("--start", action="store_true", help="start a run with the form's config right away")
    ap.add_argument("--tab", choices=TABS,
                    help="tab shown at start")
    ap.add_argument("--version", action="version", version=f"cramgui {_version()}")
    return ap.parse_args(argv)


def _version() -> str:
    from engine.contract import version

    return version()


QUIT_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


def install_signal_handlers(quit_now) -> list[int]:
    """Ctrl+C, SIGTERM and SIGHUP (the terminal closed): stop a running engine gracefully (checkpoint), then quit;
    a second signal kills it. Returns the signals handled."""
    def on_signal(*_):
        quit_now()

    done = []
    for sig in QUIT_SIGNALS:
        try:
            signal.signal(sig, on_signal)
            done.append(sig)
        except (ValueError, OSError):
            pass
    return done


def fill_window(win, *, preset: str | None = None, config: str | None = None, run_dir: str | None = None) -> None:
    """The form and the views at start: --preset or --config in the form, else the last preset used (QSettings;
    smoke on a first launch) -- also when a run directory is opened, whose settings the notice offers in one click
    ("Use this run's settings"), so the form never shows the bare defaults unasked; then that run."""
    if not preset and not config:
        win.form.restore_last_preset()
    win.plots.restore_settings()                      # the last smoothing
    if preset:
        win.form.set_preset(preset)
    if config:
        win.form.load_config_file(config)
    if run_dir:
        win.open_run(run_dir)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    import qasync

    from .main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    # cyclic garbage is collected on the GUI thread only (a timer; automatic collection off): a collection
    # triggered in a background thread (runs scan, length statistics, samples reader) would destroy Qt objects
    # there, which can deadlock against the GUI thread (a QObject destructor waits for the GIL holding a Qt mutex)
    from pyqtgraph.util.garbage_collector import GarbageCollector
    collector = GarbageCollector(interval=1.0)   # noqa: F841 - lives as long as the loop
    app.setApplicationName("cramgui")
    app.setOrganizationName("cramgui")
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)

    # CRAMGUI_ENGINE="prog args..." replaces `python -m engine` (a fake engine for demos and screenshots)
    engine_cmd = shlex.split(os.environ["CRAMGUI_ENGINE"]) if os.environ.get("CRAMGUI_ENGINE") else None
    win = MainWindow(runs_dir=args.runs_dir, engine_command=engine_cmd)
    fill_window(win, preset=args.preset, config=args.config, run_dir=args.run_dir)
    tab = args.tab or os.environ.get("CRAMGUI_TAB", "").strip().lower()    # CRAMGUI_TAB: screenshots
    if tab in TABS:
        win.select_tab(tab)
    win.show()
    # CRAMGUI_OPEN_DIALOG=fetch|build|job: open that dialog at start (screenshots, demos)
    dialog = os.environ.get("CRAMGUI_OPEN_DIALOG", "").strip().lower()
    opener = {"fetch": win.open_fetch_dialog, "build": win.open_build_dialog, "job": win.open_job_script_dialog}
    if dialog in opener:
        QTimer.singleShot(300, opener[dialog])
    if args.start:
        QTimer.singleShot(0, win.start_run)

    install_signal_handlers(lambda: QTimer.singleShot(0, win.quit_now))
    wake = QTimer()
    wake.timeout.connect(lambda: None)        # lets Python run its signal handlers while Qt waits
    wake.start(250)
    app.aboutToQuit.connect(win.shutdown_now)

    with loop:
        code = loop.run_forever()
    win.shutdown_now()
    return int(code or 0)
