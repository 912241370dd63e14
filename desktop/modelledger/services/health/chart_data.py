"""What the health charts draw, read from the store and shaped into arrays: no Qt, no drawing.

The interactive charts (pyqtgraph, in `ui.charts`) and the exported figures (matplotlib, in
`services.health_figures`) draw the same objects, so a chart on screen and its export cannot
disagree. Times are POSIX seconds (UTC) of each run's slot.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from modelledger.core.domain import ModelStatus, ModelSummary, Stage, StageChange
from modelledger.core.kpi import KpiDefinition
from modelledger.core.monitoring import (
    Health,
    Monitor,
    MonitorRun,
    RunStatus,
    Task,
    metric_label,
)
from modelledger.storage import health_queries as hq
from modelledger.storage import monitoring_repo as mrepo
from modelledger.storage import repositories as repo
from modelledger.storage.database import Database

if TYPE_CHECKING:
    import numpy as np

DRIFT_MEASURES = {"drift.psi": "PSI", "drift.distance": "Distance",
                  "drift.p_value": "p-value (BH)"}
TREND_RUNS = 30  # runs in a dashboard sparkline


def to_seconds(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


@dataclass(frozen=True, eq=False)
class MetricSeries:
    """One metric of one monitor over its succeeded runs."""

    metric: str
    subject: str
    label: str
    times: np.ndarray  # float64 POSIX seconds
    values: np.ndarray  # float64, NaN where the run had no value
    statuses: tuple[str, ...]
    run_ids: np.ndarray  # int64
    warn: np.ndarray  # the warn threshold in force at each run, NaN when none
    critical: np.ndarray
    alert_indices: np.ndarray  # int64: the points (indices) where an alert was raised
    alert_severities: tuple[str, ...]  # per alert index

    @property
    def higher_is_worse(self) -> bool:
        """Read from the stored thresholds: critical below warn means low values are bad."""
        import numpy as np

        both = ~(np.isnan(self.warn) | np.isnan(self.critical))
        if not both.any():
            return True
        index = int(np.flatnonzero(both)[-1])
        return bool(self.critical[index] >= self.warn[index])

    @property
    def has_thresholds(self) -> bool:
        import numpy as np

        return bool((~np.isnan(self.warn)).any())


@dataclass(frozen=True)
class VersionMarker:
    """A stage change of one of the model's versions, drawn as a line on the time axis."""

    time: float
    version_number: int
    to_stage: str
    kind: str  # "promotion", "rollback", "transition"
    label: str  # "v3 in production", "rolled back to v2"


@dataclass(frozen=True)
class RunPoint:
    """Every run (failed ones too): the health strip and the run picker."""

    run_id: int
    time: float
    health: str
    status: str
    version_number: int | None
    summary: str


@dataclass(frozen=True, eq=False)
class DriftHeatmap:
    measure: str  # "drift.psi", "drift.distance" or "drift.p_value"
    features: tuple[str, ...]
    times: np.ndarray  # one per column (run)
    run_ids: np.ndarray
    values: np.ndarray  # features x runs, NaN where no value
    warn: float | None  # the scale's marks (the latest thresholds in force), for the legend
    critical: float | None
    # features x runs: over the warn threshold, yet judged "ok" by the run (within the noise of
    # its window), so drawn without the amber of a warning. None: no such cell.
    within_noise: np.ndarray | None = None

    def colour_values(self) -> np.ndarray:
        """The values the colour scale shows: a value within noise as no drift at all (0), since
        the window cannot tell it from none."""
        import numpy as np

        if self.within_noise is None:
            return self.values
        return np.where(self.within_noise, 0.0, self.values)


@dataclass(frozen=True)
class KpiBand:
    """A KPI's target and tolerance: within tolerance is ok, within twice it warns."""

    name: str
    target: float
    tolerance: float
    direction: str  # "higher" | "lower" | "both"

    def limits(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """(ok low, ok high), (warn low, warn high); infinite on the side that cannot fail."""
        low_ok = self.target - self.tolerance if self.direction != "lower" else -math.inf
        high_ok = self.target + self.tolerance if self.direction != "higher" else math.inf
        low_warn = self.target - 2 * self.tolerance if self.direction != "lower" else -math.inf
        high_warn = self.target + 2 * self.tolerance if self.direction != "higher" else math.inf
        return (low_ok, high_ok), (low_warn, high_warn)


_RANKED_MEASURES = ("drift.psi", "drift.distance")
_STATUS_RANK = {"ok": 1, "warn": 2, "critical": 3}


@dataclass(frozen=True)
class DriftRank:
    """One feature's drift at a run next to the model's use of it."""

    feature: str
    measure: str  # the drift metric shown: the one with the worse verdict (PSI or distance)
    value: float
    importance: float | None  # share of the model's use; None when it was not measured
    weighted: float | None  # value x importance
    status: str


@dataclass(frozen=True, eq=False)
class MonitorHealth:
    """Everything the model health page draws for one monitor."""

    monitor: Monitor
    runs: tuple[RunPoint, ...]
    series: Mapping[tuple[str, str], MetricSeries]
    kpis: tuple[KpiBand, ...]
    markers: tuple[VersionMarker, ...]
    profiled: tuple[str, ...]  # columns with a reference profile (distributions exist)
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def get(self, metric: str, subject: str = "") -> MetricSeries | None:
        return self.series.get((metric, subject))

    def timeline_metrics(self) -> list[tuple[str, str]]:
        """The series worth a time chart with bands, in reading order: whole-data-set drift,
        prediction drift, performance, quality, then each feature's drift (KPIs have their own
        chart; p-values are shown, never judged, so they stay in the heatmap)."""
        fixed = {"drift.share": 0, "prediction.psi": 1, "prediction.distance": 2,
                 "quality.row_count": 4, "quality.schema_changes": 5}

        def rank(key: tuple[str, str]) -> tuple:
            metric = key[0]
            if metric in fixed:
                group = fixed[metric]
            else:
                group = (3 if metric.startswith("performance.") else
                         6 if metric.startswith("quality.") else 7)
            return group, metric, key[1]

        return sorted((key for key in self.series
                       if not key[0].startswith(("kpi.", "drift.p_value"))), key=rank)

    def performance_metrics(self) -> list[str]:
        return sorted(metric for metric, subject in self.series
                      if metric.startswith("performance.") and
                      metric != "performance.labelled_rows")

    def drift_features(self) -> tuple[str, ...]:
        return tuple(subject for subject in self.monitor.spec.features
                     if ("drift.psi", subject) in self.series)

    def drift_ranking(self) -> tuple[DriftRank, ...]:
        """Each feature's drift at the latest run that measured drift, weighted by how much the
        model uses it: largest drift x importance first (by drift alone while the monitor has
        no importance)."""
        latest_run = max((int(series.run_ids[-1]) for (metric, _), series in self.series.items()
                          if metric in _RANKED_MEASURES and series.run_ids.size), default=None)
        if latest_run is None:
            return ()
        importance = self.monitor.spec.importance
        ranks = []
        for feature in self.drift_features():
            measured = []
            for measure in _RANKED_MEASURES:
                series = self.get(measure, feature)
                if series is None or not series.run_ids.size or series.run_ids[-1] != latest_run:
                    continue
                value = float(series.values[-1])
                if math.isfinite(value):
                    measured.append((_STATUS_RANK.get(series.statuses[-1], 0), value, measure,
                                     series.statuses[-1]))
            if not measured:
                continue
            _, value, measure, status = max(measured)
            share = importance.get(feature) if importance else None
            ranks.append(DriftRank(feature, measure, value, share,
                                   None if share is None else value * share, status))
        ranks.sort(key=lambda rank: (-(rank.weighted if rank.weighted is not None
                                       else rank.value), rank.feature))
        return tuple(ranks)

    def heatmap(self, measure: str = "drift.psi") -> DriftHeatmap:
        """Features x runs of one drift measure, on the runs that measured any feature."""
        import numpy as np

        features = self.drift_features()
        rows = [self.series.get((measure, feature)) for feature in features]
        present = [row for row in rows if row is not None]
        times = np.unique(np.concatenate([row.times for row in present])) if present \
            else np.empty(0)
        run_ids = np.zeros(times.size, dtype=np.int64)
        values = np.full((len(features), times.size), np.nan)
        within_noise = np.zeros(values.shape, dtype=bool)
        warn = critical = None
        for index, row in enumerate(rows):
            if row is None:
                continue
            columns = np.searchsorted(times, row.times)
            values[index, columns] = row.values
            run_ids[columns] = row.run_ids
            with np.errstate(invalid="ignore"):
                within_noise[index, columns] = (np.asarray(row.statuses) == "ok") \
                    & (row.values >= row.warn)
            if row.has_thresholds:
                warn, critical = float(row.warn[-1]), float(row.critical[-1])
        return DriftHeatmap(measure, features, times, run_ids, values, warn, critical,
                            within_noise if within_noise.any() else None)


@dataclass(frozen=True)
class Distribution:
    """Reference against current for one column and one run, over the reference's bins."""

    column: str
    kind: str  # "numeric" | "categorical"
    labels: tuple[str, ...]  # one per bin: "≤ 12.5", "12.5 – 20", "> 20" / a category, "other"
    edges: tuple[float, ...]  # numeric: bin edges (len(labels) + 1), ends at the reference's
    reference: tuple[float, ...]  # reference share per bin
    current: tuple[float, ...] | None  # None when the run stored no distribution
    run_id: int
    run_time: float
    reference_rows: int
    current_rows: int | None
    note: str  # why current is missing, when it is


@dataclass(frozen=True)
class Trend:
    """A model's headline metric over its latest runs, for the dashboard's sparkline."""

    label: str
    values: tuple[float | None, ...]
    statuses: tuple[str, ...]


@dataclass(frozen=True)
class PortfolioRow:
    summary: ModelSummary
    unclosed_alerts: int
    trend: Trend | None


class HealthChartsService:
    def __init__(self, database: Database) -> None:
        self._db = database

    def monitor_health(self, monitor_id: int) -> MonitorHealth:
        return self._db.read(lambda conn: _monitor_health(conn, monitor_id))

    def distribution(self, monitor_id: int, run_id: int, column: str) -> Distribution:
        return self._db.read(lambda conn: _distribution(conn, monitor_id, run_id, column))

    def portfolio(self) -> list[PortfolioRow]:
        return self._db.read(_portfolio)


def _monitor_health(conn, monitor_id: int) -> MonitorHealth:
    import numpy as np

    monitor = mrepo.get_monitor(conn, monitor_id)
    runs = tuple(
        RunPoint(run.id, to_seconds(run.slot), run.health.value, run.status.value,
                 run.version_number, run.summary)
        for run in reversed(mrepo.list_runs(conn, monitor_id=monitor_id, limit=None)))
    grouped: dict[tuple[str, str], list[tuple]] = {}
    for row in hq.metric_history(conn, monitor_id):
        grouped.setdefault((row[2], row[3]), []).append(row)
    raises: dict[str, list[tuple[int, str]]] = {}
    for key, run_id, severity in hq.alert_raises(conn, monitor_id):
        raises.setdefault(key, []).append((run_id, severity))

    def nan_if_none(value):
        return np.nan if value is None else value

    series = {}
    for (metric, subject), rows in grouped.items():
        run_ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        alerts = raises.get(f"{monitor_id}:{metric}@{subject}", [])
        position = {run_id: index for index, run_id in enumerate(run_ids.tolist())}
        alert_points = [(position[run_id], severity) for run_id, severity in alerts
                        if run_id in position]
        series[(metric, subject)] = MetricSeries(
            metric, subject, metric_label(metric, subject),
            times=np.fromiter((to_seconds(r[1]) for r in rows), dtype=np.float64,
                              count=len(rows)),
            values=np.array([nan_if_none(r[4]) for r in rows], dtype=np.float64),
            statuses=tuple(r[5] for r in rows), run_ids=run_ids,
            warn=np.array([nan_if_none(r[6]) for r in rows], dtype=np.float64),
            critical=np.array([nan_if_none(r[7]) for r in rows], dtype=np.float64),
            alert_indices=np.array([index for index, _ in alert_points], dtype=np.int64),
            alert_severities=tuple(severity for _, severity in alert_points))
    model = repo.get_model(conn, monitor.model_name)
    markers = tuple(_marker(change) for change in repo.stage_history(conn, model)
                    if change.to_stage is Stage.PRODUCTION)
    kpis = tuple(KpiBand(k.name, k.target, k.tolerance, k.direction)
                 for k in monitor.spec.kpis if isinstance(k, KpiDefinition))
    profiled = tuple(mrepo.monitor_profiles(conn, monitor_id))
    return MonitorHealth(monitor, runs, series, kpis, markers, profiled)


def _marker(change: StageChange) -> VersionMarker:
    """A version reaching production: the version the monitor follows changes here."""
    label = (f"rolled back to v{change.version_number}" if change.kind == "rollback"
             else f"v{change.version_number} in production")
    return VersionMarker(to_seconds(change.occurred_at), change.version_number,
                         change.to_stage.value, change.kind, label)


def _distribution(conn, monitor_id: int, run_id: int, column: str) -> Distribution:
    from modelledger.core.drift import NumericProfile, profile_from_dict
    from modelledger.core.errors import NotFoundError

    profiles = mrepo.monitor_profiles(conn, monitor_id)
    if column not in profiles:
        raise NotFoundError(f"The monitor has no reference profile of the column {column!r}.")
    profile = profile_from_dict(profiles[column])
    run: MonitorRun = mrepo.get_run(conn, run_id)
    if run.monitor_id != monitor_id:
        raise NotFoundError(f"Run #{run_id} belongs to another monitor.")
    current = hq.run_distribution(conn, run_id, column)
    note = ""
    if current is None:
        note = ("This run failed, so it measured nothing." if run.status is RunStatus.FAILED
                else f"Run #{run_id} has no stored distribution of {column}: too few values, "
                     "or it was stored before ModelLedger kept distributions.")
    elif len(current) != len(profile.proportions):
        current, note = None, "The stored distribution does not match the reference bins."
    if isinstance(profile, NumericProfile):
        edges = (profile.minimum, *profile.cut_points, profile.maximum)
        labels = _bin_labels(profile.cut_points)
        kind = "numeric"
    else:
        edges = ()
        labels = (*profile.categories, "other")
        kind = "categorical"
    return Distribution(column, kind, labels, tuple(float(e) for e in edges),
                        tuple(profile.proportions), current, run_id, to_seconds(run.slot),
                        run.reference_rows or profile.count, run.current_rows, note)


def short_number(value: float) -> str:
    """33,180 rather than 3.318e+04; 0.1234 and 1.5e-05 as they are."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _bin_labels(cuts: tuple[float, ...]) -> tuple[str, ...]:
    if not cuts:
        return ("all values",)
    labels = [f"≤ {short_number(cuts[0])}"]
    labels += [f"{short_number(low)} – {short_number(high)}" for low, high in pairwise(cuts)]
    labels.append(f"> {short_number(cuts[-1])}")
    return tuple(labels)


def _headline_candidates(monitor: Monitor) -> list[str]:
    """The metric a model's trend shows: its business KPI first, then its main performance
    metric, then how much of its input drifted."""
    spec = monitor.spec
    names = [f"kpi.{kpi.name}" for kpi in spec.kpis[:1]]
    if spec.task is Task.REGRESSION:
        names += ["performance.r2", "performance.rmse"]
    else:
        names += ["performance.roc_auc", "performance.accuracy"]
    return [*names, "drift.share", "prediction.psi"]


_HEALTH_ORDER = {Health.CRITICAL.value: 0, Health.FAILED.value: 1, Health.WARN.value: 2,
                 Health.INSUFFICIENT.value: 3, Health.OK.value: 4}


def _portfolio(conn) -> list[PortfolioRow]:
    summaries = [s for s in repo.list_model_summaries(conn)
                 if s.model.status is ModelStatus.ACTIVE]
    counts = hq.unclosed_alert_counts(conn)
    overviews: dict[str, list[Any]] = {}
    for overview in mrepo.monitor_overviews(conn):
        overviews.setdefault(overview.monitor.model_name, []).append(overview)
    rows = []
    for summary in summaries:
        candidates = sorted(overviews.get(summary.model.name, []),
                            key=lambda o: _HEALTH_ORDER.get(
                                o.last_health.value if o.last_health else "", 5))
        rows.append(PortfolioRow(summary, counts.get(summary.model.name, 0),
                                 _trend(conn, candidates[0].monitor) if candidates else None))
    return rows


def _trend(conn, monitor: Monitor) -> Trend | None:
    for metric in _headline_candidates(monitor):
        points = hq.recent_values(conn, monitor.id, metric, "", TREND_RUNS)
        if any(value is not None for value, _ in points):
            return Trend(metric_label(metric), tuple(v for v, _ in points),
                         tuple(s for _, s in points))
    return None
