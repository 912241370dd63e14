"""Incidents: the alerts of one monitor and one cause become one row with members.

Each alert row becomes an incident. Alerts not yet closed of one monitor and one cause merge
into the oldest of them (its id is kept; the others' notes move to it and their rows go); a
closed alert stays a closed incident of one member. Written with portable statements only, so
it runs the same on SQLite and PostgreSQL.

Revision ID: 0006_incidents
Revises: 0005_identity
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from modelledger.storage.tables import UtcDateTime

revision = "0006_incidents"
down_revision = "0005_identity"
branch_labels = None
depends_on = None

# What the cause of an alert was, from the group of the metric it fired on (frozen here: the
# migration must mean the same whatever the code later calls things).
_CAUSE_OF_GROUP = {"drift": "drift", "prediction": "drift", "quality": "data quality",
                   "performance": "performance", "kpi": "kpi"}
_SEVERITY = {"warn": 1, "critical": 2}


def upgrade() -> None:
    with op.batch_alter_table("monitors", recreate="never") as batch:
        batch.add_column(sa.Column("resolve_after_runs", sa.Integer, nullable=True))
    with op.batch_alter_table("alerts", recreate="never") as batch:
        batch.add_column(sa.Column("cause", sa.String(20), nullable=False,
                                   server_default="drift"))
        batch.add_column(sa.Column("healthy_runs", sa.Integer, nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("snoozed_until", UtcDateTime, nullable=True))
        batch.add_column(sa.Column("muted_reason", sa.Text, nullable=False, server_default=""))
        batch.add_column(sa.Column("muted_until", UtcDateTime, nullable=True))
        batch.add_column(sa.Column("resolution", sa.Text, nullable=False, server_default=""))
        batch.add_column(sa.Column("notified_severity", sa.String(20), nullable=True))
    members = op.create_table(
        "alert_members",
        sa.Column("alert_id", sa.Integer, sa.ForeignKey("alerts.id"), primary_key=True),
        sa.Column("metric", sa.String(120), primary_key=True),
        sa.Column("subject", sa.String(300), primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("worst", sa.String(20), nullable=False),
        sa.Column("value", sa.Double, nullable=True),
        sa.Column("warn", sa.Double, nullable=True),
        sa.Column("critical", sa.Double, nullable=True),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("occurrences", sa.Integer, nullable=False, server_default="1"),
        sa.Column("first_seen_at", UtcDateTime, nullable=False),
        sa.Column("last_seen_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "incident_digests",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("instance", sa.String(200), nullable=False),
        sa.Column("sent_at", UtcDateTime, nullable=False),
    )
    _merge_alerts_into_incidents(op.get_bind(), members)


def _member_of(alert) -> tuple[str, str, str]:
    """(cause, metric, subject) of an old alert, from its kind and its dedupe key."""
    if alert.kind == "paused":
        return "run failure", "monitor.paused", ""
    if alert.kind == "failed":
        return "run failure", "run.gave_up", alert.dedupe_key.split(":slot ", 1)[-1]
    condition = alert.dedupe_key.split(":", 1)[-1]
    metric, _, subject = condition.partition("@")
    return _CAUSE_OF_GROUP.get(metric.split(".", 1)[0], "drift"), metric, subject


def _merge_alerts_into_incidents(conn, members) -> None:
    alerts = sa.table(
        "alerts", sa.column("id"), sa.column("monitor_id"), sa.column("kind"),
        sa.column("dedupe_key"), sa.column("severity"), sa.column("status"),
        sa.column("assignee"), sa.column("occurrences"), sa.column("first_seen_at", UtcDateTime),
        sa.column("last_seen_at", UtcDateTime), sa.column("cause"),
        sa.column("notified_severity"), sa.column("title"), sa.column("detail"))
    notes = sa.table("alert_notes", sa.column("alert_id"))
    rows = conn.execute(sa.select(alerts).order_by(alerts.c.id)).all()
    survivors: dict[tuple[int, str], object] = {}
    merged: dict[int, list] = {}  # survivor id -> the alerts merged into it, itself first
    for alert in rows:
        cause, _metric, _subject = _member_of(alert)
        if alert.status == "closed":
            merged[alert.id] = [alert]
            continue
        key = (alert.monitor_id, cause)
        survivor = survivors.setdefault(key, alert)
        merged.setdefault(survivor.id, []).append(alert)
    for survivor_id, group in merged.items():
        cause = _member_of(group[0])[0]
        member_rows = {}
        for alert in group:
            _cause, metric, subject = _member_of(alert)
            member_rows[(metric, subject)] = {
                "alert_id": survivor_id, "metric": metric, "subject": subject,
                "status": alert.severity, "worst": alert.severity, "value": None, "warn": None,
                "critical": None, "note": alert.title, "occurrences": alert.occurrences,
                "first_seen_at": alert.first_seen_at, "last_seen_at": alert.last_seen_at}
        conn.execute(sa.insert(members), list(member_rows.values()))
        others = [alert.id for alert in group[1:]]
        if others:
            conn.execute(sa.update(notes).where(notes.c.alert_id.in_(others))
                         .values(alert_id=survivor_id))
            conn.execute(sa.delete(alerts).where(alerts.c.id.in_(others)))
        worst = max((alert.severity for alert in group), key=_SEVERITY.__getitem__)
        status = "open" if any(alert.status == "open" for alert in group) else group[0].status
        assignee = next((alert.assignee for alert in group if alert.assignee), None)
        first = group[0]
        title = first.title if len(group) == 1 else (
            f"{first.title.split(': ', 1)[0]}: {cause} on {len(group)} checks")
        conn.execute(sa.update(alerts).where(alerts.c.id == survivor_id).values(
            cause=cause, dedupe_key=f"{first.monitor_id}:{cause}", severity=worst,
            status=status, assignee=assignee, title=title, notified_severity=worst,
            occurrences=max(alert.occurrences for alert in group),
            first_seen_at=min(alert.first_seen_at for alert in group),
            last_seen_at=max(alert.last_seen_at for alert in group)))


def downgrade() -> None:
    op.drop_table("incident_digests")
    op.drop_table("alert_members")
    with op.batch_alter_table("alerts", recreate="never") as batch:
        for column in ("notified_severity", "resolution", "muted_until", "muted_reason",
                       "snoozed_until", "healthy_runs", "cause"):
            batch.drop_column(column)
    with op.batch_alter_table("monitors", recreate="never") as batch:
        batch.drop_column("resolve_after_runs")
