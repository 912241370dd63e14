"""Champion versus challenger on the same rows: metrics as scikit-learn computes them, intervals
of the right width, the paired tests, slices and the stored form."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as sk

from modelledger.core.challenger import Comparison
from modelledger.core.errors import InvalidInputError
from modelledger.core.paired_comparison import compare_on_same_rows


def _two_classifiers(rows: int, edge: float, seed: int = 1):
    """Labels, and two noisy scorers of them; the challenger leans ``edge`` more on the truth."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, rows)
    champion = np.clip(labels * 0.3 + rng.random(rows) * 0.7, 0, 1)
    challenger = np.clip(labels * (0.3 + edge) + rng.random(rows) * (0.7 - edge), 0, 1)
    return (pd.Series(labels), pd.Series((champion > 0.5).astype(int)),
            pd.Series((challenger > 0.5).astype(int)), pd.Series(champion), pd.Series(challenger))


def test_classification_metrics_are_scikit_learns_and_a_better_challenger_is_significant():
    labels, champion, challenger, champion_scores, challenger_scores = _two_classifiers(5000, 0.1)
    result = compare_on_same_rows("classification", labels, champion, challenger,
                                  champion_scores=champion_scores,
                                  challenger_scores=challenger_scores)

    expected = {"accuracy": sk.accuracy_score, "precision": sk.precision_score,
                "recall": sk.recall_score, "f1": sk.f1_score}
    for metric, score in expected.items():
        assert result.difference(metric).champion == pytest.approx(score(labels, champion))
        assert result.difference(metric).challenger == pytest.approx(score(labels, challenger))
    assert result.difference("roc_auc").champion == pytest.approx(
        sk.roc_auc_score(labels, champion_scores))
    assert result.difference("log_loss").challenger == pytest.approx(
        sk.log_loss(labels, challenger_scores))
    for metric in ("accuracy", "f1", "roc_auc", "log_loss"):
        difference = result.difference(metric)
        assert difference.excludes_zero and difference.improvement > 0, metric
        low, high = difference.improvement_interval
        assert 0 < low <= difference.improvement <= high
    assert result.test.name == "McNemar exact" and result.test.p_value < 1e-6
    assert result.rows == 5000


def test_the_grouped_bootstrap_is_as_wide_as_the_paired_difference_varies():
    """Above 20,000 rows the weights are drawn per group of rows; the interval must still be
    the width the per-row differences imply (1.96 standard errors of their mean)."""
    labels, champion, challenger, *_ = _two_classifiers(200_000, 0.02, seed=3)
    result = compare_on_same_rows("classification", labels, champion, challenger)
    per_row = (challenger == labels).astype(float) - (champion == labels).astype(float)
    expected_half_width = 1.96 * per_row.std() / math.sqrt(len(per_row))
    accuracy = result.difference("accuracy")
    assert (accuracy.high - accuracy.low) / 2 == pytest.approx(expected_half_width, rel=0.15)


def test_the_auc_interval_covers_the_difference_of_a_fresh_sample_as_often_as_it_says():
    truth = _two_classifiers(500_000, 0.05, seed=1000)
    true_difference = sk.roc_auc_score(truth[0], truth[4]) - sk.roc_auc_score(truth[0], truth[3])
    inside = 0
    for seed in range(60):
        labels, _, _, champion, challenger = _two_classifiers(400, 0.05, seed=seed)
        result = compare_on_same_rows("classification", labels, champion > 0.5,
                                      challenger > 0.5, champion_scores=champion,
                                      challenger_scores=challenger, resamples=100)
        auc = result.difference("roc_auc")
        inside += auc.low <= true_difference <= auc.high
    assert inside >= 51  # 95% nominal; at least 85% of 60 runs


def test_regression_metrics_the_paired_test_and_slices():
    rng = np.random.default_rng(7)
    labels = rng.normal(size=3000)
    champion = labels + rng.normal(scale=0.5, size=3000)
    challenger = labels + rng.normal(scale=0.4, size=3000)
    region = pd.Series(rng.choice(["north", "south", "east"], 3000), name="region")
    region[:20] = None  # too few rows for a "missing" slice of its own

    result = compare_on_same_rows("regression", pd.Series(labels), pd.Series(champion),
                                  pd.Series(challenger), slice_by=region)

    assert result.difference("rmse").champion == pytest.approx(
        math.sqrt(sk.mean_squared_error(labels, champion)))
    assert result.difference("r2").challenger == pytest.approx(sk.r2_score(labels, challenger))
    assert result.difference("mae").improvement > 0 and result.difference("mae").excludes_zero
    assert result.test.name == "paired t-test on squared errors" and result.test.p_value < 1e-3
    assert "lower" in result.test.note
    assert sorted(s.value for s in result.slices) == ["east", "north", "south"]
    assert sum(s.rows for s in result.slices) == 3000 - 20
    assert all(s.column == "region" for s in result.slices)


def test_numeric_slices_are_quartiles():
    rng = np.random.default_rng(2)
    labels = pd.Series(rng.normal(size=800))
    age = pd.Series(rng.uniform(18, 90, 800), name="age")
    result = compare_on_same_rows("regression", labels, labels + 0.1, labels + 0.2, slice_by=age)
    assert len(result.slices) == 4
    assert all(150 <= s.rows <= 250 for s in result.slices)
    assert result.slices[0].value.startswith("18")


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(min_value=20, max_value=400), seed=st.integers(0, 10_000),
       task=st.sampled_from(["classification", "regression"]))
def test_a_challenger_identical_to_the_champion_never_looks_different(rows, seed, task):
    rng = np.random.default_rng(seed)
    if task == "classification":
        labels = pd.Series(rng.integers(0, 3, rows))
        predictions = pd.Series(rng.integers(0, 3, rows))
    else:
        labels = pd.Series(rng.normal(size=rows))
        predictions = labels + rng.normal(size=rows)
    result = compare_on_same_rows(task, labels, predictions, predictions.copy(), resamples=100)
    for difference in result.differences:
        assert difference.difference == 0
        assert not difference.excludes_zero
    assert result.test.p_value == 1.0


def test_rows_without_a_label_or_a_prediction_are_left_out_for_both_models():
    labels = pd.Series([1, 0, None, 1, 0] * 40)
    champion = pd.Series([1, 0, 1, None, 1] * 40)
    challenger = pd.Series([1, 0, 1, 1, 0] * 40)
    result = compare_on_same_rows("classification", labels, champion, challenger)
    assert result.rows == 120
    assert result.difference("accuracy").champion == pytest.approx(2 / 3)
    assert result.difference("accuracy").challenger == pytest.approx(1.0)


def test_the_comparison_is_stored_and_read_back_whole():
    labels, champion, challenger, *_ = _two_classifiers(600, 0.1)
    result = compare_on_same_rows("classification", labels, champion, challenger,
                                  slice_by=pd.Series(["a", "b"] * 300, name="segment"))
    assert Comparison.from_dict(result.to_dict()) == result


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"task": "ranking"}, "task must be"),
    ({"challenger": pd.Series([1, 0])}, "same rows"),
    ({"resamples": 10}, "at least 100 resamples"),
    ({"challenger_scores": pd.Series([2.0] * 100), "champion_scores": pd.Series([0.5] * 100)},
     "between 0 and 1"),
    ({"labels": pd.Series([None] * 100)}, "no row has a label"),
])
def test_bad_input_is_named(kwargs, message):
    arguments = {"task": "classification", "labels": pd.Series([1, 0] * 50),
                 "champion": pd.Series([1, 1] * 50), "challenger": pd.Series([0, 0] * 50)}
    arguments.update(kwargs)
    with pytest.raises(InvalidInputError, match=message):
        compare_on_same_rows(arguments.pop("task"), arguments.pop("labels"),
                             arguments.pop("champion"), arguments.pop("challenger"), **arguments)


def test_a_shadow_run_says_how_often_the_challenger_agrees_and_once_labelled_how_it_scores():
    from modelledger.core.challenger import ShadowComparison
    from modelledger.core.paired_comparison import shadow_comparison

    labels, champion, challenger, champion_scores, challenger_scores = _two_classifiers(2000, 0.1)
    unlabelled = shadow_comparison("classification", champion, challenger,
                                   champion_scores=champion_scores,
                                   challenger_scores=challenger_scores)
    assert unlabelled.rows == 2000 and unlabelled.labelled_rows == 0
    assert unlabelled.agreement == pytest.approx((champion == challenger).mean())
    assert 0 < unlabelled.score_shift < 1 and unlabelled.differences == ()

    few_labels = labels.astype(float).where(labels.index < 30)
    assert shadow_comparison("classification", champion, challenger,
                             labels=few_labels).differences == ()
    labelled = shadow_comparison("classification", champion, challenger,
                                 champion_scores=champion_scores,
                                 challenger_scores=challenger_scores, labels=labels)
    assert labelled.labelled_rows == 2000
    assert {d.metric for d in labelled.differences} >= {"accuracy", "roc_auc"}
    assert ShadowComparison.from_dict(labelled.to_dict()) == labelled

    same = shadow_comparison("regression", pd.Series([1.0, 2.0, 100.0]),
                             pd.Series([1.005, 2.5, 100.5]))
    assert same.agreement == pytest.approx(2 / 3)
