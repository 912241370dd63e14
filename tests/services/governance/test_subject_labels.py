"""What audit events are about, as text, for a page of events in a few queries."""

from __future__ import annotations

from sqlalchemy import event as sqlalchemy_event

from modelledger.core.domain import Stage
from modelledger.core.identity import KEY_ENTITY, short_fingerprint
from modelledger.core.monitoring import Schedule, ScheduleKind
from modelledger.services.monitoring.scheduler import MonitorScheduler
from tests.services.monitor_data import add_monitor, file_spec, scored_frame, write_csv
from tests.services.monitoring.test_importance import _register_with_model


class _Subject:
    def __init__(self, entity_type: str, entity_id: str) -> None:
        self.entity_type, self.entity_id = entity_type, entity_id


def test_a_page_of_events_is_labelled_in_a_few_queries(workspace, tmp_path):
    _register_with_model(workspace, tmp_path)
    workspace.registry.move_to_stage("credit-risk", 1, Stage.STAGING, "ready to validate")
    workspace.registry.request_promotion("credit-risk", 1, "ready")
    add_monitor(workspace, tmp_path)
    reference = write_csv(scored_frame(2_000, seed=1), tmp_path / "pinned-reference.csv")
    current = write_csv(scored_frame(1_000, seed=2, income_shift=15_000), tmp_path / "now.csv")
    workspace.monitoring.create_monitor("credit-risk", "second", reference, file_spec(current),
                                        Schedule(ScheduleKind.INTERVAL, "3600"),
                                        pinned_version=1)
    scheduler = MonitorScheduler(workspace, max_parallel=1)
    try:
        scheduler.run_now(1).result(timeout=120)
        scheduler.run_now(2).result(timeout=120)
    finally:
        scheduler.shutdown()
    events = workspace.audit.list_events(limit=500)
    alert_events = [e for e in events if e.entity_type == "alert"]
    assert len(alert_events) >= 4

    statements = []

    def count(*_args) -> None:
        statements.append(1)

    engine = workspace.database.engine
    sqlalchemy_event.listen(engine, "before_cursor_execute", count)
    try:
        labels = workspace.audit.subject_labels(events)
    finally:
        sqlalchemy_event.remove(engine, "before_cursor_execute", count)
    # Alerts, artifacts (versions, references, names) and keys: not one query per event.
    assert len(statements) <= 8

    for alert_event in alert_events:
        alert = workspace.monitoring.alert_details(int(alert_event.entity_id))[0]
        # The run of the pinned monitor knows its version; nothing is in production for the
        # other one.
        version = " · v1" if alert.monitor_name == "second" else ""
        assert labels[("alert", alert_event.entity_id)] == (
            f"Incident #{alert.id} · {alert.title}{version}")
    assert labels[("version", "credit-risk/v1")] == "credit-risk v1"
    assert labels[("monitor", "credit-risk/second")] == "monitor second of credit-risk"
    request = next(e for e in events if e.entity_type == "promotion_request")
    assert labels[("promotion_request", request.entity_id)].startswith(
        "promotion request #") and labels[("promotion_request", request.entity_id)].endswith(
        "for credit-risk v1")
    model_file = next(e for e in events if e.entity_type == "artifact"
                      and "model.skops" in labels[("artifact", e.entity_id)])
    assert labels[("artifact", model_file.entity_id)] == "model.skops of credit-risk v1"
    drift = workspace.monitoring.get_monitor(1)
    subject = ("artifact", drift.reference_sha256)
    assert workspace.audit.subject_labels([_Subject(*subject)])[subject] == (
        "drift-reference.csv (reference) of credit-risk / drift, credit-risk / second")
    key = next(e for e in events if e.entity_type == KEY_ENTITY)
    assert labels[(KEY_ENTITY, key.entity_id)] == (
        f"alice's key {short_fingerprint(key.entity_id)}")
    assert ("model", "credit-risk") not in labels  # its id is already its name
