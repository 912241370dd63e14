"""Enrolment, approval, rotation and revocation of keys; the first admin; signed checkpoints.

Each of these is an audited write like any other, so it is itself a signed event: an enrolment
request is signed by the new key (proof that its owner holds it), an approval or a revocation by
the admin who made it, a rotation by the key it replaces.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from modelledger.core import identity
from modelledger.core.domain import Actor, Role, User
from modelledger.core.errors import InvalidInputError, ModelLedgerError, NotFoundError
from modelledger.services.changes.events import ChangeBus, ChangeEvent
from modelledger.services.changes.unit_of_work import Clock, audited_write
from modelledger.services.identity.keystore import SigningKey, save_key
from modelledger.storage import identity_repo
from modelledger.storage import repositories as repo
from modelledger.storage.audit_log import SIGNED_FROM_SETTING
from modelledger.storage.database import Database
from modelledger.storage.identity_repo import IdentityKey
from modelledger.storage.tables import utc_now

PERSON, HOST = "person", "host"


@dataclass(frozen=True)
class Standing:
    """The acting person in one workspace: ``key_status`` is active (they may act), pending,
    revoked or rotated (a key that no longer signs), not enrolled, locked (no passphrase), no
    key (none on this workstation), or "before signed identity"."""

    user: str
    role: Role | None
    fingerprint: str | None
    key_status: str
    single_user: bool = False  # four-eyes turned off: an admin decides promotions too

    @property
    def may_act(self) -> bool:
        return self.key_status in ("active", "before signed identity")

    def refusal(self, action: str, model_owner: str | None = None) -> str | None:
        """Why this person may not take ``action`` (on a model of ``model_owner``), as a
        disabled control's tooltip says it; None when they may."""
        if not self.may_act:
            return f"You cannot sign here ({self.describe()})."
        if self.key_status == "before signed identity":
            return None
        return identity.permission_problem(self.user, self.role, action,
                                           identity.permission_for(action), model_owner,
                                           single_user=self.single_user)

    def describe(self) -> str:
        role = f" ({self.role.value})" if self.role else ""
        if self.key_status == "before signed identity":
            return (f"{self.user}{role}: this workspace is from before signed identity "
                    "(anyone can act as anyone)")
        if self.key_status == "active":
            return f"signed in as {self.user}{role} · key {_short(self.fingerprint)}"
        if self.key_status == "no key":
            return f"{self.user}: no key on this workstation, read only"
        if self.key_status == "locked":
            return f"{self.user}: key locked (no passphrase), read only"
        return f"{self.user}: key {_short(self.fingerprint)} {self.key_status}, read only"


def _short(fingerprint: str | None) -> str:
    return identity.short_fingerprint(fingerprint) if fingerprint else "-"


class IdentityService:
    def __init__(self, database: Database, actor: Actor, bus: ChangeBus, *,
                 clock: Clock = utc_now) -> None:
        self._db = database
        self.actor = actor
        self._bus = bus
        self._clock = clock

    def _write(self, unit, change_id: str, actor: Actor | None = None):
        return audited_write(self._db, actor or self.actor, self._bus, unit,
                             lambda _: ChangeEvent("identity", change_id, "changed"),
                             clock=self._clock)

    # -- reading --------------------------------------------------------------------------------

    def signed_from_seq(self) -> int | None:
        """The first event under signed identity; None for a workspace from before it."""
        return self._db.read(lambda conn: repo.get_setting(conn, SIGNED_FROM_SETTING, None))

    def keys(self, *, user: str | None = None) -> list[IdentityKey]:
        return self._db.read(lambda conn: identity_repo.list_keys(conn, user=user))

    def pending_enrolments(self) -> list[IdentityKey]:
        return [key for key in self.keys() if key.status == identity_repo.PENDING]

    def key(self, fingerprint: str) -> IdentityKey | None:
        return self._db.read(lambda conn: identity_repo.find_key(conn, fingerprint))

    def who(self, signer) -> Standing:
        """Who the acting person is here: their role, their key and whether it may sign."""
        user = self.actor.user

        def read(conn) -> tuple[bool, Role | None, bool]:
            known = repo.get_user(conn, user)
            signed = repo.get_setting(conn, SIGNED_FROM_SETTING, None) is not None
            single_user = repo.get_setting(conn, identity.FOUR_EYES_SETTING, True) is False
            return signed, known.role if known else None, single_user

        signed, role, single_user = self._db.read(read)
        if not signed:
            return Standing(user, role, None, "before signed identity", single_user)
        if not signer.present():
            return Standing(user, role, None, "no key", single_user)
        try:
            fingerprint = signer.key().fingerprint
        except ModelLedgerError:
            return Standing(user, role, None, "locked", single_user)
        enrolled = self.key(fingerprint)
        if enrolled is None or enrolled.user != user:
            return Standing(user, role, fingerprint, "not enrolled", single_user)
        return Standing(user, role, fingerprint, enrolled.status, single_user)

    # -- the first admin ------------------------------------------------------------------------

    def bootstrap(self, key: SigningKey, *, display_name: str = "", migrated: bool = False,
                  reason: str = "") -> None:
        """Make ``key``'s owner the workspace's first admin and turn signed identity on. On a
        workspace from before signed identity, only a person it lists as admin may (or anyone,
        when it lists none); a signed checkpoint then vouches for every older event."""
        actor = replace(self.actor, user=key.user, signer=key)

        def unit(conn, audit, now):
            if repo.get_setting(conn, SIGNED_FROM_SETTING, None) is not None:
                raise InvalidInputError("This workspace already has signed identity; ask one "
                                        "of its admins to approve your enrolment instead.")
            admins = [user.name for user in repo.list_users(conn) if user.role is Role.ADMIN]
            if migrated and admins and key.user not in admins:
                raise identity.PermissionDeniedError(
                    f"Only an admin of this workspace ({', '.join(admins)}) may set up signed "
                    f"identity; {key.user} is not one.")
            existing = repo.get_user(conn, key.user)
            name = display_name or (existing.display_name if existing else key.user)
            if existing is None:
                repo.insert_user(conn, User(key.user, name, Role.ADMIN), now)
            else:
                repo.update_user(conn, User(key.user, name, Role.ADMIN))
            identity_repo.insert_key(conn, user=key.user, fingerprint=key.fingerprint,
                                     public_key=key.public_key, display_name=name, kind=PERSON,
                                     host=self.actor.host, status=identity_repo.ACTIVE, now=now,
                                     decided_by=key.user)
            repo.put_setting(conn, SIGNED_FROM_SETTING, audit.next_seq, key.user, now)
            audit.append(identity.BOOTSTRAPPED, identity.KEY_ENTITY, key.fingerprint, after={
                "user": key.user, "display_name": name, "fingerprint": key.fingerprint,
                "public_key": key.public_key, "kind": PERSON, "host": self.actor.host,
                "role": Role.ADMIN.value, "migrated": migrated},
                reason=reason or ("signed identity set up on a workspace from before it"
                                  if migrated else "the workspace's creator is its first admin"))

        self._write(unit, key.fingerprint, actor)
        if migrated:
            self.checkpoint(actor, "every event before signed identity, as the admin who set it "
                                   "up found them")

    # -- enrolment ------------------------------------------------------------------------------

    def request_enrolment(self, key: SigningKey, *, kind: str = PERSON,
                          display_name: str = "", reason: str = "") -> None:
        """Ask for ``key`` to be enrolled for its owner; signed by the key itself."""
        if kind not in (PERSON, HOST):
            raise InvalidInputError(f"A key is a person's or a host's, not a {kind}'s.")
        actor = replace(self.actor, user=key.user, signer=key)

        def unit(conn, audit, now):
            known = identity_repo.find_key(conn, key.fingerprint)
            if known is not None:
                raise InvalidInputError(
                    f"This key ({key.fingerprint[:16]}…) is already enrolled for {known.user} "
                    f"({known.status}).")
            identity_repo.insert_key(conn, user=key.user, fingerprint=key.fingerprint,
                                     public_key=key.public_key,
                                     display_name=display_name or key.user, kind=kind,
                                     host=self.actor.host, status=identity_repo.PENDING, now=now)
            audit.append(identity.ENROLMENT_REQUESTED, identity.KEY_ENTITY, key.fingerprint,
                         after={"user": key.user, "display_name": display_name or key.user,
                                "fingerprint": key.fingerprint, "public_key": key.public_key,
                                "kind": kind, "host": self.actor.host},
                         reason=reason or f"enrolment of {key.user}'s key on {self.actor.host}")

        self._write(unit, key.fingerprint, actor)

    def approve(self, user: str, *, role: Role | None = None, fingerprint: str | None = None,
                reason: str = "") -> IdentityKey:
        """An admin approves ``user``'s pending key (the only one, or ``fingerprint``), giving
        them ``role`` (a new person: developer unless said)."""
        def unit(conn, audit, now):
            pending = [key for key in identity_repo.list_keys(conn, user=user)
                       if key.status == identity_repo.PENDING
                       and fingerprint in (None, key.fingerprint)]
            if not pending:
                raise NotFoundError(f"{user} has no enrolment waiting for approval (they enrol "
                                    "with `modelledger user enroll`).")
            if len(pending) > 1:
                raise InvalidInputError(f"{user} has {len(pending)} keys waiting; name one with "
                                        "--fingerprint.")
            key = pending[0]
            existing = repo.get_user(conn, user)
            granted = role or (existing.role if existing else Role.DEVELOPER)
            display_name = existing.display_name if existing else key.display_name
            if existing is None:
                repo.insert_user(conn, User(user, display_name, granted), now)
            elif existing.role is not granted:
                repo.update_user(conn, User(user, display_name, granted))
            identity_repo.set_status(conn, key.fingerprint, identity_repo.ACTIVE,
                                     by=self.actor.user, now=now)
            audit.append(identity.ENROLMENT_APPROVED, identity.KEY_ENTITY, key.fingerprint,
                         before={"status": identity_repo.PENDING},
                         after={"user": user, "fingerprint": key.fingerprint,
                                "role": granted.value, "status": identity_repo.ACTIVE},
                         reason=reason or f"{user}'s key on {key.host} approved")
            return identity_repo.find_key(conn, key.fingerprint)

        return self._write(unit, user)

    def revoke(self, fingerprint: str, reason: str) -> None:
        """An admin revokes a key (lost laptop, someone who left). What it signed before stays
        valid; anything it signs afterwards is refused and reported."""
        if not reason.strip():
            raise InvalidInputError("Say why the key is revoked (e.g. 'laptop lost').")

        def unit(conn, audit, now):
            key = _existing(conn, fingerprint)
            if key.status in (identity_repo.REVOKED, identity_repo.ROTATED):
                raise InvalidInputError(f"That key was already {key.status}.")
            identity_repo.set_status(conn, key.fingerprint, identity_repo.REVOKED,
                                     by=self.actor.user, now=now, reason=reason)
            audit.append(identity.KEY_REVOKED, identity.KEY_ENTITY, key.fingerprint,
                         before={"status": key.status},
                         after={"user": key.user, "fingerprint": key.fingerprint,
                                "status": identity_repo.REVOKED}, reason=reason)

        self._write(unit, fingerprint)

    def rotate(self, current: SigningKey, new: SigningKey, reason: str = "") -> None:
        """Hand ``current`` over to ``new``: the old key signs the event that names the new
        one. The new private key is kept on this workstation once the rotation is recorded."""
        actor = replace(self.actor, user=current.user, signer=current)

        def unit(conn, audit, now):
            key = _existing(conn, current.fingerprint)
            if key.status != identity_repo.ACTIVE:
                raise InvalidInputError(f"Only an active key can be rotated; this one is "
                                        f"{key.status}.")
            identity_repo.set_status(conn, key.fingerprint, identity_repo.ROTATED,
                                     by=current.user, now=now, reason="rotated",
                                     replaced_by=new.fingerprint)
            identity_repo.insert_key(conn, user=current.user, fingerprint=new.fingerprint,
                                     public_key=new.public_key, display_name=key.display_name,
                                     kind=key.kind,
                                     host=self.actor.host, status=identity_repo.ACTIVE, now=now,
                                     decided_by=current.user)
            audit.append(identity.KEY_ROTATED, identity.KEY_ENTITY, new.fingerprint,
                         after={"user": current.user, "old_fingerprint": current.fingerprint,
                                "fingerprint": new.fingerprint, "public_key": new.public_key},
                         reason=reason or "key rotated")

        self._write(unit, new.fingerprint, actor)
        save_key(new.user, new.private_key)

    # -- checkpoints ----------------------------------------------------------------------------

    def checkpoint(self, actor: Actor | None = None, reason: str = "") -> None:
        """A signed event that vouches for the chain up to itself: what a scheduler wrote since
        its last one, or everything before signed identity at a migration."""
        def unit(conn, audit, now):
            audit.append(identity.CHECKPOINT, "audit_log", "checkpoint",
                         after={"covers_to_seq": audit.next_seq - 1},
                         reason=reason or "scheduler checkpoint")

        self._write(unit, "checkpoint", actor)


def _existing(conn, fingerprint: str) -> IdentityKey:
    key = identity_repo.find_key(conn, fingerprint)
    if key is None:
        matches = [known for known in identity_repo.list_keys(conn)
                   if known.fingerprint.startswith(fingerprint.lower())]
        if len(matches) == 1:
            return matches[0]
        raise NotFoundError(f"No enrolled key starts with {fingerprint!r} (see "
                            "`modelledger user keys`).")
    return key
