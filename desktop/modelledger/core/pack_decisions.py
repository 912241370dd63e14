"""Checking every decision in an evidence pack by its signature, with nothing but the pack.

The chain segment in ``events.jsonl`` proves what happened; who decided it is proven by two more
files, written by packs since signed identity (older packs lack them, and then only the chain is
checked):

``decisions.jsonl``
    One line ``[seq, signer, signature]`` per signed event of the segment and of the identity
    history: the signer's key fingerprint and the Ed25519 signature over the event's hash
    (``core.identity.signed_message``). Signatures are not part of an event's hash (a signature
    signs the hash), so they travel beside the chain rather than in it.
``identity_history.jsonl``
    The events before the segment that establish keys, roles, model owners and the four-eyes
    setting (``core.identity.ESTABLISHING_PREFIXES``), as lines of the same form as
    ``events.jsonl``. Without them a segment that starts late could not tell whose key signed
    its first decision, or whether that key had been revoked.

What a verifier can know: each history event is checked by its own hash and signature, but it is
not linked into the chain (the events between are not in the pack), so that the history is
complete rests on the exporter's signature over the manifest. Leaving out an enrolment only
makes decisions fail; leaving out a revocation is what a dishonest exporter could do, which is
why the reviewer checks the exporter's key as well.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from modelledger.core.audit_chain import hash_of
from modelledger.core.domain import AuditEvent
from modelledger.core.identity import ESTABLISHING_PREFIXES, DecisionReport, DecisionVerifier

DECISIONS_FILE = "decisions.jsonl"
HISTORY_FILE = "identity_history.jsonl"
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")
_SIGNATURE = re.compile(r"[0-9a-f]{128}")
_EVENT_FIELD_COUNT = 12
# A damaged file must not bury the report (as core.evidence caps each file's problems).
_MAX_PROBLEMS = 50


def decision_line(seq: int, signer: str, signature: str) -> bytes:
    """One line of decisions.jsonl, without its line break."""
    return json.dumps([seq, signer, signature], separators=(",", ":")).encode()


@dataclass(frozen=True)
class PackDecisions:
    """What checking the decisions of a pack found. ``report`` judges the identity history and
    the segment together, in sequence order; the counts say how much of it is the segment."""

    report: DecisionReport
    history_events: int
    segment_signed: int
    problems: tuple[str, ...]  # the files' own problems and every decision's, for the verdict

    def describe(self) -> str:
        report = self.report
        if report.identity_from_seq is None:
            return ("  decisions: the workspace had no signed identity over this segment; "
                    "the chain alone vouches for its events")
        lines = [f"  decisions: {self.segment_signed:,} signed in the segment, each checked "
                 "against the key its author held at the time "
                 f"(identity history: {self.history_events:,} events before the segment)"]
        if report.uncovered:
            lines.append(f"  {len(report.uncovered):,} scheduler events at the segment's end "
                         "are not yet vouched for by a signed checkpoint")
        return "\n".join(lines)


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.more = 0

    def add(self, text: str) -> None:
        if len(self.items) < _MAX_PROBLEMS:
            self.items.append(text)
        else:
            self.more += 1

    def as_tuple(self) -> tuple[str, ...]:
        more = [f"... and {self.more} more problems with the decisions"] if self.more else []
        return (*self.items, *more)


def check_pack_decisions(history: Iterable[bytes], decisions: Iterable[bytes],
                         segment: Iterable[bytes], first_seq: int) -> PackDecisions:
    """Judge every event of ``segment`` (the lines of an events.jsonl whose chain has already
    been checked) and of ``history`` (the identity_history.jsonl lines) by the signatures in
    ``decisions``, with DecisionVerifier's rules. Lines come without their line breaks."""
    problems = _Problems()
    signatures = _read_signatures(decisions, problems)
    verifier = DecisionVerifier()
    used: set[int] = set()
    history_events = 0
    previous_seq = 0
    for number, line in enumerate(history, 1):
        event = _history_event(line, number, previous_seq, first_seq, problems, used)
        if event is None:
            continue
        previous_seq = event.seq
        history_events += 1
        verifier.check(_signed(event, signatures, used))
    history_signed = verifier.report.signed
    for line in segment:
        verifier.check(_signed(AuditEvent(*json.loads(line)), signatures, used))
    for seq in sorted(signatures.keys() - used)[:_MAX_PROBLEMS]:
        problems.add(f"{DECISIONS_FILE} has a signature for event {seq}, which is neither in "
                     f"the segment nor in {HISTORY_FILE}")
    report = verifier.finish()
    for problem in report.problems:
        problems.add(f"decision at event {problem.seq}: {problem.problem}")
    return PackDecisions(report, history_events, report.signed - history_signed,
                         problems.as_tuple())


def _read_signatures(lines: Iterable[bytes], problems: _Problems) -> dict[int, tuple[str, str]]:
    signatures: dict[int, tuple[str, str]] = {}
    for number, line in enumerate(lines, 1):
        try:
            seq, signer, signature = json.loads(line)
            if not (type(seq) is int and isinstance(signer, str) and isinstance(signature, str)
                    and _FINGERPRINT.fullmatch(signer) and _SIGNATURE.fullmatch(signature)):
                raise ValueError("it is not [seq, key fingerprint, signature]")
        except ValueError as error:
            problems.add(f"{DECISIONS_FILE} line {number} cannot be read "
                         f"({getattr(error, 'msg', error)})")
            continue
        if seq in signatures:
            problems.add(f"{DECISIONS_FILE} holds two signatures for event {seq}")
            continue
        signatures[seq] = (signer, signature)
    return signatures


def _history_event(line: bytes, number: int, previous_seq: int, first_seq: int,
                   problems: _Problems, used: set[int]) -> AuditEvent | None:
    """The event on a history line, or None with its problem noted (its signature then needs
    no problem of its own: it is marked ``used``)."""
    where = f"{HISTORY_FILE} line {number}"
    try:
        row = json.loads(line)
        if not (isinstance(row, list) and len(row) == _EVENT_FIELD_COUNT
                and type(row[0]) is int and all(isinstance(value, str) for value in row[1:])):
            raise ValueError("it is not an audit event")
    except ValueError as error:
        problems.add(f"{where} cannot be read ({getattr(error, 'msg', error)})")
        return None
    event = AuditEvent(*row)
    used.add(event.seq)
    if hash_of(event) != event.hash:
        problems.add(f"{where} (event {event.seq}) does not match its hash: it was altered")
    elif not previous_seq < event.seq < first_seq:
        problems.add(f"{where} (event {event.seq}) is out of order: the history runs in "
                     f"sequence order and ends before the segment's first event {first_seq}")
    elif not event.action.startswith(ESTABLISHING_PREFIXES):
        problems.add(f"{where} (event {event.seq}, '{event.action}') is not an event that "
                     "establishes keys, roles, owners or settings")
    else:
        return event
    return None


def _signed(event: AuditEvent, signatures: dict[int, tuple[str, str]],
            used: set[int]) -> AuditEvent:
    found = signatures.get(event.seq)
    if found is None:
        return event
    used.add(event.seq)
    return replace(event, signer=found[0], signature=found[1])
