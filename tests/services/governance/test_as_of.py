"""A model as it stood at a past moment, rebuilt from a real workspace that changed after it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from modelledger.core.domain import EventFilter, RiskTier, Stage
from modelledger.core.errors import NotFoundError
from modelledger.core.monitoring import Health, MonitorStatus, RunStatus, Threshold
from modelledger.services.governance.as_of import event_moment, model_as_of
from modelledger.services.monitoring.run_worker import compute_run
from modelledger.services.workspace.opening import Workspace
from modelledger.storage import monitoring_repo as mrepo
from tests.services.monitor_data import add_monitor, scored_frame, write_csv

STRICT = {"drift.psi": Threshold(0.10, 0.25)}
LENIENT = {"drift.psi": Threshold(5.0, 9.0), "drift.distance": Threshold(5.0, 9.0),
           "drift.share": Threshold(0.9, 1.0)}


def run_in_process(workspace, monitor_id: int, *, finished_at: datetime | None = None):
    """One manual run computed in this process (no worker process), stored as finished now or
    at ``finished_at`` (by the workspace on a clock stopped there); returns the stored run."""
    if finished_at is not None:
        workspace = Workspace(workspace.database, user=workspace.actor.user,
                              artifact_root=workspace.artifacts.root, clock=lambda: finished_at)

    def claim(conn, audit, now):
        return mrepo.claim_slot(conn, monitor_id, now, "manual", "test", now)

    claimed = workspace.monitoring.write(claim)
    job, version_id, _ = workspace.monitoring.prepare_job(claimed)
    outcome = compute_run(job, lambda percent, message: None)
    stored = workspace.monitoring.record_outcome(claimed, outcome, version_id=version_id,
                                                 started_at=claimed.slot, retry_base_s=60)
    return workspace.monitoring.get_run(stored.run_id)[0]


@pytest.fixture
def history(workspace, tmp_path):
    """credit-risk changed twice; returns (the moment between the changes, the runs by then,
    the run after). Before: v1 staging, strict drift thresholds, risk tier medium. After: v1
    archived, v2 staging, lenient thresholds, monitor paused, risk tier high."""
    registry = workspace.registry
    registry.register_model("credit-risk", reason="quarterly credit review")
    registry.add_version("credit-risk", notes="first fit")
    registry.add_version("credit-risk", notes="refit")
    monitor = add_monitor(workspace, tmp_path, thresholds=STRICT)
    registry.move_to_stage("credit-risk", 1, Stage.STAGING, "validation passed")
    run_before = run_in_process(workspace, monitor.id)
    between = datetime.now(UTC)

    registry.move_to_stage("credit-risk", 2, Stage.STAGING, "refit validated")
    registry.move_to_stage("credit-risk", 1, Stage.ARCHIVED, "replaced by v2")
    model = registry.get_model("credit-risk")
    registry.update_model("credit-risk", model.row_version, {"risk_tier": RiskTier.HIGH},
                          reason="now used for all retail credit")
    current = workspace.monitoring.get_monitor(monitor.id)
    workspace.monitoring.update_monitor(
        monitor.id, current.row_version, spec=replace(current.spec, thresholds=LENIENT),
        reason="the shift is expected this quarter")
    write_csv(scored_frame(1_000, seed=2), tmp_path / "drift-current.csv")  # back to normal
    run_after = run_in_process(workspace, monitor.id)
    workspace.monitoring.pause_monitor(monitor.id, "source being migrated")
    return between, run_before, run_after


def test_between_two_changes_the_model_looks_as_it_did_then(workspace, history):
    between, run_before, _ = history
    then = model_as_of(workspace.database, "credit-risk", between)
    assert then.existed and then.moment == between
    assert [(v.number, v.stage) for v in then.versions] == [(2, Stage.DEVELOPMENT),
                                                            (1, Stage.STAGING)]
    assert then.facts["risk_tier"] == "medium" and then.facts["owner"] == "alice"
    [monitor] = then.monitors
    assert monitor.name == "drift" and monitor.status is MonitorStatus.ACTIVE
    assert monitor.thresholds == STRICT
    assert monitor.schedule == "every hour" and monitor.configured_by == "alice"
    assert monitor.latest_run is not None and monitor.latest_run.run_id == run_before.id
    assert monitor.latest_run.health is run_before.health is Health.CRITICAL
    assert then.health is Health.CRITICAL


def test_after_the_changes_the_model_shows_them(workspace, history):
    _, _, run_after = history
    now = model_as_of(workspace.database, "credit-risk", datetime.now(UTC))
    assert [(v.number, v.stage) for v in now.versions] == [(2, Stage.STAGING),
                                                           (1, Stage.ARCHIVED)]
    assert now.facts["risk_tier"] == "high"
    [monitor] = now.monitors
    assert monitor.thresholds == LENIENT and monitor.status is MonitorStatus.PAUSED
    assert monitor.latest_run.run_id == run_after.id
    assert monitor.latest_run.status is RunStatus.SUCCEEDED
    assert now.health is run_after.health is not Health.CRITICAL


def test_as_of_an_event_includes_that_event_and_nothing_after(workspace, history):
    [archived] = workspace.audit.list_events(EventFilter(action_prefix="stage.transition",
                                                         search="replaced by v2"))
    at_event = model_as_of(workspace.database, "credit-risk", event_moment(archived))
    assert [(v.number, v.stage) for v in at_event.versions] == [(2, Stage.STAGING),
                                                                (1, Stage.ARCHIVED)]
    assert at_event.facts["risk_tier"] == "medium"  # changed by the next event
    assert at_event.monitors[0].thresholds == STRICT


def test_before_registration_there_is_nothing_and_before_a_run_no_health(workspace, tmp_path):
    before = datetime.now(UTC)
    workspace.registry.register_model("churn")
    add_monitor(workspace, tmp_path, model="churn")
    assert not model_as_of(workspace.database, "churn", before - timedelta(days=1)).existed
    not_run = model_as_of(workspace.database, "churn", datetime.now(UTC))
    assert not_run.versions == () and not_run.monitors[0].latest_run is None
    assert not_run.health is None


def test_a_failed_run_is_the_health_then(workspace, tmp_path):
    monitor = add_monitor(workspace, tmp_path, current=tmp_path / "absent.csv")
    failed = run_in_process(workspace, monitor.id)
    assert failed.status is RunStatus.FAILED
    then = model_as_of(workspace.database, "credit-risk", failed.finished_at)
    assert then.monitors[0].latest_run.health is Health.FAILED
    assert then.health is Health.FAILED


def test_an_unknown_model_is_a_clear_error(workspace):
    with pytest.raises(NotFoundError, match="no model named 'ghost'"):
        model_as_of(workspace.database, "ghost", datetime.now(UTC))
