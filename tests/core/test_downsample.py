"""Downsampling for charts: LTTB against a direct transcription of the published algorithm,
min-max keeps every extreme, both skip NaN and keep the ends."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelledger.core.downsample import lttb_indices, min_max_indices


def reference_lttb(x, y, threshold):
    """Steinarsson's LTTB, point by point (bucket bounds as exact integer floors)."""
    n = len(x)
    if n <= threshold:
        return list(range(n))
    chosen, a = [0], 0
    for i in range(threshold - 2):
        start = i * (n - 2) // (threshold - 2) + 1
        stop = (i + 1) * (n - 2) // (threshold - 2) + 1
        next_stop = min((i + 2) * (n - 2) // (threshold - 2) + 1, n)
        if i == threshold - 3:
            avg_x, avg_y = x[n - 1], y[n - 1]
        else:
            avg_x = sum(x[stop:next_stop]) / (next_stop - stop)
            avg_y = sum(y[stop:next_stop]) / (next_stop - stop)
        best, best_area = start, -1.0
        for j in range(start, stop):
            area = abs((x[a] - avg_x) * (y[j] - y[a]) - (x[a] - x[j]) * (avg_y - y[a]))
            if area > best_area:
                best, best_area = j, area
        chosen.append(best)
        a = best
    chosen.append(n - 1)
    return chosen


@settings(max_examples=60, deadline=None)
@given(st.integers(5, 400), st.integers(3, 60), st.integers(0, 10_000))
def test_lttb_matches_the_published_algorithm(n, threshold, seed):
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.uniform(0.1, 2.0, n))
    y = rng.normal(0, 1, n).cumsum()
    assert lttb_indices(x, y, threshold).tolist() == reference_lttb(x.tolist(), y.tolist(),
                                                                    threshold)


def test_lttb_size_ends_and_order_on_a_million_points():
    x = np.arange(1_000_000, dtype=float)
    y = np.sin(x / 5_000) + np.random.default_rng(1).normal(0, 0.1, len(x))
    chosen = lttb_indices(x, y, 2_000)
    assert len(chosen) == 2_000 and chosen[0] == 0 and chosen[-1] == len(x) - 1
    assert np.all(np.diff(chosen) > 0)


def test_min_max_keeps_every_spike_and_the_ends():
    rng = np.random.default_rng(2)
    y = rng.normal(0, 1, 1_000_000)
    spikes = [123_456, 777_777]
    y[spikes[0]], y[spikes[1]] = 50.0, -50.0
    x = np.arange(len(y), dtype=float)
    chosen = min_max_indices(x, y, 1_000)
    assert len(chosen) <= 2_002 and set(spikes) <= set(chosen.tolist())
    assert chosen[0] == 0 and chosen[-1] == len(y) - 1 and np.all(np.diff(chosen) > 0)
    # Every bucket's extremes are kept: the chosen points span the same range per bucket.
    for bucket in np.array_split(np.arange(len(y)), 1_000)[:50]:
        kept = chosen[(chosen >= bucket[0]) & (chosen <= bucket[-1])]
        assert y[kept].max() == y[bucket].max() and y[kept].min() == y[bucket].min()


def test_missing_values_are_never_chosen():
    x = np.arange(100, dtype=float)
    y = np.where(np.arange(100) % 7 == 0, np.nan, np.arange(100.0))
    for chosen in (lttb_indices(x, y, 10), min_max_indices(x, y, 5)):
        assert not np.isnan(y[chosen]).any()
        assert chosen[0] == 1 and chosen[-1] == 99


def test_short_series_are_returned_whole():
    x, y = np.arange(4.0), np.array([1.0, np.nan, 3.0, 4.0])
    assert lttb_indices(x, y, 10).tolist() == [0, 2, 3]
    assert min_max_indices(x, y, 10).tolist() == [0, 2, 3]
    with pytest.raises(ValueError):
        lttb_indices(x, y, 2)
