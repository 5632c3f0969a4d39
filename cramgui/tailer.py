"""The console's one event reader: bytes of the engine's stdout or of a run's events.jsonl in, decoded events out
(engine.contract.events.decode). The worker reads a live run through `StreamTail`, a replay reads a run directory
with `replay`, and `RunFollower` tails a file another process is writing (a headless run, a cluster node).

A partial last line always waits for more bytes; lines have no length limit (sample events can be megabytes).
"""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from engine.contract.events import decode
from engine.contract.rundir import EVENTS


class LineSplitter:
    """Bytes in, complete lines out; a partial last line waits for the next chunk (no length limit)."""

    def __init__(self):
        self._rest = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        data = self._rest + chunk
        lines = data.split(b"\n")
        self._rest = lines.pop()
        return lines

    def flush(self) -> list[bytes]:
        rest, self._rest = self._rest, b""
        return [rest] if rest.strip() else []


class StreamTail:
    """A pipe's bytes in, in stream order: event dicts, and the text of the non-blank lines that are not events."""

    def __init__(self):
        self._split = LineSplitter()

    def feed(self, chunk: bytes) -> list[dict | str]:
        """What `chunk` completes; an empty chunk (end of stream) flushes the last line."""
        return self._parse(self._split.feed(chunk) if chunk else self._split.flush())

    @staticmethod
    def _parse(lines: list[bytes]) -> list[dict | str]:
        out: list[dict | str] = []
        for raw in lines:
            ev = decode(raw)
            if ev is not None:
                out.append(ev)
                continue
            text = raw.decode("utf-8", errors="replace").rstrip("\r")
            if text.strip():
                out.append(text)
        return out


def decode_lines(data: bytes) -> list[dict]:
    """The events of some complete lines (blank and malformed lines skipped)."""
    return [ev for ev in (decode(raw) for raw in data.split(b"\n")) if ev is not None]


class FileTail:
    """An events.jsonl read from a byte offset on: each `read()` returns the events of the complete lines
    appended since the last one and moves `offset` past them (a torn last line is left for later). A file that
    shrank (a new run written over it) is read again from 0, with `rewound` set."""

    def __init__(self, path: str | os.PathLike, offset: int = 0):
        self.path = Path(path)
        self.offset = int(offset)
        self.rewound = False
        self.more = False           # bytes were left unread (max_bytes): read again soon

    def shrunk(self) -> bool:
        try:
            return self.path.stat().st_size < self.offset
        except OSError:
            return False

    def read(self, max_bytes: int | None = None) -> list[dict]:
        """At most `max_bytes` (all when None); one line longer than that is read whole."""
        self.rewound = self.more = False
        try:
            size = self.path.stat().st_size
        except OSError:
            return []
        if size < self.offset:
            self.offset, self.rewound = 0, True
        if size == self.offset:
            return []
        want = size - self.offset if max_bytes is None else min(size - self.offset, max_bytes)
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read(want)
                end = data.rfind(b"\n") + 1
                if end == 0 and len(data) == want < size - self.offset:   # one line longer than a read
                    fh.seek(self.offset)
                    data = fh.readline()
                    end = len(data) if data.endswith(b"\n") else 0
        except OSError:
            return []
        self.offset += end
        self.more = self.offset < size and end > 0
        return decode_lines(data[:end])


def replay(run_dir: str | os.PathLike) -> tuple[list[dict], int]:
    """Every event of RUN_DIR/events.jsonl, and the offset a follower reads on from (the start of a torn last
    line, or the end). ([], 0) when there is no file."""
    tail = FileTail(Path(run_dir) / EVENTS)
    return tail.read(), tail.offset


class RunFollower(QObject):
    """Tail RUN_DIR/events.jsonl from a byte offset, every `interval_ms`: the events of the complete lines are
    delivered as one `events(list)` batch per poll. A file that shrinks (a new run written over it) emits `reset`,
    then is read from 0."""

    events = Signal(list)
    reset = Signal()

    MAX_READ = 8 << 20       # bytes per poll: a huge file is replayed over a few polls, never freezing the GUI

    def __init__(self, run_dir: str | os.PathLike, offset: int = 0, interval_ms: int = 500,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.run_dir = Path(run_dir)
        self.tail = FileTail(self.run_dir / EVENTS, offset)
        self.path = self.tail.path
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.poll)

    @property
    def offset(self) -> int:
        return self.tail.offset

    @offset.setter
    def offset(self, value: int) -> None:
        self.tail.offset = int(value)

    def start(self) -> None:
        self.timer.start()
        QTimer.singleShot(0, self.poll)

    def stop(self) -> None:
        self.timer.stop()

    def is_active(self) -> bool:
        return self.timer.isActive()

    def poll(self) -> int:
        """Read what was appended since the last poll; returns the number of events delivered."""
        if self.tail.shrunk():
            self.tail.offset = 0
            self.reset.emit()           # a listener that reloads the file moves `offset` past what it read
        batch = self.tail.read(self.MAX_READ)
        if batch:
            self.events.emit(batch)
        if self.tail.more:                  # more to replay: continue soon, after the GUI had its turn
            QTimer.singleShot(0, self.poll)
        return len(batch)
