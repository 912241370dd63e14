"""Model performance once labels are present: classification and regression metrics.

Labels often arrive later than predictions, so rows without a label (or without a prediction)
are left out and ``count`` says how many rows were used. Below ``min_sample`` labelled rows no
metric is given: a handful of labels says little about a model. A metric that cannot be
computed (ROC AUC without scores, R² of constant labels, ...) is ``None`` and ``note`` says why.

The formulas follow scikit-learn's (``zero_division=0``, ties in ROC AUC count one half, log loss
clips probabilities to machine epsilon) so the numbers match what a data scientist computes in a
notebook; scikit-learn itself is not imported here because it is slow to import.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from modelledger.core.errors import InvalidInputError

MIN_LABELLED = 50  # fewer labelled rows -> insufficient data

CLASSIFICATION = "classification"
REGRESSION = "regression"
CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
REGRESSION_METRICS = ("mae", "rmse", "r2")

_EPS = float(np.finfo(np.float64).eps)
_SHOWN_CLASSES = 10


@dataclass(frozen=True)
class PerformanceResult:
    task: str  # "classification" | "regression"
    metrics: dict[str, float | None]  # every metric of the task, None where not computable
    count: int  # labelled rows used
    insufficient: bool
    note: str  # explains any None metric or the insufficiency; "" if none


# ---------------------------------------------------------------------------------------------
# Classification


def classification_metrics(
    labels: pd.Series,
    predictions: pd.Series,
    scores: pd.Series | pd.DataFrame | None = None,
    *,
    positive_label: Any = None,
    min_sample: int = MIN_LABELLED,
) -> PerformanceResult:
    """Accuracy, precision, recall, F1, ROC AUC and log loss of predicted classes.

    Two classes: precision, recall and F1 of the positive class; ``scores`` is the probability
    of the positive class (a Series; a table of class probabilities also works). More classes:
    macro averages; ROC AUC (one-vs-rest, macro) and log loss need ``scores`` as a DataFrame of
    class probabilities whose columns are the class labels. ``positive_label`` defaults to 1
    (True) for 0/1 or boolean labels, else to the larger of the two sorted labels; it is ignored
    when there are more than two classes. Rows are matched by position.
    """
    labels, predictions = _as_series(labels, "labels"), _as_series(predictions, "predictions")
    _check_lengths(len(labels), {"predictions": len(predictions)})
    if scores is not None:
        if not isinstance(scores, pd.DataFrame):
            scores = _as_series(scores, "scores")
        _check_lengths(len(labels), {"scores": len(scores)})
    minimum = _check_min_sample(min_sample)

    used = (labels.notna() & predictions.notna()).to_numpy(dtype=bool)
    count = int(used.sum())
    if count < minimum:
        return _insufficient(CLASSIFICATION, CLASSIFICATION_METRICS, count, minimum)

    y_values, p_values = _class_values(labels[used]), _class_values(predictions[used])
    y_values, p_values = _reconcile(y_values, p_values)
    classes, y_codes, p_codes = _encode(y_values, p_values)
    table_classes = len(scores.columns) if isinstance(scores, pd.DataFrame) else 0
    notes: list[str] = []
    metrics: dict[str, float | None] = {
        "accuracy": float(np.mean(y_codes == p_codes))}

    if len(classes) <= 2 and table_classes <= 2:
        positive = _positive_code(classes, positive_label)
        _binary_counts(metrics, y_codes, p_codes, positive)
        _binary_scores(metrics, notes, classes, y_codes, positive, scores, used)
    else:
        if positive_label is not None:
            notes.append(f"The positive label is ignored: there are {len(classes)} classes "
                         f"({_show(classes)}), so precision, recall and F1 are macro averages.")
        _macro_counts(metrics, y_codes, p_codes, len(classes))
        _multiclass_scores(metrics, notes, classes, y_codes, scores, used)

    return _finish(CLASSIFICATION, metrics, count, notes)


def _binary_counts(metrics: dict, y_codes: np.ndarray, p_codes: np.ndarray,
                   positive: int | None) -> None:
    if positive is None:  # the positive class occurs nowhere: nothing is a true positive
        tp = fp = fn = 0
    else:
        y_pos, p_pos = y_codes == positive, p_codes == positive
        tp = int(np.count_nonzero(y_pos & p_pos))
        fp = int(np.count_nonzero(p_pos)) - tp
        fn = int(np.count_nonzero(y_pos)) - tp
    metrics["precision"] = _ratio(tp, tp + fp)
    metrics["recall"] = _ratio(tp, tp + fn)
    metrics["f1"] = _ratio(2 * tp, 2 * tp + fp + fn)


def _macro_counts(metrics: dict, y_codes: np.ndarray, p_codes: np.ndarray, k: int) -> None:
    true_counts = np.bincount(y_codes, minlength=k).astype(np.float64)
    predicted_counts = np.bincount(p_codes, minlength=k).astype(np.float64)
    hits = np.bincount(y_codes[y_codes == p_codes], minlength=k).astype(np.float64)
    metrics["precision"] = float(np.mean(_ratios(hits, predicted_counts)))
    metrics["recall"] = float(np.mean(_ratios(hits, true_counts)))
    metrics["f1"] = float(np.mean(_ratios(2 * hits, true_counts + predicted_counts)))


def _binary_scores(metrics: dict, notes: list[str], classes: np.ndarray, y_codes: np.ndarray,
                   positive: int | None, scores: Any, used: np.ndarray) -> None:
    metrics["roc_auc"] = metrics["log_loss"] = None
    if scores is None:
        notes.append("ROC AUC and log loss need scores (predicted probabilities); "
                     "none were given.")
        return
    if isinstance(scores, pd.DataFrame):
        name = _positive_name(classes, positive)
        column = _find_column(scores.columns, name)
        if column is None:
            notes.append(f"ROC AUC and log loss need the probability of the positive class "
                         f"{_plain(name)!r}, but the scores have no such column "
                         f"(columns: {_show(scores.columns)}).")
            return
        scores = scores[column]
    probability = _score_values(scores, "scores")[used]
    present = ~np.isnan(probability)
    if not present.all():
        notes.append(f"{int((~present).sum())} labelled rows without a score are left out of "
                     "ROC AUC and log loss.")
    probability = probability[present]
    if positive is None:
        y_pos = np.zeros(len(probability), dtype=bool)
    else:
        y_pos = y_codes[present] == positive
    if len(probability) == 0:
        notes.append("No labelled row has a score, so ROC AUC and log loss are not computed.")
        return

    label_classes = np.unique(y_codes[present])
    if len(label_classes) < 2:
        only = _plain(classes[label_classes[0]])
        notes.append(f"Only one class ({only!r}) among the labels; ROC AUC needs both.")
    else:
        metrics["roc_auc"] = _auc(y_pos, probability)

    if _probabilities_note(notes, probability):
        metrics["log_loss"] = _binary_log_loss(y_pos, probability)


def _multiclass_scores(metrics: dict, notes: list[str], classes: np.ndarray,
                       y_codes: np.ndarray, scores: Any, used: np.ndarray) -> None:
    metrics["roc_auc"] = metrics["log_loss"] = None
    if scores is None:
        notes.append("ROC AUC and log loss need scores (a table of class probabilities); "
                     "none were given.")
        return
    if not isinstance(scores, pd.DataFrame):
        notes.append("With more than two classes, ROC AUC and log loss need a table of class "
                     "probabilities (one column per class), not a single score column.")
        return
    label_codes = np.unique(y_codes)
    columns = [_find_column(scores.columns, classes[code]) for code in label_codes]
    lacking = [classes[code] for code, column in zip(label_codes, columns, strict=True)
               if column is None]
    if lacking:
        notes.append(f"The class probabilities have no column for the label class(es) "
                     f"{_show(lacking)} (columns: {_show(scores.columns)}), so ROC AUC and log "
                     "loss are not computed.")
        return
    every = {name: _score_values(scores[name], f"scores column {name!r}")[used]
             for name in scores.columns}
    table = np.column_stack([every[name] for name in columns])
    present = ~np.isnan(np.column_stack(list(every.values()))).any(axis=1)
    if not present.all():
        notes.append(f"{int((~present).sum())} labelled rows without all class probabilities "
                     "are left out of ROC AUC and log loss.")
    table, y_kept = table[present], y_codes[present]
    if len(table) == 0:
        notes.append("No labelled row has class probabilities, so ROC AUC and log loss are not "
                     "computed.")
        return
    position = np.full(len(classes), -1, dtype=np.intp)
    position[label_codes] = np.arange(len(label_codes))

    kept_classes = np.unique(y_kept)
    if len(kept_classes) < 2:
        notes.append(f"Only one class ({_plain(classes[kept_classes[0]])!r}) among the labels; "
                     "ROC AUC needs at least two.")
    else:
        metrics["roc_auc"] = float(np.mean(
            [_auc(y_kept == code, table[:, position[code]]) for code in kept_classes]))
        unused = [name for name in scores.columns
                  if not any(name is column for column in columns)]
        if unused:
            notes.append(f"Classes that never occur among the labels ({_show(unused)}) are "
                         "left out of the ROC AUC average.")

    if _probabilities_note(notes, np.column_stack(list(every.values()))[present]):
        sums = np.sum(np.column_stack(list(every.values()))[present], axis=1)
        off = ~np.isclose(sums, 1.0, rtol=np.sqrt(_EPS))
        if off.any():
            notes.append(f"The class probabilities do not add up to 1 in {int(off.sum())} rows; "
                         "log loss uses them as they are.")
        truth = table[np.arange(len(table)), position[y_kept]]
        metrics["log_loss"] = float(-np.mean(np.log(np.clip(truth, _EPS, 1 - _EPS))))


def _probabilities_note(notes: list[str], values: np.ndarray) -> bool:
    """True when ``values`` can be used as probabilities; otherwise explain why not."""
    low, high = float(np.min(values)), float(np.max(values))
    if low < 0 or high > 1:
        notes.append(f"Log loss needs probabilities between 0 and 1, but the scores range from "
                     f"{low:.6g} to {high:.6g}.")
        return False
    return True


def _binary_log_loss(y_pos: np.ndarray, probability: np.ndarray) -> float:
    p = np.clip(probability, _EPS, 1 - _EPS)
    q = np.clip(1 - probability, _EPS, 1 - _EPS)
    return float(-np.mean(np.where(y_pos, np.log(p), np.log(q))))


def _auc(is_positive: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve by the rank-sum formula; tied scores count one half."""
    n_pos = int(np.count_nonzero(is_positive))
    n_neg = len(is_positive) - n_pos
    ranks = pd.Series(score).rank(method="average").to_numpy()
    rank_sum = float(np.sum(ranks[is_positive]))
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


# ---------------------------------------------------------------------------------------------
# Regression


def regression_metrics(labels: pd.Series, predictions: pd.Series, *,
                       min_sample: int = MIN_LABELLED) -> PerformanceResult:
    """Mean absolute error, root mean squared error and R² of numeric predictions."""
    labels, predictions = _as_series(labels, "labels"), _as_series(predictions, "predictions")
    _check_lengths(len(labels), {"predictions": len(predictions)})
    minimum = _check_min_sample(min_sample)
    y = _numeric_values(labels, "labels")
    p = _numeric_values(predictions, "predictions")
    used = ~(np.isnan(y) | np.isnan(p))
    count = int(used.sum())
    if count < minimum:
        return _insufficient(REGRESSION, REGRESSION_METRICS, count, minimum)
    y, p = y[used], p[used]
    notes: list[str] = []
    with np.errstate(all="ignore"):
        error = y - p
        metrics: dict[str, float | None] = {
            "mae": float(np.mean(np.abs(error))),
            "rmse": float(np.sqrt(np.mean(error * error))),
        }
        spread = float(np.sum((y - np.mean(y)) ** 2))
        if spread == 0.0:
            metrics["r2"] = None
            notes.append(f"The labels are all equal ({y[0]:.6g}); R² needs labels that vary.")
        else:
            metrics["r2"] = 1.0 - float(np.sum(error * error)) / spread
    return _finish(REGRESSION, metrics, count, notes)


# ---------------------------------------------------------------------------------------------
# Helpers


def _as_series(values: Any, what: str) -> pd.Series:
    if isinstance(values, pd.Series):
        return values
    if isinstance(values, pd.DataFrame):
        raise InvalidInputError(f"The {what} must be one column, not a table of "
                                f"{len(values.columns)} columns.")
    try:
        return pd.Series(values)
    except (TypeError, ValueError) as error:
        raise InvalidInputError(f"The {what} must be a column of values ({error}).") from None


def _check_lengths(expected: int, others: dict[str, int]) -> None:
    for what, length in others.items():
        if length != expected:
            raise InvalidInputError(
                f"The labels have {expected} rows but the {what} have {length}; pass columns "
                "of the same table so that rows match.")


def _check_min_sample(min_sample: int) -> int:
    if isinstance(min_sample, bool) or not isinstance(min_sample, int | np.integer) \
            or min_sample < 0:
        raise InvalidInputError(
            f"The minimum number of labelled rows must be a whole number of at least 1, "
            f"not {min_sample!r}.")
    return max(int(min_sample), 1)


def _insufficient(task: str, names: Sequence[str], count: int, minimum: int) -> PerformanceResult:
    if count == 0:
        note = (f"No labelled rows yet (labels may arrive later); performance needs at least "
                f"{minimum} rows with both a label and a prediction.")
    else:
        note = (f"Only {count} labelled row{'s' if count != 1 else ''}; performance needs at "
                f"least {minimum} rows with both a label and a prediction.")
    return PerformanceResult(task, dict.fromkeys(names), count, True, note)


def _finish(task: str, metrics: dict[str, float | None], count: int,
            notes: list[str]) -> PerformanceResult:
    names = CLASSIFICATION_METRICS if task == CLASSIFICATION else REGRESSION_METRICS
    ordered: dict[str, float | None] = {}
    overflowed = []
    for name in names:
        value = metrics.get(name)
        if value is not None and not np.isfinite(value):
            overflowed.append(name)
            value = None
        ordered[name] = value
    if overflowed:
        notes.append(f"{', '.join(overflowed)} could not be computed: the values are too large "
                     "for floating-point arithmetic.")
    return PerformanceResult(task, ordered, count, False, " ".join(notes))


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def _ratios(numerators: np.ndarray, denominators: np.ndarray) -> np.ndarray:
    safe = np.where(denominators > 0, denominators, 1.0)
    return np.where(denominators > 0, numerators / safe, 0.0)


def _class_values(series: pd.Series) -> np.ndarray:
    """Non-missing class labels as a numpy array: bool, int64 (integral numbers), float or
    object."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return series.to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        values = series.to_numpy(dtype=np.float64)
        if np.all(np.isfinite(values)) and np.all(values == np.round(values)) \
                and (len(values) == 0 or np.max(np.abs(values)) < 2.0 ** 53):
            return values.astype(np.int64)
        return values
    return series.to_numpy(dtype=object)


def _reconcile(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Booleans next to numbers are 0/1; integers next to floats are floats."""
    kinds = {y.dtype.kind, p.dtype.kind}
    if "O" in kinds or len(kinds) == 1:
        return y, p
    if "f" in kinds:
        return y.astype(np.float64), p.astype(np.float64)
    return y.astype(np.int64), p.astype(np.int64)


def _encode(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted classes of labels and predictions together, and each row's class index."""
    both = np.concatenate([y, p]) if y.dtype == p.dtype else \
        np.concatenate([y.astype(object), p.astype(object)])
    codes, uniques = pd.factorize(both, sort=False)
    uniques = np.asarray(uniques)
    try:
        order = np.argsort(uniques, kind="stable")
    except TypeError:  # labels of mixed types, e.g. 1 and "1": order by type, then text
        keys = [(type(v).__name__, str(v)) for v in uniques]
        order = np.array(sorted(range(len(uniques)), key=keys.__getitem__), dtype=np.intp)
    rank = np.empty(len(order), dtype=np.intp)
    rank[order] = np.arange(len(order))
    codes = rank[codes]
    return uniques[order], codes[: len(y)], codes[len(y):]


def _positive_code(classes: np.ndarray, positive_label: Any) -> int | None:
    """Index of the positive class in ``classes``; None when it occurs in neither column."""
    if positive_label is not None:
        for i, value in enumerate(classes):
            if _same_label(value, positive_label):
                return i
        if len(classes) == 2:
            raise InvalidInputError(
                f"The positive label {positive_label!r} is not one of the classes "
                f"({_show(classes)}); choose one of them.")
        return None
    if _is_zero_one(classes):
        for i, value in enumerate(classes):
            if value == 1:
                return i
        return None
    return len(classes) - 1


def _positive_name(classes: np.ndarray, positive: int | None) -> Any:
    if positive is not None:
        return classes[positive]
    return True if classes.dtype == bool else 1


def _is_zero_one(classes: np.ndarray) -> bool:
    if classes.dtype.kind in "biuf":
        return bool(np.all((classes == 0) | (classes == 1)))
    return False


def _same_label(a: Any, b: Any) -> bool:
    return _equal(a, b) or _same_text(a, b)


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _same_text(a: Any, b: Any) -> bool:
    return str(_plain(a)) == str(_plain(b))


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (so messages read 1, not np.int64(1))."""
    return value.item() if isinstance(value, np.generic) else value


def _find_column(columns: pd.Index, label: Any) -> Any:
    """The column named ``label``, else the one whose name reads the same (``"1"`` for 1)."""
    for same in (_equal, _same_text):
        matches = [name for name in columns if same(name, label)]
        if len(matches) == 1:
            return matches[0]
    return None


def _score_values(scores: pd.Series, what: str) -> np.ndarray:
    if isinstance(scores, pd.DataFrame):  # a duplicated column name
        raise InvalidInputError(f"The {what} column appears more than once; rename it.")
    if pd.api.types.is_bool_dtype(scores.dtype) or not pd.api.types.is_numeric_dtype(
            scores.dtype) or pd.api.types.is_complex_dtype(scores.dtype):
        raise InvalidInputError(
            f"The {what} must be numbers (predicted probabilities), not {scores.dtype}; choose "
            "the column that holds the probability.")
    return scores.to_numpy(dtype=np.float64, na_value=np.nan)


def _numeric_values(series: pd.Series, what: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(series.dtype) or not pd.api.types.is_numeric_dtype(
            series.dtype) or pd.api.types.is_complex_dtype(series.dtype):
        raise InvalidInputError(
            f"Regression needs numeric {what}, but they are {series.dtype}; choose numeric "
            "columns or monitor the model as a classification.")
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def _show(values: Any) -> str:
    values = list(values)
    shown = ", ".join(repr(_plain(v)) for v in values[:_SHOWN_CLASSES])
    return shown + (f" and {len(values) - _SHOWN_CLASSES} more"
                    if len(values) > _SHOWN_CLASSES else "")
