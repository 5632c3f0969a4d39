"""The step columns of a run (numpy only, no Qt): growable float64 `Series` with amortised O(1) append, the
conversion of event values to float64 (read as engine.contract.events.number reads them), and NaN-skipping
last / max helpers. cramgui.run_state fills one `Series` from the step events."""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from engine.contract.events import number

STEP_COLUMNS = ("step", "elapsed", "loss", "lr", "tokens_per_s", "progress", "grad_norm", "mfu", "tokens", "epoch",
                "max_memory_allocated", "max_memory_reserved")


class Series:
    """Growable float64 columns with amortised O(1) append. `view(name)` is the filled part (no copy).

    `generation` changes whenever rows are removed (clear/truncate), so an observer that keeps derived arrays
    incrementally (an EMA, say) knows it must recompute from scratch."""

    def __init__(self, columns: Iterable[str] = STEP_COLUMNS, capacity: int = 1024):
        self.columns = tuple(columns)
        self._cap = max(16, int(capacity))
        self._data = {c: np.full(self._cap, np.nan) for c in self.columns}
        self._n = 0
        self.generation = 0

    def __len__(self) -> int:
        return self._n

    def view(self, name: str) -> np.ndarray:
        return self._data[name][: self._n]

    def _reserve(self, extra: int) -> None:
        need = self._n + extra
        if need <= self._cap:
            return
        cap = self._cap
        while cap < need:
            cap *= 2
        for c in self.columns:
            arr = np.full(cap, np.nan)
            arr[: self._n] = self._data[c][: self._n]
            self._data[c] = arr
        self._cap = cap

    def extend(self, cols: dict[str, Any]) -> int:
        """Append rows given column -> sequence (missing columns are NaN; None becomes NaN). Returns rows added."""
        k = 0
        arrays = {}
        for c in self.columns:
            if c in cols:
                a = _column(cols[c])
                arrays[c] = a
                k = max(k, len(a))
        if k == 0:
            return 0
        self._reserve(k)
        lo, hi = self._n, self._n + k
        for c in self.columns:
            a = arrays.get(c)
            if a is None or len(a) != k:
                self._data[c][lo:hi] = np.nan
                if a is not None:
                    self._data[c][lo:lo + len(a)] = a
            else:
                self._data[c][lo:hi] = a
        self._n = hi
        return k

    def append(self, **values: Any) -> None:
        self.extend({k: [v] for k, v in values.items()})

    def truncate(self, n: int) -> None:
        n = max(0, min(int(n), self._n))
        if n != self._n:
            for c in self.columns:
                self._data[c][n: self._n] = np.nan
            self._n = n
            self.generation += 1

    def clear(self) -> None:
        self.truncate(0)
        self.generation += 1


def _column(values: Any) -> np.ndarray:
    """A column of event values as float64, each read as engine.contract.events.number reads it (NaN for missing,
    null, bool, text and non-finite values); numbers only, the common case, in one numpy conversion."""
    if isinstance(values, np.ndarray):
        a = values.astype(np.float64, copy=False).reshape(-1) if values.dtype.kind in "iuf" else None
    else:
        values = list(values)
        a = np.asarray(values, dtype=np.float64) if set(map(type, values)) <= _PLAIN else None
    if a is None:
        return np.array([math.nan if (v := number(x)) is None else v for x in values], dtype=np.float64)
    if not np.isfinite(a).all():
        a = np.where(np.isfinite(a), a, np.nan)
    return a


_PLAIN = {float, int, type(None)}


def _last_finite(a: np.ndarray) -> float | None:
    if len(a) == 0:
        return None
    tail = a[-256:]
    ok = np.flatnonzero(np.isfinite(tail))
    if len(ok):
        return float(tail[ok[-1]])
    ok = np.flatnonzero(np.isfinite(a))
    return float(a[ok[-1]]) if len(ok) else None


def _max_finite(a: np.ndarray) -> float | None:
    ok = a[np.isfinite(a)] if len(a) else a
    return float(ok.max()) if len(ok) else None
