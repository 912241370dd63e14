"""A declarative recipe as a scikit-learn pipeline: preprocessing per column type, then the
estimator. Imported only in the training worker (scikit-learn is slow to import)."""

from __future__ import annotations

import importlib
from typing import Any

from modelledger.core.errors import InvalidInputError
from modelledger.core.recipes import ESTIMATORS, Recipe


def build_pipeline(recipe: Recipe, frame: Any) -> Any:
    """The unfitted pipeline for ``recipe``; ``frame`` tells numeric from categorical columns."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    numeric = [name for name in recipe.features
               if pd.api.types.is_numeric_dtype(frame[name])
               and not pd.api.types.is_bool_dtype(frame[name])]
    categorical = [name for name in recipe.features if name not in numeric]
    settings = recipe.preprocessing

    numeric_steps: list[tuple[str, Any]] = []
    if settings.numeric_impute != "none":
        numeric_steps.append(("impute", SimpleImputer(strategy=settings.numeric_impute)))
    if settings.scale:
        numeric_steps.append(("scale", StandardScaler()))
    categorical_steps: list[tuple[str, Any]] = []
    if settings.categorical_impute != "none":
        categorical_steps.append(("impute", SimpleImputer(strategy=settings.categorical_impute,
                                                          fill_value="missing")))
    categorical_steps.append(("encode", OneHotEncoder(handle_unknown="ignore")
                              if settings.one_hot else
                              OrdinalEncoder(handle_unknown="use_encoded_value",
                                             unknown_value=-1)))
    parts = []
    if numeric:
        parts.append(("numeric", Pipeline(numeric_steps) if numeric_steps else "passthrough",
                      numeric))
    if categorical:
        parts.append(("categorical", Pipeline(categorical_steps), categorical))

    module_name, _, class_name = ESTIMATORS[recipe.estimator][0].rpartition(".")
    estimator_class = getattr(importlib.import_module(module_name), class_name)
    parameters = dict(recipe.hyperparameters)
    if recipe.class_weight is not None:
        parameters["class_weight"] = _class_weights(recipe, frame[recipe.target])
    if "random_state" in estimator_class().get_params():
        parameters.setdefault("random_state", recipe.seed)
    return Pipeline([("prepare", ColumnTransformer(parts)),
                     ("model", estimator_class(**parameters))])


def _class_weights(recipe: Recipe, target: Any) -> Any:
    """"balanced", or the recipe's per-class weights keyed by the target's own values (a TOML
    or JSON key is always text, a label often a number)."""
    if isinstance(recipe.class_weight, str):
        return recipe.class_weight
    classes = {str(value): value for value in target.dropna().unique()}
    weights = dict(recipe.class_weight or {})
    unknown = sorted(set(weights) - set(classes))
    if unknown:
        raise InvalidInputError(f"The class weights name {', '.join(unknown)}, which the target "
                                f"{recipe.target} never takes (it takes "
                                f"{', '.join(sorted(classes))}).")
    return {classes[key]: float(weight) for key, weight in weights.items()}
