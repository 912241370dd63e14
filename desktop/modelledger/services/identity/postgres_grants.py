"""PostgreSQL identity: each person mapped to a database login, and the GRANTs that make the
database itself refuse what their role does not allow.

A signature proves who made a decision, but on a shared database anyone who can write rows can
still write them. On PostgreSQL the login is authenticated by the server, so the grants can stop
the write: a viewer's login reads only, and no login may change or delete the audit log (or the
other histories the application only appends to). The audit appender refuses to write as a
person whose mapped login is not the connection's ``session_user``
(``storage.audit_log.check_database_login``).

Two group roles per database, ``<database>_readers`` and ``<database>_writers`` (roles are
shared by every database of a server, so each workspace names its own): a viewer's login joins
the readers, everyone else's the writers. The writers' grants are the same for developers,
validators, owners and admins; the difference between those is enforced by the signed roles
(core.identity), which the database cannot see.

``grant_statements`` is pure; ``plan_grants`` reads what it needs and ``apply_grants`` runs the
statements and records the mapping as signed events, in one transaction.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, text

from modelledger.core.domain import Actor, Role
from modelledger.core.errors import InvalidInputError, ModelLedgerError, NotFoundError
from modelledger.services.changes.events import ChangeBus, ChangeEvent
from modelledger.services.changes.unit_of_work import Clock, audited_write
from modelledger.storage import repositories as repo
from modelledger.storage.audit_log import (
    DB_LOGINS_SETTING,
    connected_login,
    database_logins,
)
from modelledger.storage.database import Database
from modelledger.storage.tables import metadata, utc_now

DB_LOGIN_MAPPED = "identity.db_login_mapped"
GRANTS_APPLIED = "postgres.grants_applied"

# Histories the application only ever appends to: writers may INSERT and SELECT, nothing more.
# audit_events is also guarded by triggers, which hold even for the tables' owner.
APPEND_ONLY_TABLES = ("audit_events", "stage_changes", "alert_notes")
# The schema revision: read by every client, changed only by the owner when it migrates.
SCHEMA_TABLES = ("alembic_version",)

# Plain identifiers only: they are written into SQL (and into a DO block's message) unquoted
# by psql users, and must not need escaping anywhere.
_LOGIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_MAX_IDENTIFIER = 63


class PostgresOnlyError(InvalidInputError):
    """Database grants asked for on a workspace that is not on PostgreSQL."""


def workspace_tables() -> list[str]:
    """Every table of a ModelLedger workspace, the schema revision's included."""
    return sorted([table.name for table in metadata.sorted_tables] + list(SCHEMA_TABLES))


def group_names(database: str) -> tuple[str, str]:
    """The readers' and the writers' group role of one database."""
    base = re.sub(r"[^a-z0-9_]", "_", database.lower())
    longest = _MAX_IDENTIFIER - len("_writers")
    if len(base) > longest:
        base = base[:longest - 9] + "_" + hashlib.sha256(database.encode()).hexdigest()[:8]
    return f"{base}_readers", f"{base}_writers"


def check_login_name(login: str) -> str:
    if not _LOGIN.fullmatch(login):
        raise InvalidInputError(
            f"{login!r} is not a database login ModelLedger maps: use letters, digits and _ "
            "(starting with a letter or _), at most 63 characters.")
    return login


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _create_group(group: str) -> str:
    # PostgreSQL has no CREATE ROLE IF NOT EXISTS.
    return (f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
            f"{_literal(group)}) THEN CREATE ROLE {_ident(group)} NOLOGIN; END IF; END $$")


def _require_login(login: str) -> str:
    """Stop the script at a mapped login the server does not have: ModelLedger never makes
    logins (a login without a password is one anyone may use under trust authentication)."""
    message = f"create the login {login} first: CREATE ROLE {login} LOGIN PASSWORD ..."
    return (f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
            f"{_literal(login)}) THEN RAISE EXCEPTION {_literal(message)}; END IF; END $$")


def grant_statements(*, database: str, schema: str, tables: Sequence[str],
                     sequences: Sequence[str], members: Mapping[str, bool],
                     former_members: Iterable[str] = ()) -> list[str]:
    """The SQL that makes ``database``'s grants match the mapping. ``members`` maps each
    mapped login to whether it writes (False: a viewer's, SELECT only); ``former_members`` are
    logins in the groups that are no longer mapped and leave them. Safe to run again: every
    table's grants to the two groups are revoked first and granted afresh."""
    readers, writers = group_names(database)
    groups = f"{_ident(readers)}, {_ident(writers)}"
    every = ", ".join(_ident(name) for name in tables)
    data = [name for name in tables if name not in SCHEMA_TABLES]
    changeable = [name for name in data if name not in APPEND_ONLY_TABLES]
    statements = [
        _create_group(readers),
        _create_group(writers),
        f"GRANT CONNECT ON DATABASE {_ident(database)} TO {groups}",
        f"GRANT USAGE ON SCHEMA {_ident(schema)} TO {groups}",
        f"REVOKE ALL ON TABLE {every} FROM {groups}",
        f"GRANT SELECT ON TABLE {every} TO {groups}",
        f"GRANT INSERT ON TABLE {', '.join(map(_ident, data))} TO {_ident(writers)}",
        f"GRANT UPDATE, DELETE ON TABLE {', '.join(map(_ident, changeable))} "
        f"TO {_ident(writers)}",
    ]
    if sequences:
        # Sequence names come from pg_get_serial_sequence, already quoted where they need it.
        listed = ", ".join(sequences)
        statements += [f"REVOKE ALL ON SEQUENCE {listed} FROM {groups}",
                       f"GRANT USAGE, SELECT ON SEQUENCE {listed} TO {_ident(writers)}"]
    for login in sorted(former_members):
        statements.append(f"REVOKE {groups} FROM {_ident(check_login_name(login))}")
    for login, writes in sorted(members.items()):
        check_login_name(login)
        joins, leaves = (writers, readers) if writes else (readers, writers)
        statements += [_require_login(login),
                       f"REVOKE {_ident(leaves)} FROM {_ident(login)}",
                       f"GRANT {_ident(joins)} TO {_ident(login)}"]
    return statements


@dataclass(frozen=True)
class GrantPlan:
    """What ``modelledger postgres grant`` prints or applies."""

    database: str
    connected_as: str
    read_group: str
    write_group: str
    logins: Mapping[str, str]  # person -> login, the recorded mapping with the changes
    changes: Mapping[str, str]  # person -> login: what this run changes in the mapping
    roles: Mapping[str, Role]  # person -> their role in the workspace
    missing_logins: tuple[str, ...]  # mapped logins the server does not have yet
    superusers: tuple[str, ...]  # mapped logins that no grant can limit
    statements: tuple[str, ...]

    def group_of(self, person: str) -> str:
        return self.read_group if self.roles[person] is Role.VIEWER else self.write_group

    def sql(self) -> str:
        header = (f"-- ModelLedger grants for database {self.database}: viewers' logins join "
                  f"{self.read_group} (SELECT only), everyone else's {self.write_group}; no "
                  "login may UPDATE or DELETE the audit log.\n")
        return header + "".join(f"{statement};\n" for statement in self.statements)


def _mapped(conn: Connection, changes: Mapping[str, str]) -> tuple[dict, dict, dict]:
    logins = database_logins(conn)
    roles = {user.name: user.role for user in repo.list_users(conn)}
    effective = dict(logins)
    for person, login in changes.items():
        if person not in roles:
            raise NotFoundError(f"{person} is not a person in this workspace; map people who "
                                "were enrolled and approved (`modelledger user list`).")
        effective[person] = check_login_name(login)
    by_login: dict[str, list[str]] = {}
    for person, login in effective.items():
        by_login.setdefault(login, []).append(person)
    shared = {login: people for login, people in by_login.items() if len(people) > 1}
    if shared:
        login, people = sorted(shared.items())[0]
        raise InvalidInputError(
            f"The login {login} would be mapped to {' and '.join(sorted(people))}: a login "
            "stands for one person, or the database cannot tell who wrote.")
    changed = {person: login for person, login in effective.items()
               if logins.get(person) != login}
    return effective, changed, {person: roles.get(person, Role.VIEWER) for person in effective}


def _plan(conn: Connection, changes: Mapping[str, str]) -> GrantPlan:
    if conn.dialect.name != "postgresql":
        raise PostgresOnlyError(
            "Database grants apply to PostgreSQL workspaces only. On a SQLite file anyone who "
            "can write the file can write rows; signatures are what `audit verify` checks "
            "there. Move the team to PostgreSQL first (`modelledger copy-to postgresql://...`).")
    effective, changed, roles = _mapped(conn, changes)
    database, schema = conn.execute(text("SELECT current_database(), current_schema()")).one()
    readers, writers = group_names(database)
    tables = workspace_tables()
    sequences = list(conn.execute(text(
        "SELECT DISTINCT pg_get_serial_sequence(format('%I.%I', table_schema, table_name), "
        "column_name) AS sequence FROM information_schema.columns WHERE table_schema = "
        "current_schema() AND table_name IN :tables AND pg_get_serial_sequence(format('%I.%I', "
        "table_schema, table_name), column_name) IS NOT NULL ORDER BY 1"
    ).bindparams(bindparam("tables", expanding=True)), {"tables": tables}).scalars())
    known = dict(conn.execute(text(
        "SELECT rolname, rolsuper FROM pg_roles WHERE rolname IN :logins"
    ).bindparams(bindparam("logins", expanding=True)),
        {"logins": list(effective.values()) or [""]}).tuples().all())
    members = set(conn.execute(text(
        "SELECT member.rolname FROM pg_auth_members AS m JOIN pg_roles AS grp ON grp.oid = "
        "m.roleid JOIN pg_roles AS member ON member.oid = m.member WHERE grp.rolname IN "
        "(:readers, :writers)"), {"readers": readers, "writers": writers}).scalars())
    statements = grant_statements(
        database=database, schema=schema, tables=tables, sequences=sequences,
        members={login: roles[person] is not Role.VIEWER for person, login in effective.items()},
        former_members=members - set(effective.values()))
    return GrantPlan(
        database=database, connected_as=connected_login(conn) or "", read_group=readers,
        write_group=writers, logins=effective, changes=changed, roles=roles,
        missing_logins=tuple(sorted(set(effective.values()) - set(known))),
        superusers=tuple(sorted(login for login, is_super in known.items() if is_super)),
        statements=tuple(statements))


def plan_grants(database: Database, changes: Mapping[str, str] | None = None) -> GrantPlan:
    """The grants for the recorded mapping with ``changes`` (person -> login) on top; nothing
    is written."""
    return database.read(lambda conn: _plan(conn, changes or {}))


def apply_grants(database: Database, actor: Actor, bus: ChangeBus,
                 changes: Mapping[str, str] | None = None, *, reason: str = "",
                 clock: Clock = utc_now) -> GrantPlan:
    """Record ``changes`` to the mapping (signed events by ``actor``, an admin) and run the
    grants, in one transaction: either all of it happens or none. Needs a login that may
    create roles and grant on the tables: a superuser, or their owner with CREATEROLE."""
    def unit(conn, audit, now) -> GrantPlan:
        plan = _plan(conn, changes or {})
        _check_may_grant(conn, plan)
        if plan.missing_logins:
            missing = ", ".join(plan.missing_logins)
            raise NotFoundError(
                f"The server has no login {missing} yet; create it first (CREATE ROLE "
                f"{plan.missing_logins[0]} LOGIN PASSWORD '…'), then apply again. Nothing was "
                "written.")
        recorded = database_logins(conn)
        for person, login in sorted(plan.changes.items()):
            before = recorded.get(person)
            recorded[person] = login
            repo.put_setting(conn, DB_LOGINS_SETTING, recorded, actor.user, now)
            audit.append(DB_LOGIN_MAPPED, "user", person, before={"db_login": before},
                         after={"user": person, "db_login": login},
                         reason=reason or f"{person} connects to {plan.database} as {login}")
        for statement in plan.statements:
            conn.exec_driver_sql(statement)
        audit.append(GRANTS_APPLIED, "database", plan.database, after={
            "read_group": plan.read_group, "write_group": plan.write_group,
            "members": {login: plan.group_of(person)
                        for person, login in sorted(plan.logins.items())}},
            reason=reason or "database grants made to match the people's roles")
        return plan

    return audited_write(database, actor, bus, unit,
                         lambda plan: ChangeEvent("identity", plan.database, "changed"),
                         clock=clock)


def _check_may_grant(conn: Connection, plan: GrantPlan) -> None:
    superuser, create_role = conn.execute(text(
        "SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = session_user")).one()
    if superuser:
        return
    foreign = conn.execute(text(
        "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tableowner "
        "<> session_user AND tablename IN :tables").bindparams(
            bindparam("tables", expanding=True)), {"tables": workspace_tables()}).scalar_one()
    if foreign or not create_role:
        raise ModelLedgerError(
            f"The login {plan.connected_as} may not apply the grants: it needs to own the "
            "workspace's tables (the login that created it) and have CREATEROLE, or be a "
            "superuser. Connect as that login, or print the SQL (`modelledger postgres grant`) "
            "and give it to your database administrator. Nothing was written.")
