"""Training recipes: how a model's next version is trained, as data that can be versioned.

A recipe is *declarative* (a scikit-learn pipeline described as data: preprocessing per column
type, an estimator from a fixed list with its hyper-parameters) or *code* (a Python file with
``train(frame, params) -> fitted estimator``, stored by its SHA-256 and run only after someone
trusted that hash). Either names its data (any monitor data source), the target and feature
columns, how rows are split into training and holdout, and the random seed, so that a run can be
repeated and its result compared with the version it challenges.

Recipes are written by people in TOML or JSON (the CLI; an optional ``[gate]`` table holds the
promotion gate) or in a form (the GUI); both end as the same ``Recipe``. Estimator classes are
named from ``ESTIMATORS`` rather than imported by any dotted path so that a recipe cannot make
the worker import arbitrary code.
"""

from __future__ import annotations

import enum
import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import PureWindowsPath
from typing import Any

from modelledger.core.errors import InvalidInputError
from modelledger.core.monitoring import DataSource, Schedule, ScheduleKind, Task
from modelledger.core.promotion_gate import GateRule

# Estimator name -> (import path, the task it solves). Hyper-parameters are passed as given and
# scikit-learn itself refuses unknown ones; the worker reports that as a failed run.
ESTIMATORS: dict[str, tuple[str, Task]] = {
    "LogisticRegression": ("sklearn.linear_model.LogisticRegression", Task.CLASSIFICATION),
    "RandomForestClassifier": ("sklearn.ensemble.RandomForestClassifier", Task.CLASSIFICATION),
    "GradientBoostingClassifier": ("sklearn.ensemble.GradientBoostingClassifier",
                                   Task.CLASSIFICATION),
    "HistGradientBoostingClassifier": ("sklearn.ensemble.HistGradientBoostingClassifier",
                                       Task.CLASSIFICATION),
    "DecisionTreeClassifier": ("sklearn.tree.DecisionTreeClassifier", Task.CLASSIFICATION),
    "LinearRegression": ("sklearn.linear_model.LinearRegression", Task.REGRESSION),
    "Ridge": ("sklearn.linear_model.Ridge", Task.REGRESSION),
    "RandomForestRegressor": ("sklearn.ensemble.RandomForestRegressor", Task.REGRESSION),
    "GradientBoostingRegressor": ("sklearn.ensemble.GradientBoostingRegressor", Task.REGRESSION),
    "HistGradientBoostingRegressor": ("sklearn.ensemble.HistGradientBoostingRegressor",
                                      Task.REGRESSION),
    "DecisionTreeRegressor": ("sklearn.tree.DecisionTreeRegressor", Task.REGRESSION),
}
NUMERIC_IMPUTE = ("median", "mean", "most_frequent", "none")
CATEGORICAL_IMPUTE = ("most_frequent", "constant", "none")

DEFAULT_TIME_LIMIT_S = 3600
DEFAULT_MEMORY_LIMIT_MB = 4096


class RecipeKind(enum.StrEnum):
    DECLARATIVE = "declarative"
    CODE = "code"


class SplitKind(enum.StrEnum):
    RANDOM = "random"  # a seeded random share of rows is the holdout
    TIME = "time"  # rows at or after a cutoff on a timestamp column are the holdout
    HOLDOUT_FILE = "holdout_file"  # a fixed file is the holdout; all of the data trains


@dataclass(frozen=True)
class SplitRule:
    kind: SplitKind = SplitKind.RANDOM
    holdout_share: float = 0.2
    time_column: str = ""
    cutoff: str = ""  # ISO date or date-time
    holdout_path: str = ""

    def __post_init__(self) -> None:
        if self.kind is SplitKind.RANDOM and not 0 < self.holdout_share < 1:
            raise InvalidInputError(f"The holdout share must be between 0 and 1 (e.g. 0.2), "
                                    f"not {self.holdout_share!r}.")
        if self.kind is SplitKind.TIME:
            if not self.time_column.strip():
                raise InvalidInputError("A time split needs the timestamp column to cut on.")
            try:
                datetime.fromisoformat(self.cutoff)
            except (TypeError, ValueError):
                raise InvalidInputError(f"The cutoff of a time split must be an ISO date such "
                                        f"as 2026-06-30, not {self.cutoff!r}.") from None
        if self.kind is SplitKind.HOLDOUT_FILE and not self.holdout_path.strip():
            raise InvalidInputError("A holdout-file split needs the path of the holdout file.")

    def describe(self) -> str:
        if self.kind is SplitKind.RANDOM:
            return f"random {self.holdout_share:.0%} holdout"
        if self.kind is SplitKind.TIME:
            return f"holdout from {self.cutoff} on {self.time_column}"
        # The file's name only: a Windows path reads as well as a POSIX one.
        return f"holdout file {PureWindowsPath(self.holdout_path).name}"


@dataclass(frozen=True)
class Preprocessing:
    numeric_impute: str = "median"
    scale: bool = True
    categorical_impute: str = "most_frequent"
    one_hot: bool = True

    def __post_init__(self) -> None:
        if self.numeric_impute not in NUMERIC_IMPUTE:
            raise InvalidInputError(f"numeric_impute must be one of {', '.join(NUMERIC_IMPUTE)}, "
                                    f"not {self.numeric_impute!r}")
        if self.categorical_impute not in CATEGORICAL_IMPUTE:
            raise InvalidInputError(f"categorical_impute must be one of "
                                    f"{', '.join(CATEGORICAL_IMPUTE)}, "
                                    f"not {self.categorical_impute!r}")


@dataclass(frozen=True)
class Recipe:
    kind: RecipeKind
    source: DataSource
    target: str
    features: tuple[str, ...]
    task: Task = Task.CLASSIFICATION
    split: SplitRule = field(default_factory=SplitRule)
    seed: int = 0
    # declarative
    estimator: str = ""
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    class_weight: str | Mapping[str, float] | None = None  # "balanced" or per-class weights
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    # code: the file's SHA-256 in the artifact store, and its name as the person gave it
    code_sha256: str = ""
    code_filename: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)  # passed to train(frame, params)
    slice_column: str = ""  # compare champion and challenger per value of this column too
    # Also compare them on the recent labelled rows of this monitor of the model ("" none).
    evaluate_on_monitor: str = ""
    time_limit_s: float = DEFAULT_TIME_LIMIT_S
    memory_limit_mb: int = DEFAULT_MEMORY_LIMIT_MB

    def __post_init__(self) -> None:
        if not self.target.strip():
            raise InvalidInputError("A recipe needs the target column (what the model predicts).")
        if not self.features:
            raise InvalidInputError("A recipe needs at least one feature column.")
        if len(set(self.features)) != len(self.features):
            raise InvalidInputError("A feature column is listed twice in the recipe.")
        if self.target in self.features:
            raise InvalidInputError(f"The target {self.target!r} cannot also be a feature.")
        if self.kind is RecipeKind.DECLARATIVE:
            if self.estimator not in ESTIMATORS:
                raise InvalidInputError(f"Unknown estimator {self.estimator!r}; choose one of "
                                        f"{', '.join(ESTIMATORS)}.")
            solves = ESTIMATORS[self.estimator][1]
            if solves is not self.task:
                raise InvalidInputError(f"{self.estimator} solves {solves.value}, but the recipe "
                                        f"is for {self.task.value}.")
            if self.class_weight is not None and self.task is not Task.CLASSIFICATION:
                raise InvalidInputError("Class weights apply to classification only.")
        if self.kind is RecipeKind.CODE and len(self.code_sha256) != 64:
            raise InvalidInputError("A code recipe needs its training file (train.py with "
                                    "train(frame, params)).")
        if not (math.isfinite(self.time_limit_s) and self.time_limit_s > 0):
            raise InvalidInputError("The time limit must be a positive number of seconds.")
        if self.memory_limit_mb < 64:
            raise InvalidInputError("The memory limit must be at least 64 MB.")

    def describe(self) -> str:
        what = (self.estimator if self.kind is RecipeKind.DECLARATIVE
                else f"{self.code_filename or 'train.py'} ({self.code_sha256[:12]})")
        return (f"{what} predicting {self.target} from {len(self.features)} features, "
                f"{self.split.describe()}, seed {self.seed}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value, "source": self.source.to_dict(), "target": self.target,
            "features": list(self.features), "task": self.task.value,
            "split": {"kind": self.split.kind.value, "holdout_share": self.split.holdout_share,
                      "time_column": self.split.time_column, "cutoff": self.split.cutoff,
                      "holdout_path": self.split.holdout_path},
            "seed": self.seed, "estimator": self.estimator,
            "hyperparameters": dict(self.hyperparameters),
            "class_weight": (dict(self.class_weight) if isinstance(self.class_weight, Mapping)
                             else self.class_weight),
            "preprocessing": {"numeric_impute": self.preprocessing.numeric_impute,
                              "scale": self.preprocessing.scale,
                              "categorical_impute": self.preprocessing.categorical_impute,
                              "one_hot": self.preprocessing.one_hot},
            "code_sha256": self.code_sha256, "code_filename": self.code_filename,
            "parameters": dict(self.parameters), "slice_column": self.slice_column,
            "evaluate_on_monitor": self.evaluate_on_monitor,
            "time_limit_s": self.time_limit_s,
            "memory_limit_mb": self.memory_limit_mb,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Recipe:
        """A recipe from its stored or written form; unknown or mistyped keys are named."""
        _refuse_unknown(data, _RECIPE_KEYS, "recipe")
        try:
            split = data.get("split", {})
            _refuse_unknown(split, _SPLIT_KEYS, "split")
            preprocessing = data.get("preprocessing", {})
            _refuse_unknown(preprocessing, _PREPROCESSING_KEYS, "preprocessing")
            source = data.get("source")
            if not isinstance(source, Mapping) or "kind" not in source:
                raise InvalidInputError("A recipe needs a data source, e.g. "
                                        "[source] kind = \"file\", path = \"train.csv\".")
            return cls(
                kind=RecipeKind(data.get("kind", RecipeKind.DECLARATIVE.value)),
                source=DataSource.from_dict(source),
                target=str(data.get("target", "")),
                features=tuple(str(name) for name in data.get("features", ())),
                task=Task(data.get("task", Task.CLASSIFICATION.value)),
                split=SplitRule(SplitKind(split.get("kind", SplitKind.RANDOM.value)),
                                float(split.get("holdout_share", 0.2)),
                                str(split.get("time_column", "")), str(split.get("cutoff", "")),
                                str(split.get("holdout_path", ""))),
                seed=int(data.get("seed", 0)),
                estimator=str(data.get("estimator", "")),
                hyperparameters=dict(data.get("hyperparameters", {})),
                class_weight=data.get("class_weight"),
                preprocessing=Preprocessing(**preprocessing),
                code_sha256=str(data.get("code_sha256", "")),
                code_filename=str(data.get("code_filename", "")),
                parameters=dict(data.get("parameters", {})),
                slice_column=str(data.get("slice_column", "")),
                evaluate_on_monitor=str(data.get("evaluate_on_monitor", "")),
                time_limit_s=float(data.get("time_limit_s", DEFAULT_TIME_LIMIT_S)),
                memory_limit_mb=int(data.get("memory_limit_mb", DEFAULT_MEMORY_LIMIT_MB)),
            )
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"The recipe has a value of the wrong kind: {exc}") from None

    def with_code(self, sha256: str, filename: str) -> Recipe:
        return replace(self, kind=RecipeKind.CODE, code_sha256=sha256, code_filename=filename)


@dataclass(frozen=True)
class RetrainPolicy:
    """When an incident may start a retrain: only critical drift or performance incidents,
    not within ``cooldown_hours`` of the last triggered retrain, and at most ``max_per_period``
    in any ``period_days``, so that a flapping monitor cannot start a storm."""

    on_incident: bool = False
    cooldown_hours: float = 24.0
    max_per_period: int = 3
    period_days: float = 7.0

    def __post_init__(self) -> None:
        if not (self.cooldown_hours >= 0 and self.period_days > 0 and self.max_per_period >= 1):
            raise InvalidInputError("A retrain policy needs a cool-down ≥ 0 hours, a period "
                                    "> 0 days and at least one retrain per period.")

    def to_dict(self) -> dict[str, Any]:
        return {"on_incident": self.on_incident, "cooldown_hours": self.cooldown_hours,
                "max_per_period": self.max_per_period, "period_days": self.period_days}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RetrainPolicy:
        return cls(bool(data.get("on_incident", False)),
                   float(data.get("cooldown_hours", 24.0)),
                   int(data.get("max_per_period", 3)), float(data.get("period_days", 7.0)))


RETRAIN_CAUSES = ("drift", "performance")  # incident causes that retraining can answer


def retrain_refusal(policy: RetrainPolicy, cause: str, severity: str,
                    earlier_triggers: list[datetime], now: datetime) -> str | None:
    """Why an incident of ``cause`` and ``severity`` may not start a retrain now (None: it
    may); ``earlier_triggers`` are the start times of retrains that incidents started."""
    if not policy.on_incident:
        return "retraining on incidents is off for this model"
    if cause not in RETRAIN_CAUSES:
        return f"a {cause} incident is not answered by retraining"
    if severity != "critical":
        return "only a critical incident starts a retrain"
    latest = max(earlier_triggers, default=None)
    if latest is not None and now - latest < timedelta(hours=policy.cooldown_hours):
        return (f"cooling down: the last retrain started {latest:%Y-%m-%d %H:%M} UTC, less "
                f"than {policy.cooldown_hours:g} h ago")
    window = [t for t in earlier_triggers if now - t < timedelta(days=policy.period_days)]
    if len(window) >= policy.max_per_period:
        return (f"{len(window)} retrains in the last {policy.period_days:g} days already "
                f"(at most {policy.max_per_period})")
    return None


@dataclass(frozen=True)
class RecipeFile:
    """What a recipe file says: the recipe, and optionally its promotion gate, its schedule and
    whether critical incidents may start a retrain."""

    recipe: Recipe
    gate: GateRule | None = None
    schedule: Schedule | None = None
    policy: RetrainPolicy = field(default_factory=RetrainPolicy)


def parse_recipe(text: str, *, file_name: str = "recipe.toml") -> RecipeFile:
    """A recipe file from TOML or JSON text (by the file's extension; .json is JSON, else
    TOML): the recipe's settings, and the optional tables ``[gate]``, ``[schedule]`` (``cron``
    or ``every_seconds``) and ``[on_incident]`` (``enabled``, ``cooldown_hours``,
    ``max_per_period``, ``period_days``)."""
    try:
        data = (json.loads(text) if file_name.lower().endswith(".json")
                else tomllib.loads(text))
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInputError(f"{file_name} is not valid "
                                f"{'JSON' if file_name.endswith('.json') else 'TOML'}: {exc}"
                                ) from None
    if not isinstance(data, Mapping):
        raise InvalidInputError(f"{file_name} must hold one recipe (a table of settings).")
    settings = dict(data)
    gate = _table(settings.pop("gate", None), "gate", 'primary_metric = "roc_auc"')
    schedule = _table(settings.pop("schedule", None), "schedule", 'cron = "0 3 * * 1"')
    on_incident = _table(settings.pop("on_incident", None), "on_incident", "enabled = true")
    return RecipeFile(Recipe.from_dict(settings),
                      GateRule.from_dict(gate) if gate is not None else None,
                      _schedule(schedule) if schedule is not None else None,
                      _policy(on_incident) if on_incident is not None else RetrainPolicy())


def _table(value: Any, name: str, example: str) -> Mapping[str, Any] | None:
    if value is not None and not isinstance(value, Mapping):
        raise InvalidInputError(f"[{name}] must be a table of settings, e.g. [{name}] {example}.")
    return value


def _schedule(table: Mapping[str, Any]) -> Schedule:
    _refuse_unknown(table, frozenset({"cron", "every_seconds"}), "schedule")
    if ("cron" in table) == ("every_seconds" in table):
        raise InvalidInputError('[schedule] needs either cron = "0 3 * * 1" or '
                                "every_seconds = 86400.")
    if "cron" in table:
        return Schedule(ScheduleKind.CRON, str(table["cron"]))
    return Schedule(ScheduleKind.INTERVAL, str(int(table["every_seconds"])))


def _policy(table: Mapping[str, Any]) -> RetrainPolicy:
    _refuse_unknown(table, frozenset({"enabled", "cooldown_hours", "max_per_period",
                                      "period_days"}), "on_incident")
    return RetrainPolicy.from_dict({**table, "on_incident": table.get("enabled", True)})


_RECIPE_KEYS = frozenset({
    "kind", "source", "target", "features", "task", "split", "seed", "estimator",
    "hyperparameters", "class_weight", "preprocessing", "code_sha256", "code_filename",
    "parameters", "slice_column", "evaluate_on_monitor", "time_limit_s", "memory_limit_mb"})
_SPLIT_KEYS = frozenset({"kind", "holdout_share", "time_column", "cutoff", "holdout_path"})
_PREPROCESSING_KEYS = frozenset({"numeric_impute", "scale", "categorical_impute", "one_hot"})


def _refuse_unknown(data: Any, known: frozenset[str], what: str) -> None:
    if not isinstance(data, Mapping):
        raise InvalidInputError(f"The {what} must be a table of settings.")
    unknown = sorted(set(data) - known)
    if unknown:
        raise InvalidInputError(f"Unknown {what} setting(s): {', '.join(unknown)}. "
                                f"Known: {', '.join(sorted(known))}.")
