"""The workspace's registered signing keys (public halves only; see services.signing)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select

from modelledger.core.evidence import RegisteredKey
from modelledger.storage.audit_log import utc_timestamp
from modelledger.storage.tables import signing_keys


def _key_from_row(row) -> RegisteredKey:
    return RegisteredKey(row.user_name, row.fingerprint, row.public_key,
                         utc_timestamp(row.registered_at))


def find_signing_key(conn: Connection, fingerprint: str) -> RegisteredKey | None:
    query = select(signing_keys).where(signing_keys.c.fingerprint == fingerprint)
    row = conn.execute(query).first()
    return _key_from_row(row) if row else None


def list_signing_keys(conn: Connection) -> list[RegisteredKey]:
    """Every registered key, oldest first."""
    rows = conn.execute(select(signing_keys).order_by(signing_keys.c.id))
    return [_key_from_row(row) for row in rows]


def insert_signing_key(conn: Connection, user: str, fingerprint: str, public_key: str,
                       now: datetime) -> RegisteredKey:
    conn.execute(insert(signing_keys), {"user_name": user, "fingerprint": fingerprint,
                                        "public_key": public_key, "registered_at": now})
    return RegisteredKey(user, fingerprint, public_key, utc_timestamp(now))
