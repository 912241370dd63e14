"""Initial schema: users, settings, models, versions, artifacts, lifecycle and the audit log.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from modelledger.storage.tables import UtcDateTime

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

_APPEND_ONLY_MESSAGE = "audit_events is append-only: UPDATE and DELETE are refused"


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(120), nullable=False, unique=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "workspace_settings",
        sa.Column("key", sa.String(80), primary_key=True),
        sa.Column("value_json", sa.Text, nullable=False),
        sa.Column("updated_by", sa.String(120), nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "registered_models",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("owner", sa.String(120), nullable=False),
        sa.Column("purpose", sa.Text, nullable=False, server_default=""),
        sa.Column("intended_use", sa.Text, nullable=False, server_default=""),
        sa.Column("risk_tier", sa.String(20), nullable=False),
        sa.Column("tags_json", sa.Text, nullable=False, server_default="[]"),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("row_version", sa.Integer, nullable=False, server_default="1"),
    )
    op.create_table(
        "artifacts",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("format", sa.String(20), nullable=False),
        sa.Column("original_filename", sa.String(400), nullable=False),
        sa.Column("stored_by", sa.String(120), nullable=False),
        sa.Column("stored_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "artifact_trust",
        sa.Column("sha256", sa.String(64), sa.ForeignKey("artifacts.sha256"), primary_key=True),
        sa.Column("trusted_by", sa.String(120), nullable=False),
        sa.Column("trusted_at", UtcDateTime, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("registered_models.id"), nullable=False),
        sa.Column("version_number", sa.Integer, nullable=False),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column(
            "artifact_sha256", sa.String(64), sa.ForeignKey("artifacts.sha256"), nullable=True
        ),
        sa.Column("framework", sa.String(120), nullable=False, server_default=""),
        sa.Column("estimator_class", sa.String(300), nullable=False, server_default=""),
        sa.Column("parameters_json", sa.Text, nullable=False, server_default="{}"),
        sa.Column("metrics_json", sa.Text, nullable=False, server_default="{}"),
        sa.Column("training_data_json", sa.Text, nullable=False, server_default="{}"),
        sa.Column("feature_schema_json", sa.Text, nullable=False, server_default="[]"),
        sa.Column("environment_json", sa.Text, nullable=False, server_default="{}"),
        sa.Column(
            "parent_version_id", sa.Integer, sa.ForeignKey("model_versions.id"), nullable=True
        ),
        sa.Column("notes", sa.Text, nullable=False, server_default=""),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("row_version", sa.Integer, nullable=False, server_default="1"),
        sa.UniqueConstraint("model_id", "version_number", name="uq_model_versions_model_number"),
        sa.CheckConstraint(
            "stage IN ('development', 'staging', 'production', 'archived')", name="stage_known"
        ),
    )
    op.create_index(
        "ux_model_versions_one_production",
        "model_versions",
        ["model_id"],
        unique=True,
        sqlite_where=sa.text("stage = 'production'"),
        postgresql_where=sa.text("stage = 'production'"),
    )
    op.create_table(
        "promotion_requests",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("model_versions.id"), nullable=False),
        sa.Column("target_stage", sa.String(20), nullable=False),
        sa.Column("requested_by", sa.String(120), nullable=False),
        sa.Column("requested_at", UtcDateTime, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("decided_by", sa.String(120), nullable=True),
        sa.Column("decided_at", UtcDateTime, nullable=True),
        sa.Column("decision_reason", sa.Text, nullable=True),
    )
    op.create_index("ix_promotion_requests_status", "promotion_requests", ["status"])
    op.create_index("ix_promotion_requests_version", "promotion_requests", ["version_id"])
    op.create_table(
        "stage_changes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("model_versions.id"), nullable=False),
        sa.Column("from_stage", sa.String(20), nullable=True),
        sa.Column("to_stage", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("occurred_at", UtcDateTime, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column(
            "promotion_request_id",
            sa.Integer,
            sa.ForeignKey("promotion_requests.id"),
            nullable=True,
        ),
    )
    op.create_index("ix_stage_changes_version", "stage_changes", ["version_id"])
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("occurred_at", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("action", sa.String(80), nullable=False),
        sa.Column("entity_type", sa.String(40), nullable=False),
        sa.Column("entity_id", sa.String(200), nullable=False),
        sa.Column("before_json", sa.Text, nullable=False),
        sa.Column("after_json", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
    )
    op.create_index("ix_audit_events_entity", "audit_events", ["entity_type", "entity_id"])
    _make_audit_append_only()


def _make_audit_append_only() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{operation.lower()} BEFORE {operation} "
                f"ON audit_events BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY_MESSAGE}'); END"
            )
    else:
        op.execute(
            "CREATE FUNCTION audit_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{_APPEND_ONLY_MESSAGE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change()"
        )
        op.execute(
            "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change()"
        )


def downgrade() -> None:
    raise NotImplementedError("The initial schema cannot be downgraded; restore a backup instead.")
