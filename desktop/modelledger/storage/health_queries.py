"""Read-only queries behind the health charts: a monitor's whole metric history in one query,
the runs where alerts were raised, a run's stored distributions, and per-model alert counts."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Connection, and_, func, select

from modelledger.core.monitoring import AlertStatus, RunStatus
from modelledger.storage.tables import (
    alert_members,
    alerts,
    monitor_runs,
    registered_models,
    run_distributions,
    run_metrics,
)


def metric_history(conn: Connection, monitor_id: int, *,
                   since: datetime | None = None) -> list[tuple]:
    """(run id, slot, metric, subject, value, status, warn, critical) of every metric of the
    monitor's succeeded runs, oldest slot first."""
    query = (
        select(monitor_runs.c.id, monitor_runs.c.slot, run_metrics.c.metric,
               run_metrics.c.subject, run_metrics.c.value, run_metrics.c.status,
               run_metrics.c.warn, run_metrics.c.critical)
        .join(run_metrics, run_metrics.c.run_id == monitor_runs.c.id)
        .where(monitor_runs.c.monitor_id == monitor_id,
               monitor_runs.c.status == RunStatus.SUCCEEDED.value)
        .order_by(monitor_runs.c.slot, monitor_runs.c.id)
    )
    if since is not None:
        query = query.where(monitor_runs.c.slot >= since)
    return [tuple(row) for row in conn.execute(query)]


def alert_raises(conn: Connection, monitor_id: int) -> list[tuple[str, int, str]]:
    """(``monitor:metric@subject``, run id, worst severity) for each metric that joined one of
    the monitor's incidents, at the run where it joined.

    A run and the incident members it adds are written in one transaction with one timestamp,
    so a member's first-seen time identifies the run exactly."""
    query = (
        select(alert_members.c.metric, alert_members.c.subject, monitor_runs.c.id,
               alert_members.c.worst)
        .join(alerts, alerts.c.id == alert_members.c.alert_id)
        .join(monitor_runs, and_(monitor_runs.c.monitor_id == alerts.c.monitor_id,
                                 monitor_runs.c.finished_at == alert_members.c.first_seen_at))
        .where(alerts.c.monitor_id == monitor_id)
        .order_by(monitor_runs.c.slot)
    )
    return [(f"{monitor_id}:{metric}@{subject}", run_id, worst)
            for metric, subject, run_id, worst in conn.execute(query)]


def run_distribution(conn: Connection, run_id: int, subject: str) -> tuple[float, ...] | None:
    shares = conn.execute(
        select(run_distributions.c.shares_json).where(run_distributions.c.run_id == run_id,
                                                      run_distributions.c.subject == subject)
    ).scalar_one_or_none()
    return None if shares is None else tuple(float(s) for s in json.loads(shares))


def unclosed_alert_counts(conn: Connection) -> dict[str, int]:
    """Model name -> alerts not yet closed."""
    query = (
        select(registered_models.c.name, func.count())
        .join(alerts, alerts.c.model_id == registered_models.c.id)
        .where(alerts.c.status != AlertStatus.CLOSED.value)
        .group_by(registered_models.c.name)
    )
    return {name: count for name, count in conn.execute(query)}


def recent_values(conn: Connection, monitor_id: int, metric: str, subject: str,
                  limit: int) -> list[tuple[float | None, str]]:
    """(value, status) of the metric over the monitor's newest ``limit`` succeeded runs,
    oldest first."""
    rows = conn.execute(
        select(run_metrics.c.value, run_metrics.c.status)
        .join(monitor_runs, monitor_runs.c.id == run_metrics.c.run_id)
        .where(monitor_runs.c.monitor_id == monitor_id,
               monitor_runs.c.status == RunStatus.SUCCEEDED.value,
               run_metrics.c.metric == metric, run_metrics.c.subject == subject)
        .order_by(monitor_runs.c.slot.desc(), monitor_runs.c.id.desc())
        .limit(limit)
    ).all()
    return [(row.value, row.status) for row in reversed(rows)]

