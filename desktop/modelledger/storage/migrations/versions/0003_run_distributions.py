"""Run distributions: the current data's share per reference bin, for each profiled column of
each run, so that charts can show reference against current for any past run.

Revision ID: 0003_run_distributions
Revises: 0002_monitoring
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_run_distributions"
down_revision = "0002_monitoring"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_distributions",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("monitor_runs.id"), primary_key=True),
        sa.Column("subject", sa.String(300), primary_key=True),
        sa.Column("shares_json", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("run_distributions")
