"""Formatting helpers of the console (pure Python, no Qt): numbers, durations, rates, and the colour of each
run status. Every view formats through these, so the same value reads the same everywhere."""
from __future__ import annotations

import math
import signal

from engine.contract.events import number
from engine.contract.fmt import hms as engine_hms  # noqa: F401  (m:ss / h:mm:ss, as `cram` prints it)

DASH = "–"

# one colour per status value (engine.contract.rundir.STATUSES plus the console's own transient states)
STATUS_COLOURS = {
    "running": "#1565c0", "following": "#1565c0", "starting": "#1565c0",
    "completed": "#2e7d32",
    "stopped": "#ef6c00", "stopping…": "#ef6c00", "pruned": "#ef6c00",
    "failed": "#c62828", "exited": "#c62828", "was": "#c62828", "unreadable": "#c62828",
    "interrupted": "#8d6e63",
    "stale": "#b71c1c",
}
DEFAULT_COLOUR = "#555555"


def status_colour(status: str | None) -> str | None:
    """The colour of a status text ('running on node7' and 'stale (no event …)' by their first word)."""
    if not status:
        return None
    return STATUS_COLOURS.get(status.split()[0])


def hms(seconds, unknown: str = DASH) -> str:
    """h:mm:ss (always with hours), `unknown` for missing or non-finite values."""
    s = number(seconds)
    if s is None:
        return unknown
    s = int(round(max(0.0, s)))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def duration(seconds) -> str:
    """h:mm:ss, '' when unknown (table cells)."""
    return hms(seconds, unknown="")


def age(seconds) -> str:
    """3 s, 14 min, 2 h 05 min, 3 d 4 h."""
    s = int(max(0.0, number(seconds) or 0.0))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def rate(v) -> str:
    """12, 3.4k, 1.25M (tokens per second); a dash when unknown."""
    v = number(v)
    if v is None:
        return DASH
    if v >= 1e6:
        return f"{v / 1e6:.2f}M"
    if v >= 1e3:
        return f"{v / 1e3:.1f}k"
    return f"{v:.0f}"


def loss(v) -> str:
    v = number(v)
    return DASH if v is None else f"{v:.4g}"


def fixed(v, digits: int = 2, signed: bool = False, missing: str = "") -> str:
    """A number with `digits` decimals (BLEU: 12.54, +0.31), `missing` when unknown."""
    v = number(v)
    if v is None:
        return missing
    return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


def bleu(v) -> str:
    return fixed(v, 2)


def exact(v) -> str:
    """For CSV cells: '' when missing / non-finite, integers without a decimal point, floats in full (repr)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ""
    return str(v)


def exit_text(code: int | None) -> str:
    """'exited with status 3' / 'was killed by SIGKILL (exit status -9)'."""
    if code is None:
        return "did not start"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name} (exit status {code})"
    return f"exited with status {code}"


def span(seconds) -> str:
    """A duration in words for messages: '1 s', '90 s' -> '1 min 30 s', '2 h', '2 h 5 min', '30 days'."""
    s = number(seconds)
    if s is None:
        return DASH
    if 0 < s < 1:
        return f"{s:g} s"
    s = int(round(max(0.0, s)))
    d, rest = divmod(s, 86400)
    h, rest = divmod(rest, 3600)
    m, sec = divmod(rest, 60)
    parts = []
    if d:
        parts.append(f"{d} day{'s' if d != 1 else ''}")
    if h:
        parts.append(f"{h} h")
    if m:
        parts.append(f"{m} min")
    if sec or not parts:
        parts.append(f"{sec} s")
    return " ".join(parts[:2])


def hms_short(seconds) -> str:
    """Axis ticks of long runs: 45 s -> '0:45', 3725 s -> '1:02:05', 2 days -> '2d 0:00:00'; '' when unknown."""
    s = number(seconds)
    if s is None:
        return ""
    neg = s < 0
    s = int(round(abs(s)))
    d, rest = divmod(s, 86400)
    h, rest = divmod(rest, 3600)
    m, sec = divmod(rest, 60)
    text = f"{h}:{m:02d}:{sec:02d}" if h or d else f"{m}:{sec:02d}"
    if d:
        text = f"{d}d {text}"
    return ("-" if neg else "") + text


def count(v) -> str:
    """1,234 / 12.3M / 1.2B for parameters and tokens; a dash when unknown."""
    v = number(v)
    if v is None:
        return DASH
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div * 10:
            return f"{v / div:.1f}{suffix}"
    return f"{v:,.0f}"


def size_bytes(v) -> str:
    """Bytes in binary units: 512 B, 3.2 GiB; a dash when unknown."""
    v = number(v)
    if v is None:
        return DASH
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(v) < 1024 or unit == "TiB":
            return f"{v:.0f} {unit}" if unit == "B" else f"{v:.1f} {unit}"
        v /= 1024
    return DASH
