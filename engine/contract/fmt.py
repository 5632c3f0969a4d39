"""Formatting shared by `cram`'s progress line, `cram compare` and the console."""
from __future__ import annotations

import math


def hms(seconds, unknown: str = "--:--") -> str:
    """Seconds as m:ss below an hour, h:mm:ss above; `unknown` for None / non-finite / non-numbers."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return unknown
    s = int(max(0, seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


def number(value, spec: str = ".3f", missing: str = "n/a") -> str:
    """A finite number formatted with `spec`; `missing` for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return missing
    return format(value, spec)
