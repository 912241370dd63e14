"""Schema revisions this version of ModelLedger knows, and upgrading to the newest.

The revision check runs on every open without importing Alembic (start-up time); Alembic is
imported only when a workspace actually needs creating or upgrading.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection

from modelledger.core.errors import NewerSchemaError

# Oldest first; a test checks this list against the migration scripts.
KNOWN_REVISIONS = ("0001_initial", "0002_monitoring", "0003_run_distributions",
                   "0004_governance", "0005_identity", "0006_incidents", "0007_training",
                   "0008_serving")
HEAD_REVISION = KNOWN_REVISIONS[-1]
MIGRATIONS_FOLDER = Path(__file__).with_name("migrations")


def check_known_revision(revision: str | None, where: str) -> None:
    if revision is not None and revision not in KNOWN_REVISIONS:
        from modelledger import __version__

        raise NewerSchemaError(
            f"{where} was written by a newer version of ModelLedger (schema '{revision}'; this "
            f"is ModelLedger {__version__}, which knows up to '{HEAD_REVISION}'). Install the "
            "newer ModelLedger to open it. The file has not been changed."
        )


def alembic_config():
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_FOLDER))
    return config


def upgrade_to_head(conn: Connection) -> None:
    """Run the missing migrations inside the caller's write transaction on ``conn``."""
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = conn
    command.upgrade(config, "head")
