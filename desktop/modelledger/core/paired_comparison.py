"""Champion versus challenger on the same rows: metric differences with paired-bootstrap CIs.

Both models are scored on the same rows, so the question is not "what is each model's metric"
but "how sure are we that the difference is not luck". Every metric difference gets a 95%
interval from a paired Poisson bootstrap: each resample weights every row with a Poisson(1)
count, and both models' metrics are computed under the *same* weights, so the interval reflects
the variation of the difference itself (far narrower than two independent intervals when the
models agree on most rows).

Speed: a metric here is a smooth function of per-row sums (accuracy of correct rows, F1 of
true/false positives and false negatives, RMSE of squared errors, R² of y, y² and squared
errors), so a resample needs only weighted column sums. Rows are dealt at random into at most
``BOOTSTRAP_GROUPS`` groups and the Poisson weights are drawn per group: for a metric that is a
smooth function of sums this has the same first-order variance as weighting each row (the group
sums of centred values add up their row variances), and it turns 1,000,000 rows × 1,000
resamples into one (1,000 × 20,000) weight matrix times a (20,000 × k) matrix of group sums.
Below ``BOOTSTRAP_GROUPS`` rows every row is its own group, i.e. the plain Poisson bootstrap.
ROC AUC is not a function of sums; its interval is DeLong's (the covariance of the two models'
placement values on the same rows), exact in the large-sample limit and a few sorts long where a
row-level bootstrap of ranks would take seconds; ties count one half as in scikit-learn.

Besides the intervals, one paired test per task: McNemar's exact test on the rows exactly one of
the two models classifies correctly, and a paired t-test on the per-row squared errors of a
regression (rows are many, so the t-test's normal approximation of the mean is sound).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from modelledger.core.challenger import (
    Comparison,
    MetricDifference,
    PairedTest,
    ShadowComparison,
    SliceComparison,
)
from modelledger.core.errors import InvalidInputError
from modelledger.core.monitoring import Task

CLASSIFICATION, REGRESSION = Task.CLASSIFICATION.value, Task.REGRESSION.value
BOOTSTRAP_GROUPS = 20_000
DEFAULT_RESAMPLES = 1_000
CONFIDENCE = 0.95
MIN_SLICE_ROWS = 30  # fewer rows in a slice say nothing about it
MAX_SLICES = 10  # the most frequent values of a categorical slice column; the rest is "other"
NUMERIC_SLICE_BINS = 4  # quartiles of a numeric slice column

_EPS = float(np.finfo(np.float64).eps)


def compare_on_same_rows(
    task: str,
    labels: pd.Series,
    champion: pd.Series,
    challenger: pd.Series,
    *,
    champion_scores: pd.Series | None = None,
    challenger_scores: pd.Series | None = None,
    positive_label: Any = None,
    slice_by: pd.Series | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Comparison:
    """Compare two models' predictions of the same labelled rows (matched by position).

    ``task`` is "classification" or "regression". For a two-class problem the scores are each
    model's probability of the positive class; with them, log loss and ROC AUC are compared too.
    ``slice_by`` (one value per row) repeats the comparison per slice of that column. Rows
    without a label or without either prediction are left out, for both models alike.
    """
    if task not in (CLASSIFICATION, REGRESSION):
        raise InvalidInputError(f"task must be {CLASSIFICATION!r} or {REGRESSION!r}, not {task!r}")
    if resamples < 100:
        raise InvalidInputError(f"at least 100 resamples are needed for a 95% interval, "
                                f"not {resamples}")
    columns = {"labels": labels, "champion predictions": champion,
               "challenger predictions": challenger, "champion scores": champion_scores,
               "challenger scores": challenger_scores, "slice column": slice_by}
    given = {name: _plain_series(values) for name, values in columns.items() if values is not None}
    lengths = {name: len(values) for name, values in given.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{name}: {length}" for name, length in lengths.items())
        raise InvalidInputError(f"both models must be scored on the same rows; got {shown}")
    used = np.ones(len(given["labels"]), dtype=bool)
    for name in ("labels", "champion predictions", "challenger predictions",
                 "champion scores", "challenger scores"):
        if name in given:
            used &= given[name].notna().to_numpy()
    rows = {name: values[used].reset_index(drop=True) for name, values in given.items()}
    if not len(rows["labels"]):
        raise InvalidInputError("no row has a label and both models' predictions")

    statistics = (_ClassificationStatistics(rows, positive_label) if task == CLASSIFICATION
                  else _RegressionStatistics(rows))
    rng = np.random.default_rng(seed)
    everything = np.ones(len(rows["labels"]), dtype=bool)
    differences = _differences(statistics, everything, resamples, rng)
    slices: tuple[SliceComparison, ...] = ()
    if "slice column" in rows:
        slices = tuple(
            SliceComparison(column=str(slice_by.name or "slice"), value=value, rows=int(mask.sum()),
                            differences=_differences(statistics, mask, resamples, rng))
            for value, mask in _slices(rows["slice column"]))
    return Comparison(task=task, rows=len(rows["labels"]), resamples=resamples,
                      confidence=CONFIDENCE, differences=differences,
                      test=statistics.paired_test(), slices=slices)


# ---------------------------------------------------------------------------------------------
# Metrics as functions of per-row sums

# f(sums of every column, "champion" or "challenger") -> that model's metric
_Finisher = Callable[[Mapping[str, np.ndarray], str], np.ndarray]


class _Statistics(abc.ABC):
    """Per-row columns for both models and, per metric, the function of their sums."""

    def __init__(self) -> None:
        # column name -> per-row values; a model's own columns are named "champion.correct"...
        self.columns: dict[str, np.ndarray] = {}
        self.metrics: dict[str, _Finisher] = {}
        self.auc_inputs: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @abc.abstractmethod
    def paired_test(self) -> PairedTest:
        """The task's significance test of the paired per-row outcomes."""


class _ClassificationStatistics(_Statistics):
    def __init__(self, rows: Mapping[str, pd.Series], positive_label: Any) -> None:
        super().__init__()
        labels = rows["labels"]
        combined = pd.concat([labels, rows["champion predictions"],
                              rows["challenger predictions"]], ignore_index=True)
        classes = pd.Index(pd.unique(combined.astype(object)))
        codes = {who: classes.get_indexer(rows[f"{who} predictions"].astype(object))
                 for who in ("champion", "challenger")}
        truth = classes.get_indexer(labels.astype(object))
        self.correct = {who: codes[who] == truth for who in codes}
        self.columns["n"] = np.ones(len(truth))
        for who in codes:
            self.columns[f"{who}.correct"] = self.correct[who].astype(float)
        self.metrics["accuracy"] = lambda s, who: s[f"{who}.correct"] / s["n"]

        if len(classes) <= 2:
            positive = _positive_index(classes, positive_label)
            for who in codes:
                predicted, actual = codes[who] == positive, truth == positive
                self.columns[f"{who}.tp"] = (predicted & actual).astype(float)
                self.columns[f"{who}.fp"] = (predicted & ~actual).astype(float)
                self.columns[f"{who}.fn"] = (~predicted & actual).astype(float)
            self.metrics["precision"] = lambda s, who: _ratio(
                s[f"{who}.tp"], s[f"{who}.tp"] + s[f"{who}.fp"])
            self.metrics["recall"] = lambda s, who: _ratio(
                s[f"{who}.tp"], s[f"{who}.tp"] + s[f"{who}.fn"])
            self.metrics["f1"] = lambda s, who: _ratio(
                2 * s[f"{who}.tp"], 2 * s[f"{who}.tp"] + s[f"{who}.fp"] + s[f"{who}.fn"])
            if "champion scores" in rows and "challenger scores" in rows:
                actual = truth == positive
                scores = {who: _probabilities(rows[f"{who} scores"], who) for who in codes}
                for who, score in scores.items():
                    clipped = np.clip(score, _EPS, 1 - _EPS)
                    self.columns[f"{who}.nll"] = -np.where(actual, np.log(clipped),
                                                           np.log1p(-clipped))
                self.metrics["log_loss"] = lambda s, who: s[f"{who}.nll"] / s["n"]
                self.auc_inputs = (actual, scores["champion"], scores["challenger"])
        else:
            for who in codes:
                for index in range(len(classes)):
                    predicted, actual = codes[who] == index, truth == index
                    self.columns[f"{who}.tp{index}"] = (predicted & actual).astype(float)
                    self.columns[f"{who}.fp{index}"] = (predicted & ~actual).astype(float)
                    self.columns[f"{who}.fn{index}"] = (~predicted & actual).astype(float)
            count = len(classes)

            def macro(part: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
                      ) -> _Finisher:
                return lambda s, who: np.mean(
                    [part(s[f"{who}.tp{i}"], s[f"{who}.fp{i}"], s[f"{who}.fn{i}"])
                     for i in range(count)], axis=0)

            self.metrics["precision"] = macro(lambda tp, fp, fn: _ratio(tp, tp + fp))
            self.metrics["recall"] = macro(lambda tp, fp, fn: _ratio(tp, tp + fn))
            self.metrics["f1"] = macro(lambda tp, fp, fn: _ratio(2 * tp, 2 * tp + fp + fn))

    def paired_test(self) -> PairedTest:
        only_champion = int((self.correct["champion"] & ~self.correct["challenger"]).sum())
        only_challenger = int((~self.correct["champion"] & self.correct["challenger"]).sum())
        disagreements = only_champion + only_challenger
        note = (f"{only_challenger} rows only the challenger gets right, "
                f"{only_champion} only the champion")
        if not disagreements:
            return PairedTest("McNemar exact", 0.0, 1.0, "both models are right on the same rows")
        result = stats.binomtest(only_challenger, disagreements, 0.5)
        return PairedTest("McNemar exact", float(only_challenger - only_champion),
                          float(result.pvalue), note)


class _RegressionStatistics(_Statistics):
    def __init__(self, rows: Mapping[str, pd.Series]) -> None:
        super().__init__()
        truth = _numbers(rows["labels"], "labels")
        self.columns["n"] = np.ones(len(truth))
        self.columns["y"] = truth
        self.columns["y2"] = truth * truth
        self.squared: dict[str, np.ndarray] = {}
        for who in ("champion", "challenger"):
            error = _numbers(rows[f"{who} predictions"], f"{who} predictions") - truth
            self.squared[who] = error * error
            self.columns[f"{who}.abs"] = np.abs(error)
            self.columns[f"{who}.sq"] = self.squared[who]
        self.metrics["mae"] = lambda s, who: s[f"{who}.abs"] / s["n"]
        self.metrics["rmse"] = lambda s, who: np.sqrt(s[f"{who}.sq"] / s["n"])
        self.metrics["r2"] = lambda s, who: _r2(s[f"{who}.sq"], s["y2"] - s["y"] * s["y"] / s["n"])

    def paired_test(self) -> PairedTest:
        gain = self.squared["champion"] - self.squared["challenger"]
        if len(gain) < 2 or np.ptp(gain) <= 1e-12 * max(1.0, float(np.abs(gain).max())):
            return PairedTest("paired t-test on squared errors", 0.0, 1.0,
                              "the squared errors differ by the same amount on every row")
        result = stats.ttest_rel(self.squared["champion"], self.squared["challenger"])
        return PairedTest("paired t-test on squared errors", float(result.statistic),
                          float(result.pvalue),
                          f"mean squared error lower by {float(np.mean(gain)):.4g} "
                          "for the challenger" if np.mean(gain) > 0 else
                          f"mean squared error higher by {float(-np.mean(gain)):.4g} "
                          "for the challenger")


# ---------------------------------------------------------------------------------------------
# The bootstrap


def _differences(statistics: _Statistics, mask: np.ndarray, resamples: int,
                 rng: np.random.Generator) -> tuple[MetricDifference, ...]:
    count = int(mask.sum())
    names = list(statistics.columns)
    groups = min(count, BOOTSTRAP_GROUPS)
    group_of_row = rng.permutation(count) % groups
    group_sums = np.column_stack([np.bincount(group_of_row, weights=statistics.columns[n][mask],
                                              minlength=groups) for n in names])
    weights = rng.poisson(1.0, size=(resamples, groups)).astype(np.float64)
    resampled = weights @ group_sums
    whole = group_sums.sum(axis=0)
    as_sums = lambda matrix: {name: matrix[..., i] for i, name in enumerate(names)}  # noqa: E731
    resampled_sums, whole_sums = as_sums(resampled), as_sums(whole)

    results = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for metric, finish in statistics.metrics.items():
            champion = float(finish(whole_sums, "champion"))
            challenger = float(finish(whole_sums, "challenger"))
            spread = finish(resampled_sums, "challenger") - finish(resampled_sums, "champion")
            results.append(_difference(metric, champion, challenger, spread))
    if statistics.auc_inputs is not None:
        results.append(_auc_difference(statistics.auc_inputs, mask))
    return tuple(results)


def _auc_difference(inputs: tuple[np.ndarray, np.ndarray, np.ndarray],
                    mask: np.ndarray) -> MetricDifference:
    """ROC AUC of both models and DeLong's interval of their difference (paired, same rows)."""
    actual, champion, challenger = (values[mask] for values in inputs)
    positives, negatives = int(actual.sum()), int((~actual).sum())
    if not positives or not negatives:
        return MetricDifference("roc_auc", math.nan, math.nan, math.nan, math.nan)
    # Placement values: for each positive, the share of negatives it outranks (ties one half),
    # and for each negative the share of positives that outrank it; AUC is their mean.
    positive_placements, negative_placements = [], []
    for score in (champion, challenger):
        every = stats.rankdata(score)
        among_positives = stats.rankdata(score[actual])
        among_negatives = stats.rankdata(score[~actual])
        positive_placements.append((every[actual] - among_positives) / negatives)
        negative_placements.append(1 - (every[~actual] - among_negatives) / positives)
    auc = [float(np.mean(placements)) for placements in positive_placements]
    contrast = np.array([-1.0, 1.0])
    variance = (contrast @ np.atleast_2d(np.cov(positive_placements)) @ contrast / positives
                + contrast @ np.atleast_2d(np.cov(negative_placements)) @ contrast / negatives)
    half_width = float(stats.norm.ppf(0.5 + CONFIDENCE / 2) * math.sqrt(max(variance, 0.0)))
    difference = auc[1] - auc[0]
    return MetricDifference("roc_auc", auc[0], auc[1], difference - half_width,
                            difference + half_width)


def _difference(metric: str, champion: float, challenger: float,
                spread: np.ndarray) -> MetricDifference:
    finite = spread[np.isfinite(spread)]
    if not len(finite) or not (math.isfinite(champion) and math.isfinite(challenger)):
        low = high = math.nan
    else:
        tail = (1 - CONFIDENCE) / 2 * 100
        low, high = (float(v) for v in np.percentile(finite, [tail, 100 - tail]))
    return MetricDifference(metric, champion, challenger, low, high)


# ---------------------------------------------------------------------------------------------
# Helpers


def _slices(values: pd.Series) -> list[tuple[str, np.ndarray]]:
    missing = values.isna().to_numpy()
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        edges = np.unique(np.nanquantile(values.to_numpy(dtype=float),
                                         np.linspace(0, 1, NUMERIC_SLICE_BINS + 1)))
        bins = pd.cut(values, edges, include_lowest=True, duplicates="drop")
        found = [(f"{interval.left:.4g} to {interval.right:.4g}", (bins == interval).to_numpy())
                 for interval in bins.cat.categories]
    else:
        text = values.astype(str)
        frequent = text[~missing].value_counts().index[:MAX_SLICES]
        found = [(str(value), (text == value).to_numpy() & ~missing) for value in frequent]
        other = ~missing & ~text.isin(frequent).to_numpy()
        found.append(("other", other))
    found.append(("missing", missing))
    return [(name, mask) for name, mask in found if mask.sum() >= MIN_SLICE_ROWS]


def _positive_index(classes: pd.Index, positive_label: Any) -> int:
    """Where the positive class sits among ``classes`` (-1 when no row has it): the given label,
    else 1 (True) for 0/1 or boolean labels, else the larger of the sorted labels, as in
    core.performance."""
    if positive_label is None:
        guess = 1 if set(classes) <= {0, 1} else sorted(classes, key=str)[-1]
        return int(classes.get_indexer([guess])[0])
    position = int(classes.get_indexer([positive_label])[0])
    if position < 0:
        shown = ", ".join(map(str, classes))
        raise InvalidInputError(f"positive label {positive_label!r} is not among the classes "
                                f"({shown})")
    return position


def _probabilities(values: pd.Series, who: str) -> np.ndarray:
    numbers = _numbers(values, f"{who} scores")
    if np.any((numbers < 0) | (numbers > 1)):
        raise InvalidInputError(f"{who} scores must be probabilities between 0 and 1")
    return numbers


def _numbers(values: pd.Series, what: str) -> np.ndarray:
    converted = pd.to_numeric(values, errors="coerce")
    bad = converted.isna() & values.notna()
    if bad.any():
        raise InvalidInputError(f"{what} must be numbers; row {int(np.argmax(bad.to_numpy()))} "
                                f"holds {values[bad].iloc[0]!r}")
    return converted.to_numpy(dtype=float)


def _plain_series(values: Any) -> pd.Series:
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    return series.reset_index(drop=True)


def _r2(squared_errors: np.ndarray, total_squares: np.ndarray) -> np.ndarray:
    """R² of sums; not defined (NaN) when the labels do not vary."""
    return np.where(total_squares > 0,
                    1 - squared_errors / np.where(total_squares > 0, total_squares, 1), np.nan)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), 0.0)


def shadow_comparison(task: str, champion: pd.Series, challenger: pd.Series, *,
                      champion_scores: pd.Series | None = None,
                      challenger_scores: pd.Series | None = None,
                      labels: pd.Series | None = None, min_labelled: int = 50,
                      seed: int = 0) -> ShadowComparison:
    """How the challenger would have answered the rows the champion answered; with at least
    ``min_labelled`` labels, also the metric differences with their intervals."""
    champion, challenger = _plain_series(champion), _plain_series(challenger)
    if len(champion) != len(challenger):
        raise InvalidInputError("both models must score the same rows for a shadow run")
    if task == REGRESSION:
        a, b = _numbers(champion, "champion"), _numbers(challenger, "challenger")
        same = np.abs(a - b) <= 0.01 * np.maximum(np.abs(a), np.abs(b))
    else:
        same = (champion.astype(object) == challenger.astype(object)).to_numpy()
    shift = None
    if champion_scores is not None and challenger_scores is not None:
        shift = float(stats.ks_2samp(_numbers(_plain_series(champion_scores), "scores"),
                                     _numbers(_plain_series(challenger_scores), "scores"))
                      .statistic)
    labelled = 0
    differences: tuple[MetricDifference, ...] = ()
    if labels is not None:
        labels = _plain_series(labels)
        labelled = int(labels.notna().sum())
        if labelled >= min_labelled:
            differences = compare_on_same_rows(
                task, labels, champion, challenger, champion_scores=champion_scores,
                challenger_scores=challenger_scores, seed=seed).differences
    return ShadowComparison(len(champion), float(np.mean(same)) if len(same) else math.nan,
                            shift, labelled, differences)
