"""Growable, preallocated (x, y) sample buffer for live plots.

PITFALLS #6: rebuilding a numpy array from a Python list every frame costs
~50 ms at a million points. :class:`RingBuffer` keeps two preallocated float64
arrays and hands out *views* of the filled part (no copy), doubling capacity
when full (amortised O(1) append). It is not circular: a session keeps its
whole history (a 4-hour session at 1 Hz is ~15 k points per stream), and the
live view asks for a time window with :meth:`RingBuffer.since`, an O(log n)
slice.

Gaps: when consecutive x values are further apart than ``gap_x``, a row with
``y = NaN`` is inserted between them, which pyqtgraph draws as a break in the
line -- a lost signal must look lost, not be bridged by a straight line. x
stays finite (the gap row sits just after the last sample), so the x column
remains sorted for clipping and searching.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["RingBuffer"]

F64 = npt.NDArray[np.float64]


class RingBuffer:
    """Append-only sorted (x, y) samples with NaN gap markers.

    Args:
        capacity: initial number of rows preallocated (grows by doubling).
        gap_x: insert a NaN row when the x step exceeds this (None: never).

    Samples must arrive in non-decreasing x; a sample older than the last one
    is rejected with ``ValueError`` (the caller decides whether to drop it),
    because the plots rely on sorted x for clipping.
    """

    __slots__ = ("_n", "_x", "_y", "gap_x", "version")

    def __init__(self, capacity: int = 1024, gap_x: float | None = None) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        if gap_x is not None and not gap_x > 0:
            raise ValueError(f"gap_x must be positive or None, got {gap_x!r}")
        self._x: F64 = np.empty(capacity, dtype=np.float64)
        self._y: F64 = np.empty(capacity, dtype=np.float64)
        self._n = 0
        self.gap_x = gap_x
        self.version = 0
        """Incremented on every change; a consumer redraws only when it moved."""

    def __len__(self) -> int:
        return self._n

    @property
    def capacity(self) -> int:
        return int(self._x.shape[0])

    @property
    def x(self) -> F64:
        """View of the filled x values (no copy; valid until the next append)."""
        return self._x[: self._n]

    @property
    def y(self) -> F64:
        """View of the filled y values (NaN rows mark gaps)."""
        return self._y[: self._n]

    @property
    def last_x(self) -> float | None:
        return float(self._x[self._n - 1]) if self._n else None

    def last_finite(self) -> tuple[float, float] | None:
        """The most recent (x, y) that is not a gap marker."""
        for i in range(self._n - 1, -1, -1):
            if not math.isnan(self._y[i]):
                return float(self._x[i]), float(self._y[i])
        return None

    def _reserve(self, extra: int) -> None:
        need = self._n + extra
        if need <= self.capacity:
            return
        new_cap = self.capacity
        while new_cap < need:
            new_cap *= 2
        for name in ("_x", "_y"):
            old = getattr(self, name)
            grown = np.empty(new_cap, dtype=np.float64)
            grown[: self._n] = old[: self._n]
            setattr(self, name, grown)

    def append(self, x: float, y: float) -> None:
        """Add one sample (x non-decreasing), inserting a NaN gap row when needed."""
        if math.isnan(x):
            raise ValueError("x must be a number, got NaN")
        last = self.last_x
        if last is not None and x < last:
            raise ValueError(f"samples must arrive in time order: x={x} is before the last x={last}")
        self._reserve(2)
        if last is not None and self.gap_x is not None and x - last > self.gap_x:
            self._x[self._n] = last + min(self.gap_x, (x - last) / 2)
            self._y[self._n] = math.nan
            self._n += 1
        self._x[self._n] = x
        self._y[self._n] = y
        self._n += 1
        self.version += 1

    def append_gap(self, x: float) -> None:
        """Break the line at ``x``: a value arrived there but cannot be drawn (no skin contact,
        an artifact, nonsense). Consecutive gaps collapse into one row."""
        if math.isnan(x):
            raise ValueError("x must be a number, got NaN")
        last = self.last_x
        if last is not None and x < last:
            raise ValueError(f"samples must arrive in time order: x={x} is before the last x={last}")
        if self._n and math.isnan(self._y[self._n - 1]):
            return
        self._reserve(1)
        self._x[self._n] = x
        self._y[self._n] = math.nan
        self._n += 1
        self.version += 1

    def extend(self, xs: npt.ArrayLike, ys: npt.ArrayLike) -> None:
        """Add many samples at once (e.g. history loaded from the store), with gap rows."""
        x_arr = np.asarray(xs, dtype=np.float64)
        y_arr = np.asarray(ys, dtype=np.float64)
        if x_arr.shape != y_arr.shape or x_arr.ndim != 1:
            raise ValueError(
                f"x and y must be 1-d arrays of equal length, got {x_arr.shape} and {y_arr.shape}")
        if x_arr.size == 0:
            return
        if np.isnan(x_arr).any():
            raise ValueError("x must not contain NaN")
        if np.any(np.diff(x_arr) < 0) or (self._n and x_arr[0] < self._x[self._n - 1]):
            raise ValueError("samples must arrive in time order (x non-decreasing)")
        if self.gap_x is not None:
            prev = np.concatenate(([self._x[self._n - 1]] if self._n else [x_arr[0]], x_arr[:-1]))
            gaps = np.nonzero(x_arr - prev > self.gap_x)[0]
            if gaps.size:
                gap_x = prev[gaps] + np.minimum(self.gap_x, (x_arr[gaps] - prev[gaps]) / 2)
                x_arr = np.insert(x_arr, gaps, gap_x)
                y_arr = np.insert(y_arr, gaps, np.nan)
        self._reserve(x_arr.size)
        self._x[self._n: self._n + x_arr.size] = x_arr
        self._y[self._n: self._n + y_arr.size] = y_arr
        self._n += x_arr.size
        self.version += 1

    def since(self, x_from: float, pad: int = 1) -> tuple[F64, F64]:
        """Views of the samples with x >= ``x_from``, plus ``pad`` earlier rows (O(log n))."""
        start = int(np.searchsorted(self.x, x_from, side="left"))
        start = max(0, start - pad)
        return self._x[start: self._n], self._y[start: self._n]

    def shift_x(self, delta: float) -> None:
        """Add ``delta`` to every x (re-anchoring the time axis, e.g. when the dose is given)."""
        self._x[: self._n] += delta
        self.version += 1

    def clear(self) -> None:
        self._n = 0
        self.version += 1
