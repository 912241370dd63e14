"""A workspace from before incidents (revision 0005) with an alert storm migrates: the open
alerts of one monitor and one cause become one incident that keeps the oldest alert's id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import create_engine, insert, select, text

from modelledger.core.monitoring import AlertStatus, Health
from modelledger.services.workspace.opening import Workspace
from modelledger.storage import schema
from modelledger.storage.tables import alert_notes, alerts
from tests.services.monitor_data import add_monitor

T0 = datetime(2026, 5, 1, 6, 0, tzinfo=UTC)


def _old_alert(conn, monitor_id: int, model_id: int, key: str, kind: str, severity: str,
               status: str, day: int, **extra) -> int:
    # Only the columns revision 0005 has: the statement names no others.
    values = {
        "monitor_id": monitor_id, "model_id": model_id, "severity": severity, "kind": kind,
        "dedupe_key": f"{monitor_id}:{key}", "title": f"credit-risk / m: {key}",
        "detail": "", "status": status, "occurrences": day + 1,
        "first_seen_at": T0 + timedelta(days=day),
        "last_seen_at": T0 + timedelta(days=day + 1),
        "closed_at": T0 + timedelta(days=day + 2) if status == "closed" else None, **extra}
    alert_id = conn.execute(insert(alerts).values(**values).returning(alerts.c.id)).scalar_one()
    conn.execute(insert(alert_notes).values(alert_id=alert_id, author="scheduler",
                                            created_at=T0, kind="raised", text=key))
    return alert_id


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def target(request, tmp_path):
    """Where the workspace lives: a SQLite file, or a database on the session's server."""
    if request.param == "sqlite":
        return str(tmp_path / "team.db"), f"sqlite:///{tmp_path / 'team.db'}"
    url = request.getfixturevalue("postgres_url")
    return url, url


def test_a_workspace_at_0005_with_an_alert_storm_migrates_to_incidents(tmp_path, target):
    where, url = target
    artifacts = tmp_path / "artifacts"
    ws = Workspace.open(where, create=True, user="alice", artifact_root=artifacts)
    first = add_monitor(ws, tmp_path, name="daily")
    second = add_monitor(ws, tmp_path, name="weekly")
    ws.close()

    engine = create_engine(url)
    config = schema.alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0005_identity")
        model_id = conn.execute(text("SELECT id FROM registered_models")).scalar_one()
        drift_ids = [_old_alert(conn, first.id, model_id, f"drift.psi@f{i}", "threshold",
                                "critical" if i == 7 else "warn", "open", i)
                     for i in range(40)]
        acknowledged = _old_alert(conn, first.id, model_id, "drift.distance@f0", "threshold",
                                  "warn", "acknowledged", 3, assignee="bob")
        quality_ids = [_old_alert(conn, first.id, model_id,
                                  f"quality.missing_share@f{i}", "threshold", "warn", "open", i)
                       for i in range(12)]
        closed_ids = [_old_alert(conn, first.id, model_id, f"drift.psi@old{i}", "threshold",
                                 "warn", "closed", i) for i in range(5)]
        kpi = _old_alert(conn, second.id, model_id, "kpi.approval rate", "threshold",
                         "critical", "open", 1)
        paused = _old_alert(conn, second.id, model_id, "paused", "paused", "critical", "open", 2)
    engine.dispose()

    ws = Workspace.open(where, artifact_root=artifacts)
    try:
        incidents = {a.id: a for a in ws.monitoring.list_alerts(include_closed=True)}
        open_ones = [a for a in incidents.values() if a.status is not AlertStatus.CLOSED]
        assert sorted((a.monitor_id, a.cause) for a in open_ones) == [
            (first.id, "data quality"), (first.id, "drift"),
            (second.id, "kpi"), (second.id, "run failure")]
        drift = incidents[drift_ids[0]]  # the oldest alert's id is kept
        assert drift.severity is Health.CRITICAL and drift.assignee == "bob"
        assert drift.status is AlertStatus.OPEN
        assert drift.first_seen_at == T0 and drift.last_seen_at == T0 + timedelta(days=40)
        members = ws.monitoring.incident_members(drift.id)
        assert len(members) == 41 and members[0].status == "critical"
        assert ("drift.distance", "f0") in {(m.metric, m.subject) for m in members}
        notes = ws.monitoring.alert_details(drift.id)[1]
        assert len(notes) == 41  # every merged alert's notes moved to the incident
        assert acknowledged not in incidents and not set(drift_ids[1:]) & set(incidents)
        assert len(ws.monitoring.incident_members(quality_ids[0])) == 12
        assert set(closed_ids) <= set(incidents)
        assert all(incidents[i].status is AlertStatus.CLOSED for i in closed_ids)
        assert incidents[kpi].cause == "kpi" and incidents[paused].cause == "run failure"
        assert ws.monitoring.count_unclosed_alerts() == 4
        overview = {o.monitor.id: o for o in ws.monitoring.overviews()}
        assert (overview[first.id].open_alerts, overview[second.id].open_alerts) == (2, 2)
        orphans = ws.database.read(lambda conn: conn.execute(
            select(alert_notes.c.id).where(text("alert_id NOT IN (SELECT id FROM alerts)"))
        ).all())
        assert orphans == []
    finally:
        ws.close()
