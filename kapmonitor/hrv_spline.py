"""Cubic spline interpolation in numpy, for the RR tachogram (no scipy in the core).

One interpolating cubic spline with *not-a-knot* end conditions: the third derivative is
continuous at the second and the second-to-last knot, so the first two and the last two pieces
are each one cubic. These are the end conditions of ``scipy.interpolate.interp1d(kind="cubic")``
and ``make_interp_spline(k=3)``, which neurokit2 and Kubios-style HRV tools use to resample RR
intervals, so the 4 Hz tachogram here is the same curve as theirs (to rounding).

Method: the second derivatives ``M`` at the knots solve the usual tridiagonal continuity system;
the two not-a-knot rows are eliminated into the first and last interior rows, which keeps the
system tridiagonal, and it is solved by the Thomas algorithm (O(n), stable here because the
interior rows are diagonally dominant). Three knots give the parabola through them, two the
straight line, one a constant (what ``make_interp_spline`` does with too few points for a cubic).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["cubic_spline"]

FloatArray = npt.NDArray[np.float64]


def _second_derivatives(x: FloatArray, y: FloatArray) -> FloatArray:
    """``M`` at every knot of the not-a-knot spline through (x, y); needs at least 4 knots."""
    n = x.size
    h = np.diff(x)
    slope = np.diff(y) / h
    rhs = 6.0 * np.diff(slope)  # one row per interior knot 1..n-2
    m = n - 2
    lower = h[:-1].copy()  # coefficient of M[i-1] in row i
    diag = 2.0 * (h[:-1] + h[1:])
    upper = h[1:].copy()  # coefficient of M[i+1] in row i
    # not-a-knot at knot 1: M0 = ((h0 + h1) M1 - h0 M2) / h1, substituted into row 1
    h0, h1 = h[0], h[1]
    diag[0] += h0 * (h0 + h1) / h1
    upper[0] -= h0 * h0 / h1
    # not-a-knot at knot n-2: M[n-1] = ((h[-1] + h[-2]) M[n-2] - h[-1] M[n-3]) / h[-2]
    ha, hb = h[-2], h[-1]
    diag[-1] += hb * (ha + hb) / ha
    lower[-1] -= hb * hb / ha
    # Thomas algorithm on rows 0..m-1 (knots 1..n-2). The recurrence runs on Python floats: the
    # same IEEE double operations in the same order as on numpy scalars, several times faster.
    low, dia, up, r = lower.tolist(), diag.tolist(), upper.tolist(), rhs.tolist()
    c = [0.0] * m
    d = [0.0] * m
    c_prev, d_prev = up[0] / dia[0], r[0] / dia[0]
    c[0], d[0] = c_prev, d_prev
    for i in range(1, m):
        denom = dia[i] - low[i] * c_prev
        c_prev = up[i] / denom
        d_prev = (r[i] - low[i] * d_prev) / denom
        c[i], d[i] = c_prev, d_prev
    solved = [0.0] * m
    solved[-1] = after = d[-1]
    for i in range(m - 2, -1, -1):
        solved[i] = after = d[i] - c[i] * after
    interior = np.array(solved)
    out = np.empty(n)
    out[1:-1] = interior
    out[0] = ((h0 + h1) * interior[0] - h0 * interior[1]) / h1
    out[-1] = ((ha + hb) * interior[-1] - hb * interior[-2]) / ha
    return out


def cubic_spline(x: npt.ArrayLike, y: npt.ArrayLike, x_new: npt.ArrayLike) -> FloatArray:
    """Values at ``x_new`` of the not-a-knot cubic spline through the knots (x, y).

    Args:
        x: knot positions, strictly increasing (e.g. beat times in seconds).
        y: values at the knots (e.g. RR intervals in ms).
        x_new: where to evaluate. Points outside ``[x[0], x[-1]]`` take the end piece's
            polynomial (extrapolation); callers here only evaluate inside.

    Returns:
        A new float64 array shaped like ``x_new``.

    Raises:
        ValueError: ``x`` and ``y`` differ in length, are empty, or ``x`` is not strictly increasing.
    """
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    xn = np.asarray(x_new, dtype=np.float64)
    if xs.ndim != 1 or xs.shape != ys.shape or xs.size == 0:
        raise ValueError(f"need matching one-dimensional knots, got x {xs.shape} and y {ys.shape}")
    if np.any(np.diff(xs) <= 0):
        raise ValueError("knot positions must be strictly increasing")
    if xs.size == 1:
        return np.full(xn.shape, ys[0])
    if xs.size <= 3:
        return np.asarray(np.polyval(np.polyfit(xs, ys, xs.size - 1), xn), dtype=np.float64)
    m = _second_derivatives(xs, ys)
    i = np.clip(np.searchsorted(xs, xn, side="right") - 1, 0, xs.size - 2)
    x0, x1 = xs[i], xs[i + 1]
    h = x1 - x0
    a, b = x1 - xn, xn - x0
    return np.asarray(
        (m[i] * a**3 + m[i + 1] * b**3) / (6.0 * h)
        + (ys[i] / h - m[i] * h / 6.0) * a
        + (ys[i + 1] / h - m[i + 1] * h / 6.0) * b,
        dtype=np.float64,
    )
