"""Every decision in an evidence pack checked by its signature, offline, with the pack alone."""

import json
import sqlite3

import pytest

from modelledger.core.domain import EventFilter, Role, Stage
from modelledger.core.evidence import MANIFEST_FILE, EventSelection
from modelledger.core.identity import ESTABLISHING_PREFIXES, short_fingerprint, signed_message
from modelledger.core.pack_decisions import DECISIONS_FILE, HISTORY_FILE
from modelledger.services.governance.evidence_pack import build_evidence_pack, verify_pack
from modelledger.services.governance.signing import load_or_create_signing_key
from modelledger.services.identity import keystore
from tests.conftest import person
from tests.services.governance.test_evidence_pack import members, signed, write_pack


@pytest.fixture
def team(workspace):
    """alice (the creator, admin) asks for a promotion that Bob Liu, a validator, approves;
    Carol Nguyen is a validator too."""
    bob = person(workspace, "bob", Role.VALIDATOR, "Bob Liu")
    person(workspace, "carol", Role.VALIDATOR, "Carol Nguyen")
    registry = workspace.registry
    registry.register_model("churn")
    registry.add_version("churn")
    registry.move_to_stage("churn", 1, Stage.STAGING, "ready for validation")
    request = registry.request_promotion("churn", 1, "validation report VR-12")
    bob.registry.approve_promotion(request.id, "independent review passed")
    return workspace


EVERY_EVENT = EventSelection()


def export(workspace, path, selection=EVERY_EVENT):
    build_evidence_pack(workspace.database, workspace.actor, selection, path)
    return path


def the_event(workspace, action):
    """The newest event of ``action``."""
    return workspace.audit.list_events(EventFilter(action_prefix=action), limit=1)[0]


def decision_lines(contents):
    return [json.loads(line) for line in contents[DECISIONS_FILE].splitlines()]


def test_every_decision_of_a_pack_is_checked_by_its_signature(team, tmp_path):
    verification = verify_pack(export(team, tmp_path / "pack.zip"))
    assert verification.valid, verification.describe()
    decisions = verification.decisions
    signed_events = [event for event in team.audit.list_events(limit=100)
                     if event.signature and event.seq <= verification.last_seq]
    # Every event but the first: alice's user record, written as she bootstrapped identity.
    assert decisions.segment_signed == len(signed_events) == verification.event_count - 1
    approval = the_event(team, "promotion.approved")
    bob_key = keystore.load_key("bob")
    assert decisions.report.badge(approval.seq) == (
        f"signed by Bob Liu, key {short_fingerprint(bob_key.fingerprint)}, valid")
    assert f"decisions: {len(signed_events)} signed in the segment" in verification.describe()


def test_a_pack_that_starts_late_judges_its_decisions_by_the_identity_history(team, tmp_path):
    team.registry.register_model("fraud")
    team.registry.add_version("fraud")
    verification = verify_pack(export(team, tmp_path / "fraud.zip",
                                      EventSelection(models=("fraud",))))
    assert verification.valid, verification.describe()
    registered = the_event(team, "model.registered").seq  # newest first: fraud's
    assert verification.first_seq == registered
    history = [json.loads(line) for line in members(tmp_path / "fraud.zip")[HISTORY_FILE]
               .splitlines()]
    assert [row[4] for row in history] == [
        "user.created", "identity.bootstrapped", *["identity.enrolment_requested",
                                                   "identity.enrolment_approved"] * 2,
        "model.registered"]
    assert all(row[0] < registered and row[4].startswith(ESTABLISHING_PREFIXES)
               for row in history)
    assert verification.decisions.history_events == 7
    assert verification.decisions.segment_signed == 2


def test_a_decision_re_signed_with_another_persons_key_fails(team, tmp_path, workspace_path):
    carol = keystore.load_key("carol")
    approval = the_event(team, "promotion.approved")
    # Someone with write access to the file re-signs bob's approval with carol's valid key.
    with sqlite3.connect(workspace_path) as conn:
        conn.execute("DROP TRIGGER audit_events_no_update")
        conn.execute("UPDATE audit_events SET signer = ?, signature = ? WHERE seq = ?",
                     (carol.fingerprint, carol.sign(signed_message(approval.hash)).hex(),
                      approval.seq))
    conn.close()
    verification = verify_pack(export(team, tmp_path / "pack.zip"))
    assert not verification.valid
    assert verification.problems == (
        f"decision at event {approval.seq}: the event names bob as its author, but it is "
        "signed with carol's key",)
    assert verification.decisions.report.badge(approval.seq).startswith("NOT VALID")


def test_a_signature_copied_from_another_event_fails_even_in_a_pack_signed_again(
        team, tmp_path):
    contents = members(export(team, tmp_path / "pack.zip"))
    approval = the_event(team, "promotion.approved")
    enrolment = the_event(team, "identity.enrolment_requested")  # bob's own, with his key
    lines = decision_lines(contents)
    [copied] = [line for line in lines if line[0] == enrolment.seq]
    doctored = [[seq, *copied[1:]] if seq == approval.seq else [seq, signer, signature]
                for seq, signer, signature in lines]
    contents[DECISIONS_FILE] = b"".join(
        json.dumps(line, separators=(",", ":")).encode() + b"\n" for line in doctored)
    # The exporter's own key over the doctored pack: the decision still gives it away.
    exporter = load_or_create_signing_key("alice").private_key
    verification = verify_pack(write_pack(tmp_path / "copied.zip", signed(contents, exporter)))
    assert verification.problems == (
        f"decision at event {approval.seq}: its signature does not match the event (forged, "
        "or copied from another event)",)


def test_a_decision_whose_signature_is_left_out_of_the_pack_fails(team, tmp_path):
    contents = members(export(team, tmp_path / "pack.zip"))
    approval = the_event(team, "promotion.approved")
    contents[DECISIONS_FILE] = b"".join(
        line + b"\n" for line in contents[DECISIONS_FILE].splitlines()
        if json.loads(line)[0] != approval.seq)
    exporter = load_or_create_signing_key("alice").private_key
    verification = verify_pack(write_pack(tmp_path / "left-out.zip", signed(contents, exporter)))
    assert verification.problems == (
        f"decision at event {approval.seq}: 'promotion.approved' by bob is not signed, and "
        "every decision must be",)


def test_an_altered_history_event_is_named(team, tmp_path):
    team.registry.register_model("fraud")
    contents = members(export(team, tmp_path / "fraud.zip", EventSelection(models=("fraud",))))
    lines = contents[HISTORY_FILE].splitlines(keepends=True)
    assert b"validator" in lines[3]  # bob's approval, which made him a validator
    lines[3] = lines[3].replace(b"validator", b"admin")
    contents[HISTORY_FILE] = b"".join(lines)
    exporter = load_or_create_signing_key("alice").private_key
    verification = verify_pack(write_pack(tmp_path / "altered.zip", signed(contents, exporter)))
    approved = json.loads(lines[3])[0]
    assert verification.problems == (
        f"{HISTORY_FILE} line 4 (event {approved}) does not match its hash: it was altered",)


def test_a_pack_from_before_signed_identity_verifies_by_its_chain_alone(team, tmp_path):
    contents = members(export(team, tmp_path / "pack.zip"))
    manifest = json.loads(contents[MANIFEST_FILE])
    for name in (DECISIONS_FILE, HISTORY_FILE):
        del contents[name], manifest["files"][name]
    contents[MANIFEST_FILE] = json.dumps(manifest).encode()
    exporter = load_or_create_signing_key("alice").private_key
    verification = verify_pack(write_pack(tmp_path / "old.zip", signed(contents, exporter)))
    assert verification.valid, verification.describe()
    assert verification.decisions is None
    assert "decisions: not in this pack (written before signed identity)" in \
        verification.describe()
