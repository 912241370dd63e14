"""How much a fitted model uses each feature, and the drift of the features it uses most.

The model's own numbers come first: a linear model's coefficients (their size times the spread of
the input they multiply, so that a feature in dollars and one in years compare), or a tree
ensemble's ``feature_importances_``. A scikit-learn Pipeline is looked through to its final step,
and the names of that step's inputs are mapped back to the monitored columns (one-hot columns
summed into their source column). When the model has neither, or its inputs cannot be mapped back
(a PCA in between), permutation importance is measured on the reference data: how much the
model's output moves when one column is shuffled. That needs no labels, and it runs on a bounded
sample with a fixed seed, so the same model and data give the same figures.

Every result is normalised to sum to one. Pure functions over pandas and numpy, no Qt, no database.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

PERMUTATION_MAX_ROWS = 2_000
PERMUTATION_REPEATS = 3
PERMUTATION_SEED = 20260


class ImportanceMethod(enum.StrEnum):
    COEFFICIENTS = "coefficients"
    FEATURE_IMPORTANCES = "feature importances"
    PERMUTATION = "permutation"


@dataclass(frozen=True)
class FeatureImportance:
    values: Mapping[str, float]  # feature -> share of the model's use, summing to 1
    method: ImportanceMethod
    rows: int  # reference rows the measurement used


def ranked(importance: Mapping[str, float]) -> list[tuple[str, float]]:
    """Most important first; ties by name so the order is stable."""
    return sorted(importance.items(), key=lambda item: (-item[1], item[0]))


def top_features(importance: Mapping[str, float], k: int,
                 features: Sequence[str]) -> tuple[str, ...]:
    """The ``k`` monitored features the model uses most."""
    watched = set(features)
    return tuple(name for name, _ in ranked(importance) if name in watched)[:k]


def measure_importance(model: Any, reference: Any, features: Sequence[str]) -> FeatureImportance:
    """The importance of each column ``model`` reads (the ``features`` when it does not name
    them), from the DataFrame ``reference``; monitored features the model does not read get 0.
    Raises ValueError when the model reads columns the reference lacks."""
    columns = _model_columns(model, reference, features)
    sample = _bounded_sample(reference[columns])
    final, inputs = _final_step_and_inputs(model, sample)
    raw = getattr(final, "feature_importances_", None)
    method = ImportanceMethod.FEATURE_IMPORTANCES
    if raw is None and getattr(final, "coef_", None) is not None:
        coefficients = np.abs(np.atleast_2d(np.asarray(final.coef_, dtype=float))).mean(axis=0)
        raw = coefficients * _input_spread(inputs, len(coefficients))
        method = ImportanceMethod.COEFFICIENTS
    mapped = None
    if raw is not None:
        mapped = _map_to_features(np.asarray(raw, dtype=float).ravel(),
                                  _input_names(model, final, columns), columns)
    if mapped is None:
        mapped, method = _permutation(model, sample, columns), ImportanceMethod.PERMUTATION
    values = dict.fromkeys(features, 0.0)
    values.update(_normalised(mapped))
    return FeatureImportance(values, method, len(sample))


def drifted_top_k_share(importance: Mapping[str, float], k: int, features: Sequence[str],
                        metrics: Sequence[Any]) -> tuple[float | None, str]:
    """Of the ``k`` most important features that could be judged in a run, the share whose PSI
    or distance warned or was critical; with a note naming them. ``metrics`` are the run's
    `MetricValue`s."""
    top = top_features(importance, k, features)
    statuses: dict[str, set[str]] = {name: set() for name in top}
    for metric in metrics:
        if metric.subject in statuses and metric.metric in ("drift.psi", "drift.distance"):
            statuses[metric.subject].add(metric.status)
    judged = [name for name in top if statuses[name] & {"ok", "warn", "critical"}]
    if not judged:
        return None, f"none of the {len(top)} most important features had enough data"
    drifted = [name for name in judged if statuses[name] & {"warn", "critical"}]
    note = f"top {len(top)} by importance: {', '.join(top)}"
    if drifted:
        note += f"; drifted: {', '.join(drifted)}"
    return len(drifted) / len(judged), note


def _model_columns(model: Any, reference: Any, features: Sequence[str]) -> list[str]:
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        return list(features)
    columns = [str(name) for name in names]
    missing = [name for name in columns if name not in reference.columns]
    if missing:
        raise ValueError(f"the model reads columns the reference data does not have: "
                         f"{', '.join(missing)}")
    return columns


def _bounded_sample(frame: Any) -> Any:
    if len(frame) <= PERMUTATION_MAX_ROWS:
        return frame.reset_index(drop=True)
    return frame.sample(PERMUTATION_MAX_ROWS, random_state=PERMUTATION_SEED).reset_index(
        drop=True)


def _final_step_and_inputs(model: Any, sample: Any) -> tuple[Any, Any]:
    """The estimator at the end of a Pipeline, and what it sees (None if that cannot be
    computed)."""
    steps = getattr(model, "steps", None)
    if not steps:
        return model, sample
    final = steps[-1][1]
    try:
        inputs = model[:-1].transform(sample)
    except Exception:  # a custom step that cannot transform on its own: spreads stay unknown
        inputs = None
    return final, inputs


def _input_spread(inputs: Any, width: int) -> np.ndarray:
    """Standard deviation of each column the coefficients multiply (ones when unknown)."""
    if inputs is None:
        return np.ones(width)
    if hasattr(inputs, "toarray"):
        inputs = inputs.toarray()
    try:
        values = np.asarray(inputs, dtype=float)
    except (TypeError, ValueError):
        return np.ones(width)
    if values.ndim != 2 or values.shape[1] != width:
        return np.ones(width)
    spread = np.nanstd(values, axis=0)
    return np.where(np.isfinite(spread), spread, 0.0)


def _input_names(model: Any, final: Any, features: Sequence[str]) -> list[str] | None:
    """The names of the final step's inputs, as its transformers name them."""
    steps = getattr(model, "steps", None)
    if steps and len(steps) > 1:
        try:
            return [str(name) for name in model[:-1].get_feature_names_out(list(features))]
        except Exception:  # a step without get_feature_names_out
            return None
    names = getattr(final, "feature_names_in_", None)
    return [str(name) for name in names] if names is not None else list(features)


def _map_to_features(raw: np.ndarray, names: list[str] | None,
                     features: Sequence[str]) -> dict[str, float] | None:
    """Sum each input's importance into the monitored column it comes from; None when some
    input cannot be traced back (its importance would be lost)."""
    if names is None or len(names) != len(raw) or not np.all(np.isfinite(raw)):
        return None
    by_length = sorted(features, key=len, reverse=True)
    result = dict.fromkeys(features, 0.0)
    for name, value in zip(names, raw, strict=True):
        source = _source_feature(name, by_length)
        if source is None:
            return None
        result[source] += float(value)
    return result


def _source_feature(name: str, features_longest_first: Sequence[str]) -> str | None:
    """``num__income`` -> income; ``cat__region_north`` -> region (a one-hot column)."""
    candidates = [name]
    if "__" in name:
        candidates.append(name.split("__", 1)[1])
    for candidate in candidates:
        for feature in features_longest_first:
            if candidate == feature or candidate.startswith(f"{feature}_"):
                return feature
    return None


def _permutation(model: Any, sample: Any, features: Sequence[str]) -> dict[str, float]:
    """Mean change of the model's output when one column is shuffled (probabilities when the
    model gives them, else predictions: a changed class counts 1, a regression its absolute
    change)."""
    rng = np.random.default_rng(PERMUTATION_SEED)
    baseline = _output(model, sample)
    result = {}
    for feature in features:
        changes = []
        for _ in range(PERMUTATION_REPEATS):
            shuffled = sample.copy()
            shuffled[feature] = rng.permutation(shuffled[feature].to_numpy())
            changes.append(_change(baseline, _output(model, shuffled)))
        result[feature] = float(np.mean(changes))
    return result


def _output(model: Any, frame: Any) -> np.ndarray:
    if hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(frame), dtype=float)
    return np.asarray(model.predict(frame))


def _change(before: np.ndarray, after: np.ndarray) -> float:
    if before.dtype.kind in "fc":
        return float(np.mean(np.abs(after - before)))
    return float(np.mean(before != after))


def _normalised(values: Mapping[str, float]) -> dict[str, float]:
    total = sum(max(value, 0.0) for value in values.values())
    if total <= 0:
        return {name: 0.0 for name in values}
    return {name: max(value, 0.0) / total for name, value in values.items()}
