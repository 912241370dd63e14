"""Incidents: one per monitor and cause while open, instead of one alert per metric and run.

A run's out-of-threshold metrics are grouped by cause (drift, data quality, performance, KPI,
run failure); each group opens the monitor's incident for that cause or updates the open one.
A cause found healthy in enough runs in a row resolves its incident; when it comes back, a new
incident opens (the closed one stays as it was, as the record of the earlier episode).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from modelledger.core.errors import InvalidInputError

DEFAULT_RESOLVE_AFTER_RUNS = 3
SETTING_KEY = "incidents"
_SEVERITY_RANK = {"ok": 0, "warn": 1, "critical": 2}


class Cause(enum.StrEnum):
    DRIFT = "drift"
    DATA_QUALITY = "data quality"
    PERFORMANCE = "performance"
    KPI = "kpi"
    RUN_FAILURE = "run failure"

    @property
    def label(self) -> str:
        return "KPI" if self is Cause.KPI else self.value.capitalize()


_CAUSE_OF_GROUP = {"drift": Cause.DRIFT, "prediction": Cause.DRIFT,
                   "quality": Cause.DATA_QUALITY, "performance": Cause.PERFORMANCE,
                   "kpi": Cause.KPI}


def cause_of(metric: str) -> Cause:
    """The cause a metric's alert belongs to, e.g. ``quality.missing_share`` -> data quality."""
    return _CAUSE_OF_GROUP.get(metric.split(".", 1)[0], Cause.RUN_FAILURE)


def worse(first: str, second: str) -> str:
    """The worse of two severities ("ok", "warn", "critical")."""
    return first if _SEVERITY_RANK.get(first, 0) >= _SEVERITY_RANK.get(second, 0) else second


def rose(before: str | None, after: str) -> bool:
    """Whether ``after`` is more severe than ``before`` (None: nobody was told yet)."""
    return before is None or _SEVERITY_RANK.get(after, 0) > _SEVERITY_RANK.get(before, 0)


@dataclass(frozen=True)
class IncidentMember:
    """One feature and metric of an incident, as last seen."""

    metric: str
    subject: str
    status: str  # warn, critical, or ok once it came back within its thresholds
    worst: str
    value: float | None
    warn: float | None
    critical: float | None
    note: str
    occurrences: int
    first_seen_at: datetime
    last_seen_at: datetime


def incident_title(model: str, monitor: str, cause: Cause,
                   firing: Iterable[tuple[str, str]]) -> str:
    """e.g. ``credit / daily: drift on income, sector (PSI, Distance)``."""
    from modelledger.core.monitoring import metric_label

    firing = list(firing)
    prefix = f"{model} / {monitor}: "
    if cause is Cause.RUN_FAILURE:
        what = "the monitor paused itself" if ("monitor.paused", "") in firing \
            else "runs failed"
        return prefix + what
    subjects = list(dict.fromkeys(subject for _metric, subject in firing if subject))
    metrics = list(dict.fromkeys(metric_label(metric) for metric, _subject in firing))
    if subjects:
        shown = ", ".join(subjects[:3]) + (f" and {len(subjects) - 3} more"
                                           if len(subjects) > 3 else "")
        return f"{prefix}{cause.label} on {shown} ({', '.join(metrics[:3])})"
    if cause is Cause.KPI:
        return f"{prefix}{', '.join(metrics[:3])} off target"
    return f"{prefix}{cause.label}: {', '.join(metrics[:3])}"


@dataclass(frozen=True)
class IncidentSettings:
    """Workspace settings of incidents (a monitor may override ``resolve_after_runs``)."""

    resolve_after_runs: int = DEFAULT_RESOLVE_AFTER_RUNS
    daily_digest: bool = False
    digest_hour_utc: int = 7  # the digest goes out at the first scheduler beat after this

    def __post_init__(self) -> None:
        check_resolve_after(self.resolve_after_runs)
        if not 0 <= self.digest_hour_utc <= 23:
            raise InvalidInputError("The digest hour must be between 0 and 23 (UTC).")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> IncidentSettings:
        return cls(**(data or {}))


def check_resolve_after(runs: int) -> None:
    if runs < 1:
        raise InvalidInputError(
            "An incident resolves itself after at least 1 healthy run; give 1 or more.")
