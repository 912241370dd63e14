"""PostgreSQL identity: each person mapped to a database login, and the GRANTs that make the
database itself refuse what their role does not allow.

A signature proves who made a decision, but on a shared database anyone who can write rows can
still write them. On PostgreSQL the login is authenticated by the server, so the grants can stop
the write: a viewer's login reads only, and no login may change or delete the audit log (or the
other histories the application only appends to). The audit appender refuses to write as a
person whose mapped login is not the connection's ``session_user``
(``storage.audit_log.check_database_login``).

Three group roles per database (roles are shared by every database of a server, so each
workspace names its own): a viewer's login joins ``<database>_readers``; the login of someone
mapped before an admin approved their enrolment joins ``<database>_newcomers``, which may only
ask to be enrolled (without it, nobody could join a workspace that maps logins); everyone
else's joins ``<database>_writers``. The writers' grants are the same for developers,
validators, owners and admins; the difference between those is enforced by the signed roles
(core.identity), which the database cannot see.

``grant_statements`` is pure; ``plan_grants`` reads what it needs and ``apply_grants`` runs the
statements and records the mapping as signed events, in one transaction.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
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
# What an enrolment request writes (services.identity.service.request_enrolment).
ENROLMENT_TABLES = ("audit_events", "identity_keys")
# The schema revision: read by every client, changed only by the owner when it migrates.
SCHEMA_TABLES = ("alembic_version",)

# Plain identifiers only: they are written into SQL (and into a DO block's message) unquoted
# by psql users, and must not need escaping anywhere.
_LOGIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_MAX_IDENTIFIER = 63


class PostgresOnlyError(InvalidInputError):
    """Database grants asked for on a workspace that is not on PostgreSQL."""


@dataclass(frozen=True)
class GrantGroups:
    """The group roles of one database, and what each lets its members do."""

    readers: str
    newcomers: str
    writers: str

    @classmethod
    def of(cls, database: str) -> GrantGroups:
        base = re.sub(r"[^a-z0-9_]", "_", database.lower())
        longest = _MAX_IDENTIFIER - len("_newcomers")
        if len(base) > longest:
            base = base[:longest - 9] + "_" + hashlib.sha256(database.encode()).hexdigest()[:8]
        return cls(f"{base}_readers", f"{base}_newcomers", f"{base}_writers")

    @property
    def every(self) -> tuple[str, str, str]:
        return self.readers, self.newcomers, self.writers

    def for_role(self, role: Role | None) -> str:
        """No role: mapped before their enrolment was approved."""
        if role is None:
            return self.newcomers
        return self.readers if role is Role.VIEWER else self.writers

    def access(self, group: str) -> str:
        return {
            self.readers: "SELECT only",
            self.newcomers: "reads, and may only ask to be enrolled; apply the grants again "
                            "once their enrolment is approved",
            self.writers: "reads and writes; no UPDATE, DELETE or TRUNCATE on the audit log",
        }[group]


def workspace_tables() -> list[str]:
    """Every table of a ModelLedger workspace, the schema revision's included."""
    return sorted([table.name for table in metadata.sorted_tables] + list(SCHEMA_TABLES))


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
                     sequences: Sequence[str], members: Mapping[str, str],
                     former_members: Iterable[str] = (),
                     table_owners: Collection[str] = ()) -> list[str]:
    """The SQL that makes ``database``'s grants match the mapping. ``members`` maps each
    mapped login to the group it joins (``GrantGroups``); ``former_members`` are logins in the
    groups that are no longer mapped and leave them. Every table's privileges are taken back
    from PUBLIC, the groups and the members' own logins (all but the tables' owners, who keep
    theirs) and granted afresh, so the result does not depend on what was granted before, and
    the statements are safe to run again."""
    groups = GrantGroups.of(database)
    every_group = ", ".join(map(_ident, groups.every))
    every_table = ", ".join(map(_ident, tables))
    data = [name for name in tables if name not in SCHEMA_TABLES]
    changeable = [name for name in data if name not in APPEND_ONLY_TABLES]
    statements = [
        *map(_create_group, groups.every),
        f"GRANT CONNECT ON DATABASE {_ident(database)} TO {every_group}",
        f"GRANT USAGE ON SCHEMA {_ident(schema)} TO {every_group}",
        f"REVOKE ALL ON TABLE {every_table} FROM PUBLIC, {every_group}",
        f"GRANT SELECT ON TABLE {every_table} TO {every_group}",
        f"GRANT INSERT ON TABLE {', '.join(map(_ident, ENROLMENT_TABLES))} "
        f"TO {_ident(groups.newcomers)}",
        f"GRANT INSERT ON TABLE {', '.join(map(_ident, data))} TO {_ident(groups.writers)}",
        f"GRANT UPDATE, DELETE ON TABLE {', '.join(map(_ident, changeable))} "
        f"TO {_ident(groups.writers)}",
    ]
    if sequences:
        # Sequence names come from pg_get_serial_sequence, already quoted where they need it.
        listed = ", ".join(sequences)
        statements += [f"REVOKE ALL ON SEQUENCE {listed} FROM PUBLIC, {every_group}",
                       f"GRANT USAGE, SELECT ON SEQUENCE {listed} TO "
                       f"{_ident(groups.newcomers)}, {_ident(groups.writers)}"]
    for login in sorted(former_members):
        check_login_name(login)
        if login not in table_owners:
            statements.append(f"REVOKE ALL ON TABLE {every_table} FROM {_ident(login)}")
        statements.append(f"REVOKE {every_group} FROM {_ident(login)}")
    for login, group in sorted(members.items()):
        check_login_name(login)
        statements.append(_require_login(login))
        if login not in table_owners:
            statements.append(f"REVOKE ALL ON TABLE {every_table} FROM {_ident(login)}")
        others = ", ".join(_ident(other) for other in groups.every if other != group)
        statements += [f"REVOKE {others} FROM {_ident(login)}",
                       f"GRANT {_ident(group)} TO {_ident(login)}"]
    return statements


@dataclass(frozen=True)
class GrantPlan:
    """What ``modelledger postgres grant`` prints or applies."""

    database: str
    connected_as: str
    groups: GrantGroups
    logins: Mapping[str, str]  # person -> login, the recorded mapping with the changes
    changes: Mapping[str, str]  # person -> login: what this run changes in the mapping
    roles: Mapping[str, Role | None]  # person -> their role (None: not approved yet)
    missing_logins: tuple[str, ...]  # mapped logins the server does not have yet
    unlimited: tuple[str, ...]  # mapped logins no grant limits: superusers, the tables' owner
    out_of_date: tuple[str, ...]  # mapped logins not (only) in their group on the server yet
    statements: tuple[str, ...]

    def group_of(self, person: str) -> str:
        return self.groups.for_role(self.roles[person])

    def sql(self) -> str:
        header = (f"-- ModelLedger grants for database {self.database}: viewers' logins join "
                  f"{self.groups.readers} (SELECT only), the logins of people not approved yet "
                  f"{self.groups.newcomers} (enrolment only), everyone else's "
                  f"{self.groups.writers}; no login may UPDATE, DELETE or TRUNCATE the audit "
                  "log.\n")
        return header + "".join(f"{statement};\n" for statement in self.statements)


def _mapped(conn: Connection, acting: str, connected: str, changes: Mapping[str, str]
            ) -> tuple[dict[str, str], dict[str, str], dict[str, Role | None]]:
    """The mapping with ``changes`` on top, what differs from the recorded one, and each
    mapped person's role. The person ``acting`` is mapped to the ``connected`` login when
    neither is mapped yet: the first run of the grants maps the admin who runs them."""
    logins = database_logins(conn)
    roles: dict[str, Role | None] = {user.name: user.role for user in repo.list_users(conn)}
    effective = dict(logins)
    for person, login in changes.items():
        effective[person] = check_login_name(login)
    if acting not in effective and connected not in effective.values():
        effective[acting] = connected
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
    return effective, changed, {person: roles.get(person) for person in effective}


def _require_postgresql(conn: Connection) -> None:
    if conn.dialect.name != "postgresql":
        raise PostgresOnlyError(
            "Database logins and grants apply to PostgreSQL workspaces only. On a SQLite file "
            "anyone who can write the file can write rows, and the signatures that "
            "`modelledger audit verify` checks are what finds a forged one. Move the team to "
            "PostgreSQL first (`modelledger copy-to postgresql://...`).")


def _plan(conn: Connection, acting: str, changes: Mapping[str, str]) -> GrantPlan:
    _require_postgresql(conn)
    connected = connected_login(conn) or ""
    effective, changed, roles = _mapped(conn, acting, connected, changes)
    database, schema = conn.execute(text("SELECT current_database(), current_schema()")).one()
    groups = GrantGroups.of(database)
    tables = workspace_tables()
    sequences = list(conn.execute(text(
        "SELECT DISTINCT pg_get_serial_sequence(format('%I.%I', table_schema, table_name), "
        "column_name) AS sequence FROM information_schema.columns WHERE table_schema = "
        "current_schema() AND table_name IN :tables AND pg_get_serial_sequence(format('%I.%I', "
        "table_schema, table_name), column_name) IS NOT NULL ORDER BY 1"
    ).bindparams(bindparam("tables", expanding=True)), {"tables": tables}).scalars())
    owners = set(conn.execute(text(
        "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = current_schema() AND "
        "tablename IN :tables").bindparams(bindparam("tables", expanding=True)),
        {"tables": tables}).scalars())
    known = dict(conn.execute(text(
        "SELECT rolname, rolsuper FROM pg_roles WHERE rolname IN :logins"
    ).bindparams(bindparam("logins", expanding=True)),
        {"logins": list(effective.values())}).all())
    on_server: dict[str, set[str]] = {}
    for member, group in conn.execute(text(
            "SELECT member.rolname, grp.rolname FROM pg_auth_members AS m JOIN pg_roles AS grp "
            "ON grp.oid = m.roleid JOIN pg_roles AS member ON member.oid = m.member WHERE "
            "grp.rolname IN :groups").bindparams(bindparam("groups", expanding=True)),
            {"groups": list(groups.every)}):
        on_server.setdefault(member, set()).add(group)
    members = {login: groups.for_role(roles[person]) for person, login in effective.items()}
    statements = grant_statements(
        database=database, schema=schema, tables=tables, sequences=sequences, members=members,
        former_members=set(on_server) - set(effective.values()), table_owners=owners)
    return GrantPlan(
        database=database, connected_as=connected, groups=groups, logins=effective,
        changes=changed, roles=roles,
        missing_logins=tuple(sorted(set(effective.values()) - set(known))),
        unlimited=tuple(sorted(login for login, is_super in known.items()
                               if is_super or login in owners)),
        out_of_date=tuple(sorted(login for login, group in members.items()
                                 if on_server.get(login) != {group})),
        statements=tuple(statements))


def plan_grants(database: Database, acting: str,
                changes: Mapping[str, str] | None = None) -> GrantPlan:
    """The grants for the recorded mapping with ``changes`` (person -> login) on top, as
    ``acting`` would apply them over this connection's login; nothing is written."""
    return database.read(lambda conn: _plan(conn, acting, changes or {}))


def apply_grants(database: Database, actor: Actor, bus: ChangeBus,
                 changes: Mapping[str, str] | None = None, *, reason: str = "",
                 clock: Clock = utc_now) -> GrantPlan:
    """Record ``changes`` to the mapping (signed events by ``actor``, an admin) and run the
    grants, in one transaction: either all of it happens or none. Needs a login that may
    create roles and grant on the tables: a superuser, or their owner with CREATEROLE."""
    def unit(conn, audit, now) -> GrantPlan:
        plan = _plan(conn, actor.user, changes or {})
        _check_may_grant(conn, plan)
        mine = plan.logins.get(actor.user)
        if mine != plan.connected_as:
            # Grants need the owner's (or a superuser's) login; an admin who is not mapped to
            # it could never run them again.
            raise InvalidInputError(
                f"You apply the grants connected as {plan.connected_as}, but this would map "
                f"you ({actor.user}) to {mine or 'no login'}, and you could not apply them again "
                f"over {plan.connected_as}. Map yourself to the login you apply them with "
                f"(--map {actor.user}={plan.connected_as}). Nothing was written.")
        if plan.missing_logins:
            missing = ", ".join(plan.missing_logins)
            raise NotFoundError(
                f"The server has no login {missing} yet; create it first (CREATE ROLE "
                f"{plan.missing_logins[0]} LOGIN PASSWORD '…'), then apply again. Nothing was "
                "written.")
        recorded = database_logins(conn)
        for person, login in sorted(plan.changes.items()):
            audit.append(DB_LOGIN_MAPPED, "user", person,
                         before={"db_login": recorded.get(person)},
                         after={"user": person, "db_login": login},
                         reason=reason or f"{person} connects to {plan.database} as {login}")
        if plan.changes:
            repo.put_setting(conn, DB_LOGINS_SETTING, dict(plan.logins), actor.user, now)
        for statement in plan.statements:
            conn.exec_driver_sql(statement)
        audit.append(GRANTS_APPLIED, "database", plan.database, after={
            "groups": list(plan.groups.every),
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


# -- reading the mapping --------------------------------------------------------------------------

@dataclass(frozen=True)
class LoginStanding:
    """The database login a connection is made with, and whether ``user`` may write over it."""

    user: str
    connected_as: str
    mapped_login: str | None  # the login ``user`` is mapped to
    login_mapped_to: str | None  # the person ``connected_as`` is mapped to
    mapping_in_force: bool  # an admin has mapped people to logins

    @property
    def may_write(self) -> bool:
        return not self.mapping_in_force or self.mapped_login == self.connected_as

    def describe(self) -> str:
        if not self.mapping_in_force:
            return (f"{self.connected_as} (nobody is mapped to a database login yet: any "
                    "login writes as anyone)")
        if self.may_write:
            return f"{self.connected_as}, mapped to {self.user}"
        whose = (f"mapped to {self.login_mapped_to}" if self.login_mapped_to
                 else "mapped to nobody")
        if self.mapped_login:
            return (f"{self.connected_as} ({whose}): {self.user} writes only when connected "
                    f"as {self.mapped_login}")
        return (f"{self.connected_as} ({whose}): {self.user} is mapped to no login and "
                "cannot write here")


def login_standing(database: Database, user: str) -> LoginStanding | None:
    """Where ``user`` stands with this connection's database login; None on SQLite."""
    def read(conn: Connection) -> LoginStanding | None:
        connected = connected_login(conn)
        if connected is None:
            return None
        logins = database_logins(conn)
        owner = next((person for person, login in logins.items() if login == connected), None)
        return LoginStanding(user, connected, logins.get(user), owner, bool(logins))

    return database.read(read)
