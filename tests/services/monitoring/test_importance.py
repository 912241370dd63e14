"""Feature importance measured for a monitor, stored with it, audited, and judged in runs."""

from __future__ import annotations

import json

import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skops.io import dump

from modelledger.core.domain import EventFilter
from modelledger.core.errors import InvalidInputError
from modelledger.core.monitoring import Health, Schedule, ScheduleKind
from modelledger.services.monitoring.scheduler import MonitorScheduler, SchedulerTimings
from tests.services.monitor_data import file_spec, scored_frame, write_csv

FAST = SchedulerTimings(heartbeat_s=0.2, stale_after_s=2.0, retry_base_s=0.01)


def _register_with_model(workspace, tmp_path, model: str = "credit-risk") -> None:
    """A version whose model decides on income (age hardly matters, region is not read)."""
    training = scored_frame(2_000, seed=7)
    fitted = make_pipeline(StandardScaler(), LogisticRegression()).fit(
        training[["income", "age"]], training["label"])
    path = tmp_path / "model.skops"
    dump(fitted, path)
    workspace.registry.register_model(model)
    workspace.registry.add_version(model, model_file=path)


def _create(workspace, tmp_path, *, top_k: int = 3, current_shift: float = 15_000.0):
    reference = write_csv(scored_frame(2_000, seed=1), tmp_path / "reference.csv")
    current = write_csv(scored_frame(1_000, seed=2, income_shift=current_shift),
                        tmp_path / "current.csv")
    return workspace.monitoring.create_monitor(
        "credit-risk", "drift", reference, file_spec(current, top_k=top_k),
        Schedule(ScheduleKind.INTERVAL, "3600"))


def test_importance_is_measured_stored_and_audited_when_a_monitor_is_created(workspace,
                                                                               tmp_path):
    _register_with_model(workspace, tmp_path)
    monitor = _create(workspace, tmp_path)
    spec = workspace.monitoring.get_monitor(monitor.id).spec
    assert spec.importance_method == "coefficients"
    assert spec.importance_version == 1
    assert spec.importance["income"] > 0.9 > spec.importance["age"]
    assert spec.importance["region"] == 0.0
    assert sum(spec.importance.values()) == pytest.approx(1.0)
    events = workspace.audit.list_events(EventFilter(action_prefix="monitor.importance_measured"))
    assert len(events) == 1
    recorded = json.loads(events[0].after)
    assert recorded["method"] == "coefficients"
    assert recorded["importance"]["income"] == pytest.approx(spec.importance["income"])
    assert events[0].actor == "alice" and events[0].signature is not None


def test_an_edit_keeps_the_importance_and_measuring_again_is_audited(workspace, tmp_path):
    _register_with_model(workspace, tmp_path)
    monitor = _create(workspace, tmp_path)
    edited = workspace.monitoring.update_monitor(
        monitor.id, monitor.row_version, spec=file_spec(monitor.spec.source.path, top_k=1),
        reason="watch the top feature only")
    assert edited.spec.top_k == 1
    assert edited.spec.importance == monitor.spec.importance
    measured = workspace.monitoring.measure_importance(monitor.id, "new reference season")
    assert measured.spec.importance == pytest.approx(monitor.spec.importance)
    assert measured.spec.top_k == 1
    events = workspace.audit.list_events(EventFilter(action_prefix="monitor.importance_measured"))
    assert [event.reason for event in events][:1] == ["new reference season"]


def test_without_a_model_file_importance_cannot_be_measured(workspace, tmp_path):
    workspace.registry.register_model("credit-risk")
    workspace.registry.add_version("credit-risk", notes="scored by a vendor")
    monitor = _create(workspace, tmp_path)
    assert monitor.spec.importance == {}
    with pytest.raises(InvalidInputError, match="no version with a model file"):
        workspace.monitoring.measure_importance(monitor.id)


@pytest.mark.parametrize(("top_k", "expected_value", "expected_status"),
                         [(1, 1.0, Health.CRITICAL), (2, 0.5, Health.WARN)])
def test_the_drift_of_the_most_important_features_is_judged(workspace, tmp_path, top_k,
                                                            expected_value, expected_status):
    _register_with_model(workspace, tmp_path)
    monitor = _create(workspace, tmp_path, top_k=top_k)
    scheduler = MonitorScheduler(workspace, timings=FAST, max_parallel=1)
    try:
        stored = scheduler.run_now(monitor.id).result(timeout=120)
    finally:
        scheduler.shutdown()
    _, metrics = workspace.monitoring.get_run(stored.run_id)
    top_k_share = next(m for m in metrics if m.metric == "drift.top_k_share")
    # Income shifted by more than a standard deviation; age did not move.
    assert top_k_share.value == pytest.approx(expected_value)
    assert top_k_share.status == expected_status.value
    assert "income" in top_k_share.note
