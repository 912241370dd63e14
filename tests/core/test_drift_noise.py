"""Noise-aware verdicts: undrifted windows of any size at or above the minimum sample give "ok"
runs, and the changes a monitor exists for are still caught.

Simulations with fixed seeds through the whole evaluation (``evaluate``) of a monitor with 30
numeric features of six shapes and a prediction column, against a reference of 5,000 rows.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from modelledger.core.drift import (
    NOISE_BUDGET,
    column_drift,
    distance_noise_floor,
    js_noise_floor,
    profile_column,
    profile_from_dict,
    psi_noise_floor,
    rows_to_detect,
    size_band,
)
from modelledger.core.monitoring import (
    DataSource,
    Health,
    MonitorSpec,
    SourceKind,
    describe_metric,
    evaluate,
)

REFERENCE_ROWS = 5_000
FEATURES = tuple(f"x{i:02d}" for i in range(30))
SHAPES = ("normal", "lognormal", "exponential", "poisson", "uniform", "student")
REGIONS = np.array(["north", "south", "east", "west", "centre", "coast", "hills", "islands"],
                   dtype=object)
REGION_SHARES = np.array([0.25, 0.2, 0.15, 0.12, 0.1, 0.08, 0.06, 0.04])
SOURCE = DataSource(SourceKind.FILE, path="current.csv")


def _column(rng: np.random.Generator, shape: str, rows: int) -> np.ndarray:
    if shape == "normal":
        return rng.normal(50.0, 10.0, rows)
    if shape == "lognormal":
        return rng.lognormal(3.0, 0.8, rows)
    if shape == "exponential":
        return rng.exponential(1000.0, rows)
    if shape == "poisson":
        return rng.poisson(4.0, rows).astype(np.float64)
    if shape == "uniform":
        return rng.uniform(-1.0, 1.0, rows)
    return rng.standard_t(4, rows)


def undrifted(rng: np.random.Generator, rows: int) -> pd.DataFrame:
    """30 features (x00 normal, x01 log-normal, ...), a region and the model's 0/1 prediction."""
    columns = {name: _column(rng, SHAPES[i % len(SHAPES)], rows)
               for i, name in enumerate(FEATURES)}
    columns["region"] = REGIONS[rng.choice(len(REGIONS), rows, p=REGION_SHARES)]
    score = 1.0 / (1.0 + np.exp(-(columns["x00"] - 50.0) / 10.0))
    columns["prediction"] = (rng.random(rows) < score).astype(np.int64)
    return pd.DataFrame(columns)


@pytest.fixture(scope="module")
def reference() -> tuple[pd.DataFrame, dict]:
    frame = undrifted(np.random.default_rng(18), REFERENCE_ROWS)
    profiles = {name: profile_column(name, frame[name]).to_dict() for name in frame.columns}
    return frame, profiles


def spec(*extra: str) -> MonitorSpec:
    return MonitorSpec(features=FEATURES + extra, source=SOURCE, prediction="prediction")


def run(reference, current: pd.DataFrame, monitor: MonitorSpec):
    frame, profiles = reference
    return evaluate(monitor, profiles, frame, current, {})


def flagged(evaluation, metric_prefix: str, subject: str) -> bool:
    return any(m.metric.startswith(metric_prefix) and m.subject == subject
               and m.status in (Health.WARN, Health.CRITICAL) for m in evaluation.metrics)


@pytest.mark.parametrize("rows", [100, 200, 500, 1_000, 5_000])
def test_undrifted_runs_are_ok_at_every_window_size(reference, rows):
    rng = np.random.default_rng(1_000 + rows)
    runs = 20
    healths = [run(reference, undrifted(rng, rows), spec()).health for _ in range(runs)]
    ok = sum(health is Health.OK for health in healths)
    assert ok / runs >= 0.95, healths


def test_a_half_sd_mean_shift_in_one_feature_is_caught_with_200_rows(reference):
    rng = np.random.default_rng(2)
    caught = 0
    for _ in range(20):
        current = undrifted(rng, 200)
        current["x00"] += 5.0  # x00 is normal with sd 10
        evaluation = run(reference, current, spec())
        caught += flagged(evaluation, "drift.", "x00") and evaluation.health is not Health.OK
    assert caught >= 18


def test_a_new_category_taking_5_percent_of_rows_is_caught(reference):
    rng = np.random.default_rng(3)
    caught = 0
    for _ in range(20):
        current = undrifted(rng, 200)
        current.loc[rng.random(200) < 0.05, "region"] = "offshore"
        evaluation = run(reference, current, spec("region"))
        caught += (flagged(evaluation, "quality.unseen_category_share", "region")
                   or flagged(evaluation, "drift.", "region"))
    assert caught >= 18


def test_ten_percent_moved_to_the_far_tail_is_caught_with_1000_rows(reference):
    rng = np.random.default_rng(4)
    caught = 0
    for _ in range(20):
        current = undrifted(rng, 1_000)
        moved = rng.random(1_000) < 0.10
        current.loc[moved, "x00"] = rng.uniform(100.0, 130.0, int(moved.sum()))  # 5-8 sd out
        evaluation = run(reference, current, spec())
        caught += (flagged(evaluation, "drift.", "x00")
                   or flagged(evaluation, "quality.out_of_range_share", "x00"))
    assert caught >= 18


def test_a_value_within_noise_is_ok_and_says_so(reference):
    rng = np.random.default_rng(5)
    evaluation = run(reference, undrifted(rng, 150), spec())
    noisy = [m for m in evaluation.metrics
             if m.noise_floor is not None and m.warn is not None and m.value is not None
             and m.warn <= m.value <= m.noise_floor]
    assert noisy, "at 150 rows some distances exceed 0.10 by noise alone"
    for metric in noisy:
        assert metric.status == Health.OK
        assert metric.noise_rows == 150
        assert "within the noise of 150 rows" in metric.note
        assert describe_metric(metric).endswith(", within the noise of 150 rows")
    assert "within noise" in evaluation.summary


def test_a_window_too_small_to_resolve_the_threshold_says_how_many_rows_it_needs(reference):
    evaluation = run(reference, undrifted(np.random.default_rng(6), 100), spec())
    assert "Window of 100 rows too small to detect a drift of 0.1" in evaluation.summary
    assert "need about" in evaluation.summary
    large = run(reference, undrifted(np.random.default_rng(6), 5_000), spec())
    assert "too small" not in large.summary


def test_rows_to_detect_brings_the_floor_down_to_the_target():
    proportions = (0.1,) * 10
    floor = psi_noise_floor(proportions, 5_000, 300, 1e-4)
    needed = rows_to_detect(floor, 5_000, 300, 0.10, 1.0)
    assert needed is not None and needed > 300
    assert psi_noise_floor(proportions, 5_000, needed, 1e-4) == pytest.approx(0.10, rel=0.01)
    # a reference too small for the target: no window size is enough
    assert rows_to_detect(psi_noise_floor(proportions, 200, 100, 1e-4), 200, 100, 0.10,
                          1.0) is None


def test_psi_and_js_floors_hold_their_false_alarm_rate_on_simulated_counts():
    rng = np.random.default_rng(7)
    shares = np.array([0.3, 0.25, 0.2, 0.15, 0.1])
    n, m, alpha = 5_000, 500, 0.01
    psi_floor = psi_noise_floor(shares, n, m, alpha)
    js_floor = js_noise_floor(shares, n, m, alpha)
    reference_shares = rng.multinomial(n, shares, 4_000) / n
    current_shares = rng.multinomial(m, shares, 4_000) / m
    p, q = np.maximum(reference_shares, 1e-4), np.maximum(current_shares, 1e-4)
    psi = np.sum((q - p) * np.log(q / p), axis=1)
    middle = (reference_shares + current_shares) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = lambda a: np.nansum(np.where(a > 0, a * np.log2(a / middle), 0.0), axis=1)  # noqa: E731
        js = np.sqrt(np.maximum((kl(reference_shares) + kl(current_shares)) / 2, 0.0))
    assert np.mean(psi > psi_floor) <= 2 * alpha
    assert np.mean(js > js_floor) <= 2 * alpha


def test_distance_floor_holds_its_false_alarm_rate_for_a_skewed_column():
    rng = np.random.default_rng(8)
    profile = profile_column("x", pd.Series(rng.lognormal(0.0, 1.0, 2_000)))
    floor = distance_noise_floor(profile, 300, 0.01)
    exceeded = 0
    for _ in range(400):
        reference = pd.Series(rng.lognormal(0.0, 1.0, 2_000))
        current = pd.Series(rng.lognormal(0.0, 1.0, 300))
        exceeded += column_drift(profile, reference, current).distance > floor
    assert exceeded / 400 <= 0.03


def test_profiles_stored_before_noise_floors_still_load_and_judge(reference):
    frame, profiles = reference
    stored = dict(profiles["x01"])
    del stored["quantiles"], stored["distance_noise"]
    old = profile_from_dict(stored)
    assert old.quantiles == () and old.distance_noise == {}
    current = undrifted(np.random.default_rng(9), 300)["x01"]
    then = column_drift(old, frame["x01"], current)
    now = column_drift(profile_from_dict(profiles["x01"]), frame["x01"], current)
    assert then.distance == now.distance and then.psi == now.psi
    # the sketch is taken from the reference values at run time: the same floor
    assert then.distance_floor == pytest.approx(now.distance_floor, rel=1e-9)


def test_profile_round_trip_keeps_the_noise_bands(reference):
    _, profiles = reference
    profile = profile_from_dict(profiles["x00"])
    assert profile_from_dict(profile.to_dict()) == profile
    assert size_band(100) == 64 and size_band(64) == 64 and size_band(63) == 16
    assert size_band(100) in profile.distance_noise


def test_the_run_budget_is_shared_among_its_checks(reference):
    # 30 features and the prediction, each with PSI, distance, missing and range share
    evaluation = run(reference, undrifted(np.random.default_rng(10), 400), spec())
    judged = [m for m in evaluation.metrics if m.noise_floor is not None]
    assert len(judged) == 4 * 31
    alpha = NOISE_BUDGET / len(judged)
    x00 = next(m for m in judged if m.metric == "drift.psi" and m.subject == "x00")
    expected = psi_noise_floor((0.1,) * 10, REFERENCE_ROWS, 400, alpha)
    assert math.isclose(x00.noise_floor, expected, rel_tol=1e-9)
