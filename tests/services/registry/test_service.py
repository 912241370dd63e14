import pytest

from modelledger.core.domain import (
    EventFilter,
    InventoryFilter,
    ModelStatus,
    RequestStatus,
    RiskTier,
    Role,
    Stage,
)
from modelledger.core.errors import (
    ConcurrentEditError,
    FourEyesError,
    InvalidInputError,
    LifecycleError,
    NotFoundError,
)
from tests.conftest import person


def staged(ws, name="credit-risk", versions=1):
    ws.registry.register_model(name, risk_tier="high")
    for _ in range(versions):
        ws.registry.add_version(name, metrics={"auc": 0.8})
    for number in range(1, versions + 1):
        ws.registry.move_to_stage(name, number, Stage.STAGING, "validated offline")


def promote(ws, approver, name, number):
    request = ws.registry.request_promotion(name, number, "ready")
    return approver.registry.approve_promotion(request.id, "independently checked")


def test_version_numbers_and_default_stage(workspace):
    workspace.registry.register_model("m")
    first = workspace.registry.add_version("m", notes="baseline")
    second = workspace.registry.add_version("m", parent_version=1)
    assert (first.version_number, second.version_number) == (1, 2)
    assert first.stage is Stage.DEVELOPMENT and second.parent_version == 1
    assert first.environment["python"] and "scikit-learn" in first.environment


def test_duplicate_and_invalid_model_names(workspace):
    workspace.registry.register_model("m")
    with pytest.raises(InvalidInputError, match="already exists"):
        workspace.registry.register_model("m")
    with pytest.raises(InvalidInputError, match="not a valid model name"):
        workspace.registry.register_model("../etc")


def test_four_eyes_refuses_self_approval_and_allows_another_user(workspace):
    staged(workspace)
    request = workspace.registry.request_promotion("credit-risk", 1, "ready")
    with pytest.raises(FourEyesError, match="cannot also approve"):
        workspace.registry.approve_promotion(request.id, "self")
    assert workspace.registry.get_version("credit-risk", 1).stage is Stage.STAGING
    version = person(workspace, "bob", Role.VALIDATOR).registry.approve_promotion(request.id,
                                                                                "ok")
    assert version.stage is Stage.PRODUCTION
    approved = workspace.registry.list_promotion_requests(RequestStatus.APPROVED)[0]
    assert approved.decided_by == "bob" and approved.requested_by == "alice"


def test_turning_four_eyes_off_is_audited_and_allows_self_approval(workspace):
    staged(workspace)
    workspace.registry.set_four_eyes_required(False, "I work alone on this workspace")
    request = workspace.registry.request_promotion("credit-risk", 1, "ready")
    assert workspace.registry.approve_promotion(request.id, "ok").stage is Stage.PRODUCTION
    setting_events = workspace.audit.list_events(EventFilter(action_prefix="settings."))
    assert setting_events[0].after == '{"four_eyes_required":false}'
    assert setting_events[0].reason == "I work alone on this workspace"


def test_only_one_production_version_and_previous_is_archived(workspace):
    bob = person(workspace, "bob", Role.VALIDATOR)
    staged(workspace, versions=2)
    promote(workspace, bob, "credit-risk", 1)
    promote(workspace, bob, "credit-risk", 2)
    stages = {v.version_number: v.stage for v in workspace.registry.list_versions("credit-risk")}
    assert stages == {1: Stage.ARCHIVED, 2: Stage.PRODUCTION}


def test_rollback_restores_previous_production_in_one_step(workspace):
    bob = person(workspace, "bob", Role.VALIDATOR)
    staged(workspace, versions=3)
    promote(workspace, bob, "credit-risk", 1)
    promote(workspace, bob, "credit-risk", 2)
    version = workspace.registry.rollback("credit-risk", 1, "v2 drifted")
    assert version.stage is Stage.PRODUCTION
    assert workspace.registry.get_version("credit-risk", 2).stage is Stage.ARCHIVED
    history = workspace.registry.stage_history("credit-risk")
    assert history[-1].kind == "rollback" and history[-1].reason == "v2 drifted"
    assert history[-2].to_stage is Stage.ARCHIVED and history[-2].version_number == 2
    with pytest.raises(LifecycleError, match="never"):
        workspace.registry.rollback("credit-risk", 3, "not allowed")


def test_every_transition_needs_a_reason(workspace):
    staged(workspace)
    with pytest.raises(InvalidInputError, match="reason"):
        workspace.registry.request_promotion("credit-risk", 1, "  ")


def test_rejected_request_leaves_version_in_staging(workspace):
    staged(workspace)
    request = workspace.registry.request_promotion("credit-risk", 1, "ready")
    person(workspace, "bob", Role.VALIDATOR).registry.reject_promotion(
        request.id, "needs subgroup analysis")
    assert workspace.registry.get_version("credit-risk", 1).stage is Stage.STAGING
    with pytest.raises(LifecycleError, match="already rejected"):
        person(workspace, "carol", Role.VALIDATOR).registry.approve_promotion(request.id,
                                                                              "late")


def test_concurrent_edit_is_refused_not_overwritten(workspace):
    model = workspace.registry.register_model("m", description="original")
    bob = person(workspace, "bob", Role.ADMIN)
    bob.registry.update_model("m", model.row_version, {"description": "bob's text"}, "clarify")
    with pytest.raises(ConcurrentEditError, match="changed by someone else"):
        workspace.registry.update_model("m", model.row_version, {"owner": "alice2"}, "mine")
    current = workspace.registry.get_model("m")
    assert current.description == "bob's text" and current.owner == "alice"
    updated = workspace.registry.update_model("m", current.row_version, {"owner": "carol"}, "")
    assert updated.row_version == current.row_version + 1


def test_failed_unit_of_work_writes_nothing(workspace):
    workspace.registry.register_model("m")
    head = workspace.audit.head_seq()
    with pytest.raises(InvalidInputError):
        workspace.registry.add_version("m", metrics={"auc": "high"})
    with pytest.raises(NotFoundError, match="no version 7"):
        workspace.registry.add_version("m", parent_version=7)
    assert workspace.audit.head_seq() == head
    assert workspace.registry.list_versions("m") == []


def test_audit_chain_intact_after_many_operations(workspace):
    bob = person(workspace, "bob", Role.VALIDATOR)
    for index in range(5):
        name = f"model-{index}"
        staged(workspace, name, versions=3)
        promote(workspace, bob, name, 1)
        promote(workspace, bob, name, 2)
        workspace.registry.rollback(name, 1, "regression found")
        model = workspace.registry.get_model(name)
        workspace.registry.update_model(name, model.row_version, {"tags": ["x", "y"]}, "tagging")
    report = workspace.audit.verify()
    assert report.intact, report.describe()
    assert report.events_checked == workspace.audit.head_seq() > 80
    actions = {event.action for event in workspace.audit.list_events(limit=1000)}
    assert {"model.registered", "version.created", "stage.transition", "promotion.requested",
            "promotion.approved", "stage.promotion", "stage.auto-archive", "stage.rollback",
            "model.updated", "user.created"} <= actions


def test_approval_event_records_independence(workspace):
    staged(workspace)
    promote(workspace, person(workspace, "bob", Role.VALIDATOR), "credit-risk", 1)
    event = workspace.audit.list_events(EventFilter(action_prefix="promotion.approved"))[0]
    assert '"approver_is_requester":false' in event.after
    assert '"requested_by":"alice"' in event.after
    assert event.actor == "bob"


def test_change_notifications_follow_commits(workspace):
    seen = []
    workspace.changes.subscribe(seen.append)
    workspace.registry.register_model("m")
    with pytest.raises(InvalidInputError):
        workspace.registry.register_model("m")
    assert [(c.kind, c.entity_id, c.action) for c in seen] == [("model", "m", "registered")]


def test_search_and_sort_in_sql(workspace):
    for name, owner in (("alpha", "zoe"), ("beta", "adam"), ("gamma-risk", "zoe")):
        workspace.registry.register_model(name, owner=owner, tags=["credit"])
    found = workspace.registry.list_models(InventoryFilter(search="zoe"))
    assert [s.model.name for s in found] == ["alpha", "gamma-risk"]
    by_owner = workspace.registry.list_models(sort_by="owner")
    assert by_owner[0].model.owner == "adam"
    page = workspace.registry.list_models(limit=2, offset=1)
    assert [s.model.name for s in page] == ["beta", "gamma-risk"]
    assert workspace.registry.count_models(InventoryFilter(search="credit")) == 3


def test_inventory_filters_by_current_stage_risk_and_status_in_sql(workspace):
    registry = workspace.registry
    registry.register_model("live", risk_tier=RiskTier.HIGH)
    registry.add_version("live")
    registry.move_to_stage("live", 1, Stage.STAGING, "validated")
    registry.set_four_eyes_required(False, "single-person test team")
    registry.approve_promotion(registry.request_promotion("live", 1, "ship").id, "ok")
    registry.add_version("live")  # the newest is in development, but production is current
    registry.register_model("draft")
    registry.add_version("draft")
    registry.register_model("empty")
    retired = registry.register_model("old", risk_tier=RiskTier.HIGH)
    registry.update_model("old", retired.row_version, {"status": ModelStatus.RETIRED})
    stages = {s.model.name: s.current_stage for s in registry.list_models()}
    assert stages == {"live": Stage.PRODUCTION, "draft": Stage.DEVELOPMENT, "empty": None,
                      "old": None}

    def names(**criteria):
        return [s.model.name for s in registry.list_models(InventoryFilter(**criteria))]

    assert names(current_stage=Stage.PRODUCTION) == ["live"]
    assert names(current_stage=Stage.DEVELOPMENT) == ["draft"]
    assert names(risk_tier=RiskTier.HIGH) == ["live", "old"]
    assert names(risk_tier=RiskTier.HIGH, status=ModelStatus.ACTIVE) == ["live"]
    assert registry.count_models(InventoryFilter(risk_tier=RiskTier.HIGH)) == 2
    by_stage = [s.model.name for s in registry.list_models(sort_by="current_stage")]
    assert by_stage[-2:] == ["draft", "live"]  # "development" < "production"; NULLs first
