"""Serving: the bearer tokens a scoring server accepts when it listens beyond loopback.

Revision ID: 0008_serving
Revises: 0007_training
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from modelledger.storage.tables import UtcDateTime

revision = "0008_serving"
down_revision = "0007_training"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "serving_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(120), nullable=False, unique=True),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("revoked_by", sa.String(120), nullable=True),
        sa.Column("revoked_at", UtcDateTime, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("serving_tokens")
