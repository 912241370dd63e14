"""PostgreSQL identity on a real server: people mapped to database logins, and grants that make
the server itself refuse what a person's role does not allow, even to raw SQL."""

from __future__ import annotations

import uuid
from typing import ClassVar

import psycopg
import pytest
from psycopg import errors as pg_errors

from modelledger.core.audit_chain import canonical_json, event_hash
from modelledger.core.domain import Role, Stage
from modelledger.core.errors import ReadOnlyWorkspaceError
from modelledger.services.identity import keystore
from modelledger.services.identity.postgres_grants import (
    GrantGroups,
    login_standing,
    workspace_tables,
)
from modelledger.services.workspace.opening import Workspace
from modelledger.storage.audit_log import DatabaseLoginMismatchError
from tests.conftest import person, run_cli

pytestmark = pytest.mark.postgres
# Histories nobody may change or empty, whatever their role (the audit log first).
APPEND_ONLY = ("audit_events", "stage_changes", "alert_notes")


class Team:
    """A PostgreSQL workspace created by alice over the server's owner login, with bob
    (validator), carol (developer) and victor (viewer) enrolled, and a database login made for
    each of the three by the "database administrator" (logins are shared by the whole server,
    so each test's have names of their own)."""

    ROLES: ClassVar = {"bob": Role.VALIDATOR, "carol": Role.DEVELOPER, "victor": Role.VIEWER}

    def __init__(self, url: str, tmp_path) -> None:
        self.owner_url = url  # postgresql://ledger@host:port/database; ledger is a superuser
        self.artifacts = tmp_path / "artifacts"
        self.alice = Workspace.open(url, create=True, user="alice", artifact_root=self.artifacts)
        for name, role in self.ROLES.items():
            person(self.alice, name, role)
        suffix = uuid.uuid4().hex[:8]
        self.logins = {name: f"{name}_{suffix}" for name in self.ROLES}
        with psycopg.connect(url, autocommit=True) as conn:
            for login in self.logins.values():
                conn.execute(f"CREATE ROLE {login} LOGIN PASSWORD 'not-used-under-trust'")
        self._opened = [self.alice]

    def url_of(self, name: str) -> str:
        """The workspace URL with ``name``'s database login instead of the owner's."""
        return self.owner_url.replace("://ledger@", f"://{self.logins[name]}:secret@", 1)

    def open_as(self, user: str, login_of: str) -> Workspace:
        workspace = Workspace.open(self.url_of(login_of), user=user,
                                   artifact_root=self.artifacts)
        self._opened.append(workspace)
        return workspace

    def raw(self, login_of: str) -> psycopg.Connection:
        return psycopg.connect(self.url_of(login_of))

    def grant(self, *extra: str, apply: bool = True, user: str = "alice", url: str | None = None):
        maps = [argument for name, login in self.logins.items()
                for argument in ("--map", f"{name}={login}")]
        return run_cli("-w", url or self.owner_url, "-u", user, "postgres", "grant",
                       *(["--apply"] if apply else []), *maps, *extra)

    def close(self) -> None:
        for workspace in self._opened:
            workspace.close()


@pytest.fixture
def team(postgres_url, tmp_path):
    opened = Team(postgres_url, tmp_path)
    yield opened
    opened.close()


@pytest.fixture
def granted(team):
    result = team.grant()
    assert result.returncode == 0, result.stderr
    return team


def forged_approval(conn: psycopg.Connection) -> tuple[str, dict]:
    """An approval event inserted by hand, with a correctly recomputed link to the chain head:
    what someone with a login and psql would try."""
    seq, head = conn.execute(
        "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1").fetchone()
    fields = {"seq": seq + 1, "occurred_at": "2026-01-01T00:00:00.000000Z", "actor": "bob",
              "host": "laptop", "action": "promotion.approved",
              "entity_type": "promotion_request", "entity_id": "credit/1",
              "before": canonical_json({}), "after": canonical_json({"status": "approved"}),
              "reason": "looks fine", "prev_hash": head}
    row = {**fields, "hash": event_hash(**fields)}
    statement = ("INSERT INTO audit_events (seq, occurred_at, actor, host, action, entity_type, "
                 "entity_id, before_json, after_json, reason, prev_hash, hash) VALUES "
                 "(%(seq)s, %(occurred_at)s, %(actor)s, %(host)s, %(action)s, %(entity_type)s, "
                 "%(entity_id)s, %(before)s, %(after)s, %(reason)s, %(prev_hash)s, %(hash)s)")
    return statement, row


def audit_count(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM audit_events").fetchone()[0]


def test_grant_without_apply_prints_the_statements_and_changes_nothing(team):
    events_before = team.alice.audit.head_seq()
    result = team.grant(apply=False)
    assert result.returncode == 0, result.stderr
    groups = GrantGroups.of(team.alice.database.engine.url.database)
    sql = result.stdout
    victor, carol = team.logins["victor"], team.logins["carol"]
    assert f'GRANT "{groups.readers}" TO "{victor}";' in sql
    assert f'GRANT "{groups.writers}" TO "{carol}";' in sql
    assert f'GRANT "{groups.writers}" TO "ledger";' in sql  # alice, mapped to her own login
    assert "REVOKE ALL ON TABLE" in sql and "FROM PUBLIC" in sql
    update_grant = next(line for line in sql.splitlines() if line.startswith("GRANT UPDATE"))
    assert '"registered_models"' in update_grant
    assert not any(f'"{table}"' in update_grant for table in APPEND_ONLY)
    assert not any("TRUNCATE" in line for line in sql.splitlines() if line.startswith("GRANT"))
    assert "Not applied and not recorded" in sql

    assert team.alice.audit.head_seq() == events_before
    with psycopg.connect(team.owner_url) as conn:
        made = conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = ANY(%s)",
                            [list(groups.every)]).fetchone()[0]
        assert made == 0
        assert not login_standing(team.alice.database, "alice").mapping_in_force

        # The printed script is meant for psql as it is: run as a superuser, it is enough.
        conn.execute(sql)
        conn.commit()
    with team.raw("victor") as conn, pytest.raises(pg_errors.InsufficientPrivilege):
        conn.execute("INSERT INTO users (name, display_name, role, created_at) VALUES "
                     "('mallory', 'Mallory', 'admin', now())")


def test_viewer_login_cannot_insert_an_approval_or_any_row_even_with_raw_sql(granted):
    team = granted
    with team.raw("victor") as conn:
        events = audit_count(conn)  # a viewer reads
        statement, row = forged_approval(conn)
        with pytest.raises(pg_errors.InsufficientPrivilege, match="audit_events"):
            conn.execute(statement, row)
        conn.rollback()
        for table in workspace_tables():
            for attempt in (f"INSERT INTO {table} DEFAULT VALUES", f"DELETE FROM {table}",
                            f"UPDATE {table} SET {_first_column(conn, table)} = NULL"):
                with pytest.raises(pg_errors.InsufficientPrivilege):
                    conn.execute(attempt)
                conn.rollback()
        with pytest.raises(pg_errors.InsufficientPrivilege):
            conn.execute("UPDATE workspace_settings SET value_json = '{}'")
        conn.rollback()
        assert audit_count(conn) == events
    # The same forged insert is accepted from a developer's login (it is the viewer's grants
    # that refused it, not a mistake in the statement), and `audit verify` then names it.
    with team.raw("carol") as conn:
        statement, row = forged_approval(conn)
        conn.execute(statement, row)
        conn.commit()
    verified = run_cli("-w", team.owner_url, "-u", "alice", "audit", "verify")
    assert verified.returncode == 3
    assert f"PROBLEM at event {row['seq']}" in verified.stdout
    assert "not signed" in verified.stdout


def _first_column(conn: psycopg.Connection, table: str) -> str:
    return conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
        "ORDER BY ordinal_position LIMIT 1", [table]).fetchone()[0]


def test_viewer_reads_through_the_application_and_its_writes_are_refused_clearly(granted):
    team = granted
    team.alice.registry.register_model("credit")
    victor = team.open_as("victor", login_of="victor")
    assert [s.model.name for s in victor.registry.list_models()] == ["credit"]
    listed = run_cli("-w", team.url_of("victor"), "-u", "victor", "model", "list")
    assert listed.returncode == 0 and "credit" in listed.stdout, listed.stderr
    # A viewer's own writes (recording an export) are stopped by the server, with a message.
    refused = run_cli("-w", team.url_of("victor"), "-u", "victor", "audit", "export",
                      "--out", str(team.artifacts.parent / "pack.zip"))
    assert refused.returncode != 0
    assert "may not do this (permission denied for table" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_developer_login_cannot_update_delete_or_truncate_the_audit_log(granted):
    team = granted
    carol = team.open_as("carol", login_of="carol")
    carol.registry.register_model("churn")  # the mapped person works normally
    carol.registry.add_version("churn", metrics={"auc": 0.8})
    with team.raw("carol") as conn:
        events = audit_count(conn)
        for table in APPEND_ONLY:
            for attempt in (f"UPDATE {table} SET id = id" if table != "audit_events"
                            else "UPDATE audit_events SET reason = 'tidied'",
                            f"DELETE FROM {table}", f"TRUNCATE {table}"):
                # The server's grants refuse it, before the append-only trigger is reached.
                with pytest.raises(pg_errors.InsufficientPrivilege):
                    conn.execute(attempt)
                conn.rollback()
        conn.execute("UPDATE registered_models SET description = 'edited by hand'")
        conn.rollback()  # a writer's login does write the tables that change
        assert audit_count(conn) == events


def test_acting_as_alice_over_bobs_login_is_refused_and_writes_nothing(granted):
    team = granted
    bob_login = team.logins["bob"]
    impostor = team.open_as("alice", login_of="bob")
    events = team.alice.audit.head_seq()
    with pytest.raises(DatabaseLoginMismatchError) as refused:
        impostor.registry.register_model("sneaky")
    message = str(refused.value)
    assert "signed in as alice" in message and f"database login {bob_login}" in message
    assert "mapped to bob" in message and "connect as the login ledger" in message
    assert "Nothing was written" in message
    through_cli = run_cli("-w", team.url_of("bob"), "-u", "alice", "model", "register",
                          "sneaky")
    assert through_cli.returncode == 4, through_cli.stderr
    assert f"database login {bob_login}" in through_cli.stderr
    assert "Traceback" not in through_cli.stderr
    assert team.alice.audit.head_seq() == events
    assert team.alice.registry.list_models() == []

    # The people mapped to their logins work normally, and every decision verifies.
    carol = team.open_as("carol", login_of="carol").registry
    carol.register_model("credit")
    carol.add_version("credit")
    carol.move_to_stage("credit", 1, Stage.STAGING, "ready")
    request = carol.request_promotion("credit", 1, "ready")
    team.open_as("bob", login_of="bob").registry.approve_promotion(request.id, "checked")
    assert team.alice.registry.list_versions("credit")[0].stage is Stage.PRODUCTION
    verified = run_cli("-w", team.owner_url, "-u", "alice", "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "Every decision is signed" in verified.stdout
    whoami = run_cli("-w", team.url_of("bob"), "-u", "bob", "user", "whoami")
    assert whoami.returncode == 0 and f"database login {bob_login}, mapped to bob" in whoami.stdout


def test_a_newcomer_enrols_over_the_login_mapped_to_them_and_writes_once_approved(granted):
    team = granted
    dave_login = f"dave_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(team.owner_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {dave_login} LOGIN PASSWORD 'not-used-under-trust'")
    team.logins["dave"] = dave_login
    key = keystore.create_key("dave")
    # Not mapped yet: refused over someone else's login, and over his own unmapped one.
    with pytest.raises(DatabaseLoginMismatchError, match="mapped to alice"):
        team.alice.as_user("dave").identity.request_enrolment(key)
    with pytest.raises(ReadOnlyWorkspaceError,
                       match=r"may not even read.*postgres grant --apply --map PERSON=LOGIN"):
        team.open_as("dave", login_of="dave")

    mapped = team.grant()
    assert mapped.returncode == 0, mapped.stderr
    assert f"dave (not approved yet) connects as {dave_login}" in mapped.stdout
    dave = team.open_as("dave", login_of="dave")
    dave.identity.request_enrolment(key)
    with team.raw("dave") as conn, pytest.raises(pg_errors.InsufficientPrivilege):
        conn.execute("INSERT INTO registered_models DEFAULT VALUES")  # enrolment only

    approved = run_cli("-w", team.owner_url, "-u", "alice", "user", "approve", "dave",
                       "--role", "developer")
    assert approved.returncode == 0, approved.stderr
    assert "postgres grant --apply" in approved.stdout
    plan = team.grant(apply=False)
    groups = GrantGroups.of(team.alice.database.engine.url.database)
    assert f'GRANT "{groups.writers}" TO "{dave_login}";' in plan.stdout
    assert "Not applied and not recorded" in plan.stdout
    assert team.grant().returncode == 0
    dave.registry.register_model("dave-model")
    assert [s.model.name for s in team.alice.registry.list_models()] == ["dave-model"]


def test_only_an_admin_over_the_owners_login_applies_grants_and_cannot_lock_themselves_out(
        granted):
    team = granted
    events = team.alice.audit.head_seq()
    by_validator = team.grant(user="bob", url=team.url_of("bob"))
    assert by_validator.returncode == 1
    assert f"The login {team.logins['bob']} may not apply the grants" in by_validator.stderr
    lockout = team.grant("--map", f"alice={team.logins['carol']}_x")
    assert lockout.returncode == 2 and "could not apply them again" in lockout.stderr
    assert "Traceback" not in by_validator.stderr + lockout.stderr
    assert team.alice.audit.head_seq() == events
