"""Opening a workspace database and running units of work on it safely.

SQLite rules (see the README's "Sharing a database" section for the reasons):
- every write transaction starts with ``BEGIN IMMEDIATE`` so that a read-then-write unit can
  never fail half-way with "database is locked"; a unit that still meets a busy lock is retried
  whole, with exponential backoff and jitter, up to a deadline;
- ``foreign_keys=ON``, ``busy_timeout``, ``synchronous=FULL``;
- WAL on a local disk, the rollback journal on a network share (WAL needs shared memory that a
  network filesystem does not provide) or when the workspace is marked as a shared file;
- before anything touches the file it is probed through a read-only connection: header,
  ``quick_check`` and the schema revision, so that a corrupt file or one from a newer version is
  refused without a single byte changed.

PostgreSQL runs the same code; write units serialise on one advisory lock, which gives the
audit chain the same single-writer order that ``BEGIN IMMEDIATE`` gives on SQLite.
"""

from __future__ import annotations

import enum
import logging
import os
import random
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from modelledger.core.errors import (
    CorruptDatabaseError,
    DatabaseBusyError,
    DiskFullError,
    ModelLedgerError,
    NewerSchemaError,
    NotFoundError,
    ReadOnlyWorkspaceError,
)
from modelledger.storage import schema

log = logging.getLogger(__name__)

T = TypeVar("T")

SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 5_000
WRITE_RETRY_DEADLINE_S = 60.0
# Arbitrary constant shared by every ModelLedger client of one PostgreSQL database.
POSTGRES_WRITE_LOCK_KEY = 0x4D4C_4544  # "MLED"

NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "afs", "9p", "fuse.sshfs", "sshfs",
        "davfs", "fuse.davfs", "fuse.rclone", "ceph", "glusterfs", "fuse.glusterfs", "lustre",
        "gpfs", "webdav", "afpfs",
    }
)


class SharingMode(enum.StrEnum):
    LOCAL_WAL = "local file (WAL)"
    SHARED_FILE = "shared file (rollback journal)"
    READ_ONLY = "read-only file"
    POSTGRESQL = "PostgreSQL server"


@dataclass(frozen=True)
class ProbeResult:
    exists: bool
    revision: str | None
    shared_file: bool


class Database:
    """A workspace database: an engine plus the rules for reading and writing it."""

    def __init__(
        self,
        engine: Engine,
        *,
        display_name: str,
        sqlite_path: Path | None,
        sharing_mode: SharingMode,
    ) -> None:
        self.engine = engine
        self.display_name = display_name
        self.sqlite_path = sqlite_path
        self.sharing_mode = sharing_mode

    @property
    def read_only(self) -> bool:
        return self.sharing_mode is SharingMode.READ_ONLY

    @property
    def is_postgresql(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    # -- opening --------------------------------------------------------------------------------

    @classmethod
    def open(cls, target: str | os.PathLike[str], *, create: bool = False) -> Database:
        """Open (or with ``create`` make) the workspace at a file path or a database URL."""
        target_text = os.fspath(target)
        if target_text.startswith(("postgresql:", "postgresql+", "postgres:")):
            return cls._open_postgresql(target_text, create=create)
        if target_text.startswith("sqlite:"):
            database = make_url(target_text).database
            if not database:
                raise NotFoundError("A SQLite URL needs a file path: sqlite:///path/to/file.db")
            target_text = database
        return cls._open_sqlite(Path(target_text).expanduser().absolute(), create=create)

    @classmethod
    def _open_sqlite(cls, path: Path, *, create: bool) -> Database:
        probe = probe_sqlite_file(path)
        if not probe.exists and not create:
            raise NotFoundError(
                f"There is no workspace at {path}. Create one with `modelledger init {path}` "
                "or choose another file."
            )
        if probe.exists and create and probe.revision is not None:
            raise ModelLedgerError(f"{path} is already a ModelLedger workspace; open it instead.")
        writable = _is_writable(path)
        if not writable and not probe.exists:
            raise ReadOnlyWorkspaceError(
                f"Cannot create {path}: the folder is not writable. Choose a folder you can "
                "write to."
            )
        if not writable:
            sharing = SharingMode.READ_ONLY
        elif probe.shared_file or is_network_path(path.parent):
            sharing = SharingMode.SHARED_FILE
        else:
            sharing = SharingMode.LOCAL_WAL
        if probe.revision is not None and probe.revision != schema.HEAD_REVISION and not writable:
            raise ReadOnlyWorkspaceError(
                f"{path} was written by an older ModelLedger and must be upgraded, but the file "
                "is read-only. Ask its owner to open it once with write access."
            )
        engine = _sqlite_engine(path, sharing)
        database = cls(engine, display_name=str(path), sqlite_path=path, sharing_mode=sharing)
        if sharing is not SharingMode.READ_ONLY:
            _migrate_if_needed(database, probe.revision)
        log.info("opened %s as %s", path, sharing.value)
        return database

    @classmethod
    def _open_postgresql(cls, url_text: str, *, create: bool) -> Database:
        url = make_url(url_text)
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")
        engine = create_engine(url, pool_pre_ping=True)
        database = cls(
            engine,
            display_name=url.render_as_string(hide_password=True),
            sqlite_path=None,
            sharing_mode=SharingMode.POSTGRESQL,
        )
        try:
            with engine.connect() as conn:
                revision = _current_revision(conn)
        except OperationalError as exc:
            raise ModelLedgerError(
                f"Cannot connect to {database.display_name}: {exc.orig}. Check that the server "
                "is running and the URL, user and password are right."
            ) from exc
        except DBAPIError as exc:  # e.g. a login the grants do not let read
            known = translate_database_error(exc, database.display_name)
            if known is None:
                raise
            raise known from exc
        if revision is None and not create:
            raise NotFoundError(
                f"{database.display_name} has no ModelLedger workspace yet. Create one with "
                f"`modelledger init {database.display_name}`."
            )
        schema.check_known_revision(revision, database.display_name)
        _migrate_if_needed(database, revision)
        return database

    def close(self) -> None:
        self.engine.dispose()

    # -- units of work --------------------------------------------------------------------------

    def write(self, unit_of_work: Callable[[Connection], T]) -> T:
        """Run ``unit_of_work(conn)`` in one write transaction, retried whole while busy.

        The unit must be safe to run again: it reads what it needs inside the transaction.
        """
        if self.read_only:
            raise ReadOnlyWorkspaceError(
                f"{self.display_name} is open read-only: you can browse it but not change it. "
                "Ask its owner for write access, or copy the file and open the copy."
            )
        deadline = time.monotonic() + WRITE_RETRY_DEADLINE_S
        attempt = 0
        while True:
            try:
                with self.engine.connect() as conn:
                    conn.execution_options(modelledger_write=True)
                    with conn.begin():
                        if self.is_postgresql:
                            conn.execute(
                                text("SELECT pg_advisory_xact_lock(:key)"),
                                {"key": POSTGRES_WRITE_LOCK_KEY},
                            )
                        return unit_of_work(conn)
            except DBAPIError as exc:
                known = translate_database_error(exc, self.display_name)
                if isinstance(known, DatabaseBusyError) and time.monotonic() < deadline:
                    attempt += 1
                    delay = min(1.0, 0.02 * 2**attempt) * random.uniform(0.5, 1.5)
                    log.debug("write busy (attempt %d), retrying in %.3fs", attempt, delay)
                    time.sleep(delay)
                    continue
                if known is None:
                    raise
                raise known from exc

    def read(self, query: Callable[[Connection], T]) -> T:
        """Run ``query(conn)`` in one read transaction (a consistent snapshot)."""
        try:
            with self.engine.connect() as conn, conn.begin():
                return query(conn)
        except DBAPIError as exc:
            known = translate_database_error(exc, self.display_name)
            if known is None:
                raise
            raise known from exc


# -- SQLite specifics -----------------------------------------------------------------------------


def probe_sqlite_file(path: Path) -> ProbeResult:
    """Look at a workspace file without changing it: header, integrity, schema revision."""
    if not path.exists():
        return ProbeResult(exists=False, revision=None, shared_file=False)
    if path.is_dir():
        raise CorruptDatabaseError(f"{path} is a folder, not a workspace file.")
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except PermissionError as exc:
        raise ReadOnlyWorkspaceError(f"Cannot read {path}: permission denied.") from exc
    if header == b"" and path.stat().st_size == 0:
        return ProbeResult(exists=False, revision=None, shared_file=False)
    if header != SQLITE_HEADER:
        raise CorruptDatabaseError(
            f"{path} is not a ModelLedger workspace (it is not a SQLite database). "
            "Choose a .db file created by ModelLedger."
        )
    try:
        conn = sqlite3.connect(_read_only_uri(path, writable=_is_writable(path)), uri=True,
                               timeout=10)
    except sqlite3.Error as exc:
        raise CorruptDatabaseError(f"Cannot open {path}: {exc}.") from exc
    try:
        integrity = conn.execute("PRAGMA quick_check").fetchone()[0]
        if integrity != "ok":
            raise CorruptDatabaseError(
                f"{path} is damaged ({integrity}). Restore it from a backup; ModelLedger has "
                "not changed it."
            )
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        if "alembic_version" not in tables:
            if tables:
                raise CorruptDatabaseError(
                    f"{path} is a SQLite database but not a ModelLedger workspace."
                )
            return ProbeResult(exists=False, revision=None, shared_file=False)
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        revision = row[0] if row else None
        schema.check_known_revision(revision, str(path))
        shared = False
        if "workspace_settings" in tables:
            setting = conn.execute(
                "SELECT value_json FROM workspace_settings WHERE key = 'shared_file'"
            ).fetchone()
            shared = bool(setting and setting[0] == "true")
        return ProbeResult(exists=True, revision=revision, shared_file=shared)
    except sqlite3.DatabaseError as exc:
        known = _translate_sqlite_message(str(exc), str(path))
        raise (known or CorruptDatabaseError(f"Cannot read {path}: {exc}.")) from exc
    finally:
        conn.close()


def _read_only_uri(path: Path, *, writable: bool) -> str:
    """A SQLite URI that reads ``path`` without changing it."""
    uri = f"file:{quote(str(path))}?mode=ro"
    # SQLite opens a WAL file read-only only if its -shm/-wal files exist or can be created.
    # Without a -wal file there are no pending writes, and we cannot write: immutable is exact.
    if not writable and not path.with_name(path.name + "-wal").exists():
        uri += "&immutable=1"
    return uri


def _is_writable(path: Path) -> bool:
    target = path if path.exists() else path.parent
    # The rollback journal and the WAL files are created beside the database file.
    return os.access(target, os.W_OK) and os.access(path.parent, os.W_OK)


def is_network_path(folder: Path) -> bool:
    """True when ``folder`` lives on a network filesystem, where WAL must not be used."""
    override = os.environ.get("MODELLEDGER_ASSUME_NETWORK_SHARE")
    if override is not None:
        return override not in ("", "0", "false", "no")
    resolved = str(folder.resolve())
    if sys.platform == "win32":
        return _is_windows_network_path(resolved)
    return _mount_type(resolved) in NETWORK_FILESYSTEMS


def _is_windows_network_path(resolved: str) -> bool:
    if resolved.startswith("\\\\"):
        return True
    import ctypes

    drive_remote = 4
    return ctypes.windll.kernel32.GetDriveTypeW(resolved[:3]) == drive_remote


def _mount_type(resolved: str) -> str:
    mounts = _linux_mounts() if sys.platform.startswith("linux") else _bsd_mounts()
    best, best_type = "", ""
    for mount_point, fs_type in mounts:
        is_under = resolved == mount_point or resolved.startswith(mount_point.rstrip("/") + "/")
        if is_under and len(mount_point) > len(best):
            best, best_type = mount_point, fs_type
    return best_type


def _linux_mounts() -> list[tuple[str, str]]:
    try:
        lines = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return []
    mounts = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 3:
            mounts.append((fields[1].replace("\\040", " "), fields[2]))
    return mounts


def _bsd_mounts() -> list[tuple[str, str]]:
    import re
    import subprocess

    try:
        output = subprocess.run(["mount"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return re.findall(r" on (.+?) \((\w+)", output)


def _sqlite_engine(path: Path, sharing: SharingMode) -> Engine:
    read_only = sharing is SharingMode.READ_ONLY
    file_uri = _read_only_uri(path, writable=False) if read_only else f"file:{quote(str(path))}?"
    url = f"sqlite:///{file_uri}&uri=true"
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
    journal_mode = "WAL" if sharing is SharingMode.LOCAL_WAL else "DELETE"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Take transaction control away from the sqlite3 module (SQLAlchemy's pysqlite recipe):
        # the "begin" hook below decides between BEGIN and BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if not read_only:
            mode = cursor.execute(f"PRAGMA journal_mode = {journal_mode}").fetchone()[0]
            if mode.upper() != journal_mode:
                log.warning("%s stays in journal mode %s (wanted %s)", path, mode, journal_mode)
            cursor.execute("PRAGMA synchronous = FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        writing = conn.get_execution_options().get("modelledger_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")

    return engine


# -- schema and errors ----------------------------------------------------------------------------


def _current_revision(conn: Connection) -> str | None:
    if not conn.dialect.has_table(conn, "alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _migrate_if_needed(database: Database, revision: str | None) -> None:
    if revision == schema.HEAD_REVISION:
        return
    if revision is not None and database.sqlite_path is not None:
        backup = backup_sqlite_file(database, f"before-{schema.HEAD_REVISION}")
        log.info("backed up %s to %s before upgrading its schema from %s",
                 database.sqlite_path, backup, revision)
    database.write(schema.upgrade_to_head)


def backup_sqlite_file(database: Database, label: str) -> Path:
    """A consistent copy beside the file (SQLite's online backup, safe while others read)."""
    assert database.sqlite_path is not None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = database.sqlite_path.with_name(f"{database.sqlite_path.name}.{label}-{stamp}.bak")
    source = sqlite3.connect(str(database.sqlite_path))
    try:
        copy = sqlite3.connect(str(target))
        try:
            source.backup(copy)
        finally:
            copy.close()
    finally:
        source.close()
    return target


def translate_database_error(exc: DBAPIError, where: str) -> ModelLedgerError | None:
    """The known error behind a driver exception, or None if it is a bug."""
    orig = exc.orig
    if orig is not None and type(orig).__module__.startswith("psycopg"):
        sqlstate = getattr(orig, "sqlstate", "") or ""
        if sqlstate in ("40001", "40P01", "55P03"):
            return DatabaseBusyError(f"{where} is busy; try again in a moment.")
        if sqlstate.startswith("08"):
            return ModelLedgerError(f"Lost the connection to {where}: {orig}.")
        if sqlstate == "53100":
            return DiskFullError(f"The database server for {where} is out of disk space.")
        if sqlstate == "25006":
            return ReadOnlyWorkspaceError(f"{where} is read-only for this user.")
        if sqlstate == "42501":  # insufficient_privilege: the grants said no
            message = getattr(getattr(orig, "diag", None), "message_primary", None) or orig
            return ReadOnlyWorkspaceError(
                f"The database login you connect to {where} with may not do this ({message}); "
                "nothing was written. A viewer's login only reads, and a login no admin has "
                "mapped to a person may not even read: an admin maps it and applies the grants "
                "with `modelledger postgres grant --apply --map PERSON=LOGIN`.")
        return None
    return _translate_sqlite_message(str(orig if orig is not None else exc), where)


def _translate_sqlite_message(message: str, where: str) -> ModelLedgerError | None:
    lowered = message.lower()
    if "locked" in lowered or "busy" in lowered:
        return DatabaseBusyError(
            f"{where} stayed locked by another user for over {WRITE_RETRY_DEADLINE_S:.0f} s. "
            "Try again; if it keeps happening, move the team to PostgreSQL (see the README)."
        )
    if "readonly" in lowered or "read-only" in lowered:
        return ReadOnlyWorkspaceError(
            f"{where} cannot be written (read-only file or folder). Ask its owner for write "
            "access, or copy it and open the copy."
        )
    if "disk is full" in lowered or "disk full" in lowered:
        return DiskFullError(
            f"The disk holding {where} is full; nothing was saved. Free some space and try again."
        )
    if "malformed" in lowered or "not a database" in lowered:
        return CorruptDatabaseError(f"{where} is damaged ({message}). Restore it from a backup.")
    if "unable to open" in lowered:
        return ModelLedgerError(
            f"Cannot open {where} ({message}). Check that the file and its folder exist and can "
            "be read."
        )
    return None


__all__ = ["Database", "NewerSchemaError", "SharingMode", "is_network_path"]
