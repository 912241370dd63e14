"""Evidence packs on real workspaces and real zip files: export, tampering, replies, reading."""

import csv
import hashlib
import io
import json
import os
import re
import stat
import zipfile
from datetime import UTC, date, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from modelledger.core.audit_chain import event_hash
from modelledger.core.domain import EventFilter
from modelledger.core.errors import InvalidInputError, ModelLedgerError
from modelledger.core.evidence import (
    CHAIN_FILE,
    CSV_FILE,
    KEYS_FILE,
    MANIFEST_FILE,
    SIGNATURE_FILE,
    EventSelection,
    fingerprint_of,
    json_document,
    signature_document,
)
from modelledger.core.pack_decisions import DECISIONS_FILE, HISTORY_FILE
from modelledger.services.governance import evidence_pack
from modelledger.services.governance.evidence_pack import (
    build_evidence_pack,
    build_reply_pack,
    read_pack,
    verify_pack,
)
from modelledger.services.governance.signing import load_or_create_signing_key, signing_key_path
from modelledger.services.workspace.opening import Workspace
from tests.conftest import person

REPORTS = {"report.html": b"<html><body>Model review</body></html>",
           "charts/drift.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256))}


@pytest.fixture(autouse=True)
def _private_config_folder(tmp_path, monkeypatch):
    """Signing keys go to a folder of the test's own, never the real home."""
    monkeypatch.setenv("MODELLEDGER_CONFIG_DIR", str(tmp_path / "config"))


def chain_rows(events):
    """What a pack's events.jsonl holds of each event: its hashed fields and hash (signatures
    travel beside them, in decisions.jsonl)."""
    return [event.chain_row() for event in events]


@pytest.fixture
def populated(workspace):
    """Two models whose history holds every kind of text an event can carry."""
    workspace.registry.register_model("churn", purpose='retention "offers", EU')
    workspace.registry.register_model("fraud")
    for index in range(6):
        workspace.registry.add_version("churn", notes=f"v{index}: line one\nline \\two é€ 😀")
        workspace.registry.add_version("fraud", notes=f"fraud {index}")
    person(workspace, "bob").registry.register_model("pricing", description="tab\there")
    return workspace


@pytest.fixture
def pack(populated, tmp_path):
    path = tmp_path / "pack.zip"
    build_evidence_pack(populated.database, populated.actor, EventSelection(), path,
                        extra_files=REPORTS)
    return path


def members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_pack(path, contents: dict[str, bytes], compression=zipfile.ZIP_STORED):
    """A pack of ``contents``, kept uncompressed as exports keep it, or as ``compression``."""
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in contents.items():
            archive.writestr(name, data)
    return path


def signed(contents: dict[str, bytes], private_key: Ed25519PrivateKey) -> dict[str, bytes]:
    """The pack re-hashed into its manifest and signed with ``private_key``, as someone who
    holds that key would do after changing the pack."""
    manifest = json.loads(contents[MANIFEST_FILE])
    for name in manifest["files"]:
        manifest["files"][name] = {"sha256": hashlib.sha256(contents[name]).hexdigest(),
                                   "size": len(contents[name])}
    raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    manifest["signer"]["fingerprint"] = fingerprint_of(raw)
    manifest_bytes = json_document(manifest)
    signature = signature_document(raw.hex(), fingerprint_of(raw),
                                   private_key.sign(manifest_bytes))
    return {**contents, MANIFEST_FILE: manifest_bytes, SIGNATURE_FILE: signature}


def change_one_byte(data: bytes) -> bytes:
    """One byte changed: a digit of the longest hex string (JSON stays JSON), else the middle;
    an empty file gets one."""
    if not data:
        return b"\n"
    runs = list(re.finditer(rb"[0-9a-f]{64,}", data))
    at = max(runs, key=lambda run: len(run[0])).start() + 5 if runs else len(data) // 2
    replacement = b"1" if data[at:at + 1] == b"0" else b"0"
    if not runs:
        replacement = bytes([data[at] ^ 0x01])
    return data[:at] + replacement + data[at + 1:]


def chain_lines(contents) -> list[bytes]:
    return contents[CHAIN_FILE].splitlines(keepends=True)


def test_an_export_verifies_and_says_what_was_checked(populated, pack):
    verification = verify_pack(pack)
    assert verification.problems == ()
    key = load_or_create_signing_key("alice")
    head = populated.audit.head_seq()
    assert (verification.kind, verification.signer) == ("evidence", "alice")
    assert verification.signer_fingerprint == key.fingerprint
    # Everything up to the key's registration; the export's own event comes after the pack.
    assert (verification.first_seq, verification.last_seq) == (1, head - 1)
    assert verification.event_count == verification.selected_count == head - 1
    assert sorted(file.name for file in verification.files) == sorted(
        [CHAIN_FILE, CSV_FILE, KEYS_FILE, DECISIONS_FILE, HISTORY_FILE, *REPORTS])
    report = verification.describe()
    for expected in ("VALID", "signed by alice", key.fingerprint, f"events 1..{head - 1}",
                     "report.html", "charts/drift.png", "an event of the checked chain",
                     f"decisions: {head - 2} signed in the segment"):
        assert expected in report


def test_the_csv_holds_exactly_the_selected_events(populated, tmp_path):
    path = tmp_path / "churn.zip"
    summary = build_evidence_pack(populated.database, populated.actor,
                                  EventSelection(("churn",)), path)
    rows = list(csv.reader(io.StringIO(members(path)[CSV_FILE].decode())))
    expected = sorted(populated.audit.list_events(EventFilter(model_name="churn"), limit=1000),
                      key=lambda event: event.seq)
    assert rows[0][0] == "seq" and len(rows) == len(expected) + 1
    assert [row[6] for row in rows[1:]] == [event.entity_id for event in expected]
    assert [row[9] for row in rows[1:]] == [event.reason for event in expected]
    assert summary.selected_count == len(expected) < summary.event_count
    contents = read_pack(path)
    assert chain_rows(contents.events) == chain_rows(expected)
    assert contents.verification.valid and contents.manifest["selection"]["models"] == ["churn"]


def test_one_changed_byte_in_any_file_is_named(pack, tmp_path):
    original = members(pack)
    for name in original:
        tampered = write_pack(tmp_path / f"tampered-{name.replace('/', '-')}.zip",
                              {**original, name: change_one_byte(original[name])})
        problems = verify_pack(tampered).problems
        expected = ("manifest signature does not verify (manifest.json or signature.json was "
                    "changed after signing)" if name in (MANIFEST_FILE, SIGNATURE_FILE)
                    else f"{name}: SHA-256 does not match the manifest")
        assert expected in problems, (name, problems)


def test_a_signature_file_edited_without_changing_its_values_is_named(pack, tmp_path):
    contents = members(pack)
    contents[SIGNATURE_FILE] = contents[SIGNATURE_FILE].replace(b"{", b"{ ", 1)
    assert verify_pack(write_pack(tmp_path / "spaced.zip", contents)).problems == (
        "signature.json is not as an export writes it (it was edited)",)


def test_a_removed_event_is_named_even_when_the_pack_is_signed_again(pack, tmp_path):
    original = members(pack)
    lines = chain_lines(original)
    removed = {**original, CHAIN_FILE: b"".join(lines[:6] + lines[7:])}
    unsigned = verify_pack(write_pack(tmp_path / "removed.zip", removed)).problems
    assert "events.jsonl: SHA-256 does not match the manifest" in unsigned
    assert "events.jsonl: event 7 is missing (the chain goes from 6 to 8)" in unsigned
    # The exporter's own key signing the doctored pack: the chain still gives it away.
    key = load_or_create_signing_key("alice").private_key
    resigned = verify_pack(write_pack(tmp_path / "resigned.zip", signed(removed, key))).problems
    assert resigned == ("events.jsonl: event 7 is missing (the chain goes from 6 to 8)",)


def test_a_csv_that_departs_from_its_events_is_named(pack, tmp_path):
    original = members(pack)
    rows = original[CSV_FILE].split(b"\r\n")
    rows[3] = rows[3].replace(b"alice", b"alicia", 1)
    key = load_or_create_signing_key("alice").private_key
    changed = signed({**original, CSV_FILE: b"\r\n".join(rows)}, key)
    assert verify_pack(write_pack(tmp_path / "csv.zip", changed)).problems == (
        "events.csv: row 4 (event 3) differs from events.jsonl in actor",)


def test_two_reordered_events_are_named(pack, tmp_path):
    original = members(pack)
    lines = chain_lines(original)
    lines[4], lines[5] = lines[5], lines[4]
    key = load_or_create_signing_key("alice").private_key
    swapped = signed({**original, CHAIN_FILE: b"".join(lines)}, key)
    problems = verify_pack(write_pack(tmp_path / "swapped.zip", swapped)).problems
    assert problems == (
        "events.jsonl: events are out of order at seq 5 (it comes after event 6)",)


def test_a_pack_signed_again_with_an_unknown_key_is_refused(pack, tmp_path):
    original = members(pack)
    stranger = Ed25519PrivateKey.generate()
    fingerprint = fingerprint_of(stranger.public_key().public_bytes(Encoding.Raw,
                                                                     PublicFormat.Raw))
    forged = signed({**original, "report.html": b"<html>All fine.</html>"}, stranger)
    verification = verify_pack(write_pack(tmp_path / "forged.zip", forged))
    assert verification.problems == (
        f"signed with an unknown key {fingerprint}: it is not one of the workspace's registered "
        "signing keys listed in signing_keys.json",)
    assert verification.key_status == "unknown to the workspace"


def test_an_unknown_key_slipped_into_the_key_list_is_caught_by_the_chain(populated, pack,
                                                                         tmp_path):
    original = members(pack)
    stranger = Ed25519PrivateKey.generate()
    raw = stranger.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    keys = json.loads(original[KEYS_FILE])
    genuine = keys["keys"][0]["registration_event"]
    fields = dict(zip(("seq", "occurred_at", "actor", "host", "action", "entity_type",
                       "entity_id", "before", "after", "reason", "prev_hash"), genuine,
                      strict=False))
    fields.update(actor="mallory", entity_id=fingerprint_of(raw), after=json.dumps(
        {"fingerprint": fingerprint_of(raw), "public_key": raw.hex(), "user": "mallory"},
        separators=(",", ":"), sort_keys=True))
    fake = {"user": "mallory", "fingerprint": fingerprint_of(raw), "public_key": raw.hex(),
            "registered_at": fields["occurred_at"],
            "registration_event": [*fields.values(), event_hash(**fields)]}
    keys["keys"].append(fake)
    contents = {**original, KEYS_FILE: json_document(keys)}
    manifest = json.loads(contents[MANIFEST_FILE])
    manifest["signer"]["user"] = "mallory"
    contents[MANIFEST_FILE] = json_document(manifest)
    problems = verify_pack(write_pack(tmp_path / "slipped.zip", signed(contents, stranger)))
    assert (f"signing_keys.json: key {fingerprint_of(raw)}: its registration event differs "
            f"from event {genuine[0]} in events.jsonl") in problems.problems
    assert problems.problems[-1].startswith(f"signed with an unknown key {fingerprint_of(raw)}")


def test_a_reply_pack_verifies_and_names_the_original(pack, tmp_path):
    reply = tmp_path / "reply.zip"
    summary = build_reply_pack(pack, "Checked the chain; v3 lacks a validation report.", "rita",
                               reply)
    original = verify_pack(pack)
    verification = verify_pack(reply)
    assert verification.problems == ()
    assert (verification.kind, verification.signer) == ("review_reply", "rita")
    assert verification.signer_fingerprint == load_or_create_signing_key("rita").fingerprint
    assert verification.original_manifest_sha256 == original.manifest_sha256
    assert summary.original_manifest_sha256 == original.manifest_sha256
    assert "reviewer's own key" in verification.key_status
    assert f"answers the pack whose manifest SHA-256 is {original.manifest_sha256}" in (
        verification.describe())
    assert read_pack(reply).notes == "Checked the chain; v3 lacks a validation report."
    changed = members(reply)
    changed["review_notes.txt"] = b"All good."
    assert "review_notes.txt: SHA-256 does not match the manifest" in verify_pack(
        write_pack(tmp_path / "changed-reply.zip", changed)).problems


@pytest.mark.parametrize(("contents", "message"), [
    (b"not a zip at all", "is not an evidence pack: it is not a readable zip file"),
    ({"notes.txt": b"hello"}, "is a zip file but not a ModelLedger evidence pack: it has no "
                              "manifest.json"),
    ({MANIFEST_FILE: b'{"format": "something-else"}'}, "is not a ModelLedger evidence pack"),
    ({MANIFEST_FILE: b'{"format": "modelledger-evidence-pack", "format_version": 99}'},
     "was written in pack format 99"),
])
def test_what_is_not_a_pack_is_refused_with_a_message(tmp_path, contents, message):
    path = tmp_path / "input.zip"
    if isinstance(contents, bytes):
        path.write_bytes(contents)
    else:
        write_pack(path, contents)
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        verify_pack(path)
    with pytest.raises(InvalidInputError, match="There is no file"):
        verify_pack(tmp_path / "missing.zip")


def test_a_garbled_manifest_is_a_problem_not_a_crash(pack, tmp_path):
    original = members(pack)
    garbled = {**original, MANIFEST_FILE: original[MANIFEST_FILE][:40]}
    problems = verify_pack(write_pack(tmp_path / "garbled.zip", garbled)).problems
    assert problems[0].startswith("manifest signature does not verify")
    assert problems[1].startswith("manifest.json is not valid JSON")


def test_added_and_removed_files_are_named(pack, tmp_path):
    contents = members(pack)
    del contents["report.html"]
    contents["extra.txt"] = b"slipped in"
    problems = verify_pack(write_pack(tmp_path / "files.zip", contents)).problems
    assert "extra.txt is in the pack but not in the manifest (it was added after export)" in (
        problems)
    assert "report.html is listed in the manifest but missing from the pack" in problems


def test_the_export_is_audited_after_the_pack_is_written(populated, pack, tmp_path):
    summary = build_evidence_pack(populated.database, populated.actor, EventSelection(),
                                  tmp_path / "second.zip")
    exported = populated.audit.list_events(EventFilter(action_prefix="audit.exported"))
    assert exported[0].seq == summary.audit_seq
    assert json.loads(exported[0].after)["manifest_sha256"] == summary.manifest_sha256
    assert json.loads(exported[0].after)["file"] == "second.zip"
    assert summary.last_seq == exported[1].seq  # the first export is inside the second pack
    registered = populated.audit.list_events(EventFilter(action_prefix="signing_key."))
    assert len(registered) == 1  # registering the same key again changes nothing
    assert populated.audit.verify().intact


def test_the_private_key_is_private_and_never_in_the_database(populated, pack, workspace_path):
    key = load_or_create_signing_key("alice")
    path = signing_key_path("alice")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    pem_body = b"".join(path.read_bytes().splitlines()[1:-1])
    populated.close()
    stored = b"".join(file.read_bytes() for file in workspace_path.parent.iterdir()
                      if file.name.startswith(workspace_path.name) and file.is_file())
    private_raw = key.private_key.private_bytes_raw()
    assert pem_body not in stored and private_raw not in stored
    assert private_raw.hex().encode() not in stored
    assert key.public_key.encode() in stored  # the public half is registered


def test_a_cancelled_export_leaves_no_file_and_no_audit_event(populated, tmp_path):
    class Cancelled(Exception):
        pass

    def cancel(done, total, text):
        raise Cancelled

    out = tmp_path / "exports"
    out.mkdir()
    head = populated.audit.head_seq()
    with pytest.raises(Cancelled):
        build_evidence_pack(populated.database, populated.actor, EventSelection(),
                            out / "pack.zip", progress=cancel)
    assert list(out.iterdir()) == []
    assert populated.audit.list_events(EventFilter(action_prefix="audit.exported")) == []
    assert populated.audit.head_seq() == head + 1  # only the key's registration


@pytest.mark.parametrize("name", ["../escape.html", "/abs.html", "manifest.json", "a//b",
                                  "EVENTS.CSV", "c:report.pdf", "./report.html", "charts/", ""])
def test_extra_file_names_that_could_clash_or_escape_are_refused(populated, tmp_path, name):
    with pytest.raises(InvalidInputError, match="Cannot add"):
        build_evidence_pack(populated.database, populated.actor, EventSelection(),
                            tmp_path / "pack.zip", extra_files={name: b"x"})


def test_bad_selections_and_folders_give_messages(populated, tmp_path):
    with pytest.raises(ModelLedgerError, match="no model named 'nope'"):
        build_evidence_pack(populated.database, populated.actor, EventSelection(("nope",)),
                            tmp_path / "pack.zip")
    empty = EventSelection.for_days((), date(2001, 1, 1), date(2001, 1, 2))
    with pytest.raises(InvalidInputError, match="No audit events match"):
        build_evidence_pack(populated.database, populated.actor, empty, tmp_path / "pack.zip")
    with pytest.raises(InvalidInputError, match="Choose another folder"):
        build_evidence_pack(populated.database, populated.actor, EventSelection(),
                            tmp_path / "no-such-folder" / "pack.zip")


def test_a_key_file_copied_from_someone_else_is_refused(populated, pack):
    eve_key = signing_key_path("eve")
    eve_key.parent.mkdir(parents=True, exist_ok=True)
    eve_key.write_bytes(signing_key_path("alice").read_bytes())
    os.chmod(eve_key, 0o600)
    eve = populated.as_user("eve")
    with pytest.raises(ModelLedgerError, match="registered to alice"):
        build_evidence_pack(eve.database, eve.actor, EventSelection(), pack.with_name("b.zip"))
    assert not pack.with_name("b.zip").exists()


def test_a_damaged_key_file_gives_a_message(tmp_path):
    path = signing_key_path("carol")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ModelLedgerError, match="is not a signing key ModelLedger can use"):
        load_or_create_signing_key("carol")


@pytest.mark.parametrize("models", [(), ("breast-cancer-screening", "vendor-credit-score")],
                         ids=["every model", "two models"])
def test_a_period_pack_shows_the_events_the_audit_page_shows_for_it(demo_workspace, tmp_path,
                                                                     models):
    """The events of a valid pack are picked from its lines without parsing them all: by the
    timestamp each line starts with, and the model names a line must hold to be a candidate."""
    newest = demo_workspace.audit.list_events(EventFilter(), limit=1)[0]
    last_day = date.fromisoformat(newest.occurred_at[:10]) - timedelta(days=20)
    selection = EventSelection.for_days(models, last_day - timedelta(days=30), last_day)
    path = tmp_path / "period.zip"
    build_evidence_pack(demo_workspace.database, demo_workspace.actor, selection, path)
    contents = read_pack(path)
    shown = [event for model in models or (None,) for event in demo_workspace.audit.list_events(
        EventFilter(model_name=model, occurred_from=_moment(selection.occurred_from),
                    occurred_before=_moment(selection.occurred_before)), limit=100_000)]
    assert contents.verification.problems == ()
    assert 10 < len(contents.events) <= contents.verification.event_count
    assert chain_rows(contents.events) == chain_rows(sorted(shown, key=lambda e: e.seq))
    assert list(contents.events.newest_first()) == list(reversed(list(contents.events)))
    assert contents.events[-2:] == list(contents.events)[-2:]


def test_a_period_pack_leaves_out_events_stamped_outside_it(tmp_path):
    """Events are in sequence order; their times need not be (a clock set back): the segment
    between the first and the last event of the period can hold events from outside it."""
    now = [datetime(2026, 3, 1, 12, tzinfo=UTC)]
    workspace = Workspace.open(tmp_path / "clock.db", create=True, user="alice",
                               clock=lambda: now[0])
    for name, day in (("a", 10), ("b", 2), ("c", 11), ("d", 20)):
        now[0] = datetime(2026, 3, day, 12, tzinfo=UTC)
        workspace.registry.register_model(name)
    path = tmp_path / "period.zip"
    selection = EventSelection.for_days((), date(2026, 3, 10), date(2026, 3, 12))
    build_evidence_pack(workspace.database, workspace.actor, selection, path)
    contents = read_pack(path)
    workspace.close()
    assert contents.verification.problems == ()
    models = [event.entity_id for event in contents.events if event.entity_type == "model"]
    assert models == ["a", "c"]  # b lies between them in the chain, but not in the period
    assert contents.verification.event_count > len(contents.events)
    assert all(selection.in_period(event.occurred_at) for event in contents.events)


def _moment(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def test_a_damaged_pack_shows_its_readable_events(pack, tmp_path):
    contents = members(pack)
    lines = contents[CHAIN_FILE].splitlines(keepends=True)
    lines[3] = b"not an event\n"
    contents[CHAIN_FILE] = b"".join(lines)
    damaged = read_pack(write_pack(tmp_path / "damaged.zip", contents))
    assert not damaged.verification.valid
    assert [event.seq for event in damaged.events] == [
        json.loads(line)[0] for number, line in enumerate(lines) if number != 3]


def test_the_demo_workspace_exports_and_verifies(demo_workspace, tmp_path):
    summary = build_evidence_pack(demo_workspace.database, demo_workspace.actor,
                                  EventSelection(), tmp_path / "demo.zip")
    verification = verify_pack(summary.path)
    assert verification.problems == ()
    assert verification.event_count == summary.event_count > 100


def test_a_models_pack_holds_what_the_audit_page_shows_for_it_alerts_included(demo_workspace,
                                                                            tmp_path):
    alerts = demo_workspace.monitoring.list_alerts(include_closed=True)
    model = alerts[0].model_name
    path = tmp_path / "model.zip"
    build_evidence_pack(demo_workspace.database, demo_workspace.actor,
                        EventSelection((model,)), path)
    contents = read_pack(path)
    shown = demo_workspace.audit.list_events(EventFilter(model_name=model), limit=100_000)
    assert contents.verification.problems == ()
    assert chain_rows(contents.events) == chain_rows(sorted(shown, key=lambda e: e.seq))
    assert any(event.entity_type == "alert" for event in contents.events)


def damaged_packs(pack, tmp_path) -> dict[str, object]:
    """The pack, and copies of it damaged in the ways a verifier must name: (changed files,
    signed again with the exporter's key)."""
    original = members(pack)
    lines = chain_lines(original)
    rows = original[CSV_FILE].split(b"\r\n")
    early, late = rows.copy(), rows.copy()
    early[3] = early[3].replace(b"alice", b"bruce", 1)
    late[-2] = late[-2].replace(b"alice", b"bruce", 1)  # the last row; the size stays
    damage = {
        "swapped": ({CHAIN_FILE: b"".join([*lines[:9], lines[10], lines[9], *lines[11:]])},
                    False),
        "removed and signed again": ({CHAIN_FILE: b"".join(lines[:6] + lines[7:])}, True),
        "a byte changed": ({CHAIN_FILE: change_one_byte(original[CHAIN_FILE])}, False),
        "no last line break": ({CHAIN_FILE: original[CHAIN_FILE][:-1]}, False),
        "csv departing early": ({CSV_FILE: b"\r\n".join(early)}, True),
        "csv departing late": ({CSV_FILE: b"\r\n".join(late)}, True),
        "csv a row short": ({CSV_FILE: b"\r\n".join([*rows[:-2], b""])}, True),
        "csv a row more": ({CSV_FILE: original[CSV_FILE] + rows[-2] + b"\r\n"}, True),
    }
    key = load_or_create_signing_key("alice").private_key
    packs: dict[str, object] = {"sound": pack}
    for name, (files, sign_again) in damage.items():
        contents = {**original, **files}
        packs[name] = write_pack(tmp_path / f"{name}.zip",
                                 signed(contents, key) if sign_again else contents)
    return packs


def test_checking_in_worker_processes_finds_what_one_process_finds(pack, tmp_path,
                                                                    monkeypatch):
    monkeypatch.setattr(evidence_pack, "PARALLEL_FROM_BYTES", 0)
    monkeypatch.setattr(evidence_pack, "READ_BLOCK_BYTES", 2048)  # several blocks per worker
    packs = damaged_packs(pack, tmp_path)
    verdicts = {name: verify_pack(path) for name, path in packs.items()}
    for name, path in packs.items():
        assert verify_pack(path, processes=2) == verdicts[name], name
    assert verdicts["sound"].valid
    assert "events.jsonl: events are out of order at seq 10 (it comes after event 11)" in (
        verdicts["swapped"].problems)
    assert verdicts["removed and signed again"].problems == (
        "events.jsonl: event 7 is missing (the chain goes from 6 to 8)",)
    assert "events.jsonl: SHA-256 does not match the manifest" in (
        verdicts["a byte changed"].problems)
    assert "events.jsonl: the last line does not end with a line break" in (
        verdicts["no last line break"].problems)
    assert verdicts["csv departing early"].problems == (
        "events.csv: row 4 (event 3) differs from events.jsonl in actor",)
    last = verdicts["sound"].last_seq
    assert verdicts["csv departing late"].problems == (
        f"events.csv: row {last + 1} (event {last}) differs from events.jsonl in actor",)
    assert verdicts["csv a row short"].problems == (
        f"events.csv ends after row {last}; event {last} and any selected events after it are "
        "missing",)
    assert verdicts["csv a row more"].problems == (
        f"events.csv has rows after the last selected event, from row {last + 2}",)


def test_a_deflated_pack_as_earlier_versions_wrote_verifies_the_same(pack, tmp_path,
                                                                      monkeypatch):
    monkeypatch.setattr(evidence_pack, "PARALLEL_FROM_BYTES", 0)  # no worker can read it
    (tmp_path / "deflated").mkdir()
    for name, path in damaged_packs(pack, tmp_path).items():
        deflated = write_pack(tmp_path / "deflated" / path.name, members(path),
                              zipfile.ZIP_DEFLATED)
        assert verify_pack(deflated, processes=2) == verify_pack(path), name


@pytest.mark.parametrize("processes", [1, 2])
def test_a_cancelled_verification_stops_and_leaves_nothing_running(pack, monkeypatch,
                                                                   processes):
    monkeypatch.setattr(evidence_pack, "PARALLEL_FROM_BYTES", 0)

    class Cancelled(Exception):
        pass

    def cancel(done, total, text):
        raise Cancelled

    with pytest.raises(Cancelled):
        verify_pack(pack, processes=processes, progress=cancel)
