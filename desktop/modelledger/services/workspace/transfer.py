"""Copying a whole workspace to another database, e.g. from a SQLite file to PostgreSQL.

Rows are copied verbatim, table by table in foreign-key order, in one transaction on the
target, so the audit chain keeps every hash and verifies the same on both sides. Artifacts are
copied into the target's artifact store and re-hashed on the way.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable

from sqlalchemy import insert, select, text

from modelledger.core.errors import InvalidInputError
from modelledger.services.workspace.opening import Workspace
from modelledger.storage.tables import metadata

BATCH = 5_000


def copy_workspace(source: Workspace, target: Workspace,
                   progress: Callable[[str], None] | None = None) -> int:
    """Copy every row and artifact of ``source`` into the empty ``target``; returns rows."""
    report = progress or (lambda message: None)
    if target.audit.head_seq() != 0 or target.registry.count_models() != 0:
        raise InvalidInputError(
            f"{target.database.display_name} already holds data; copy into a new, empty "
            "workspace (`modelledger init URL` first)."
        )
    def copy_rows(target_conn) -> int:
        copied = 0
        with source.database.engine.connect() as source_conn:
            for table in metadata.sorted_tables:
                result = source_conn.execute(select(table).order_by(*table.primary_key.columns))
                while rows := result.fetchmany(BATCH):
                    target_conn.execute(insert(table), [row._asdict() for row in rows])
                    copied += len(rows)
                report(f"copied {table.name}")
        if target_conn.dialect.name == "postgresql":
            _advance_id_sequences(target_conn)
        return copied

    copied = target.database.write(copy_rows)
    source_store = source.artifacts.root / "sha256"
    if source_store.exists():
        for stored in sorted(source_store.rglob("*")):
            if stored.is_file():
                sha256 = stored.parent.name + stored.name
                destination = target.artifacts.path_for(sha256)
                if not destination.exists():
                    target.artifacts.put(source.artifacts.verified_path(sha256))
                    report(f"copied artifact {sha256[:12]}")
        shutil.rmtree(target.artifacts.root / "tmp", ignore_errors=True)
    return copied


def _advance_id_sequences(conn) -> None:
    """Rows arrived with their ids; move each serial sequence past them for new rows."""
    for table in metadata.sorted_tables:
        if "id" in table.columns and table.c.id.autoincrement in (True, "auto"):
            conn.execute(text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"))
