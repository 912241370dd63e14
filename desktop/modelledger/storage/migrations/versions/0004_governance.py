"""Governance: the exporters' public signing keys, and the free-text sections of model cards.

Revision ID: 0004_governance
Revises: 0003_run_distributions
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from modelledger.storage.tables import UtcDateTime

revision = "0004_governance"
down_revision = "0003_run_distributions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_name", sa.String(120), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("registered_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "model_card_texts",
        sa.Column("version_id", sa.Integer, sa.ForeignKey("model_versions.id"),
                  primary_key=True),
        sa.Column("section", sa.String(60), primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("updated_by", sa.String(120), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("model_card_texts")
    op.drop_table("signing_keys")
