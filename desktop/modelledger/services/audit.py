"""Reading and verifying the audit log."""

from __future__ import annotations

from modelledger.core.audit_chain import ChainReport, verify_chain
from modelledger.core.domain import EVERY_EVENT, AuditEvent, EventFilter
from modelledger.storage import audit_log
from modelledger.storage.database import Database


class AuditService:
    def __init__(self, database: Database) -> None:
        self._db = database

    def verify(self) -> ChainReport:
        """Walk the whole chain and name the first broken event, if any."""
        return self._db.read(lambda conn: verify_chain(audit_log.iter_events(conn)))

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
