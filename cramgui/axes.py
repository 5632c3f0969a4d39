"""Axes of the console's plots (pyqtgraph AxisItem subclasses).

`TimeAxis`: in time mode (x = training seconds) ticks fall on round durations (10 s, 1 min, 15 min, 1 h, ...) and
read h:mm:ss, so a 10-hour run is not labelled 36000; in step mode plain numbers. `LogAxis`: on a log axis every
tick gets a readable label, as many of the 2..9 minor ticks as there is room for (all of them inside one decade,
2 and 5 over a few, the decades alone over many), numbers written out (0.02, 3, 40), not 2e-2 / 4e1.
"""
from __future__ import annotations

import math

import pyqtgraph as pg

from .formatting import hms_short

# round durations for time ticks, seconds
_TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
               2 * 86400, 7 * 86400)
LABEL_PX = 70                      # room per time label


class TimeAxis(pg.AxisItem):
    def __init__(self, orientation: str = "bottom", **kw):
        super().__init__(orientation, **kw)
        self.time_mode = False
        self.enableAutoSIPrefix(False)

    def set_time_mode(self, on: bool) -> None:
        if on != self.time_mode:
            self.time_mode = on
            self.picture = None
            self.update()

    def tickSpacing(self, minVal, maxVal, size):  # noqa: N802 (pyqtgraph's name)
        if not self.time_mode or self.logMode or not (maxVal > minVal) or size <= 0:
            return super().tickSpacing(minVal, maxVal, size)
        want = (maxVal - minVal) * LABEL_PX / size
        major = next((s for s in _TIME_STEPS if s >= want), None)
        if major is None:
            major = _TIME_STEPS[-1] * math.ceil(want / _TIME_STEPS[-1])
        minor = major / (6 if major % 60 == 0 and major >= 60 else 5)
        return [(major, 0), (minor, 0)]

    def tickStrings(self, values, scale, spacing):  # noqa: N802
        if not self.time_mode or self.logMode:
            return super().tickStrings(values, scale, spacing)
        return [hms_short(v * scale) for v in values]


def _mantissas(px_per_decade: float) -> set[int]:
    if px_per_decade >= 260:
        return set(range(1, 10))
    if px_per_decade >= 110:
        return {1, 2, 3, 5}
    if px_per_decade >= 45:
        return {1, 2, 5}
    if px_per_decade >= 22:
        return {1, 3}
    return {1}


def log_label(x: float) -> str:
    """A tick value of a log axis written out: 0.002, 0.5, 3, 40, 2000, 1e+06."""
    if x == 0 or not math.isfinite(x):
        return ""
    if 1e-4 <= abs(x) < 1e5:
        return f"{x:.4g}"
    return f"{x:.0e}"


class LogAxis(pg.AxisItem):
    """A left axis whose log-mode ticks are all readable (see the module's doc)."""

    def __init__(self, orientation: str = "left", **kw):
        super().__init__(orientation, **kw)
        self.enableAutoSIPrefix(False)

    def _px_per_decade(self) -> float:
        lo, hi = self.range
        length = self.geometry().height() if self.orientation in ("left", "right") else self.geometry().width()
        return length / max(hi - lo, 1e-9)

    def label_for(self, value: float, px_per_decade: float, spacing=None) -> str:
        """The label of a log-mode tick at log10 value `value` ('' for a minor tick without room)."""
        e = math.floor(value + 1e-9)
        m = round(10 ** (value - e), 6)
        keep = _mantissas(px_per_decade)
        if spacing is not None and spacing >= 1 and abs(m - 1) < 1e-6:
            every = max(1, int(round(spacing)))
            if px_per_decade * every < 22 and e % (2 * every):
                return ""
            return log_label(10.0 ** e)
        if not any(abs(m - k) < 1e-3 for k in keep):
            return ""
        return log_label(m * 10.0 ** e)

    def logTickStrings(self, values, scale, spacing):  # noqa: N802
        ppd = self._px_per_decade()
        return [self.label_for(v, ppd, spacing) for v in values]
