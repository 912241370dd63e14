import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as sk

from modelledger.core.errors import InvalidInputError
from modelledger.core.performance import (
    CLASSIFICATION_METRICS,
    MIN_LABELLED,
    REGRESSION_METRICS,
    PerformanceResult,
    classification_metrics,
    regression_metrics,
)

TOL = 1e-9


def assert_close(result: PerformanceResult, expected: dict[str, float]) -> None:
    for name, value in expected.items():
        assert result.metrics[name] == pytest.approx(value, abs=TOL, rel=TOL), name


def binary_data(seed: int, n: int = 2_000):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    # rounded scores: many ties, which ROC AUC must count one half
    scores = np.clip(np.round(0.3 * labels + 0.7 * rng.random(n), 2), 0, 1)
    predictions = (scores > 0.5).astype(int)
    return labels, predictions, scores


def sklearn_binary(labels, predictions, scores, pos_label=1):
    return {
        "accuracy": sk.accuracy_score(labels, predictions),
        "precision": sk.precision_score(labels, predictions, pos_label=pos_label,
                                        zero_division=0),
        "recall": sk.recall_score(labels, predictions, pos_label=pos_label, zero_division=0),
        "f1": sk.f1_score(labels, predictions, pos_label=pos_label, zero_division=0),
        "roc_auc": sk.roc_auc_score(np.asarray(labels) == pos_label, scores),
        "log_loss": sk.log_loss(np.asarray(labels) == pos_label, scores, labels=[False, True]),
    }


@pytest.mark.parametrize("seed", range(5))
def test_binary_metrics_agree_with_sklearn(seed):
    labels, predictions, scores = binary_data(seed)
    result = classification_metrics(pd.Series(labels), pd.Series(predictions), pd.Series(scores))
    assert result.task == "classification"
    assert not result.insufficient
    assert result.count == len(labels)
    assert result.note == ""
    assert list(result.metrics) == list(CLASSIFICATION_METRICS)
    assert_close(result, sklearn_binary(labels, predictions, scores))


def test_text_labels_take_the_larger_label_as_positive():
    labels, predictions, scores = binary_data(7)
    names = np.array(["no", "yes"])
    result = classification_metrics(pd.Series(names[labels]), pd.Series(names[predictions]),
                                    pd.Series(scores))
    expected = sklearn_binary(names[labels], names[predictions], scores, pos_label="yes")
    assert_close(result, expected)


def test_boolean_labels_and_float_labels_with_gaps_use_1_as_positive():
    labels, predictions, scores = binary_data(8)
    result = classification_metrics(pd.Series(labels.astype(bool)),
                                    pd.Series(predictions.astype(bool)), pd.Series(scores))
    assert_close(result, sklearn_binary(labels, predictions, scores))

    # labels arrive later: a float column with NaN next to integer predictions
    gappy = labels.astype(float)
    gappy[::3] = np.nan
    result = classification_metrics(pd.Series(gappy), pd.Series(predictions), pd.Series(scores))
    kept = ~np.isnan(gappy)
    assert result.count == int(kept.sum())
    assert_close(result, sklearn_binary(labels[kept], predictions[kept], scores[kept]))


def test_explicit_positive_label():
    labels, predictions, scores = binary_data(9)
    # scores are the probability of the positive class, here class 0
    result = classification_metrics(pd.Series(labels), pd.Series(predictions),
                                    pd.Series(1 - scores), positive_label=0)
    assert_close(result, sklearn_binary(labels, predictions, 1 - scores, pos_label=0))


def test_positive_label_that_is_not_a_class_is_refused():
    labels, predictions, _ = binary_data(10, 100)
    with pytest.raises(InvalidInputError, match=r"positive label 'yes' is not one of"):
        classification_metrics(pd.Series(labels), pd.Series(predictions), positive_label="yes")


def test_binary_scores_as_a_probability_table_use_the_positive_column():
    labels, predictions, scores = binary_data(11)
    table = pd.DataFrame({0: 1 - scores, 1: scores})
    result = classification_metrics(pd.Series(labels), pd.Series(predictions), table)
    assert_close(result, sklearn_binary(labels, predictions, scores))

    wrong = pd.DataFrame({"a": 1 - scores, "b": scores})
    result = classification_metrics(pd.Series(labels), pd.Series(predictions), wrong)
    assert result.metrics["roc_auc"] is None and result.metrics["log_loss"] is None
    assert "no such column" in result.note


def multiclass_data(seed: int, n: int = 3_000, k: int = 4):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    # small whole-number weights: many tied probabilities
    weights = rng.integers(1, 6, (n, k)).astype(float)
    weights[np.arange(n), labels] += 3
    probabilities = weights / weights.sum(axis=1, keepdims=True)
    predictions = probabilities.argmax(axis=1)
    return labels, predictions, probabilities


def sklearn_multiclass(labels, predictions, probabilities):
    return {
        "accuracy": sk.accuracy_score(labels, predictions),
        "precision": sk.precision_score(labels, predictions, average="macro", zero_division=0),
        "recall": sk.recall_score(labels, predictions, average="macro", zero_division=0),
        "f1": sk.f1_score(labels, predictions, average="macro", zero_division=0),
        "roc_auc": sk.roc_auc_score(labels, probabilities, multi_class="ovr", average="macro"),
        "log_loss": sk.log_loss(labels, probabilities),
    }


@pytest.mark.parametrize("seed", range(4))
def test_multiclass_metrics_agree_with_sklearn(seed):
    labels, predictions, probabilities = multiclass_data(seed)
    result = classification_metrics(pd.Series(labels), pd.Series(predictions),
                                    pd.DataFrame(probabilities))
    assert result.note == ""
    assert_close(result, sklearn_multiclass(labels, predictions, probabilities))


def test_multiclass_text_classes_and_text_column_names():
    labels, predictions, probabilities = multiclass_data(5, k=3)
    names = np.array(["low", "mid", "top"])
    table = pd.DataFrame(probabilities, columns=names)
    result = classification_metrics(pd.Series(names[labels]), pd.Series(names[predictions]),
                                    table)
    assert_close(result, sklearn_multiclass(names[labels], names[predictions], probabilities))

    # class labels are numbers, column names their text (as read from a file)
    result = classification_metrics(pd.Series(labels), pd.Series(predictions),
                                    pd.DataFrame(probabilities, columns=["0", "1", "2"]))
    assert_close(result, sklearn_multiclass(labels, predictions, probabilities))


def test_multiclass_macro_average_counts_classes_that_are_only_predicted():
    labels = pd.Series([0, 1, 1, 2] * 20)
    predictions = pd.Series([0, 1, 3, 2] * 20)
    result = classification_metrics(labels, predictions)
    assert_close(result, {
        "precision": sk.precision_score(labels, predictions, average="macro", zero_division=0),
        "recall": sk.recall_score(labels, predictions, average="macro", zero_division=0),
        "f1": sk.f1_score(labels, predictions, average="macro", zero_division=0),
    })


def test_multiclass_without_a_probability_table():
    labels, predictions, probabilities = multiclass_data(6)
    result = classification_metrics(pd.Series(labels), pd.Series(predictions),
                                    pd.Series(probabilities[:, 0]))
    assert result.metrics["roc_auc"] is None and result.metrics["log_loss"] is None
    assert "table of class probabilities" in result.note
    assert result.metrics["accuracy"] == pytest.approx(sk.accuracy_score(labels, predictions))

    result = classification_metrics(pd.Series(labels), pd.Series(predictions))
    assert result.metrics["roc_auc"] is None and "none were given" in result.note

    partial = pd.DataFrame(probabilities[:, :2])
    result = classification_metrics(pd.Series(labels), pd.Series(predictions), partial)
    assert result.metrics["roc_auc"] is None
    assert "no column for the label class(es) 2, 3" in result.note


def test_multiclass_positive_label_is_ignored_with_a_note():
    labels, predictions, _ = multiclass_data(12, n=200, k=3)
    result = classification_metrics(pd.Series(labels), pd.Series(predictions), positive_label=1)
    assert "positive label is ignored" in result.note
    assert result.metrics["f1"] == pytest.approx(
        sk.f1_score(labels, predictions, average="macro"), abs=TOL)


def test_rows_without_label_or_prediction_are_left_out():
    labels, predictions, scores = binary_data(13, 500)
    label_column = pd.Series(labels, dtype="Int64")
    label_column[::4] = pd.NA
    prediction_column = pd.Series(predictions.astype(float))
    prediction_column[1::5] = np.nan
    kept = label_column.notna().to_numpy() & prediction_column.notna().to_numpy()
    result = classification_metrics(label_column, prediction_column, pd.Series(scores))
    assert result.count == int(kept.sum())
    assert_close(result, sklearn_binary(labels[kept], predictions[kept], scores[kept]))


def test_rows_without_a_score_are_left_out_of_roc_auc_and_log_loss_only():
    labels, predictions, scores = binary_data(14, 500)
    gappy = scores.copy()
    gappy[:40] = np.nan
    result = classification_metrics(pd.Series(labels), pd.Series(predictions), pd.Series(gappy))
    assert result.count == 500
    assert "40 labelled rows without a score" in result.note
    assert result.metrics["accuracy"] == pytest.approx(sk.accuracy_score(labels, predictions))
    assert_close(result, {
        "roc_auc": sk.roc_auc_score(labels[40:], scores[40:]),
        "log_loss": sk.log_loss(labels[40:], scores[40:]),
    })


def test_too_few_labelled_rows_is_insufficient():
    labels = pd.Series([1.0, 0.0] * 10 + [np.nan] * 100)
    predictions = pd.Series([1, 0] * 60)
    result = classification_metrics(labels, predictions, pd.Series([0.5] * 120))
    assert result.insufficient and result.count == 20
    assert all(value is None for value in result.metrics.values())
    assert set(result.metrics) == set(CLASSIFICATION_METRICS)
    assert "20 labelled rows" in result.note and f"at least {MIN_LABELLED}" in result.note

    result = classification_metrics(pd.Series([np.nan] * 5), pd.Series([1] * 5), min_sample=3)
    assert result.insufficient and result.count == 0
    assert "No labelled rows yet" in result.note and "at least 3" in result.note

    result = regression_metrics(pd.Series([1.0, 2.0]), pd.Series([1.0, 2.5]), min_sample=3)
    assert result.insufficient and result.task == "regression"
    assert set(result.metrics) == set(REGRESSION_METRICS)
    assert all(value is None for value in result.metrics.values())

    assert not classification_metrics(labels, predictions, min_sample=20).insufficient


def test_labels_of_one_class():
    rng = np.random.default_rng(15)
    labels = np.ones(200, dtype=int)
    predictions = rng.integers(0, 2, 200)
    scores = rng.random(200)
    scores[:5] = [0.0, 1.0, 0.0, 1.0, 0.5]  # hard 0/1 probabilities: log loss stays finite
    result = classification_metrics(pd.Series(labels), pd.Series(predictions), pd.Series(scores))
    assert result.metrics["roc_auc"] is None
    assert "Only one class (1) among the labels; ROC AUC needs both" in result.note
    assert_close(result, {
        "accuracy": sk.accuracy_score(labels, predictions),
        "precision": sk.precision_score(labels, predictions),
        "recall": sk.recall_score(labels, predictions),
        "f1": sk.f1_score(labels, predictions),
        "log_loss": sk.log_loss(labels, scores, labels=[0, 1]),
    })
    assert math.isfinite(result.metrics["log_loss"])


def test_hard_probabilities_give_a_finite_log_loss_like_sklearn():
    labels, predictions, _ = binary_data(16, 300)
    hard = 1.0 - predictions.astype(float)  # confidently wrong everywhere
    result = classification_metrics(pd.Series(labels), pd.Series(predictions), pd.Series(hard))
    assert math.isfinite(result.metrics["log_loss"])
    assert result.metrics["log_loss"] == pytest.approx(sk.log_loss(labels, hard), rel=TOL)


def test_scores_that_are_not_probabilities():
    labels, predictions, scores = binary_data(17, 300)
    margins = pd.Series(4 * scores - 2)  # a decision function, not a probability
    result = classification_metrics(pd.Series(labels), pd.Series(predictions), margins)
    assert result.metrics["log_loss"] is None
    assert "between 0 and 1" in result.note
    assert result.metrics["roc_auc"] == pytest.approx(sk.roc_auc_score(labels, margins), abs=TOL)

    with pytest.raises(InvalidInputError, match="must be numbers"):
        classification_metrics(pd.Series(labels), pd.Series(predictions),
                               pd.Series(["high"] * 300))


def test_no_scores_leaves_roc_auc_and_log_loss_empty_with_a_note():
    labels, predictions, _ = binary_data(18, 300)
    result = classification_metrics(pd.Series(labels), pd.Series(predictions))
    assert result.metrics["roc_auc"] is None and result.metrics["log_loss"] is None
    assert "need scores" in result.note


def test_nothing_predicted_positive_gives_zero_precision():
    labels = pd.Series([0, 1] * 50)
    predictions = pd.Series([0] * 100)
    result = classification_metrics(labels, predictions)
    assert result.metrics["precision"] == 0.0
    assert result.metrics["recall"] == 0.0
    assert result.metrics["f1"] == 0.0
    assert result.metrics["accuracy"] == 0.5


def test_mismatched_lengths_and_bad_min_sample_are_refused():
    with pytest.raises(InvalidInputError, match="labels have 3 rows but the predictions have 2"):
        classification_metrics(pd.Series([0, 1, 0]), pd.Series([0, 1]))
    with pytest.raises(InvalidInputError, match="scores have 2"):
        classification_metrics(pd.Series([0, 1, 0]), pd.Series([0, 1, 1]), pd.Series([0.1, 1]))
    with pytest.raises(InvalidInputError, match="minimum number of labelled rows"):
        regression_metrics(pd.Series([1.0]), pd.Series([1.0]), min_sample=-1)


@pytest.mark.parametrize("seed", range(3))
def test_regression_metrics_agree_with_sklearn(seed):
    rng = np.random.default_rng(seed)
    labels = rng.normal(100, 20, 5_000)
    predictions = labels + rng.normal(0, 5, 5_000)
    labels_column = pd.Series(labels)
    labels_column[:100] = np.nan
    result = regression_metrics(labels_column, pd.Series(predictions))
    assert result.task == "regression" and result.count == 4_900 and result.note == ""
    assert_close(result, {
        "mae": sk.mean_absolute_error(labels[100:], predictions[100:]),
        "rmse": math.sqrt(sk.mean_squared_error(labels[100:], predictions[100:])),
        "r2": sk.r2_score(labels[100:], predictions[100:]),
    })


def test_regression_with_constant_labels_has_no_r2():
    result = regression_metrics(pd.Series([3.0] * 60), pd.Series([2.0, 4.0] * 30))
    assert result.metrics["r2"] is None
    assert "all equal (3)" in result.note
    assert result.metrics["mae"] == 1.0 and result.metrics["rmse"] == 1.0


def test_regression_needs_numbers():
    with pytest.raises(InvalidInputError, match="Regression needs numeric labels"):
        regression_metrics(pd.Series(["a"] * 60), pd.Series([1.0] * 60))


def test_a_million_rows_is_quick():
    rng = np.random.default_rng(19)
    n = 1_000_000
    labels = pd.Series(rng.integers(0, 2, n))
    scores = pd.Series(rng.random(n))
    result = classification_metrics(labels, (scores > 0.5).astype(int), scores)
    assert result.count == n and 0.45 < result.metrics["roc_auc"] < 0.55


classes = st.sampled_from([0, 1, 2])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0, 1]), st.floats(0, 1)), min_size=1, max_size=80))
def test_perfect_predictions_score_perfectly(rows):
    labels = pd.Series([label for label, _ in rows])
    scores = pd.Series([score for _, score in rows])
    result = classification_metrics(labels, labels, scores, min_sample=1)
    assert result.metrics["accuracy"] == 1.0
    if (labels == 1).any():
        assert result.metrics["f1"] == 1.0
        assert result.metrics["precision"] == 1.0 and result.metrics["recall"] == 1.0
    values = pd.Series([score for _, score in rows], dtype=float)
    regression = regression_metrics(values, values, min_sample=1)
    assert regression.metrics["mae"] == 0.0 and regression.metrics["rmse"] == 0.0


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(classes, classes, st.floats(0, 1)), min_size=1, max_size=60),
       st.booleans())
def test_metrics_are_never_nan(rows, binary):
    labels = pd.Series([label % 2 if binary else label for label, _, _ in rows])
    predictions = pd.Series([p % 2 if binary else p for _, p, _ in rows])
    scores = pd.Series([s for _, _, s in rows])
    if not binary:
        scores = pd.DataFrame({0: scores / 2, 1: scores / 2, 2: 1 - scores})
    result = classification_metrics(labels, predictions, scores, min_sample=1)
    for name, value in result.metrics.items():
        assert value is None or math.isfinite(value), name
        if value is None:
            assert result.note
    for name in ("accuracy", "precision", "recall", "f1"):
        assert 0.0 <= result.metrics[name] <= 1.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6)), min_size=1,
                max_size=60))
def test_regression_metrics_are_never_nan(rows):
    result = regression_metrics(pd.Series([y for y, _ in rows]), pd.Series([p for _, p in rows]),
                                min_sample=1)
    for value in result.metrics.values():
        assert value is None or math.isfinite(value)
    assert result.metrics["mae"] >= 0 and result.metrics["rmse"] >= result.metrics["mae"] - 1e-6
