"""Data and prediction drift: how far the current data has moved from the reference data.

Choices, and why:

* **PSI is the primary signal.** The Population Stability Index is an effect size: it does not
  grow with the sample size, analysts know its scale (under 0.10 stable, 0.10-0.25 watch, 0.25 or
  more drifted, ``DRIFT_PSI``) and it works the same way for numbers and categories. A feature
  counts as drifted when ``psi >= drift_psi`` and PSI is above its noise floor (below).
* **The reference side is fixed.** Profiles (``profile_column``) are computed once when a monitor
  is created and stored (``to_dict``/``profile_from_dict``). PSI always uses the stored bins and
  reference shares, so later changes to the reference data cannot move the baseline.
* **Numeric bins**: ``PSI_BINS`` equal-frequency bins, cut at the 10%, 20%, ... 90% quantiles of
  the reference (linear interpolation between order statistics), duplicates removed. Bins are
  right-closed: bin *i* holds ``cut[i-1] < x <= cut[i]``, the first one everything up to
  ``cut[0]`` and the last one everything above the last cut. When the lowest cut equals the
  reference minimum (at least 10% of the reference sits on its minimum, e.g. counts that are
  often 0, or a constant column), a cut just below the minimum is added, so values below the
  reference range get a bin of their own (reference share 0) rather than hiding among the
  minimum values. A constant reference thus has the bins "below", "equal" and "above".
* **Categories** are compared as strings. Reference categories under ``RARE_CATEGORY_SHARE`` of
  the non-missing reference values are merged into one ``OTHER`` group, which also takes every
  current category the reference has not kept (unseen or rare). This bounds the number of bins
  (at most 100 kept categories) whatever the cardinality, and keeps PSI away from bins with
  a handful of values. A column with no category of 1% or more (e.g. 100,000 distinct ids)
  compares one group with itself: PSI 0, with a note saying so.
* **Empty bins**: both shares are floored at ``PSI_FLOOR`` (1e-4) before
  ``PSI = sum((q - p) * ln(q / p))``, without renormalising, so an empty bin costs at most about
  ``ln(1e4) = 9.2`` times its share and PSI stays finite.
* **Distance as a tail backstop**: numeric features report the Wasserstein-1 distance divided
  by the standard deviation (ddof=0) of the reference values (a shift in units of the reference
  spread, which catches moves inside a single bin and in the tails); it is ``None`` with a note
  when the reference is constant. Categorical features report the Jensen-Shannon distance,
  base 2 (0 to 1), between the stored reference shares and the current shares over the same
  groups as PSI.
* **p-values are secondary.** With the sample sizes of monitoring, tests flag differences nobody
  cares about (KS rejects almost anything at a million rows), so they never decide ``drifted``;
  they are reported for analysts who want them, with a Benjamini-Hochberg correction across the
  features of one report (``p_value_adjusted``). Numeric: two-sample Kolmogorov-Smirnov, equal to
  ``scipy.stats.ks_2samp`` (two-sided, ``method="auto"``: the exact distribution when neither
  sample has more than 10,000 values, else ``kstwo`` at the effective size n m / (n + m)). Where
  scipy evaluates ``kstwo`` by summing about n terms one at a time (up to a second per column),
  the same sum is computed here in one vectorised step (see ``_kstwo_sf``). Categorical: the
  chi-square test of the 2 x k contingency table of reference and current counts
  (``chi2_contingency``; groups empty on both sides dropped; Yates' correction only for a 2 x 2
  table, as in scipy). This two-sample test accounts for the noise in the reference sample; a
  one-sample test against the reference shares does not, and raises false alarms.
* **Noise floors.** Two samples of one distribution never give PSI or a distance of 0: at 100
  rows the scaled Wasserstein distance of undrifted data is about 0.1, the default threshold.
  So each statistic comes with the value sampling noise alone stays under, with probability
  1 - alpha, at this reference size n and this window size m (``psi_floor``,
  ``distance_floor``), and a feature counts as drifted only above both its threshold and its
  floor. PSI is about (1/n + 1/m) chi2(k - 1) for k bins under no drift, plus p ln(p / PSI_FLOOR)
  for each bin a small window may well leave empty, and the squared Jensen-Shannon distance
  (base 2) about PSI / (8 ln 2): those floors are analytical. The Wasserstein floor is
  simulated: the numeric profile keeps the reference percentiles (``SKETCH_LEVELS``); reference
  and window counts per cell between them are drawn (multinomial, so the cost does not grow
  with n or m) and the distance integrated over the cells, ``NOISE_REPLICATES`` times per
  window-size band (powers of 4 from 16 to 65,536). The mean and variance per band are stored
  in the profile (``distance_noise``); a window takes its band's, scaled to its own size as the
  distance scales (sqrt(1/n + 1/m)), and the upper tail of a log-normal distribution with those
  moments, so that any alpha can be asked for. Profiles stored before sketches existed take
  theirs from the reference values at run time and simulate the one band needed then (a few
  ms). ``alpha`` is the false-alarm budget of a whole run (``NOISE_BUDGET``) shared among its
  checks.
* **Missing values** (None, NaN, pandas NA and, for numbers, +/-inf) are left out of every
  statistic and every count; a change in the missing share is a data-quality check, not drift.
* **Not enough data**: with fewer than ``min_sample`` non-missing values in the reference, the
  current data or the stored profile, no statistic is computed (all ``None``), the feature is
  ``insufficient`` and ``note`` says why. Nothing here ever returns NaN or inf.
* **Speed and memory**: columns run on a small thread pool (numpy's sorts, merges and
  arithmetic release the GIL). Each numeric column is sorted once per side; a stable argsort of
  the two sorted runs merges them in linear time, and the KS statistic and the Wasserstein
  distance come from one pass over the merged order, in chunks; PSI counts come from
  ``searchsorted`` of the cut points. Extra memory is a few arrays the size of one column per
  thread; frames are never copied. Categories are counted with ``value_counts`` and mapped to
  the stored groups by their distinct values, not row by row.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import jensenshannon

PSI_BINS = 10  # equal-frequency bins from the reference
RARE_CATEGORY_SHARE = 0.01  # reference categories under 1% are merged into OTHER
MIN_SAMPLE = 100  # fewer non-missing values on either side -> insufficient data
DRIFT_PSI = 0.25  # a feature counts as drifted when PSI >= this
OTHER = "(other)"
PSI_FLOOR = 1e-4  # shares below this count as this much in PSI, so empty bins stay finite

_KS_EXACT_MAX = 10_000  # as scipy's ks_2samp(method="auto"): exact p-value up to this size
# Where this module sums Smirnov's formula itself rather than call scipy (see _kstwo_sf): below,
# scipy is fast enough; above, scipy switches to an approximation, which is then the reference.
_SMIRNOV_OWN_FROM, _SMIRNOV_OWN_TO = 5_000, 1_000_000
_HUGE = 1e150  # beyond this, sums of squares and differences could overflow: rescale first
NOISE_BUDGET = 0.01  # chance per run that noise alone takes any noise-judged check over its floor
# Numeric profiles keep the reference quantiles at 0, 1/100, ..., 1. Finer tail levels were
# tried: they make the simulated noise of heavy-tailed columns smaller than the real one, whose
# extremes fall beyond the reference range; the wide outer cells make up for that.
SKETCH_LEVELS = np.linspace(0.0, 1.0, 101)
NOISE_REPLICATES = 600  # simulated undrifted windows per size band
NOISE_BANDS = tuple(4 ** k for k in range(2, 9))  # window sizes 16 .. 65,536, simulated once
_NOISE_SEED = 18_2026
_MAX_THREADS = 4
_CHUNK = 1 << 16  # merged values per step in _ks_wasserstein


@dataclass(frozen=True)
class NumericProfile:
    """The stored reference of a numeric column. A column without any non-missing value has
    count 0, no cut points, proportions ``(0.0,)`` and 0.0 for mean, std, minimum and maximum."""

    column: str
    cut_points: tuple[float, ...]  # inner edges of the equal-frequency bins (duplicates removed)
    proportions: tuple[float, ...]  # reference share per bin, len(cut_points) + 1
    mean: float
    std: float  # ddof=0
    minimum: float
    maximum: float
    count: int  # non-missing reference values
    missing_share: float
    # Reference quantiles at SKETCH_LEVELS (empty in profiles stored before them).
    quantiles: tuple[float, ...] = ()
    # Window-size band -> (mean, variance) of the scaled distance of undrifted data.
    distance_noise: Mapping[int, tuple[float, float]] = field(default_factory=dict)
    kind: ClassVar[str] = "numeric"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "column": self.column,
            "cut_points": [float(c) for c in self.cut_points],
            "proportions": [float(p) for p in self.proportions],
            "mean": float(self.mean), "std": float(self.std),
            "minimum": float(self.minimum), "maximum": float(self.maximum),
            "count": int(self.count), "missing_share": float(self.missing_share),
            "quantiles": [float(q) for q in self.quantiles],
            "distance_noise": {str(band): [float(mean), float(variance)]
                               for band, (mean, variance) in sorted(self.distance_noise.items())},
        }


@dataclass(frozen=True)
class CategoricalProfile:
    """The stored reference of a categorical column. Without any non-missing value: count 0,
    no categories and proportions ``(0.0,)``."""

    column: str
    categories: tuple[str, ...]  # kept (share >= RARE_CATEGORY_SHARE), most frequent first
    proportions: tuple[float, ...]  # share of each kept category, then the rest (OTHER) last
    count: int
    missing_share: float
    kind: ClassVar[str] = "categorical"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "column": self.column,
            "categories": [str(c) for c in self.categories],
            "proportions": [float(p) for p in self.proportions],
            "count": int(self.count), "missing_share": float(self.missing_share),
        }


Profile = NumericProfile | CategoricalProfile


@dataclass(frozen=True)
class FeatureDrift:
    column: str
    kind: str  # "numeric" | "categorical"
    reference_count: int  # non-missing values used
    current_count: int
    psi: float | None  # None when insufficient
    distance: float | None  # numeric: Wasserstein-1 / reference std; categorical: JS distance
    p_value: float | None  # numeric: two-sample KS; categorical: chi-square, 2 x k table
    p_value_adjusted: float | None  # Benjamini-Hochberg within a report; None from column_drift
    insufficient: bool
    drifted: bool  # psi >= drift_psi and above its noise floor (never when insufficient)
    note: str  # why something is missing or unusual; "" when fine
    # The current data's share in each of the profile's bins (or categories, the rest last):
    # what PSI compared with the reference proportions. Empty when insufficient.
    current_shares: tuple[float, ...] = ()
    # What sampling noise alone stays under at these sizes (see "Noise floors"); None when
    # insufficient or without a statistic.
    psi_floor: float | None = None
    distance_floor: float | None = None


@dataclass(frozen=True)
class DriftReport:
    features: tuple[FeatureDrift, ...]
    drift_share: float | None  # drifted / features with enough data; None if there are none


# --------------------------------------------------------------------------- profiles


def _is_numeric(dtype: Any) -> bool:
    return (pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
            and not pd.api.types.is_complex_dtype(dtype))


def profile_column(column: str, values: pd.Series) -> Profile:
    """The reference profile of one column: numeric for numeric dtypes (not bool), categorical
    for anything else (values compared as strings). Never raises for empty or all-missing data."""
    values = _as_series(values)
    if _is_numeric(values.dtype):
        return _profile_numeric(column, values)
    return _profile_categorical(column, values)


def profile_from_dict(data: Mapping[str, Any]) -> Profile:
    """The inverse of ``to_dict``."""
    kind = data.get("kind")
    if kind == NumericProfile.kind:
        return NumericProfile(
            column=str(data["column"]),
            cut_points=tuple(float(c) for c in data["cut_points"]),
            proportions=tuple(float(p) for p in data["proportions"]),
            mean=float(data["mean"]), std=float(data["std"]),
            minimum=float(data["minimum"]), maximum=float(data["maximum"]),
            count=int(data["count"]), missing_share=float(data["missing_share"]),
            quantiles=tuple(float(q) for q in data.get("quantiles", ())),
            distance_noise={int(band): (float(mean), float(variance))
                            for band, (mean, variance) in data.get("distance_noise", {}).items()})
    if kind == CategoricalProfile.kind:
        return CategoricalProfile(
            column=str(data["column"]),
            categories=tuple(str(c) for c in data["categories"]),
            proportions=tuple(float(p) for p in data["proportions"]),
            count=int(data["count"]), missing_share=float(data["missing_share"]))
    raise ValueError(f"Unknown profile kind {kind!r}: expected 'numeric' or 'categorical'.")


def _as_series(values: Any) -> pd.Series:
    return values if isinstance(values, pd.Series) else pd.Series(values)


def _finite_sorted(values: pd.Series) -> tuple[np.ndarray, int]:
    """The finite values sorted ascending (float64), and the number of rows."""
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype == np.float64:
        array = values.to_numpy()
    elif _is_numeric(dtype) or pd.api.types.is_bool_dtype(dtype):
        array = values.to_numpy(dtype=np.float64, na_value=np.nan)
    else:  # a numeric profile meets text: whatever does not parse counts as missing
        array = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64,
                                                                 na_value=np.nan)
    ordered = np.sort(array)  # NaN sort last, after +inf
    low = int(np.searchsorted(ordered, -np.inf, side="right"))
    high = int(np.searchsorted(ordered, np.inf, side="left"))
    return ordered[low:high], int(array.size)


def _scale_of(*sorted_arrays: np.ndarray) -> float:
    """A power of two to divide by so that no sum of squares or difference overflows (1.0 for
    ordinary data). Dividing by a power of two is exact."""
    largest = max((max(abs(a[0]), abs(a[-1])) for a in sorted_arrays if a.size), default=0.0)
    if largest <= _HUGE:
        return 1.0
    return math.ldexp(1.0, math.frexp(largest)[1])


def _mean_std(ordered: np.ndarray) -> tuple[float, float]:
    scale = _scale_of(ordered)
    scaled = ordered / scale if scale != 1.0 else ordered
    return float(scaled.mean()) * scale, float(scaled.std()) * scale


def _quantiles(ordered: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """Linear-interpolation quantiles of sorted values, written to never overflow."""
    position = (ordered.size - 1) * qs
    lower = np.floor(position).astype(np.intp)
    upper = np.minimum(lower + 1, ordered.size - 1)
    fraction = position - lower
    low, high = ordered[lower], ordered[upper]
    return np.clip(low * (1.0 - fraction) + high * fraction, low, high)


def _bin_counts(ordered: np.ndarray, cut_points: np.ndarray) -> np.ndarray:
    """Values per right-closed bin: (-inf, c0], (c0, c1], ..., (c_last, inf)."""
    inner = np.searchsorted(ordered, cut_points, side="right")
    return np.diff(np.concatenate(([0], inner, [ordered.size])))


def _profile_numeric(column: str, values: pd.Series) -> NumericProfile:
    ordered, rows = _finite_sorted(values)
    count = int(ordered.size)
    missing_share = (rows - count) / rows if rows else 0.0
    if count == 0:
        return NumericProfile(column, (), (0.0,), 0.0, 0.0, 0.0, 0.0, 0, missing_share)
    cuts = np.unique(_quantiles(ordered, np.arange(1, PSI_BINS) / PSI_BINS))
    minimum, maximum = float(ordered[0]), float(ordered[-1])
    if cuts[0] <= minimum:
        cuts = np.concatenate(([np.nextafter(minimum, -np.inf)], cuts))
    proportions = _bin_counts(ordered, cuts) / count
    mean, std = _mean_std(ordered)
    sketch = _sketch(ordered)
    noise = _distance_moments(sketch, std, count, NOISE_BANDS) if std > 0.0 else {}
    return NumericProfile(
        column=column, cut_points=tuple(float(c) for c in cuts),
        proportions=tuple(float(p) for p in proportions), mean=mean, std=std,
        minimum=minimum, maximum=maximum, count=count, missing_share=missing_share,
        quantiles=tuple(float(q) for q in sketch), distance_noise=noise)


def _string_counts(values: pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    """Distinct non-missing values as strings (object array, unique) with their counts, and the
    number of rows. Counting happens on the raw values; only the distinct ones become strings
    (so 1 and "1" end up as one category)."""
    counted = values.value_counts(dropna=True, sort=False)
    counted = counted[counted.to_numpy() > 0]  # categorical dtypes list unused categories too
    names = counted.index.astype(str).to_numpy(dtype=object)
    codes, uniques = pd.factorize(names)
    counts = np.bincount(codes, weights=counted.to_numpy(dtype=np.float64),
                         minlength=len(uniques))
    return np.asarray(uniques, dtype=object), np.rint(counts).astype(np.int64), len(values)


def _profile_categorical(column: str, values: pd.Series) -> CategoricalProfile:
    names, counts, rows = _string_counts(values)
    count = int(counts.sum())
    missing_share = (rows - count) / rows if rows else 0.0
    if count == 0:
        return CategoricalProfile(column, (), (0.0,), 0, missing_share)
    kept = np.flatnonzero(counts / count >= RARE_CATEGORY_SHARE)  # at most 100 of them
    kept = sorted(kept, key=lambda i: (-counts[i], names[i]))
    kept_counts = counts[kept] if kept else np.zeros(0, np.int64)
    other = count - int(kept_counts.sum())
    return CategoricalProfile(
        column=column, categories=tuple(str(names[i]) for i in kept),
        proportions=tuple(float(c) / count for c in (*kept_counts.tolist(), other)),
        count=count, missing_share=missing_share)


def _group_counts(values: pd.Series, categories: tuple[str, ...]) -> np.ndarray:
    """Counts of the kept categories in their stored order, then everything else (OTHER)."""
    names, counts, _ = _string_counts(values)
    slots = pd.Index(categories, dtype=object).get_indexer(names)
    slots[slots < 0] = len(categories)
    grouped = np.bincount(slots, weights=counts.astype(np.float64),
                          minlength=len(categories) + 1)
    return np.rint(grouped).astype(np.int64)


# --------------------------------------------------------------------------- noise floors


def size_band(rows: int) -> int:
    """The window-size band of ``rows``: the largest power of 4 not above it."""
    band = 1
    while band * 4 <= rows:
        band *= 4
    return band


def _sketch(ordered: np.ndarray) -> np.ndarray:
    return _quantiles(ordered, SKETCH_LEVELS)


def _distance_moments(sketch: np.ndarray, std: float, reference_count: int,
                      bands: tuple[int, ...]) -> dict[int, tuple[float, float]]:
    """Per band, the mean and variance of the scaled Wasserstein distance between a reference
    of ``reference_count`` values and a window of ``band`` values, both drawn from the
    distribution the sketch describes. The cell between two quantiles holds the difference of
    their levels (SKETCH_LEVELS); the empirical CDFs at the cell edges are cumulative
    multinomial counts (exact, whatever the sizes), and the distance is their gap integrated
    over the cells by the trapezoidal rule. Tied quantiles make cells of width 0, so counts and
    other discrete data are handled too."""
    widths = np.diff(np.asarray(sketch, dtype=np.float64)) / std
    shares = np.diff(SKETCH_LEVELS)
    # Seeded per side and band, so that a band simulated alone gives what profiling gave.
    reference_cdf = np.random.default_rng(_NOISE_SEED).multinomial(
        reference_count, shares, NOISE_REPLICATES).cumsum(axis=1) / reference_count
    moments = {}
    for band in bands:
        window_cdf = np.random.default_rng((_NOISE_SEED, band)).multinomial(
            band, shares, NOISE_REPLICATES).cumsum(axis=1) / band
        gap = np.abs(reference_cdf - window_cdf)
        below = np.concatenate((np.zeros((NOISE_REPLICATES, 1)), gap[:, :-1]), axis=1)
        distances = ((gap + below) * 0.5) @ widths
        moments[band] = (float(distances.mean()), float(distances.var()))
    return moments


def distance_noise_floor(profile: NumericProfile, current_count: int, alpha: float,
                         reference: np.ndarray | None = None) -> float | None:
    """The scaled Wasserstein distance that undrifted data stays under with probability
    1 - alpha, for a window of ``current_count`` values against this profile's reference: the
    moments of the window's band, scaled to its exact size as the distance scales,
    sqrt(1/n + 1/m), and the upper tail of a log-normal distribution with them (heavier than a
    gamma's, which falls short for skewed columns). A profile without
    a sketch (stored before sketches) takes it from ``reference``, the sorted reference values;
    None when there is neither or the reference is constant."""
    if profile.std <= 0.0 or profile.count <= 0 or current_count <= 0:
        return None
    band = min(size_band(current_count), NOISE_BANDS[-1])
    moments = profile.distance_noise.get(band)
    if moments is None:
        if profile.quantiles:
            sketch = np.asarray(profile.quantiles, dtype=np.float64)
        elif reference is not None and reference.size:
            sketch = _sketch(reference)
        else:
            return None
        moments = _distance_moments(sketch, profile.std, profile.count, (band,))[band]
    ratio = _spread(profile.count, current_count) / _spread(profile.count, band)
    mean, variance = moments[0] * math.sqrt(ratio), moments[1] * ratio
    if mean <= 0.0 or variance <= 0.0:
        return max(mean, 0.0)
    log_variance = math.log1p(variance / (mean * mean))
    return math.exp(math.log(mean) - log_variance / 2.0
                    + math.sqrt(log_variance) * float(stats.norm.isf(alpha)))


def _spread(reference_count: int, current_count: int) -> float:
    return 1.0 / max(reference_count, 1) + 1.0 / max(current_count, 1)


def psi_noise_floor(proportions: tuple[float, ...] | np.ndarray, reference_count: int,
                    current_count: int, alpha: float) -> float:
    """PSI that undrifted data stays under with probability 1 - alpha: (1/n + 1/m) times the
    chi-square quantile with one degree of freedom less than the bins the reference fills,
    plus what an empty bin costs, p ln(p / PSI_FLOOR), for every bin that noise alone leaves
    empty with a chance of alpha / bins or more, (1 - p) ** m. Small windows empty small bins,
    and the chi-square approximation knows nothing of the floor on shares."""
    shares = np.asarray(proportions, dtype=np.float64)
    filled = shares[shares > 0.0]
    if filled.size < 2:
        return 0.0
    chi2_floor = _spread(reference_count, current_count) * float(
        stats.chi2.isf(alpha, filled.size - 1))
    with np.errstate(divide="ignore"):
        emptiable = current_count * np.log1p(-filled) >= math.log(alpha / filled.size)
    jumps = filled[emptiable] * np.log(filled[emptiable] / PSI_FLOOR)
    return chi2_floor + float(jumps.sum())


def js_noise_floor(proportions: tuple[float, ...] | np.ndarray, reference_count: int,
                   current_count: int, alpha: float) -> float:
    """The Jensen-Shannon distance (base 2) of undrifted data: its square is about PSI / 8 in
    nats, so the floor is sqrt(PSI floor / (8 ln 2))."""
    return math.sqrt(psi_noise_floor(proportions, reference_count, current_count, alpha)
                     / (8.0 * math.log(2.0)))


def rows_to_detect(floor: float, reference_count: int, current_count: int, target: float,
                   power: float) -> int | None:
    """About how many window rows bring a floor of ``floor`` (at ``current_count`` rows) down
    to ``target``, given that it grows as (1/n + 1/m) ** power (1 for PSI, 1/2 for distances).
    None when even an endless window would not, because the reference is too small."""
    if floor <= 0.0 or target <= 0.0:
        return None
    constant = floor / _spread(reference_count, current_count) ** power
    inverse = (target / constant) ** (1.0 / power) - 1.0 / max(reference_count, 1)
    return math.ceil(1.0 / inverse) if inverse > 0.0 else None


# --------------------------------------------------------------------------- statistics


def _psi(reference_shares: np.ndarray, current_shares: np.ndarray) -> float:
    p = np.maximum(np.asarray(reference_shares, dtype=np.float64), PSI_FLOOR)
    q = np.maximum(np.asarray(current_shares, dtype=np.float64), PSI_FLOOR)
    return float(np.sum((q - p) * np.log(q / p)))


def _ks_wasserstein(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """KS statistic and Wasserstein-1 distance of two sorted, non-empty samples.

    The two sorted samples are merged (a stable argsort of their concatenation is a single
    merge of two runs, linear time), and a running count of the reference values gives both
    empirical CDFs after every merged value: ``gap = F_a - F_b``. At the last of a run of equal
    values both counts are complete; the KS statistic is the largest ``|gap|`` there. The
    Wasserstein distance is the integral of ``|F_a - F_b|``: ``|gap|`` times the distance to the
    next merged value (0 inside runs of equal values, so their order does not matter). These
    are the floating-point operations of scipy's ks_2samp and wasserstein_distance; the merged
    order is walked in chunks so that the temporary arrays stay small."""
    n, m = a.size, b.size
    both = np.concatenate((a, b))
    order = np.argsort(both, kind="stable")
    statistic, distance, a_before = 0.0, 0.0, 0
    for start in range(0, n + m - 1, _CHUNK):  # the gap after the very last value is 0
        stop = min(start + _CHUNK, n + m - 1)
        where = order[start:stop + 1]
        steps = np.diff(both[where])
        a_count = np.cumsum(where[:-1] < n)
        a_count += a_before
        a_before = int(a_count[-1])
        b_count = np.arange(start + 1, stop + 1)
        b_count -= a_count
        gap = a_count / n
        gap -= b_count / m
        np.abs(gap, out=gap)
        statistic = max(statistic, float(np.max(gap, where=steps != 0, initial=0.0)))
        distance += float(np.einsum("i,i->", gap, steps))  # einsum: no BLAS threads
    return statistic, distance


def _ks_p_value(a: np.ndarray, b: np.ndarray, statistic: float) -> float:
    """The two-sided p-value of scipy.stats.ks_2samp(a, b) (method "auto")."""
    n, m = a.size, b.size
    if max(n, m) <= _KS_EXACT_MAX:  # cheap at this size; scipy's own exact computation
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return float(stats.ks_2samp(a, b).pvalue)
    larger, smaller = float(max(n, m)), float(min(n, m))
    return _kstwo_sf(statistic, int(np.round(larger * smaller / (larger + smaller))))


def _kstwo_sf(d: float, n: int) -> float:
    """scipy.stats.kstwo.sf(d, n), the asymptotic p-value of ks_2samp.

    For 2.2 <= n d^2 scipy evaluates 2 * scipy.special.smirnov(n, d), which for n up to 10^6
    sums about n terms one by one (up to a second per column at n = 500,000). The same sum,
    Birnbaum and Tingey's formula P(D+ >= d) = d * sum_j binom.pmf(j, n, d + j/n) / (d + j/n),
    j = 0 .. floor(n (1 - d)), is evaluated here as one vectorised call (agrees to ~1e-13
    relative). From n d^2 >= 370 the result is below 2 exp(-740), which scipy returns as 0."""
    nx2 = n * d * d
    if _SMIRNOV_OWN_FROM < n <= _SMIRNOV_OWN_TO and 1.0 < n * d < n - 1 and nx2 >= 2.2:
        if nx2 >= 370.0:
            return 0.0
        j = np.arange(math.floor(n * (1.0 - d)) + 1, dtype=np.float64)
        p = d + j / n
        with np.errstate(all="ignore"):
            one_sided = d * float(np.sum(stats.binom.pmf(j, n, p) / p))
        return min(max(2.0 * one_sided, 0.0), 1.0)
    return float(np.clip(stats.kstwo.sf(d, n), 0.0, 1.0))


def _js_distance(p: np.ndarray, q: np.ndarray) -> float:
    distance = float(jensenshannon(p, q, base=2))
    return distance if math.isfinite(distance) else 0.0  # sqrt of a -1e-17 rounding residue


def _chi2_p_value(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    table = np.vstack([reference_counts, current_counts])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:  # one group on both sides: nothing differs
        return 1.0
    return float(stats.chi2_contingency(table).pvalue)


def _count_note(side: str, count: int, min_sample: int) -> str:
    if count == 0:
        return f"no {side} values (at least {min_sample:,} needed)"
    return f"only {count:,} {side} values (at least {min_sample:,} needed)"


def _insufficient(profile: Profile, reference_count: int, current_count: int,
                  min_sample: int, notes: list[str]) -> FeatureDrift | None:
    if profile.count < min_sample:
        notes.append(_count_note("profiled reference", profile.count, min_sample))
    if reference_count < min_sample:
        notes.append(_count_note("reference", reference_count, min_sample))
    if current_count < min_sample:
        notes.append(_count_note("current", current_count, min_sample))
    if profile.count >= min_sample and reference_count >= min_sample \
            and current_count >= min_sample:
        return None
    return FeatureDrift(profile.column, profile.kind, reference_count, current_count,
                        None, None, None, None, True, False, "; ".join(notes))


def column_drift(
    profile: Profile,
    reference: pd.Series,
    current: pd.Series,
    *,
    min_sample: int = MIN_SAMPLE,
    drift_psi: float = DRIFT_PSI,
    alpha: float = NOISE_BUDGET / 2,
) -> FeatureDrift:
    """Drift of one column: PSI against the stored profile, plus a distance and a p-value that
    need the reference values themselves, and the noise floors of PSI and the distance at
    false-alarm rate ``alpha`` each. ``p_value_adjusted`` is None (see dataset_drift)."""
    reference, current = _as_series(reference), _as_series(current)
    min_sample = max(int(min_sample), 1)  # statistics of nothing are not defined
    if isinstance(profile, NumericProfile):
        return _numeric_drift(profile, reference, current, min_sample, drift_psi, alpha)
    return _categorical_drift(profile, reference, current, min_sample, drift_psi, alpha)


def _numeric_drift(profile: NumericProfile, reference: pd.Series, current: pd.Series,
                   min_sample: int, drift_psi: float, alpha: float) -> FeatureDrift:
    notes: list[str] = []
    for side, values in (("reference", reference), ("current", current)):
        if not (_is_numeric(values.dtype) or pd.api.types.is_bool_dtype(values.dtype)):
            notes.append(f"{side} values are not numeric ({values.dtype}); values that do not "
                         "parse as numbers count as missing")
    a, _ = _finite_sorted(reference)
    b, _ = _finite_sorted(current)
    short = _insufficient(profile, a.size, b.size, min_sample, notes)
    if short is not None:
        return short

    cuts = np.asarray(profile.cut_points, dtype=np.float64)
    current_shares = _bin_counts(b, cuts) / b.size
    psi = _psi(np.asarray(profile.proportions), current_shares)
    psi_floor = psi_noise_floor(profile.proportions, a.size, b.size, alpha)
    distance_floor = distance_noise_floor(profile, b.size, alpha, a)

    scale = _scale_of(a, b)
    if scale != 1.0:  # KS and Wasserstein / std do not change when both sides are rescaled
        a, b = a / scale, b / scale
    statistic, wasserstein = _ks_wasserstein(a, b)
    p_value = _ks_p_value(a, b, statistic)
    std = float(a.std())
    distance: float | None = None
    if std > 0.0 and math.isfinite(wasserstein / std):
        distance = wasserstein / std
    else:
        notes.append("the reference values are all equal (standard deviation 0), so there is "
                     "no scaled distance")
    return FeatureDrift(profile.column, profile.kind, int(a.size), int(b.size), psi, distance,
                        p_value, None, False, psi >= drift_psi and psi > psi_floor,
                        "; ".join(notes), tuple(float(share) for share in current_shares),
                        psi_floor, distance_floor if distance is not None else None)


def _categorical_drift(profile: CategoricalProfile, reference: pd.Series, current: pd.Series,
                       min_sample: int, drift_psi: float, alpha: float) -> FeatureDrift:
    notes: list[str] = []
    reference_counts = _group_counts(reference, profile.categories)
    current_counts = _group_counts(current, profile.categories)
    reference_count, current_count = int(reference_counts.sum()), int(current_counts.sum())
    short = _insufficient(profile, reference_count, current_count, min_sample, notes)
    if short is not None:
        return short
    if not profile.categories:
        notes.append(f"no reference category reaches {RARE_CATEGORY_SHARE:.0%} of the values, "
                     f"so all are compared as one group {OTHER!r} and drift cannot show")
    p = np.asarray(profile.proportions, dtype=np.float64)
    q = current_counts / current_count
    psi = _psi(p, q)
    distance = _js_distance(p, q)
    p_value = _chi2_p_value(reference_counts, current_counts)
    psi_floor = psi_noise_floor(p, reference_count, current_count, alpha)
    return FeatureDrift(profile.column, profile.kind, reference_count, current_count, psi,
                        distance, p_value, None, False, psi >= drift_psi and psi > psi_floor,
                        "; ".join(notes), tuple(float(share) for share in q), psi_floor,
                        js_noise_floor(p, reference_count, current_count, alpha))


def dataset_drift(
    profiles: Mapping[str, Profile],
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    min_sample: int = MIN_SAMPLE,
    drift_psi: float = DRIFT_PSI,
    alpha: float | None = None,
) -> DriftReport:
    """One FeatureDrift per profile, in the profiles' order, with Benjamini-Hochberg adjusted
    p-values across them. ``alpha`` is the false-alarm rate of each noise floor; by default
    ``NOISE_BUDGET`` shared among the PSI and distance of every column. Columns run in
    parallel on a few threads."""
    names = list(profiles)
    if alpha is None:
        alpha = NOISE_BUDGET / max(2 * len(names), 1)

    def one(name: str) -> FeatureDrift:
        profile = profiles[name]
        for side, frame in (("reference", reference), ("current", current)):
            if name not in frame.columns:
                return FeatureDrift(name, profile.kind, 0, 0, None, None, None, None, True,
                                    False, f"the column is missing from the {side} data")
        drift = column_drift(profile, reference[name], current[name], min_sample=min_sample,
                             drift_psi=drift_psi, alpha=alpha)
        return drift if drift.column == name else replace(drift, column=name)

    workers = min(_MAX_THREADS, os.cpu_count() or 1, len(names))
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            features = list(pool.map(one, names))
    else:
        features = [one(name) for name in names]

    tested = [i for i, f in enumerate(features) if f.p_value is not None]
    if tested:
        adjusted = stats.false_discovery_control([features[i].p_value for i in tested],
                                                 method="bh")
        for i, value in zip(tested, adjusted, strict=True):
            features[i] = replace(features[i], p_value_adjusted=float(value))

    judged = [f for f in features if not f.insufficient]
    share = sum(f.drifted for f in judged) / len(judged) if judged else None
    return DriftReport(tuple(features), share)
