"""Filtering, counting and paging the audit log in SQL, as the audit timeline does."""

import pytest

from modelledger.core.domain import EventFilter, Role, Stage
from modelledger.services.workspace import Workspace


def fill(workspace):
    registry = workspace.registry
    registry.register_model("credit-risk", reason="Quarterly credit review")
    registry.register_model("credit-risk-eu", reason="EU variant")
    registry.add_version("credit-risk", notes="first fit")
    registry.move_to_stage("credit-risk", 1, Stage.STAGING, "Validation 100% done_ok")
    workspace.as_user("bob").registry.save_user("carol", "Carol", Role.OWNER,
                                                 reason="new OWNER of credit models")


@pytest.fixture
def filled(workspace):
    fill(workspace)
    return workspace.audit


def test_search_finds_reason_text_in_any_case(filled):
    found = filled.list_events(EventFilter(search="credit"))
    assert [event.reason for event in found] == ["new OWNER of credit models",
                                                  "Quarterly credit review"]
    owner_events = filled.list_events(EventFilter(search="OWNER"))
    assert [event.seq for event in owner_events] == [found[0].seq]


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
    assert {event.action for event in bob_events} == {"user.created"}
    assert filled.list_events(EventFilter(actor="bo")) == []


def test_filters_combine_and_the_model_filter_keeps_to_one_model(filled):
    events = filled.list_events(EventFilter(model_name="credit-risk", action_prefix="version."))
    assert [event.entity_id for event in events] == ["credit-risk/v1"]
    under_model = filled.list_events(EventFilter(model_name="credit-risk"))
    entity_ids = {event.entity_id for event in under_model}
    assert entity_ids == {"credit-risk", "credit-risk/v1"}
    assert filled.list_events(EventFilter(model_name="credit-risk", actor="bob")) == []


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


def test_actors_lists_everyone_in_the_log_once(filled):
    assert filled.actors() == ["alice", "bob"]


def test_an_empty_log_has_no_actors_and_no_events(workspace):
    assert workspace.audit.actors() == []
    assert workspace.audit.count_events(EventFilter(search="x")) == 0


@pytest.mark.postgres
def test_the_same_queries_on_postgresql(postgres_url, tmp_path):
    workspace = Workspace.open(postgres_url, create=True, user="alice",
                               artifact_root=tmp_path / "artifacts")
    try:
        fill(workspace)
        audit = workspace.audit
        assert [event.reason for event in audit.list_events(EventFilter(search="CREDIT"))] == [
            "new OWNER of credit models", "Quarterly credit review"]
        assert audit.list_events(EventFilter(search="0%d")) == []
        assert audit.count_events(EventFilter(model_name="credit-risk")) == 3
        assert audit.actors() == ["alice", "bob"]
    finally:
        workspace.close()
