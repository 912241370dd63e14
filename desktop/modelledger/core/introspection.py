"""What the registry learns from a fitted estimator, by duck typing (no sklearn import here)."""

from __future__ import annotations

import math
from typing import Any

from modelledger.core.domain import EstimatorDescription


def describe_estimator(estimator: Any) -> EstimatorDescription:
    """Class, hyper-parameters and input features of a fitted scikit-learn-like estimator.

    Nested estimators (pipeline steps, ensembles' base estimators) appear in the parameters as
    their class name; their own parameters appear under the ``step__param`` keys that
    ``get_params(deep=True)`` gives.
    """
    cls = type(estimator)
    parameters: dict[str, Any] = {}
    get_params = getattr(estimator, "get_params", None)
    if callable(get_params):
        parameters = {key: json_safe(value) for key, value in sorted(get_params(deep=True).items())}
    feature_names = getattr(estimator, "feature_names_in_", None)
    if feature_names is None:
        feature_names = _first_step_attribute(estimator, "feature_names_in_")
    n_features = getattr(estimator, "n_features_in_", None)
    if n_features is None:
        n_features = _first_step_attribute(estimator, "n_features_in_")
    return EstimatorDescription(
        estimator_class=f"{cls.__module__}.{cls.__qualname__}",
        parameters=parameters,
        feature_names=tuple(str(name) for name in feature_names)
        if feature_names is not None
        else (),
        n_features=int(n_features) if n_features is not None else None,
    )


def _first_step_attribute(estimator: Any, attribute: str) -> Any:
    steps = getattr(estimator, "steps", None)
    if steps:
        return getattr(steps[0][1], attribute, None)
    return None


def json_safe(value: Any) -> Any:
    """A JSON-serialisable stand-in for a parameter value; estimators become their class name."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and getattr(value, "shape", None) == ():
        return json_safe(item())
    if hasattr(value, "get_params"):
        return type(value).__name__
    return repr(value)
