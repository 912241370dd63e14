"""Feature importance from a model's own numbers, through pipelines, and by permutation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from modelledger.core.importance import (
    PERMUTATION_MAX_ROWS,
    ImportanceMethod,
    drifted_top_k_share,
    measure_importance,
    ranked,
    top_features,
)
from modelledger.core.monitoring import MetricValue


def _frame(rows: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """``strong`` decides the label, ``weak`` a little, ``noise`` not at all; ``region``
    matters through one of its categories."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "strong": rng.normal(0, 1, rows), "weak": rng.normal(0, 1, rows),
        "noise": rng.normal(0, 1, rows),
        "region": rng.choice(["north", "south", "east"], rows),
    })
    logit = 3 * frame["strong"] + 0.7 * frame["weak"] + 2 * (frame["region"] == "north")
    label = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame, label.to_numpy()


NUMERIC = ["strong", "weak", "noise"]


def test_coefficients_are_scaled_by_the_spread_of_their_input():
    frame, label = _frame(3_000)
    # In thousands, "strong" has a tiny coefficient but is still what the model uses most.
    frame["strong"] = frame["strong"] * 1_000
    model = LogisticRegression(max_iter=1_000).fit(frame[NUMERIC], label)
    result = measure_importance(model, frame, NUMERIC)
    assert result.method is ImportanceMethod.COEFFICIENTS
    assert [name for name, _ in ranked(result.values)] == ["strong", "weak", "noise"]
    assert sum(result.values.values()) == pytest.approx(1.0)
    assert result.values["noise"] < 0.05


def test_multi_class_coefficients_are_averaged():
    frame, _ = _frame(2_000)
    classes = np.digitize(frame["strong"], [-0.5, 0.5])  # three classes decided by "strong"
    model = LogisticRegression(max_iter=1_000).fit(frame[NUMERIC], classes)
    assert model.coef_.shape == (3, 3)
    result = measure_importance(model, frame, NUMERIC)
    assert result.method is ImportanceMethod.COEFFICIENTS
    assert ranked(result.values)[0][0] == "strong"
    assert result.values["strong"] > 0.8


def test_regression_coefficients():
    frame, _ = _frame(1_000)
    target = 5 * frame["weak"] + 0.1 * frame["noise"]
    model = LinearRegression().fit(frame[NUMERIC], target)
    result = measure_importance(model, frame, NUMERIC)
    assert ranked(result.values)[0][0] == "weak"


def test_feature_importances_of_a_forest():
    frame, label = _frame(2_000)
    model = RandomForestClassifier(n_estimators=30, random_state=0).fit(frame[NUMERIC], label)
    result = measure_importance(model, frame, NUMERIC)
    assert result.method is ImportanceMethod.FEATURE_IMPORTANCES
    assert ranked(result.values)[0][0] == "strong"
    assert sum(result.values.values()) == pytest.approx(1.0)


def test_a_pipeline_maps_one_hot_columns_back_to_their_feature():
    frame, label = _frame(3_000)
    features = [*NUMERIC, "region"]
    model = make_pipeline(
        ColumnTransformer([("num", StandardScaler(), NUMERIC),
                           ("cat", OneHotEncoder(), ["region"])]),
        LogisticRegression(max_iter=1_000)).fit(frame[features], label)
    result = measure_importance(model, frame, features)
    assert result.method is ImportanceMethod.COEFFICIENTS
    assert set(result.values) == set(features)
    order = [name for name, _ in ranked(result.values)]
    assert order[0] == "strong" and order[-1] == "noise"
    assert result.values["region"] > result.values["noise"] * 3


def test_inputs_that_cannot_be_traced_back_fall_back_to_permutation():
    frame, label = _frame(1_000)
    model = make_pipeline(StandardScaler(), PCA(2), LogisticRegression()).fit(frame[NUMERIC],
                                                                                label)
    result = measure_importance(model, frame, NUMERIC)
    assert result.method is ImportanceMethod.PERMUTATION
    assert ranked(result.values)[0][0] == "strong"


def test_permutation_is_bounded_and_repeatable():
    frame, label = _frame(12_000)
    model = KNeighborsClassifier(5).fit(frame[NUMERIC], label)
    first = measure_importance(model, frame, NUMERIC)
    again = measure_importance(model, frame, NUMERIC)
    assert first.method is ImportanceMethod.PERMUTATION
    assert first.rows == PERMUTATION_MAX_ROWS
    assert first.values == again.values
    assert ranked(first.values)[0][0] == "strong"
    assert sum(first.values.values()) == pytest.approx(1.0)


def _drift(subject: str, status: str, distance_status: str = "ok") -> list[MetricValue]:
    return [MetricValue("drift.psi", subject, 0.3, status),
            MetricValue("drift.distance", subject, 0.05, distance_status)]


def test_top_k_share_counts_the_drift_of_the_most_important_features():
    importance = {"a": 0.5, "b": 0.3, "c": 0.15, "d": 0.05}
    assert top_features(importance, 2, ["a", "b", "c", "d"]) == ("a", "b")
    assert top_features(importance, 2, ["b", "c", "d"]) == ("b", "c")
    metrics = _drift("a", "critical") + _drift("b", "ok") + _drift("d", "critical")
    share, note = drifted_top_k_share(importance, 2, ["a", "b", "c", "d"], metrics)
    assert share == 0.5
    assert "drifted: a" in note
    # "d" drifts but the model hardly uses it: the top-2 share stays at zero.
    share, _ = drifted_top_k_share(importance, 2, ["a", "b", "c", "d"],
                                   _drift("a", "ok") + _drift("b", "ok") + _drift("d", "warn"))
    assert share == 0.0
    share, note = drifted_top_k_share(importance, 2, ["a", "b"],
                                      _drift("a", "insufficient data", "insufficient data"))
    assert share is None and "enough data" in note
