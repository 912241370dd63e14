"""Incidents over a sequence of runs: they open, update, resolve themselves and reopen as the
runs say; snooze and mute expire and are audited; e-mail goes out once per incident and again
only when its severity rises (a real SMTP server on the loopback interface).

The runs' outcomes are written by the test (the metrics a worker would have computed), stored
through the same `record_outcome` a scheduled run uses, on a clock the test moves."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from modelledger.core.domain import EventFilter
from modelledger.core.errors import InvalidInputError
from modelledger.core.incidents import IncidentSettings
from modelledger.core.monitoring import (
    AlertStatus,
    Evaluation,
    Health,
    MetricValue,
    RunStatus,
    overall_health,
)
from modelledger.services.monitoring.alert_email import EmailSettings
from modelledger.services.monitoring.run_worker import RunOutcome
from modelledger.services.monitoring.scheduler import MonitorScheduler, SchedulerTimings
from modelledger.services.workspace.opening import Workspace
from modelledger.storage import monitoring_repo as mrepo
from tests.services.monitor_data import add_monitor
from tests.services.monitoring.test_alert_email import free_port, smtp_server  # noqa: F401

START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


class Runs:
    """Stores runs of one monitor with chosen metric values, one hour apart."""

    def __init__(self, workspace: Workspace, monitor_id: int) -> None:
        self.workspace = workspace
        self.monitor_id = monitor_id
        self.now = START
        workspace.monitoring._clock = lambda: self.now
        workspace.scheduled_monitoring._clock = lambda: self.now

    def run(self, **values: float | None):
        """Keyword ``metric__subject=value``: PSI above 0.25 is critical, above 0.10 warns."""
        self.now += timedelta(hours=1)
        metrics = [MetricValue("quality.row_count", "", 500.0, "info")]
        for key, value in values.items():
            metric, _, subject = key.partition("__")
            metric = metric.replace("_", ".", 1)
            status = ("critical" if value >= 0.25 else "warn" if value >= 0.10 else "ok")
            metrics.append(MetricValue(metric, subject, value, status, 0.10, 0.25))
        health = overall_health(metrics)
        evaluation = Evaluation(tuple(metrics), health, 500, 2000, f"{health.value} run")
        return self._store(RunOutcome(RunStatus.SUCCEEDED, evaluation, "", "ok"))

    def _store(self, outcome: RunOutcome):
        service = self.workspace.scheduled_monitoring
        claim = service.write(lambda conn, audit, now: mrepo.claim_slot(
            conn, self.monitor_id, now, "manual", "test", now))
        return service.record_outcome(claim, outcome, version_id=None, started_at=self.now,
                                      retry_base_s=60)

    def incidents(self, include_closed: bool = True):
        return self.workspace.monitoring.list_alerts(include_closed=include_closed)


@pytest.fixture
def runs(workspace, tmp_path):
    monitor = add_monitor(workspace, tmp_path)
    return Runs(workspace, monitor.id)


def test_an_incident_opens_updates_resolves_itself_and_reopens(workspace, runs):
    first = runs.run(drift_psi__income=0.15, drift_psi__age=0.05, quality_missing_share__age=0.3)
    assert sorted(a.cause for a in first.new_alerts) == ["data quality", "drift"]
    drift = next(a for a in first.new_alerts if a.cause == "drift")
    assert drift.severity is Health.WARN and "income" in drift.title

    # The drift grows and spreads: the same incident, more severe, with a new member.
    grown = runs.run(drift_psi__income=0.31, drift_psi__age=0.12,
                     quality_missing_share__age=0.0)
    (escalated,) = grown.new_alerts  # told again: warn -> critical
    assert escalated.id == drift.id and escalated.severity is Health.CRITICAL
    assert escalated.occurrences == 2 and escalated.last_seen_at == runs.now
    members = {(m.metric, m.subject): m for m in workspace.monitoring.incident_members(drift.id)}
    assert members[("drift.psi", "income")].value == 0.31
    assert members[("drift.psi", "income")].worst == "critical"
    assert members[("drift.psi", "age")].status == "warn"
    assert len([a for a in runs.incidents() if a.cause == "drift"]) == 1
    # Age comes back while income still fires: listed as ok now, warn at its worst.
    runs.run(drift_psi__income=0.3, drift_psi__age=0.02)
    members = {(m.metric, m.subject): m for m in workspace.monitoring.incident_members(drift.id)}
    assert (members[("drift.psi", "age")].status, members[("drift.psi", "age")].worst) == (
        "ok", "warn")

    # Three healthy runs (the default) resolve it; the first two count, the third closes it.
    for expected_healthy in (1, 2):
        assert runs.run(drift_psi__income=0.02, drift_psi__age=0.01).new_alerts == ()
        current = workspace.monitoring.alert_details(drift.id)[0]
        assert (current.status, current.healthy_runs) == (AlertStatus.OPEN, expected_healthy)
    runs.run(drift_psi__income=0.02, drift_psi__age=0.01)
    resolved, notes = workspace.monitoring.alert_details(drift.id)
    assert resolved.status is AlertStatus.CLOSED and "3rd healthy run" in resolved.resolution
    assert notes[-1].kind == "resolved"
    members = {(m.metric, m.subject): m for m in workspace.monitoring.incident_members(drift.id)}
    assert members[("drift.psi", "income")].status == "ok"
    event = workspace.audit.list_events(EventFilter(action_prefix="alert.resolved"))[0]
    assert event.entity_id == str(drift.id) and "healthy run" in event.reason

    # The cause comes back: a new incident, which names the one before.
    back = runs.run(drift_psi__income=0.2)
    (reopened,) = back.new_alerts
    assert reopened.id != drift.id and reopened.cause == "drift"
    assert f"incident #{drift.id}" in reopened.detail


def test_a_healthy_streak_is_broken_by_the_cause_and_not_by_another(workspace, runs):
    quality = runs.run(quality_missing_share__age=0.3).new_alerts[0]
    runs.run(quality_missing_share__age=0.0)
    runs.run(quality_missing_share__age=0.0, drift_psi__income=0.4)  # drift: another cause
    assert workspace.monitoring.alert_details(quality.id)[0].healthy_runs == 2
    runs.run(quality_missing_share__age=0.2)  # the cause is back: the streak starts again
    assert workspace.monitoring.alert_details(quality.id)[0].healthy_runs == 0


def test_a_run_without_labels_neither_resolves_nor_resets_a_performance_incident(workspace,
                                                                                 runs):
    incident = runs.run(performance_recall=0.3).new_alerts[0]
    assert incident.cause == "performance"
    for _ in range(4):  # labels arrive later: only drift was judged
        runs.run(drift_psi__income=0.01)
    current = workspace.monitoring.alert_details(incident.id)[0]
    assert (current.status, current.healthy_runs) == (AlertStatus.OPEN, 0)


def test_resolve_after_is_a_workspace_setting_with_a_per_monitor_override(workspace, runs):
    service = workspace.monitoring
    service.set_incident_settings(IncidentSettings(resolve_after_runs=1), "quick to resolve")
    incident = runs.run(drift_psi__income=0.3).new_alerts[0]
    runs.run(drift_psi__income=0.0)
    assert service.alert_details(incident.id)[0].status is AlertStatus.CLOSED

    service.set_resolve_after(runs.monitor_id, 2, "this monitor is noisy")
    second = runs.run(drift_psi__income=0.3).new_alerts[0]
    runs.run(drift_psi__income=0.0)
    assert service.alert_details(second.id)[0].status is AlertStatus.OPEN
    runs.run(drift_psi__income=0.0)
    assert service.alert_details(second.id)[0].status is AlertStatus.CLOSED
    with pytest.raises(InvalidInputError, match="at least 1"):
        service.set_resolve_after(runs.monitor_id, 0, "never")


def test_snooze_and_mute_expire_and_are_audited(workspace, runs):
    service = workspace.monitoring
    incident = runs.run(drift_psi__income=0.15).new_alerts[0]
    snoozed = service.snooze_alert(incident.id, incident.row_version,
                                   runs.now + timedelta(hours=2), "vendor fix due")
    assert snoozed.snoozed_until == runs.now + timedelta(hours=2)
    assert snoozed.silenced(runs.now)
    with pytest.raises(InvalidInputError, match="future"):
        service.snooze_alert(incident.id, snoozed.row_version, runs.now - timedelta(hours=1))
    # While snoozed, a rise in severity tells nobody.
    assert runs.run(drift_psi__income=0.4).new_alerts == ()
    # The scheduler's beat ends the snooze once it is over.
    runs.now += timedelta(hours=2)
    scheduler = MonitorScheduler(workspace, timings=SchedulerTimings(), max_parallel=1)
    try:
        scheduler._end_silences_and_send_digest()  # what each heartbeat does
    finally:
        scheduler.shutdown()
    woke = workspace.monitoring.alert_details(incident.id)[0]
    assert woke.snoozed_until is None and not woke.silenced(runs.now)
    expired = workspace.audit.list_events(EventFilter(action_prefix="alert.snooze_expired"))
    assert len(expired) == 1 and expired[0].entity_id == str(incident.id)

    current = service.alert_details(incident.id)[0]
    muted = service.mute_alert(current.id, current.row_version, "known: new product launch",
                               until=runs.now + timedelta(hours=3))
    assert muted.muted and muted.silenced(runs.now)
    with pytest.raises(InvalidInputError, match="reason"):
        service.mute_alert(current.id, muted.row_version, " ")
    runs.now += timedelta(hours=3)
    # ... or the next run of the monitor, whichever comes first.
    runs.run(drift_psi__income=0.4)
    after = service.alert_details(incident.id)[0]
    assert not after.muted and after.muted_until is None
    (mute_expired,) = workspace.audit.list_events(
        EventFilter(action_prefix="alert.mute_expired"))
    assert "new product launch" in mute_expired.reason

    muted = service.mute_alert(after.id, after.row_version, "until the retraining")
    unmuted = service.unmute_alert(muted.id, muted.row_version, "retrained")
    assert not unmuted.muted
    with pytest.raises(InvalidInputError, match="not muted"):
        service.unmute_alert(unmuted.id, unmuted.row_version)
    snoozed = service.snooze_alert(unmuted.id, unmuted.row_version,
                                   runs.now + timedelta(days=1))
    unsnoozed = service.unsnooze_alert(snoozed.id, snoozed.row_version)
    assert unsnoozed.snoozed_until is None
    actions = [e.action for e in workspace.audit.list_events(EventFilter(action_prefix="alert."))]
    for action in ("alert.snoozed", "alert.muted", "alert.unmuted", "alert.unsnoozed"):
        assert action in actions
    notes = [n.kind for n in service.alert_details(incident.id)[1]]
    assert notes.count("snoozed") == 2 and "snooze expired" in notes and "mute expired" in notes


def test_a_failed_slot_and_a_pause_are_one_run_failure_incident(workspace, tmp_path):
    now = datetime.now(UTC)
    monitor = add_monitor(workspace, tmp_path, current=tmp_path / "absent.csv", max_failures=1,
                          anchor=now - timedelta(minutes=1))
    scheduler = MonitorScheduler(workspace, max_parallel=1, timings=SchedulerTimings())
    try:
        stored = scheduler.fire(monitor.id).result(timeout=120)
    finally:
        scheduler.shutdown()
    (incident,) = stored.new_alerts
    assert incident.cause == "run failure" and "paused itself" in incident.title
    assert [m.metric for m in workspace.monitoring.incident_members(incident.id)] == [
        "monitor.paused"]


def email_settings(port: int) -> EmailSettings:
    return EmailSettings(enabled=True, host="127.0.0.1", port=port, security="none",
                         sender="ledger@example.org", recipients=("risk@example.org",),
                         min_severity="warn")


def test_email_once_per_incident_and_again_when_its_severity_rises(workspace, runs,
                                                                   smtp_server):  # noqa: F811
    inbox, port = smtp_server
    workspace.monitoring.set_email_settings(email_settings(port), "incidents to the risk team")
    service = workspace.scheduled_monitoring

    def run_and_email(**values):
        stored = runs.run(**values)
        if stored.new_alerts:
            assert service.email_alerts(stored.new_alerts) is None
        return stored

    run_and_email(drift_psi__income=0.12, drift_psi__age=0.11)
    assert len(inbox.messages) == 1
    for _ in range(4):  # the same incident again and again: no more e-mail
        run_and_email(drift_psi__income=0.13, drift_psi__age=0.12)
    assert len(inbox.messages) == 1
    run_and_email(drift_psi__income=0.3)  # warn -> critical: told once more
    assert len(inbox.messages) == 2
    assert "critical" in inbox.messages[1].content.decode()
    run_and_email(drift_psi__income=0.12)  # falls back: nothing
    run_and_email(drift_psi__income=0.3)  # critical again, already told: nothing
    assert len(inbox.messages) == 2


def test_the_daily_digest_is_sent_once_a_day_across_instances(workspace, runs,
                                                              smtp_server):  # noqa: F811
    inbox, port = smtp_server
    admin = workspace.monitoring
    admin.set_email_settings(email_settings(port), "incidents to the risk team")
    admin.set_incident_settings(IncidentSettings(daily_digest=True, digest_hour_utc=7),
                                "a morning digest")
    incident = runs.run(drift_psi__income=0.3, quality_missing_share__age=0.2).new_alerts[0]
    runs.now = START.replace(hour=6, minute=30) + timedelta(days=1)
    service = workspace.scheduled_monitoring
    assert not service.send_digest_if_due("instance-a")  # before the digest hour
    runs.now += timedelta(hours=1)
    assert service.send_digest_if_due("instance-a")
    assert not service.send_digest_if_due("instance-b")  # another instance, the same day
    assert len(inbox.messages) == 1
    body = inbox.messages[0].content.decode()
    assert "digest" in body and f"#{incident.id}" in body and "2 open incidents" in body
    event = workspace.audit.list_events(EventFilter(action_prefix="alert.digest_emailed"))[0]
    assert len(json.loads(event.after)["incidents"]) == 2
    runs.now += timedelta(days=1)
    assert service.send_digest_if_due("instance-b")
    assert len(inbox.messages) == 2
