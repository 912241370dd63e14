"""Queries and statements over the monitoring tables: monitors, slot claims, runs, alerts.

Like `repositories`, every function takes the caller's connection so that a service can put a
run's results, its alerts and its audit events into one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from modelledger.core.errors import NotFoundError
from modelledger.core.incidents import IncidentMember
from modelledger.core.monitoring import (
    Alert,
    AlertNote,
    AlertStatus,
    Health,
    MetricValue,
    Monitor,
    MonitorOverview,
    MonitorRun,
    MonitorSpec,
    MonitorStatus,
    RunStatus,
    Schedule,
    ScheduleKind,
    SlotClaim,
)
from modelledger.storage.tables import (
    alert_members,
    alert_notes,
    alerts,
    incident_digests,
    model_versions,
    monitor_claims,
    monitor_runs,
    monitors,
    registered_models,
    run_distributions,
    run_metrics,
)

# -- monitors -------------------------------------------------------------------------------------


def _monitor_query():
    return (
        select(monitors, registered_models.c.name.label("model_name"),
               model_versions.c.version_number.label("pinned_number"))
        .join(registered_models, registered_models.c.id == monitors.c.model_id)
        .outerjoin(model_versions, model_versions.c.id == monitors.c.pinned_version_id)
    )


def _monitor_from_row(row) -> Monitor:
    return Monitor(
        id=row.id, model_id=row.model_id, model_name=row.model_name, name=row.name,
        pinned_version=row.pinned_number, reference_sha256=row.reference_sha256,
        reference_name=row.reference_name, reference_rows=row.reference_rows,
        spec=MonitorSpec.from_dict(json.loads(row.spec_json)),
        schedule=Schedule(ScheduleKind(row.schedule_kind), row.schedule_expr),
        schedule_anchor=row.schedule_anchor, status=MonitorStatus(row.status),
        max_failures=row.max_failures, consecutive_failures=row.consecutive_failures,
        timeout_s=row.timeout_s, created_by=row.created_by, created_at=row.created_at,
        row_version=row.row_version, resolve_after_runs=row.resolve_after_runs,
    )


def monitor_record(monitor: Monitor) -> dict[str, Any]:
    """What the audit log keeps of a monitor's configuration."""
    return {
        "model": monitor.model_name, "name": monitor.name,
        "pinned_version": monitor.pinned_version, "reference": monitor.reference_name,
        "reference_sha256": monitor.reference_sha256, "reference_rows": monitor.reference_rows,
        "spec": monitor.spec.to_dict(), "schedule": monitor.schedule.describe(),
        "status": monitor.status.value, "max_failures": monitor.max_failures,
        "timeout_s": monitor.timeout_s, "resolve_after_runs": monitor.resolve_after_runs,
    }


def insert_monitor(conn: Connection, values: Mapping[str, Any]) -> int:
    return conn.execute(insert(monitors).values(**values)).inserted_primary_key[0]


def get_monitor(conn: Connection, monitor_id: int) -> Monitor:
    row = conn.execute(_monitor_query().where(monitors.c.id == monitor_id)).first()
    if row is None:
        raise NotFoundError(f"Monitor #{monitor_id} does not exist (it may have been removed).")
    return _monitor_from_row(row)


def find_monitor(conn: Connection, model_id: int, name: str) -> Monitor | None:
    row = conn.execute(_monitor_query().where(
        monitors.c.model_id == model_id, monitors.c.name == name)).first()
    return _monitor_from_row(row) if row else None


def list_monitors(conn: Connection, *, model_name: str | None = None,
                  status: MonitorStatus | None = None) -> list[Monitor]:
    query = _monitor_query().order_by(registered_models.c.name, monitors.c.name)
    if model_name is not None:
        query = query.where(registered_models.c.name == model_name)
    if status is not None:
        query = query.where(monitors.c.status == status.value)
    return [_monitor_from_row(row) for row in conn.execute(query)]


def monitor_overviews(conn: Connection, *, model_name: str | None = None) -> list[MonitorOverview]:
    latest = (
        select(monitor_runs.c.monitor_id, func.max(monitor_runs.c.id).label("run_id"))
        .group_by(monitor_runs.c.monitor_id).subquery()
    )
    open_alerts = (
        select(alerts.c.monitor_id, func.count().label("open_alerts"))
        .where(alerts.c.status != AlertStatus.CLOSED.value)
        .group_by(alerts.c.monitor_id).subquery()
    )
    query = (
        _monitor_query()
        .add_columns(monitor_runs.c.finished_at.label("last_run_at"),
                     monitor_runs.c.health.label("last_health"),
                     func.coalesce(open_alerts.c.open_alerts, 0).label("open_alerts"))
        .outerjoin(latest, latest.c.monitor_id == monitors.c.id)
        .outerjoin(monitor_runs, monitor_runs.c.id == latest.c.run_id)
        .outerjoin(open_alerts, open_alerts.c.monitor_id == monitors.c.id)
        .order_by(registered_models.c.name, monitors.c.name)
    )
    if model_name is not None:
        query = query.where(registered_models.c.name == model_name)
    return [
        MonitorOverview(_monitor_from_row(row), row.last_run_at,
                        Health(row.last_health) if row.last_health else None, row.open_alerts)
        for row in conn.execute(query)
    ]


def monitor_profiles(conn: Connection, monitor_id: int) -> dict[str, Any]:
    return json.loads(conn.execute(
        select(monitors.c.profiles_json).where(monitors.c.id == monitor_id)).scalar_one())


def update_monitor_if_unchanged(conn: Connection, monitor_id: int, row_version: int,
                                values: Mapping[str, Any]) -> bool:
    return conn.execute(
        update(monitors)
        .where(monitors.c.id == monitor_id, monitors.c.row_version == row_version)
        .values(**values, row_version=monitors.c.row_version + 1)
    ).rowcount == 1


def record_failure_count(conn: Connection, monitor_id: int, failures: int, now: datetime,
                         status: MonitorStatus | None = None) -> None:
    values: dict[str, Any] = {"consecutive_failures": failures, "updated_at": now}
    if status is not None:
        values["status"] = status.value
        values["row_version"] = monitors.c.row_version + 1
    conn.execute(update(monitors).where(monitors.c.id == monitor_id).values(**values))


# -- slot claims ----------------------------------------------------------------------------------


def latest_scheduled_slot(conn: Connection, monitor_id: int) -> datetime | None:
    return conn.execute(
        select(func.max(monitor_claims.c.slot)).where(
            monitor_claims.c.monitor_id == monitor_id, monitor_claims.c.kind == "scheduled")
    ).scalar()


def insert_claim_if_free(conn: Connection, values: Mapping[str, Any]) -> int | None:
    """Insert a claim unless the (monitor, slot) is taken; the id, or None if another has it.

    RETURNING, not rowcount: PostgreSQL's driver reports no row count for this statement."""
    return conn.execute(
        _insert_ignoring_conflict(conn, values).returning(monitor_claims.c.id)).scalar()


def claim_slot(conn: Connection, monitor_id: int, slot: datetime, kind: str, owner: str,
               now: datetime) -> SlotClaim | None:
    """The first attempt at a slot, running under ``owner``; None if another has the slot."""
    claim_id = insert_claim_if_free(conn, {
        "monitor_id": monitor_id, "slot": slot, "kind": kind, "state": "running",
        "owner": owner, "attempt": 1, "claimed_at": now, "heartbeat_at": now,
    })
    return SlotClaim(claim_id, monitor_id, slot, kind, 1, owner) if claim_id else None


def insert_missed_slots(conn: Connection, monitor_id: int, slots: Iterable[datetime],
                        owner: str, now: datetime) -> int:
    """Mark slots that nobody ran as missed; returns how many were newly marked."""
    marked = 0
    for slot in slots:
        marked += insert_claim_if_free(conn, {
            "monitor_id": monitor_id, "slot": slot, "kind": "scheduled", "state": "missed",
            "owner": owner, "attempt": 0, "claimed_at": now, "heartbeat_at": now,
        }) is not None
    return marked


def _insert_ignoring_conflict(conn: Connection, values: Mapping[str, Any]):
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(monitor_claims).values(**values).on_conflict_do_nothing(
        index_elements=["monitor_id", "slot"])


def beat(conn: Connection, claim_id: int, owner: str, attempt: int, now: datetime) -> bool:
    """Refresh a running claim's heartbeat; False when it is no longer ours."""
    return conn.execute(
        update(monitor_claims)
        .where(monitor_claims.c.id == claim_id, monitor_claims.c.owner == owner,
               monitor_claims.c.attempt == attempt, monitor_claims.c.state == "running")
        .values(heartbeat_at=now)
    ).rowcount == 1


def claims_to_take_over(conn: Connection, *, stale_before: datetime,
                        now: datetime) -> list[Any]:
    """Running claims whose instance stopped beating, and retries that are due."""
    return list(conn.execute(
        select(monitor_claims).join(monitors, monitors.c.id == monitor_claims.c.monitor_id)
        .where(monitors.c.status == MonitorStatus.ACTIVE.value)
        .where(or_(
            and_(monitor_claims.c.state == "running",
                 monitor_claims.c.heartbeat_at < stale_before),
            and_(monitor_claims.c.state == "retry", monitor_claims.c.retry_at <= now),
        ))
        .order_by(monitor_claims.c.slot)
    ))


def take_over(conn: Connection, row: Any, owner: str, now: datetime) -> SlotClaim | None:
    """Take a stale or retry claim if nobody else took it first (compare-and-set)."""
    taken = conn.execute(
        update(monitor_claims)
        .where(monitor_claims.c.id == row.id, monitor_claims.c.owner == row.owner,
               monitor_claims.c.attempt == row.attempt, monitor_claims.c.state == row.state)
        .values(owner=owner, attempt=row.attempt + 1, state="running", heartbeat_at=now,
                retry_at=None)
    ).rowcount == 1
    if not taken:
        return None
    return SlotClaim(row.id, row.monitor_id, row.slot, row.kind, row.attempt + 1, owner)


def settle_claim(conn: Connection, claim: SlotClaim, state: str,
                 retry_at: datetime | None = None) -> bool:
    """Close our claim (done / failed / retry / cancelled); False when it is no longer ours."""
    return conn.execute(
        update(monitor_claims)
        .where(monitor_claims.c.id == claim.id, monitor_claims.c.owner == claim.owner,
               monitor_claims.c.attempt == claim.attempt, monitor_claims.c.state == "running")
        .values(state=state, retry_at=retry_at)
    ).rowcount == 1


def claim_states(conn: Connection, monitor_id: int) -> list[tuple[datetime, str, int, str]]:
    """(slot, state, attempt, owner) of every claim of a monitor, oldest slot first."""
    return [tuple(row) for row in conn.execute(
        select(monitor_claims.c.slot, monitor_claims.c.state, monitor_claims.c.attempt,
               monitor_claims.c.owner)
        .where(monitor_claims.c.monitor_id == monitor_id).order_by(monitor_claims.c.slot))]


# -- runs -----------------------------------------------------------------------------------------


def insert_run(conn: Connection, values: Mapping[str, Any], metrics: Sequence[MetricValue],
               distributions: Mapping[str, Sequence[float]]) -> int:
    run_id = conn.execute(insert(monitor_runs).values(**values)).inserted_primary_key[0]
    if metrics:
        conn.execute(insert(run_metrics), [
            {"run_id": run_id, "metric": m.metric, "subject": m.subject, "value": m.value,
             "status": m.status, "warn": m.warn, "critical": m.critical, "note": m.note}
            for m in metrics
        ])
    if distributions:
        conn.execute(insert(run_distributions), [
            {"run_id": run_id, "subject": subject, "shares_json": json.dumps(list(shares))}
            for subject, shares in distributions.items()
        ])
    return run_id


def _run_query():
    return (
        select(monitor_runs, monitors.c.name.label("monitor_name"),
               registered_models.c.name.label("model_name"),
               model_versions.c.version_number)
        .join(monitors, monitors.c.id == monitor_runs.c.monitor_id)
        .join(registered_models, registered_models.c.id == monitors.c.model_id)
        .outerjoin(model_versions, model_versions.c.id == monitor_runs.c.version_id)
    )


def _run_from_row(row) -> MonitorRun:
    return MonitorRun(
        id=row.id, monitor_id=row.monitor_id, monitor_name=row.monitor_name,
        model_name=row.model_name, attempt=row.attempt, version_number=row.version_number,
        slot=row.slot, started_at=row.started_at, finished_at=row.finished_at,
        status=RunStatus(row.status), health=Health(row.health),
        window_start=row.window_start, window_end=row.window_end,
        current_rows=row.current_rows, reference_rows=row.reference_rows,
        data_description=row.data_description, summary=row.summary, error=row.error,
        log=row.log, instance=row.instance,
    )


def list_runs(conn: Connection, *, monitor_id: int | None = None,
              model_name: str | None = None, limit: int = 200) -> list[MonitorRun]:
    """Newest slot first."""
    query = _run_query().order_by(monitor_runs.c.slot.desc(), monitor_runs.c.id.desc())
    if monitor_id is not None:
        query = query.where(monitor_runs.c.monitor_id == monitor_id)
    if model_name is not None:
        query = query.where(registered_models.c.name == model_name)
    return [_run_from_row(row) for row in conn.execute(query.limit(limit))]


def get_run(conn: Connection, run_id: int) -> MonitorRun:
    row = conn.execute(_run_query().where(monitor_runs.c.id == run_id)).first()
    if row is None:
        raise NotFoundError(f"Run #{run_id} does not exist.")
    return _run_from_row(row)


def list_run_metrics(conn: Connection, run_id: int) -> list[MetricValue]:
    return [
        MetricValue(row.metric, row.subject, row.value, row.status, row.warn, row.critical,
                    row.note)
        for row in conn.execute(select(run_metrics).where(run_metrics.c.run_id == run_id)
                                .order_by(run_metrics.c.metric, run_metrics.c.subject))
    ]


def metric_series(conn: Connection, monitor_id: int, metric: str,
                  subject: str = "") -> list[tuple[datetime, float | None, str, int]]:
    """(slot, value, status, run id) of one metric over a monitor's successful runs."""
    return [tuple(row) for row in conn.execute(
        select(monitor_runs.c.slot, run_metrics.c.value, run_metrics.c.status,
               monitor_runs.c.id)
        .join(run_metrics, run_metrics.c.run_id == monitor_runs.c.id)
        .where(monitor_runs.c.monitor_id == monitor_id, run_metrics.c.metric == metric,
               run_metrics.c.subject == subject)
        .order_by(monitor_runs.c.slot))]


# -- alerts ---------------------------------------------------------------------------------------


def _alert_query():
    return (
        select(alerts, monitors.c.name.label("monitor_name"),
               registered_models.c.name.label("model_name"))
        .join(monitors, monitors.c.id == alerts.c.monitor_id)
        .join(registered_models, registered_models.c.id == alerts.c.model_id)
    )


def _alert_from_row(row) -> Alert:
    return Alert(
        id=row.id, monitor_id=row.monitor_id, monitor_name=row.monitor_name,
        model_name=row.model_name, run_id=row.run_id, severity=Health(row.severity),
        kind=row.kind, title=row.title, detail=row.detail, status=AlertStatus(row.status),
        assignee=row.assignee, occurrences=row.occurrences, first_seen_at=row.first_seen_at,
        last_seen_at=row.last_seen_at, closed_at=row.closed_at, row_version=row.row_version,
        cause=row.cause, healthy_runs=row.healthy_runs, snoozed_until=row.snoozed_until,
        muted_reason=row.muted_reason, muted_until=row.muted_until, resolution=row.resolution,
    )


def alert_record(alert: Alert) -> dict[str, Any]:
    return {"model": alert.model_name, "monitor": alert.monitor_name,
            "severity": alert.severity.value, "kind": alert.kind, "title": alert.title,
            "status": alert.status.value, "assignee": alert.assignee,
            "occurrences": alert.occurrences, "run_id": alert.run_id, "cause": alert.cause,
            "snoozed_until": alert.snoozed_until.isoformat() if alert.snoozed_until else None,
            "muted_reason": alert.muted_reason,
            "muted_until": alert.muted_until.isoformat() if alert.muted_until else None}


def find_unclosed_alert(conn: Connection, dedupe_key: str) -> Alert | None:
    row = conn.execute(_alert_query().where(
        alerts.c.dedupe_key == dedupe_key, alerts.c.status != AlertStatus.CLOSED.value)).first()
    return _alert_from_row(row) if row else None


def unclosed_alerts_of_monitor(conn: Connection, monitor_id: int) -> list[Alert]:
    return [_alert_from_row(row) for row in conn.execute(_alert_query().where(
        alerts.c.monitor_id == monitor_id, alerts.c.status != AlertStatus.CLOSED.value)
        .order_by(alerts.c.id))]


def latest_closed_alert(conn: Connection, dedupe_key: str) -> Alert | None:
    row = conn.execute(_alert_query().where(
        alerts.c.dedupe_key == dedupe_key, alerts.c.status == AlertStatus.CLOSED.value)
        .order_by(alerts.c.id.desc())).first()
    return _alert_from_row(row) if row else None


def alerts_whose_silence_ended(conn: Connection, now: datetime) -> list[Alert]:
    """Open incidents whose snooze or timed mute is over (to be cleared and audited)."""
    return [_alert_from_row(row) for row in conn.execute(_alert_query().where(
        alerts.c.status != AlertStatus.CLOSED.value,
        or_(alerts.c.snoozed_until <= now,
            and_(alerts.c.muted_reason != "", alerts.c.muted_until <= now)))
        .order_by(alerts.c.id))]


def insert_alert(conn: Connection, values: Mapping[str, Any]) -> Alert:
    alert_id = conn.execute(insert(alerts).values(**values)).inserted_primary_key[0]
    return get_alert(conn, alert_id)


def get_alert(conn: Connection, alert_id: int) -> Alert:
    row = conn.execute(_alert_query().where(alerts.c.id == alert_id)).first()
    if row is None:
        raise NotFoundError(f"Incident #{alert_id} does not exist.")
    return _alert_from_row(row)


def list_alerts(conn: Connection, *, include_closed: bool = False,
                model_name: str | None = None, after_id: int | None = None,
                limit: int = 500) -> list[Alert]:
    """Open first, then newest first; ``after_id``: only alerts raised after that one."""
    query = _alert_query().order_by(
        (alerts.c.status == AlertStatus.CLOSED.value), alerts.c.last_seen_at.desc()).limit(limit)
    if after_id is not None:
        query = query.where(alerts.c.id > after_id)
    if not include_closed:
        query = query.where(alerts.c.status != AlertStatus.CLOSED.value)
    if model_name is not None:
        query = query.where(registered_models.c.name == model_name)
    return [_alert_from_row(row) for row in conn.execute(query)]


def list_members(conn: Connection, alert_id: int) -> list[IncidentMember]:
    """Worst first, then by metric and subject."""
    rows = conn.execute(select(alert_members).where(alert_members.c.alert_id == alert_id)
                        .order_by(alert_members.c.metric, alert_members.c.subject))
    members = [IncidentMember(row.metric, row.subject, row.status, row.worst, row.value,
                              row.warn, row.critical, row.note, row.occurrences,
                              row.first_seen_at, row.last_seen_at) for row in rows]
    rank = {"critical": 0, "warn": 1}
    return sorted(members, key=lambda m: (rank.get(m.status, 2), rank.get(m.worst, 2)))


def upsert_member(conn: Connection, alert_id: int, metric: MetricValue, now: datetime,
                  existing: IncidentMember | None) -> None:
    """Record a metric's value in an incident: a new member, or the latest of an old one."""
    values = {"status": metric.status, "value": metric.value, "warn": metric.warn,
              "critical": metric.critical, "note": metric.note, "last_seen_at": now}
    if existing is None:
        conn.execute(insert(alert_members).values(
            alert_id=alert_id, metric=metric.metric, subject=metric.subject,
            worst=metric.status, occurrences=1, first_seen_at=now, **values))
        return
    from modelledger.core.incidents import worse

    firing = metric.status in (Health.WARN.value, Health.CRITICAL.value)
    conn.execute(update(alert_members).where(
        alert_members.c.alert_id == alert_id, alert_members.c.metric == metric.metric,
        alert_members.c.subject == metric.subject).values(
        **values, worst=worse(existing.worst, metric.status),
        occurrences=existing.occurrences + (1 if firing else 0)))


def count_unclosed_alerts(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(alerts).where(
        alerts.c.status != AlertStatus.CLOSED.value)).scalar_one()


def newest_alert_id(conn: Connection) -> int:
    return conn.execute(select(func.coalesce(func.max(alerts.c.id), 0))).scalar_one()


def notified_severity(conn: Connection, alert_id: int) -> str | None:
    return conn.execute(select(alerts.c.notified_severity)
                        .where(alerts.c.id == alert_id)).scalar()


def update_alert_if_unchanged(conn: Connection, alert_id: int, row_version: int,
                              values: Mapping[str, Any]) -> bool:
    return conn.execute(
        update(alerts).where(alerts.c.id == alert_id, alerts.c.row_version == row_version)
        .values(**values, row_version=alerts.c.row_version + 1)
    ).rowcount == 1


def record_alert_repeat(conn: Connection, alert_id: int, values: Mapping[str, Any]) -> None:
    """Count another occurrence. The row version stays: someone acknowledging or closing the
    alert meanwhile is not editing what a repeat changes, and must not be refused for it."""
    conn.execute(update(alerts).where(alerts.c.id == alert_id).values(**values))


def claim_digest_day(conn: Connection, day: str, instance: str, now: datetime) -> bool:
    """The right to send ``day``'s digest: True for exactly one instance."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return conn.execute(
        dialect.insert(incident_digests).values(day=day, instance=instance, sent_at=now)
        .on_conflict_do_nothing(index_elements=["day"]).returning(incident_digests.c.day)
    ).scalar() is not None


def insert_note(conn: Connection, alert_id: int, author: str, now: datetime, kind: str,
                text: str) -> None:
    conn.execute(insert(alert_notes).values(alert_id=alert_id, author=author, created_at=now,
                                            kind=kind, text=text))


def list_notes(conn: Connection, alert_id: int) -> list[AlertNote]:
    return [AlertNote(row.author, row.created_at, row.kind, row.text) for row in conn.execute(
        select(alert_notes).where(alert_notes.c.alert_id == alert_id)
        .order_by(alert_notes.c.id))]
