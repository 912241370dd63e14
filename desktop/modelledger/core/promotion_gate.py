"""The promotion gate: when does a challenger's evidence justify asking for promotion?

Modelled on MLflow's ``MetricThreshold`` (an absolute and a relative minimum improvement of a
metric over a baseline) with what a reviewer also asks for: the improvement of the primary
metric must be more than luck (its confidence interval excludes zero), the other metrics may not
get worse by more than a stated margin (non-inferiority: the worst end of the interval decides),
the training data must pass basic checks, and the challenger must take the features the
monitors and the serving side send. The gate only decides whether a request is opened: a person
still approves it, with a signed decision.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from modelledger.core.challenger import HIGHER_IS_BETTER, Comparison
from modelledger.core.errors import InvalidInputError


@dataclass(frozen=True)
class GateRule:
    primary_metric: str
    min_absolute_improvement: float = 0.0  # in the metric's own units, challenger better by
    min_relative_improvement: float = 0.0  # share of the champion's value, e.g. 0.01 = 1%
    require_significance: bool = True  # the interval of the primary difference excludes zero
    # metric -> largest tolerated loss (in the metric's units), judged at the interval's worst end
    non_inferiority: Mapping[str, float] = field(default_factory=dict)
    max_missing_share: float = 0.2  # of any feature in the training data
    min_training_rows: int = 100

    def __post_init__(self) -> None:
        for metric in (self.primary_metric, *self.non_inferiority):
            if metric not in HIGHER_IS_BETTER:
                known = ", ".join(HIGHER_IS_BETTER)
                raise InvalidInputError(f"the gate names an unknown metric {metric!r}; "
                                        f"known metrics: {known}")
        for name in ("min_absolute_improvement", "min_relative_improvement",
                     "max_missing_share"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise InvalidInputError(f"{name.replace('_', ' ')} must be a number ≥ 0, "
                                        f"not {value!r}")
        for metric, margin in self.non_inferiority.items():
            if not math.isfinite(margin) or margin < 0:
                raise InvalidInputError(f"the non-inferiority margin of {metric} must be a "
                                        f"number ≥ 0, not {margin!r}")
        if self.max_missing_share > 1:
            raise InvalidInputError("max missing share is a share between 0 and 1")
        if self.min_training_rows < 1:
            raise InvalidInputError("min training rows must be at least 1")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["non_inferiority"] = dict(self.non_inferiority)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateRule:
        known = {name for name in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInputError(f"unknown gate settings: {', '.join(unknown)}; "
                                    f"known: {', '.join(sorted(known))}")
        if "primary_metric" not in data:
            raise InvalidInputError("a gate needs a primary_metric")
        return cls(**{**data, "non_inferiority": dict(data.get("non_inferiority", {}))})


@dataclass(frozen=True)
class TrainingDataFacts:
    rows: int
    missing_share: Mapping[str, float]  # feature -> share of missing values


@dataclass(frozen=True)
class GateCheck:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class GateVerdict:
    checks: tuple[GateCheck, ...]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why the gate failed, one line per failed check (empty when it passed)."""
        return tuple(check.detail for check in self.checks if not check.passed)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "checks": [asdict(check) for check in self.checks]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateVerdict:
        return cls(tuple(GateCheck(**check) for check in data["checks"]))


def judge(rule: GateRule, comparison: Comparison, training: TrainingDataFacts,
          challenger_features: Sequence[str], expected_features: Sequence[str]) -> GateVerdict:
    """Every check of the gate, passed or not, each with the figures that decided it."""
    return GateVerdict((*_primary_checks(rule, comparison),
                        *_non_inferiority_checks(rule, comparison),
                        *_training_data_checks(rule, training),
                        _schema_check(challenger_features, expected_features)))


def _primary_checks(rule: GateRule, comparison: Comparison) -> list[GateCheck]:
    metric = rule.primary_metric
    try:
        primary = comparison.difference(metric)
    except InvalidInputError as error:
        return [GateCheck(f"{metric} improves", False, str(error))]
    if not math.isfinite(primary.improvement):
        return [GateCheck(f"{metric} improves", False,
                          f"{metric} could not be computed on the evaluation rows")]
    checks = [GateCheck(
        f"{metric} improves by at least {rule.min_absolute_improvement:g}",
        primary.improvement > 0 and primary.improvement >= rule.min_absolute_improvement,
        f"{metric}: {primary.champion:.4g} → {primary.challenger:.4g} (improvement "
        f"{_signed(primary.improvement)}; needed ≥ {rule.min_absolute_improvement:g})")]
    if rule.min_relative_improvement:
        relative = (primary.improvement / abs(primary.champion) if primary.champion
                    else math.inf)
        checks.append(GateCheck(
            f"{metric} improves by at least {_percent(rule.min_relative_improvement)}",
            relative >= rule.min_relative_improvement,
            f"{metric} {relative:+.2%} relative to the champion "
            f"(needed ≥ {_percent(rule.min_relative_improvement)})"))
    if rule.require_significance:
        low, high = primary.improvement_interval
        checks.append(GateCheck(
            f"the {metric} improvement is more than chance",
            math.isfinite(low) and low > 0,
            f"{comparison.confidence:.0%} interval of the improvement: "
            f"{_signed(low)} to {_signed(high)} over {comparison.rows:,} rows "
            f"({'above zero' if low > 0 else 'below zero' if high < 0 else 'includes zero'})"))
    return checks


def _non_inferiority_checks(rule: GateRule, comparison: Comparison) -> list[GateCheck]:
    checks = []
    for metric, margin in rule.non_inferiority.items():
        name = f"{metric} is not worse by more than {margin:g}"
        try:
            difference = comparison.difference(metric)
        except InvalidInputError as error:
            checks.append(GateCheck(name, False, str(error)))
            continue
        worst, _ = difference.improvement_interval
        checks.append(GateCheck(
            name, math.isfinite(worst) and worst >= -margin,
            f"{metric}: {difference.champion:.4g} → {difference.challenger:.4g}; "
            f"worst end of the interval {_signed(worst)} (allowed ≥ {-margin:g})"))
    return checks


def _training_data_checks(rule: GateRule, training: TrainingDataFacts) -> list[GateCheck]:
    checks = [GateCheck(f"at least {rule.min_training_rows:,} training rows",
                        training.rows >= rule.min_training_rows,
                        f"{training.rows:,} training rows (needed ≥ {rule.min_training_rows:,})")]
    worst = max(training.missing_share.items(), key=lambda item: item[1], default=None)
    if worst is not None:
        feature, share = worst
        checks.append(GateCheck(
            f"no feature more than {_percent(rule.max_missing_share)} missing",
            share <= rule.max_missing_share,
            f"most missing: {feature} {share:.1%} "
            f"(allowed ≤ {_percent(rule.max_missing_share)})"))
    return checks


def _schema_check(challenger_features: Sequence[str],
                  expected_features: Sequence[str]) -> GateCheck:
    taken, sent = set(challenger_features), set(expected_features)
    missing = [name for name in expected_features if name not in taken]
    extra = [name for name in challenger_features if name not in sent]
    if not missing and not extra:
        return GateCheck("features match what monitors and serving send", True,
                         f"the same {len(expected_features)} features")
    parts = []
    if missing:
        parts.append("the challenger does not take " + ", ".join(missing))
    if extra:
        parts.append("the challenger needs " + ", ".join(extra) + ", which are not sent today")
    return GateCheck("features match what monitors and serving send", False, "; ".join(parts))


def _signed(value: float) -> str:
    return f"{value:+.4g}" if math.isfinite(value) else "not computable"


def _percent(share: float) -> str:
    return f"{share * 100:g}%"
