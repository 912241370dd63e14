"""Champion versus challenger: the evidence a comparison on the same rows produces.

These are the values a training run stores with its challenger, the gate judges and the
window shows; they import nothing heavy, so reading them does not bring in numpy. The
statistics that produce them are in `core.paired_comparison`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from modelledger.core.errors import InvalidInputError

HIGHER_IS_BETTER = {"accuracy": True, "precision": True, "recall": True, "f1": True,
                    "roc_auc": True, "log_loss": False, "mae": False, "rmse": False, "r2": True}


@dataclass(frozen=True)
class MetricDifference:
    """One metric of both models and the interval of ``challenger - champion``."""

    metric: str
    champion: float
    challenger: float
    low: float  # bounds of the CONFIDENCE interval of the difference
    high: float

    @property
    def difference(self) -> float:
        return self.challenger - self.champion

    @property
    def higher_is_better(self) -> bool:
        return HIGHER_IS_BETTER[self.metric]

    @property
    def improvement(self) -> float:
        """The difference signed so that a positive value means the challenger is better."""
        return self.difference if self.higher_is_better else -self.difference

    @property
    def improvement_interval(self) -> tuple[float, float]:
        if self.higher_is_better:
            return self.low, self.high
        return -self.high, -self.low

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


@dataclass(frozen=True)
class PairedTest:
    name: str
    statistic: float
    p_value: float
    note: str


@dataclass(frozen=True)
class SliceComparison:
    column: str
    value: str  # the slice as shown: a category, "other", "missing" or a numeric range
    rows: int
    differences: tuple[MetricDifference, ...]


@dataclass(frozen=True)
class Comparison:
    """The evidence for one challenger: stored with it and shown beside the champion."""

    task: str
    rows: int
    resamples: int
    confidence: float
    differences: tuple[MetricDifference, ...]
    test: PairedTest
    slices: tuple[SliceComparison, ...] = field(default=())

    def difference(self, metric: str) -> MetricDifference:
        for difference in self.differences:
            if difference.metric == metric:
                return difference
        known = ", ".join(d.metric for d in self.differences)
        raise InvalidInputError(f"the comparison has no metric {metric!r}; it has {known}")

    def to_dict(self) -> dict[str, Any]:
        """As JSON can hold it (the audit log's canonical JSON refuses NaN): a metric that
        could not be computed, in a slice with one class say, is None."""
        return _finite(asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Comparison:
        def differences(rows: Sequence[Mapping[str, Any]]) -> tuple[MetricDifference, ...]:
            return tuple(_difference_from(row) for row in rows)

        return cls(
            task=data["task"], rows=data["rows"], resamples=data["resamples"],
            confidence=data["confidence"], differences=differences(data["differences"]),
            test=PairedTest(**data["test"]),
            slices=tuple(SliceComparison(column=s["column"], value=s["value"], rows=s["rows"],
                                         differences=differences(s["differences"]))
                         for s in data.get("slices", ())))


# Shadow runs: the challenger scored beside the champion on production data


@dataclass(frozen=True)
class ShadowComparison:
    """A staging challenger against the production champion on one monitor run's rows."""

    rows: int
    agreement: float  # share of rows with the same predicted class (or within 1% for numbers)
    score_shift: float | None  # Kolmogorov-Smirnov distance of the two score distributions
    labelled_rows: int
    differences: tuple[MetricDifference, ...]  # once labels arrive: as compare_on_same_rows

    def to_dict(self) -> dict[str, Any]:
        return _finite(asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShadowComparison:
        return cls(data["rows"], _number(data["agreement"]), data["score_shift"],
                   data["labelled_rows"],
                   tuple(_difference_from(row) for row in data["differences"]))


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _number(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _difference_from(row: Mapping[str, Any]) -> MetricDifference:
    return MetricDifference(row["metric"], *(_number(row[key]) for key in
                                             ("champion", "challenger", "low", "high")))
