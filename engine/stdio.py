"""Standard streams that survive a dead reader.

The console reads the engine's stdout and stderr through pipes; when it dies (a crash, SIGKILL, a closed
terminal) the engine trains on, as designed, but its next write to a pipe nobody reads raises BrokenPipeError —
in a signal handler, a traceback print or the progress line, that used to end the run with no stop checkpoint and
no `done` event. `protect_stdio()` (first thing in every engine process) makes every later write to sys.stdout /
sys.stderr harmless: a stream whose reader is gone is pointed at /dev/null (so C libraries and the interpreter's
exit flush stop failing too), and a process started with a standard descriptor closed (`2>&-`) gets /dev/null on
it, so that no file the engine opens later becomes fd 2 and receives its warnings. The event file in the run
directory is the source of truth; these streams are diagnostics.
"""
from __future__ import annotations

import errno
import io
import os
import sys

# errors meaning "nobody reads this stream any more"
_GONE = {errno.EPIPE, errno.EBADF, errno.EIO, errno.ECONNRESET, errno.ENXIO}


class SafeStream:
    """A text stream proxy whose write / flush never raise. After a write fails because the reader is gone, the
    descriptor is redirected to /dev/null and later writes are dropped; any other failure drops that write."""

    def __init__(self, stream, fd: int | None):
        self._stream = stream
        self._fd = fd
        self.dead = stream is None

    # the text-stream API the engine and libraries use
    def write(self, text: str) -> int:
        if not self.dead:
            try:
                return self._stream.write(text)
            except (OSError, ValueError) as e:
                self._failed(e)
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if not self.dead:
            try:
                self._stream.flush()
            except (OSError, ValueError) as e:
                self._failed(e)

    def isatty(self) -> bool:
        try:
            return not self.dead and self._stream.isatty()
        except (OSError, ValueError, AttributeError):
            return False

    def fileno(self) -> int:
        if self._fd is None:
            raise io.UnsupportedOperation("fileno")
        return self._fd

    def writable(self) -> bool:
        return True

    @property
    def closed(self) -> bool:
        return False

    def close(self) -> None:  # the interpreter owns the standard streams
        self.flush()

    def __getattr__(self, name):
        return getattr(self._stream, name)

    def _failed(self, e: Exception) -> None:
        gone = isinstance(e, ValueError) or getattr(e, "errno", None) in _GONE
        if not gone:
            return  # e.g. a full disk under `2> log`: this line is lost, the next may pass
        self.dead = True
        if self._fd is not None:
            _devnull_on(self._fd)
            try:  # what is still buffered now goes to /dev/null instead of raising at exit
                self._stream.flush()
            except (OSError, ValueError):
                pass


def _devnull_on(fd: int) -> None:
    try:
        nul = os.open(os.devnull, os.O_RDWR)
    except OSError:
        return
    try:
        if nul != fd:
            os.dup2(nul, fd)
    except OSError:
        pass
    finally:
        if nul != fd:
            os.close(nul)


def _fd_open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def protect_stdio() -> None:
    """Install SafeStream on sys.stdout and sys.stderr (once; idempotent), and /dev/null on closed 0/1/2."""
    for fd in (0, 1, 2):  # lowest first: os.open returns the lowest free descriptor
        if not _fd_open(fd):
            _devnull_on(fd)
    for name, fd in (("stdout", 1), ("stderr", 2)):
        cur = getattr(sys, name)
        if isinstance(cur, SafeStream):
            continue
        if cur is None:  # the interpreter found the descriptor closed at start: it is /dev/null now
            try:
                cur = open(fd, "w", encoding="utf-8", errors="backslashreplace", closefd=False)
            except OSError:
                cur = None
        try:
            own = cur.fileno() if cur is not None else None
        except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
            own = None
        setattr(sys, name, SafeStream(cur, own))
