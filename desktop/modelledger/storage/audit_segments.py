"""Reading the stretch of the audit chain that an evidence pack carries.

Events are never changed or deleted (the table's triggers refuse it), so the rows up to a
sequence number, once it exists, stay as they are: a segment is read in short keyset-paged reads
rather than in one long transaction, which on a shared file would hold up every writer for the
length of the export.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Connection, and_, func, or_, select

from modelledger.core.evidence import ALERT_ENTITY_TYPE, EventSelection
from modelledger.core.identity import ESTABLISHING_PREFIXES
from modelledger.storage.tables import audit_events

# In the order of an events.jsonl line: the hashed document, then the hash.
_LINE_COLUMNS = (
    audit_events.c.seq, audit_events.c.occurred_at, audit_events.c.actor, audit_events.c.host,
    audit_events.c.action, audit_events.c.entity_type, audit_events.c.entity_id,
    audit_events.c.before_json, audit_events.c.after_json, audit_events.c.reason,
    audit_events.c.prev_hash, audit_events.c.hash,
)


def selected_seq_range(conn: Connection, selection: EventSelection) -> tuple[int, int] | None:
    """The first and last sequence numbers the selection picks, or None when it picks none."""
    first, last = conn.execute(
        select(func.min(audit_events.c.seq), func.max(audit_events.c.seq))
        .where(and_(True, *_conditions(selection, conn.dialect.name)))
    ).one()
    return None if first is None else (first, last)


def _conditions(selection: EventSelection, dialect: str) -> list[ColumnElement[bool]]:
    """The SQL twin of ``EventSelection.matches``: exact and case-sensitive on every backend
    (``substr`` and ``instr``/``strpos`` rather than LIKE, which ignores case on SQLite)."""
    events = audit_events.c
    position = func.strpos if dialect == "postgresql" else func.instr
    conditions = []
    if selection.models:
        conditions.append(or_(
            *(or_(events.entity_id == model,
                  func.substr(events.entity_id, 1, len(model) + 1) == f"{model}/")
              for model in selection.models),
            and_(events.entity_type == ALERT_ENTITY_TYPE,
                 or_(*(position(events.after_json, marker) > 0
                       for marker in selection.alert_markers)))))
    occurred_at = audit_events.c.occurred_at
    if selection.occurred_from is not None:
        conditions.append(occurred_at >= selection.occurred_from)
    if selection.occurred_before is not None:
        conditions.append(occurred_at < selection.occurred_before)
    return conditions


def segment_rows(conn: Connection, after_seq: int, last_seq: int, limit: int) -> list[tuple]:
    """Up to ``limit`` events after ``after_seq`` and up to ``last_seq``, in sequence order, each
    as the tuple an events.jsonl line holds."""
    result = conn.execute(
        select(*_LINE_COLUMNS)
        .where(audit_events.c.seq > after_seq, audit_events.c.seq <= last_seq)
        .order_by(audit_events.c.seq)
        .limit(limit)
    )
    return [tuple(row) for row in result]


def signatures_between(conn: Connection, after_seq: int, last_seq: int,
                       limit: int) -> list[tuple]:
    """(seq, signer, signature) of up to ``limit`` signed events after ``after_seq`` and up to
    ``last_seq``, in sequence order."""
    events = audit_events.c
    return [tuple(row) for row in conn.execute(
        select(events.seq, events.signer, events.signature)
        .where(events.seq > after_seq, events.seq <= last_seq, events.signature.is_not(None))
        .order_by(events.seq)
        .limit(limit))]


def establishing_rows_before(conn: Connection, before_seq: int) -> list[tuple]:
    """The events before ``before_seq`` that establish keys, roles, owners and settings, each as
    an events.jsonl line's tuple followed by its signer and signature (None when unsigned)."""
    events = audit_events.c
    return [tuple(row) for row in conn.execute(
        select(*_LINE_COLUMNS, events.signer, events.signature)
        .where(events.seq < before_seq,
               or_(*(func.substr(events.action, 1, len(prefix)) == prefix
                     for prefix in ESTABLISHING_PREFIXES)))
        .order_by(events.seq))]
