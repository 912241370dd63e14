"""Downsampling a time series to about the number of pixels it is drawn on.

Charts never draw millions of raw points (DESIGN.md: a full matplotlib draw of 1M points takes
85-380 ms; ~2,000 points take ~30-45 ms). Two methods, both returning indices into the input,
in ascending order, so the caller keeps its x values, run ids and statuses aligned:

* `min_max_indices`: per bucket, the lowest and the highest point. Keeps every spike (a metric
  that crossed a threshold once still shows), at two points per bucket. For dense series.
* `lttb_indices`: Largest-Triangle-Three-Buckets (Steinarsson 2013): per bucket, the point that
  forms the largest triangle with the previous choice and the next bucket's average. Keeps the
  visual shape with one point per bucket. For line charts of moderate length.

Missing values (NaN) are never chosen; the first and last valid points always are.
"""

from __future__ import annotations

import numpy as np


def _valid(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError("x and y must be one-dimensional and of the same length")
    return np.flatnonzero(np.isfinite(x) & np.isfinite(y))


def min_max_indices(x, y, buckets: int) -> np.ndarray:
    """At most ``2 * buckets`` indices: each bucket's minimum and maximum, plus both ends."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    valid = _valid(x, y)
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    if len(valid) <= 2 * buckets:
        return valid
    values = y[valid]
    edges = np.linspace(0, len(valid), buckets + 1).astype(np.int64)
    starts = edges[:-1]
    lowest = np.minimum.reduceat(values, starts)
    highest = np.maximum.reduceat(values, starts)
    bucket_of = np.repeat(np.arange(buckets), np.diff(edges))
    # The first position in each bucket that holds its minimum (maximum).
    is_low = values == lowest[bucket_of]
    is_high = values == highest[bucket_of]
    low_pos = _first_true_per_bucket(is_low, bucket_of, buckets)
    high_pos = _first_true_per_bucket(is_high, bucket_of, buckets)
    chosen = np.unique(np.concatenate([[0, len(valid) - 1], low_pos, high_pos]))
    return valid[chosen]


def _first_true_per_bucket(flags: np.ndarray, bucket_of: np.ndarray,
                           buckets: int) -> np.ndarray:
    positions = np.flatnonzero(flags)
    first = np.full(buckets, -1, dtype=np.int64)
    # Reversed assignment leaves the smallest position of each bucket in place.
    first[bucket_of[positions[::-1]]] = positions[::-1]
    return first[first >= 0]


def lttb_indices(x, y, threshold: int) -> np.ndarray:
    """``threshold`` indices (fewer when there are fewer valid points) chosen by LTTB."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    valid = _valid(x, y)
    if threshold < 3:
        raise ValueError("threshold must be at least 3 (both ends and one point between)")
    n = len(valid)
    if n <= threshold:
        return valid
    xs, ys = x[valid], y[valid]
    # Buckets over the points between the two ends, as in the reference algorithm.
    # Exact integer floors of k * (n - 2) / (threshold - 2): bucket k starts at edges[k].
    edges = np.arange(threshold - 1, dtype=np.int64) * (n - 2) // (threshold - 2) + 1
    chosen = np.empty(threshold, dtype=np.int64)
    chosen[0], chosen[-1] = 0, n - 1
    previous = 0
    for bucket in range(threshold - 2):
        start, stop = edges[bucket], edges[bucket + 1]
        if bucket + 2 < len(edges):
            next_start, next_stop = edges[bucket + 1], edges[bucket + 2]
            average_x = xs[next_start:next_stop].mean()
            average_y = ys[next_start:next_stop].mean()
        else:
            average_x, average_y = xs[n - 1], ys[n - 1]
        px, py = xs[previous], ys[previous]
        areas = np.abs((px - average_x) * (ys[start:stop] - py)
                       - (px - xs[start:stop]) * (average_y - py))
        previous = start + int(np.argmax(areas))
        chosen[bucket + 1] = previous
    return valid[chosen]
