"""Monitors end to end in one process: runs in a real worker process, results, failures, alerts."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from modelledger.core.domain import EventFilter
from modelledger.core.errors import ConcurrentEditError, InvalidInputError
from modelledger.core.monitoring import (
    AlertStatus,
    DataSource,
    Health,
    MonitorStatus,
    RunStatus,
    Schedule,
    ScheduleKind,
    SourceKind,
)
from modelledger.services.monitoring.scheduler import MonitorScheduler, SchedulerTimings
from modelledger.services.scheduling.schedules import due_slots
from tests.conftest import wait_until
from tests.services.monitor_data import add_monitor, file_spec, scored_frame, write_csv

FAST = SchedulerTimings(heartbeat_s=0.2, stale_after_s=2.0, retry_base_s=0.01)


@pytest.fixture
def scheduler(workspace):
    """A scheduler whose APScheduler timers are not started: the tests fire slots themselves."""
    instance = MonitorScheduler(workspace, timings=FAST, max_parallel=1)
    yield instance
    instance.shutdown()


@pytest.fixture
def failing(workspace, tmp_path):
    """A monitor whose source is missing (max 2 failures, first slot due), and a scheduler on
    a clock the test moves: (monitor, clock, scheduler); first retry after 60 s."""
    now = datetime.now(UTC)
    monitor = add_monitor(workspace, tmp_path, current=tmp_path / "absent.csv", max_failures=2,
                          anchor=now - timedelta(minutes=1))
    clock = [now]
    scheduler = MonitorScheduler(workspace, max_parallel=1, clock=lambda: clock[0],
                                 timings=SchedulerTimings(retry_base_s=60))
    yield monitor, clock, scheduler
    scheduler.shutdown()


def run_once(scheduler, monitor_id):
    stored = scheduler.run_now(monitor_id).result(timeout=120)
    assert stored.run_id is not None
    return scheduler._service.get_run(stored.run_id), stored


def test_due_slots_follow_the_interval_grid_and_cron():
    anchor = datetime(2026, 1, 1, tzinfo=UTC)
    hourly = Schedule(ScheduleKind.INTERVAL, "3600")
    now = anchor + timedelta(hours=5, minutes=30)
    slots, skipped = due_slots(hourly, anchor, None, now)
    assert slots == [anchor + timedelta(hours=h) for h in range(6)] and skipped == 0
    slots, _ = due_slots(hourly, anchor, anchor + timedelta(hours=3), now)
    assert slots == [anchor + timedelta(hours=4), anchor + timedelta(hours=5)]
    slots, skipped = due_slots(hourly, anchor, None, now, limit=2)
    assert slots == [anchor + timedelta(hours=4), anchor + timedelta(hours=5)] and skipped == 4
    daily_six = Schedule(ScheduleKind.CRON, "0 6 * * *")
    slots, _ = due_slots(daily_six, anchor, None, anchor + timedelta(days=2, hours=7))
    assert slots == [anchor + timedelta(days=d, hours=6) for d in range(3)]


def test_a_run_stores_metrics_health_thresholds_alerts_and_audit(workspace, tmp_path, scheduler):
    monitor = add_monitor(workspace, tmp_path)
    (run, metrics), stored = run_once(scheduler, monitor.id)
    assert run.status is RunStatus.SUCCEEDED
    assert run.current_rows == 1000 and run.reference_rows == 2000
    by_key = {(m.metric, m.subject): m for m in metrics}
    income_psi = by_key[("drift.psi", "income")]
    assert income_psi.value > 0.25 and income_psi.status == "critical"
    assert (income_psi.warn, income_psi.critical) == (0.10, 0.25)
    assert by_key[("drift.psi", "age")].status == "ok"
    assert ("performance.roc_auc", "") in by_key and ("kpi.approval rate", "") in by_key
    assert run.health is Health.CRITICAL and stored.health is Health.CRITICAL
    # One incident per cause, not one alert per metric: drift's lists income among its members.
    drift = next(a for a in stored.new_alerts if a.cause == "drift")
    assert "income" in drift.title and len({a.cause for a in stored.new_alerts}) == len(
        stored.new_alerts)
    members = {(m.metric, m.subject) for m in workspace.monitoring.incident_members(drift.id)}
    assert ("drift.psi", "income") in members and ("drift.psi", "age") not in members
    events = workspace.audit.list_events(EventFilter(action_prefix="monitor.run"))
    assert events[0].action == "monitor.run_succeeded"
    after = json.loads(events[0].after)
    assert after["health"] == "critical" and after["thresholds"]["drift.psi@income"]["warn"] == 0.1

    workspace.registry.register_model("unwatched")
    summaries = {s.model.name: s for s in workspace.registry.list_models()}
    assert (summaries["credit-risk"].monitor_count, summaries["credit-risk"].health) == (
        1, "critical")
    assert (summaries["unwatched"].monitor_count, summaries["unwatched"].health) == (0, None)

    # The same condition again: the open incident counts one more occurrence, no new one.
    _, again = run_once(scheduler, monitor.id)
    assert again.new_alerts == ()
    (alert,) = [a for a in workspace.monitoring.list_alerts() if a.cause == "drift"]
    assert alert.id == drift.id and alert.occurrences == 2


def test_undrifted_data_is_healthy(workspace, tmp_path, scheduler):
    current = write_csv(scored_frame(1_000, seed=5), tmp_path / "same.csv")
    monitor = add_monitor(workspace, tmp_path, current=current)
    (run, metrics), stored = run_once(scheduler, monitor.id)
    drift = [m for m in metrics if m.metric == "drift.psi"]
    assert all(m.status == "ok" for m in drift), drift
    assert run.health in (Health.OK, Health.WARN)
    assert not [a for a in stored.new_alerts if a.cause == "drift"]


def _corrupt_parquet(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1" + b"\x00garbage" * 50)
    return path


def _empty_csv(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    return path


def _wrong_columns(tmp_path):
    return write_csv(pd.DataFrame({"x": range(500), "y": range(500)}), tmp_path / "wrong.csv")


@pytest.mark.parametrize("make_source, expected", [
    (lambda tmp: tmp / "nowhere.csv", "does not exist"),
    (_empty_csv, "is empty"),
    (_corrupt_parquet, "Cannot read current data broken.parquet"),
    (_wrong_columns, "has no column 'prediction'"),
], ids=["missing file", "empty file", "corrupt parquet", "wrong columns"])
def test_bad_sources_are_recorded_failures_with_a_clear_error(workspace, tmp_path, scheduler,
                                                                make_source, expected):
    monitor = add_monitor(workspace, tmp_path, current=make_source(tmp_path))
    (run, metrics), _ = run_once(scheduler, monitor.id)
    assert run.status is RunStatus.FAILED and run.health is Health.FAILED
    assert expected in run.error, run.error
    assert metrics == []
    assert expected in run.log


def test_bad_values_give_insufficient_data_not_a_crash(workspace, tmp_path, scheduler):
    frame = scored_frame(1_000, seed=3, one_class=True)
    frame["income"] = np.nan
    frame["region"] = [f"code-{i}" for i in range(len(frame))]
    current = write_csv(frame, tmp_path / "odd.csv")
    monitor = add_monitor(workspace, tmp_path, current=current)
    (run, metrics), _ = run_once(scheduler, monitor.id)
    assert run.status is RunStatus.SUCCEEDED
    by_key = {(m.metric, m.subject): m for m in metrics}
    assert by_key[("drift.psi", "income")].status == "insufficient data"
    assert by_key[("quality.missing_share", "income")].value == 1.0
    assert by_key[("quality.unseen_category_share", "region")].value == 1.0
    auc = by_key[("performance.roc_auc", "")]
    assert auc.value is None and "one class" in auc.note
    assert all(m.value is None or np.isfinite(m.value) for m in metrics)


def test_a_hundred_thousand_categories(workspace, tmp_path, scheduler):
    frame = scored_frame(100_000, seed=4)
    frame["region"] = [f"r{i}" for i in range(len(frame))]
    current = tmp_path / "wide.parquet"
    frame.to_parquet(current)
    monitor = add_monitor(workspace, tmp_path, current=current)
    (run, metrics), _ = run_once(scheduler, monitor.id)
    assert run.status is RunStatus.SUCCEEDED
    region = {m.metric: m for m in metrics if m.subject == "region"}
    assert region["drift.psi"].value is not None and np.isfinite(region["drift.psi"].value)
    assert region["quality.unseen_category_share"].status == "critical"


def test_too_few_rows_is_insufficient_data(workspace, tmp_path, scheduler):
    current = write_csv(scored_frame(20, seed=6), tmp_path / "tiny.csv")
    monitor = add_monitor(workspace, tmp_path, current=current)
    (run, _), _stored = run_once(scheduler, monitor.id)
    assert run.status is RunStatus.SUCCEEDED and run.health is Health.INSUFFICIENT
    assert "Insufficient data: 20 rows" in run.summary


def test_failures_retry_with_backoff_then_pause_and_alert(workspace, tmp_path, failing):
    monitor, clock, scheduler = failing
    first = scheduler.fire(monitor.id).result(timeout=120)
    assert first.run_id is not None and not first.paused
    states = workspace.monitoring.claim_states(monitor.id)
    assert [s[1] for s in states] == ["retry"]
    assert scheduler.take_over_claims() == []  # not yet: the first retry waits 60 s
    clock[0] = datetime.now(UTC) + timedelta(seconds=61)
    retried = scheduler.take_over_claims()
    assert [c.attempt for c in retried] == [2]
    stored = scheduler._submit(retried[0]).result(timeout=120)
    assert stored.paused
    assert workspace.monitoring.get_monitor(monitor.id).status is MonitorStatus.PAUSED
    assert [s[1:3] for s in workspace.monitoring.claim_states(monitor.id)] == [("failed", 2)]
    paused_alert = next(a for a in stored.new_alerts if a.kind == "paused")
    assert paused_alert.severity is Health.CRITICAL and "absent.csv" in paused_alert.detail
    actions = [e.action for e in workspace.audit.list_events(EventFilter(action_prefix="monitor"))]
    assert actions.count("monitor.run_failed") == 2 and "monitor.paused" in actions
    assert scheduler.fire(monitor.id) is None  # paused monitors do not run


def test_missed_slots_are_caught_up_once_and_recorded(workspace, tmp_path):
    anchor = datetime.now(UTC) - timedelta(hours=10, minutes=30)
    monitor = add_monitor(workspace, tmp_path, anchor=anchor)
    scheduler = MonitorScheduler(workspace, timings=FAST, max_parallel=1)
    try:
        stored = scheduler.fire(monitor.id).result(timeout=120)
    finally:
        scheduler.shutdown()
    states = workspace.monitoring.claim_states(monitor.id)
    assert [s[1] for s in states] == ["missed"] * 10 + ["done"]
    assert states[-1][0] == anchor + timedelta(hours=10)
    run = workspace.monitoring.get_run(stored.run_id)[0]
    assert run.slot == anchor + timedelta(hours=10)
    event = workspace.audit.list_events(EventFilter(action_prefix="monitor.slots_missed"))[0]
    assert json.loads(event.after)["missed"] == 10


def test_alert_handling_is_audited_and_guarded(workspace, tmp_path, scheduler):
    monitor = add_monitor(workspace, tmp_path)
    _, stored = run_once(scheduler, monitor.id)
    alert = stored.new_alerts[0]
    service = workspace.monitoring
    acknowledged = service.acknowledge_alert(alert.id, alert.row_version, "looking into it")
    assert acknowledged.status is AlertStatus.ACKNOWLEDGED
    with pytest.raises(ConcurrentEditError):
        service.assign_alert(alert.id, alert.row_version, "bob")
    assigned = service.assign_alert(alert.id, acknowledged.row_version, "bob")
    commented = service.comment_alert(alert.id, assigned.row_version, "income data changed")
    with pytest.raises(InvalidInputError, match="closing note"):
        service.close_alert(alert.id, commented.row_version, " ")
    closed = service.close_alert(alert.id, commented.row_version, "new income bands, retrained")
    assert closed.status is AlertStatus.CLOSED and closed.assignee == "bob"
    _, notes = service.alert_details(alert.id)
    assert [n.kind for n in notes] == ["raised", "acknowledged", "assigned", "comment", "closed"]
    actions = [e.action for e in workspace.audit.list_events(EventFilter(action_prefix="alert."))]
    for action in ("alert.raised", "alert.acknowledged", "alert.assigned", "alert.comment",
                   "alert.closed"):
        assert action in actions


def test_thresholds_set_by_the_user_are_the_ones_in_force(workspace, tmp_path, scheduler):
    from modelledger.core.monitoring import Threshold

    monitor = add_monitor(workspace, tmp_path, thresholds={"drift.psi": Threshold(5.0, 9.0)})
    (_run, metrics), _ = run_once(scheduler, monitor.id)
    income = next(m for m in metrics if (m.metric, m.subject) == ("drift.psi", "income"))
    assert (income.warn, income.critical, income.status) == (5.0, 9.0, "ok")


def test_monitor_configuration_errors_are_clear(workspace, tmp_path):
    with pytest.raises(InvalidInputError, match="no column 'salary'"):
        add_monitor(workspace, tmp_path, features=("salary",))
    with pytest.raises(InvalidInputError, match="not a cron expression"):
        workspace.registry.register_model("m2")
        workspace.monitoring.create_monitor(
            "m2", "x", write_csv(scored_frame(200, seed=1), tmp_path / "r.csv"),
            file_spec(tmp_path / "c.csv"),
            Schedule(ScheduleKind.CRON, "every day"))


def test_sql_and_folder_sources(workspace, tmp_path, scheduler):
    import sqlite3

    from modelledger.core.monitoring import DataSource, FolderPick, SourceKind

    frame = scored_frame(600, seed=8)
    source_db = tmp_path / "warehouse.db"
    with sqlite3.connect(source_db) as conn:
        frame.to_sql("scored", conn, index=False)
    sql = DataSource(SourceKind.SQL, url=f"sqlite:///{source_db}",
                     query="SELECT * FROM scored WHERE age >= 18")
    monitor = add_monitor(workspace, tmp_path, name="from sql", source=sql)
    (run, _), _ = run_once(scheduler, monitor.id)
    assert run.status is RunStatus.SUCCEEDED and run.current_rows == 600
    assert run.data_description.startswith("sqlite:///")

    folder = tmp_path / "exports"
    folder.mkdir()
    write_csv(scored_frame(300, seed=9), folder / "scores-2026-01-01.csv")
    write_csv(scored_frame(400, seed=10), folder / "scores-2026-01-02.csv")
    write_csv(scored_frame(500, seed=11), folder / "scores-2999-01-01.csv")  # after the slot
    dated = DataSource(SourceKind.FOLDER, path=str(folder), pattern="scores-*.csv",
                       pick=FolderPick.DATE_IN_NAME)
    monitor = add_monitor(workspace, tmp_path, name="from folder", source=dated)
    (run, _), _ = run_once(scheduler, monitor.id)
    assert run.current_rows == 400 and run.data_description.endswith("scores-2026-01-02.csv")


def test_a_password_in_the_url_is_refused():
    from modelledger.core.monitoring import DataSource, SourceKind

    with pytest.raises(InvalidInputError, match="system keyring"):
        DataSource(SourceKind.SQL, url="postgresql://ann:secret@db/sales", query="SELECT 1")


def test_a_run_over_its_time_limit_is_stopped_and_recorded(workspace, tmp_path, scheduler):
    import os

    pipe = tmp_path / "never-written.csv"
    os.mkfifo(pipe)  # opening it blocks: the run hangs like a stuck network share
    monitor = add_monitor(workspace, tmp_path, current=pipe)
    workspace.monitoring.update_monitor(monitor.id, monitor.row_version, timeout_s=3,
                                        reason="short limit")
    (run, _), _ = run_once(scheduler, monitor.id)
    assert run.status is RunStatus.FAILED and "longer than its 3 s time limit" in run.error


def test_cron_weekdays_count_from_sunday_like_cron():
    anchor = datetime(2026, 11, 1, tzinfo=UTC)  # a Sunday
    week = anchor + timedelta(days=7)
    mondays, _ = due_slots(Schedule(ScheduleKind.CRON, "0 6 * * 1"), anchor, None, week)
    assert [slot.strftime("%a %H:%M") for slot in mondays] == ["Mon 06:00"]
    weekdays, _ = due_slots(Schedule(ScheduleKind.CRON, "0 6 * * 1-5"), anchor, None, week)
    assert [slot.strftime("%a") for slot in weekdays] == ["Mon", "Tue", "Wed", "Thu", "Fri"]
    sundays, _ = due_slots(Schedule(ScheduleKind.CRON, "30 7 * * 0,7"), anchor, None, week)
    assert [slot.strftime("%a %d") for slot in sundays] == ["Sun 01"]
    with pytest.raises(InvalidInputError, match="Day of week 8"):
        due_slots(Schedule(ScheduleKind.CRON, "0 6 * * 8"), anchor, None, week)


def test_an_alert_that_fires_again_can_still_be_acknowledged(workspace, tmp_path, scheduler):
    monitor = add_monitor(workspace, tmp_path)
    _, first = run_once(scheduler, monitor.id)
    alert = next(a for a in first.new_alerts if a.cause == "drift")
    run_once(scheduler, monitor.id)  # fires again while someone is reading the alert
    acknowledged = workspace.monitoring.acknowledge_alert(alert.id, alert.row_version, "on it")
    assert acknowledged.status is AlertStatus.ACKNOWLEDGED and acknowledged.occurrences == 2


def test_a_slot_is_given_up_after_max_failures_attempts(workspace, tmp_path, failing):
    monitor, clock, scheduler = failing
    scheduler.fire(monitor.id).result(timeout=120)
    # A later success (here: a manual run on good data) resets the failure count...
    good = write_csv(scored_frame(500, seed=3), tmp_path / "good.csv")
    spec = workspace.monitoring.get_monitor(monitor.id).spec
    current = workspace.monitoring.get_monitor(monitor.id)
    workspace.monitoring.update_monitor(
        monitor.id, current.row_version, reason="good data for a moment",
        spec=replace(spec, source=DataSource(SourceKind.FILE, path=str(good))))
    scheduler.run_now(monitor.id).result(timeout=120)
    current = workspace.monitoring.get_monitor(monitor.id)
    workspace.monitoring.update_monitor(monitor.id, current.row_version, spec=spec,
                                        reason="back to the broken source")
    # ...but the failing slot still stops after its second attempt instead of retrying forever.
    clock[0] = datetime.now(UTC) + timedelta(seconds=61)
    stored = scheduler._submit(scheduler.take_over_claims()[0]).result(timeout=120)
    assert not stored.paused
    states = {state for _, state, _, _ in workspace.monitoring.claim_states(monitor.id)}
    assert "retry" not in states and "failed" in states
    assert any(a.cause == "run failure" and "failed 2 times" in a.detail
               for a in stored.new_alerts)


def test_kpi_names_must_be_unique(tmp_path):
    from modelledger.core.kpi import KpiDefinition

    twice = (KpiDefinition("rate", "share(prediction == 1)", 0.5, 0.1),
             KpiDefinition("rate", "mean(score)", 0.5, 0.1))
    with pytest.raises(InvalidInputError, match="Two KPIs are named 'rate'"):
        file_spec(tmp_path / "x.csv", kpis=twice)


def test_a_worker_that_dies_mid_run_is_a_recorded_failure(workspace, tmp_path, scheduler):
    import multiprocessing
    import os
    import signal

    pipe = tmp_path / "held.csv"
    os.mkfifo(pipe)  # the worker blocks opening it, so it is surely mid-run when killed
    monitor = add_monitor(workspace, tmp_path, current=pipe)
    future = scheduler.run_now(monitor.id)
    wait_until(lambda: any(job.percent >= 15 for job in scheduler.running_jobs()), 60,
               "the run to start reading its data")
    workers = [p for p in multiprocessing.active_children() if p.name == "modelledger-run-worker"]
    assert len(workers) == 1
    os.kill(workers[0].pid, signal.SIGKILL)
    stored = future.result(timeout=60)
    run = workspace.monitoring.get_run(stored.run_id)[0]
    assert run.status is RunStatus.FAILED and "stopped unexpectedly (exit code -9)" in run.error
    # The next run gets a fresh worker.
    write_csv(scored_frame(300, seed=4), tmp_path / "fine.csv")
    current = workspace.monitoring.get_monitor(monitor.id)
    workspace.monitoring.update_monitor(
        monitor.id, current.row_version, reason="readable data",
        spec=replace(current.spec, source=DataSource(SourceKind.FILE,
                                                     path=str(tmp_path / "fine.csv"))))
    (again, _), _ = run_once(scheduler, monitor.id)
    assert again.status is RunStatus.SUCCEEDED
