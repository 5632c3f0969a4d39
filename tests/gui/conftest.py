"""GUI test fixtures: offscreen Qt, one qasync loop for the session, a scripted fake engine."""
from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

HERE = Path(__file__).resolve().parent
FAKE_ENGINE = HERE / "fake_engine.py"


@pytest.fixture(autouse=True)
def _gc_on_the_gui_thread(qapp):
    """Cyclic garbage is collected on the GUI thread only, as the console does (cramgui.app): a collection
    triggered by an allocation in a background thread freed an earlier test's Qt objects there and deadlocked
    against the GUI thread (tests/gui/test_console_items.py::test_log_view_times_levels_and_search hung)."""
    import gc

    from PySide6.QtCore import QTimer

    gc.collect()
    gc.disable()
    timer = QTimer()
    timer.timeout.connect(lambda: gc.collect(0))
    timer.start(500)
    yield
    timer.stop()
    gc.collect()
    gc.enable()


@pytest.fixture(autouse=True)
def _own_settings(tmp_path, monkeypatch):
    """Each test remembers its window layout / runs folder in its own INI file, never the user's."""
    monkeypatch.setenv("CRAMGUI_SETTINGS", str(tmp_path / "cramgui-settings.ini"))


@pytest.fixture(scope="session")
def _qloop_session(qapp):
    import qasync

    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.events._set_running_loop(None)
    yield loop


@pytest.fixture
def qloop(_qloop_session, qapp):
    """The qasync loop, 'running' for the duration of one test (pytest-qt's waits drive it through Qt).
    pytest-qt has no qasync support; the loop is marked running only inside GUI tests so other tests that use
    asyncio.run are unaffected."""
    loop = _qloop_session
    asyncio.set_event_loop(loop)
    asyncio.events._set_running_loop(loop)
    try:
        yield loop
    finally:
        # let finished tasks run their callbacks before the loop is marked stopped
        for _ in range(3):
            qapp.processEvents()
        asyncio.events._set_running_loop(None)


@pytest.fixture
def fake_engine_cmd():
    """Builds an engine command running the fake engine with extra switches."""
    def make(*switches: str) -> list[str]:
        return [sys.executable, str(FAKE_ENGINE), *switches]
    return make


@pytest.fixture
def pid_alive():
    return _pid_alive


def _pid_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


class LatenessProbe:
    """A 10 ms QTimer recording how late each tick fires (ms): the event loop's responsiveness under load."""

    def __init__(self, interval_ms: int = 10):
        from PySide6.QtCore import QElapsedTimer, QTimer

        self.interval = interval_ms
        self.lateness: list[int] = []
        self._clock = QElapsedTimer()
        self._last = None
        self._timer = QTimer()
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = self._clock.elapsed()
        if self._last is not None:
            self.lateness.append(now - self._last - self.interval)
        self._last = now

    def start(self) -> None:
        self._clock.start()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()


@pytest.fixture
def lateness_probe():
    probe = LatenessProbe()
    yield probe
    probe.stop()
