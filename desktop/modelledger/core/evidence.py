"""Evidence packs: what one holds, and checking one with nothing but its bytes.

An evidence pack is one zip file:

``manifest.json``
    Every other file with its SHA-256 and size (``signature.json`` aside), the chain segment's
    bounds, the selection, the signer (user, host, key fingerprint), the time, ModelLedger's
    version and schema revision. Any file in the zip that the manifest does not list, or the
    other way round, is a problem.
``signature.json``
    An Ed25519 signature over the exact bytes of ``manifest.json``, the signer's raw 32-byte
    public key (hex) and its fingerprint: the SHA-256 of that raw key, hex.
``events.jsonl``
    The chain segment: every audit event from the first selected one to the last, one per line,
    as the JSON array ``[seq, occurred_at, actor, host, action, entity_type, entity_id, before,
    after, reason, prev_hash, hash]`` in the canonical form of ``core.audit_chain`` (no spaces,
    UTF-8 as is). Everything before the hash is the hashed document, so a reviewer can check a
    line with any JSON library: ``sha256(json.dumps(row[:-1], separators=(",", ":"),
    ensure_ascii=False).encode()) == row[-1]``.
``events.csv``
    The selected events only, for spreadsheets: the same columns, strings quoted (QUOTE_NONNUMERIC).
``signing_keys.json``
    The workspace's registered signing keys, each with the audit event that registered it, so a
    verifier can tell a key the workspace knows from an unknown one.
``decisions.jsonl``, ``identity_history.jsonl``
    Each decision's signature, and the events before the segment that say whose keys and roles
    were valid when: every decision is checked with them (``core.pack_decisions``).
anything else
    Reports the exporter added (HTML, PDF, charts), listed and hashed like the rest.

Why the segment also holds events that were not selected: an event's hash covers its whole
content, so a link can only be checked with the event before it in full. The simplest honest
segment is therefore every event from the first selected to the last selected one; the selection
(models and period, recorded in the manifest) says which of them are the subject of the pack,
and ``events.csv`` holds exactly those. A pack about one model thus shows the reviewer the other
events written between its first and last event.

What a verifier can and cannot know from the pack alone: the signature proves who signed the
manifest and that nothing changed since. That the signing key belongs to the workspace is shown by
its registration event; when that event lies inside the segment it is linked into the chain
checked here, otherwise only its own hash can be checked, and the reviewer should compare the
fingerprint with one they know (an earlier pack, or the workspace itself).

A reply pack (``kind`` "review_reply") holds a reviewer's notes, names the original pack by the
SHA-256 of its manifest, and is signed by the reviewer's own key.

Checking ``events.jsonl`` is the slow part of verifying a large pack. Whole blocks of lines are
checked by ``vouch_for_block`` with numpy over the block's bytes: where the line breaks,
escapes and string quotes are, whether every line has the layout of a canonical event, then one
SHA-256 per line over the line's own bytes (its hashed document is the line up to the hash, so
nothing is parsed or written again). It is a pure function that can run in other processes
(``vouch_for_range`` reads a stretch of an uncompressed events.jsonl in one). A block it cannot
vouch for, because a line is malformed, not canonical or out of place, or because it uses a
rare escape, is checked line by line instead, which names exactly what is wrong. The fast path
only ever accepts lines that are canonical JSON, so both paths agree on every line (property
tests hold them to it, on valid and on damaged lines).

The events.csv that the selected events make is not held whole: the checker hands its rows on
as it goes, and the verifier holds the pack's events.csv to them as it reads it.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import cached_property
from itertools import zip_longest
from operator import methodcaller
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from numpy.lib.stride_tricks import sliding_window_view

from modelledger.core.audit_chain import canonical_json, hash_of
from modelledger.core.domain import AuditEvent
from modelledger.core.identity import fingerprint_of
from modelledger.core.pack_decisions import DECISIONS_FILE, HISTORY_FILE, PackDecisions

PACK_FORMAT = "modelledger-evidence-pack"
FORMAT_VERSION = 1
EVIDENCE_KIND = "evidence"
REPLY_KIND = "review_reply"
KIND_NAMES = {EVIDENCE_KIND: "evidence pack", REPLY_KIND: "review reply pack"}

MANIFEST_FILE = "manifest.json"
SIGNATURE_FILE = "signature.json"
CHAIN_FILE = "events.jsonl"
CSV_FILE = "events.csv"
KEYS_FILE = "signing_keys.json"
NOTES_FILE = "review_notes.txt"
RESERVED_NAMES = frozenset({MANIFEST_FILE, SIGNATURE_FILE, CHAIN_FILE, CSV_FILE, KEYS_FILE,
                            NOTES_FILE, DECISIONS_FILE, HISTORY_FILE})

EVENT_FIELDS = ("seq", "occurred_at", "actor", "host", "action", "entity_type", "entity_id",
                "before", "after", "reason", "prev_hash", "hash")
KEY_REGISTERED_ACTION = "signing_key.registered"
KEY_ENTITY_TYPE = "signing_key"
PACK_EXPORTED_ACTION = "audit.exported"
ALERT_ENTITY_TYPE = "alert"
SIGNATURE_ALGORITHM = "Ed25519"
# A cap on the problems listed for one file: a damaged file must not bury the report.
MAX_PROBLEMS_PER_FILE = 50

_QUOTES_PER_LINE = 2 * (len(EVENT_FIELDS) - 1)  # every field but seq is a string
_NEWLINE, _QUOTE, _BACKSLASH, _COMMA, _OPEN, _CLOSE, _CARRIAGE_RETURN = b'\n"\\,[]\r'
# A line ends ,"<prev_hash>","<hash>"] before its line break; counted back from the break:
_HASH_BACK = 66  # where the hash starts
_PREV_HASH_BACK = 133  # where the prev_hash starts
_HASHED_END_BACK = 68  # the hashed document is the line before this comma, closed with "]"
_HEX_LENGTH = 64
# The escapes canonical JSON writes with a second character; any other control character it
# writes as \u00XX, which the fast path leaves to the slow one.
_PLAIN_ESCAPE = np.zeros(256, bool)
_PLAIN_ESCAPE[list(b'"\\nrtbf')] = True
# What the backslash of each escape becomes in events.csv: the quote of a doubled quote, the
# backslash or control character it stands for (the second character then goes).
_CSV_BYTE_FOR_ESCAPE = np.zeros(256, np.uint8)
_CSV_BYTE_FOR_ESCAPE[list(b'"\\nrtbf')] = list(b'"\\\n\r\t\b\f')
_POWERS_OF_TEN = 10 ** np.arange(1, 19, dtype=np.int64)
_FAST_SEQ_LIMIT = 10 ** 18  # above it a sequence number no longer fits numpy's int64
_digest = methodcaller("digest")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX64_BYTES = re.compile(rb"[0-9a-f]{64}")
# One encoder for every line: json.dumps with options builds a new one per call.
_LINE_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def json_document(value: Mapping[str, Any]) -> bytes:
    """How the pack's JSON files are written (the manifest is signed as exactly these bytes)."""
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def event_line(row: Sequence[Any]) -> bytes:
    """One line of events.jsonl, without its line break: the event's hashed document with its
    hash appended."""
    return _LINE_ENCODER.encode(row).encode()


@dataclass(frozen=True)
class RegisteredKey:
    """A signing key the workspace knows: whose it is and when it was registered."""

    user: str
    fingerprint: str
    public_key: str  # hex of the raw 32 bytes
    registered_at: str  # the hashed timestamp form


@dataclass(frozen=True)
class EventSelection:
    """Which events a pack is about: some models (none: every event) within a period.

    A model's events are the model's own, those of everything under it (versions, requests,
    monitors), whose entity ids are "model/...", and those of the alerts raised for it, whose
    recorded values name it (the audit page's model filter picks the same). Times are in the
    audit log's timestamp form; the period includes ``occurred_from`` and excludes
    ``occurred_before``. Deciding needs nothing but the event, so a verifier can decide too.
    """

    models: tuple[str, ...] = ()
    occurred_from: str | None = None
    occurred_before: str | None = None

    @classmethod
    def for_days(cls, models: Iterable[str] = (), first_day: date | None = None,
                 last_day: date | None = None) -> EventSelection:
        """The events of ``models`` from the start of ``first_day`` to the end of ``last_day``
        (UTC days, both included)."""
        return cls(
            tuple(sorted(set(models))),
            _day_start(first_day) if first_day else None,
            _day_start(last_day + timedelta(days=1)) if last_day else None,
        )

    @property
    def selects_everything(self) -> bool:
        return not self.models and self.occurred_from is None and self.occurred_before is None

    @cached_property
    def _model_prefixes(self) -> tuple[str, ...]:
        return tuple(f"{model}/" for model in self.models)

    @cached_property
    def alert_markers(self) -> tuple[str, ...]:
        """How an alert's recorded values (canonical JSON) name each selected model."""
        return tuple(f'"model":{json.dumps(model, ensure_ascii=False)}' for model in self.models)

    def in_period(self, occurred_at: str) -> bool:
        return ((self.occurred_from is None or occurred_at >= self.occurred_from)
                and (self.occurred_before is None or occurred_at < self.occurred_before))

    def matches(self, entity_type: str, entity_id: str, after: str, occurred_at: str) -> bool:
        if not self.in_period(occurred_at):
            return False
        return (not self.models or entity_id in self.models
                or entity_id.startswith(self._model_prefixes)
                or (entity_type == ALERT_ENTITY_TYPE
                    and any(marker in after for marker in self.alert_markers)))

    def matches_row(self, row: Sequence[Any]) -> bool:
        """``matches`` for an event as the list or tuple of its fields."""
        return self.matches(row[5], row[6], row[8], row[1])

    def as_manifest(self) -> dict[str, Any]:
        return {"models": list(self.models), "occurred_from": self.occurred_from,
                "occurred_before": self.occurred_before}

    @classmethod
    def from_manifest(cls, value: Any) -> EventSelection:
        """Raises ValueError when ``value`` is not a selection as ``as_manifest`` writes it."""
        if not isinstance(value, dict):
            raise ValueError("it is not an object")
        models = value.get("models")
        if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
            raise ValueError("'models' is not a list of names")
        bounds = (value.get("occurred_from"), value.get("occurred_before"))
        if not all(bound is None or isinstance(bound, str) for bound in bounds):
            raise ValueError("the period is not given as timestamps")
        return cls(tuple(models), *bounds)

    def describe(self) -> str:
        models = ", ".join(self.models) if self.models else "every model and workspace event"
        start, before = self.occurred_from, self.occurred_before
        if start is None and before is None:
            return f"{models}, whole history"
        start_day, end_day = _day_of(start), _day_of(before, days_before=1)
        if (start is None or start_day) and (before is None or end_day):
            return f"{models}, {start_day or 'the beginning'} to {end_day or 'now'} (UTC days)"
        return f"{models}, from {start or 'the beginning'} until before {before or 'now'}"


_DAY_START = "T00:00:00.000000Z"


def _day_start(day: date) -> str:
    return f"{day.isoformat()}{_DAY_START}"


def _day_of(timestamp: str | None, *, days_before: int = 0) -> str | None:
    """The day a timestamp starts, when it is the very start of one."""
    if timestamp is None or not timestamp.endswith(_DAY_START):
        return None
    try:
        day = date.fromisoformat(timestamp[:-len(_DAY_START)])
    except ValueError:
        return None
    return (day - timedelta(days=days_before)).isoformat()


# -- events.csv ------------------------------------------------------------------------------------


def csv_header() -> bytes:
    return _csv_record(EVENT_FIELDS)


def event_block(rows: Sequence[Sequence[Any]]) -> bytes:
    """Lines of events.jsonl, each with its line break.

    The rows are encoded in one call, since setting the encoder up costs more than encoding a
    row. In that text each row ends '"]' (its hash is a string) and the next begins '[', so
    '"],[' stands at every boundary between rows; when it occurs no more often than that, it
    stands nowhere else and becomes a line break. Rows that hold it in a text are encoded one by
    one.
    """
    if not rows:
        return b""
    text = _LINE_ENCODER.encode(rows)[1:-1]
    if (text.count('"],[') == len(rows) - 1
            and all(type(row[-1]) is str for row in rows)):
        return (text.replace('"],[', '"]\n[') + "\n").encode()
    return "".join([_LINE_ENCODER.encode(row) + "\n" for row in rows]).encode()


def csv_rows(block: bytes) -> bytes:
    """The events.csv rows of a block of canonical events.jsonl lines (each with its break).

    With QUOTE_NONNUMERIC every string is quoted and only its quotes are doubled, so a canonical
    line becomes its CSV row by byte edits alone: the brackets go, \\" becomes "", the other
    escapes become the characters they stand for. No parsing, which matters at a million
    events; a line with a \\u00XX escape is parsed and written by the csv module instead. Both
    ways give the bytes ``csv.writer`` gives (a test holds them to it).
    """
    layout = _LineLayout(block)
    unicode_lines = np.unique(np.searchsorted(layout.ends,
                                              layout.escapes[layout.escaped == ord("u")]))
    if not len(unicode_lines):
        return layout.csv()
    rows, done = [], 0
    for line in unicode_lines.tolist():
        start, end = int(layout.starts[line]), int(layout.ends[line]) + 1
        rows += [csv_rows(block[done:start]), _csv_record(json.loads(block[start:end]))]
        done = end
    return b"".join([*rows, csv_rows(block[done:])])


class _LineLayout:
    """Where the lines of a block of whole lines start and end, and where its escapes are."""

    def __init__(self, block: bytes) -> None:
        self.block = block
        self.bytes = np.frombuffer(block, np.uint8)
        # Each line's break: canonical JSON holds no other control character, and
        # vouch_for_block holds the block to that.
        self.ends = np.flatnonzero(self.bytes < 0x20)
        self.starts = np.empty_like(self.ends)
        self.starts[:1] = 0
        self.starts[1:] = self.ends[:-1] + 1
        backslashes = np.flatnonzero(self.bytes == _BACKSLASH)
        if b"\\\\" in block:
            # In a run of backslashes every other one, from the first, begins an escape.
            index = np.arange(len(backslashes))
            begins_run = np.ones(len(backslashes), bool)
            begins_run[1:] = backslashes[1:] != backslashes[:-1] + 1
            run_start = np.maximum.accumulate(np.where(begins_run, index, 0))
            backslashes = backslashes[(index - run_start) % 2 == 0]
        self.escapes = backslashes  # where each escape's backslash is
        self.escaped = self.bytes[np.minimum(backslashes + 1, len(block) - 1)]

    def csv(self, selected: np.ndarray | None = None) -> bytes:
        """The events.csv rows of the (``selected``) lines, none of which has a \\u escape."""
        rows = self.bytes.copy()
        rows[self.ends - 1] = _CARRIAGE_RETURN  # ']\n' becomes the row's '\r\n'
        rows[self.escapes] = _CSV_BYTE_FOR_ESCAPE[self.escaped]
        keep = np.ones(len(rows), bool)
        keep[self.starts] = False  # the '['
        keep[self.escapes[self.escaped != _QUOTE] + 1] = False
        if selected is not None:
            keep &= np.repeat(selected, self.ends - self.starts + 1)
        return rows[keep].tobytes()


def _csv_record(row: Sequence[Any]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n").writerow(row)
    return buffer.getvalue().encode()


def csv_differences(expected: Iterable[bytes], actual: Iterable[bytes]) -> list[str]:
    """Where events.csv first departs from the CSV its selected events make (both as chunks)."""
    expected_rows = csv.reader(_text_lines(expected))
    actual_rows = csv.reader(_text_lines(actual))
    try:
        for number, (wanted, found) in enumerate(zip_longest(expected_rows, actual_rows), 1):
            if wanted == found:
                continue
            if found is None:
                return [f"{CSV_FILE} ends after row {number - 1}; event {wanted[0]} and any "
                        "selected events after it are missing"]
            if wanted is None:
                return [f"{CSV_FILE} has rows after the last selected event, from row {number}"]
            if number == 1:
                return [f"{CSV_FILE}: the header row is not {', '.join(EVENT_FIELDS)}"]
            if not found or wanted[0] != found[0]:
                return [f"{CSV_FILE}: row {number} holds event {found[0] if found else '(none)'}"
                        f" where the selection has event {wanted[0]}"]
            columns = [name for name, left, right in zip_longest(EVENT_FIELDS, wanted, found)
                       if left != right]
            return [f"{CSV_FILE}: row {number} (event {wanted[0]}) differs from {CHAIN_FILE} in "
                    f"{', '.join(str(column) for column in columns)}"]
    except csv.Error as error:
        return [f"{CSV_FILE} is not a readable CSV file ({error})"]
    return [f"{CSV_FILE} holds the selected events but not in the bytes the export writes "
            "(quoting or line breaks differ)"]


def selected_csv(chain: Iterable[bytes], selection: EventSelection) -> Iterator[bytes]:
    """The events.csv that the selected events of an events.jsonl stream make, line by line
    whatever state the stream is in: slow, for naming where a CSV departs from its events."""
    yield csv_header()
    pending = b""
    for chunk in [*chain, b"\n"]:
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if _is_event_row(row) and selection.matches_row(row):
                yield _csv_record(row)


def _text_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    for chunk in chunks:
        pending += decoder.decode(chunk)
        *complete, pending = pending.split("\n")
        yield from (line + "\n" for line in complete)
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending


# -- problems --------------------------------------------------------------------------------------


class _Problems:
    """The problems found in one file, capped so that a damaged file cannot bury the report."""

    def __init__(self, file_name: str) -> None:
        self._file_name = file_name
        self._listed: list[str] = []
        self._unlisted = 0

    def add(self, text: str) -> None:
        if len(self._listed) < MAX_PROBLEMS_PER_FILE:
            self._listed.append(f"{self._file_name}: {text}")
        else:
            self._unlisted += 1

    def __bool__(self) -> bool:
        return bool(self._listed)

    @property
    def full(self) -> bool:
        return len(self._listed) >= MAX_PROBLEMS_PER_FILE

    def as_list(self) -> list[str]:
        if self._unlisted:
            return [*self._listed, f"{self._file_name}: {self._unlisted} more problems are not "
                                   "listed"]
        return list(self._listed)


# -- the chain segment -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainBounds:
    """Where the manifest says the segment starts and ends (None: the manifest does not say)."""

    first_seq: int | None = None
    first_prev_hash: str | None = None
    first_hash: str | None = None
    last_seq: int | None = None
    last_hash: str | None = None
    event_count: int | None = None
    selected_count: int | None = None


@dataclass(frozen=True)
class SegmentFacts:
    """What checking events.jsonl found."""

    event_count: int
    selected_count: int
    first_seq: int | None
    last_seq: int | None
    problems: tuple[str, ...]
    lines_by_seq: Mapping[int, bytes]  # the lines asked for (key registrations), as found


@dataclass
class _MissingRange:
    first: int
    last: int
    context: str


class ChainSegmentChecker:
    """Checks events.jsonl as its bytes stream by, holding no more than one block of it.

    Each event's hash is recomputed, each link (prev_hash) and sequence number followed, the
    first and last events held against the manifest, and the selected events turned into the
    CSV they make, handed to ``on_csv_rows`` in order, header first.
    """

    def __init__(self, selection: EventSelection, bounds: ChainBounds,
                 wanted_seqs: Collection[int] = (), *,
                 on_csv_rows: Callable[[bytes | CsvDigest], None]) -> None:
        self._selection = selection
        self._bounds = bounds
        self._wanted = frozenset(wanted_seqs)
        self._lines_by_seq: dict[int, bytes] = {}
        self._on_csv_rows = on_csv_rows
        self._csv_rows = [csv_header()]  # the header and the careful path's rows, not yet handed on
        self._pending = b""
        self._line_number = 0
        self._expected_seq = bounds.first_seq
        self._prev_hash = bounds.first_prev_hash
        self._first_seq: int | None = None
        self._last_seq: int | None = None
        self._event_count = 0
        self._selected_count = 0
        self._missing: list[_MissingRange] = []
        self._problems = _Problems(CHAIN_FILE)

    @property
    def selection(self) -> EventSelection:
        return self._selection

    @property
    def wanted_seqs(self) -> frozenset[int]:
        return self._wanted

    def feed(self, data: bytes) -> None:
        """Check the next bytes of events.jsonl, in this thread: the first event, and a block of
        whole lines that ``vouch_for_block`` cannot vouch for or that does not follow on, line
        by line."""
        data, self._pending = self._pending + data, b""
        end = data.rfind(b"\n") + 1
        block = data[:end]
        if block and self._first_seq is None:
            # The careful path holds the first event to the manifest.
            first_end = block.index(b"\n") + 1
            self._check_line(block[:first_end - 1])
            block = block[first_end:]
        if block and not self.accept(vouch_for_block(block, self._selection, self._wanted)):
            for line in block.split(b"\n")[:-1]:
                self._check_line(line)
        self._hand_on_csv_rows()
        self._pending = data[end:]

    def accept(self, facts: BlockFacts | None) -> bool:
        """Record the next block of whole lines from what ``vouch_for_block`` found in it (which
        may have run in another process) if it follows on; False, recording nothing, when it
        does not or was not vouched for: then the block must be fed (as the first block
        always must be, since only the careful path holds the first event to the manifest)."""
        if (facts is None or self._first_seq is None or self._pending
                or facts.first_seq != self._expected_seq
                or facts.first_prev_hash != self._prev_hash):
            return False
        self._hand_on_csv_rows()
        self._on_csv_rows(facts.csv)
        self._lines_by_seq.update(facts.lines_by_seq)
        self._line_number += facts.count
        self._event_count += facts.count
        self._selected_count += facts.selected_count
        self._last_seq = facts.first_seq + facts.count - 1
        self._expected_seq = self._last_seq + 1
        self._prev_hash = facts.last_hash
        return True

    def finish(self) -> SegmentFacts:
        if self._pending:
            self._problems.add("the last line does not end with a line break")
            self._check_line(self._pending)
            self._pending = b""
        self._check_end()
        for missing in self._missing:
            what = (f"event {missing.first} is missing" if missing.first == missing.last
                    else f"events {missing.first}..{missing.last} are missing")
            self._problems.add(f"{what} ({missing.context})")
        if not self._problems:
            self._check_counts()
        self._hand_on_csv_rows()
        return SegmentFacts(self._event_count, self._selected_count, self._first_seq,
                            self._last_seq, tuple(self._problems.as_list()),
                            dict(self._lines_by_seq))

    def _hand_on_csv_rows(self) -> None:
        rows = b"".join(self._csv_rows)
        if rows:
            self._on_csv_rows(rows)
        self._csv_rows.clear()

    # -- the careful path: one line at a time, naming what is wrong ---------------------------

    def _check_line(self, line: bytes) -> None:
        self._line_number += 1
        try:
            row = json.loads(line)
        except ValueError as error:
            reason = getattr(error, "msg", "not UTF-8")
            self._problems.add(f"line {self._line_number} is not valid JSON ({reason})")
            return
        if not _is_event_row(row):
            self._problems.add(f"line {self._line_number} is not an audit event (expected "
                               f"[{', '.join(EVENT_FIELDS)}])")
            return
        event = AuditEvent(*row)
        if event_line(row) != line:
            self._problems.add(f"event {event.seq} is not written in the canonical form (it "
                               "was re-encoded after export)")
        if hash_of(event) != event.hash:
            self._problems.add(f"event {event.seq} does not match its hash (its content was "
                               "changed after it was written)")
        self._place(event)
        if self._selection.matches_row(row):
            self._csv_rows.append(_csv_record(row))
            self._selected_count += 1
        if event.seq in self._wanted:
            self._lines_by_seq[event.seq] = line

    def _place(self, event: AuditEvent) -> None:
        """Follow the sequence numbers and links, telling a gap from a reordering."""
        seq = event.seq
        self._event_count += 1
        if self._first_seq is None:
            self._first_seq = seq
            if self._bounds.first_hash is not None and event.hash != self._bounds.first_hash:
                self._problems.add(f"the first event's hash (event {seq}) is not the one the "
                                   "manifest names")
        expected = self._expected_seq if self._expected_seq is not None else seq
        if seq < expected:
            self._problems.add(self._out_of_place(seq))
            return
        if seq > expected:
            context = (f"the chain goes from {self._last_seq} to {seq}"
                       if self._last_seq is not None else
                       f"the segment starts at {seq}; the manifest says it starts at {expected}")
            self._missing.append(_MissingRange(expected, seq - 1, context))
        elif self._prev_hash is not None and event.prev_hash != self._prev_hash:
            if self._last_seq is None:
                self._problems.add(f"event {seq}'s prev_hash is not the one the manifest names "
                                   "for the start of the segment")
            else:
                self._problems.add(f"event {seq} does not link to event {seq - 1}: its prev_hash "
                                   f"is not event {seq - 1}'s hash (an event was changed, removed "
                                   "or inserted here)")
        self._expected_seq = seq + 1
        self._prev_hash = event.hash
        self._last_seq = seq

    def _out_of_place(self, seq: int) -> str:
        if self._problems.full:
            return "(not looked into)"  # a shuffled file must not cost a search per line
        for index, missing in enumerate(self._missing):
            if missing.first <= seq <= missing.last:
                remaining = [_MissingRange(missing.first, seq - 1, missing.context),
                             _MissingRange(seq + 1, missing.last, missing.context)]
                self._missing[index:index + 1] = [part for part in remaining
                                                  if part.first <= part.last]
                return f"events are out of order at seq {seq} (it comes after event " \
                       f"{self._last_seq})"
        return f"event {seq} appears more than once"

    def _check_end(self) -> None:
        last_seq, bounds = self._last_seq, self._bounds
        if last_seq is None:
            self._problems.add("it holds no events")
        elif bounds.last_seq is not None and last_seq < bounds.last_seq:
            self._missing.append(_MissingRange(
                last_seq + 1, bounds.last_seq,
                f"the chain ends at {last_seq}; the manifest says it ends at {bounds.last_seq}"))
        elif bounds.last_seq is not None and last_seq > bounds.last_seq:
            self._problems.add(f"the chain goes on past event {bounds.last_seq}, where the "
                               f"manifest says it ends, to event {last_seq}")
        elif bounds.last_hash is not None and self._prev_hash != bounds.last_hash:
            self._problems.add(f"the last event's hash (event {last_seq}) is not the one the "
                               "manifest names")

    def _check_counts(self) -> None:
        for label, claimed, found in (("events", self._bounds.event_count, self._event_count),
                                      ("selected events", self._bounds.selected_count,
                                       self._selected_count)):
            if claimed is not None and claimed != found:
                self._problems.add(f"it holds {found} {label}; the manifest says {claimed}")


class CsvDigest(NamedTuple):
    """CSV rows as a worker process sends them back: sending the rows themselves costs more
    than hashing them on both sides."""

    size: int
    sha256: bytes  # the raw digest


@dataclass(frozen=True)
class BlockFacts:
    """What the fast path vouches for in a block of whole lines of events.jsonl."""

    count: int
    first_seq: int
    first_prev_hash: str
    last_hash: str
    selected_count: int
    csv: bytes | CsvDigest  # the events.csv rows of the selected events
    lines_by_seq: dict[int, bytes]  # the wanted lines


def vouch_for_block(block: bytes, selection: EventSelection,
                    wanted: frozenset[int] = frozenset()) -> BlockFacts | None:
    """Check a block of whole lines without parsing them: each line a canonical event that
    hashes right and follows the line before. None when any line is not, or cannot be vouched
    for without parsing; nothing is said about how the block follows the one before it.

    A line is canonical when, outside its strings, it is exactly ``[seq,"...","...",...]``:
    numpy finds every quote that no escape takes, and the 22 of each line must stand where
    that layout puts them. Inside the strings, only what canonical JSON writes may appear: no
    raw control character, valid UTF-8, and escapes that are one of \\" \\\\ \\n \\r \\t
    \\b \\f (a \\u00XX escape, rare, is left to the careful path). Then the hashed document of
    a line is the line itself up to its hash, closed with "]".

    A pure function of its arguments, so that blocks can be checked in other processes.
    """
    layout = _LineLayout(block)
    data, ends, starts = layout.bytes, layout.ends, layout.starts
    count = len(ends)
    if (not count or ends[-1] != len(block) - 1
            or not (data[ends] == _NEWLINE).all()  # a raw control character
            or not _PLAIN_ESCAPE[layout.escaped].all()):
        return None
    try:
        block.decode()
    except UnicodeDecodeError:
        return None
    unescaped = data.copy()
    unescaped[layout.escapes + 1] = 0  # what an escape takes is no quote
    quotes = np.flatnonzero(unescaped == _QUOTE)
    if len(quotes) != _QUOTES_PER_LINE * count:
        return None
    quotes = quotes.reshape(count, _QUOTES_PER_LINE)
    closing, opening = quotes[:, 1:-1:2], quotes[:, 2::2]  # around the commas between strings
    # Each line's last quote stands just before its "]": then each holds its own 22 quotes.
    if not ((quotes[:, -1] == ends - 2).all()
            and (data[starts] == _OPEN).all() and (data[ends - 1] == _CLOSE).all()
            and (data[quotes[:, 0] - 1] == _COMMA).all()
            and (opening - closing == 2).all() and (data[closing + 1] == _COMMA).all()
            and (quotes[:, -1] - quotes[:, -2] == _HEX_LENGTH + 1).all()
            and (quotes[:, -3] - quotes[:, -4] == _HEX_LENGTH + 1).all()):
        return None
    first_seq = _consecutive_seqs(layout, quotes[:, 0])
    if first_seq is None:
        return None
    hex_windows = sliding_window_view(data, _HEX_LENGTH)
    claimed = hex_windows[ends - _HASH_BACK].tobytes()
    links = hex_windows[ends - _PREV_HASH_BACK].tobytes()
    if (not _HEX64_BYTES.fullmatch(links[:_HEX_LENGTH])
            or links[_HEX_LENGTH:] != claimed[:-_HEX_LENGTH]):  # each links to the one before
        return None
    hashed = bytearray(block)
    np.frombuffer(hashed, np.uint8)[ends - _HASHED_END_BACK] = _CLOSE
    documents = map(memoryview(hashed).__getitem__,
                    map(slice, starts.tolist(), (ends - _HASHED_END_BACK + 1).tolist()))
    if b"".join(map(_digest, map(hashlib.sha256, documents))).hex().encode() != claimed:
        return None
    selected = (None if selection.selects_everything
                else _selected_lines(selection, layout, quotes))
    return BlockFacts(
        count, first_seq, links[:_HEX_LENGTH].decode(), claimed[-_HEX_LENGTH:].decode(),
        count if selected is None else int(np.count_nonzero(selected)), layout.csv(selected),
        {seq: block[starts[seq - first_seq]:ends[seq - first_seq]]
         for seq in wanted.intersection(range(first_seq, first_seq + count))})


def vouched_blocks(path: Path, data_start: int, size: int, start: int, end: int,
                   selection: EventSelection, wanted: frozenset[int],
                   block_bytes: int) -> Iterator[tuple[int, int, BlockFacts | None]]:
    """``vouch_for_block`` for each block of the lines that begin in [start, end) of an
    events.jsonl kept uncompressed: its ``size`` bytes stand at ``data_start`` in the file at
    ``path``. Each block comes as (offset in events.jsonl, length, facts or None); the trailing
    bytes of a file that does not end with a line break come with None. The ranges of one
    file, split anywhere, tile its lines exactly.
    """
    with open(path, "rb") as file:

        def read(offset: int, length: int) -> bytes:
            file.seek(data_start + offset)
            return file.read(max(0, min(length, size - offset)))

        def next_line_start(offset: int) -> int:
            """Where the first line that begins at or after ``offset`` begins."""
            if offset <= 0:
                return 0
            searched = offset - 1
            while data := read(searched, block_bytes):
                if (found := data.find(b"\n")) >= 0:
                    return searched + found + 1
                searched += len(data)
            return size

        offset, last = next_line_start(start), next_line_start(end)
        while offset < last:
            data = read(offset, min(block_bytes, last - offset))
            while b"\n" not in data and offset + len(data) < last:  # a line longer than a block
                data += read(offset + len(data), min(block_bytes, last - offset - len(data)))
            block = data[:data.rfind(b"\n") + 1] or data
            yield (offset, len(block), vouch_for_block(block, selection, wanted)
                   if block.endswith(b"\n") else None)
            offset += len(block)


def vouch_for_range(path: Path, data_start: int, size: int, start: int, end: int,
                    selection: EventSelection, wanted: frozenset[int],
                    block_bytes: int) -> list[tuple[int, int, BlockFacts | None]]:
    """``vouched_blocks`` as a worker process sends them back. It reads its own stretch of the
    pack, so that only these facts (the CSV rows they make as a digest) cross between
    processes."""
    sent: list[tuple[int, int, BlockFacts | None]] = []
    for offset, length, facts in vouched_blocks(path, data_start, size, start, end, selection,
                                                wanted, block_bytes):
        if facts is not None and isinstance(facts.csv, bytes):
            rows = facts.csv
            facts = replace(facts, csv=CsvDigest(len(rows), hashlib.sha256(rows).digest()))
        sent.append((offset, length, facts))
    return sent


def _consecutive_seqs(layout: _LineLayout, first_quotes: np.ndarray) -> int | None:
    """The first line's sequence number, if the lines' numbers are written canonically and go
    up one by one from it (each stands between a line's "[" and the comma before its first
    quote)."""
    first_text = layout.block[1:int(first_quotes[0]) - 1]
    count = len(first_quotes)
    if not first_text.isdigit():
        return None
    first_seq = int(first_text)
    if first_seq + count > _FAST_SEQ_LIMIT:
        return None
    lengths = first_quotes - layout.starts - 2
    seqs = np.arange(first_seq, first_seq + count, dtype=np.int64)
    if (lengths != np.searchsorted(_POWERS_OF_TEN, seqs, side="right") + 1).any():
        return None  # a number written with a leading zero, or not consecutive
    positions = (np.repeat(layout.starts + 1 - (np.cumsum(lengths) - lengths), lengths)
                 + np.arange(int(lengths.sum())))
    expected = (b"%d" * count) % tuple(range(first_seq, first_seq + count))
    return first_seq if layout.bytes[positions].tobytes() == expected else None


def _selected_lines(selection: EventSelection, layout: _LineLayout,
                    quotes: np.ndarray) -> np.ndarray:
    """``selection.matches`` for each line of a vouched block. The fields it looks at are
    compared as bytes for all lines at once; a line whose text is needed (an alert, whose
    values may name a model; a compared field with an escape; a time of another length than
    the first line's) is parsed and decided on its own."""
    data, count = layout.bytes, len(quotes)

    def utf8(text: str) -> bytes:
        """As the fields are written; a lone surrogate (a manifest may hold one) matches none
        of them, and sorts where its code point does."""
        return text.encode("utf-8", "surrogatepass")

    def field(index: int) -> tuple[np.ndarray, np.ndarray]:
        """Where the text of the string field ``index`` (1 for occurred_at) starts and ends."""
        return quotes[:, 2 * index - 2] + 1, quotes[:, 2 * index - 1]

    def starting_with(starts: np.ndarray, prefix: bytes) -> np.ndarray:
        found = np.zeros(count, bool)
        if len(prefix) <= len(data):
            fits = starts + len(prefix) <= len(data)
            found[fits] = (sliding_window_view(data, len(prefix))[starts[fits]]
                           == np.frombuffer(prefix, np.uint8)).all(axis=1)
        return found

    occurred, kind, entity = field(1), field(5), field(6)
    by_text = starting_with(kind[0], utf8(f'{ALERT_ENTITY_TYPE}"'))
    for start, end in (occurred, kind, entity):
        by_text |= (np.searchsorted(layout.escapes, start)
                    != np.searchsorted(layout.escapes, end))
    selected = np.ones(count, bool)
    if selection.models:
        ours = np.zeros(count, bool)
        for model in selection.models:
            ours |= starting_with(entity[0], utf8(f'{model}"'))
            ours |= starting_with(entity[0], utf8(f"{model}/"))
        selected &= ours
    bounds = [bound for bound in (selection.occurred_from, selection.occurred_before)
              if bound is not None]
    if bounds:
        lengths = occurred[1] - occurred[0]
        width = int(lengths[0])
        if width == 0 or any(character < " " for bound in bounds for character in bound):
            by_text[:] = True  # NUL-padded byte strings would not compare as texts do
        else:
            by_text |= lengths != width
            # A time of the first line's width always fits; any other is decided by its text.
            times = (sliding_window_view(data, width)[np.minimum(occurred[0], len(data) - width)]
                     .copy().view(f"S{width}")[:, 0])
            if selection.occurred_from is not None:
                selected &= times >= utf8(selection.occurred_from)
            if selection.occurred_before is not None:
                selected &= times < utf8(selection.occurred_before)
    block, starts, ends = layout.block, layout.starts, layout.ends
    for line in np.flatnonzero(by_text).tolist():
        selected[line] = selection.matches_row(json.loads(block[starts[line]:ends[line]]))
    return selected


def _is_event_row(row: Any) -> bool:
    if not (isinstance(row, list) and len(row) == len(EVENT_FIELDS) and type(row[0]) is int
            and all(isinstance(value, str) for value in row[1:])):
        return False
    try:
        "".join(row[1:]).encode()
    except UnicodeEncodeError:  # a lone surrogate (a \ud800 escape): no event can hold one
        return False
    return True


# -- the manifest and its signature ----------------------------------------------------------------


@dataclass(frozen=True)
class SignatureFacts:
    """Who signed the manifest, if the signature holds."""

    fingerprint: str | None
    problems: tuple[str, ...]


def check_signature(manifest: bytes, signature: bytes | None) -> SignatureFacts:
    """Check signature.json against the exact bytes of manifest.json."""
    if signature is None:
        return SignatureFacts(None, (f"{SIGNATURE_FILE} is missing: the pack is not signed",))
    try:
        document = json.loads(signature)
        public_key = bytes.fromhex(document["public_key"])
        signature_bytes = bytes.fromhex(document["signature"])
        stated_fingerprint = document["fingerprint"]
        algorithm = document["algorithm"]
    except (ValueError, KeyError, TypeError) as error:
        return SignatureFacts(None, (f"{SIGNATURE_FILE} cannot be read ({_reason(error)})",))
    if algorithm != SIGNATURE_ALGORITHM or len(public_key) != 32:
        return SignatureFacts(None, (f"{SIGNATURE_FILE}: not an {SIGNATURE_ALGORITHM} "
                                     "signature with a 32-byte public key",))
    fingerprint = fingerprint_of(public_key)
    problems = []
    # The manifest cannot list the file that signs it, so its bytes are held to the one form
    # an export writes: then no byte of it can change unnoticed either.
    if (set(document) != _SIGNATURE_FIELDS or document["signed_file"] != MANIFEST_FILE
            or json_document(document) != signature):
        problems.append(f"{SIGNATURE_FILE} is not as an export writes it (it was edited)")
    if stated_fingerprint != fingerprint:
        problems.append(f"{SIGNATURE_FILE}: the fingerprint it states is not that of its "
                        f"public key ({fingerprint})")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature_bytes, manifest)
    except InvalidSignature:
        problems.append("manifest signature does not verify (manifest.json or signature.json "
                        "was changed after signing)")
    return SignatureFacts(fingerprint, tuple(problems))


_SIGNATURE_FIELDS = {"algorithm", "fingerprint", "public_key", "signature", "signed_file"}


def signature_document(public_key: str, fingerprint: str, signature: bytes) -> bytes:
    """signature.json for a manifest signed with the key whose raw public half is
    ``public_key`` (hex)."""
    return json_document({"algorithm": SIGNATURE_ALGORITHM, "signed_file": MANIFEST_FILE,
                          "public_key": public_key, "fingerprint": fingerprint,
                          "signature": signature.hex()})


def _reason(error: Exception) -> str:
    if isinstance(error, KeyError):
        return f"no {error.args[0]!r}"
    return getattr(error, "msg", None) or str(error)


class ManifestReader:
    """Typed access to a parsed manifest; what is missing or of the wrong type is a problem."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.problems: list[str] = []

    def value(self, path: str, kind: type | tuple[type, ...], *, optional: bool = False) -> Any:
        value: Any = self.document
        for key in path.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if value is None and optional:
            return None
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
            self.problems.append(f"{MANIFEST_FILE}: {path!r} is missing or not "
                                 f"{_KIND_WORDS.get(kind, 'valid')}")
            return None
        return value

    def files(self) -> dict[str, tuple[str, int]]:
        """What the manifest lists: name -> (SHA-256, size)."""
        listed = self.value("files", dict) or {}
        files = {}
        for name, entry in listed.items():
            digest = entry.get("sha256") if isinstance(entry, dict) else None
            size = entry.get("size") if isinstance(entry, dict) else None
            if isinstance(digest, str) and type(size) is int:
                files[name] = (digest, size)
            else:
                self.problems.append(f"{MANIFEST_FILE}: the entry for {name} has no SHA-256 "
                                     "and size")
        return files

    def chain_bounds(self) -> ChainBounds:
        return ChainBounds(
            self.value("chain.first_seq", int), self.value("chain.first_prev_hash", str),
            self.value("chain.first_hash", str), self.value("chain.last_seq", int),
            self.value("chain.last_hash", str), self.value("chain.event_count", int),
            self.value("chain.selected_count", int))

    def selection(self) -> EventSelection:
        try:
            return EventSelection.from_manifest(self.document.get("selection"))
        except ValueError as error:
            self.problems.append(f"{MANIFEST_FILE}: the selection cannot be read ({error}); "
                                 "every event of the segment is taken as selected")
            return EventSelection()


_KIND_WORDS: dict[Any, str] = {int: "a whole number", str: "a text", dict: "an object",
                               list: "a list"}


# -- the signing keys a pack lists -----------------------------------------------------------------


@dataclass(frozen=True)
class KnownKey:
    """A key listed in signing_keys.json whose registration event checks out."""

    key: RegisteredKey
    registration_seq: int
    linked_into_segment: bool  # the registration event is one of the segment's checked events


def read_signing_keys(data: bytes | None) -> tuple[list[dict[str, Any]], list[str]]:
    """The entries of signing_keys.json, or the problem that keeps them from being read."""
    if data is None:
        return [], [f"{KEYS_FILE} is missing: no key can be recognised as the workspace's"]
    try:
        entries = json.loads(data)["keys"]
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise TypeError("'keys' is not a list of keys")
    except (ValueError, KeyError, TypeError) as error:
        return [], [f"{KEYS_FILE} cannot be read ({_reason(error)})"]
    return entries, []


def registration_seqs(entries: Iterable[dict[str, Any]]) -> set[int]:
    """The sequence numbers of the events that registered the listed keys."""
    seqs = set()
    for entry in entries:
        event = entry.get("registration_event")
        if isinstance(event, list) and event and type(event[0]) is int:
            seqs.add(event[0])
    return seqs


def check_signing_keys(entries: Iterable[dict[str, Any]], chain_lines: Mapping[int, bytes],
                       segment: tuple[int, int] | None) -> tuple[dict[str, KnownKey], list[str]]:
    """Each listed key whose registration event hashes correctly, registers that very key and,
    when it falls inside the segment, is the segment's event of that number."""
    known: dict[str, KnownKey] = {}
    problems = _Problems(KEYS_FILE)
    for entry in entries:
        fingerprint = str(entry.get("fingerprint"))
        problem = _key_problem(entry, fingerprint)
        if problem:
            problems.add(f"key {fingerprint}: {problem}")
            continue
        row = entry["registration_event"]
        inside = segment is not None and segment[0] <= row[0] <= segment[1]
        if inside and chain_lines.get(row[0]) != event_line(row):
            problems.add(f"key {fingerprint}: its registration event differs from event "
                         f"{row[0]} in {CHAIN_FILE}")
            continue
        key = RegisteredKey(entry["user"], fingerprint, entry["public_key"],
                            entry["registered_at"])
        known[fingerprint] = KnownKey(key, row[0], inside)
    return known, problems.as_list()


def _key_problem(entry: dict[str, Any], fingerprint: str) -> str | None:
    public_key, user = entry.get("public_key"), entry.get("user")
    if not (isinstance(public_key, str) and _HEX64.fullmatch(public_key) and isinstance(user, str)
            and isinstance(entry.get("registered_at"), str)):
        return "the entry lacks its user, public key or registration time"
    if fingerprint_of(bytes.fromhex(public_key)) != fingerprint:
        return "the fingerprint is not that of the public key"
    row = entry.get("registration_event")
    if not _is_event_row(row):
        return "its registration event is missing"
    event = AuditEvent(*row)
    if hash_of(event) != event.hash:
        return f"its registration event (event {event.seq}) does not match its hash"
    registers = canonical_json({"fingerprint": fingerprint, "public_key": public_key,
                                "user": user})
    if (event.action, event.entity_type, event.entity_id, event.after) != (
            KEY_REGISTERED_ACTION, KEY_ENTITY_TYPE, fingerprint, registers):
        return f"event {event.seq} does not register this key for {user}"
    return None


# -- the verdict -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackFile:
    """One file in a pack, as found in the zip (not as the manifest claims)."""

    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class PackVerification:
    """What verifying a pack found; ``valid`` when there are no problems."""

    pack_name: str
    kind: str | None
    signer: str | None  # the user the manifest names as exporter or reviewer
    signer_fingerprint: str | None
    key_status: str  # how the signing key is known, in words
    manifest_sha256: str
    files: tuple[PackFile, ...]
    event_count: int = 0  # in the chain segment
    selected_count: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    selection: EventSelection | None = None
    original_manifest_sha256: str | None = None  # for a reply: the pack it answers
    # Every decision's signature, checked; None for a pack from before signed identity, or one
    # whose chain is broken (the decisions are judged only on a chain that holds).
    decisions: PackDecisions | None = None
    decisions_status: str = ""  # why ``decisions`` is None, in words
    problems: tuple[str, ...] = ()

    @property
    def valid(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        """A report for people: the verdict, what was checked, then each problem."""
        kind = KIND_NAMES.get(self.kind or "", "pack")
        verdict = "VALID" if self.valid else f"NOT VALID ({len(self.problems)} problems)"
        lines = [f"{self.pack_name}: {kind}, {verdict}",
                 f"  signed by {self.signer or '(unknown)'} with key "
                 f"{self.signer_fingerprint or '(none)'}",
                 f"  key: {self.key_status}",
                 f"  manifest SHA-256 {self.manifest_sha256}"]
        if self.kind == EVIDENCE_KIND:
            span = (f"events {self.first_seq}..{self.last_seq}"
                    if self.first_seq is not None else "no events")
            lines.append(f"  chain segment: {_events(self.event_count)} ({span}), each hash "
                         "and link checked")
            if self.selection is not None:
                lines.append(f"  selected: {_events(self.selected_count)} "
                             f"({self.selection.describe()})")
            lines.append(self.decisions.describe() if self.decisions is not None
                         else f"  decisions: {self.decisions_status}")
        if self.original_manifest_sha256:
            lines.append(f"  answers the pack whose manifest SHA-256 is "
                         f"{self.original_manifest_sha256}")
        lines.append(f"  files checked against the manifest ({len(self.files)}):")
        lines += [f"    {file.name}  {file.size} bytes  sha256 {file.sha256}"
                  for file in self.files]
        if self.problems:
            lines.append("Problems:")
            lines += [f"  - {problem}" for problem in self.problems]
        return "\n".join(lines)


def _events(count: int) -> str:
    return "1 event" if count == 1 else f"{count} events"
