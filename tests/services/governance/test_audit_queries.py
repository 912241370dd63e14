"""Filtering, counting and paging the audit log in SQL, as the audit timeline does; recording
checks of the chain; what an event changed, field by field."""

import json
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from modelledger.core.domain import EventFilter, Role, Stage
from modelledger.core.errors import InvalidInputError
from modelledger.services.governance.as_of import event_moment
from modelledger.services.governance.audit import FIELD_PATH_SEPARATOR, NOT_RECORDED, field_changes
from modelledger.services.workspace.opening import Workspace
from tests.conftest import person
from tests.services.governance.test_as_of import run_in_process
from tests.services.monitor_data import add_monitor


def fill(workspace):
    registry = workspace.registry
    registry.register_model("credit-risk", reason="Quarterly credit review",
                            description="Scores retail applicants")
    registry.register_model("credit-risk-eu", reason="EU variant")
    registry.add_version("credit-risk", notes="first fit")
    registry.move_to_stage("credit-risk", 1, Stage.STAGING, "Validation 100% done_ok")
    person(workspace, "bob", Role.ADMIN).registry.save_user(
        "carol", "Carol", Role.OWNER, reason="new OWNER of credit models")


@pytest.fixture
def filled(workspace):
    fill(workspace)
    return workspace.audit


def test_search_finds_reason_text_in_any_case(filled):
    found = filled.list_events(EventFilter(search="CREDIT MODELS"))
    assert [event.reason for event in found] == ["new OWNER of credit models"]
    owner_events = filled.list_events(EventFilter(search="owner of"))
    assert [event.seq for event in owner_events] == [found[0].seq]


def test_search_finds_text_recorded_in_the_values_but_not_field_names(filled):
    [registered] = filled.list_events(EventFilter(search="RETAIL applicants"))
    assert registered.action == "model.registered" and registered.reason != ""
    assert "retail" not in registered.reason.lower()
    # "description" and "risk_tier" are names of recorded fields, not text anyone wrote.
    assert filled.list_events(EventFilter(search="description")) == []
    assert filled.list_events(EventFilter(search="risk_tier")) == []
    staged = filled.list_events(EventFilter(search="staging"))
    assert [event.action for event in staged] == ["stage.transition"]


def test_search_treats_like_wildcards_as_plain_text(filled):
    assert [event.reason for event in filled.list_events(EventFilter(search="100%"))] == [
        "Validation 100% done_ok"]
    assert filled.list_events(EventFilter(search="0%d")) == []
    assert [event.reason for event in filled.list_events(EventFilter(search="e_o"))] == [
        "Validation 100% done_ok"]
    assert filled.list_events(EventFilter(search="n_")) == []


def test_actor_filter_is_exact(filled):
    bob_events = filled.list_events(EventFilter(actor="bob"))
    assert {event.actor for event in bob_events} == {"bob"}
    assert {event.action for event in bob_events} == {"identity.enrolment_requested",
                                                       "user.created"}
    assert filled.list_events(EventFilter(actor="bo")) == []


def test_filters_combine_and_the_model_filter_keeps_to_one_model(filled):
    events = filled.list_events(EventFilter(model_name="credit-risk", action_prefix="version."))
    assert [event.entity_id for event in events] == ["credit-risk/v1"]
    under_model = filled.list_events(EventFilter(model_name="credit-risk"))
    entity_ids = {event.entity_id for event in under_model}
    assert entity_ids == {"credit-risk", "credit-risk/v1"}
    assert filled.list_events(EventFilter(model_name="credit-risk", actor="bob")) == []


def test_version_filter_keeps_to_one_version_and_its_requests(workspace):
    registry = workspace.registry
    registry.register_model("m")
    for _ in range(11):
        registry.add_version("m")
    registry.move_to_stage("m", 1, Stage.STAGING, "ready")
    registry.request_promotion("m", 1, "please")
    registry.register_model("m2")
    registry.add_version("m2")
    events = workspace.audit.list_events(EventFilter(model_name="m", version_number=1))
    assert [(event.action, event.entity_id) for event in events] == [
        ("promotion.requested", "m/v1/request-1"), ("stage.transition", "m/v1"),
        ("version.created", "m/v1")]  # not m/v10, m/v11, nor m2/v1
    assert workspace.audit.count_events(EventFilter(model_name="m", version_number=11)) == 1
    with pytest.raises(InvalidInputError, match="Choose a model"):
        EventFilter(version_number=1)


def test_the_model_filter_is_exact_about_the_name_and_includes_its_alerts(workspace, tmp_path):
    monitor = add_monitor(workspace, tmp_path, model="credit-risk")
    run_in_process(workspace, monitor.id)  # drifted data: raises alerts for credit-risk
    workspace.registry.register_model("Credit-Risk")
    add_monitor(workspace, tmp_path, model="other", name="quality")
    about = workspace.audit.list_events(EventFilter(model_name="credit-risk"))
    kinds = {event.entity_type for event in about}
    assert kinds == {"model", "monitor", "alert"}
    assert "Credit-Risk" not in {event.entity_id for event in about}
    alerts = [event for event in about if event.entity_type == "alert"]
    assert alerts and all(json.loads(event.after)["model"] == "credit-risk" for event in alerts)
    [title] = {json.loads(alerts[0].after)["title"]}
    found = workspace.audit.list_events(EventFilter(search=title.split(": ", 1)[1]))
    assert alerts[0] in found


def test_a_date_range_keeps_the_events_inside_it(filled):
    events = {event.seq: event for event in filled.list_events()}
    # Events 1 and 2 (alice's arrival and her first action) are one write, so one moment.
    assert event_moment(events[1]) == event_moment(events[2])
    third, fifth = event_moment(events[3]), event_moment(events[5])
    inside = filled.list_events(EventFilter(occurred_from=third, occurred_before=fifth))
    assert [event.seq for event in inside] == [4, 3]
    from_third = filled.list_events(EventFilter(occurred_from=third))
    assert [event.seq for event in from_third] == sorted(
        (seq for seq in events if seq >= 3), reverse=True)
    assert filled.count_events(EventFilter(occurred_before=third)) == 2
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert filled.list_events(EventFilter(occurred_from=tomorrow)) == []
    with pytest.raises(InvalidInputError, match="start of the period"):
        EventFilter(occurred_from=fifth, occurred_before=third)


def test_dates_paging_and_search_combine(filled):
    filters = EventFilter(search="credit", occurred_from=datetime.now(UTC) - timedelta(hours=1))
    seen, before = [], None
    while page := filled.list_events(filters, limit=1, before_seq=before):
        seen.extend(page)
        before = page[-1].seq
    assert len(seen) == filled.count_events(filters) >= 3


def test_a_hand_edited_event_that_is_not_json_does_not_stop_the_search(filled, workspace_path):
    with sqlite3.connect(workspace_path) as conn:
        conn.execute("DROP TRIGGER audit_events_no_update")
        conn.execute("UPDATE audit_events SET after_json = 'not {json' WHERE seq = 2")
    conn.close()
    found = filled.list_events(EventFilter(search="validation"))
    assert [event.reason for event in found] == ["Validation 100% done_ok"]
    assert filled.list_events(EventFilter(search="not {json")) == []


def test_count_matches_what_paging_walks_through(filled):
    filters = EventFilter(model_name="credit-risk")
    seen, before = [], None
    while page := filled.list_events(filters, limit=1, before_seq=before):
        seen.extend(page)
        before = page[-1].seq
    assert filled.count_events(filters) == len(seen) == 3
    assert [event.seq for event in seen] == sorted((event.seq for event in seen), reverse=True)
    assert filled.count_events() == filled.head_seq()
    assert filled.count_events(EventFilter(search="credit", actor="bob")) == 1


def test_a_verification_is_recorded_in_the_chain_it_checked(filled, workspace):
    report = filled.verify()
    event = filled.record_verification(report, workspace.actor, workspace.changes)
    assert event.seq == report.last_seq + 1 and event.action == "audit.verified"
    assert json.loads(event.after) == {"result": "intact", "events_checked": report.last_seq,
                                       "head_seq": report.last_seq,
                                       "head_hash": report.head_hash}
    assert filled.verify().intact


def test_a_broken_chain_is_recorded_as_broken(filled, workspace, workspace_path):
    with sqlite3.connect(workspace_path) as conn:
        conn.execute("DROP TRIGGER audit_events_no_update")
        conn.execute("UPDATE audit_events SET reason = 'nothing to see' WHERE seq = 3")
    conn.close()
    report = filled.verify()
    event = filled.record_verification(report, workspace.as_user("bob").actor,
                                       workspace.changes)
    after = json.loads(event.after)
    assert after["result"] == "broken" and after["broken_at_seq"] == 3
    assert "altered" in after["problem"] and event.actor == "bob"


def test_field_changes_compare_nested_records_field_by_field(workspace, tmp_path):
    monitor = add_monitor(workspace, tmp_path)
    from dataclasses import replace

    from modelledger.core.monitoring import Threshold

    workspace.monitoring.update_monitor(
        monitor.id, monitor.row_version, max_failures=5,
        spec=replace(monitor.spec, thresholds={"drift.psi": Threshold(0.2, 0.3)}),
        reason="fewer false alarms")
    [updated] = workspace.audit.list_events(EventFilter(action_prefix="monitor.updated"))
    changes, unchanged = field_changes(updated)
    by_field = {change.field: (change.before, change.after) for change in changes}
    path = FIELD_PATH_SEPARATOR.join(("spec", "thresholds", "drift.psi", "warn"))
    assert by_field[path] == (NOT_RECORDED, 0.2)
    assert by_field["max_failures"] == (3, 5)
    assert "name" not in by_field and unchanged > 5
    [created] = workspace.audit.list_events(EventFilter(action_prefix="monitor.created"))
    recorded, same = field_changes(created)
    assert same == 0 and all(change.before is NOT_RECORDED for change in recorded)


def test_actors_lists_everyone_in_the_log_once(filled):
    assert filled.actors() == ["alice", "bob"]


def test_a_new_log_names_only_its_creator_and_finds_nothing_else(workspace):
    assert workspace.audit.actors() == ["alice"]  # who set up signed identity
    assert workspace.audit.count_events(EventFilter(search="credit")) == 0


@pytest.mark.postgres
def test_the_same_queries_on_postgresql(postgres_url, tmp_path):
    workspace = Workspace.open(postgres_url, create=True, user="alice",
                               artifact_root=tmp_path / "artifacts")
    try:
        fill(workspace)
        audit = workspace.audit
        assert [event.reason for event in audit.list_events(EventFilter(search="CREDIT "))] == [
            "new OWNER of credit models", "Quarterly credit review"]
        assert audit.list_events(EventFilter(search="0%d")) == []
        assert [event.action for event in audit.list_events(
            EventFilter(search="retail APPLICANTS"))] == ["model.registered"]
        assert audit.list_events(EventFilter(search="description")) == []
        assert audit.count_events(EventFilter(model_name="credit-risk", version_number=1)) == 2
        events = {event.seq: event for event in audit.list_events()}
        assert [event.seq for event in audit.list_events(EventFilter(
            occurred_from=event_moment(events[3]), occurred_before=event_moment(events[5])))] \
            == [4, 3]
        assert audit.count_events(EventFilter(model_name="credit-risk")) == 3
        assert audit.actors() == ["alice", "bob"]
    finally:
        workspace.close()
