"""Training: versioned recipes per model, the outcome of every training run, and the claims
that let one instance run each scheduled or incident-started retrain.

Revision ID: 0007_training
Revises: 0006_incidents
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from modelledger.storage.tables import UtcDateTime

revision = "0007_training"
down_revision = "0006_incidents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "training_recipes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("registered_models.id"),
                  nullable=False),
        sa.Column("recipe_version", sa.Integer, nullable=False),
        sa.Column("recipe_json", sa.Text, nullable=False),
        sa.Column("gate_json", sa.Text, nullable=True),
        sa.Column("schedule_kind", sa.String(10), nullable=True),
        sa.Column("schedule_expr", sa.String(100), nullable=True),
        sa.Column("policy_json", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.UniqueConstraint("model_id", "recipe_version",
                            name="uq_training_recipes_model_version"),
    )
    op.create_table(
        "training_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("registered_models.id"),
                  nullable=False),
        sa.Column("recipe_id", sa.Integer, sa.ForeignKey("training_recipes.id"),
                  nullable=False),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("cause", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_by", sa.String(120), nullable=False),
        sa.Column("started_at", UtcDateTime, nullable=False),
        sa.Column("finished_at", UtcDateTime, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("log", sa.Text, nullable=False),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("model_versions.id"), nullable=True),
        sa.Column("champion_version_id", sa.Integer, sa.ForeignKey("model_versions.id"),
                  nullable=True),
        sa.Column("comparison_json", sa.Text, nullable=True),
        sa.Column("monitor_comparison_json", sa.Text, nullable=True),
        sa.Column("gate_json", sa.Text, nullable=True),
        sa.Column("request_id", sa.Integer, sa.ForeignKey("promotion_requests.id"),
                  nullable=True),
        sa.Column("data_reference_json", sa.Text, nullable=False),
    )
    op.create_index("ix_training_runs_model", "training_runs", ["model_id", "finished_at"])
    op.create_table(
        "training_claims",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("registered_models.id"),
                  nullable=False),
        sa.Column("slot", UtcDateTime, nullable=False),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("cause", sa.Text, nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("claimed_at", UtcDateTime, nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("training_runs.id"), nullable=True),
        sa.UniqueConstraint("model_id", "slot", name="uq_training_claims_model_slot"),
    )


def downgrade() -> None:
    op.drop_table("training_claims")
    op.drop_index("ix_training_runs_model", table_name="training_runs")
    op.drop_table("training_runs")
    op.drop_table("training_recipes")
