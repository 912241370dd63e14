"""Monitors: what they watch, the thresholds that turn numbers into health, and one evaluation.

A monitor's configuration (`MonitorSpec`) is plain data stored as JSON. `evaluate` turns a
reference frame and a current frame into a flat list of `MetricValue`s (one per metric and
subject, e.g. ``drift.psi`` of the feature ``income``), each judged against the threshold in
force, and an overall `Health`. It imports pandas and the statistics modules, so it is only
imported where a run is computed (the worker process), never at application start-up.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from modelledger.core.errors import InvalidInputError


class Health(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    CRITICAL = "critical"
    FAILED = "failed"
    INSUFFICIENT = "insufficient data"


# A metric without a threshold is shown but does not count towards health.
INFO = "info"

_SEVERITY = {Health.OK: 1, Health.WARN: 2, Health.CRITICAL: 3}


class MonitorStatus(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


class SourceKind(enum.StrEnum):
    FILE = "file"
    FOLDER = "folder"
    SQL = "sql"


class FolderPick(enum.StrEnum):
    NEWEST = "newest"  # the most recently modified matching file
    DATE_IN_NAME = "date in name"  # the file whose name holds the latest date not after the slot


class Task(enum.StrEnum):
    CLASSIFICATION = "classification"
    REGRESSION = "regression"


@dataclass(frozen=True)
class Threshold:
    """Warn and critical limits of one metric; ``higher_is_worse`` says which side is bad."""

    warn: float
    critical: float
    higher_is_worse: bool = True

    def __post_init__(self) -> None:
        if not (math.isfinite(self.warn) and math.isfinite(self.critical)):
            raise InvalidInputError("Thresholds must be finite numbers.")
        if self.higher_is_worse and self.critical < self.warn:
            raise InvalidInputError(
                f"The critical threshold ({self.critical:g}) must not be below the warn "
                f"threshold ({self.warn:g}) when higher values are worse."
            )
        if not self.higher_is_worse and self.critical > self.warn:
            raise InvalidInputError(
                f"The critical threshold ({self.critical:g}) must not be above the warn "
                f"threshold ({self.warn:g}) when lower values are worse."
            )

    def judge(self, value: float) -> Health:
        bad = value if self.higher_is_worse else -value
        critical = self.critical if self.higher_is_worse else -self.critical
        warn = self.warn if self.higher_is_worse else -self.warn
        if bad >= critical:
            return Health.CRITICAL
        if bad >= warn:
            return Health.WARN
        return Health.OK

    def to_dict(self) -> dict[str, Any]:
        return {"warn": self.warn, "critical": self.critical,
                "higher_is_worse": self.higher_is_worse}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Threshold:
        return cls(float(data["warn"]), float(data["critical"]),
                   bool(data.get("higher_is_worse", True)))


# Defaults from DESIGN.md: PSI amber 0.10 / red 0.25; the same scale for the scaled Wasserstein
# and Jensen-Shannon distances; quality shares small, any schema change critical.
DEFAULT_THRESHOLDS: dict[str, Threshold] = {
    "drift.psi": Threshold(0.10, 0.25),
    "drift.distance": Threshold(0.10, 0.25),
    "drift.share": Threshold(0.20, 0.50),
    "drift.top_k_share": Threshold(0.50, 1.0),
    "prediction.psi": Threshold(0.10, 0.25),
    "prediction.distance": Threshold(0.10, 0.25),
    "quality.missing_share": Threshold(0.05, 0.20),
    "quality.out_of_range_share": Threshold(0.01, 0.05),
    "quality.unseen_category_share": Threshold(0.01, 0.05),
    "quality.schema_changes": Threshold(1, 1),
    "performance.log_loss": Threshold(0.7, 1.0),
}
# Performance is judged against the version's own recorded metric when it has one (a drop of
# 0.05 warns, 0.10 is critical), else against these absolute floors.
PERFORMANCE_DROP_WARN = 0.05
PERFORMANCE_DROP_CRITICAL = 0.10
PERFORMANCE_FLOORS: dict[str, tuple[float, float]] = {
    "accuracy": (0.70, 0.60), "precision": (0.60, 0.50), "recall": (0.60, 0.50),
    "f1": (0.60, 0.50), "roc_auc": (0.70, 0.60), "r2": (0.50, 0.30),
}

METRIC_LABELS: dict[str, str] = {
    "drift.psi": "PSI", "drift.distance": "Distance", "drift.p_value": "p-value (BH)",
    "drift.share": "Drifted share", "drift.top_k_share": "Drifted share of the top k",
    "prediction.psi": "Prediction PSI",
    "prediction.distance": "Prediction distance", "quality.row_count": "Rows",
    "quality.missing_share": "Missing share", "quality.out_of_range_share": "Out of range",
    "quality.unseen_category_share": "Unseen categories",
    "quality.schema_changes": "Schema changes",
}
PERFORMANCE_LABELS = {
    "roc_auc": "ROC AUC", "log_loss": "Log loss", "f1": "F1", "r2": "R²", "mae": "MAE",
    "rmse": "RMSE", "labelled_rows": "Labelled rows",
}


def metric_label(metric: str, subject: str = "") -> str:
    """e.g. ``PSI``, ``ROC AUC``, ``KPI approval rate``; ``PSI · income`` with a subject."""
    group, _, name = metric.partition(".")
    if metric in METRIC_LABELS:
        label = METRIC_LABELS[metric]
    elif group == "kpi":
        label = f"KPI {name}"
    elif group == "performance":
        label = PERFORMANCE_LABELS.get(name, name.replace("_", " ").capitalize())
    elif group == "shadow":  # a staging challenger scored beside the champion (its subject)
        label = {"agreement": "Shadow agreement", "score_shift": "Shadow score shift"}.get(
            name, f"Shadow {PERFORMANCE_LABELS.get(name, name)} gain")
    else:
        label = (name or group).replace("_", " ").capitalize()
    return f"{label} · {subject}" if subject else label


@dataclass(frozen=True)
class DataSource:
    kind: SourceKind
    path: str = ""  # file or folder
    pattern: str = "*.csv"  # folder: which files
    pick: FolderPick = FolderPick.NEWEST
    url: str = ""  # SQL: a SQLAlchemy URL without the password
    query: str = ""
    credential: str = ""  # SQL: the keyring entry that holds the password

    def __post_init__(self) -> None:
        if self.kind in (SourceKind.FILE, SourceKind.FOLDER) and not self.path.strip():
            raise InvalidInputError("Choose the file or folder that holds the current data.")
        if self.kind is SourceKind.SQL and not (self.url.strip() and self.query.strip()):
            raise InvalidInputError("A SQL source needs a database URL and a query.")
        if self.kind is SourceKind.SQL and urlsplit(self.url).password:
            raise InvalidInputError(
                "Do not put the password in the database URL: it would be stored in the "
                "shared workspace. Leave it out and give it as the source's password; "
                "ModelLedger keeps it in the system keyring."
            )

    def describe(self) -> str:
        if self.kind is SourceKind.FILE:
            return self.path
        if self.kind is SourceKind.FOLDER:
            return f"{self.path} ({self.pattern}, {self.pick.value})"
        return f"{self.url}: {self.query}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "path": self.path, "pattern": self.pattern,
                "pick": self.pick.value, "url": self.url, "query": self.query,
                "credential": self.credential}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataSource:
        return cls(SourceKind(data["kind"]), data.get("path", ""), data.get("pattern", "*.csv"),
                   FolderPick(data.get("pick", FolderPick.NEWEST.value)), data.get("url", ""),
                   data.get("query", ""), data.get("credential", ""))


@dataclass(frozen=True)
class MonitorSpec:
    """What a monitor reads and how it judges it (stored as JSON with the monitor)."""

    features: tuple[str, ...]
    source: DataSource
    task: Task = Task.CLASSIFICATION
    prediction: str = ""  # the prediction column; empty: score the data with the stored model
    score: str = ""  # classification: probability of the positive class, for ROC AUC/log loss
    label: str = ""  # present once labels arrive; rows without a label are skipped
    timestamp: str = ""  # for windows
    window_days: float | None = None  # rows with a timestamp in (slot - window, slot]
    kpis: tuple[Any, ...] = ()  # KpiDefinition values
    thresholds: Mapping[str, Threshold] = field(default_factory=dict)  # "metric" or "metric@col"
    min_sample: int = 100
    # How much the monitored version uses each feature (core.importance), measured when the
    # monitor is created or on request; the run judges the drift of the ``top_k`` it uses most.
    importance: Mapping[str, float] = field(default_factory=dict)
    importance_method: str = ""
    importance_version: int | None = None
    top_k: int = 3

    def __post_init__(self) -> None:
        if not self.features:
            raise InvalidInputError("Choose at least one feature column to monitor.")
        if len(set(self.features)) != len(self.features):
            raise InvalidInputError("Each feature column may be chosen only once.")
        names = [kpi.name for kpi in self.kpis]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise InvalidInputError(
                f"Two KPIs are named {', '.join(map(repr, repeated))}: give each KPI its own "
                "name (results are stored by name).")
        if self.window_days is not None and self.window_days <= 0:
            raise InvalidInputError("The window must be a positive number of days.")
        if self.window_days is not None and not self.timestamp:
            raise InvalidInputError("A window needs a timestamp column to select rows by.")
        if self.min_sample < 1:
            raise InvalidInputError("The minimum sample must be at least 1 row.")
        if self.top_k < 1:
            raise InvalidInputError("The number of most important features must be at least 1.")

    @property
    def scored_by_model(self) -> bool:
        return not self.prediction

    def reference_columns(self) -> tuple[str, ...]:
        """Columns profiled from the reference data (drift needs them there)."""
        return self.features + ((self.prediction,) if self.prediction else ())

    def threshold_for(self, metric: str, subject: str,
                      baseline: Mapping[str, float]) -> Threshold | None:
        own = self.thresholds.get(f"{metric}@{subject}") or self.thresholds.get(metric)
        if own is not None:
            return own
        if metric.startswith("performance."):
            name = metric.removeprefix("performance.")
            if name in PERFORMANCE_FLOORS:
                recorded = baseline.get(name)
                if recorded is not None and math.isfinite(recorded):
                    return Threshold(recorded - PERFORMANCE_DROP_WARN,
                                     recorded - PERFORMANCE_DROP_CRITICAL, higher_is_worse=False)
                warn, critical = PERFORMANCE_FLOORS[name]
                return Threshold(warn, critical, higher_is_worse=False)
        return DEFAULT_THRESHOLDS.get(metric)

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.features), "source": self.source.to_dict(),
            "task": self.task.value, "prediction": self.prediction, "score": self.score,
            "label": self.label, "timestamp": self.timestamp, "window_days": self.window_days,
            "kpis": [kpi.to_dict() for kpi in self.kpis],
            "thresholds": {key: value.to_dict() for key, value in sorted(self.thresholds.items())},
            "min_sample": self.min_sample,
            "importance": dict(sorted(self.importance.items())),
            "importance_method": self.importance_method,
            "importance_version": self.importance_version, "top_k": self.top_k,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MonitorSpec:
        from modelledger.core.kpi import KpiDefinition

        return cls(
            features=tuple(data["features"]), source=DataSource.from_dict(data["source"]),
            task=Task(data.get("task", Task.CLASSIFICATION.value)),
            prediction=data.get("prediction", ""), score=data.get("score", ""),
            label=data.get("label", ""), timestamp=data.get("timestamp", ""),
            window_days=data.get("window_days"),
            kpis=tuple(KpiDefinition.from_dict(kpi) for kpi in data.get("kpis", ())),
            thresholds={key: Threshold.from_dict(value)
                        for key, value in data.get("thresholds", {}).items()},
            min_sample=int(data.get("min_sample", 100)),
            importance={key: float(value) for key, value in data.get("importance", {}).items()},
            importance_method=data.get("importance_method", ""),
            importance_version=data.get("importance_version"), top_k=int(data.get("top_k", 3)),
        )


@dataclass(frozen=True)
class MetricValue:
    metric: str  # e.g. "drift.psi", "performance.roc_auc", "kpi.approval rate"
    subject: str  # the column it is about, "" for the whole data set
    value: float | None
    status: str  # a Health value other than FAILED, or INFO
    warn: float | None = None  # the thresholds in force for this run
    critical: float | None = None
    note: str = ""
    # What sampling noise alone stays under at this reference size and this window size; a
    # value at or under it is "ok" whatever the thresholds. Not stored with a run (its note
    # says "within the noise of N rows" instead).
    noise_floor: float | None = None
    noise_rows: int | None = None  # the window size the floor is for


@dataclass(frozen=True)
class Evaluation:
    metrics: tuple[MetricValue, ...]
    health: Health
    current_rows: int
    reference_rows: int
    summary: str  # one line for lists and alerts
    # column -> the current data's share per reference bin, for the distribution charts
    distributions: Mapping[str, tuple[float, ...]] = field(default_factory=dict)


def overall_health(metrics: Sequence[MetricValue]) -> Health:
    """The worst judged status; insufficient data when nothing could be judged."""
    judged = [Health(m.status) for m in metrics if m.status in _SEVERITY]
    if not judged:
        return Health.INSUFFICIENT
    return max(judged, key=_SEVERITY.__getitem__)


def evaluate(
    spec: MonitorSpec,
    profiles: Mapping[str, Mapping[str, Any]],
    reference: Any,
    current: Any,
    baseline: Mapping[str, float],
) -> Evaluation:
    """Every metric of one run. ``reference``/``current`` are pandas DataFrames; ``current``
    already holds the prediction column when the model scored it."""
    from modelledger.core.drift import (
        NOISE_BUDGET,
        column_drift,
        dataset_drift,
        profile_from_dict,
        rows_to_detect,
    )
    from modelledger.core.kpi_evaluation import evaluate_kpi
    from modelledger.core.quality import data_quality

    values: list[MetricValue] = []
    distributions: dict[str, tuple[float, ...]] = {}
    too_small: list[tuple[MetricValue, int | None]] = []  # drift the window cannot resolve
    reference_rows = len(reference)

    def judged(metric: str, subject: str, value: float | None, note: str = "",
               insufficient: bool = False, floor: float | None = None,
               rows: int | None = None) -> MetricValue:
        threshold = spec.threshold_for(metric, subject, baseline)
        if insufficient or value is None:
            status = Health.INSUFFICIENT.value if threshold is not None else INFO
        elif threshold is None:
            status = INFO
        else:
            status = threshold.judge(value).value
            if floor is not None and threshold.higher_is_worse and value <= floor \
                    and status != Health.OK:
                status = Health.OK.value
                note = "; ".join(filter(None, (
                    note, f"within the noise of {rows:,} rows (noise floor {floor:.3g})")))
        judged_value = MetricValue(
            metric, subject, value, status, threshold.warn if threshold else None,
            threshold.critical if threshold else None, note, floor if threshold else None,
            rows if floor is not None and threshold else None)
        if (metric.startswith(("drift.", "prediction.")) and floor is not None and rows
                and threshold is not None and threshold.higher_is_worse and threshold.warn > 0
                and floor > 2 * threshold.warn):
            power = 1.0 if metric.endswith(".psi") else 0.5
            too_small.append((judged_value, rows_to_detect(floor, reference_count(subject),
                                                           rows, threshold.warn, power)))
        return judged_value

    # Labels arrive later: their absence is not a quality problem (performance reports how
    # many rows are labelled), so quality watches the features and the prediction only.
    watched = list(dict.fromkeys(spec.features + ((spec.prediction,) if spec.prediction else ())))
    # The run's false-alarm budget is shared by every check judged against a noise floor: PSI
    # and distance per profiled column, missing and range or unseen share per watched column.
    alpha = NOISE_BUDGET / (2 * len(spec.reference_columns()) + 2 * len(watched))
    drift_counts: dict[str, int] = {}

    def reference_count(subject: str) -> int:
        return drift_counts.get(subject, reference_rows)

    quality = data_quality(reference, current, watched, alpha=alpha)
    values.append(MetricValue("quality.row_count", "", float(quality.row_count), INFO))
    structural = [c for c in quality.schema_changes if c.change != "extra"]
    values.append(judged(
        "quality.schema_changes", "", float(len(structural)),
        "; ".join(_describe_change(c) for c in quality.schema_changes)))
    rows = quality.row_count
    for column in quality.columns:
        values.append(judged("quality.missing_share", column.column, column.missing_share,
                             floor=column.missing_floor, rows=rows))
        if column.out_of_range_share is not None:
            values.append(judged("quality.out_of_range_share", column.column,
                                 column.out_of_range_share, floor=column.out_of_range_floor,
                                 rows=rows))
        if column.unseen_category_share is not None:
            values.append(judged("quality.unseen_category_share", column.column,
                                 column.unseen_category_share,
                                 floor=column.unseen_category_floor, rows=rows))

    feature_profiles = {name: profile_from_dict(profiles[name]) for name in spec.features}
    report = dataset_drift(feature_profiles, reference, current, min_sample=spec.min_sample,
                           alpha=alpha)
    for drift in report.features:
        if drift.current_shares:
            distributions[drift.column] = drift.current_shares
        drift_counts[drift.column] = drift.reference_count
        values.append(judged("drift.psi", drift.column, drift.psi, drift.note, drift.insufficient,
                             drift.psi_floor, drift.current_count))
        values.append(judged("drift.distance", drift.column, drift.distance, drift.note,
                             drift.insufficient, drift.distance_floor, drift.current_count))
        values.append(MetricValue("drift.p_value", drift.column, drift.p_value_adjusted, INFO,
                                  note=drift.note))
    values.append(judged("drift.share", "", report.drift_share,
                         "" if report.drift_share is not None else "no feature had enough data"))
    if spec.importance:
        from modelledger.core.importance import drifted_top_k_share

        values.append(judged("drift.top_k_share", "", *drifted_top_k_share(
            spec.importance, spec.top_k, spec.features, values)))

    if spec.prediction and spec.prediction in profiles and spec.prediction in current.columns:
        drift = column_drift(profile_from_dict(profiles[spec.prediction]),
                             reference[spec.prediction], current[spec.prediction],
                             min_sample=spec.min_sample, alpha=alpha)
        if drift.current_shares:
            distributions[spec.prediction] = drift.current_shares
        drift_counts[spec.prediction] = drift.reference_count
        values.append(judged("prediction.psi", spec.prediction, drift.psi, drift.note,
                             drift.insufficient, drift.psi_floor, drift.current_count))
        values.append(judged("prediction.distance", spec.prediction, drift.distance, drift.note,
                             drift.insufficient, drift.distance_floor, drift.current_count))

    if spec.label and spec.label in current.columns and spec.prediction in current.columns:
        values.extend(_performance(spec, current, judged))

    for kpi in spec.kpis:
        result = evaluate_kpi(kpi, current)
        values.append(MetricValue(f"kpi.{kpi.name}", "", result.value, result.status,
                                  note=result.note))

    health = overall_health(values)
    if quality.row_count < spec.min_sample:
        health = Health.INSUFFICIENT
    summary = _summary(values, health, quality.row_count, spec.min_sample)
    if too_small and health is not Health.INSUFFICIENT:
        summary = f"{summary} {_too_small_text(too_small)}"
    return Evaluation(tuple(values), health, quality.row_count, len(reference), summary,
                      distributions)


def _performance(spec: MonitorSpec, current: Any, judged) -> list[MetricValue]:
    from modelledger.core.performance import classification_metrics, regression_metrics

    labels, predictions = current[spec.label], current[spec.prediction]
    if spec.task is Task.REGRESSION:
        result = regression_metrics(labels, predictions, min_sample=spec.min_sample)
    else:
        scores = current[spec.score] if spec.score and spec.score in current.columns else None
        result = classification_metrics(labels, predictions, scores, min_sample=spec.min_sample)
    values = [MetricValue("performance.labelled_rows", "", float(result.count), INFO)]
    for name, value in result.metrics.items():
        values.append(judged(f"performance.{name}", "", value,
                             result.note if value is None else "", result.insufficient))
    return values


def _describe_change(change: Any) -> str:
    if change.change == "missing":
        return f"column '{change.column}' is missing"
    if change.change == "extra":
        return f"new column '{change.column}'"
    return f"column '{change.column}' changed from {change.reference_type} to {change.current_type}"


def _within_noise(metric: MetricValue) -> bool:
    """Over its warn threshold, and yet judged "ok" because noise alone gives such values."""
    return (metric.noise_floor is not None and metric.value is not None
            and metric.warn is not None and metric.status == Health.OK
            and metric.warn <= metric.value <= metric.noise_floor)


def _too_small_text(too_small: Sequence[tuple[MetricValue, int | None]]) -> str:
    """One sentence for the drift checks whose noise floor is over twice their warn threshold,
    e.g. "Window of 100 rows too small to detect a drift of 0.1 (3 checks); need about 900."""
    rows = max(metric.noise_rows or 0 for metric, _ in too_small)
    target = min(metric.warn or 0.0 for metric, _ in too_small)
    needed = [count for _, count in too_small if count is not None]
    checks = "1 check" if len(too_small) == 1 else f"{len(too_small)} checks"
    need = f"need about {max(needed):,} rows" if needed else "need a larger reference"
    if needed and len(needed) < len(too_small):
        need += " (and a larger reference for some)"
    return (f"Window of {rows:,} rows too small to detect a drift of {target:g} ({checks}); "
            f"{need}.")


def _summary(values: Sequence[MetricValue], health: Health, rows: int, min_sample: int) -> str:
    if health is Health.INSUFFICIENT and rows < min_sample:
        return f"Insufficient data: {rows} rows (at least {min_sample} needed)."
    bad = [m for m in values if m.status in (Health.WARN, Health.CRITICAL)]
    noisy = [m for m in values if _within_noise(m)]
    if not bad:
        if noisy:
            values_text = "1 value" if len(noisy) == 1 else f"{len(noisy)} values"
            return (f"All checks within thresholds on {rows:,} rows; {values_text} over a "
                    f"threshold within noise, e.g. {describe_metric(noisy[0])}.")
        return f"All checks within thresholds on {rows:,} rows."
    bad.sort(key=lambda m: (-_SEVERITY[Health(m.status)], m.metric, m.subject))
    shown = ", ".join(describe_metric(m) for m in bad[:3])
    more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
    checks = "check" if len(bad) == 1 else "checks"
    return f"{len(bad)} {checks} outside thresholds: {shown}{more}."


def describe_metric(metric: MetricValue) -> str:
    """e.g. ``PSI of income 0.31 (critical)``, or ``Distance of age 0.11, within the noise of
    150 rows``."""
    label = METRIC_LABELS.get(metric.metric) or metric.metric.split(".", 1)[-1].replace("_", " ")
    where = f" of {metric.subject}" if metric.subject else ""
    value = "n/a" if metric.value is None else f"{metric.value:.3g}"
    if _within_noise(metric) and metric.noise_rows is not None:
        return f"{label}{where} {value}, within the noise of {metric.noise_rows:,} rows"
    return f"{label}{where} {value} ({metric.status})"


# -- stored records ---------------------------------------------------------------------------


class ScheduleKind(enum.StrEnum):
    INTERVAL = "interval"  # every N seconds from the monitor's anchor
    CRON = "cron"  # a five-field crontab expression, in UTC


@dataclass(frozen=True)
class Schedule:
    kind: ScheduleKind
    expression: str

    def describe(self) -> str:
        if self.kind is ScheduleKind.CRON:
            return f"cron {self.expression} (UTC)"
        seconds = int(self.expression)
        for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
            if seconds % size == 0:
                count = seconds // size
                return f"every {unit}" if count == 1 else f"every {count} {unit}s"
        return f"every {seconds} s"


class RunStatus(enum.StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class AlertStatus(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"


@dataclass(frozen=True)
class Monitor:
    id: int
    model_id: int
    model_name: str
    name: str
    pinned_version: int | None  # None: follows the production version
    reference_sha256: str
    reference_name: str
    reference_rows: int
    spec: MonitorSpec
    schedule: Schedule
    schedule_anchor: datetime
    status: MonitorStatus
    max_failures: int
    consecutive_failures: int
    timeout_s: int
    created_by: str
    created_at: datetime
    row_version: int
    resolve_after_runs: int | None = None  # None: the workspace's incident setting


@dataclass(frozen=True)
class MonitorOverview:
    """A monitor with its latest run and open incidents, for lists and dashboards."""

    monitor: Monitor
    last_run_at: datetime | None
    last_health: Health | None
    open_alerts: int


@dataclass(frozen=True)
class MonitorRun:
    id: int
    monitor_id: int
    monitor_name: str
    model_name: str
    attempt: int
    version_number: int | None
    slot: datetime
    started_at: datetime
    finished_at: datetime
    status: RunStatus
    health: Health
    window_start: datetime | None
    window_end: datetime | None
    current_rows: int | None
    reference_rows: int | None
    data_description: str
    summary: str
    error: str
    log: str
    instance: str


@dataclass(frozen=True)
class Alert:
    """One incident: what one monitor found for one cause (see `core.incidents`) while it
    stays open; the features and metrics involved are its members."""

    id: int
    monitor_id: int
    monitor_name: str
    model_name: str
    run_id: int | None
    severity: Health  # WARN or CRITICAL
    kind: str  # "threshold" | "failed" | "paused": what first opened it
    title: str
    detail: str
    status: AlertStatus
    assignee: str | None
    occurrences: int
    first_seen_at: datetime
    last_seen_at: datetime
    closed_at: datetime | None
    row_version: int
    cause: str = "drift"  # a core.incidents.Cause value
    healthy_runs: int = 0
    snoozed_until: datetime | None = None
    muted_reason: str = ""
    muted_until: datetime | None = None
    resolution: str = ""  # set when it resolved itself

    @property
    def muted(self) -> bool:
        return bool(self.muted_reason)

    def silenced(self, now: datetime) -> bool:
        """Snoozed or muted at ``now``: nobody is notified about it."""
        snoozed = self.snoozed_until is not None and self.snoozed_until > now
        muted = self.muted and (self.muted_until is None or self.muted_until > now)
        return snoozed or muted


@dataclass(frozen=True)
class AlertNote:
    author: str
    created_at: datetime
    kind: str  # "raised", "repeated", "acknowledged", "assigned", "comment", "closed", "snoozed",
    # "unsnoozed", "muted", "unmuted", "resolved", "snooze expired", "mute expired", "email"
    text: str


@dataclass(frozen=True)
class SlotClaim:
    """The right to run one slot of one monitor, held by one instance."""

    id: int
    monitor_id: int
    slot: datetime
    kind: str  # "scheduled" | "manual"
    attempt: int
    owner: str
