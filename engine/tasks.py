"""What a data task (a corpus build, a CodeXGLUE fetch) is given and may raise.

  progress(done, total, message)   called as the task goes (total 0 when unknown)
  cancel() -> bool                 polled between files or chunks; True stops the task with `Cancelled`
"""
from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int, int, str], None]
CancelCheck = Callable[[], bool]


class Cancelled(Exception):
    """Raised by a build or a fetch when its `cancel()` callable returned True (nothing half-written stays)."""
