"""Someone with write access to the file edits the audit log behind ModelLedger's back."""

import sqlite3

import pytest

from modelledger.core.audit_chain import event_hash


@pytest.fixture
def populated(workspace, workspace_path):
    workspace.registry.register_model("m")
    for index in range(8):
        workspace.registry.add_version("m", notes=f"v{index}")
    assert workspace.audit.verify().intact
    return workspace, workspace_path


def tamper(path, *statements):
    """A raw connection that first removes our append-only triggers, as an attacker would."""
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TRIGGER audit_events_no_update")
        conn.execute("DROP TRIGGER audit_events_no_delete")
        for statement, params in statements:
            conn.execute(statement, params)


def test_edited_row_is_found_and_located(populated):
    workspace, path = populated
    tamper(path, ("UPDATE audit_events SET reason = 'nothing to see' WHERE seq = 5", ()))
    report = workspace.audit.verify()
    assert report.first_break.seq == 5 and "altered" in report.first_break.problem


def test_deleted_row_is_found_and_located(populated):
    workspace, path = populated
    tamper(path, ("DELETE FROM audit_events WHERE seq = 6", ()))
    report = workspace.audit.verify()
    assert report.first_break.seq == 6 and "missing" in report.first_break.problem


def test_inserted_row_is_found(populated):
    workspace, path = populated
    head = workspace.audit.head_seq()
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO audit_events VALUES (?, '2026-01-01T00:00:00.000000Z', 'mallory', 'h',"
            " 'stage.promotion', 'version', 'm/v1', '{}', '{}', '', ?, ?, NULL, NULL)",
            (head + 1, "f" * 64, "e" * 64))
    report = workspace.audit.verify()
    assert report.first_break.seq == head + 1
    assert "previous-hash" in report.first_break.problem


def test_inserted_row_with_a_recomputed_own_hash_still_breaks_the_chain(populated):
    workspace, path = populated
    # Shift event 4 away and slip a forged event in its place, with its own hash right.
    fields = dict(seq=4, occurred_at="2026-01-01T00:00:00.000000Z", actor="mallory", host="h",
                  action="promotion.approved", entity_type="promotion_request",
                  entity_id="m/v1/request-1", before="{}", after="{}", reason="",
                  prev_hash="a" * 64)
    forged = event_hash(**fields)
    tamper(path, ("DELETE FROM audit_events WHERE seq = 4", ()),
           ("INSERT INTO audit_events VALUES (:seq, :occurred_at, :actor, :host, :action, "
            ":entity_type, :entity_id, :before, :after, :reason, :prev_hash, :hash, NULL, NULL)",
            {**fields, "hash": forged}))
    report = workspace.audit.verify()
    assert report.first_break.seq == 4 and "previous-hash" in report.first_break.problem


def test_cli_verify_names_the_event_and_fails(populated):
    from tests.conftest import run_cli

    workspace, path = populated
    workspace.close()
    tamper(path, ("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3", ()))
    result = run_cli("-w", str(path), "audit", "verify")
    assert result.returncode == 3
    assert "BROKEN at event 3" in result.stdout
