"""One audited write: a transaction, its audit events, then a change notification.

Every service writes through `audited_write` so that a change and its audit events commit
together, and the user acting is known to the workspace before their first event. The time of
a write comes from the service's clock: the real time, or the simulated one of the demo build.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection

from modelledger.core.domain import Actor, Role, User
from modelledger.services.changes.events import ChangeBus, ChangeEvent
from modelledger.storage import repositories as repo
from modelledger.storage.audit_log import AuditAppender
from modelledger.storage.database import Database
from modelledger.storage.tables import utc_now

T = TypeVar("T")
Unit = Callable[[Connection, AuditAppender, datetime], T]


Clock = Callable[[], datetime]


def audited_write(database: Database, actor: Actor, bus: ChangeBus, unit: Unit[T],
                  change: Callable[[T], ChangeEvent | None] | None = None, *,
                  clock: Clock = utc_now) -> T:
    """Run ``unit(conn, audit, now)`` in one write transaction. ``now`` is read from ``clock``
    once: the rows the unit writes and its audit events all carry that one moment."""
    def run(conn: Connection) -> T:
        now = clock()
        audit = AuditAppender(conn, actor, now)
        if not audit.signed_identity:
            _ensure_user(conn, audit, actor, now)
        return unit(conn, audit, now)

    result = database.write(run)
    if change is not None:
        event = change(result)
        if event is not None:
            bus.publish(event)
    return result


def _ensure_user(conn: Connection, audit: AuditAppender, actor: Actor, now: datetime) -> None:
    """Before signed identity, whoever acts first becomes a developer; with it, people join
    only through an approved enrolment."""
    if repo.get_user(conn, actor.user) is None:
        user = User(actor.user, actor.user, Role.DEVELOPER)
        repo.insert_user(conn, user, now)
        audit.append(
            "user.created", "user", user.name,
            after={"display_name": user.display_name, "role": user.role.value},
            reason="first action by this user in the workspace",
        )


def change_setting(conn: Connection, audit: AuditAppender, actor: Actor, now: datetime,
                   key: str, default: Any, value: Any, reason: str) -> None:
    """Store a workspace setting and audit the change (nothing when the value is the same)."""
    current = repo.get_setting(conn, key, default)
    if current == value:
        return
    repo.put_setting(conn, key, value, actor.user, now)
    audit.append("settings.changed", "setting", key, before={key: current}, after={key: value},
                 reason=reason)
