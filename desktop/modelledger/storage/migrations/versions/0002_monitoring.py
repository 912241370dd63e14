"""Monitoring: monitors, slot claims, runs with their metrics, alerts and their notes.

Revision ID: 0002_monitoring
Revises: 0001_initial
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from modelledger.storage.tables import UtcDateTime

revision = "0002_monitoring"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitors",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("registered_models.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column(
            "pinned_version_id", sa.Integer, sa.ForeignKey("model_versions.id"), nullable=True
        ),
        sa.Column(
            "reference_sha256", sa.String(64), sa.ForeignKey("artifacts.sha256"), nullable=False
        ),
        sa.Column("reference_name", sa.String(400), nullable=False),
        sa.Column("reference_rows", sa.BigInteger, nullable=False),
        sa.Column("profiles_json", sa.Text, nullable=False),
        sa.Column("spec_json", sa.Text, nullable=False),
        sa.Column("schedule_kind", sa.String(20), nullable=False),
        sa.Column("schedule_expr", sa.String(120), nullable=False),
        sa.Column("schedule_anchor", UtcDateTime, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("max_failures", sa.Integer, nullable=False),
        sa.Column("consecutive_failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("timeout_s", sa.Integer, nullable=False),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("row_version", sa.Integer, nullable=False, server_default="1"),
        sa.UniqueConstraint("model_id", "name", name="uq_monitors_model_name"),
        sa.CheckConstraint("schedule_kind IN ('interval', 'cron')", name="schedule_kind_known"),
        sa.CheckConstraint("status IN ('active', 'paused')", name="status_known"),
    )
    op.create_table(
        "monitor_claims",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("monitor_id", sa.Integer, sa.ForeignKey("monitors.id"), nullable=False),
        sa.Column("slot", UtcDateTime, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("claimed_at", UtcDateTime, nullable=False),
        sa.Column("heartbeat_at", UtcDateTime, nullable=False),
        sa.Column("retry_at", UtcDateTime, nullable=True),
        sa.UniqueConstraint("monitor_id", "slot", name="uq_monitor_claims_monitor_slot"),
        sa.CheckConstraint("kind IN ('scheduled', 'manual')", name="kind_known"),
        sa.CheckConstraint(
            "state IN ('running', 'retry', 'done', 'failed', 'missed', 'cancelled')",
            name="state_known",
        ),
    )
    op.create_index("ix_monitor_claims_state", "monitor_claims", ["state"])
    op.create_table(
        "monitor_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("monitor_id", sa.Integer, sa.ForeignKey("monitors.id"), nullable=False),
        sa.Column("claim_id", sa.Integer, sa.ForeignKey("monitor_claims.id"), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("model_versions.id"), nullable=True),
        sa.Column("slot", UtcDateTime, nullable=False),
        sa.Column("started_at", UtcDateTime, nullable=False),
        sa.Column("finished_at", UtcDateTime, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("health", sa.String(20), nullable=False),
        sa.Column("window_start", UtcDateTime, nullable=True),
        sa.Column("window_end", UtcDateTime, nullable=True),
        sa.Column("current_rows", sa.BigInteger, nullable=True),
        sa.Column("reference_rows", sa.BigInteger, nullable=True),
        sa.Column("data_description", sa.Text, nullable=False, server_default=""),
        sa.Column("summary", sa.Text, nullable=False, server_default=""),
        sa.Column("thresholds_json", sa.Text, nullable=False, server_default="{}"),
        sa.Column("error", sa.Text, nullable=False, server_default=""),
        sa.Column("log", sa.Text, nullable=False, server_default=""),
        sa.Column("instance", sa.String(200), nullable=False),
        sa.UniqueConstraint("claim_id", "attempt", name="uq_monitor_runs_claim_attempt"),
        sa.CheckConstraint("status IN ('succeeded', 'failed')", name="status_known"),
    )
    op.create_index("ix_monitor_runs_monitor_slot", "monitor_runs", ["monitor_id",  "slot"])
    op.create_table(
        "run_metrics",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("monitor_runs.id"), primary_key=True),
        sa.Column("metric", sa.String(120), primary_key=True),
        sa.Column("subject", sa.String(300), primary_key=True),
        sa.Column("value", sa.Double, nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("warn", sa.Double, nullable=True),
        sa.Column("critical", sa.Double, nullable=True),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("monitor_id", sa.Integer, sa.ForeignKey("monitors.id"), nullable=False),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("registered_models.id"), nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("monitor_runs.id"), nullable=True),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("dedupe_key", sa.String(400), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("assignee", sa.String(120), nullable=True),
        sa.Column("occurrences", sa.Integer, nullable=False, server_default="1"),
        sa.Column("first_seen_at", UtcDateTime, nullable=False),
        sa.Column("last_seen_at", UtcDateTime, nullable=False),
        sa.Column("closed_at", UtcDateTime, nullable=True),
        sa.Column("row_version", sa.Integer, nullable=False, server_default="1"),
        sa.CheckConstraint("severity IN ('warn', 'critical')", name="severity_known"),
        sa.CheckConstraint("status IN ('open', 'acknowledged', 'closed')", name="status_known"),
    )
    op.create_index("ix_alerts_status", "alerts", ["status"])
    op.create_index(
        "ux_alerts_one_unclosed",
        "alerts",
        ["dedupe_key"],
        unique=True,
        sqlite_where=sa.text("status <> 'closed'"),
        postgresql_where=sa.text("status <> 'closed'"),
    )
    op.create_table(
        "alert_notes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("alert_id", sa.Integer, sa.ForeignKey("alerts.id"), nullable=False),
        sa.Column("author", sa.String(120), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )
    op.create_index("ix_alert_notes_alert", "alert_notes", ["alert_id"])


def downgrade() -> None:
    for index, table in (("ux_alerts_one_unclosed", "alerts"),
                         ("ix_alerts_status", "alerts"),
                         ("ix_alert_notes_alert", "alert_notes"),
                         ("ix_monitor_runs_monitor_slot", "monitor_runs"),
                         ("ix_monitor_claims_state", "monitor_claims")):
        op.drop_index(index, table_name=table)
    for table in ("alert_notes", "alerts", "run_metrics", "monitor_runs", "monitor_claims",
                  "monitors"):
        op.drop_table(table)
