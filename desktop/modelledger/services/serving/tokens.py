"""Bearer tokens for a scoring server that listens beyond loopback: made and revoked by an
admin, audited, stored only as SHA-256 hashes (the token is shown once, when it is made)."""

from __future__ import annotations

import hashlib
import re
import secrets

from modelledger.core.domain import Actor
from modelledger.core.errors import InvalidInputError, NotFoundError
from modelledger.services.changes.events import ChangeBus, ChangeEvent
from modelledger.services.changes.unit_of_work import Clock, audited_write
from modelledger.storage import serving_repo
from modelledger.storage.database import Database
from modelledger.storage.serving_repo import ServingToken
from modelledger.storage.tables import utc_now

TOKEN_PREFIX = "mlt_"
TOKEN_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$")
TOKEN_ADDED = "serving_token.added"
TOKEN_REVOKED = "serving_token.revoked"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ServingTokens:
    def __init__(self, database: Database, actor: Actor, bus: ChangeBus, *,
                 clock: Clock = utc_now) -> None:
        self._db = database
        self._actor = actor
        self._bus = bus
        self._clock = clock

    def add(self, name: str, reason: str) -> str:
        """A new token named ``name``; the returned text is the only copy of it."""
        if not TOKEN_NAME_PATTERN.match(name):
            raise InvalidInputError(f"'{name}' is not a token name: use letters, digits, '.', "
                                    "'_' or '-' (up to 120).")
        if not reason.strip():
            raise InvalidInputError("Give a reason: who or what the token is for.")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        digest = token_hash(token)

        def unit(conn, audit, now):
            if serving_repo.find_token(conn, name) is not None:
                raise InvalidInputError(f"A token named '{name}' exists already (revoked ones "
                                        "keep their name); choose another name.")
            serving_repo.insert_token(conn, name, digest, self._actor.user, now)
            # The hash's first digits identify the token in the log without revealing it.
            audit.append(TOKEN_ADDED, "serving_token", name,
                         after={"name": name, "sha256_prefix": digest[:12]}, reason=reason)

        audited_write(self._db, self._actor, self._bus, unit,
                      lambda _: ChangeEvent("serving_token", name, "added"), clock=self._clock)
        return token

    def revoke(self, name: str, reason: str) -> None:
        if not reason.strip():
            raise InvalidInputError("Give a reason for revoking the token.")

        def unit(conn, audit, now):
            token = serving_repo.find_token(conn, name)
            if token is None:
                raise NotFoundError(f"There is no token named '{name}'. `modelledger token "
                                    "list` shows them.")
            if not token.active:
                raise InvalidInputError(f"The token '{name}' was revoked already.")
            serving_repo.revoke_token(conn, name, self._actor.user, now)
            audit.append(TOKEN_REVOKED, "serving_token", name,
                         before={"name": name, "active": True},
                         after={"name": name, "active": False}, reason=reason)

        audited_write(self._db, self._actor, self._bus, unit,
                      lambda _: ChangeEvent("serving_token", name, "revoked"), clock=self._clock)

    def list(self) -> list[ServingToken]:
        return self._db.read(serving_repo.list_tokens)

    def active_hashes(self) -> frozenset[str]:
        return self._db.read(serving_repo.active_token_hashes)
