"""Opening the files of a run directory safely: a run directory is untrusted input (copied off a cluster, shared
by a colleague), so its files are never opened through a symbolic link, and diagnostics never die with a dead
reader."""
from __future__ import annotations

import errno
import os
import sys
from pathlib import Path


class UnsafePath(OSError):
    """A run file is a symbolic link (or not a regular file): refused rather than followed."""


def _refuse(path: Path, why: str) -> UnsafePath:
    return UnsafePath(errno.ELOOP, f"{path}: {why}; refusing to follow it (run directories are untrusted input)")


def check_regular(path: str | os.PathLike, must_exist: bool = False) -> Path:
    """`path` itself is no symlink and, if it exists, a regular file. Raises UnsafePath otherwise."""
    p = Path(path)
    if p.is_symlink():
        raise _refuse(p, "is a symbolic link")
    if p.exists() and not p.is_file():
        raise _refuse(p, "is not a regular file")
    if must_exist and not p.exists():
        raise FileNotFoundError(errno.ENOENT, f"{p}: not found")
    return p


def open_append(path: str | os.PathLike, encoding: str = "utf-8"):
    """Open for appending (created 0666 & ~umask) without following a symlink at the last component."""
    p = check_regular(path)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise _refuse(p, "is a symbolic link") from None
        raise
    return os.fdopen(fd, "a", encoding=encoding)


def open_read(path: str | os.PathLike, binary: bool = True):
    """Open for reading without following a symlink at the last component (FileNotFoundError as usual)."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise _refuse(p, "is a symbolic link") from None
        raise
    return os.fdopen(fd, "rb") if binary else os.fdopen(fd, "r", encoding="utf-8", errors="replace")


def read_text(path: str | os.PathLike, limit: int = 64 << 20) -> str:
    """The text of a run file (UTF-8, invalid bytes replaced), refusing symlinks and files over `limit` bytes."""
    with open_read(path) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{path}: larger than {limit >> 20} MiB")
    return data.decode("utf-8", errors="replace")


def inside(run_dir: str | os.PathLike, path: str | os.PathLike) -> Path:
    """`path` lies inside `run_dir` with no symlink on the way (each existing component checked). Raises
    UnsafePath otherwise. Returns the path."""
    root = Path(run_dir)
    p = Path(path)
    try:
        rel = p.relative_to(root)
    except ValueError:
        raise _refuse(p, f"is outside the run directory {root}") from None
    if ".." in rel.parts:
        raise _refuse(p, f"leaves the run directory {root}")
    cur = root
    for part in rel.parts:
        cur = cur / part
        if cur.is_symlink():
            raise _refuse(cur, "is a symbolic link")
    return p


def say(text: str, stream=None) -> None:
    """Print a diagnostic line to stderr; never raises (a dead console leaves a broken pipe behind, and the
    event file is the source of truth anyway)."""
    s = stream if stream is not None else sys.stderr
    try:
        s.write(text + "\n")
        s.flush()
    except (OSError, ValueError, AttributeError):
        pass
