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
checked at C speed (byte splits and slices, one SHA-256 per line, no JSON parsing), by
``vouch_for_block``, a pure function that can run in other processes; a block it cannot vouch
for, because a line is malformed, not canonical or out of place, or because it uses a rare
escape, is checked line by line instead, which names exactly what is wrong. The fast path only
ever accepts lines that are canonical JSON, so both paths agree on every line (a property test
holds them to it).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property
from itertools import zip_longest
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from modelledger.core.audit_chain import canonical_json, hash_of
from modelledger.core.domain import AuditEvent

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
                            NOTES_FILE})

EVENT_FIELDS = ("seq", "occurred_at", "actor", "host", "action", "entity_type", "entity_id",
                "before", "after", "reason", "prev_hash", "hash")
KEY_REGISTERED_ACTION = "signing_key.registered"
KEY_ENTITY_TYPE = "signing_key"
PACK_EXPORTED_ACTION = "audit.exported"
ALERT_ENTITY_TYPE = "alert"
SIGNATURE_ALGORITHM = "Ed25519"
# A cap on the problems listed for one file: a damaged file must not bury the report.
MAX_PROBLEMS_PER_FILE = 50

_STRINGS_PER_LINE = len(EVENT_FIELDS) - 1
_PARTS_PER_LINE = 2 * _STRINGS_PER_LINE  # a line split on its quotes, less the last part
_HASH_TAIL = len(',"') + 64 + len('"]')  # what follows the hashed document in a line
_CONTROL_BYTES = bytes(range(0x20))
# Escaped backslashes and quotes become one control byte each (raw control bytes cannot occur
# in canonical JSON), so that the quotes left are exactly the string delimiters.
_BACKSLASH_MARK, _QUOTE_MARK = b"\x01", b"\x02"
# The other escapes canonical JSON writes with a letter; any other control character it writes
# as \u00XX, which the fast paths leave to the slow ones.
_LETTER_ESCAPES = {b"\\n": b"\n", b"\\r": b"\r", b"\\t": b"\t", b"\\b": b"\b", b"\\f": b"\f"}
_LETTER_ESCAPE = re.compile(rb"\\[nrtbf]")
_ODD_ESCAPE = re.compile(rb"\\(?![nrtbf])")
_HEX64 = re.compile(r"[0-9a-f]{64}")
# One encoder for every line: json.dumps with options builds a new one per call.
_LINE_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def fingerprint_of(public_key: bytes) -> str:
    """A public key's fingerprint: the SHA-256 of its raw bytes, hex."""
    return hashlib.sha256(public_key).hexdigest()


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

    def matches(self, entity_type: str, entity_id: str, after: str, occurred_at: str) -> bool:
        if self.occurred_from is not None and occurred_at < self.occurred_from:
            return False
        if self.occurred_before is not None and occurred_at >= self.occurred_before:
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


def event_block(rows: Iterable[Sequence[Any]]) -> bytes:
    """Lines of events.jsonl, each with its line break."""
    return ("".join([_LINE_ENCODER.encode(row) + "\n" for row in rows])).encode()


def csv_rows(block: bytes) -> bytes:
    """The events.csv rows of a block of canonical events.jsonl lines (each with its break).

    With QUOTE_NONNUMERIC every string is quoted and only its quotes are doubled, so a canonical
    line becomes its CSV row by byte replacements alone: the brackets go, \\" becomes "", the
    other escapes become the characters they stand for. No parsing, which matters at a million
    events; a line with a \\u00XX escape is parsed and written by the csv module instead. Both
    ways give the bytes ``csv.writer`` gives (a test holds them to it).
    """
    lines = _mark(block).split(b"\n")
    lines.pop()
    return _csv_from_marked(lines) if lines else b""


def _mark(canonical: bytes) -> bytes:
    """Canonical JSON with each escaped backslash and escaped quote as one control byte."""
    return canonical.replace(b"\\\\", _BACKSLASH_MARK).replace(b'\\"', _QUOTE_MARK)


def _csv_from_marked(lines: Sequence[bytes]) -> bytes:
    rows = b"\r\n".join(line[1:-1] for line in lines) + b"\r\n"
    rows = rows.replace(_QUOTE_MARK, b'""')
    if b"\\" in rows:
        if b"\\u" in rows:
            return b"".join(
                _csv_record(json.loads(_mark_undone(line))) if b"\\u" in line
                else _csv_from_marked([line]) for line in lines)
        rows = _LETTER_ESCAPE.sub(lambda escape: _LETTER_ESCAPES[escape[0]], rows)
    return rows.replace(_BACKSLASH_MARK, b"\\")


def _mark_undone(marked: bytes) -> bytes:
    return marked.replace(_BACKSLASH_MARK, b"\\\\").replace(_QUOTE_MARK, b'\\"')


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
    csv_sha256: str  # of the events.csv that the selected events make
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
    CSV they make (only its SHA-256 is kept).
    """

    def __init__(self, selection: EventSelection, bounds: ChainBounds,
                 wanted_seqs: Collection[int] = ()) -> None:
        self._selection = selection
        self._bounds = bounds
        self._wanted = frozenset(wanted_seqs)
        self._lines_by_seq: dict[int, bytes] = {}
        self._csv = hashlib.sha256(csv_header())
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
        """Check the next bytes of events.jsonl, in this thread."""
        block = self.whole_lines(data)
        if block:
            self.take(block, vouch_for_block(block, self._selection, self._wanted))

    def whole_lines(self, data: bytes) -> bytes:
        """The complete lines that ``data`` ends, keeping a partial last line for later."""
        data = self._pending + data
        end = data.rfind(b"\n") + 1
        self._pending = data[end:]
        return data[:end]

    def take(self, block: bytes, facts: BlockFacts | None) -> None:
        """Record a block of whole lines, in order, given what ``vouch_for_block`` found in it
        (which may have run in another process); a block it could not vouch for, or one that
        does not follow on, is checked line by line."""
        if (facts is None or self._first_seq is None or facts.first_seq != self._expected_seq
                or facts.first_prev_hash != self._prev_hash):
            for line in block.split(b"\n")[:-1]:
                self._check_line(line)
            return
        self._csv.update(facts.csv)
        self._lines_by_seq.update(facts.lines_by_seq)
        self._line_number += facts.count
        self._event_count += facts.count
        self._selected_count += facts.selected_count
        self._last_seq = facts.first_seq + facts.count - 1
        self._expected_seq = self._last_seq + 1
        self._prev_hash = facts.last_hash

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
        return SegmentFacts(self._event_count, self._selected_count, self._first_seq,
                            self._last_seq, self._csv.hexdigest(),
                            tuple(self._problems.as_list()), dict(self._lines_by_seq))

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
            self._csv.update(_csv_record(row))
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


@dataclass(frozen=True)
class BlockFacts:
    """What the fast path vouches for in a block of whole lines of events.jsonl."""

    count: int
    first_seq: int
    first_prev_hash: str
    last_hash: str
    selected_count: int
    csv: bytes  # the events.csv rows of the selected events
    lines_by_seq: dict[int, bytes]  # the wanted lines


def vouch_for_block(block: bytes, selection: EventSelection,
                    wanted: frozenset[int] = frozenset()) -> BlockFacts | None:
    """Check a block of whole lines at C speed: each line a canonical event that hashes right
    and follows the line before. None when any line is not, or cannot be vouched for without
    parsing; nothing is said about how the block follows the one before it.

    A pure function of its arguments, so that blocks can be checked in other processes.
    """
    count = block.count(b"\n")
    if not count or len(block.translate(None, _CONTROL_BYTES)) != len(block) - count:
        return None  # raw control bytes: not canonical JSON
    try:
        block.decode("utf-8")
    except UnicodeDecodeError:
        return None
    marked = _mark(block)
    if _ODD_ESCAPE.search(marked):
        return None  # a \u00XX escape (rare), or a backslash no canonical text has
    parts = marked.split(b'"')
    if len(parts) != _PARTS_PER_LINE * count + 1:
        return None
    commas = [b","] * count
    if any(parts[gap::_PARTS_PER_LINE] != commas for gap in range(2, _PARTS_PER_LINE, 2)):
        return None
    heads = parts[::_PARTS_PER_LINE]  # "[seq," then "]\n[seq," ... and the final "]\n"
    middles = heads[1:-1]
    if (heads[-1] != b"]\n" or heads[0][:1] != b"[" or heads[0][-1:] != b","
            or [head[:3] for head in middles] != [b"]\n["] * (count - 1)
            or [head[-1:] for head in middles] != commas[1:]):
        return None
    first_text = heads[0][1:-1]
    if not first_text.isdigit():
        return None
    first_seq = int(first_text)
    seq_texts = b"\n".join([first_text, *(head[3:-1] for head in middles), b""])
    if seq_texts != (b"%d\n" * count) % tuple(range(first_seq, first_seq + count)):
        return None  # not consecutive, or not written canonically (a leading zero)
    # Hashes and links are compared as one joined text each, once every one is 64 long.
    claimed = parts[_PARTS_PER_LINE - 1::_PARTS_PER_LINE]
    links = parts[_PARTS_PER_LINE - 3::_PARTS_PER_LINE]
    if set(map(len, claimed)) | set(map(len, links)) != {64}:
        return None
    lines = block.split(b"\n")
    lines.pop()
    sha256 = hashlib.sha256
    computed = "".join([sha256(line[:-_HASH_TAIL] + b"]").hexdigest() for line in lines])
    if computed.encode() != b"".join(claimed) or b"".join(links[1:]) != b"".join(claimed[:-1]):
        return None
    marked_lines = marked.split(b"\n")
    marked_lines.pop()
    if not selection.selects_everything:
        marked_lines = [line for line, *fields in zip(
            marked_lines, *(parts[1 + 2 * index::_PARTS_PER_LINE] for index in (4, 5, 7, 0)),
            strict=True) if _matches_marked(selection, *fields)]
    return BlockFacts(
        count, first_seq, links[0].decode(), claimed[-1].decode(), len(marked_lines),
        _csv_from_marked(marked_lines) if marked_lines else b"",
        {seq: lines[seq - first_seq] for seq in wanted.intersection(
            range(first_seq, first_seq + count))})


def _matches_marked(selection: EventSelection, entity_type: bytes, entity_id: bytes, after: bytes,
                    occurred_at: bytes) -> bool:
    """``selection.matches`` for the string tokens of a marked line; the after values are
    decoded only for alerts, the one kind of event they can decide for."""
    kind = _unmarked(entity_type)
    return selection.matches(kind, _unmarked(entity_id),
                             _unmarked(after) if kind == ALERT_ENTITY_TYPE else "",
                             _unmarked(occurred_at))


def _unmarked(token: bytes) -> str:
    """A string token of a marked block as the text it stands for."""
    if b"\\" not in token and _BACKSLASH_MARK not in token and _QUOTE_MARK not in token:
        return token.decode()
    return json.loads(b'"' + _mark_undone(token) + b'"')


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
