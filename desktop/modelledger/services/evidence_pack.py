"""Evidence packs: exporting a signed slice of the audit log, verifying one, reading one for
review, and answering one with a signed reply.

What a pack holds and how each part is checked is written down in ``core.evidence``; this module
reads the workspace and the zip files. Verifying needs nothing but the pack: no workspace, no
network, and nothing of the pack is extracted to disk.

A million events make a pack of about 160 MB (360 MB of events.jsonl, 330 MB of events.csv,
deflated); benchmarks/audit_bench.py measures exporting and verifying one. Both are long, so they
report progress through ``progress(done, total, text)``, which may raise to cancel: a
half-written pack is then removed and nothing is audited. Work that lets go of the GIL (zlib,
hashlib) runs on helper threads; checking the events is pure Python and can be spread over
worker processes (``verify_pack(processes=...)``).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import queue
import shutil
import socket
import tempfile
import threading
import zipfile
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import astuple, dataclass
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any

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
    EventSelection,
    ManifestReader,
    PackFile,
    PackVerification,
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
    vouch_for_block,
)
from modelledger.services.atomic_files import write_atomically
from modelledger.services.events import ChangeBus
from modelledger.services.signing import (
    SigningKey,
    load_or_create_signing_key,
    register_own_signing_key,
)
from modelledger.services.unit_of_work import audited_write
from modelledger.storage import audit_log, audit_segments, signing_keys_repo
from modelledger.storage import repositories as repo
from modelledger.storage.audit_log import utc_timestamp
from modelledger.storage.database import Database
from modelledger.storage.schema import HEAD_REVISION

Progress = Callable[[int, int, str], None]

EVENTS_PER_READ = 5_000
READ_BLOCK_BYTES = 256 << 10  # a block and its copies stay in the processor caches
# The manifest, the signature and the keys are small; a bigger one is not a pack of ours.
MAX_SMALL_FILE_BYTES = 16 << 20
# Level 1 deflate: audit text still shrinks about sixfold, at several times the speed of the
# default level (benchmarks/audit_bench.py).
COMPRESSION = zipfile.ZIP_DEFLATED
COMPRESS_LEVEL = 1
PACK_ENTITY_TYPE = "evidence_pack"
# Below this size of events.jsonl (about 180,000 events) starting worker processes costs more
# than it saves.
PARALLEL_FROM_BYTES = 64 << 20
MAX_CHECK_PROCESSES = 4
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
    # The selected events, in sequence order. All of them are held in memory: about 1 KB an
    # event, so a pack of a million events needs about a gigabyte.
    events: tuple[AuditEvent, ...] = ()
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
        with zipfile.ZipFile(handle, "w", COMPRESSION, compresslevel=COMPRESS_LEVEL) as archive:
            files: dict[str, dict[str, Any]] = {}
            chain = _write_events(database, archive, selection, seq_range, out_path.parent,
                                  files, report)
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
                     "registration_event": list(astuple(registration[0])) if registration
                     else None})
    return seq_range, keys


def _write_events(database: Database, archive: zipfile.ZipFile, selection: EventSelection,
                  seq_range: tuple[int, int], spool_folder: Path, files: dict,
                  report: Progress) -> dict[str, Any]:
    """Stream the segment into events.jsonl, and the selected events into events.csv (kept in
    a spool file meanwhile: a zip is written one member at a time).

    A second thread deflates and hashes each block of events.jsonl while this one reads and
    encodes the next (zlib and hashlib let go of the GIL).
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
                if writing is not None:
                    writing.result()  # one block in flight: memory stays bounded
                writing = writer.submit(chain_file.write, block)
                selected, selected_count = _selected_lines(block, rows, selection)
                csv_file.write(csv_rows(selected) if selected else b"")
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
        with zipfile.ZipFile(handle, "w", COMPRESSION, compresslevel=COMPRESS_LEVEL) as archive:
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
    a big pack's events are checked in that many spawned processes (see
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
        found, file_problems = _hash_files(path, checked, threading.Event())
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
    checker = ChainSegmentChecker(selection, manifest.chain_bounds(),
                                  registration_seqs(key_entries))
    others = {name: entry for name, entry in checked.items() if name != CHAIN_FILE}
    stop = threading.Event()
    # Inflating and hashing run on two more threads while this one checks the chain: zlib and
    # hashlib let go of the GIL while they work, so they cost this thread next to nothing.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="pack-read") as pool:
        hashing = pool.submit(_hash_files, path, others, stop)
        chain_file, chain_problems = None, []
        if CHAIN_FILE in checked:
            chain_file, chain_problems = _check_chain(pool, path, checked[CHAIN_FILE], checker,
                                                      processes, report, stop)
        found, file_problems = hashing.result()
    facts = checker.finish()
    problems += chain_problems + file_problems + list(facts.problems)
    found = sorted([*found, *([chain_file] if chain_file else [])], key=lambda f: f.name)
    segment = (facts.first_seq, facts.last_seq) if facts.first_seq is not None else None
    known, key_problems = check_signing_keys(key_entries, facts.lines_by_seq, segment)
    problems += key_problems
    result.update(files=tuple(found), event_count=facts.event_count,
                  selected_count=facts.selected_count, first_seq=facts.first_seq,
                  last_seq=facts.last_seq, selection=selection)
    problems += _signer_problems(result, known)
    csv_file = next((file for file in found if file.name == CSV_FILE), None)
    # Held against a broken chain, the CSV would only repeat what the chain's problems say.
    if csv_file is not None and csv_file.sha256 != facts.csv_sha256 and not facts.problems:
        with archive.open(CHAIN_FILE) as chain, archive.open(CSV_FILE) as actual:
            problems += csv_differences(selected_csv(_blocks(chain), selection), _blocks(actual))
    return problems


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


def _check_chain(pool: ThreadPoolExecutor, path: Path, listed: tuple[str, int],
                 checker: ChainSegmentChecker, processes: int, report: Progress,
                 stop: threading.Event) -> tuple[PackFile, list[str]]:
    """Feed events.jsonl to the chain checker while another thread inflates and hashes it."""
    blocks: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
    reading = pool.submit(_hash_files, path, {CHAIN_FILE: listed}, stop, blocks)
    try:
        if processes > 1 and listed[1] >= PARALLEL_FROM_BYTES:
            _check_in_processes(blocks, checker, processes, listed[1], report)
        else:
            done = 0
            while (block := blocks.get()) is not None:
                checker.feed(block)
                done += len(block)
                report(done, listed[1], "Checking the audit events")
    except BaseException:
        stop.set()  # cancelled: the readers stop at their next block
        while blocks.get() is not None:
            pass  # unblocks the reader, which ends with None
        raise
    found, problems = reading.result()
    return (found[0] if found else PackFile(CHAIN_FILE, 0, "")), problems


def available_processors() -> int:
    """How many processes ``verify_pack`` can use to good effect on this machine: checking is
    pure Python, so one process keeps one processor busy."""
    available = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                 else os.cpu_count() or 1)
    return min(MAX_CHECK_PROCESSES, available)


def _check_in_processes(blocks: queue.Queue[bytes | None], checker: ChainSegmentChecker,
                        processes: int, total: int, report: Progress) -> None:
    """Vouch for blocks in worker processes, a few blocks ahead, and take what they found in
    order (links between blocks, and any block they could not vouch for, are checked here)."""
    in_flight: deque[tuple[bytes, Future]] = deque()
    done = 0
    # Spawned, never forked: this process has threads (and in the window, Qt's).
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context) as workers:
        try:
            while True:
                block = blocks.get()
                if block is not None and (lines := checker.whole_lines(block)):
                    in_flight.append((lines, workers.submit(
                        vouch_for_block, lines, checker.selection, checker.wanted_seqs)))
                while in_flight and (block is None or len(in_flight) > 2 * processes):
                    lines, vouching = in_flight.popleft()
                    checker.take(lines, vouching.result())
                    done += len(lines)
                    report(done, total, "Checking the audit events")
                if block is None:
                    return
        except BaseException:
            workers.shutdown(cancel_futures=True)
            raise


def _hash_files(path: Path, files: Mapping[str, tuple[str, int]], stop: threading.Event,
                blocks: queue.Queue[bytes | None] | None = None,
                ) -> tuple[list[PackFile], list[str]]:
    """Hash each file (reading no more than one byte past its listed size) and compare it with
    the manifest; with ``blocks``, also hand each block on, and None at the end."""
    found, problems = [], []
    try:
        with zipfile.ZipFile(path) as archive:
            for name, listed in files.items():
                digest, size = hashlib.sha256(), 0
                try:
                    with archive.open(name) as member:
                        for block in _blocks(member, limit=listed[1] + 1):
                            if stop.is_set():
                                return found, problems
                            digest.update(block)
                            size += len(block)
                            if blocks is not None:
                                blocks.put(block)
                except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
                    problems.append(f"{name} cannot be read from the zip ({exc}): the pack is "
                                    "damaged")
                    continue
                file = PackFile(name, size, digest.hexdigest())
                found.append(file)
                problems += _compare_with_manifest(file, listed)
    finally:
        if blocks is not None:
            blocks.put(None)
    return found, problems


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
        events: tuple[AuditEvent, ...] = ()
        if verification.selection is not None and CHAIN_FILE in archive.NameToInfo:
            with archive.open(CHAIN_FILE) as chain:
                events = tuple(_selected_events(chain, verification.selection))
        notes = None
        if verification.kind == REPLY_KIND:
            notes_data, _ = _read_small(archive, NOTES_FILE)
            notes = notes_data.decode("utf-8", "replace") if notes_data is not None else None
        return PackContents(manifest if isinstance(manifest, dict) else {}, verification,
                            events, notes, tuple(archive.namelist()))


def _selected_events(chain: IO[bytes], selection: EventSelection) -> Iterator[AuditEvent]:
    for line in chain:
        try:
            event = AuditEvent(*json.loads(line))
        except (ValueError, TypeError):
            continue  # the verification already names the line
        if selection.matches(event.entity_type, event.entity_id, event.after,
                             event.occurred_at):
            yield event
