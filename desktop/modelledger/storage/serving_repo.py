"""Scoring-server bearer tokens, stored as hashes. Every function takes the caller's
connection, so a token and the audit event that records it commit together."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from modelledger.storage.tables import serving_tokens


@dataclass(frozen=True)
class ServingToken:
    name: str
    created_by: str
    created_at: datetime
    revoked_by: str | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def find_token(conn: Connection, name: str) -> ServingToken | None:
    row = conn.execute(select(serving_tokens).where(serving_tokens.c.name == name)).first()
    return _token_from_row(row) if row else None


def list_tokens(conn: Connection) -> list[ServingToken]:
    rows = conn.execute(select(serving_tokens).order_by(serving_tokens.c.created_at))
    return [_token_from_row(row) for row in rows]


def active_token_hashes(conn: Connection) -> frozenset[str]:
    rows = conn.execute(select(serving_tokens.c.token_sha256)
                        .where(serving_tokens.c.revoked_at.is_(None)))
    return frozenset(row.token_sha256 for row in rows)


def insert_token(conn: Connection, name: str, token_sha256: str, created_by: str,
                 now: datetime) -> None:
    conn.execute(insert(serving_tokens).values(
        name=name, token_sha256=token_sha256, created_by=created_by, created_at=now))


def revoke_token(conn: Connection, name: str, revoked_by: str, now: datetime) -> None:
    conn.execute(update(serving_tokens).where(serving_tokens.c.name == name)
                 .values(revoked_by=revoked_by, revoked_at=now))


def _token_from_row(row) -> ServingToken:
    return ServingToken(row.name, row.created_by, row.created_at, row.revoked_by,
                        row.revoked_at)
