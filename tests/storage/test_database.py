import os
import sqlite3
import stat

import pytest
from sqlalchemy import text

from modelledger.core.errors import (
    CorruptDatabaseError,
    NewerSchemaError,
    NotFoundError,
    ReadOnlyWorkspaceError,
)
from modelledger.services.workspace.opening import Workspace
from modelledger.storage import schema
from modelledger.storage.database import Database, SharingMode
from modelledger.storage.tables import metadata
from tests.conftest import run_cli


def file_bytes(path):
    return path.read_bytes()


def test_new_local_workspace_uses_wal_and_pragmas(workspace_path):
    database = Database.open(workspace_path, create=True)
    try:
        assert database.sharing_mode is SharingMode.LOCAL_WAL
        with database.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    finally:
        database.close()


def test_network_share_uses_rollback_journal(workspace_path, monkeypatch):
    monkeypatch.setenv("MODELLEDGER_ASSUME_NETWORK_SHARE", "1")
    database = Database.open(workspace_path, create=True)
    try:
        assert database.sharing_mode is SharingMode.SHARED_FILE
        with database.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "delete"
    finally:
        database.close()


def test_workspace_marked_shared_keeps_rollback_journal_on_local_disk(workspace_path):
    ws = Workspace.open(workspace_path, create=True)
    ws.registry.set_shared_file(True, "the team opens it from a file server")
    ws.close()
    database = Database.open(workspace_path)
    try:
        assert database.sharing_mode is SharingMode.SHARED_FILE
    finally:
        database.close()


def test_write_transactions_begin_immediate(workspace):
    """A second writer must wait at BEGIN, not fail half-way through a read-then-write."""
    statements = []
    from sqlalchemy import event

    @event.listens_for(workspace.database.engine, "before_cursor_execute")
    def capture(conn, cursor, statement, *args):
        statements.append(statement)

    workspace.registry.register_model("m1")
    assert "BEGIN IMMEDIATE" in statements or any(
        s.startswith("BEGIN IMMEDIATE") for s in statements)


def test_missing_workspace_is_a_clear_error(tmp_path):
    with pytest.raises(NotFoundError, match="modelledger init"):
        Database.open(tmp_path / "absent.db")


def test_not_a_database(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("hello, this is not sqlite")
    with pytest.raises(CorruptDatabaseError, match="not a ModelLedger workspace"):
        Database.open(path)


def test_foreign_sqlite_database_is_refused(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(CorruptDatabaseError, match="not a ModelLedger workspace"):
        Database.open(path)


def test_damaged_file_is_refused_and_left_alone(workspace, workspace_path):
    workspace.registry.register_model("m1")
    workspace.close()
    data = bytearray(workspace_path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    data[page_size + 8: page_size * 2] = b"\xff" * (page_size - 8)
    workspace_path.write_bytes(bytes(data))
    with pytest.raises(CorruptDatabaseError):
        Database.open(workspace_path)
    assert workspace_path.read_bytes() == bytes(data)


def test_newer_schema_is_refused_without_touching_the_file(workspace, workspace_path):
    workspace.close()
    with sqlite3.connect(workspace_path) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("UPDATE alembic_version SET version_num = '0099_from_the_future'")
    before = file_bytes(workspace_path)
    mtime = workspace_path.stat().st_mtime_ns
    with pytest.raises(NewerSchemaError, match="newer version of ModelLedger"):
        Database.open(workspace_path)
    assert file_bytes(workspace_path) == before
    assert workspace_path.stat().st_mtime_ns == mtime
    assert not workspace_path.with_name(workspace_path.name + "-wal").exists()
    result = run_cli("-w", str(workspace_path), "model", "list")
    assert result.returncode != 0 and "newer version" in result.stderr
    assert "Traceback" not in result.stderr


def test_migrations_create_exactly_the_declared_schema(workspace):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with workspace.database.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []


def test_known_revisions_match_the_migration_scripts():
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(schema.alembic_config())
    assert scripts.get_current_head() == schema.HEAD_REVISION
    assert {s.revision for s in scripts.walk_revisions()} == set(schema.KNOWN_REVISIONS)


def _make_read_only(path):
    os.chmod(path, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    os.chmod(path.parent, stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP
             | stat.S_IROTH | stat.S_IXOTH)


def test_read_only_file_opens_read_only_with_a_clear_message(tmp_path):
    folder = tmp_path / "readonly"
    folder.mkdir()
    path = folder / "team.db"
    ws = Workspace.open(path, create=True, user="alice")
    ws.registry.register_model("credit-risk")
    ws.close()
    # A clean close folds the WAL back into the file; a reader needs nothing else.
    assert not path.with_name("team.db-wal").exists()
    _make_read_only(path)
    try:
        listing = run_cli("-w", str(path), "model", "list", obey_file_permissions=True)
        assert listing.returncode == 0, listing.stderr
        assert "credit-risk" in listing.stdout
        change = run_cli("-w", str(path), "model", "register", "another",
                         obey_file_permissions=True)
        assert change.returncode != 0
        assert "read-only" in change.stderr and "Traceback" not in change.stderr
    finally:
        os.chmod(folder, 0o755)
        os.chmod(path, 0o644)


def test_read_only_database_object_refuses_writes(workspace, workspace_path, monkeypatch):
    workspace.close()
    monkeypatch.setattr("modelledger.storage.database._is_writable", lambda path: False)
    ws = Workspace.open(workspace_path)
    try:
        assert ws.database.read_only
        assert ws.registry.list_models() == []
        with pytest.raises(ReadOnlyWorkspaceError, match="read-only"):
            ws.registry.register_model("m")
    finally:
        ws.close()


def test_audit_table_refuses_update_and_delete(workspace):
    workspace.registry.register_model("m1")
    with workspace.database.engine.connect() as conn:
        for statement in ("UPDATE audit_events SET reason = 'x'", "DELETE FROM audit_events"):
            with pytest.raises(Exception, match="append-only"):
                conn.execute(text(statement))
            conn.rollback()


def test_an_older_workspace_is_backed_up_then_migrated(tmp_path):
    """What the README promises for upgrades: a consistent copy beside the file, taken before
    any migration, still at the old revision; the workspace itself at the newest."""
    from alembic import command
    from sqlalchemy import create_engine

    path = tmp_path / "team.db"
    older = schema.KNOWN_REVISIONS[-2]
    engine = create_engine(f"sqlite:///{path}")
    config = schema.alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, older)
        conn.execute(text("INSERT INTO users (name, display_name, role, created_at) "
                          "VALUES ('carol', 'Carol', 'validator', '2026-01-05T09:00:00+00:00')"))
    engine.dispose()

    database = Database.open(path)
    try:
        with database.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() \
                == schema.HEAD_REVISION
    finally:
        database.close()
    backups = list(tmp_path.glob(f"team.db.before-{schema.HEAD_REVISION}-*.bak"))
    assert len(backups) == 1
    with sqlite3.connect(backups[0]) as copy:
        assert copy.execute("SELECT version_num FROM alembic_version").fetchone()[0] == older
        assert copy.execute("SELECT name FROM users").fetchall() == [("carol",)]
