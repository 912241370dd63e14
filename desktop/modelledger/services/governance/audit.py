"""Reading and verifying the audit log, and what an event changed, field by field."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from modelledger.core.audit_chain import ChainReport, verify_chain
from modelledger.core.domain import EVERY_EVENT, Actor, AuditEvent, EventFilter
from modelledger.core.identity import DecisionReport, DecisionVerifier
from modelledger.services.changes.events import ChangeBus, ChangeEvent
from modelledger.services.changes.unit_of_work import Clock, audited_write
from modelledger.storage import audit_log, audit_subjects
from modelledger.storage.database import Database
from modelledger.storage.tables import utc_now

VERIFIED_ACTION = "audit.verified"
# Joins the names of nested fields: metric names hold dots ("drift.psi"), so a dot would not
# show where one name ends.
FIELD_PATH_SEPARATOR = " › "


class AuditService:
    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        self._db = database
        self._clock = clock

    def verify(self) -> ChainReport:
        """Walk the whole chain and name the first broken event, if any."""
        return self._db.read(lambda conn: verify_chain(audit_log.iter_events(conn)))

    def verify_with_signatures(self) -> tuple[ChainReport, DecisionReport]:
        """The chain, and in the same pass every decision's signature, key, author and role
        (core.identity), up to the first broken link."""
        def check(conn) -> tuple[ChainReport, DecisionReport]:
            decisions = DecisionVerifier()

            def judged() -> Iterator[AuditEvent]:
                for event in audit_log.iter_events(conn):
                    decisions.check(event)
                    yield event

            return verify_chain(judged()), decisions.finish()

        return self._db.read(check)

    def record_verification(self, report: ChainReport, actor: Actor, bus: ChangeBus,
                            decisions: DecisionReport | None = None) -> AuditEvent:
        """Append the outcome of a check made by ``actor`` to the chain it checked, so the log
        shows who verified it, when, and what they found (with ``decisions``, how many
        decisions failed their signature check)."""
        outcome: dict[str, Any] = {"result": "intact" if report.intact else "broken",
                                   "events_checked": report.events_checked}
        if decisions is not None and decisions.identity_from_seq is not None:
            outcome.update(signed_decisions=decisions.signed,
                           invalid_decisions=len(decisions.problems))
            if decisions.problems:
                outcome["first_invalid_decision_seq"] = decisions.problems[0].seq
        if report.first_break is None:
            outcome.update(head_seq=report.last_seq, head_hash=report.head_hash)
        else:
            outcome.update(broken_at_seq=report.first_break.seq,
                           problem=report.first_break.problem)

        def unit(conn, audit, now):
            return audit.append(VERIFIED_ACTION, "audit_log", "chain", after=outcome,
                                reason="verified from the desktop application")

        return audited_write(self._db, actor, bus, unit,
                             lambda event: ChangeEvent("audit", str(event.seq), "verified"),
                             clock=self._clock)

    def list_events(self, event_filter: EventFilter = EVERY_EVENT, *, limit: int = 100,
                    before_seq: int | None = None) -> list[AuditEvent]:
        """Newest first; page with ``before_seq``."""
        return self._db.read(lambda conn: audit_log.list_events(
            conn, event_filter, limit=limit, before_seq=before_seq))

    def count_events(self, event_filter: EventFilter = EVERY_EVENT) -> int:
        """How many events ``list_events`` pages through with the same filter."""
        return self._db.read(lambda conn: audit_log.count_events(conn, event_filter))

    def actors(self) -> list[str]:
        """Everyone who appears in the log, in name order."""
        return self._db.read(audit_log.list_actors)

    def head_seq(self) -> int:
        """Number of the newest event; changes whenever anyone changes the workspace."""
        return self._db.read(audit_log.head_seq)

    def subject_labels(self, events: Iterable[AuditEvent]) -> dict[tuple[str, str], str]:
        """(entity_type, entity_id) -> what the events are about, as text ("Incident #12 · ...",
        "credit-risk v3"), read in a few queries for the whole batch; subjects whose id is
        already their name are left out."""
        subjects = {(event.entity_type, event.entity_id) for event in events}
        return self._db.read(lambda conn: audit_subjects.subject_labels(conn, subjects))


class _NotRecorded:
    def __repr__(self) -> str:
        return "NOT_RECORDED"


NOT_RECORDED: Any = _NotRecorded()  # a field one side of an event does not have


@dataclass(frozen=True)
class FieldChange:
    field: str  # nested names joined by FIELD_PATH_SEPARATOR
    before: Any  # a JSON value, or NOT_RECORDED
    after: Any


def field_changes(event: AuditEvent) -> tuple[list[FieldChange], int]:
    """The fields whose values differ between the event's before and after records, and how
    many recorded fields stayed the same. Nested records are compared field by field."""
    before, after = _flat_record(event.before), _flat_record(event.after)
    changes, unchanged = [], 0
    for field in sorted(before.keys() | after.keys()):
        old, new = before.get(field, NOT_RECORDED), after.get(field, NOT_RECORDED)
        if old == new:
            unchanged += 1
        else:
            changes.append(FieldChange(field, old, new))
    return changes, unchanged


def _flat_record(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {"stored text (not JSON)": text}  # a row edited outside ModelLedger
    if not isinstance(value, Mapping):
        return {"value": value} if value not in (None, []) else {}
    flat: dict[str, Any] = {}
    _flatten(value, "", flat)
    return flat


def _flatten(record: Mapping[str, Any], prefix: str, into: dict[str, Any]) -> None:
    for key, value in record.items():
        path = f"{prefix}{FIELD_PATH_SEPARATOR}{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            _flatten(value, path, into)
        else:
            into[path] = value
