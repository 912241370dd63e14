"""The audit log holds what a reviewer looks for (DESIGN.md, "Audit timeline").

One workspace goes through every kind of change a reviewer asks about, through the public
services and a real scheduler run; each test then reads the events of one category and checks
the values they carry, not only that they exist.
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import pytest
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skops.io import dump

from modelledger.core.domain import EventFilter, RiskTier, Role, Stage
from modelledger.core.monitoring import Threshold
from modelledger.services.monitoring.alert_email import EmailSettings
from modelledger.services.monitoring.scheduler import MonitorScheduler, SchedulerTimings
from modelledger.services.workspace.opening import Workspace
from tests.conftest import person
from tests.services.monitor_data import add_monitor, scored_frame, write_csv

ANCHOR = datetime(2026, 3, 2, tzinfo=UTC)
CLOCK = ANCHOR + timedelta(hours=2, minutes=30)  # slots 00:00 and 01:00 missed, 02:00 runs
RUN_SLOT = ANCHOR + timedelta(hours=2)
WINDOW_DAYS = 7.0
TIGHTER_PSI = Threshold(0.12, 0.3)


@dataclass(frozen=True)
class Recorded:
    """One audit event with its before and after read back from JSON."""

    actor: str
    action: str
    entity_id: str
    before: dict[str, Any]
    after: dict[str, Any]
    reason: str


@dataclass(frozen=True)
class Ledger:
    workspace: Workspace
    skops_sha256: str
    joblib_sha256: str
    training_file_sha256: str
    training_rows: int
    retraining_frame: pd.DataFrame
    current: pd.DataFrame
    run_id: int
    alert_id: int
    approval_ids: tuple[int, ...]  # v1 (conditional), v2, v3 (self-approved)
    rejected_id: int

    def history(self, action_prefix: str, entity_id: str | None = None) -> list[Recorded]:
        """Events whose action starts with ``action_prefix`` (of one entity), oldest first."""
        found = self.workspace.audit.list_events(
            EventFilter(action_prefix=action_prefix, entity_id=entity_id), limit=1000)
        return [Recorded(e.actor, e.action, e.entity_id, json.loads(e.before),
                         json.loads(e.after), e.reason) for e in reversed(found)]

    def events(self, action: str, entity_id: str | None = None) -> list[Recorded]:
        """Events of exactly this action (and entity), oldest first."""
        return [e for e in self.history(action, entity_id) if e.action == action]

    def only(self, action: str, entity_id: str | None = None) -> Recorded:
        events = self.events(action, entity_id)
        assert len(events) == 1, (action, entity_id, events)
        return events[0]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _model_files(folder: Path) -> tuple[Path, Path, Path, int]:
    """A fitted model as skops and as joblib, and the CSV it was trained on."""
    training = scored_frame(400, seed=7)[["income", "age", "label"]]
    training_csv = write_csv(training, folder / "training.csv")
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.5)).fit(
        training[["income", "age"]], training["label"])
    skops_path, joblib_path = folder / "model.skops", folder / "model.joblib"
    dump(model, skops_path)
    joblib.dump(model, joblib_path)
    return skops_path, joblib_path, training_csv, len(training)


def _current_with_timestamps(folder: Path) -> tuple[pd.DataFrame, Path]:
    """Drifted current data scored over the two weeks before the run's slot."""
    frame = scored_frame(1_000, seed=2, income_shift=15_000)
    frame["scored_at"] = [RUN_SLOT - timedelta(minutes=20 * row + 1) for row in range(len(frame))]
    return frame, write_csv(frame, folder / "current.csv")


@pytest.fixture(scope="module")
def ledger(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audit-capture")
    alice = Workspace.open(folder / "team.db", create=True, user="alice")
    registry = alice.registry

    # Users and roles (alice, who made the workspace, is its first admin).
    registry.save_user("victor", "Victor Vance", Role.VALIDATOR, "joins model validation")
    victor = person(alice, "victor", Role.VALIDATOR, "Victor Vance")
    registry.save_user("carol", "Carol Chen", Role.DEVELOPER, "joins the credit team")
    registry.save_user("carol", "Carol Chen", Role.OWNER, "takes over the credit models")

    # Inventory.
    registry.register_model(
        "credit-risk", owner="carol", purpose="decide consumer loan applications",
        intended_use="applicants with a credit file", risk_tier=RiskTier.HIGH,
        reason="new underwriting model")
    model = registry.get_model("credit-risk")
    registry.update_model("credit-risk", model.row_version,
                          {"owner": "alice", "risk_tier": RiskTier.CRITICAL},
                          "now decides without human review")

    # Versions with their lineage.
    skops_path, joblib_path, training_csv, training_rows = _model_files(folder)
    retraining = scored_frame(300, seed=8)[["income", "age", "region", "label"]]
    registry.add_version("credit-risk", model_file=skops_path, training_data=training_csv,
                         metrics={"roc_auc": 0.81}, parameters={"sample": "2025 applications"},
                         notes="baseline")
    registry.add_version("credit-risk", parent_version=1, training_frame=retraining,
                         metrics={"roc_auc": 0.84}, notes="retrained with region")
    registry.add_version("credit-risk", model_file=joblib_path,
                         trust_reason="built by our own pipeline from a reviewed commit",
                         parent_version=2, metrics={"roc_auc": 0.83}, notes="pickled refit")

    # Validation, approvals, deployments, a rollback and a rejection.
    registry.move_to_stage("credit-risk", 1, Stage.STAGING, "validated offline")
    first = registry.request_promotion("credit-risk", 1, "ready for production")
    victor.registry.approve_promotion(first.id, "independent validation passed",
                                      conditions="quarterly backtest")
    registry.move_to_stage("credit-risk", 2, Stage.STAGING, "validated offline")
    second = registry.request_promotion("credit-risk", 2, "better AUC")
    victor.registry.approve_promotion(second.id, "revalidated")
    registry.rollback("credit-risk", 1, "v2 approves too many thin-file applicants")
    registry.move_to_stage("credit-risk", 3, Stage.STAGING, "validated offline")
    rejected = registry.request_promotion("credit-risk", 3, "refit")
    victor.registry.reject_promotion(rejected.id, "needs a subgroup analysis")

    # Overrides: four-eyes off, then a self-approval.
    registry.set_four_eyes_required(False, "validator on leave; CRO approved by email")
    third = registry.request_promotion("credit-risk", 3, "subgroup analysis attached")
    registry.approve_promotion(third.id, "urgent fix")

    # Monitor configuration.
    current, current_csv = _current_with_timestamps(folder)
    drift = add_monitor(alice, folder, name="drift", current=current_csv, anchor=ANCHOR,
                        timestamp="scored_at", window_days=WINDOW_DAYS)
    tighter = replace(drift.spec, thresholds={"drift.psi": TIGHTER_PSI})
    drift = alice.monitoring.update_monitor(drift.id, drift.row_version, spec=tighter,
                                            reason="warn earlier, as agreed with validation")
    alice.monitoring.pause_monitor(drift.id, "source system migration")
    alice.monitoring.resume_monitor(drift.id, "migration finished")
    broken = add_monitor(alice, folder, name="nightly", current=folder / "absent.csv",
                         anchor=CLOCK - timedelta(minutes=1))

    # Monitoring: a run after two missed slots, a failed run, a run handed back at shutdown.
    scheduler = MonitorScheduler(alice, max_parallel=1, clock=lambda: CLOCK,
                                 timings=SchedulerTimings(retry_base_s=60))
    try:
        stored = scheduler.fire(drift.id).result(timeout=120)
        scheduler.fire(broken.id).result(timeout=120)
    finally:
        scheduler.shutdown()
    assert scheduler.run_now(drift.id) is None  # claimed after shutdown: handed back

    # An incident and its handling.
    alert = next(a for a in stored.new_alerts if a.cause == "drift")
    monitoring = alice.monitoring
    alert = monitoring.acknowledge_alert(alert.id, alert.row_version, "looking into it")
    alert = monitoring.assign_alert(alert.id, alert.row_version, "carol")
    alert = monitoring.comment_alert(alert.id, alert.row_version, "a new income band")
    monitoring.close_alert(alert.id, alert.row_version, "retraining planned")

    # Set last: with email on, the runs above would have tried to reach the server.
    monitoring.set_email_settings(
        EmailSettings(enabled=True, host="smtp.example.com", sender="ledger@example.com",
                      recipients=("risk@example.com",)), "risk team wants critical alerts")

    yield Ledger(
        workspace=alice, skops_sha256=_sha256(skops_path), joblib_sha256=_sha256(joblib_path),
        training_file_sha256=_sha256(training_csv), training_rows=training_rows,
        retraining_frame=retraining, current=current,
        run_id=stored.run_id, alert_id=alert.id,
        approval_ids=(first.id, second.id, third.id), rejected_id=rejected.id)
    alice.close()


def test_users_and_role_changes(ledger):
    creator = ledger.only("identity.bootstrapped")
    assert (creator.actor, creator.after["user"], creator.after["role"]) == (
        "alice", "alice", "admin")
    assert creator.reason == "the workspace's creator is its first admin"
    victor = ledger.only("user.created", "victor")
    assert (victor.actor, victor.after, victor.reason) == (
        "alice", {"display_name": "Victor Vance", "role": "validator"}, "joins model validation")
    promoted = ledger.only("user.updated", "carol")
    assert (promoted.before, promoted.after, promoted.reason) == (
        {"role": "developer"}, {"role": "owner"}, "takes over the credit models")


def test_inventory_facts_when_registered_and_when_changed(ledger):
    registered = ledger.only("model.registered", "credit-risk")
    assert {key: registered.after[key] for key in ("owner", "purpose", "intended_use",
                                                   "risk_tier", "status")} == {
        "owner": "carol", "purpose": "decide consumer loan applications",
        "intended_use": "applicants with a credit file", "risk_tier": "high",
        "status": "active"}
    assert registered.reason == "new underwriting model"
    updated = ledger.only("model.updated", "credit-risk")
    assert updated.before == {"owner": "carol", "risk_tier": "high"}
    assert updated.after == {"owner": "alice", "risk_tier": "critical"}
    assert updated.reason == "now decides without human review"


def test_version_lineage(ledger):
    first = ledger.only("version.created", "credit-risk/v1").after
    assert first["artifact_sha256"] == ledger.skops_sha256
    training = first["training_data"]
    assert (training["file"], training["file_sha256"], training["rows"], training["columns"]) == (
        "training.csv", ledger.training_file_sha256, ledger.training_rows, 3)
    assert len(training["content_sha256"]) == 64
    assert first["features"] == ["income", "age", "label"]
    assert first["estimator_class"] == "sklearn.pipeline.Pipeline"
    assert first["parameters"]["logisticregression__C"] == 0.5
    assert first["parameters"]["sample"] == "2025 applications"
    assert first["metrics"] == {"roc_auc": 0.81}
    assert first["environment"]["python"] == platform.python_version()
    assert first["environment"]["scikit-learn"] == sklearn.__version__
    assert first["parent_version"] is None and first["stage"] == "development"
    stored = ledger.only("artifact.stored", ledger.skops_sha256).after
    assert (stored["format"], stored["original_filename"]) == ("skops", "model.skops")

    second = ledger.only("version.created", "credit-risk/v2")
    assert second.after["parent_version"] == 1 and second.reason == "retrained with region"
    assert second.after["artifact_sha256"] is None  # scored elsewhere: no model file
    assert second.after["features"] == list(ledger.retraining_frame.columns)
    assert second.after["training_data"]["rows"] == len(ledger.retraining_frame)
    assert ledger.only("version.created", "credit-risk/v3").after["parent_version"] == 2


def test_approvals_name_both_roles_independence_and_conditions(ledger):
    first_request, second_request, _ = ledger.approval_ids
    requested = ledger.only("promotion.requested",
                            f"credit-risk/v1/request-{first_request}")
    assert requested.actor == "alice" and requested.reason == "ready for production"
    assert (requested.after["requester_role"], requested.after["developer"]) == (
        "admin", "alice")

    approved = ledger.only("promotion.approved", f"credit-risk/v1/request-{first_request}")
    assert approved.actor == "victor" and approved.reason == "independent validation passed"
    assert approved.before == {"status": "pending"}
    assert approved.after == {
        "status": "approved", "model": "credit-risk", "version": 1,
        "requested_by": "alice", "requester_role": "admin",
        "developer": "alice", "developer_role": "admin", "approver_role": "validator",
        "approver_is_requester": False, "approver_is_developer": False,
        "approver_is_independent": True, "four_eyes_required": True,
        "conditions": "quarterly backtest"}
    unconditional = ledger.only("promotion.approved", f"credit-risk/v2/request-{second_request}")
    assert unconditional.after["conditions"] == ""


def test_a_rejection_keeps_its_reason_and_the_roles(ledger):
    rejected = ledger.only("promotion.rejected", f"credit-risk/v3/request-{ledger.rejected_id}")
    assert rejected.actor == "victor" and rejected.reason == "needs a subgroup analysis"
    assert (rejected.before, rejected.after["status"]) == ({"status": "pending"}, "rejected")
    assert (rejected.after["requester_role"], rejected.after["approver_role"],
            rejected.after["approver_is_independent"]) == ("admin", "validator", True)


def test_deployments_say_which_request_and_what_they_replaced(ledger):
    first_request, second_request, third_request = ledger.approval_ids
    deployments = ledger.events("stage.promotion")
    assert [(d.entity_id, d.before, d.after) for d in deployments] == [
        ("credit-risk/v1", {"stage": "staging"},
         {"stage": "production", "promotion_request": first_request, "replaced_version": None}),
        ("credit-risk/v2", {"stage": "staging"},
         {"stage": "production", "promotion_request": second_request, "replaced_version": 1}),
        ("credit-risk/v3", {"stage": "staging"},
         {"stage": "production", "promotion_request": third_request, "replaced_version": 1}),
    ]
    assert deployments[0].reason == "independent validation passed"
    moves = ledger.events("stage.transition", "credit-risk/v1")
    assert [(m.before, m.after, m.reason) for m in moves] == [
        ({"stage": "development"}, {"stage": "staging"}, "validated offline")]


def test_a_rollback_has_its_reason_and_the_version_it_replaced(ledger):
    rollback = ledger.only("stage.rollback", "credit-risk/v1")
    assert rollback.actor == "alice"
    assert rollback.before == {"stage": "archived"}
    assert rollback.after == {"stage": "production", "replaced_version": 2}
    assert rollback.reason == "v2 approves too many thin-file applicants"
    archived = ledger.events("stage.auto-archive", "credit-risk/v2")
    assert [(a.before, a.after, a.reason) for a in archived] == [
        ({"stage": "production"}, {"stage": "archived"},
         "rolled back to v1: v2 approves too many thin-file applicants")]


def test_overrides_four_eyes_off_self_approval_and_trusting_a_pickle(ledger):
    four_eyes = ledger.only("settings.changed", "four_eyes_required")
    assert (four_eyes.before, four_eyes.after, four_eyes.reason) == (
        {"four_eyes_required": True}, {"four_eyes_required": False},
        "validator on leave; CRO approved by email")
    self_approved = ledger.only("promotion.approved",
                                f"credit-risk/v3/request-{ledger.approval_ids[2]}")
    assert self_approved.actor == "alice" and self_approved.reason == "urgent fix"
    assert {key: self_approved.after[key] for key in (
        "approver_role", "approver_is_requester", "approver_is_developer",
        "approver_is_independent", "four_eyes_required")} == {
        "approver_role": "admin", "approver_is_requester": True,
        "approver_is_developer": True, "approver_is_independent": False,
        "four_eyes_required": False}
    trusted = ledger.only("artifact.trusted", ledger.joblib_sha256)
    assert (trusted.actor, trusted.after, trusted.reason) == (
        "alice", {"trusted_by": "alice"}, "built by our own pipeline from a reviewed commit")


def test_configuration_changes_carry_before_and_after(ledger):
    email = ledger.only("settings.changed", "alert_email")
    assert email.before == {"alert_email": None}
    assert email.after["alert_email"]["host"] == "smtp.example.com"
    assert email.after["alert_email"]["recipients"] == ["risk@example.com"]
    assert email.reason == "risk team wants critical alerts"

    created = ledger.only("monitor.created", "credit-risk/drift").after
    assert created["spec"]["window_days"] == WINDOW_DAYS
    assert created["spec"]["thresholds"] == {}
    assert created["spec"]["source"]["path"].endswith("current.csv")
    assert (created["schedule"], created["reference_rows"], created["status"]) == (
        "every hour", 2000, "active")
    assert len(created["reference_sha256"]) == 64
    updated = ledger.only("monitor.updated", "credit-risk/drift")
    assert updated.before["spec"]["thresholds"] == {}
    assert updated.after["spec"]["thresholds"] == {"drift.psi": TIGHTER_PSI.to_dict()}
    assert updated.reason == "warn earlier, as agreed with validation"
    paused = ledger.events("monitor.paused", "credit-risk/drift")
    resumed = ledger.only("monitor.resumed", "credit-risk/drift")
    assert [(p.before, p.after, p.reason) for p in paused] == [
        ({"status": "active"}, {"status": "paused"}, "source system migration")]
    assert (resumed.after, resumed.reason) == ({"status": "active"}, "migration finished")


def test_a_run_records_its_window_thresholds_in_force_and_results(ledger):
    run = ledger.only("monitor.run_succeeded", "credit-risk/drift").after
    stored_run, stored_metrics = ledger.workspace.monitoring.get_run(ledger.run_id)
    window_start = RUN_SLOT - timedelta(days=WINDOW_DAYS)
    in_window = ledger.current[(ledger.current["scored_at"] > window_start)
                               & (ledger.current["scored_at"] <= RUN_SLOT)]
    assert (run["run_id"], run["slot"], run["kind"], run["attempt"]) == (
        ledger.run_id, RUN_SLOT.isoformat(), "scheduled", 1)
    assert run["window"] == [window_start.isoformat(), RUN_SLOT.isoformat()]
    assert run["rows"] == len(in_window) == stored_run.current_rows
    assert run["reference_rows"] == 2000
    assert run["version"] == 3  # the production version when the run started
    assert run["data"].endswith("current.csv")
    assert run["thresholds"]["drift.psi@income"] == {"warn": 0.12, "critical": 0.3}
    assert run["results"] == {
        f"{m.metric}@{m.subject}" if m.subject else m.metric: {"value": m.value,
                                                                 "status": m.status}
        for m in stored_metrics}
    income = run["results"]["drift.psi@income"]
    assert income["status"] == "critical" and income["value"] > 0.3
    assert run["results"]["drift.psi@age"]["status"] == "ok"  # healthy results are kept too
    assert (run["health"], run["error"], run["next_retry"]) == ("critical", "", None)


def test_a_failed_run_records_the_error_and_its_retry(ledger):
    failed = ledger.only("monitor.run_failed", "credit-risk/nightly").after
    assert failed["health"] == "failed" and failed["attempt"] == 1
    assert "absent.csv" in failed["error"] and "does not exist" in failed["error"]
    assert failed["next_retry"] is not None
    assert (failed["results"], failed["thresholds"], failed["rows"]) == ({}, {}, None)


def test_missed_slots_and_a_handed_back_run_are_recorded(ledger):
    missed = ledger.only("monitor.slots_missed", "credit-risk/drift")
    assert missed.after == {"missed": 2, "first": ANCHOR.isoformat(),
                            "last": (ANCHOR + timedelta(hours=1)).isoformat(),
                            "caught_up_with": RUN_SLOT.isoformat()}
    assert "caught up with one run" in missed.reason
    handed_back = ledger.only("monitor.run_handed_back", "credit-risk/drift")
    assert (handed_back.after["slot"], handed_back.after["kind"],
            handed_back.after["attempt"]) == (CLOCK.isoformat(), "manual", 1)
    assert "shut down" in handed_back.reason


def test_an_alert_and_its_handling(ledger):
    alert_id = str(ledger.alert_id)
    raised = ledger.only("alert.raised", alert_id).after
    assert (raised["severity"], raised["kind"], raised["run_id"], raised["status"]) == (
        "critical", "threshold", ledger.run_id, "open")
    assert "Drift on income" in raised["title"] and raised["cause"] == "drift"
    assert "PSI · income: Value" in raised["detail"]
    assert "warn at 0.12, critical at 0.3" in raised["detail"]
    assert "drift.psi@income" in raised["members"]
    handling = [(e.action, e.before.get("status"), e.after["status"], e.after["assignee"],
                 e.reason) for e in ledger.history("alert.", alert_id)]
    assert handling[1:] == [
        ("alert.acknowledged", "open", "acknowledged", None, "looking into it"),
        ("alert.assigned", "acknowledged", "acknowledged", "carol", "to carol"),
        ("alert.comment", "acknowledged", "acknowledged", "carol", "a new income band"),
        ("alert.closed", "acknowledged", "closed", "carol", "retraining planned"),
    ]


def test_the_chain_of_all_these_events_verifies(ledger):
    report = ledger.workspace.audit.verify()
    assert report.intact, report.describe()
    assert report.events_checked == ledger.workspace.audit.head_seq()


def test_a_write_happens_at_the_moment_of_its_workspace_s_clock(workspace):
    """Rows and audit events of a write carry the clock's one moment; another user of the
    workspace keeps its clock; without a clock a write happens at the real time."""
    moment = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    person(workspace, "carol", Role.OWNER)
    person(workspace, "bob")
    since = workspace.audit.head_seq()
    past = Workspace(workspace.database, user="carol", artifact_root=workspace.artifacts.root,
                     clock=lambda: moment)
    past.registry.register_model("churn", reason="quarterly review")
    past.as_user("bob").registry.add_version("churn", metrics={"auc": 0.8})
    assert workspace.registry.get_model("churn").created_at == moment
    assert workspace.registry.get_version("churn", 1).created_at == moment
    (created,) = workspace.registry.stage_history("churn")
    assert created.occurred_at == moment
    events = [e for e in workspace.audit.list_events() if e.seq > since]
    assert [(e.actor, e.action) for e in reversed(events)] == [
        ("carol", "model.registered"), ("bob", "version.created")]
    assert {e.occurred_at for e in events} == {"2026-03-01T09:30:00.000000Z"}

    before = datetime.now(UTC)
    workspace.registry.move_to_stage("churn", 1, Stage.STAGING, "validated offline")
    after = datetime.now(UTC)
    (newest,) = workspace.audit.list_events(limit=1)
    assert newest.action == "stage.transition"
    assert before <= datetime.fromisoformat(newest.occurred_at) <= after
