"""Appending to and reading the hash-chained audit log.

Appends happen inside the caller's write transaction, which already holds the database's single
write lock (``BEGIN IMMEDIATE`` on SQLite, the advisory lock on PostgreSQL), so reading the head
and inserting the next link cannot race with another writer. The unique constraints on
``prev_hash`` and ``hash`` are a second line of defence: a forked chain cannot be stored.

Once a workspace has signed identity, every event passes the role check here and is signed
here: no service can write a decision around either. A refused event raises, and the caller's
transaction rolls back with it, so nothing of the refused change is written.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Text,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from modelledger.core import identity
from modelledger.core.audit_chain import GENESIS_HASH, canonical_json, event_hash
from modelledger.core.domain import EVERY_EVENT, Actor, AuditEvent, EventFilter, Role
from modelledger.storage import identity_repo
from modelledger.storage.tables import audit_events, registered_models, users, workspace_settings

# The setting that turns signed identity on: the sequence number of the bootstrap event.
SIGNED_FROM_SETTING = "identity.signed_from_seq"
# On PostgreSQL, the database login each person must be connected as: {person: login}, decided
# by an admin (services.identity.postgres_grants). Absent: any login may write as anyone; once
# present, a person who is not mapped to the connection's login writes nothing.
DB_LOGINS_SETTING = "identity.db_logins"

# In AuditEvent's field order (see _event_from_row).
_COLUMNS = (
    audit_events.c.seq,
    audit_events.c.occurred_at,
    audit_events.c.actor,
    audit_events.c.host,
    audit_events.c.action,
    audit_events.c.entity_type,
    audit_events.c.entity_id,
    audit_events.c.before_json,
    audit_events.c.after_json,
    audit_events.c.reason,
    audit_events.c.prev_hash,
    audit_events.c.hash,
    audit_events.c.signer,
    audit_events.c.signature,
)


def utc_timestamp(moment: datetime | None = None) -> str:
    """The timestamp form that is hashed: ISO 8601, UTC, microseconds, 'Z'."""
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class AuditAppender:
    """Appends events to the chain within one write transaction.

    ``now`` is the transaction's moment: its events are stamped with it unless one names its
    own ``occurred_at`` (without it, each event is stamped when it is appended)."""

    def __init__(self, conn: Connection, actor: Actor, now: datetime | None = None) -> None:
        self._conn = conn
        self._actor = actor
        self._now = now
        head = conn.execute(
            select(audit_events.c.seq, audit_events.c.hash)
            .order_by(audit_events.c.seq.desc())
            .limit(1)
        ).first()
        self._next_seq = head.seq + 1 if head else 1
        self._prev_hash = head.hash if head else GENESIS_HASH
        check_database_login(conn, actor.user)
        self._identity = _SignedIdentity.of(conn, actor)

    def append(
        self,
        action: str,
        entity_type: str,
        entity_id: str | int,
        *,
        before: Mapping[str, Any] | None = None,
        after: Mapping[str, Any] | None = None,
        reason: str = "",
        occurred_at: datetime | None = None,
    ) -> AuditEvent:
        signs = self._signs(action)
        fields = {
            "seq": self._next_seq,
            "occurred_at": utc_timestamp(occurred_at or self._now),
            # A signed event names the key's owner; a scheduler's own events name the scheduler.
            "actor": self._actor.user if signs else self._actor.author,
            "host": self._actor.host,
            "action": action,
            "entity_type": entity_type,
            "entity_id": str(entity_id),
            "before": canonical_json(dict(before or {})),
            "after": canonical_json(dict(after or {})),
            "reason": reason,
            "prev_hash": self._prev_hash,
        }
        if self._identity is not None:
            self._identity.check(action, entity_type, fields["entity_id"], fields["before"],
                                 fields["after"])
        digest = event_hash(**fields)
        signer, signature = None, None
        if signs:
            signer = self._actor.signer.fingerprint
            signature = self._actor.signer.sign(identity.signed_message(digest)).hex()
        row = dict(fields)
        row["before_json"] = row.pop("before")
        row["after_json"] = row.pop("after")
        row.update(hash=digest, signer=signer, signature=signature)
        self._conn.execute(insert(audit_events), row)
        self._next_seq += 1
        self._prev_hash = digest
        return AuditEvent(**fields, hash=digest, signer=signer, signature=signature)

    def check_allowed(self, action: str, entity_type: str, entity_id: str,
                      after: Mapping[str, Any] | None = None) -> None:
        """Raise now what `append` of this action would raise (not signed in, a role that does
        not allow it), before long work whose result could then not be recorded."""
        if self._identity is not None:
            self._identity.check(action, entity_type, entity_id, "",
                                 canonical_json(dict(after or {})))

    def _signs(self, action: str) -> bool:
        """A scheduler's events are vouched for by its checkpoints; the bootstrap event is the
        first signed one, written before the setting that turns signing on."""
        if self._actor.signer is None:
            return False
        if action in (identity.BOOTSTRAPPED, identity.CHECKPOINT):
            return True
        return self._identity is not None and not self._actor.scheduler

    @property
    def next_seq(self) -> int:
        return self._next_seq

    @property
    def signed_identity(self) -> bool:
        """Whether the workspace has signed identity (every person's event signed, roles
        enforced)."""
        return self._identity is not None


class DatabaseLoginMismatchError(identity.NotSignedInError):
    """On PostgreSQL, signed in as one person but connected with a database login that an admin
    mapped to someone else, or to nobody."""


def connected_login(conn: Connection) -> str | None:
    """``session_user`` on PostgreSQL (None on SQLite), read once per database connection: it
    cannot change without SET SESSION AUTHORIZATION, which ModelLedger never runs."""
    if conn.dialect.name != "postgresql":
        return None
    login = conn.info.get("modelledger.session_user")
    if login is None:
        login = conn.execute(text("SELECT session_user")).scalar_one()
        conn.info["modelledger.session_user"] = login
    return login


def database_logins(conn: Connection) -> dict[str, str]:
    """Person -> the database login an admin mapped them to (empty when nobody is mapped)."""
    value = conn.execute(select(workspace_settings.c.value_json).where(
        workspace_settings.c.key == DB_LOGINS_SETTING)).scalar()
    return json.loads(value) if value is not None else {}


def check_database_login(conn: Connection, user: str) -> None:
    """Once a PostgreSQL workspace maps people to database logins, a write is refused unless
    the person acting is mapped to the login this connection is made with: the database's own
    grants (viewers read only) then hold for the person the events name."""
    connected = connected_login(conn)
    if connected is None:
        return
    logins = database_logins(conn)
    if not logins or logins.get(user) == connected:
        return
    others = sorted(person for person, login in logins.items() if login == connected)
    whose = (f"which is mapped to {', '.join(others)}" if others
             else "which is mapped to nobody")
    expected = logins.get(user)
    fix = (f"connect as the login {expected} (put it in the workspace URL, "
           f"postgresql://{expected}@host/database)" if expected
           else f"ask an admin to map {user} to a login with `modelledger postgres grant "
                f"--apply --map {user}=LOGIN`")
    raise DatabaseLoginMismatchError(
        f"You are signed in as {user}, but this connection uses the database login "
        f"{connected}, {whose}; {fix}. Nothing was written.")


class _SignedIdentity:
    """What signed identity asks of one write transaction's events: the actor's key is enrolled,
    approved and theirs, and their role allows each action."""

    def __init__(self, conn: Connection, actor: Actor) -> None:
        self._conn = conn
        self._actor = actor
        row = conn.execute(select(users.c.role).where(users.c.name == actor.user)).first()
        self._role = Role(row.role) if row else None
        four_eyes = conn.execute(select(workspace_settings.c.value_json).where(
            workspace_settings.c.key == identity.FOUR_EYES_SETTING)).scalar()
        self._single_user = four_eyes is not None and json.loads(four_eyes) is False
        # As the transaction found it: a key the unit itself approves must not sign the approval.
        self._key = identity_repo.find_key(conn, actor.signer.fingerprint)

    @classmethod
    def of(cls, conn: Connection, actor: Actor) -> _SignedIdentity | None:
        signed_from = conn.execute(select(workspace_settings.c.value_json).where(
            workspace_settings.c.key == SIGNED_FROM_SETTING)).scalar()
        if signed_from is None:
            return None
        if actor.signer is None:
            raise identity.NotSignedInError(
                f"You are acting as {actor.user}, but {actor.user}'s key is not on this "
                "workstation (or is locked); enrol with `modelledger user enroll`, or switch "
                "user. Nothing was written.")
        return cls(conn, actor)

    def check(self, action: str, entity_type: str, entity_id: str, before: str,
              after: str) -> None:
        if action != identity.ENROLMENT_REQUESTED:
            self._check_key()
        if self._actor.scheduler and action not in identity.SCHEDULER_ACTIONS:
            raise identity.PermissionDeniedError(
                f"A scheduler does not write '{action}'; that is a person's decision.")
        identity.check_allowed(self._actor.user, self._role, action,
                               model_owner=self._owner(action, entity_type, entity_id, before,
                                                       after),
                               single_user=self._single_user, scheduler=self._actor.scheduler)

    def _check_key(self) -> None:
        key = self._key
        fingerprint = self._actor.signer.fingerprint
        user = self._actor.user
        if key is None or key.user != user:
            raise identity.NotSignedInError(
                f"The key on this workstation ({fingerprint[:16]}…) is not enrolled for {user} "
                "in this workspace; enrol with `modelledger user enroll`. Nothing was written.")
        if key.status == identity_repo.PENDING:
            raise identity.NotSignedInError(
                f"{user}'s key {fingerprint[:16]}… waits for an admin's approval (Settings → "
                "People, or `modelledger user approve`). Nothing was written.")
        if key.status != identity_repo.ACTIVE:
            raise identity.NotSignedInError(
                f"{user}'s key {fingerprint[:16]}… was {key.status}"
                f"{': ' + key.ended_reason if key.ended_reason else ''}; enrol a new key with "
                "`modelledger user enroll`. Nothing was written.")

    def _owner(self, action: str, entity_type: str, entity_id: str, before: str,
               after: str) -> str | None:
        model = identity.model_of_event(action, entity_type, entity_id, after)
        if model is None:
            return None
        if entity_type == "model" and '"owner":' in before:
            return json.loads(before)["owner"]  # the owner before this change decides
        return self._conn.execute(select(registered_models.c.owner).where(
            registered_models.c.name == model)).scalar()


def _event_from_row(row) -> AuditEvent:
    # _COLUMNS lists the columns in AuditEvent's field order: positional construction skips
    # fourteen named lookups per row, which were a third of the time `audit verify` took.
    return AuditEvent(*row)


def iter_events(conn: Connection, *, batch_size: int = 20_000) -> Iterator[AuditEvent]:
    """Every event in sequence order, fetched in keyset-paged batches to bound memory."""
    after_seq = 0
    while True:
        rows = conn.execute(
            select(*_COLUMNS)
            .where(audit_events.c.seq > after_seq)
            .order_by(audit_events.c.seq)
            .limit(batch_size)
        ).all()
        if not rows:
            return
        for row in rows:
            yield _event_from_row(row)
        after_seq = rows[-1].seq


def list_events(
    conn: Connection,
    event_filter: EventFilter = EVERY_EVENT,
    *,
    limit: int = 100,
    before_seq: int | None = None,
) -> list[AuditEvent]:
    """Newest first, optionally filtered; page with ``before_seq``."""
    query = _matching(select(*_COLUMNS), event_filter, conn.dialect.name)
    query = query.order_by(audit_events.c.seq.desc()).limit(limit)
    if before_seq is not None:
        query = query.where(audit_events.c.seq < before_seq)
    return [_event_from_row(row) for row in conn.execute(query)]


def count_events(conn: Connection, event_filter: EventFilter = EVERY_EVENT) -> int:
    """How many events ``list_events`` would page through with the same filter."""
    query = _matching(select(func.count()).select_from(audit_events), event_filter,
                      conn.dialect.name)
    return conn.execute(query).scalar_one()


def events_up_to(conn: Connection, event_filter: EventFilter, actions: Collection[str],
                 moment: datetime) -> list[AuditEvent]:
    """The filter's events with one of ``actions`` that happened at or before ``moment``,
    oldest first: the history to replay to learn what something looked like then."""
    query = (_matching(select(*_COLUMNS), event_filter, conn.dialect.name)
             .where(audit_events.c.action.in_(list(actions)),
                    audit_events.c.occurred_at <= utc_timestamp(moment))
             .order_by(audit_events.c.seq))
    return [_event_from_row(row) for row in conn.execute(query)]


def list_actors(conn: Connection) -> list[str]:
    """Everyone who appears in the log, including people no longer in the users table."""
    query = select(audit_events.c.actor).distinct().order_by(audit_events.c.actor)
    return list(conn.execute(query).scalars())


def _matching(query: Select, event_filter: EventFilter, dialect: str) -> Select:
    events = audit_events.c
    if event_filter.entity_type is not None:
        query = query.where(events.entity_type == event_filter.entity_type)
    if event_filter.entity_id is not None:
        query = query.where(events.entity_id == event_filter.entity_id)
    if event_filter.model_name is not None:
        query = query.where(_about_model(event_filter.model_name, dialect))
    if event_filter.version_number is not None:
        version_id = f"{event_filter.model_name}/v{event_filter.version_number}"
        query = query.where(or_(events.entity_id == version_id,
                                _starts_with(events.entity_id, f"{version_id}/")))
    if event_filter.action_prefix is not None:
        query = query.where(events.action.startswith(event_filter.action_prefix, autoescape=True))
    if event_filter.actor is not None:
        query = query.where(events.actor == event_filter.actor)
    if event_filter.occurred_from is not None:
        # The stored form is fixed-width ISO 8601 in UTC, so text order is time order.
        query = query.where(events.occurred_at >= utc_timestamp(event_filter.occurred_from))
    if event_filter.occurred_before is not None:
        query = query.where(events.occurred_at < utc_timestamp(event_filter.occurred_before))
    if event_filter.search:
        query = query.where(or_(
            events.reason.icontains(event_filter.search, autoescape=True),
            _json_text_contains(events.before_json, event_filter.search, dialect),
            _json_text_contains(events.after_json, event_filter.search, dialect),
        ))
    return query


def _about_model(model_name: str, dialect: str) -> ColumnElement[bool]:
    """The model, everything whose id is under it, and the alerts raised for it (an alert's id
    is its number; its record names the model, in canonical JSON, so the text is exact)."""
    events = audit_events.c
    names_model = f'"model":{json.dumps(model_name, ensure_ascii=False)}'
    return or_(
        events.entity_id == model_name,
        _starts_with(events.entity_id, f"{model_name}/"),
        and_(events.entity_type == "alert", _contains(events.after_json, names_model, dialect)),
    )


def _starts_with(column: ColumnElement[str], prefix: str) -> ColumnElement[bool]:
    # Not LIKE: SQLite's LIKE ignores case, and "Churn/v1" is not a version of "churn".
    return func.substr(column, 1, len(prefix)) == prefix


def _contains(column: ColumnElement[str], text: str, dialect: str) -> ColumnElement[bool]:
    """Case-sensitive substring test (SQLite's LIKE would ignore case)."""
    position = func.strpos if dialect == "postgresql" else func.instr
    return position(column, text) > 0


# Characters json.dumps writes as escapes: a search containing one cannot be found verbatim in
# the stored JSON text, although it may be in a decoded value.
_JSON_ESCAPED = frozenset('"\\') | frozenset(map(chr, range(0x20)))


def _json_text_contains(column: ColumnElement[str], text: str,
                        dialect: str) -> ColumnElement[bool]:
    """Whether any text value in a stored JSON document contains ``text``, in any case; the
    names of the fields do not count.

    Decoding every document is slow, so a plain text match on the stored JSON goes first and
    only the documents that pass it are decoded."""
    if dialect == "postgresql":
        values = (func.jsonb_path_query(cast(column, JSONB), literal_column("'strict $.**'"))
                  .table_valued("value").render_derived())
        decoded = exists(select(literal(1)).select_from(values).where(
            func.jsonb_typeof(values.c.value) == "string",
            values.c.value.op("#>>", return_type=Text)(literal_column("'{}'")).icontains(
                text, autoescape=True)))
    else:
        tree = func.json_tree(column).table_valued("type", "atom")
        found = exists(select(literal(1)).select_from(tree).where(
            tree.c.type == "text", tree.c.atom.icontains(text, autoescape=True)))
        # A row edited by hand outside ModelLedger may hold text that is not JSON: it must not
        # stop the search, whose purpose is often to look at exactly such a log.
        decoded = case((func.json_valid(column) == 1, found), else_=false())
    if _JSON_ESCAPED.isdisjoint(text):
        return and_(column.icontains(text, autoescape=True), decoded)
    return decoded


def head_seq(conn: Connection) -> int:
    """The newest event's number: every change writes an event, so this is a change counter."""
    return conn.execute(select(func.coalesce(func.max(audit_events.c.seq), 0))).scalar_one()
