"""Signed identity: each event's signer and signature, and the people's enrolled keys.

Revision ID: 0005_identity
Revises: 0004_governance
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from modelledger.storage.tables import UtcDateTime

revision = "0005_identity"
down_revision = "0004_governance"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Added columns, not a new table: the append-only triggers keep guarding the whole row, and
    # events written before signed identity simply have none.
    with op.batch_alter_table("audit_events", recreate="never") as batch:
        batch.add_column(sa.Column("signer", sa.String(64), nullable=True))
        batch.add_column(sa.Column("signature", sa.String(128), nullable=True))
    op.create_table(
        "identity_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_name", sa.String(120), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("requested_at", UtcDateTime, nullable=False),
        sa.Column("decided_by", sa.String(120), nullable=True),
        sa.Column("decided_at", UtcDateTime, nullable=True),
        sa.Column("ended_reason", sa.Text, nullable=True),
        sa.Column("replaced_by", sa.String(64), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("identity_keys")
    with op.batch_alter_table("audit_events", recreate="never") as batch:
        batch.drop_column("signature")
        batch.drop_column("signer")
