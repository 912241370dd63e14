"""The database schema as SQLAlchemy Core tables.

The Alembic migrations create exactly this schema (a test compares the two). JSON values are
stored as canonical JSON text so that the same bytes are read back on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

STAGES = ("development", "staging", "production", "archived")


class UtcDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the offset otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def utc_now() -> datetime:
    return datetime.now(UTC)


users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(120), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

workspace_settings = Table(
    "workspace_settings",
    metadata,
    Column("key", String(80), primary_key=True),
    Column("value_json", Text, nullable=False),
    Column("updated_by", String(120), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

registered_models = Table(
    "registered_models",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("description", Text, nullable=False, server_default=""),
    Column("owner", String(120), nullable=False),
    Column("purpose", Text, nullable=False, server_default=""),
    Column("intended_use", Text, nullable=False, server_default=""),
    Column("risk_tier", String(20), nullable=False),
    Column("tags_json", Text, nullable=False, server_default="[]"),
    Column("status", String(20), nullable=False),
    Column("created_by", String(120), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("row_version", Integer, nullable=False, server_default="1"),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size_bytes", BigInteger, nullable=False),
    Column("format", String(20), nullable=False),
    Column("original_filename", String(400), nullable=False),
    Column("stored_by", String(120), nullable=False),
    Column("stored_at", UtcDateTime, nullable=False),
)

artifact_trust = Table(
    "artifact_trust",
    metadata,
    Column("sha256", String(64), ForeignKey("artifacts.sha256"), primary_key=True),
    Column("trusted_by", String(120), nullable=False),
    Column("trusted_at", UtcDateTime, nullable=False),
    Column("reason", Text, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("model_id", Integer, ForeignKey("registered_models.id"), nullable=False),
    Column("version_number", Integer, nullable=False),
    Column("stage", String(20), nullable=False),
    Column("artifact_sha256", String(64), ForeignKey("artifacts.sha256"), nullable=True),
    Column("framework", String(120), nullable=False, server_default=""),
    Column("estimator_class", String(300), nullable=False, server_default=""),
    Column("parameters_json", Text, nullable=False, server_default="{}"),
    Column("metrics_json", Text, nullable=False, server_default="{}"),
    Column("training_data_json", Text, nullable=False, server_default="{}"),
    Column("feature_schema_json", Text, nullable=False, server_default="[]"),
    Column("environment_json", Text, nullable=False, server_default="{}"),
    Column("parent_version_id", Integer, ForeignKey("model_versions.id"), nullable=True),
    Column("notes", Text, nullable=False, server_default=""),
    Column("created_by", String(120), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("row_version", Integer, nullable=False, server_default="1"),
    UniqueConstraint("model_id", "version_number", name="uq_model_versions_model_number"),
    CheckConstraint(
        "stage IN ('development', 'staging', 'production', 'archived')", name="stage_known"
    ),
    # The database itself guarantees one production version per model.
    Index(
        "ux_model_versions_one_production",
        "model_id",
        unique=True,
        sqlite_where=text("stage = 'production'"),
        postgresql_where=text("stage = 'production'"),
    ),
)

promotion_requests = Table(
    "promotion_requests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("target_stage", String(20), nullable=False),
    Column("requested_by", String(120), nullable=False),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("reason", Text, nullable=False),
    Column("status", String(20), nullable=False),
    Column("decided_by", String(120), nullable=True),
    Column("decided_at", UtcDateTime, nullable=True),
    Column("decision_reason", Text, nullable=True),
    Index("ix_promotion_requests_status", "status"),
    Index("ix_promotion_requests_version", "version_id"),
)

stage_changes = Table(
    "stage_changes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("from_stage", String(20), nullable=True),
    Column("to_stage", String(20), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("actor", String(120), nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("reason", Text, nullable=False),
    Column("promotion_request_id", Integer, ForeignKey("promotion_requests.id"), nullable=True),
    Index("ix_stage_changes_version", "version_id"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("occurred_at", String(40), nullable=False),
    Column("actor", String(120), nullable=False),
    Column("host", String(255), nullable=False),
    Column("action", String(80), nullable=False),
    Column("entity_type", String(40), nullable=False),
    Column("entity_id", String(200), nullable=False),
    Column("before_json", Text, nullable=False),
    Column("after_json", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False, unique=True),
    Column("hash", String(64), nullable=False, unique=True),
    # Who signed the event (key fingerprint) and the Ed25519 signature over its hash
    # (core.identity.signed_message); none before signed identity and for scheduler events.
    Column("signer", String(64), nullable=True),
    Column("signature", String(128), nullable=True),
    Index("ix_audit_events_entity", "entity_type", "entity_id"),
)


# -- monitoring ----------------------------------------------------------------------------------

monitors = Table(
    "monitors",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("model_id", Integer, ForeignKey("registered_models.id"), nullable=False),
    Column("name", String(200), nullable=False),
    # None: follow the model's production version.
    Column("pinned_version_id", Integer, ForeignKey("model_versions.id"), nullable=True),
    Column("reference_sha256", String(64), ForeignKey("artifacts.sha256"), nullable=False),
    Column("reference_name", String(400), nullable=False),
    Column("reference_rows", BigInteger, nullable=False),
    Column("profiles_json", Text, nullable=False),  # reference bins, computed once
    Column("spec_json", Text, nullable=False),
    Column("schedule_kind", String(20), nullable=False),
    Column("schedule_expr", String(120), nullable=False),
    Column("schedule_anchor", UtcDateTime, nullable=False),
    Column("status", String(20), nullable=False),
    Column("max_failures", Integer, nullable=False),
    Column("consecutive_failures", Integer, nullable=False, server_default="0"),
    Column("timeout_s", Integer, nullable=False),
    Column("created_by", String(120), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("row_version", Integer, nullable=False, server_default="1"),
    # Healthy runs after which its incidents resolve themselves; None: the workspace setting.
    Column("resolve_after_runs", Integer, nullable=True),
    UniqueConstraint("model_id", "name", name="uq_monitors_model_name"),
    CheckConstraint("schedule_kind IN ('interval', 'cron')", name="schedule_kind_known"),
    CheckConstraint("status IN ('active', 'paused')", name="status_known"),
)

# One row per (monitor, scheduled slot): the unique constraint is what makes a slot run once
# across every instance sharing the database. The heartbeat lets another instance take over a
# run whose instance died.
monitor_claims = Table(
    "monitor_claims",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("monitor_id", Integer, ForeignKey("monitors.id"), nullable=False),
    Column("slot", UtcDateTime, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("state", String(20), nullable=False),
    Column("owner", String(200), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("claimed_at", UtcDateTime, nullable=False),
    Column("heartbeat_at", UtcDateTime, nullable=False),
    Column("retry_at", UtcDateTime, nullable=True),
    UniqueConstraint("monitor_id", "slot", name="uq_monitor_claims_monitor_slot"),
    CheckConstraint("kind IN ('scheduled', 'manual')", name="kind_known"),
    CheckConstraint(
        "state IN ('running', 'retry', 'done', 'failed', 'missed', 'cancelled')",
        name="state_known",
    ),
    Index("ix_monitor_claims_state", "state"),
)

monitor_runs = Table(
    "monitor_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("monitor_id", Integer, ForeignKey("monitors.id"), nullable=False),
    Column("claim_id", Integer, ForeignKey("monitor_claims.id"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("version_id", Integer, ForeignKey("model_versions.id"), nullable=True),
    Column("slot", UtcDateTime, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=False),
    Column("status", String(20), nullable=False),
    Column("health", String(20), nullable=False),
    Column("window_start", UtcDateTime, nullable=True),
    Column("window_end", UtcDateTime, nullable=True),
    Column("current_rows", BigInteger, nullable=True),
    Column("reference_rows", BigInteger, nullable=True),
    Column("data_description", Text, nullable=False, server_default=""),
    Column("summary", Text, nullable=False, server_default=""),
    Column("thresholds_json", Text, nullable=False, server_default="{}"),
    Column("error", Text, nullable=False, server_default=""),
    Column("log", Text, nullable=False, server_default=""),
    Column("instance", String(200), nullable=False),
    # One stored outcome per attempt, even if an instance presumed dead comes back.
    UniqueConstraint("claim_id", "attempt", name="uq_monitor_runs_claim_attempt"),
    CheckConstraint("status IN ('succeeded', 'failed')", name="status_known"),
    Index("ix_monitor_runs_monitor_slot", "monitor_id", "slot"),
)

run_metrics = Table(
    "run_metrics",
    metadata,
    Column("run_id", Integer, ForeignKey("monitor_runs.id"), primary_key=True),
    Column("metric", String(120), primary_key=True),
    Column("subject", String(300), primary_key=True),
    Column("value", Double, nullable=True),
    Column("status", String(20), nullable=False),
    Column("warn", Double, nullable=True),
    Column("critical", Double, nullable=True),
    Column("note", Text, nullable=False, server_default=""),
)

# The current data's share in each of the reference profile's bins (numeric) or categories
# (categorical, the rest last), as a JSON list: what the distribution charts draw.
run_distributions = Table(
    "run_distributions",
    metadata,
    Column("run_id", Integer, ForeignKey("monitor_runs.id"), primary_key=True),
    Column("subject", String(300), primary_key=True),
    Column("shares_json", Text, nullable=False),
)

# One row per incident: the alerts of one monitor and one cause (drift, data quality,
# performance, KPI, run failure) while it is not closed; its members are in alert_members.
alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("monitor_id", Integer, ForeignKey("monitors.id"), nullable=False),
    Column("model_id", Integer, ForeignKey("registered_models.id"), nullable=False),
    Column("run_id", Integer, ForeignKey("monitor_runs.id"), nullable=True),
    Column("severity", String(20), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("dedupe_key", String(400), nullable=False),
    Column("title", Text, nullable=False),
    Column("detail", Text, nullable=False, server_default=""),
    Column("status", String(20), nullable=False),
    Column("assignee", String(120), nullable=True),
    Column("occurrences", Integer, nullable=False, server_default="1"),
    Column("first_seen_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    Column("closed_at", UtcDateTime, nullable=True),
    Column("row_version", Integer, nullable=False, server_default="1"),
    Column("cause", String(20), nullable=False, server_default="drift"),
    # Runs in a row that found the cause healthy since the incident was last seen.
    Column("healthy_runs", Integer, nullable=False, server_default="0"),
    Column("snoozed_until", UtcDateTime, nullable=True),
    Column("muted_reason", Text, nullable=False, server_default=""),  # "" when not muted
    Column("muted_until", UtcDateTime, nullable=True),  # None while muted: until unmuted
    Column("resolution", Text, nullable=False, server_default=""),  # why it closed itself
    # The highest severity anyone was told about: notifications go out again only above it.
    Column("notified_severity", String(20), nullable=True),
    CheckConstraint("severity IN ('warn', 'critical')", name="severity_known"),
    CheckConstraint("status IN ('open', 'acknowledged', 'closed')", name="status_known"),
    Index("ix_alerts_status", "status"),
    # At most one alert that is not closed per condition, whichever instance raises it.
    Index(
        "ux_alerts_one_unclosed",
        "dedupe_key",
        unique=True,
        sqlite_where=text("status <> 'closed'"),
        postgresql_where=text("status <> 'closed'"),
    ),
)

alert_notes = Table(
    "alert_notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("alert_id", Integer, ForeignKey("alerts.id"), nullable=False),
    Column("author", String(120), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("text", Text, nullable=False),
    Index("ix_alert_notes_alert", "alert_id"),
)

# What an incident is made of: each feature and metric that fired, with its latest value.
alert_members = Table(
    "alert_members",
    metadata,
    Column("alert_id", Integer, ForeignKey("alerts.id"), primary_key=True),
    Column("metric", String(120), primary_key=True),
    Column("subject", String(300), primary_key=True),
    Column("status", String(20), nullable=False),  # as last seen: warn, critical or ok
    Column("worst", String(20), nullable=False),  # the worst it has been in this incident
    Column("value", Double, nullable=True),
    Column("warn", Double, nullable=True),
    Column("critical", Double, nullable=True),
    Column("note", Text, nullable=False, server_default=""),
    Column("occurrences", Integer, nullable=False, server_default="1"),
    Column("first_seen_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
)

# One row per day a digest of open incidents was sent: the primary key lets one instance win.
incident_digests = Table(
    "incident_digests",
    metadata,
    Column("day", String(10), primary_key=True),  # YYYY-MM-DD, UTC
    Column("instance", String(200), nullable=False),
    Column("sent_at", UtcDateTime, nullable=False),
)

# Each exporter's Ed25519 public key (raw 32 bytes, hex); the private key never enters the
# database. The fingerprint is the SHA-256 of the raw public key, hex.
signing_keys = Table(
    "signing_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_name", String(120), nullable=False),
    Column("fingerprint", String(64), nullable=False, unique=True),
    Column("public_key", String(64), nullable=False),
    Column("registered_at", UtcDateTime, nullable=False),
)

# Each person's (or headless instance's) enrolled public keys. A view for the services and the
# window: `audit verify` does not trust it and replays the key history from the audit log.
identity_keys = Table(
    "identity_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_name", String(120), nullable=False),
    Column("fingerprint", String(64), nullable=False, unique=True),
    Column("public_key", String(64), nullable=False),
    Column("display_name", String(200), nullable=False),  # as the person asked to be named
    Column("kind", String(10), nullable=False),  # "person" or "host"
    Column("host", String(255), nullable=False),  # where the key was made
    Column("status", String(10), nullable=False),  # pending, active, rotated, revoked
    Column("requested_at", UtcDateTime, nullable=False),
    Column("decided_by", String(120), nullable=True),  # the admin who approved or revoked
    Column("decided_at", UtcDateTime, nullable=True),
    Column("ended_reason", Text, nullable=True),
    Column("replaced_by", String(64), nullable=True),  # the key a rotation handed over to
)

# The free-text sections of a version's model card (limitations, out-of-scope use, ...); the
# rest of the card is generated from the registry.
model_card_texts = Table(
    "model_card_texts",
    metadata,
    Column("version_id", Integer, ForeignKey("model_versions.id"), primary_key=True),
    Column("section", String(60), primary_key=True),
    Column("text", Text, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("updated_by", String(120), nullable=False),
)

# A model's training recipe, versioned: a change adds a row, the newest is the one that trains.
training_recipes = Table(
    "training_recipes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("model_id", Integer, ForeignKey("registered_models.id"), nullable=False),
    Column("recipe_version", Integer, nullable=False),
    Column("recipe_json", Text, nullable=False),  # core.recipes.Recipe.to_dict()
    Column("gate_json", Text, nullable=True),  # core.promotion_gate.GateRule.to_dict()
    Column("schedule_kind", String(10), nullable=True),  # retrain on a schedule, as monitors
    Column("schedule_expr", String(100), nullable=True),
    Column("policy_json", Text, nullable=False),  # core.training.RetrainPolicy: on incidents
    Column("created_by", String(120), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("reason", Text, nullable=False),
    UniqueConstraint("model_id", "recipe_version", name="uq_training_recipes_model_version"),
)

# Who runs which scheduled or incident-started retrain: the unique (model, slot) lets exactly
# one instance of all those sharing the workspace win a slot, as monitor_claims do for runs.
training_claims = Table(
    "training_claims",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("model_id", Integer, ForeignKey("registered_models.id"), nullable=False),
    Column("slot", UtcDateTime, nullable=False),
    Column("trigger", String(20), nullable=False),  # schedule | alert
    Column("cause", Text, nullable=False),
    Column("owner", String(200), nullable=False),  # the instance that claimed it
    Column("claimed_at", UtcDateTime, nullable=False),
    Column("run_id", Integer, ForeignKey("training_runs.id"), nullable=True),
    UniqueConstraint("model_id", "slot", name="uq_training_claims_model_slot"),
)

# Every training run that ended, written once with its outcome (a run that is still going
# lives only in the instance running it, so a crash leaves nothing half-written).
training_runs = Table(
    "training_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("model_id", Integer, ForeignKey("registered_models.id"), nullable=False),
    Column("recipe_id", Integer, ForeignKey("training_recipes.id"), nullable=False),
    Column("trigger", String(20), nullable=False),  # manual | schedule | alert | reproduce
    Column("cause", Text, nullable=False),
    Column("status", String(20), nullable=False),  # succeeded | failed | cancelled
    Column("started_by", String(120), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=False),
    Column("error", Text, nullable=False),
    Column("log", Text, nullable=False),
    Column("version_id", Integer, ForeignKey("model_versions.id"), nullable=True),
    Column("champion_version_id", Integer, ForeignKey("model_versions.id"), nullable=True),
    Column("comparison_json", Text, nullable=True),  # core.challenger.Comparison.to_dict()
    Column("monitor_comparison_json", Text, nullable=True),  # on the monitor's recent rows
    Column("gate_json", Text, nullable=True),  # core.promotion_gate.GateVerdict.to_dict()
    Column("request_id", Integer, ForeignKey("promotion_requests.id"), nullable=True),
    Column("data_reference_json", Text, nullable=False),
    Index("ix_training_runs_model", "model_id", "finished_at"),
)

# Bearer tokens for a scoring server bound beyond loopback: only the SHA-256 of each token is
# kept (the token itself is shown once, when it is made); a revoked token keeps its row.
serving_tokens = Table(
    "serving_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(120), nullable=False, unique=True),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("created_by", String(120), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_by", String(120), nullable=True),
    Column("revoked_at", UtcDateTime, nullable=True),
)
