"""Signed identity: who may do what, and checking every decision in the audit log against the
key that was valid for its author at the time.

Every event a person causes carries the fingerprint of their Ed25519 key and a signature over
the event's hash (``signed_message``). Events a running scheduler writes (runs, retries,
self-pauses, raised alerts) are not signed one by one: a signed checkpoint that follows them
vouches for the chain up to itself. Keys, roles and model owners are not read from tables that
anyone with write access could edit: ``DecisionVerifier`` replays them from the chain itself,
so the verdict needs nothing but the events.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from modelledger.core.domain import AuditEvent, Role
from modelledger.core.errors import ModelLedgerError

# -- events of identity ---------------------------------------------------------------------------

KEY_ENTITY = "identity_key"
BOOTSTRAPPED = "identity.bootstrapped"  # the workspace's first admin, self-signed
ENROLMENT_REQUESTED = "identity.enrolment_requested"  # signed by the new key itself
ENROLMENT_APPROVED = "identity.enrolment_approved"  # signed by an admin
KEY_ROTATED = "identity.key_rotated"  # signed by the old key, naming the new one
KEY_REVOKED = "identity.key_revoked"  # signed by an admin
CHECKPOINT = "identity.checkpoint"  # vouches for the chain up to itself
USER_ACTIONS = ("user.created", "user.updated")
# The kinds of event that establish keys, roles, model owners and the four-eyes setting for the
# events after them: all a verifier must have seen before a stretch of the chain to judge it
# (an evidence pack carries those before its segment as its identity history).
ESTABLISHING_PREFIXES = ("identity.", "user.", "model.", "settings.")

SIGNATURE_DOMAIN = b"modelledger-audit-event-v1:"


def fingerprint_of(public_key: bytes) -> str:
    """A public key's fingerprint: the SHA-256 of its raw bytes, hex."""
    return hashlib.sha256(public_key).hexdigest()


def short_fingerprint(fingerprint: str) -> str:
    """How people are shown a key: its first eight hex digits in two groups, "3F2A 1B9C…"."""
    return f"{fingerprint[:4].upper()} {fingerprint[4:8].upper()}…"


def signed_message(event_hash: str) -> bytes:
    """What an event's signature covers: its hash, behind a prefix that keeps the signature
    from being valid for anything else the same key signs (evidence packs)."""
    return SIGNATURE_DOMAIN + bytes.fromhex(event_hash)


# -- who may do what ------------------------------------------------------------------------------

class Permission(StrEnum):
    READ = "read"  # recording a read: verifying the chain, exporting evidence
    OWN_KEY = "own key"  # asking to be enrolled, rotating one's own key
    DEVELOP = "develop"  # register models and versions, move stages, ask for promotion
    VALIDATE = "validate"  # approve or reject a promotion
    OWN_MODEL = "own model"  # edit a model's facts and monitors, handle its alerts, roll back
    ADMINISTER = "administer"  # people, roles, keys, workspace settings
    # What a decision brings with it in the same write: archiving the production version that a
    # promotion or a rollback replaces.
    CONSEQUENCE = "consequence"
    SCHEDULE = "schedule"  # what a running scheduler writes


ROLES_WITH = {
    Permission.READ: frozenset(Role),
    Permission.OWN_KEY: frozenset(Role),
    Permission.DEVELOP: frozenset({Role.DEVELOPER, Role.OWNER, Role.ADMIN}),
    Permission.VALIDATE: frozenset({Role.VALIDATOR}),
    Permission.OWN_MODEL: frozenset({Role.OWNER, Role.ADMIN}),
    Permission.ADMINISTER: frozenset({Role.ADMIN}),
    Permission.CONSEQUENCE: frozenset({Role.VALIDATOR, Role.OWNER, Role.ADMIN}),
    Permission.SCHEDULE: frozenset(Role) - {Role.VIEWER},
}

# Actions a running scheduler writes, unsigned, covered by its next checkpoint. A person may
# cause some of them too (pausing a monitor); then they are signed like any decision.
SCHEDULER_ACTIONS = frozenset({
    "monitor.run_succeeded", "monitor.run_failed", "monitor.run_cancelled",
    "monitor.run_insufficient_data", "monitor.run_retry_scheduled", "monitor.run_taken_over",
    "monitor.run_handed_back", "monitor.slots_missed", "monitor.paused", "alert.raised",
    "alert.escalated", "alert.emailed", "alert.email_failed", "alert.resolved",
    "alert.snooze_expired", "alert.mute_expired", "alert.digest_emailed", "alert.digest_failed",
    CHECKPOINT,
})

_PERMISSION_OF_ACTION = {
    "audit.verified": Permission.READ,
    "audit.exported": Permission.READ,
    "signing_key.registered": Permission.READ,
    ENROLMENT_REQUESTED: Permission.OWN_KEY,
    KEY_ROTATED: Permission.OWN_KEY,
    BOOTSTRAPPED: Permission.ADMINISTER,
    ENROLMENT_APPROVED: Permission.ADMINISTER,
    KEY_REVOKED: Permission.ADMINISTER,
    CHECKPOINT: Permission.SCHEDULE,
    "alert.raised": Permission.SCHEDULE,
    "alert.escalated": Permission.SCHEDULE,
    "alert.emailed": Permission.SCHEDULE,
    "alert.email_failed": Permission.SCHEDULE,
    "alert.resolved": Permission.SCHEDULE,  # an incident healthy for enough runs in a row
    "alert.snooze_expired": Permission.SCHEDULE,
    "alert.mute_expired": Permission.SCHEDULE,
    "alert.digest_emailed": Permission.SCHEDULE,
    "alert.digest_failed": Permission.SCHEDULE,
    # Handling an incident, like acknowledging, assigning and closing it ("alert." below).
    "alert.snoozed": Permission.OWN_MODEL,
    "alert.unsnoozed": Permission.OWN_MODEL,
    "alert.muted": Permission.OWN_MODEL,
    "alert.unmuted": Permission.OWN_MODEL,
    "monitor.slots_missed": Permission.SCHEDULE,
    "user.created": Permission.ADMINISTER,
    "user.updated": Permission.ADMINISTER,
    "settings.changed": Permission.ADMINISTER,
    "identity.db_login_mapped": Permission.ADMINISTER,  # PostgreSQL: person -> database login
    "postgres.grants_applied": Permission.ADMINISTER,
    "model.registered": Permission.DEVELOP,
    "version.created": Permission.DEVELOP,
    "artifact.stored": Permission.DEVELOP,
    "artifact.trusted": Permission.DEVELOP,
    "model_card.edited": Permission.DEVELOP,
    "promotion.requested": Permission.DEVELOP,
    "monitor.run_requested": Permission.DEVELOP,
    # Training: a recipe, each run's outcome and the gate's verdict (a passed gate moves the
    # challenger to staging and asks for promotion: what a developer does by hand).
    "recipe.saved": Permission.DEVELOP,
    "training.succeeded": Permission.DEVELOP,
    "training.failed": Permission.DEVELOP,
    "training.cancelled": Permission.DEVELOP,
    "training.triggered": Permission.DEVELOP,
    "gate.passed": Permission.DEVELOP,
    "gate.failed": Permission.DEVELOP,
    "version.reproduction_verified": Permission.DEVELOP,
    "version.reproduction_failed": Permission.DEVELOP,
    # Serving: bearer tokens are the admin's; scoring a file is what a developer or owner does.
    "serving_token.added": Permission.ADMINISTER,
    "serving_token.revoked": Permission.ADMINISTER,
    "batch.scored": Permission.DEVELOP,
    "promotion.approved": Permission.VALIDATE,
    "promotion.rejected": Permission.VALIDATE,
    "model.updated": Permission.OWN_MODEL,
    "monitor.created": Permission.OWN_MODEL,
    "monitor.updated": Permission.OWN_MODEL,
    "monitor.importance_measured": Permission.OWN_MODEL,
    "monitor.paused": Permission.OWN_MODEL,
    "monitor.resumed": Permission.OWN_MODEL,
    "monitor.run_cancelled": Permission.OWN_MODEL,
    "stage.promotion": Permission.VALIDATE,
    "stage.rollback": Permission.OWN_MODEL,
    "stage.auto-archive": Permission.CONSEQUENCE,
}
_PERMISSION_OF_PREFIX = (
    ("stage.", Permission.DEVELOP),
    ("alert.", Permission.OWN_MODEL),
    ("monitor.run_", Permission.SCHEDULE),
)


def permission_for(action: str) -> Permission:
    """What an action a person takes needs. An action nobody listed needs the admin: a new kind
    of event is refused until someone says who may cause it."""
    if action in _PERMISSION_OF_ACTION:
        return _PERMISSION_OF_ACTION[action]
    for prefix, permission in _PERMISSION_OF_PREFIX:
        if action.startswith(prefix):
            return permission
    return Permission.ADMINISTER


def roles_allowed(permission: Permission) -> frozenset[Role]:
    return ROLES_WITH[permission]


def describe_roles(permission: Permission) -> str:
    names = sorted(role.value for role in ROLES_WITH[permission])
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


# Subjects whose id starts with their model's name ("churn/v3", "churn/r2", ...).
MODEL_SCOPED_ENTITIES = ("version", "promotion_request", "monitor", "model_card",
                         "training_recipe", "training_run")


def model_of_event(action: str, entity_type: str, entity_id: str, after: str) -> str | None:
    """The model an event is about, for the rule that owners act on their own models only."""
    if entity_type == "model":
        return entity_id
    if entity_type in MODEL_SCOPED_ENTITIES:
        return entity_id.split("/", 1)[0]
    if entity_type == "alert" and '"model":' in after:
        model = json.loads(after).get("model")
        return model if isinstance(model, str) else None
    return None


class PermissionDeniedError(ModelLedgerError):
    """An action the person's role does not allow."""

    exit_code = 4


class NotSignedInError(ModelLedgerError):
    """Acting as someone whose private key is not on this workstation (or not approved)."""

    exit_code = 4


FOUR_EYES_SETTING = "four_eyes_required"


def check_allowed(user: str, role: Role | None, action: str, *, model_owner: str | None,
                  single_user: bool = False, scheduler: bool = False) -> None:
    """Raise the known error that says which role ``action`` needs, unless ``role`` has it.
    An owner acts on the models they own; an admin on every model."""
    permission = Permission.SCHEDULE if scheduler else permission_for(action)
    problem = permission_problem(user, role, action, permission, model_owner,
                                 single_user=single_user)
    if problem is not None:
        raise PermissionDeniedError(problem)


def permission_problem(user: str, role: Role | None, action: str, permission: Permission,
                       model_owner: str | None, *, single_user: bool = False) -> str | None:
    """Why ``user`` may not take ``action``, or None. In a single-user workspace (four-eyes
    turned off by an admin) the admin validates too: there is nobody else to."""
    if permission is Permission.OWN_KEY:
        return None  # asking to be enrolled needs no role yet; the key's validity is checked
    if role is None:
        return f"{user} has no role in this workspace; an admin must approve their enrolment."
    allowed = ROLES_WITH[permission]
    if single_user and permission in (Permission.VALIDATE, Permission.CONSEQUENCE):
        allowed = allowed | {Role.ADMIN}
    if role not in allowed:
        article = "an" if role.value[0] in "aeiou" else "a"
        return (f"{user} is {article} {role.value}; '{action}' needs the role "
                f"{describe_roles(permission)}. Ask an admin to change your role.")
    if (permission is Permission.OWN_MODEL and role is Role.OWNER and model_owner is not None
            and model_owner != user):
        return (f"{user} owns other models: '{action}' on a model owned by {model_owner} needs "
                "its owner or an admin.")
    return None


# -- verification ---------------------------------------------------------------------------------

@dataclass
class _KeyState:
    user: str
    public_key: Ed25519PublicKey
    approved_at_seq: int | None
    ended_at_seq: int | None = None  # revoked or rotated away at this event
    ended_by: str = ""  # "revoked" or "rotated"


@dataclass(frozen=True)
class DecisionProblem:
    seq: int
    problem: str


VALID, NOT_VALID, BEFORE_IDENTITY, UNCHECKED = "valid", "not valid", "before identity", "unchecked"
SCHEDULER_CHECKPOINTED, SCHEDULER_PENDING = "checkpointed", "pending checkpoint"


@dataclass(frozen=True)
class DecisionVerdict:
    kind: str  # VALID, NOT_VALID, BEFORE_IDENTITY, UNCHECKED or a SCHEDULER_ kind
    text: str
    signer_name: str = ""  # the signer's display name, for a valid decision


@dataclass
class DecisionReport:
    """The verdict on every decision: signature, key, author and role, by sequence number."""

    identity_from_seq: int | None = None  # the first event written under signed identity
    last_seq: int = 0  # the last event judged
    before_identity: int = 0  # events before it: verified by the chain only
    signed: int = 0
    checkpointed: int = 0  # scheduler events vouched for by a checkpoint
    uncovered: list[int] = field(default_factory=list)  # scheduler events with no checkpoint yet
    problems: list[DecisionProblem] = field(default_factory=list)
    # seq -> (actor, fingerprint): who signed each valid decision, for badges
    signers: dict[int, tuple[str, str]] = field(default_factory=dict)
    display_names: dict[str, str] = field(default_factory=dict)  # user -> name, for badges

    def verdict(self, seq: int) -> DecisionVerdict:
        """One event's verdict, for badges: "signed by Bob Liu, key 3F2A 1B9C…, valid"."""
        if seq > self.last_seq:
            return DecisionVerdict(UNCHECKED, "not checked yet: written after the last check")
        for problem in self.problems:
            if problem.seq == seq:
                return DecisionVerdict(NOT_VALID, f"NOT VALID: {problem.problem}")
        if seq in self.signers:
            user, fingerprint = self.signers[seq]
            name = self.display_names.get(user, user)
            return DecisionVerdict(VALID, f"signed by {name}, key "
                                          f"{short_fingerprint(fingerprint)}, valid", name)
        if self.identity_from_seq is None or seq < self.identity_from_seq:
            return DecisionVerdict(BEFORE_IDENTITY,
                                   "before signed identity: vouched for by the chain only")
        if seq in self.uncovered:
            return DecisionVerdict(SCHEDULER_PENDING, "written by a scheduler, not yet vouched "
                                                      "for by a signed checkpoint")
        return DecisionVerdict(SCHEDULER_CHECKPOINTED,
                               "written by a scheduler, vouched for by its signed checkpoint")

    def badge(self, seq: int) -> str:
        return self.verdict(seq).text

    @property
    def valid(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        if self.identity_from_seq is None:
            return ("Signed identity: not set up in this workspace (events are verified by the "
                    "chain only).")
        lines = [f"Signed identity from event {self.identity_from_seq}: {self.signed} signed "
                 f"decisions, {self.checkpointed} scheduler events under signed checkpoints, "
                 f"{self.before_identity} events before signed identity."]
        if self.uncovered:
            lines.append(f"  {len(self.uncovered)} scheduler events after the last checkpoint "
                         f"(from event {self.uncovered[0]}) are not yet vouched for.")
        for problem in self.problems[:50]:
            lines.append(f"  PROBLEM at event {problem.seq}: {problem.problem}")
        if len(self.problems) > 50:
            lines.append(f"  ... and {len(self.problems) - 50} more problems")
        if not self.problems:
            lines.append("  Every decision is signed by its author's valid key.")
        return "\n".join(lines)


class DecisionVerifier:
    """Walks the chain in order (after ``verify_chain`` has checked its links) and judges each
    event by the keys, roles and owners the events before it established."""

    def __init__(self) -> None:
        self.report = DecisionReport()
        self._keys: dict[str, _KeyState] = {}
        self._roles: dict[str, Role] = {}
        self._owners: dict[str, str] = {}
        self._single_user = False
        self._pending: list[int] = []

    def feed(self, events: Iterable[AuditEvent]) -> None:
        for event in events:
            self.check(event)

    def finish(self) -> DecisionReport:
        self.report.uncovered = list(self._pending)
        return self.report

    def check(self, event: AuditEvent) -> None:
        """Judge one event; call in sequence order."""
        report = self.report
        report.last_seq = event.seq
        if report.identity_from_seq is None:
            if event.action != BOOTSTRAPPED:
                report.before_identity += 1
                self._learn(event)
                return
            report.identity_from_seq = event.seq
        if event.signer is None or event.signature is None:
            if event.action in SCHEDULER_ACTIONS and event.action != CHECKPOINT:
                self._pending.append(event.seq)
            else:
                self._problem(event, f"'{event.action}' by {event.actor} is not signed, and "
                                     "every decision must be")
            self._learn(event)
            return
        problem = self._signature_problem(event, event.signer, event.signature)
        if problem is None:
            problem = self._role_problem(event)
        if problem is not None:
            self._problem(event, problem)
        else:
            report.signed += 1
            report.signers[event.seq] = (event.actor, event.signer)
            if event.action == CHECKPOINT:
                report.checkpointed += len(self._pending)
                self._pending.clear()
        self._learn(event)

    def _signature_problem(self, event: AuditEvent, signer: str,
                           signature: str) -> str | None:
        key = self._keys.get(signer)
        if key is None and event.action in (BOOTSTRAPPED, ENROLMENT_REQUESTED):
            key = self._introduced_key(event, signer)
        if key is None:
            return f"signed by a key this workspace never enrolled ({signer[:16]}…)"
        try:
            key.public_key.verify(bytes.fromhex(signature), signed_message(event.hash))
        except (InvalidSignature, ValueError):
            return ("its signature does not match the event (forged, or copied from another "
                    "event)")
        if event.action == KEY_ROTATED and json.loads(event.after).get(
                "old_fingerprint") != signer:
            return "a key rotation must be signed by the key it replaces"
        if key.user != event.actor:
            return (f"the event names {event.actor} as its author, but it is signed with "
                    f"{key.user}'s key")
        if key.ended_at_seq is not None and event.seq > key.ended_at_seq:
            return (f"signed with {key.user}'s key {signer[:16]}… after it was "
                    f"{key.ended_by} at event {key.ended_at_seq}")
        if key.approved_at_seq is None and event.action not in (BOOTSTRAPPED,
                                                                ENROLMENT_REQUESTED):
            return (f"signed with {key.user}'s key {signer[:16]}…, which no admin "
                    "had approved")
        return None

    def _introduced_key(self, event: AuditEvent, fingerprint: str) -> _KeyState | None:
        after = json.loads(event.after)
        if after.get("fingerprint") != fingerprint:
            return None
        try:
            public_key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(after["public_key"]))
        except (KeyError, ValueError):
            return None
        return _KeyState(after.get("user", ""), public_key, None)

    def _role_problem(self, event: AuditEvent) -> str | None:
        if event.action == BOOTSTRAPPED:
            if any(role is Role.ADMIN for role in self._roles.values()) and self._keys:
                return "a second bootstrap: the workspace already had an admin with a key"
            return None
        permission = permission_for(event.action)
        model = model_of_event(event.action, event.entity_type, event.entity_id, event.after)
        problem = permission_problem(event.actor, self._roles.get(event.actor), event.action,
                                     permission, self._owners.get(model) if model else None,
                                     single_user=self._single_user)
        return None if problem is None else f"not allowed at the time: {problem}"

    def _problem(self, event: AuditEvent, text: str) -> None:
        self.report.problems.append(DecisionProblem(event.seq, text))

    def _learn(self, event: AuditEvent) -> None:
        """What this event establishes for the ones after it (read only from events that are
        themselves valid: a forged role change or key must not open the door to others)."""
        action = event.action
        if not action.startswith(ESTABLISHING_PREFIXES):
            return
        if any(problem.seq == event.seq for problem in self.report.problems[-1:]):
            return
        after = json.loads(event.after)
        name = after.get("display_name") if isinstance(after, dict) else None
        if name and (action in USER_ACTIONS or action in (BOOTSTRAPPED, ENROLMENT_REQUESTED)):
            self.report.display_names[after.get("user", event.entity_id)] = name
        if action == "settings.changed" and FOUR_EYES_SETTING in after:
            self._single_user = after[FOUR_EYES_SETTING] is False
        elif action in USER_ACTIONS and "role" in after:
            self._roles[event.entity_id] = Role(after["role"])
        elif action in ("model.registered", "model.updated") and "owner" in after:
            self._owners[event.entity_id] = after["owner"]
        elif action == BOOTSTRAPPED:
            key = self._introduced_key(event, after.get("fingerprint", ""))
            if key is not None:
                key.approved_at_seq = event.seq
                self._keys[after["fingerprint"]] = key
                # Roles written before signed identity were labels anyone could set: from here
                # on only the first admin has one, and others get theirs when approved.
                self._roles = {key.user: Role.ADMIN}
        elif action == ENROLMENT_REQUESTED:
            key = self._introduced_key(event, after.get("fingerprint", ""))
            if key is not None and after["fingerprint"] not in self._keys:
                self._keys[after["fingerprint"]] = key
        elif action == ENROLMENT_APPROVED:
            key = self._keys.get(after.get("fingerprint", ""))
            if key is not None:
                key.approved_at_seq = event.seq
            if "role" in after:
                self._roles[after.get("user", event.entity_id)] = Role(after["role"])
        elif action == KEY_ROTATED:
            old = self._keys.get(after.get("old_fingerprint", ""))
            try:
                public_key = Ed25519PublicKey.from_public_bytes(
                    bytes.fromhex(after["public_key"]))
            except (KeyError, ValueError):
                return
            if old is not None:
                old.ended_at_seq, old.ended_by = event.seq, "rotated"
                self._keys[after["fingerprint"]] = _KeyState(old.user, public_key, event.seq)
        elif action == KEY_REVOKED:
            key = self._keys.get(after.get("fingerprint", ""))
            if key is not None and key.ended_at_seq is None:
                key.ended_at_seq, key.ended_by = event.seq, "revoked"


def verify_decisions(events: Iterable[AuditEvent]) -> DecisionReport:
    verifier = DecisionVerifier()
    verifier.feed(events)
    return verifier.finish()
