"""Signed identity: every decision signed by its author's valid key, roles enforced where every
event is written, and forgeries found by `audit verify` at their sequence number."""

import json
import sqlite3

import pytest

from modelledger.core.audit_chain import event_hash
from modelledger.core.domain import Role, Stage
from modelledger.core.errors import FourEyesError
from modelledger.core.identity import NotSignedInError, PermissionDeniedError, signed_message
from modelledger.services.identity import keystore
from modelledger.services.workspace.opening import Workspace
from modelledger.storage.database import Database
from tests.conftest import person, run_cli


def staged(ws, name="churn"):
    ws.registry.register_model(name)
    ws.registry.add_version(name, metrics={"auc": 0.8})
    ws.registry.move_to_stage(name, 1, Stage.STAGING, "validated offline")
    return ws.registry.request_promotion(name, 1, "ready")


def verified(ws):
    chain, decisions = ws.audit.verify_with_signatures()
    assert chain.intact, chain.describe()
    return decisions


def head(path):
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1"
                            ).fetchone()


def append_raw(path, *, actor, action, entity_type, entity_id, after, signer=None,
               signature=None, sign_with=None):
    """What someone with write access to the file can do: append an event with a correctly
    recomputed hash chain (and, given a private key, a real signature)."""
    seq, prev_hash = head(path)
    fields = {"seq": seq + 1, "occurred_at": "2030-01-01T00:00:00.000000Z", "actor": actor,
              "host": "elsewhere", "action": action, "entity_type": entity_type,
              "entity_id": entity_id, "before": "{}", "after": json.dumps(after),
              "reason": "looks legitimate", "prev_hash": prev_hash}
    digest = event_hash(**fields)
    if sign_with is not None:
        signer = sign_with.fingerprint
        signature = sign_with.sign(signed_message(digest)).hex()
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO audit_events (seq, occurred_at, actor, host, action, entity_type, "
            "entity_id, before_json, after_json, reason, prev_hash, hash, signer, signature) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*fields.values(), digest, signer, signature))
    return seq + 1


def test_a_new_workspace_signs_every_decision_and_verifies(workspace):
    bob = person(workspace, "bob", Role.VALIDATOR)
    request = staged(workspace)
    bob.registry.approve_promotion(request.id, "independently checked")
    decisions = verified(workspace)
    assert decisions.valid, decisions.describe()
    assert decisions.identity_from_seq is not None and decisions.signed >= 8
    approval = workspace.audit.list_events(limit=5)
    signed = {event.action: event for event in approval}
    assert signed["promotion.approved"].actor == "bob"
    assert signed["promotion.approved"].signer == keystore.load_key("bob").fingerprint


def test_a_forged_approval_with_a_recomputed_chain_is_reported_at_its_number(workspace,
                                                                             workspace_path):
    staged(workspace)
    seq = append_raw(workspace_path, actor="bob", action="promotion.approved",
                     entity_type="promotion_request", entity_id="churn/v1/request-1",
                     after={"decision": "approved"})
    chain, decisions = workspace.audit.verify_with_signatures()
    assert chain.intact  # the chain alone cannot tell
    assert [problem.seq for problem in decisions.problems] == [seq]
    assert "not signed" in decisions.problems[0].problem


def test_a_signature_copied_from_another_event_does_not_match(workspace, workspace_path):
    staged(workspace)
    genuine = workspace.audit.list_events(limit=1)[0]
    seq = append_raw(workspace_path, actor="alice", action="model.updated", entity_type="model",
                     entity_id="churn", after={"owner": "mallory"}, signer=genuine.signer,
                     signature=genuine.signature)
    problems = verified(workspace).problems
    assert [problem.seq for problem in problems] == [seq]
    assert "does not match the event" in problems[0].problem


def test_an_actor_name_that_is_not_the_keys_owner_is_reported(workspace, workspace_path):
    bob = person(workspace, "bob", Role.VALIDATOR)
    staged(workspace)
    assert bob.actor.user == "bob"
    seq = append_raw(workspace_path, actor="carol", action="promotion.approved",
                     entity_type="promotion_request", entity_id="churn/v1/request-1",
                     after={}, sign_with=keystore.load_key("bob"))
    problems = verified(workspace).problems
    assert [problem.seq for problem in problems] == [seq]
    assert "signed with bob's key" in problems[0].problem


def test_a_revoked_key_is_refused_afterwards_and_reported_if_used_anyway(workspace,
                                                                         workspace_path):
    bob = person(workspace, "bob", Role.VALIDATOR)
    first = staged(workspace, "churn")
    bob.registry.approve_promotion(first.id, "checked before the laptop was lost")
    bob_key = keystore.load_key("bob")
    workspace.identity.revoke(bob_key.fingerprint, "laptop lost")
    second = staged(workspace, "fraud")
    before = workspace.audit.head_seq()
    with pytest.raises(NotSignedInError, match="revoked: laptop lost"):
        bob.registry.approve_promotion(second.id, "after the revocation")
    assert workspace.audit.head_seq() == before
    seq = append_raw(workspace_path, actor="bob", action="promotion.approved",
                     entity_type="promotion_request", entity_id="fraud/v1/request-2",
                     after={}, sign_with=bob_key)
    decisions = verified(workspace)
    assert [problem.seq for problem in decisions.problems] == [seq]
    assert "after it was revoked" in decisions.problems[0].problem


def test_rotating_a_key_keeps_every_older_event_verifying(workspace):
    bob = person(workspace, "bob", Role.VALIDATOR)
    bob.registry.approve_promotion(staged(workspace, "churn").id, "first key")
    old = keystore.load_key("bob")
    new = keystore.new_key("bob")
    bob.identity.rotate(old, new, "yearly rotation")
    assert keystore.load_key("bob").fingerprint == new.fingerprint
    bob.registry.approve_promotion(staged(workspace, "fraud").id, "second key")
    decisions = verified(workspace)
    assert decisions.valid, decisions.describe()
    signers = {fingerprint for actor, fingerprint in decisions.signers.values()
               if actor == "bob"}
    assert signers == {old.fingerprint, new.fingerprint}
    assert workspace.identity.key(old.fingerprint).status == "rotated"


def test_acting_as_someone_without_their_key_is_refused_and_writes_nothing(workspace,
                                                                           workspace_path):
    workspace.registry.register_model("churn")
    head_before = workspace.audit.head_seq()
    with pytest.raises(NotSignedInError, match="bob's key is not on this workstation"):
        workspace.as_user("bob").registry.register_model("sneaky")
    result = run_cli("-w", str(workspace_path), "-u", "bob", "model", "register", "sneaky")
    assert result.returncode != 0 and "bob's key is not on this workstation" in result.stderr
    assert "Traceback" not in result.stderr
    assert workspace.audit.head_seq() == head_before
    assert [s.model.name for s in workspace.registry.list_models()] == ["churn"]


def test_a_pending_enrolment_cannot_act_until_an_admin_approves(workspace):
    key = keystore.create_key("dora")
    dora = workspace.as_user("dora")
    dora.identity.request_enrolment(key, display_name="Dora")
    with pytest.raises(NotSignedInError, match="waits for an admin's approval"):
        dora.registry.register_model("early")
    with pytest.raises(NotSignedInError, match="waits for an admin's approval"):
        dora.identity.approve("dora", role=Role.ADMIN)
    workspace.identity.approve("dora", role=Role.DEVELOPER)
    dora.registry.register_model("after-approval")
    assert verified(workspace).valid


def test_a_viewer_reads_but_cannot_register_approve_or_change_settings(workspace,
                                                                       workspace_path):
    request = staged(workspace)
    viewer = person(workspace, "vera", Role.VIEWER)
    assert [s.model.name for s in viewer.registry.list_models()] == ["churn"]
    head_before = workspace.audit.head_seq()
    for attempt, needs in (
            (lambda: viewer.registry.register_model("mine"), "developer"),
            (lambda: viewer.registry.approve_promotion(request.id, "ok"), "validator"),
            (lambda: viewer.registry.set_four_eyes_required(False, "faster"), "admin")):
        with pytest.raises(PermissionDeniedError, match=f"vera is a viewer; .* needs the role "
                                                        f".*{needs}"):
            attempt()
    for command in (("model", "register", "mine"),
                    ("promote", "approve", str(request.id), "--reason", "ok"),
                    ("settings", "four-eyes", "off", "--reason", "faster")):
        result = run_cli("-w", str(workspace_path), "-u", "vera", *command)
        assert result.returncode == 4 and "vera is a viewer" in result.stderr, result.stderr
    assert workspace.audit.head_seq() == head_before


def test_a_validator_never_approves_their_own_request(workspace):
    vic = person(workspace, "vic", Role.DEVELOPER)
    workspace.registry.register_model("churn")
    vic.registry.add_version("churn")
    vic.registry.move_to_stage("churn", 1, Stage.STAGING, "mine")
    request = vic.registry.request_promotion("churn", 1, "ready")
    workspace.registry.save_user("vic", "Vic", Role.VALIDATOR, reason="moves to validation")
    with pytest.raises(FourEyesError, match="cannot also approve"):
        vic.registry.approve_promotion(request.id, "looks fine to me")
    assert workspace.registry.get_version("churn", 1).stage is Stage.STAGING


def test_an_owner_edits_their_own_models_only(workspace):
    olga = person(workspace, "olga", Role.OWNER)
    workspace.registry.register_model("hers", owner="olga")
    workspace.registry.register_model("theirs", owner="alice")
    mine = olga.registry.get_model("hers")
    olga.registry.update_model("hers", mine.row_version, {"description": "mine"}, "clarify")
    other = olga.registry.get_model("theirs")
    with pytest.raises(PermissionDeniedError, match="model owned by alice"):
        olga.registry.update_model("theirs", other.row_version, {"owner": "olga"}, "grab")
    assert verified(workspace).valid


def test_a_workspace_from_before_signed_identity_migrates_and_verifies(workspace_path):
    legacy = Workspace(Database.open(workspace_path, create=True), user="alice")
    try:
        legacy.registry.register_model("churn")
        legacy.as_user("bob").registry.add_version("churn")  # anyone could act as anyone
        assert legacy.identity.signed_from_seq() is None
        before = legacy.audit.head_seq()
        legacy.registry.save_user("alice", "Alice", Role.ADMIN, reason="the team's admin")
        with pytest.raises(PermissionDeniedError, match="Only an admin"):
            legacy.as_user("bob").identity.bootstrap(keystore.create_key("bob"), migrated=True)
        legacy.identity.bootstrap(keystore.create_key("alice"), migrated=True)
        decisions = verified(legacy)
        assert decisions.valid, decisions.describe()
        assert decisions.before_identity == before + 1  # and alice's admin role
        checkpoint = legacy.audit.list_events(limit=1)[0]
        assert checkpoint.action == "identity.checkpoint" and checkpoint.actor == "alice"
        assert checkpoint.signer == keystore.load_key("alice").fingerprint
        with pytest.raises(NotSignedInError):
            legacy.as_user("bob").registry.register_model("no-longer")
    finally:
        legacy.close()


def test_the_scheduler_writes_unsigned_runs_under_a_signed_checkpoint(workspace, tmp_path):
    from modelledger.services.monitoring.scheduler import MonitorScheduler
    from tests.services.monitor_data import add_monitor

    monitor = add_monitor(workspace, tmp_path)
    scheduler = MonitorScheduler(workspace, max_parallel=1)
    try:
        scheduler.run_now(monitor.id).result(timeout=120)
    finally:
        scheduler.shutdown()
    events = workspace.audit.list_events(limit=100)
    assert events[0].action == "identity.checkpoint" and events[0].signer is not None
    run = next(event for event in events if event.action.startswith("monitor.run_s"))
    assert run.signer is None
    decisions = verified(workspace)
    assert decisions.valid and decisions.checkpointed >= 1 and not decisions.uncovered


def test_a_key_made_in_an_admins_name_cannot_approve_itself(workspace, workspace_path,
                                                            tmp_path, monkeypatch):
    """Anyone can make a key on their own workstation and ask to enrol it as "alice"; it signs
    nothing until an admin's approved key approves it."""
    monkeypatch.setenv("MODELLEDGER_DATA_DIR", str(tmp_path / "another-workstation"))
    impostor = Workspace.open(workspace_path, user="alice")
    try:
        impostor_key = keystore.create_key("alice")
        impostor.identity.request_enrolment(impostor_key)
        head_before = workspace.audit.head_seq()
        with pytest.raises(NotSignedInError, match="waits for an admin's approval"):
            impostor.identity.approve("alice", fingerprint=impostor_key.fingerprint)
        assert workspace.audit.head_seq() == head_before
        assert workspace.identity.key(impostor_key.fingerprint).status == "pending"
    finally:
        impostor.close()
