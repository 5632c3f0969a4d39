"""What a failed write means, by errno: a full disk (or quota) is `disk`; a refused symlink is `untrusted`; a
problem the user can fix in the request or the filesystem (no permission, read-only, a file where a folder should
be) is `config`; anything else is `internal`. Pure Python: safetensors' SafetensorError and torch.save's
RuntimeError carry no errno, so their message is read for the OS's words ("No space left on device", errno 28)."""
from __future__ import annotations

import errno
import os
import re

from .contract.files import UnsafePath

DISK_ERRNOS = frozenset(e for e in (errno.ENOSPC, getattr(errno, "EDQUOT", None), errno.EFBIG) if e is not None)
CONFIG_ERRNOS = frozenset(e for e in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR,
                                      errno.ENAMETOOLONG, errno.ENOENT, errno.EEXIST) if e is not None)
# the OS messages of the disk errnos, as C++ exceptions quote them ("... error code: 28", "No space left on device")
_CODES = "|".join(map(str, sorted(DISK_ERRNOS)))
_DISK_WORDS = re.compile("|".join([re.escape(os.strerror(e)) for e in sorted(DISK_ERRNOS)] +
                                  [rf"\b(?:errno|error code|os error)[ :=]*(?:{_CODES})\b", r"no space left",
                                   r"disk quota exceeded", r"file too large"]), re.IGNORECASE)
# torch.save on a full disk: "[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534" (context:
# "basic_ios::clear: iostream error"), no errno at all. Its stream writer fails only when the OS refuses a write.
_TORCH_WRITE_FAILED = re.compile(r"PytorchStreamWriter failed writing|unexpected pos \d+ vs \d+|iostream error|"
                                 r"file write failed", re.IGNORECASE)


def errno_of(exc: BaseException) -> int | None:
    """The errno of `exc` or of the OSError it was raised from (a wrapped one), else None."""
    seen = 0
    e: BaseException | None = exc
    while e is not None and seen < 8:
        if isinstance(e, OSError) and e.errno is not None:
            return e.errno
        e = e.__cause__ or e.__context__
        seen += 1
    return None


def classify(exc: BaseException, path: str | os.PathLike | None = None) -> tuple[str, str]:
    """(kind, message) for a failed write: kind is "disk" (ENOSPC, EDQUOT, EFBIG, a library error quoting them,
    or torch's errno-less stream-writer failure), "untrusted" (a refused symlink), "config" (permissions,
    read-only, not a directory, ...) or "internal". The message is the OS's (strerror with the file name when
    known), never a C++ backtrace; with `path`, a disk message says how much space is left there."""
    if isinstance(exc, UnsafePath):
        return "untrusted", str(exc)
    code = errno_of(exc)
    if code in DISK_ERRNOS:
        return "disk", _os_message(exc, code) + _free(path)
    if code is None and _chain_matches(exc, _DISK_WORDS):
        return "disk", os.strerror(errno.ENOSPC) + _free(path)
    if code is None and _chain_matches(exc, _TORCH_WRITE_FAILED):
        return "disk", "the write failed (torch's file writer gives no reason; the disk is probably full)" + _free(path)
    if code in CONFIG_ERRNOS:
        return "config", _os_message(exc, code)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return "internal", f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def is_disk_full(exc: BaseException) -> bool:
    return classify(exc)[0] == "disk"


def _chain_matches(exc: BaseException, pattern: re.Pattern) -> bool:
    e: BaseException | None = exc
    for _ in range(8):
        if e is None:
            return False
        if pattern.search(str(e)):
            return True
        e = e.__cause__ or e.__context__
    return False


def _free(path) -> str:
    """", N MiB free on the filesystem of PATH" (its nearest existing folder), or "" when unknown."""
    if path is None:
        return ""
    p = os.path.abspath(os.fspath(path))
    while p and not os.path.isdir(p):
        parent = os.path.dirname(p)
        if parent == p:
            return ""
        p = parent
    try:
        st = os.statvfs(p)
    except OSError:
        return ""
    return f" ({st.f_bavail * st.f_frsize / 2**20:.1f} MiB free in {p})"


def _os_message(exc: BaseException, code: int) -> str:
    e = exc
    while e is not None and not isinstance(e, OSError):
        e = e.__cause__ or e.__context__
    text = (e.strerror if isinstance(e, OSError) and e.strerror else None) or os.strerror(code)
    name = e.filename if isinstance(e, OSError) else None
    return f"{text}: {name}" if name else text
