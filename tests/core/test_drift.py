"""Drift statistics: agreement with scipy/numpy where the definitions coincide, properties,
false-alarm rates on undrifted data, and inputs that must not break anything."""

from __future__ import annotations

import itertools
import json
import math
import time
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial.distance import jensenshannon

from modelledger.core import drift
from modelledger.core.drift import (
    DRIFT_PSI,
    MIN_SAMPLE,
    OTHER,
    PSI_BINS,
    PSI_FLOOR,
    RARE_CATEGORY_SHARE,
    CategoricalProfile,
    DriftReport,
    FeatureDrift,
    NumericProfile,
    column_drift,
    dataset_drift,
    profile_column,
    profile_from_dict,
)

TOLERANCE = dict(rel_tol=1e-9, abs_tol=1e-12)
FAST = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def close(ours: float | None, theirs: float) -> bool:
    return ours is not None and math.isclose(ours, float(theirs), **TOLERANCE)


def finite(values) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return values[np.isfinite(values)]


def assert_clean(result: FeatureDrift) -> None:
    """Never NaN or inf; None exactly where the contract allows it."""
    for name in ("psi", "distance", "p_value", "p_value_adjusted"):
        value = getattr(result, name)
        assert value is None or math.isfinite(value), (name, value)
    if result.insufficient:
        assert result.psi is result.distance is result.p_value is None
        assert not result.drifted
        assert result.note
    else:
        assert result.psi is not None and result.psi >= 0.0
        assert result.p_value is not None and 0.0 <= result.p_value <= 1.0
        # drifted needs PSI over its threshold and over what noise gives at these sizes
        assert result.psi_floor is not None
        assert result.drifted == (result.psi >= DRIFT_PSI and result.psi > result.psi_floor)


def numeric_drift(reference, current, **options) -> FeatureDrift:
    reference, current = pd.Series(reference, dtype=float), pd.Series(current, dtype=float)
    return column_drift(profile_column("x", reference), reference, current, **options)


def categorical_drift(reference, current, **options) -> FeatureDrift:
    reference, current = pd.Series(reference, dtype=object), pd.Series(current, dtype=object)
    return column_drift(profile_column("c", reference), reference, current, **options)


# -- plain re-implementations from the definitions ------------------------------------------------


def plain_numeric_psi(reference: np.ndarray, current: np.ndarray) -> float:
    """Deciles of the reference (numpy's linear quantiles), duplicates removed, a cut just below
    the minimum when the lowest decile is the minimum, right-closed bins, floored shares."""
    reference, current = finite(reference), finite(current)
    cuts = list(np.unique(np.quantile(reference, np.arange(1, PSI_BINS) / PSI_BINS)))
    if cuts[0] <= reference.min():
        cuts.insert(0, np.nextafter(reference.min(), -np.inf))
    edges = [-np.inf, *cuts, np.inf]
    psi = 0.0
    for low, high in itertools.pairwise(edges):
        p = max(np.mean((reference > low) & (reference <= high)), PSI_FLOOR)
        q = max(np.mean((current > low) & (current <= high)), PSI_FLOOR)
        psi += (q - p) * math.log(q / p)
    return psi


def plain_groups(reference: list, current: list) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Kept categories (by the 1% rule, most frequent first) + OTHER; counts of both sides."""
    ref = Counter(str(v) for v in reference if v is not None and v == v)
    cur = Counter(str(v) for v in current if v is not None and v == v)
    total = sum(ref.values())
    kept = sorted((c for c in ref if ref[c] / total >= RARE_CATEGORY_SHARE),
                  key=lambda c: (-ref[c], c))
    def counts(counter: Counter) -> np.ndarray:
        return np.array([counter[c] for c in kept]
                        + [sum(v for c, v in counter.items() if c not in kept)], dtype=float)
    return kept, counts(ref), counts(cur)


def plain_categorical_psi(reference: list, current: list) -> float:
    _, ref, cur = plain_groups(reference, current)
    p = np.maximum(ref / ref.sum(), PSI_FLOOR)
    q = np.maximum(cur / cur.sum(), PSI_FLOOR)
    return float(np.sum((q - p) * np.log(q / p)))


# -- agreement with scipy -------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "m", "shift", "ties"), [
    (150, 130, 0.0, False),          # exact distribution
    (5000, 1000, 0.1, False),        # exact, n != m
    (800, 800, 0.0, True),           # exact, many ties
    (12000, 9000, 0.0, False),       # asymptotic, p in scipy's fast range
    (12000, 9000, 0.04, False),      # asymptotic, 2.2 <= n d^2: Smirnov's sum
    (30000, 30000, 0.03, True),      # asymptotic, ties
    (20000, 11000, 0.3, False),      # asymptotic, p == 0
])
def test_ks_p_value_and_wasserstein_match_scipy(n, m, shift, ties):
    rng = np.random.default_rng(n + m)
    reference, current = rng.normal(0, 1, n), rng.normal(shift, 1, m)
    if ties:
        reference, current = np.round(reference, 1), np.round(current, 1)
    reference[:7] = [np.nan, np.inf, -np.inf, np.nan, np.nan, np.inf, np.nan]
    result = numeric_drift(reference, current)
    ref, cur = finite(reference), finite(current)
    assert result.reference_count == ref.size and result.current_count == cur.size
    assert close(result.p_value, stats.ks_2samp(ref, cur).pvalue)
    assert close(result.distance, stats.wasserstein_distance(ref, cur) / np.std(ref))
    assert close(result.psi, plain_numeric_psi(ref, cur))


@pytest.mark.parametrize("n", [6000, 50_000, 1_000_001])  # above 10^6 scipy approximates
@pytest.mark.parametrize("nx2", [0.5, 2.19, 2.2, 5.0, 40.0, 369.0, 400.0])
def test_kstwo_sf_matches_scipy(n, nx2):
    d = math.sqrt(nx2 / n)
    assert math.isclose(drift._kstwo_sf(d, n), float(stats.kstwo.sf(d, n)), rel_tol=1e-9,
                        abs_tol=1e-300 if nx2 < 360 else 1e-320)


def test_kstwo_sf_matches_scipy_where_scipy_is_slow():
    n, d = 1_000_000, math.sqrt(3.0 / 1_000_000)  # scipy sums 10^6 terms one by one here
    assert math.isclose(drift._kstwo_sf(d, n), float(stats.kstwo.sf(d, n)), rel_tol=1e-9)


def test_numeric_psi_and_profile_match_plain_numpy():
    rng = np.random.default_rng(7)
    reference = np.concatenate([rng.lognormal(0, 1, 4000), np.zeros(1000)])  # 20% at the min
    current = np.concatenate([rng.lognormal(0.2, 1, 3000), np.full(50, -1.0)])  # below the min
    profile = profile_column("x", pd.Series(reference))
    assert isinstance(profile, NumericProfile)
    deciles = np.unique(np.quantile(reference, np.arange(1, 10) / 10))
    assert profile.cut_points[0] == np.nextafter(0.0, -np.inf)
    assert np.allclose(profile.cut_points[1:], deciles, rtol=1e-12, atol=0)
    assert len(profile.proportions) == len(profile.cut_points) + 1
    assert math.isclose(sum(profile.proportions), 1.0)
    assert profile.proportions[0] == 0.0  # nothing below the reference minimum
    assert profile.mean == pytest.approx(reference.mean(), rel=1e-12)
    assert profile.std == pytest.approx(np.std(reference), rel=1e-12)
    assert (profile.minimum, profile.maximum) == (reference.min(), reference.max())
    result = column_drift(profile, pd.Series(reference), pd.Series(current))
    assert close(result.psi, plain_numeric_psi(reference, current))


def test_categorical_statistics_match_scipy_and_plain_counts():
    rng = np.random.default_rng(11)
    names = [f"v{i}" for i in range(12)]
    shares = np.array([30, 20, 15, 10, 8, 6, 5, 3, 1.5, 0.8, 0.4, 0.3]) / 100
    reference = list(rng.choice(names, 6000, p=shares / shares.sum()))
    current = list(rng.choice(names, 2500, p=np.roll(shares, 1) / shares.sum())) + ["new"] * 40
    reference += [None, np.nan] * 30
    result = categorical_drift(reference, current)
    kept, ref_counts, cur_counts = plain_groups(reference, current)
    profile = profile_column("c", pd.Series(reference, dtype=object))
    assert isinstance(profile, CategoricalProfile)
    assert list(profile.categories) == kept and "v10" not in kept  # 0.4% merged into OTHER
    assert np.allclose(profile.proportions, ref_counts / ref_counts.sum(), rtol=1e-12)
    assert result.reference_count == ref_counts.sum() and result.current_count == len(current)
    assert close(result.psi, plain_categorical_psi(reference, current))
    assert close(result.distance, jensenshannon(ref_counts / ref_counts.sum(),
                                                cur_counts / cur_counts.sum(), base=2))
    assert close(result.p_value, stats.chi2_contingency(np.vstack([ref_counts, cur_counts]))
                 .pvalue)


def test_chi_square_drops_groups_empty_on_both_sides_and_handles_one_group():
    result = categorical_drift(["a"] * 300 + ["b"] * 200, ["a"] * 150 + ["b"] * 150)
    assert close(result.p_value, stats.chi2_contingency([[300, 200], [150, 150]]).pvalue)
    assert result.p_value_adjusted is None  # only dataset_drift adjusts
    same = categorical_drift(["a"] * 300, ["a"] * 200)
    assert same.p_value == 1.0 and same.psi == 0.0 and same.distance == 0.0


def test_benjamini_hochberg_matches_scipy():
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({f"x{i}": rng.normal(0, 1, 3000) for i in range(6)})
    reference["c"] = rng.choice(list("abcd"), 3000)
    current = pd.DataFrame({f"x{i}": rng.normal(0.03 * i, 1, 2000) for i in range(6)})
    current["c"] = rng.choice(list("abcd"), 2000, p=[0.22, 0.25, 0.25, 0.28])
    current["x5"] = np.nan  # insufficient: no p-value, not part of the correction
    profiles = {name: profile_column(name, reference[name]) for name in reference}
    report = dataset_drift(profiles, reference, current)
    assert isinstance(report, DriftReport)
    assert [f.column for f in report.features] == list(profiles)
    tested = [f for f in report.features if f.p_value is not None]
    assert len(tested) == 6 and report.features[5].p_value_adjusted is None
    expected = stats.false_discovery_control([f.p_value for f in tested], method="bh")
    for feature, adjusted in zip(tested, expected, strict=True):
        assert close(feature.p_value_adjusted, adjusted)
        own = column_drift(profiles[feature.column], reference[feature.column],
                           current[feature.column])
        assert own.p_value == feature.p_value


# -- properties ------------------------------------------------------------------------------------

floats = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
messy = st.one_of(floats, st.just(math.nan), st.just(math.inf), st.just(-math.inf),
                  st.integers(-3, 3).map(float))


@FAST
@given(st.lists(st.one_of(floats, st.integers(-2, 2).map(float)), min_size=1, max_size=300))
def test_identical_numeric_data_does_not_drift(values):
    result = numeric_drift(values, values, min_sample=1)
    assert_clean(result)
    assert result.psi == 0.0 and not result.drifted
    assert result.p_value == pytest.approx(1.0)
    assert result.distance in (0.0, None)  # None: a constant reference


@FAST
@given(st.lists(st.sampled_from("abcdefg"), min_size=1, max_size=300))
def test_identical_categorical_data_does_not_drift(values):
    result = categorical_drift(values, values, min_sample=1)
    assert_clean(result)
    assert result.psi == 0.0 and result.distance == pytest.approx(0.0, abs=1e-7)
    assert not result.drifted and result.p_value == pytest.approx(1.0)


@FAST
@given(st.lists(st.integers(10, 60), min_size=2, max_size=5),
       st.lists(st.integers(10, 60), min_size=5, max_size=5))
def test_jensen_shannon_is_symmetric(left_counts, right_counts):
    names = "abcde"
    left = [c for c, k in zip(names, left_counts, strict=False) for _ in range(k)]
    right = [c for c, k in zip(names, right_counts, strict=True) for _ in range(k)]
    forward = categorical_drift(left, right, min_sample=1)
    backward = categorical_drift(right, left, min_sample=1)
    assert forward.distance == pytest.approx(backward.distance, abs=1e-12)


@FAST
@given(st.lists(messy, max_size=60), st.lists(messy, max_size=60), st.integers(1, 20))
def test_messy_numeric_input_never_gives_nan(reference, current, min_sample):
    result = numeric_drift(reference, current, min_sample=min_sample)
    assert_clean(result)
    counts = finite(reference).size, finite(current).size
    assert (result.reference_count, result.current_count) == counts
    assert result.insufficient == (min(counts) < min_sample)


@FAST
@given(st.lists(st.one_of(st.sampled_from(["a", "b", "c", 1, "1", True]), st.none(),
                          st.just(math.nan)), max_size=60),
       st.lists(st.one_of(st.sampled_from(["a", "b", "z"]), st.none()), max_size=60))
def test_messy_categorical_input_never_gives_nan(reference, current):
    result = categorical_drift(reference, current, min_sample=5)
    assert_clean(result)
    present = [v for v in reference if v is not None and v == v]
    assert result.reference_count == len(present)
    assert result.insufficient == (min(len(present), sum(v is not None for v in current)) < 5)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_a_shift_of_one_standard_deviation_drifts(seed):
    rng = np.random.default_rng(seed)
    result = numeric_drift(rng.normal(0, 1, 2000), rng.normal(1, 1, 2000))
    assert result.drifted and result.psi >= DRIFT_PSI
    assert result.distance == pytest.approx(1.0, abs=0.15)
    assert result.p_value < 1e-6


# -- false alarms on undrifted data ---------------------------------------------------------------

RUNS = 200
ALARM_BOUND = 0.05 + 3 * math.sqrt(0.05 * 0.95 / RUNS)


def test_numeric_false_alarm_rates_stay_near_nominal():
    rng = np.random.default_rng(2024)
    p_values, psis = [], []
    for _ in range(RUNS):
        result = numeric_drift(rng.gamma(2.0, 1.0, 5000), rng.gamma(2.0, 1.0, 1000))
        p_values.append(result.p_value)
        psis.append(result.psi)
    assert np.mean(np.array(p_values) < 0.05) <= ALARM_BOUND
    assert np.mean(np.array(psis) >= 0.10) <= 0.05
    assert not any(psi >= DRIFT_PSI for psi in psis)


def test_categorical_false_alarm_rates_stay_near_nominal():
    rng = np.random.default_rng(2025)
    names = np.array([f"k{i}" for i in range(10)])
    shares = np.array([0.31, 0.2, 0.15, 0.12, 0.08, 0.06, 0.05, 0.02, 0.007, 0.003])
    p_values, psis = [], []
    for _ in range(RUNS):
        reference = pd.Series(rng.choice(names, 5000, p=shares))
        current = pd.Series(rng.choice(names, 1000, p=shares))
        result = column_drift(profile_column("c", reference), reference, current)
        p_values.append(result.p_value)
        psis.append(result.psi)
    assert np.mean(np.array(p_values) < 0.05) <= ALARM_BOUND
    assert np.mean(np.array(psis) >= 0.10) <= 0.05


# -- bad inputs and edge cases --------------------------------------------------------------------


def test_all_missing_column():
    values = pd.Series([np.nan] * 500)
    profile = profile_column("x", values)
    assert profile.count == 0 and profile.missing_share == 1.0
    assert profile.cut_points == () and profile.proportions == (0.0,)
    result = column_drift(profile, values, pd.Series(np.arange(500.0)))
    assert_clean(result)
    assert result.insufficient and "reference values" in result.note
    categorical = profile_column("c", pd.Series([None] * 50, dtype=object))
    assert isinstance(categorical, CategoricalProfile) and categorical.count == 0
    assert_clean(column_drift(categorical, pd.Series([None] * 50, dtype=object),
                              pd.Series(["a"] * 500)))


def test_empty_current_and_empty_reference():
    reference = pd.Series(np.random.default_rng(0).normal(size=400))
    result = column_drift(profile_column("x", reference), reference, pd.Series([], dtype=float))
    assert_clean(result)
    assert result.insufficient and result.note == "no current values (at least 100 needed)"
    few = column_drift(profile_column("x", reference), reference, pd.Series([1.0, 2.0, 3.0]))
    assert few.note == "only 3 current values (at least 100 needed)"
    empty = pd.Series([], dtype=float)
    profile = profile_column("x", empty)
    assert profile.count == 0 and profile.missing_share == 0.0
    assert_clean(column_drift(profile, empty, empty))
    assert_clean(column_drift(profile_column("c", pd.Series([], dtype=object)),
                              pd.Series([], dtype=object), pd.Series([], dtype=object)))


def test_hundred_thousand_distinct_categories_is_fast_and_finite():
    reference = pd.Series([f"id{i}" for i in range(100_000)])
    current = pd.Series([f"id{i}" for i in range(50_000, 150_000)])
    started = time.perf_counter()
    profile = profile_column("c", reference)
    result = column_drift(profile, reference, current)
    assert time.perf_counter() - started < 5.0
    assert profile.categories == () and profile.proportions == (1.0,)
    assert_clean(result)
    assert result.psi == 0.0 and not result.insufficient
    assert OTHER in result.note and "1%" in result.note


def test_constant_reference_column():
    reference = pd.Series([5.0] * 300)
    profile = profile_column("x", reference)
    assert profile.cut_points == (np.nextafter(5.0, -np.inf), 5.0)
    assert profile.proportions == (0.0, 1.0, 0.0) and profile.std == 0.0
    same = column_drift(profile, reference, pd.Series([5.0] * 200))
    assert_clean(same)
    assert same.psi == 0.0 and same.distance is None and "standard deviation 0" in same.note
    for other in (4.0, 6.0):  # below and above the constant both show
        moved = column_drift(profile, reference, pd.Series([other] * 200))
        assert_clean(moved)
        assert moved.drifted and moved.p_value < 1e-10


def test_single_distinct_value_on_both_sides_of_a_category():
    result = categorical_drift(["x"] * 200, ["y"] * 200)
    assert_clean(result)
    assert result.drifted and result.distance == pytest.approx(1.0)


def test_huge_values_stay_finite():
    rng = np.random.default_rng(5)
    reference = pd.Series(rng.normal(0, 1, 1000) * 1e300)
    current = pd.Series(rng.normal(0.5, 1, 1000) * 1e300)
    profile = profile_column("x", reference)
    assert all(math.isfinite(v) for v in (profile.mean, profile.std, *profile.cut_points))
    result = column_drift(profile, reference, current)
    assert_clean(result)
    expected = stats.wasserstein_distance(reference / 1e300, current / 1e300) / np.std(
        reference / 1e300)
    assert result.distance == pytest.approx(expected, rel=1e-9)


def test_unseen_current_categories_go_to_other():
    reference = ["a"] * 500 + ["b"] * 500
    result = categorical_drift(reference, ["a"] * 100 + ["new1"] * 50 + ["new2"] * 50)
    p, q = np.array([0.5, 0.5, 0.0]), np.array([0.5, 0.0, 0.5])
    assert close(result.distance, jensenshannon(p, q, base=2))
    assert result.drifted


def test_values_are_compared_as_strings():
    reference = pd.Series([1] * 300 + ["1"] * 300 + [2.5] * 400, dtype=object)
    profile = profile_column("c", reference)
    assert profile.categories == ("1", "2.5") and profile.proportions == (0.6, 0.4, 0.0)
    result = column_drift(profile, reference, pd.Series(["1"] * 600 + ["2.5"] * 400))
    assert result.psi == 0.0
    flags = profile_column("flag", pd.Series([True, False, True] * 100))
    assert isinstance(flags, CategoricalProfile) and flags.categories == ("True", "False")


def test_nullable_and_arrow_dtypes():
    ints = pd.Series(list(range(300)) + [None] * 100, dtype="Int64")
    profile = profile_column("n", ints)
    assert isinstance(profile, NumericProfile)
    assert profile.count == 300 and profile.missing_share == 0.25
    assert_clean(column_drift(profile, ints, ints))
    text = pd.Series(["a", "b", None] * 200, dtype="string[pyarrow]")
    category = pd.Series(["a", "b", None] * 200, dtype="category")
    text_profile = profile_column("t", text)
    assert text_profile.categories == ("a", "b") and text_profile.missing_share == pytest.approx(
        1 / 3)
    assert column_drift(text_profile, text, category).psi == 0.0


def test_text_current_against_a_numeric_profile_is_parsed_with_a_note():
    reference = pd.Series(np.arange(300.0))
    current = pd.Series([str(v) for v in range(300)] + ["oops"] * 10)
    result = column_drift(profile_column("x", reference), reference, current)
    assert_clean(result)
    assert result.current_count == 300 and result.psi == pytest.approx(0.0, abs=1e-12)
    assert "not numeric" in result.note


def test_missing_columns_and_no_usable_feature():
    reference = pd.DataFrame({"a": np.arange(200.0), "b": ["x", "y"] * 100})
    profiles = {name: profile_column(name, reference[name]) for name in reference}
    report = dataset_drift(profiles, reference, reference[["b"]])
    first = report.features[0]
    assert first.column == "a" and first.insufficient and "missing from the current" in first.note
    assert report.drift_share == 0.0
    nothing = dataset_drift(profiles, reference, reference.iloc[:10])
    assert nothing.drift_share is None and all(f.insufficient for f in nothing.features)
    assert dataset_drift({}, reference, reference) == DriftReport((), None)


def test_drift_share_counts_only_features_with_enough_data():
    rng = np.random.default_rng(9)
    reference = pd.DataFrame({"a": rng.normal(0, 1, 1000), "b": rng.normal(0, 1, 1000),
                              "c": rng.choice(list("pq"), 1000)})
    current = pd.DataFrame({"a": rng.normal(2, 1, 800), "b": rng.normal(0, 1, 800),
                            "c": [None] * 800})
    profiles = {name: profile_column(name, reference[name]) for name in reference}
    report = dataset_drift(profiles, reference, current)
    assert [f.drifted for f in report.features] == [True, False, False]
    assert report.features[2].insufficient
    assert report.drift_share == 0.5


@pytest.mark.parametrize("values", [
    pd.Series(np.random.default_rng(1).exponential(1, 1000)),
    pd.Series([3.0] * 200),
    pd.Series([np.nan] * 10),
    pd.Series(["b", "a", "a", None] * 100),
    pd.Series([f"id{i}" for i in range(500)]),
])
def test_profiles_round_trip_through_json(values):
    profile = profile_column("col", values)
    data = json.loads(json.dumps(profile.to_dict(), allow_nan=False))
    assert data["kind"] == profile.kind
    assert profile_from_dict(data) == profile
    with pytest.raises(ValueError, match="kind"):
        profile_from_dict({**data, "kind": "image"})


def test_defaults_are_the_documented_ones():
    assert (PSI_BINS, RARE_CATEGORY_SHARE, MIN_SAMPLE, DRIFT_PSI, OTHER) == (
        10, 0.01, 100, 0.25, "(other)")
    assert drift.__doc__ and "PSI" in drift.__doc__ and "p-values are secondary" in drift.__doc__
