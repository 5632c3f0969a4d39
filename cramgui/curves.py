"""Plot data kept incrementally for the live plots (numpy only, no Qt): the exact vectorised EMA, growable
columns, per-chunk min / max tracks, and pixel-column decimation (see cramgui.plots for how they are used)."""
from __future__ import annotations

import itertools
import math

import numpy as np

CHUNK = 32                       # points per chunk whose min / max positions are kept
DECIMATE_ABOVE = 20_000          # a curve with more points than this in view is decimated (pixel column min / max)

# -- EMA --------------------------------------------------------------------------------------------------------
_EMA_LOOP = 64                   # below this many points a plain loop is fastest
_EMA_BLOCK = 199                 # points per block of the vectorised recurrence (not a power of two: the transpose)
_ema_scratch = np.empty(0)       # reused between calls: fresh megabytes cost page faults, more than the arithmetic


def ema(x: np.ndarray, alpha: float, init: float | None = None, *, out: np.ndarray | None = None) -> np.ndarray:
    """y[t] = alpha * y[t-1] + (1 - alpha) * x[t], y[-1] = init (default: x[0], so y[0] = x[0]); x must be finite.
    Written to `out` (a float64 array of len(x)) when given.

    Vectorised without any rescaling, so as exact as the plain loop for every alpha: the series is cut into blocks
    of B points laid out as the columns of a (B, n/B) array; one pass over its B rows runs the recurrence inside all
    blocks at once, each block starting from 0. Block k then needs a^(j+1) * s_k added, s_k being the value just
    before it, and the s_k obey the same kind of recurrence, s_(k+1) = a^B * s_k + (block k's last value from 0),
    over n/B items, solved by this function again."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    n = len(x)
    if out is None:
        out = np.empty(n)
    elif out.shape != (n,) or out.dtype != np.float64:
        raise ValueError("out must be a float64 array of len(x)")
    if n:
        _ema_into(x, float(alpha), float(x[0]) if init is None else float(init), out, True)
    return out


def _ema_into(x: np.ndarray, a: float, s: float, out: np.ndarray, reuse: bool) -> None:
    global _ema_scratch
    n = len(x)
    if a <= 0.0:
        out[:] = x
        return
    if a >= 1.0:
        out[:] = s
        return
    b = 1.0 - a
    if n <= _EMA_LOOP:
        for i, v in enumerate(x.tolist()):
            s = a * s + b * v
            out[i] = s
        return
    B = _EMA_BLOCK if n >= 4 * _EMA_BLOCK else max(8, math.isqrt(n))
    nb = n // B
    m = nb * B
    if reuse:
        if len(_ema_scratch) < m:
            _ema_scratch = np.empty(max(m, 2 * len(_ema_scratch)))
        z = _ema_scratch[:m].reshape(B, nb)
    else:
        z = np.empty((B, nb))
    np.multiply(x[:m].reshape(nb, B).T, b, out=z)           # z[j, k] = (1 - a) * point j of block k
    tmp = np.empty(nb)
    for j in range(1, B):                                    # the recurrence inside every block, from 0
        np.multiply(z[j - 1], a, out=tmp)
        z[j] += tmp
    carry = np.empty(nb)                                     # s_k: the value just before block k
    carry[0] = s
    A = a ** B
    if nb > 1:
        # s_(k+1) = A s_k + c_k  is an EMA with alpha A of c / (1 - A), started at s_0
        _ema_into(z[-1, :-1] / (1.0 - A), A, s, carry[1:], False)
    p = 1.0
    for j in range(B):                                       # + a^(j+1) s_k
        p *= a
        if p < 1e-300:
            break
        np.multiply(carry, p, out=tmp)
        z[j] += tmp
    out[:m].reshape(nb, B)[:] = z.T
    if m < n:
        _ema_into(x[m:], a, float(out[m - 1]), out[m:], False)


def debias(biased: np.ndarray, alpha: float, start: int = 0) -> np.ndarray:
    """Adam's bias correction of an EMA started at 0: point t (counted from `start`) divided by 1 - alpha^(t+1).
    The first points are then averages of what came so far, not pulled toward 0 or toward the first value."""
    n = len(biased)
    if n == 0 or alpha <= 0.0:
        return np.array(biased, dtype=np.float64)
    t = np.arange(start + 1, start + n + 1, dtype=np.float64)
    with np.errstate(under="ignore"):
        corr = -np.expm1(t * math.log(alpha)) if alpha < 1.0 else np.full(n, math.nan)
    return biased / corr


def smooth(y, alpha: float) -> np.ndarray:
    """The smoothing of every loss curve of the console (Training and Compare): a de-biased EMA, y_s[t] = ema[t] /
    (1 - alpha^(t+1)) with ema started at 0 (Adam-style), so the curve starts at the data, not at a biased first
    value. Non-finite points are skipped (they stay NaN in the output) and do not reset the average."""
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    out = np.full(len(y), np.nan)
    ok = np.isfinite(y)
    if ok.any():
        v = y[ok]
        out[ok] = debias(ema(v, alpha, 0.0), alpha)
    return out


# -- incremental data -------------------------------------------------------------------------------------------
class _Grow:
    """A growable 1-D array (amortised O(1) append of chunks)."""

    def __init__(self, dtype=np.float64):
        self.a = np.empty(1024, dtype=dtype)
        self.n = 0

    def reserve(self, need: int) -> None:
        if need > len(self.a):
            cap = len(self.a)
            while cap < need:
                cap *= 2
            b = np.empty(cap, dtype=self.a.dtype)
            b[: self.n] = self.a[: self.n]
            self.a = b

    def extend(self, chunk: np.ndarray) -> None:
        need = self.n + len(chunk)
        self.reserve(need)
        self.a[self.n:need] = chunk
        self.n = need

    def view(self) -> np.ndarray:
        return self.a[: self.n]


_versions = itertools.count(1)


class _Track:
    """The y values of one curve and, for every full CHUNK of its points, the positions of their min and max.
    `version` is new (unique) after every change."""

    def __init__(self):
        self.y = _Grow()
        self.amin = _Grow(np.int64)
        self.amax = _Grow(np.int64)
        self.cmin = _Grow()                               # the chunks' min and max values
        self.cmax = _Grow()
        self.lo, self.hi = math.inf, -math.inf
        self.version = next(_versions)

    def extend(self, y: np.ndarray) -> None:
        if len(y):
            self.y.extend(y)
            self.lo = min(self.lo, float(y.min()))
            self.hi = max(self.hi, float(y.max()))
            self.version = next(_versions)
            self._chunks()

    def extent(self) -> tuple[float, float]:
        """(min, max) of y."""
        return self.lo, self.hi

    def replace(self, y: np.ndarray) -> None:
        self.y.n = self.amin.n = self.amax.n = self.cmin.n = self.cmax.n = 0
        self.lo, self.hi = math.inf, -math.inf
        self.version = next(_versions)
        self.extend(y)

    def _chunks(self) -> None:
        n = self.y.n
        have, full = self.amin.n, n // CHUNK
        if full > have:
            blk = self.y.a[have * CHUNK: full * CHUNK].reshape(-1, CHUNK)
            base = np.arange(have * CHUNK, full * CHUNK, CHUNK, dtype=np.int64)
            lo, hi = blk.argmin(axis=1), blk.argmax(axis=1)
            self.amin.extend(lo + base)
            self.amax.extend(hi + base)
            rows = np.arange(len(blk))
            self.cmin.extend(blk[rows, lo])
            self.cmax.extend(blk[rows, hi])
        self.y.a[n: -(-n // CHUNK) * CHUNK] = 0.0          # the last chunk's unused slots: finite, never chosen


class _Series:
    """The points of one or more curves drawn over the same x values (all finite), kept incrementally; `ordered`
    while x never decreases (which decimating by x range needs)."""

    def __init__(self, ntracks: int = 1):
        self.x = _Grow()
        self.tracks = [_Track() for _ in range(ntracks)]
        self.ordered = True

    def __len__(self) -> int:
        return self.x.n

    def extend(self, x: np.ndarray, *ys: np.ndarray) -> None:
        if not len(x):
            return
        if self.ordered:
            prev = self.x.a[self.x.n - 1] if self.x.n else -np.inf
            self.ordered = bool(x[0] >= prev and (len(x) < 2 or (x[1:] >= x[:-1]).all()))
        self.x.extend(x)
        for t, y in zip(self.tracks, ys):
            t.extend(y)


class _LossCache:
    """The plottable (finite, > 0) training losses in row order, their EMA (started at 0, so the shown, de-biased
    value is ema / (1 - alpha^(t+1)): `smooth`), and the series drawn: the plottable points whose x is finite
    (tracks: raw loss, de-biased EMA). All kept incrementally."""

    def __init__(self):
        self.reset(None, 0.9)

    def reset(self, key, alpha: float) -> None:
        self.key = key                   # (generation, x mode)
        self.alpha = alpha
        self.done = 0                    # rows of the step series processed
        self.hidden = 0                  # rows whose loss cannot be drawn on a log axis
        self.loss = _Grow()              # plottable losses
        self.ema = _Grow()               # their EMA from 0 (biased)
        self.keep: _Grow | None = None   # positions in `loss` of the points drawn, once some x was not finite
        self.series = _Series(2)

    def update(self, loss: np.ndarray, x: np.ndarray, generation, alpha: float, x_mode: str) -> None:
        key = (generation, x_mode)
        if key != self.key or len(loss) < self.done:
            self.reset(key, alpha)
        if alpha != self.alpha:          # smoothing changed: the EMA of everything so far, again
            self.alpha = alpha
            self.ema.reserve(self.loss.n)
            e = debias(ema(self.loss.view(), alpha, 0.0, out=self.ema.a[: self.loss.n]), alpha)
            self.series.tracks[1].replace(e if self.keep is None else e[self.keep.view()])
        if len(loss) == self.done:
            return
        chunk = loss[self.done:]
        ok = np.isfinite(chunk) & (chunk > 0)
        if ok.all():
            lv, xv = chunk, x[self.done:]
        else:
            rows = np.flatnonzero(ok) + self.done
            lv, xv = loss[rows], x[rows]
        self.hidden += int(len(chunk) - len(lv))
        self.done = len(loss)
        if not len(lv):
            return
        base = self.loss.n
        init = self.ema.a[base - 1] if base else 0.0
        self.loss.extend(lv)
        self.ema.reserve(self.loss.n)
        e = debias(ema(lv, self.alpha, init, out=self.ema.a[base: self.loss.n]), self.alpha, base)
        self.ema.n = self.loss.n
        fx = np.isfinite(xv)
        if self.keep is None and not fx.all():
            self.keep = _Grow(np.int64)
            self.keep.extend(np.arange(base, dtype=np.int64))
        if self.keep is not None:
            pick = np.flatnonzero(fx)
            self.keep.extend(pick + base)
            xv, lv, e = xv[pick], lv[pick], e[pick]
        self.series.extend(xv, lv, e)


class _XYCache:
    """The points (finite x and y) of one column against x, kept incrementally; y times `scale` (MFU in %), only
    y > 0 when `positive` (a log axis)."""

    def __init__(self, column: str, positive: bool = False, scale: float = 1.0):
        self.column = column
        self.positive = positive
        self.scale = scale
        self.reset(None)

    def reset(self, key) -> None:
        self.key = key
        self.done = 0
        self.series = _Series(1)

    def update(self, x: np.ndarray, y: np.ndarray, generation, x_mode: str) -> None:
        key = (generation, x_mode)
        if key != self.key or len(y) < self.done:
            self.reset(key)
        if len(y) == self.done:
            return
        xs, ys = x[self.done:], y[self.done:]
        ok = np.isfinite(xs) & np.isfinite(ys)
        if self.positive:
            ok &= ys > 0
        if not ok.all():
            xs, ys = xs[ok], ys[ok]
        if self.scale != 1.0:
            ys = ys * self.scale
        self.done = len(y)
        self.series.extend(xs, ys)


# -- decimation -------------------------------------------------------------------------------------------------
def decimate(x: np.ndarray, track: _Track, edges: np.ndarray, over: int = 1) -> slice | np.ndarray:
    """Which points of a track to draw when x is cut into columns at `edges` (sorted; the device pixels of the x
    range shown); x is sorted, column c holds the points with edges[c] <= x < edges[c + 1] (the last one also x =
    edges[-1]).

    Returns a slice (every point in [edges[0], edges[-1]], when there are at most DECIMATE_ABOVE) or sorted indices:
    the first minimum and the first maximum of y in each column (so every column keeps its exact vertical extent),
    the first and last point in the window and one neighbour outside on either side (so the line runs on to the
    plot's edges). With over > 1 each column's points are split, in order, into `over` runs that each keep their
    first min and max: more points per pixel, as dense as drawing every point would be, where that shows (a
    translucent pen). Costs O(columns + chunks in the window) with the track's per-chunk min / max, not O(n)."""
    n = len(x)
    lo = int(np.searchsorted(x, edges[0], "left"))
    hi = int(np.searchsorted(x, edges[-1], "right"))
    a, b = max(lo - 1, 0), min(hi + 1, n)
    if hi - lo <= DECIMATE_ABOVE:
        return slice(a, b)
    bounds = np.empty(len(edges), dtype=np.int64)
    bounds[0], bounds[-1] = lo, hi
    bounds[1:-1] = np.searchsorted(x[lo:hi], edges[1:-1], "left") + lo
    s, e = bounds[:-1], bounds[1:]
    keep = e > s                                          # the columns holding points
    if not keep.all():
        s, e = s[keep], e[keep]
    if over > 1:
        s, e = _split_runs(s, e, over)
    pair = np.sort(np.stack(_extremes(track, s, e), axis=1), axis=1).ravel()
    idx = np.concatenate(([a, lo], pair, [hi - 1, b - 1]))
    return idx[np.concatenate(([True], idx[1:] != idx[:-1]))]


def _split_runs(s: np.ndarray, e: np.ndarray, over: int) -> tuple[np.ndarray, np.ndarray]:
    """Each index range [s, e) split into `over` consecutive runs, cut at chunk boundaries where the runs are long
    enough (then only the ranges' own ends fall inside chunks)."""
    w = e - s
    cut = s[:, None] + (w[:, None] * np.arange(over + 1)) // over
    snap = w >= 2 * over * CHUNK
    if snap.any():
        inner = cut[snap, 1:-1]
        cut[snap, 1:-1] = np.clip((inner + CHUNK // 2) // CHUNK * CHUNK, s[snap, None], e[snap, None])
    rs, re = cut[:, :-1].ravel(), cut[:, 1:].ravel()
    keep = re > rs
    return rs[keep], re[keep]


def _piece_masks(c: int) -> np.ndarray:
    """Row p0 * (c + 1) + p1 is 0 on [p0, p1) and +inf elsewhere: the part of a chunk's c points to look at."""
    j = np.arange(c)
    p0 = np.repeat(np.arange(c + 1), c + 1)[:, None]
    p1 = np.tile(np.arange(c + 1), c + 1)[:, None]
    return np.where((j >= p0) & (j < p1), 0.0, np.inf)


_PIECE = _piece_masks(CHUNK)


def _extremes(track: _Track, s: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the first minimum and the first maximum of track.y in each range [s[i], e[i]) (sorted, disjoint,
    non-empty). A range is the whole chunks it covers (their min / max are kept) plus at most two pieces of chunks:
    the points before them (left) and after them (right); a range within one chunk is a single (left) piece."""
    C = CHUNK
    m = len(s)
    nfull = track.amin.n                                  # chunks whose min / max are kept
    kf = np.minimum(-(-s // C), nfull)                    # first whole chunk
    kl = e // C                                           # one past the last
    span = kf <= kl                                       # the range reaches a chunk boundary
    kl = np.where(span, kl, kf)
    left_end = np.where(span, np.minimum(kf * C, e), e)
    right_start = np.maximum(kl * C, s)
    lk = np.flatnonzero(s < left_end)
    rk = np.flatnonzero(span & (e > right_start))
    wk = np.flatnonzero(kl > kf)
    # the pieces: the points of their chunk, +inf outside the piece
    chunk = np.concatenate((s[lk] // C, kl[rk]))
    base = chunk * C
    p0 = np.concatenate((s[lk], right_start[rk])) - base
    p1 = np.concatenate((left_end[lk], e[rk])) - base
    y = track.y.a
    rows = y[: (int(chunk.max()) + 1) * C].reshape(-1, C)[chunk] if len(chunk) else np.empty((0, C))
    mask = _PIECE[p0 * (C + 1) + p1]
    nl = len(lk)
    if len(wk):                                           # whole chunks: segments of the chunk index range
        k0, k1 = int(kf[wk[0]]), int(kl[wk[-1]])
        starts = np.empty(2 * len(wk) - 1, dtype=np.int64)   # the whole ranges, and the gaps between them
        starts[0::2] = kf[wk] - k0
        starts[1::2] = kl[wk[:-1]] - k0
        segment = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, k1 - k0)))
    out = []
    for sign, cval, cpos in ((1.0, track.cmin, track.amin), (-1.0, track.cmax, track.amax)):
        z = rows + mask if sign > 0 else mask - rows      # minimise sign * y
        at = z.argmin(axis=1)
        pv = z[np.arange(len(z)), at]
        pi = base + at
        best_v = np.full(m, np.inf)
        best_i = np.zeros(m, dtype=np.int64)
        # in the order of the points (left piece, whole chunks, right piece) a later part wins only when smaller:
        # the first extreme of the range
        best_v[lk] = pv[:nl]
        best_i[lk] = pi[:nl]
        if len(wk):
            cv = cval.a[k0:k1] if sign > 0 else -cval.a[k0:k1]
            target = np.full(len(starts), np.nan)
            target[0::2] = np.minimum.reduceat(cv, starts)[0::2]
            hit = np.flatnonzero(cv == target[segment])
            hs = segment[hit]
            first = hit[np.concatenate(([True], hs[1:] != hs[:-1]))]    # the first chunk reaching it
            better = cv[first] < best_v[wk]
            best_v[wk] = np.where(better, cv[first], best_v[wk])
            best_i[wk] = np.where(better, cpos.a[first + k0], best_i[wk])
        better = pv[nl:] < best_v[rk]
        best_v[rk] = np.where(better, pv[nl:], best_v[rk])
        best_i[rk] = np.where(better, pi[nl:], best_i[rk])
        out.append(best_i)
    return out[0], out[1]
