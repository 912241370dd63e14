from datetime import UTC, datetime, timedelta

import pandas as pd

from modelledger.core.domain import RequestStatus, Stage
from modelledger.services.demo.build import DEMO_MODELS, create_demo_workspace
from modelledger.services.workspace.opening import Workspace
from modelledger.storage import audit_log


def test_demo_workspace_has_real_models_history_and_a_valid_chain(tmp_path):
    path = create_demo_workspace(tmp_path / "demo.db")
    assert not list(tmp_path.glob(".building-*"))
    ws = Workspace.open(path)
    try:
        summaries = {s.model.name: s for s in ws.registry.list_models()}
        assert len(summaries) == len(DEMO_MODELS) + 1
        assert all(s.production_version for s in summaries.values())
        # three released or reviewed, and the explainable tree whose gate failed
        assert summaries["breast-cancer-screening"].version_count == 4
        model = ws.registry.load_model("digits-recognizer", 1)
        assert model.predict(pd.DataFrame([[0.0] * 64], columns=version_features(ws))).shape == (1,)
        wine = {v.version_number: v.stage for v in ws.registry.list_versions("wine-cultivar")}
        assert wine == {1: Stage.PRODUCTION, 2: Stage.ARCHIVED}
        statuses = {r.status for r in ws.registry.list_promotion_requests()}
        assert statuses == {RequestStatus.APPROVED, RequestStatus.REJECTED,
                            RequestStatus.PENDING}
        version = ws.registry.get_version("breast-cancer-screening", 2)
        assert version.metrics["roc_auc"] > 0.9 and version.training_data["rows"] > 400
        check_monitoring_history(ws)
        assert ws.audit.verify().intact
    finally:
        ws.close()
    # A second call keeps the existing demo.
    assert create_demo_workspace(path) == path


def check_monitoring_history(ws):
    """90 days in which drift and a KPI decline build up on the vendor score."""
    overviews = {o.monitor.model_name: o for o in ws.monitoring.overviews()}
    credit, screening = overviews["vendor-credit-score"], overviews["breast-cancer-screening"]
    assert len(ws.monitoring.list_runs(monitor_id=credit.monitor.id, limit=500)) == 90
    assert len(ws.monitoring.list_runs(monitor_id=screening.monitor.id, limit=500)) == 13
    approval = [v for _, v, _, _ in ws.monitoring.metric_series(credit.monitor.id,
                                                               "kpi.approval rate")]
    assert sum(approval[:30]) / 30 > 0.55 and sum(approval[-10:]) / 10 < 0.35
    income_psi = ws.monitoring.metric_series(credit.monitor.id, "drift.psi", "income")
    assert income_psi[0][2] == "ok" and income_psi[-1][2] == "critical"
    assert credit.open_alerts > 0 and screening.last_health.value in ("ok", "warn")
    check_incidents(ws)


def check_incidents(ws):
    """Every model has a monitor, and the history leaves a handful of believable incidents."""
    monitored = {o.monitor.model_name for o in ws.monitoring.overviews()}
    assert monitored == {s.model.name for s in ws.registry.list_models()}
    incidents = ws.monitoring.list_alerts(include_closed=True)
    assert 4 <= len(incidents) <= 15
    now = datetime.now(UTC)
    credit = [i for i in incidents if i.model_name == "vendor-credit-score"]
    (drift,) = [i for i in credit if i.cause == "drift" and i.status.value == "open"]
    assert drift.severity.value == "critical" and drift.occurrences >= 20
    assert drift.assignee == "alice"
    assert any(note.kind == "repeated" and "critical" in note.text
               for note in ws.monitoring.alert_details(drift.id)[1])  # it grew from a warning
    assert len(ws.monitoring.incident_members(drift.id)) >= 3
    (quality,) = [i for i in incidents if i.model_name == "wine-cultivar"]
    assert quality.cause == "data quality" and quality.status.value == "open"
    assert ("quality.missing_share", "magnesium") in {
        (m.metric, m.subject) for m in ws.monitoring.incident_members(quality.id)}
    digits = [i for i in incidents if i.model_name == "digits-recognizer"]
    assert digits and all(i.status.value == "closed" and i.resolution for i in digits)
    (snoozed,) = [i for i in incidents if i.snoozed_until is not None]
    assert snoozed.cause == "kpi" and snoozed.silenced(now) and snoozed.status.value != "closed"
    assert len([i for i in incidents if i.status.value != "closed"]) <= 7


def version_features(ws):
    return [c["name"] for c in ws.registry.get_version("digits-recognizer", 1).feature_schema]


def test_interrupted_demo_build_is_cleaned_up(tmp_path):
    target = tmp_path / "demo.db"
    for leftover in (".building-demo.db", ".building-demo.db-wal", ".building-demo.db-shm"):
        (tmp_path / leftover).write_bytes(b"stale bytes from a killed build")
    (tmp_path / ".building-demo.db.artifacts").mkdir()
    (tmp_path / ".building-demo.db.keys").mkdir()
    create_demo_workspace(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo-data", "demo.db",
                                                           "demo.db.artifacts", "demo.db.keys"]
    ws = Workspace.open(target)
    try:
        assert ws.audit.verify().intact
    finally:
        ws.close()


def test_the_demo_is_one_history_in_time_order(demo_workspace):
    """The team starts about 100 days before the build; the first releases come before the
    monitoring history, later lifecycle events between its runs, all before the build."""
    events = demo_workspace.database.read(lambda conn: list(audit_log.iter_events(conn)))
    moments = [datetime.fromisoformat(event.occurred_at) for event in events]
    assert [event.seq for event in events] == list(range(1, len(events) + 1))
    assert moments == sorted(moments)  # sequence order is time order
    now = datetime.now(UTC)
    assert moments[-1] <= now
    assert timedelta(days=98) <= now - moments[0] <= timedelta(days=104)

    def days_ago(action: str, entity_id: str) -> float:
        (moment,) = [moment for event, moment in zip(events, moments, strict=True)
                     if (event.action, event.entity_id) == (action, entity_id)]
        return (now - moment) / timedelta(days=1)

    runs = [(now - moment) / timedelta(days=1)
            for event, moment in zip(events, moments, strict=True)
            if event.action == "monitor.run_succeeded"]
    first_run, last_run = max(runs), min(runs)
    assert 89 <= first_run <= 91 and last_run <= 1.1
    for model in ("breast-cancer-screening", "wine-cultivar", "diabetes-progression",
                  "digits-recognizer", "vendor-credit-score"):
        assert days_ago("stage.promotion", f"{model}/v1") > first_run
    assert (days_ago("stage.promotion", "vendor-credit-score/v1")
            > days_ago("monitor.created", "vendor-credit-score/daily drift and approvals")
            > first_run)
    assert 35 <= days_ago("stage.promotion", "breast-cancer-screening/v2") <= 42
    assert 7 <= days_ago("promotion.requested",
                         "breast-cancer-screening/v3/request-9") <= 14
    promoted = days_ago("stage.promotion", "wine-cultivar/v2")
    assert first_run > promoted > days_ago("stage.rollback", "wine-cultivar/v1") > last_run
    assert first_run > days_ago("promotion.rejected",
                                "diabetes-progression/v2/request-8") > last_run


def test_the_demo_ends_with_the_training_loop(demo_workspace):
    from modelledger.core.domain import RequestStatus, Stage
    from modelledger.core.training import Trigger

    [retrain] = demo_workspace.training.list_runs("digits-recognizer")
    assert retrain.trigger is Trigger.ALERT and "asked from incident #" in retrain.cause
    assert retrain.gate.passed and retrain.comparison.difference("accuracy").excludes_zero
    challenger = demo_workspace.registry.get_version("digits-recognizer",
                                                     retrain.version_number)
    assert challenger.stage is Stage.STAGING and challenger.parent_version == 1
    [request] = [r for r in demo_workspace.registry.list_promotion_requests()
                 if r.id == retrain.request_id]
    assert request.status is RequestStatus.PENDING
    [tree] = demo_workspace.training.list_runs("breast-cancer-screening")
    assert not tree.gate.passed and tree.request_id is None
    assert any("roc_auc" in reason for reason in tree.gate.reasons)
    assert demo_workspace.registry.get_version("breast-cancer-screening",
                                               tree.version_number).stage is Stage.DEVELOPMENT
