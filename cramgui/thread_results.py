"""Results of background threads reach the GUI thread through a queue that a GUI-thread timer drains: the threads
never touch Qt (a Qt signal emitted from a plain Python thread once hung a GUI test)."""
from __future__ import annotations

import queue
from collections.abc import Callable


def drain(answers: queue.SimpleQueue, handle: Callable[[object], None]) -> None:
    """Hand every answer waiting in `answers` to `handle`, on the calling (GUI) thread."""
    while True:
        try:
            payload = answers.get_nowait()
        except queue.Empty:
            return
        handle(payload)
