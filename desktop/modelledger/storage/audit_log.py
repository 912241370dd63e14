"""Appending to and reading the hash-chained audit log.

Appends happen inside the caller's write transaction, which already holds the database's single
write lock (``BEGIN IMMEDIATE`` on SQLite, the advisory lock on PostgreSQL), so reading the head
and inserting the next link cannot race with another writer. The unique constraints on
``prev_hash`` and ``hash`` are a second line of defence: a forked chain cannot be stored.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Select, func, insert, or_, select

from modelledger.core.audit_chain import GENESIS_HASH, canonical_json, event_hash
from modelledger.core.domain import EVERY_EVENT, Actor, AuditEvent, EventFilter
from modelledger.storage.tables import audit_events

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
)


def utc_timestamp(moment: datetime | None = None) -> str:
    """The timestamp form that is hashed: ISO 8601, UTC, microseconds, 'Z'."""
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class AuditAppender:
    """Appends events to the chain within one write transaction."""

    def __init__(self, conn: Connection, actor: Actor) -> None:
        self._conn = conn
        self._actor = actor
        head = conn.execute(
            select(audit_events.c.seq, audit_events.c.hash)
            .order_by(audit_events.c.seq.desc())
            .limit(1)
        ).first()
        self._next_seq = head.seq + 1 if head else 1
        self._prev_hash = head.hash if head else GENESIS_HASH

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
        fields = {
            "seq": self._next_seq,
            "occurred_at": utc_timestamp(occurred_at),
            "actor": self._actor.user,
            "host": self._actor.host,
            "action": action,
            "entity_type": entity_type,
            "entity_id": str(entity_id),
            "before": canonical_json(dict(before or {})),
            "after": canonical_json(dict(after or {})),
            "reason": reason,
            "prev_hash": self._prev_hash,
        }
        digest = event_hash(**fields)
        row = dict(fields)
        row["before_json"] = row.pop("before")
        row["after_json"] = row.pop("after")
        row["hash"] = digest
        self._conn.execute(insert(audit_events), row)
        self._next_seq += 1
        self._prev_hash = digest
        return AuditEvent(**fields, hash=digest)


def _event_from_row(row) -> AuditEvent:
    return AuditEvent(
        seq=row.seq,
        occurred_at=row.occurred_at,
        actor=row.actor,
        host=row.host,
        action=row.action,
        entity_type=row.entity_type,
        entity_id=row.entity_id,
        before=row.before_json,
        after=row.after_json,
        reason=row.reason,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


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
    query = _matching(select(*_COLUMNS), event_filter)
    query = query.order_by(audit_events.c.seq.desc()).limit(limit)
    if before_seq is not None:
        query = query.where(audit_events.c.seq < before_seq)
    return [_event_from_row(row) for row in conn.execute(query)]


def count_events(conn: Connection, event_filter: EventFilter = EVERY_EVENT) -> int:
    """How many events ``list_events`` would page through with the same filter."""
    query = _matching(select(func.count()).select_from(audit_events), event_filter)
    return conn.execute(query).scalar_one()


def list_actors(conn: Connection) -> list[str]:
    """Everyone who appears in the log, including people no longer in the users table."""
    query = select(audit_events.c.actor).distinct().order_by(audit_events.c.actor)
    return list(conn.execute(query).scalars())


def _matching(query: Select, event_filter: EventFilter) -> Select:
    if event_filter.entity_type is not None:
        query = query.where(audit_events.c.entity_type == event_filter.entity_type)
    if event_filter.entity_id is not None:
        query = query.where(audit_events.c.entity_id == event_filter.entity_id)
    if event_filter.model_name is not None:
        model_name = event_filter.model_name
        query = query.where(
            or_(
                audit_events.c.entity_id == model_name,
                audit_events.c.entity_id.startswith(f"{model_name}/", autoescape=True),
            )
        )
    if event_filter.action_prefix is not None:
        query = query.where(
            audit_events.c.action.startswith(event_filter.action_prefix, autoescape=True))
    if event_filter.actor is not None:
        query = query.where(audit_events.c.actor == event_filter.actor)
    if event_filter.search:
        query = query.where(audit_events.c.reason.icontains(event_filter.search, autoescape=True))
    return query


def head_seq(conn: Connection) -> int:
    """The newest event's number: every change writes an event, so this is a change counter."""
    return conn.execute(select(func.coalesce(func.max(audit_events.c.seq), 0))).scalar_one()
