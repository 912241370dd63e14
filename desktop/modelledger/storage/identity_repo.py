"""Enrolled identity keys (public halves only; the private ones never enter the database)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from modelledger.storage.tables import identity_keys

PENDING, ACTIVE, ROTATED, REVOKED = "pending", "active", "rotated", "revoked"


@dataclass(frozen=True)
class IdentityKey:
    user: str
    fingerprint: str
    public_key: str  # hex of the raw 32 bytes
    display_name: str
    kind: str  # "person" or "host"
    host: str
    status: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    ended_reason: str | None
    replaced_by: str | None


def _key(row) -> IdentityKey:
    return IdentityKey(row.user_name, row.fingerprint, row.public_key, row.display_name,
                       row.kind, row.host,
                       row.status, row.requested_at, row.decided_by, row.decided_at,
                       row.ended_reason, row.replaced_by)


def find_key(conn: Connection, fingerprint: str) -> IdentityKey | None:
    row = conn.execute(select(identity_keys)
                       .where(identity_keys.c.fingerprint == fingerprint)).first()
    return _key(row) if row else None


def list_keys(conn: Connection, *, user: str | None = None) -> list[IdentityKey]:
    """Oldest first."""
    query = select(identity_keys).order_by(identity_keys.c.id)
    if user is not None:
        query = query.where(identity_keys.c.user_name == user)
    return [_key(row) for row in conn.execute(query)]


def insert_key(conn: Connection, *, user: str, fingerprint: str, public_key: str,
               display_name: str, kind: str, host: str, status: str, now: datetime,
               decided_by: str | None = None) -> None:
    conn.execute(insert(identity_keys), {
        "user_name": user, "fingerprint": fingerprint, "public_key": public_key,
        "display_name": display_name, "kind": kind,
        "host": host, "status": status, "requested_at": now, "decided_by": decided_by,
        "decided_at": now if decided_by else None})


def set_status(conn: Connection, fingerprint: str, status: str, *, by: str, now: datetime,
               reason: str | None = None, replaced_by: str | None = None) -> None:
    conn.execute(update(identity_keys).where(identity_keys.c.fingerprint == fingerprint)
                 .values(status=status, decided_by=by, decided_at=now, ended_reason=reason,
                         replaced_by=replaced_by))
