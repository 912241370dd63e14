"""Evidence packs: exporting a signed slice of the audit log, verifying one, reading one for
review, and answering one with a signed reply.

What a pack holds and how each part is checked is written down in ``core.evidence``; this module
reads the workspace and the zip files. Verifying needs nothing but the pack: no workspace, no
network, and nothing of the pack is extracted to disk.

A million events make a pack of about 670 MB (335 MB of events.jsonl, 334 MB of events.csv,
kept uncompressed); benchmarks/audit_bench.py measures exporting and verifying one. Both are
long, so they report progress through ``progress(done, total, text)``, which may raise to
cancel: a half-written pack is then removed and nothing is audited. Verifying hashes every
file on one helper thread (hashlib lets go of the GIL) while this one checks the events; that
costs a SHA-256 call per event from Python, so a big pack's events can be shared with worker
processes (``verify_pack(processes=...)``), each reading its own stretches of the pack.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import multiprocessing
import os
import shutil
import socket
import struct
import tempfile
import threading
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any, overload

from modelledger import __version__
from modelledger.core.domain import Actor, AuditEvent, EventFilter
from modelledger.core.errors import InvalidInputError, ReadOnlyWorkspaceError
from modelledger.core.evidence import (
    CHAIN_FILE,
    CSV_FILE,
    EVENT_FIELDS,
    EVIDENCE_KIND,
    FORMAT_VERSION,
    KEY_ENTITY_TYPE,
    KEY_REGISTERED_ACTION,
    KEYS_FILE,
    MANIFEST_FILE,
    NOTES_FILE,
    PACK_EXPORTED_ACTION,
    PACK_FORMAT,
    REPLY_KIND,
    RESERVED_NAMES,
    SIGNATURE_FILE,
    ChainSegmentChecker,
    CsvDigest,
    EventSelection,
    ManifestReader,
    PackFile,
    PackVerification,
    SegmentFacts,
    check_signature,
    check_signing_keys,
    csv_differences,
    csv_header,
    csv_rows,
    event_block,
    json_document,
    read_signing_keys,
    registration_seqs,
    selected_csv,
    signature_document,
    vouch_for_range,
    vouched_blocks,
)
from modelledger.core.pack_decisions import (
    DECISIONS_FILE,
    HISTORY_FILE,
    check_pack_decisions,
    decision_line,
)
from modelledger.services.changes.atomic_files import write_atomically
from modelledger.services.changes.events import ChangeBus
from modelledger.services.changes.unit_of_work import audited_write
from modelledger.services.governance.signing import (
    SigningKey,
    load_or_create_signing_key,
    register_own_signing_key,
)
from modelledger.storage import audit_log, audit_segments, signing_keys_repo
from modelledger.storage import repositories as repo
from modelledger.storage.audit_log import utc_timestamp
from modelledger.storage.database import Database
from modelledger.storage.schema import HEAD_REVISION

Progress = Callable[[int, int, str], None]

EVENTS_PER_READ = 5_000
# Checking a block of events costs a few dozen numpy calls whatever its size; at a megabyte
# they are spread thin, and the block and its copies still stay in the processor caches.
READ_BLOCK_BYTES = 1 << 20
# The manifest, the signature and the keys are small; a bigger one is not a pack of ours.
MAX_SMALL_FILE_BYTES = 16 << 20
# Kept uncompressed: verifying processes then read their own stretches of events.jsonl
# straight from the pack, and neither export nor verify spends seconds in zlib. Deflated
# (level 1), a pack is about a quarter of the size (README, "Decisions and measurements").
COMPRESSION = zipfile.ZIP_STORED
PACK_ENTITY_TYPE = "evidence_pack"
# Below this size of events.jsonl (about 180,000 events) starting worker processes costs more
# than it saves.
PARALLEL_FROM_BYTES = 64 << 20
MAX_CHECK_PROCESSES = 4
# Stretches of events.jsonl per checking process: results come back, and progress moves, a
# stretch at a time.
STRETCHES_PER_PROCESS = 4
_NO_FILES: Mapping[str, bytes] = MappingProxyType({})


def _no_progress(done: int, total: int, text: str) -> None:
    """Progress goes nowhere when the caller does not ask for it."""


@dataclass(frozen=True)
class PackSummary:
    """What an export wrote."""

    path: Path
    manifest_sha256: str
    signer_fingerprint: str
    event_count: int  # in the chain segment
    selected_count: int
    first_seq: int
    last_seq: int
    files: tuple[str, ...]  # every file in the zip
    size_bytes: int
    audit_seq: int  # the audit.exported event that records the export


@dataclass(frozen=True)
class ReplySummary:
    """What a reply pack holds, besides the notes."""

    path: Path
    manifest_sha256: str
    signer_fingerprint: str
    original_manifest_sha256: str


@dataclass(frozen=True)
class PackContents:
    """A pack as a read-only review screen shows it, read without extracting anything."""

    manifest: dict[str, Any]  # empty when manifest.json cannot be read
    verification: PackVerification
    # The selected events, in sequence order, parsed as they are looked at.
    events: PackEvents = field(default_factory=lambda: PackEvents([]))
    notes: str | None = None  # a reply's review notes
    names: tuple[str, ...] = ()  # every file in the zip

    @property
    def files(self) -> tuple[PackFile, ...]:
        """The files checked against the manifest, with their sizes and hashes."""
        return self.verification.files


# -- exporting -------------------------------------------------------------------------------------


def build_evidence_pack(database: Database, actor: Actor, selection: EventSelection,
                        out_path: Path, *, extra_files: Mapping[str, bytes] = _NO_FILES,
                        progress: Progress | None = None) -> PackSummary:
    """Write the selected audit events, the chain segment that links them, the workspace's
    signing keys and ``extra_files`` (reports) into one signed zip at ``out_path``, then record
    the export in the audit log."""
    out_path = Path(out_path)
    report = progress or _no_progress
    for name in extra_files:
        _check_extra_name(name)
    if database.read_only:
        raise ReadOnlyWorkspaceError(
            f"{database.display_name} is open read-only, and an export is recorded in its audit "
            "log. Export from a copy of the workspace you can write, or ask its owner.")
    key = register_own_signing_key(database, actor)
    seq_range, keys = database.read(lambda conn: _pack_sources(conn, selection))
    header = {
        "format": PACK_FORMAT, "format_version": FORMAT_VERSION, "kind": EVIDENCE_KIND,
        "app_version": __version__, "schema_revision": HEAD_REVISION,
        "workspace": database.display_name,
        "signer": {"user": actor.user, "host": actor.host, "fingerprint": key.fingerprint},
        "created_at": utc_timestamp(), "selection": selection.as_manifest(),
    }
    written: dict[str, Any] = {}

    def write(handle: IO[bytes]) -> None:
        with zipfile.ZipFile(handle, "w", COMPRESSION) as archive:
            files: dict[str, dict[str, Any]] = {}
            chain = _write_events(database, archive, selection, seq_range, out_path.parent,
                                  files, report)
            _write_decisions(database, archive, seq_range, files)
            _add_file(archive, KEYS_FILE, json_document({"keys": keys}), files)
            for name, data in extra_files.items():
                _add_file(archive, name, data, files)
            manifest = json_document({**header, "chain": chain, "files": files})
            written.update(_sign_into(archive, manifest, key), chain=chain,
                           names=archive.namelist())
        handle.flush()
        os.fsync(handle.fileno())

    write_atomically(out_path, write)
    chain = written["chain"]
    record = {"file": out_path.name, "manifest_sha256": written["manifest_sha256"],
              "selection": selection.as_manifest(), "first_seq": chain["first_seq"],
              "last_seq": chain["last_seq"], "selected_events": chain["selected_count"],
              "signer_fingerprint": key.fingerprint}
    try:
        # Nobody subscribes to exports: the audit page sees new events by polling head_seq.
        exported = audited_write(database, actor, ChangeBus(), lambda conn, audit, now: (
            audit.append(PACK_EXPORTED_ACTION, PACK_ENTITY_TYPE, record["manifest_sha256"],
                         after=record)))
    except BaseException:
        # An export the audit log does not show must not exist.
        out_path.unlink(missing_ok=True)
        raise
    report(1, 1, f"Wrote {out_path.name}")
    return PackSummary(out_path, written["manifest_sha256"], key.fingerprint,
                       chain["event_count"], chain["selected_count"], chain["first_seq"],
                       chain["last_seq"], tuple(written["names"]), out_path.stat().st_size,
                       exported.seq)


def _check_extra_name(name: str) -> None:
    problem = None
    if "\\" in name or ":" in name:
        problem = "it must be a relative name with forward slashes"
    elif any(part in ("", ".", "..") for part in name.split("/")):
        problem = "it must not start or end with '/', nor contain '.', '..' or empty parts"
    elif any(ord(character) < 0x20 for character in name) or len(name) > 200:
        problem = "it must be at most 200 printable characters"
    elif name.lower() in RESERVED_NAMES:
        problem = "the pack itself uses that name"
    if problem:
        raise InvalidInputError(f"Cannot add {name!r} to the pack: {problem}. Use a plain name "
                                "such as 'report.html' or 'charts/drift.png'.")


def _pack_sources(conn, selection: EventSelection) -> tuple[tuple[int, int], list[dict]]:
    for model in selection.models:
        repo.get_model(conn, model)  # a misspelt name is an error, not an empty pack
    seq_range = audit_segments.selected_seq_range(conn, selection)
    if seq_range is None:
        raise InvalidInputError(f"No audit events match the selection ({selection.describe()}); "
                                "choose other models or a longer period.")
    keys = []
    for key in signing_keys_repo.list_signing_keys(conn):
        registration = audit_log.list_events(conn, EventFilter(
            entity_type=KEY_ENTITY_TYPE, entity_id=key.fingerprint,
            action_prefix=KEY_REGISTERED_ACTION), limit=1)
        keys.append({"user": key.user, "fingerprint": key.fingerprint,
                     "public_key": key.public_key, "registered_at": key.registered_at,
                     "registration_event": list(registration[0].chain_row()) if registration
                     else None})
    return seq_range, keys


def _write_events(database: Database, archive: zipfile.ZipFile, selection: EventSelection,
                  seq_range: tuple[int, int], spool_folder: Path, files: dict,
                  report: Progress) -> dict[str, Any]:
    """Stream the segment into events.jsonl, and the selected events into events.csv (kept in
    a spool file meanwhile: a zip is written one member at a time).

    A second thread hashes and writes each batch (hashlib, the zip's CRC-32 and file writes let
    go of the GIL) while this one reads and encodes the next.
    """
    first_seq, last_seq = seq_range
    chain: dict[str, Any] = {"file": CHAIN_FILE, "fields": list(EVENT_FIELDS),
                             "event_count": 0, "selected_count": 0}
    with tempfile.TemporaryFile(dir=spool_folder, prefix=".events-csv-") as spool:
        csv_file = _HashingWriter(spool)
        csv_file.write(csv_header())
        with (archive.open(CHAIN_FILE, "w", force_zip64=True) as member,
              ThreadPoolExecutor(max_workers=1, thread_name_prefix="pack-write") as writer):
            chain_file = _HashingWriter(member)
            writing = None
            for rows in _segment_batches(database, seq_range):
                block = event_block(rows)
                selected, selected_count = _selected_lines(block, rows, selection)
                csv = csv_rows(selected) if selected else b""
                if writing is not None:
                    writing.result()  # one batch in flight: memory stays bounded
                writing = writer.submit(_write_batch, chain_file, block, csv_file, csv)
                if chain["event_count"] == 0:
                    chain.update(first_seq=rows[0][0], first_prev_hash=rows[0][10],
                                 first_hash=rows[0][11])
                chain.update(last_seq=rows[-1][0], last_hash=rows[-1][11],
                             event_count=chain["event_count"] + len(rows),
                             selected_count=chain["selected_count"] + selected_count)
                report(rows[-1][0] - first_seq + 1, last_seq - first_seq + 1,
                       "Writing the audit events")
            if writing is not None:
                writing.result()
        files[CHAIN_FILE] = chain_file.manifest_entry()
        report(1, 1, f"Writing {CSV_FILE}")
        spool.seek(0)
        with archive.open(CSV_FILE, "w", force_zip64=True) as member:
            shutil.copyfileobj(spool, member, READ_BLOCK_BYTES)
        files[CSV_FILE] = csv_file.manifest_entry()
    return chain


def _write_decisions(database: Database, archive: zipfile.ZipFile, seq_range: tuple[int, int],
                     files: dict) -> None:
    """The identity history before the segment, then the signature of every signed event of
    the history and the segment (see core.pack_decisions)."""
    first_seq, last_seq = seq_range
    history = database.read(lambda conn: audit_segments.establishing_rows_before(conn, first_seq))
    _add_file(archive, HISTORY_FILE, event_block([row[:-2] for row in history]), files)
    with archive.open(DECISIONS_FILE, "w", force_zip64=True) as member:
        decisions_file = _HashingWriter(member)
        decisions_file.write(b"".join(decision_line(row[0], row[-2], row[-1]) + b"\n"
                                      for row in history if row[-1] is not None))
        after_seq = first_seq - 1
        while rows := database.read(lambda conn, after=after_seq: audit_segments
                                    .signatures_between(conn, after, last_seq, EVENTS_PER_READ)):
            decisions_file.write(b"".join(decision_line(*row) + b"\n" for row in rows))
            after_seq = rows[-1][0]
    files[DECISIONS_FILE] = decisions_file.manifest_entry()


def _write_batch(chain_file: _HashingWriter, lines: bytes, csv_file: _HashingWriter,
                 csv: bytes) -> None:
    chain_file.write(lines)
    csv_file.write(csv)


def _selected_lines(block: bytes, rows: list[tuple],
                    selection: EventSelection) -> tuple[bytes, int]:
    """The lines of ``block`` whose events the selection picks, and how many they are."""
    if selection.selects_everything:
        return block, len(rows)
    picked = [line for line, row in zip(block.split(b"\n")[:-1], rows, strict=True)
              if selection.matches_row(row)]
    return b"".join(line + b"\n" for line in picked), len(picked)


def _segment_batches(database: Database, seq_range: tuple[int, int]) -> Iterator[list[tuple]]:
    """The segment's rows in batches, each read in its own short transaction (see
    storage.audit_segments). Not read ahead on a thread: building the rows' Python objects
    needs the GIL, and a reader thread only fought the encoding for it (measured slower)."""
    after_seq, last_seq = seq_range[0] - 1, seq_range[1]
    while after_seq < last_seq:
        rows = database.read(lambda conn, after=after_seq: audit_segments.segment_rows(
            conn, after, last_seq, EVENTS_PER_READ))
        if not rows:
            return
        yield rows
        after_seq = rows[-1][0]


class _HashingWriter:
    """Writes through to a file while keeping the SHA-256 and size the manifest lists."""

    def __init__(self, target: IO[bytes]) -> None:
        self._target = target
        self._digest = hashlib.sha256()
        self._size = 0

    def write(self, data: bytes) -> None:
        self._target.write(data)
        self._digest.update(data)
        self._size += len(data)

    def manifest_entry(self) -> dict[str, Any]:
        return {"sha256": self._digest.hexdigest(), "size": self._size}


def _add_file(archive: zipfile.ZipFile, name: str, data: bytes, files: dict) -> None:
    archive.writestr(name, data)
    files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def _sign_into(archive: zipfile.ZipFile, manifest: bytes, key: SigningKey) -> dict[str, str]:
    archive.writestr(MANIFEST_FILE, manifest)
    archive.writestr(SIGNATURE_FILE, signature_document(key.public_key, key.fingerprint,
                                                        key.sign(manifest)))
    return {"manifest_sha256": hashlib.sha256(manifest).hexdigest()}


# -- replying --------------------------------------------------------------------------------------


def build_reply_pack(original_pack_path: Path, notes: str, reviewer_name: str,
                     out_path: Path) -> ReplySummary:
    """Sign ``notes`` about a pack with the reviewer's own key (made on first use in their
    config folder; no workspace needed), naming the pack by its manifest's SHA-256."""
    original_pack_path, out_path = Path(original_pack_path), Path(out_path)
    if not notes.strip():
        raise InvalidInputError("The review notes are empty; write what you found first.")
    key = load_or_create_signing_key(reviewer_name)
    with _open_pack(original_pack_path) as archive:
        original_manifest, problem = _read_small(archive, MANIFEST_FILE)
    if original_manifest is None:
        raise InvalidInputError(f"Cannot reply to {original_pack_path.name}: {problem}.")
    original_sha256 = hashlib.sha256(original_manifest).hexdigest()
    notes_bytes = notes.encode()
    files: dict[str, dict[str, Any]] = {}
    manifest = json_document({
        "format": PACK_FORMAT, "format_version": FORMAT_VERSION, "kind": REPLY_KIND,
        "app_version": __version__,
        "signer": {"user": reviewer_name, "host": socket.gethostname(),
                   "fingerprint": key.fingerprint},
        "created_at": utc_timestamp(),
        "original": {"file": original_pack_path.name, "manifest_sha256": original_sha256},
        "files": {NOTES_FILE: {"sha256": hashlib.sha256(notes_bytes).hexdigest(),
                               "size": len(notes_bytes)}},
    })

    def write(handle: IO[bytes]) -> None:
        with zipfile.ZipFile(handle, "w", COMPRESSION) as archive:
            _add_file(archive, NOTES_FILE, notes_bytes, files)
            _sign_into(archive, manifest, key)

    write_atomically(out_path, write)
    return ReplySummary(out_path, hashlib.sha256(manifest).hexdigest(), key.fingerprint,
                        original_sha256)


# -- verifying -------------------------------------------------------------------------------------


def verify_pack(path: Path, *, processes: int = 1,
                progress: Progress | None = None) -> PackVerification:
    """Check an evidence pack or a reply pack with nothing but its bytes.

    Problems with the pack's content are in the result; a file that is no pack at all (not a
    zip, no manifest, another format) raises InvalidInputError. With ``processes`` above one,
    a big pack's events are checked in that many processes, this one and spawned ones (see
    ``available_processors``); only a program whose main module is guarded by
    ``if __name__ == "__main__"`` may ask for that, as spawned processes import it again.
    """
    path = Path(path)
    with _open_pack(path) as archive:
        return _verify(path, archive, processes, progress or _no_progress)


@contextmanager
def _open_pack(path: Path) -> Iterator[zipfile.ZipFile]:
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError as exc:
        raise InvalidInputError(f"There is no file {path}.") from exc
    except IsADirectoryError as exc:
        raise InvalidInputError(f"{path} is a folder, not an evidence pack.") from exc
    except PermissionError as exc:
        raise InvalidInputError(f"Cannot read {path}: permission denied.") from exc
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise InvalidInputError(f"{path.name} is not an evidence pack: it is not a readable zip "
                                f"file ({exc}).") from exc
    with archive:
        if MANIFEST_FILE not in archive.NameToInfo:
            raise InvalidInputError(f"{path.name} is a zip file but not a ModelLedger evidence "
                                    f"pack: it has no {MANIFEST_FILE}.")
        yield archive


def _verify(path: Path, archive: zipfile.ZipFile, processes: int,
            report: Progress) -> PackVerification:
    names = archive.namelist()
    problems = [f"the pack holds {count} files named {name}"
                for name, count in Counter(names).items() if count > 1]
    manifest_data, problem = _read_small(archive, MANIFEST_FILE)
    if manifest_data is None:
        raise InvalidInputError(f"{path.name} is not a readable evidence pack: {problem}.")
    signature_data, problem = _read_small(archive, SIGNATURE_FILE)
    signature = check_signature(manifest_data, signature_data)
    unreadable = signature_data is None and SIGNATURE_FILE in names
    problems += [problem] if unreadable else list(signature.problems)
    result: dict[str, Any] = {
        "pack_name": path.name, "kind": None, "signer": None,
        "signer_fingerprint": signature.fingerprint, "key_status": "not checked",
        "manifest_sha256": hashlib.sha256(manifest_data).hexdigest(), "files": ()}
    try:
        document = json.loads(manifest_data)
        if not isinstance(document, dict):
            raise ValueError("it is not a JSON object")
    except ValueError as error:
        problems.append(f"{MANIFEST_FILE} is not valid JSON ({getattr(error, 'msg', error)}); "
                        "nothing else in the pack can be checked")
        return PackVerification(**result, problems=tuple(problems))
    _require_known_format(path, document)
    manifest = ManifestReader(document)
    result.update(kind=manifest.value("kind", str), signer=manifest.value("signer.user", str))
    stated = manifest.value("signer.fingerprint", str)
    if signature.fingerprint and stated and stated != signature.fingerprint:
        problems.append(f"{MANIFEST_FILE} names key {stated} as the signer's, but "
                        f"{SIGNATURE_FILE} holds key {signature.fingerprint}")
    listed = manifest.files()
    present = set(names) - {MANIFEST_FILE, SIGNATURE_FILE}
    problems += [f"{name} is in the pack but not in the manifest (it was added after export)"
                 for name in sorted(present - listed.keys())]
    problems += [f"{name} is listed in the manifest but missing from the pack"
                 for name in sorted(listed.keys() - present)]
    checked = {name: listed[name] for name in sorted(listed.keys() & present)}
    if result["kind"] == EVIDENCE_KIND:
        problems += _verify_evidence(path, archive, manifest, checked, result, processes,
                                     report)
    elif result["kind"] == REPLY_KIND:
        result.update(
            key_status="the reviewer's own key (a reply is not checked against workspace keys)",
            original_manifest_sha256=manifest.value("original.manifest_sha256", str))
        found, file_problems = _hash_files(path, archive, checked)
        result["files"] = tuple(found)
        problems += file_problems
    else:
        problems.append(f"{MANIFEST_FILE}: unknown kind of pack {result['kind']!r}")
    return PackVerification(**result, problems=tuple(manifest.problems + problems))


def _require_known_format(path: Path, document: dict[str, Any]) -> None:
    if document.get("format") != PACK_FORMAT:
        raise InvalidInputError(f"{path.name} is not a ModelLedger evidence pack (its "
                                f"{MANIFEST_FILE} describes something else).")
    version = document.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise InvalidInputError(
            f"{path.name} was written in pack format {version!r}, which this ModelLedger "
            f"({__version__}) does not know; verify it with a newer ModelLedger.")


def _verify_evidence(path: Path, archive: zipfile.ZipFile, manifest: ManifestReader,
                     checked: dict[str, tuple[str, int]], result: dict[str, Any],
                     processes: int, report: Progress) -> list[str]:
    problems: list[str] = []
    keys_data, problem = _read_small(archive, KEYS_FILE) if KEYS_FILE in checked else (None, "")
    key_entries, key_problems = read_signing_keys(keys_data)
    problems += [problem] if problem else key_problems
    selection = manifest.selection()
    stop = threading.Event()
    # Hashing lets go of the GIL, so on another processor it costs this thread next to nothing;
    # the thread works on its own reads and is waited for only at the end (threads that handed
    # blocks to each other lost more waiting for the GIL than they gained).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pack-hash") as hasher:
        hashing = hasher.submit(_hash_files, path, archive, checked, stop)
        try:
            csv_comparison = _CsvComparison(path, archive, checked.get(CSV_FILE))
            checker = ChainSegmentChecker(selection, manifest.chain_bounds(),
                                          registration_seqs(key_entries),
                                          on_csv_rows=csv_comparison.expect)
            if CHAIN_FILE in checked:
                _check_chain(path, archive, checked[CHAIN_FILE], checker, processes, report)
            facts = checker.finish()
            csv_as_made = csv_comparison.finish()
        except BaseException:
            stop.set()  # cancelled: the hashing stops at its next block
            raise
        found, file_problems = hashing.result()
    problems += file_problems + list(facts.problems)
    segment = (facts.first_seq, facts.last_seq) if facts.first_seq is not None else None
    known, key_problems = check_signing_keys(key_entries, facts.lines_by_seq, segment)
    problems += key_problems
    result.update(files=tuple(found), event_count=facts.event_count,
                  selected_count=facts.selected_count, first_seq=facts.first_seq,
                  last_seq=facts.last_seq, selection=selection)
    problems += _signer_problems(result, known)
    problems += _check_decisions(archive, checked, facts, result)
    # Held against a broken chain, the CSV would only repeat what the chain's problems say.
    if (not csv_as_made and not facts.problems
            and any(file.name == CSV_FILE for file in found)):
        with archive.open(CHAIN_FILE) as chain, archive.open(CSV_FILE) as actual:
            problems += csv_differences(selected_csv(_blocks(chain), selection), _blocks(actual))
    return problems


def _check_decisions(archive: zipfile.ZipFile, checked: Mapping[str, tuple[str, int]],
                     facts: SegmentFacts, result: dict[str, Any]) -> list[str]:
    if DECISIONS_FILE not in checked or HISTORY_FILE not in checked:
        result["decisions_status"] = ("not in this pack (written before signed identity): the "
                                      "chain alone vouches for its events")
        return []
    if facts.problems or facts.first_seq is None:
        result["decisions_status"] = "not checked, because the chain segment does not hold"
        return []
    with (archive.open(HISTORY_FILE) as history, archive.open(DECISIONS_FILE) as decisions,
          archive.open(CHAIN_FILE) as chain):
        checked_decisions = check_pack_decisions(
            _lines(history), _lines(decisions), _lines(chain), facts.first_seq)
    result["decisions"] = checked_decisions
    return list(checked_decisions.problems)


def _lines(member: IO[bytes]) -> Iterator[bytes]:
    for line in member:
        if line.strip():
            yield line.rstrip(b"\r\n")


def _signer_problems(result: dict[str, Any], known: Mapping[str, Any]) -> list[str]:
    fingerprint = result["signer_fingerprint"]
    if fingerprint is None:
        return []
    if fingerprint not in known:
        result["key_status"] = "unknown to the workspace"
        return [f"signed with an unknown key {fingerprint}: it is not one of the workspace's "
                f"registered signing keys listed in {KEYS_FILE}"]
    registration = known[fingerprint]
    where = ("an event of the checked chain segment" if registration.linked_into_segment else
             "outside this pack's chain segment, so compare the fingerprint with one you know")
    result["key_status"] = (f"registered in the workspace to {registration.key.user} by event "
                            f"{registration.registration_seq}, {where}")
    if result["signer"] is not None and result["signer"] != registration.key.user:
        return [f"{MANIFEST_FILE} names {result['signer']} as the exporter, but key "
                f"{fingerprint} is registered to {registration.key.user}"]
    return []


def _check_chain(path: Path, archive: zipfile.ZipFile, listed: tuple[str, int],
                 checker: ChainSegmentChecker, processes: int, report: Progress) -> None:
    """Check the events of events.jsonl. Kept uncompressed, it is read in stretches straight
    from the pack, and when it is big, worker processes check some of the stretches, each
    reading its own; deflated (as earlier versions wrote it), it is read through here."""
    info = archive.getinfo(CHAIN_FILE)
    data_start = _uncompressed_start(path, info)
    if data_start is None:
        done = 0
        for block in _readable_blocks(path, archive, CHAIN_FILE, listed[1] + 1):
            checker.feed(block)
            done += len(block)
            report(done, listed[1], "Checking the audit events")
        return
    processes = processes if listed[1] >= PARALLEL_FROM_BYTES else 1
    count = processes * STRETCHES_PER_PROCESS
    bounds = [info.file_size * index // count for index in range(count + 1)]
    stretches = [(path, data_start, info.file_size, start, end, checker.selection,
                  checker.wanted_seqs, READ_BLOCK_BYTES)
                 for start, end in itertools.pairwise(bounds)]
    ours = count // processes  # this process checks the first stretches, workers the others
    # Spawned, never forked: this process has threads (in the window, Qt's).
    with (ProcessPoolExecutor(processes - 1, mp_context=multiprocessing.get_context("spawn"))
          if processes > 1 else nullcontext() as workers,
          path.open("rb") as pack):
        try:
            theirs = ([workers.submit(vouch_for_range, *stretch) for stretch in stretches[ours:]]
                      if workers is not None else [])
            blocks = itertools.chain.from_iterable(itertools.chain(
                (vouched_blocks(*stretch) for stretch in stretches[:ours]),
                (vouching.result() for vouching in theirs)))
            for offset, length, facts in blocks:
                if not checker.accept(facts):
                    pack.seek(data_start + offset)
                    checker.feed(pack.read(length))
                report(offset + length, info.file_size, "Checking the audit events")
        except BaseException:
            if workers is not None:
                workers.shutdown(cancel_futures=True)
            raise


def _uncompressed_start(path: Path, info: zipfile.ZipInfo) -> int | None:
    """Where a member's bytes begin in the zip file, if it is kept uncompressed and unencrypted
    (after its local header: APPNOTE 4.3.7); None otherwise."""
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
        return None
    with path.open("rb") as file:
        file.seek(info.header_offset)
        header = file.read(zipfile.sizeFileHeader)
    if len(header) != zipfile.sizeFileHeader or not header.startswith(zipfile.stringFileHeader):
        return None
    name_length, extra_length = struct.unpack("<HH", header[-4:])
    return info.header_offset + len(header) + name_length + extra_length


def available_processors() -> int:
    """How many processes ``verify_pack`` can use to good effect on this machine: checking is
    pure Python, so one process keeps one processor busy."""
    available = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                 else os.cpu_count() or 1)
    return min(MAX_CHECK_PROCESSES, available)


def _hash_files(path: Path, archive: zipfile.ZipFile, files: Mapping[str, tuple[str, int]],
                stop: threading.Event | None = None) -> tuple[list[PackFile], list[str]]:
    """Hash each file (reading no more than one byte past its listed size) and compare it with
    the manifest, until ``stop`` is set."""
    found, problems = [], []
    for name, listed in files.items():
        digest, size = hashlib.sha256(), 0
        try:
            for block in _member_blocks(path, archive, name, listed[1] + 1):
                if stop is not None and stop.is_set():
                    return found, problems
                digest.update(block)
                size += len(block)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
            problems.append(f"{name} cannot be read from the zip ({exc}): the pack is damaged")
            continue
        file = PackFile(name, size, digest.hexdigest())
        found.append(file)
        problems += _compare_with_manifest(file, listed)
    return found, problems


class _CsvComparison:
    """Holds events.csv to the CSV its events make, whose rows the chain checker hands on
    (``expect``) as it goes. (Its hash against the manifest is taken with the other files'.)"""

    def __init__(self, path: Path, archive: zipfile.ZipFile,
                 listed: tuple[str, int] | None) -> None:
        self._blocks = (_readable_blocks(path, archive, CSV_FILE, listed[1] + 1)
                        if listed is not None else iter(()))
        self._unread = b""  # read, not yet held to the rows
        self._as_made = True

    def expect(self, rows: bytes | CsvDigest) -> None:
        """The next bytes of events.csv must be ``rows``, or have their size and SHA-256."""
        size = rows.size if isinstance(rows, CsvDigest) else len(rows)
        digest = hashlib.sha256()
        done = 0
        while self._as_made and done < size:
            self._unread = self._unread or next(self._blocks, b"")
            taken = min(len(self._unread), size - done)
            part, self._unread = self._unread[:taken], self._unread[taken:]
            if isinstance(rows, CsvDigest):
                digest.update(part)
            # Nothing left to take: the file ends too soon.
            self._as_made = taken > 0 and (isinstance(rows, CsvDigest)
                                           or part == rows[done:done + taken])
            done += taken
        if isinstance(rows, CsvDigest) and self._as_made:
            self._as_made = digest.digest() == rows.sha256

    def finish(self) -> bool:
        """Whether events.csv is the CSV its events make: no more, no less."""
        return self._as_made and not self._unread and not next(self._blocks, b"")


def _readable_blocks(path: Path, archive: zipfile.ZipFile, name: str,
                     limit: int) -> Iterator[bytes]:
    """``_member_blocks`` up to the first that cannot be read (hashing the file names that
    problem)."""
    try:
        yield from _member_blocks(path, archive, name, limit)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError):
        return


def _member_blocks(path: Path, archive: zipfile.ZipFile, name: str,
                   limit: int) -> Iterator[bytes]:
    """A member's bytes in blocks, no more than ``limit`` of them. One kept uncompressed is read
    straight from the file: the zip's CRC-32 of it would only repeat, slower, what its SHA-256
    against the manifest tells."""
    info = archive.getinfo(name)
    start = _uncompressed_start(path, info)
    if start is None:
        with archive.open(info) as member:
            yield from _blocks(member, limit)
        return
    with path.open("rb") as file:
        file.seek(start)
        yield from _blocks(file, min(limit, info.file_size))


def _compare_with_manifest(file: PackFile, listed: tuple[str, int]) -> list[str]:
    listed_sha256, listed_size = listed
    problems = []
    if file.sha256 != listed_sha256:
        problems.append(f"{file.name}: SHA-256 does not match the manifest")
    if file.size != listed_size:
        more = " or more" if file.size > listed_size else ""
        problems.append(f"{file.name}: {file.size}{more} bytes, the manifest says {listed_size}")
    return problems


def _blocks(member: IO[bytes], limit: int | None = None) -> Iterator[bytes]:
    remaining = limit
    while remaining is None or remaining > 0:
        block = member.read(READ_BLOCK_BYTES if remaining is None
                            else min(READ_BLOCK_BYTES, remaining))
        if not block:
            return
        if remaining is not None:
            remaining -= len(block)
        yield block


def _read_small(archive: zipfile.ZipFile, name: str) -> tuple[bytes | None, str]:
    """A small member's bytes, or None and why not."""
    if name not in archive.NameToInfo:
        return None, f"it has no {name}"
    try:
        with archive.open(name) as member:
            data = member.read(MAX_SMALL_FILE_BYTES + 1)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
        return None, f"{name} cannot be read from the zip ({exc})"
    if len(data) > MAX_SMALL_FILE_BYTES:
        return None, f"{name} is larger than any pack of ours writes"
    return data, ""


# -- reading for review ----------------------------------------------------------------------------


def read_pack(path: Path, *, processes: int = 1,
              progress: Progress | None = None) -> PackContents:
    """Everything a review screen shows: the verdict, the manifest, the selected events (or a
    reply's notes) and the files, read straight from the zip (``processes`` as for
    ``verify_pack``)."""
    path = Path(path)
    verification = verify_pack(path, processes=processes, progress=progress)
    with _open_pack(path) as archive:
        manifest_data, _ = _read_small(archive, MANIFEST_FILE)
        try:
            manifest = json.loads(manifest_data or b"")
        except ValueError:
            manifest = {}
        events = PackEvents([])
        if verification.selection is not None and CHAIN_FILE in archive.NameToInfo:
            with archive.open(CHAIN_FILE) as chain:
                events = PackEvents(_selected_pack_lines(chain.read(), verification.selection,
                                                         valid=verification.valid))
        notes = None
        if verification.kind == REPLY_KIND:
            notes_data, _ = _read_small(archive, NOTES_FILE)
            notes = notes_data.decode("utf-8", "replace") if notes_data is not None else None
        return PackContents(manifest if isinstance(manifest, dict) else {}, verification,
                            events, notes, tuple(archive.namelist()))


class PackEvents(Sequence[AuditEvent]):
    """A pack's selected events, each parsed from its line of events.jsonl when it is asked
    for. Parsed all at once, a million events took 15-20 s and about a gigabyte; kept as lines,
    the review window shows such a pack about two seconds after verifying it."""

    def __init__(self, lines: list[bytes]) -> None:
        self._lines = lines

    def __len__(self) -> int:
        return len(self._lines)

    @overload
    def __getitem__(self, index: int) -> AuditEvent: ...

    @overload
    def __getitem__(self, index: slice) -> list[AuditEvent]: ...

    def __getitem__(self, index: int | slice) -> AuditEvent | list[AuditEvent]:
        if isinstance(index, slice):
            return [AuditEvent(*json.loads(line)) for line in self._lines[index]]
        return AuditEvent(*json.loads(self._lines[index]))

    def newest_first(self) -> PackEvents:
        return PackEvents(self._lines[::-1])


def _selected_pack_lines(chain: bytes, selection: EventSelection, *,
                         valid: bool) -> list[bytes]:
    """The lines of events.jsonl that ``selection`` picks. In a valid pack every line is a
    canonical event, so only lines that can match are parsed: with no models chosen, the
    period is read off each line's timestamp (its second field, never escaped); with models,
    a line must name one of them to be a candidate (names that JSON leaves as they are, as
    every registered name). In a damaged pack every line is parsed, and those that are no
    event are left out (the verification names them)."""
    lines = chain.splitlines()
    if not valid:
        return [line for line in lines if _selected_event(line, selection)]
    if selection.selects_everything:
        return lines
    if not selection.models:
        return [line for line in lines if selection.in_period(_timestamp_of(line))]
    # A name that JSON may write otherwise cannot narrow the search: every line is a candidate.
    names = ([model.encode() for model in selection.models]
             if all(_json_keeps(model) for model in selection.models) else [b""])
    return [line for line in lines if any(name in line for name in names)
            and selection.matches_row(json.loads(line))]


def _timestamp_of(line: bytes) -> str:
    start = line.index(b',"') + 2
    return line[start:line.index(b'"', start)].decode("ascii")


def _json_keeps(text: str) -> bool:
    """Whether JSON writes ``text`` as it is, inside strings within strings too."""
    return text.isascii() and text.isprintable() and '"' not in text and "\\" not in text


def _selected_event(line: bytes, selection: EventSelection) -> bool:
    try:
        event = AuditEvent(*json.loads(line))
    except (ValueError, TypeError):
        return False
    return selection.matches(event.entity_type, event.entity_id, event.after, event.occurred_at)
