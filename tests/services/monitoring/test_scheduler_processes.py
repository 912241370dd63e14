"""The scheduler across real processes sharing one SQLite file (`modelledger scheduler`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from modelledger.core.domain import EventFilter, Role
from modelledger.storage.tables import monitor_claims, monitor_runs, run_metrics
from tests.conftest import person, run_cli, wait_until
from tests.services.monitor_data import add_monitor, scored_frame

FAST_ENV = {"MODELLEDGER_HEARTBEAT_S": "0.3", "MODELLEDGER_STALE_AFTER_S": "3",
            "MODELLEDGER_RETRY_BASE_S": "1"}


def start_instance(workspace, workspace_path: Path, log_path: Path,
                   user: str) -> subprocess.Popen:
    """`modelledger scheduler` as ``user``, a host key enrolled by ``workspace``'s admin."""
    if not workspace.identity.keys(user=user):
        person(workspace, user, Role.DEVELOPER, host=True)
    env = {**os.environ, **FAST_ENV, "MODELLEDGER_USER": user}
    return subprocess.Popen(
        [sys.executable, "-m", "modelledger", "-w", str(workspace_path), "scheduler"],
        stdout=log_path.open("w"), stderr=subprocess.STDOUT, env=env, start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def rows(workspace, query):
    return workspace.database.read(lambda conn: list(conn.execute(query)))


@pytest.mark.slow
def test_three_instances_run_each_of_twenty_slots_exactly_once(workspace, workspace_path,
                                                                tmp_path):
    interval = 2
    anchor = datetime.now(UTC) + timedelta(seconds=8)  # time for the instances to start
    monitor = add_monitor(workspace, tmp_path, every_s=interval, anchor=anchor)
    instances = [start_instance(workspace, workspace_path, tmp_path / f"instance-{i}.log",
                                f"host{i}")
                 for i in range(3)]
    slots = [anchor + timedelta(seconds=interval * k) for k in range(20)]
    try:
        wait_until(lambda: len(rows(workspace, select(monitor_runs.c.slot).where(
            monitor_runs.c.slot <= slots[-1]))) >= 20, 150, "20 stored runs")
    finally:
        for process in instances:
            stop(process)
    logs = "\n".join((tmp_path / f"instance-{i}.log").read_text() for i in range(3))
    assert "Traceback" not in logs, logs
    runs = rows(workspace, select(monitor_runs.c.slot, monitor_runs.c.instance,
                                  monitor_runs.c.status).where(monitor_runs.c.slot <= slots[-1]))
    assert sorted(r.slot for r in runs) == slots  # every slot once, none twice
    assert all(r.status == "succeeded" for r in runs)
    claims = rows(workspace, select(monitor_claims.c.slot, monitor_claims.c.state).where(
        monitor_claims.c.monitor_id == monitor.id, monitor_claims.c.slot <= slots[-1]))
    assert sorted(c.slot for c in claims) == slots and {c.state for c in claims} == {"done"}
    assert workspace.audit.verify().intact


@pytest.mark.slow
def test_a_run_abandoned_by_kill_9_is_taken_over_and_stored_once(workspace, workspace_path,
                                                                  tmp_path):
    # The current data is a named pipe: a worker that opens it blocks until the test writes,
    # so the run is reliably in progress when its instance is killed.
    pipe = tmp_path / "current.csv"
    os.mkfifo(pipe)
    monitor = add_monitor(workspace, tmp_path, current=pipe,
                          anchor=datetime.now(UTC) - timedelta(seconds=1))
    first = start_instance(workspace, workspace_path, tmp_path / "first.log", "first")
    second = None
    try:
        claim = wait_until(lambda: rows(workspace, select(monitor_claims).where(
            monitor_claims.c.monitor_id == monitor.id, monitor_claims.c.state == "running")),
            60, "the first instance to claim the slot")[0]
        os.killpg(first.pid, signal.SIGKILL)  # the instance and its worker process
        first.wait()
        second = start_instance(workspace, workspace_path, tmp_path / "second.log", "second")
        taken = wait_until(lambda: rows(workspace, select(monitor_claims).where(
            monitor_claims.c.id == claim.id, monitor_claims.c.attempt == 2)),
            60, "the second instance to take the claim over")[0]
        assert taken.owner != claim.owner and taken.state == "running"
        feeder = threading.Thread(
            target=lambda: pipe.write_text(scored_frame(1_000, seed=9).to_csv(index=False)),
            daemon=True)
        feeder.start()
        wait_until(lambda: rows(workspace, select(monitor_runs).where(
            monitor_runs.c.claim_id == claim.id)), 60, "the taken-over run to be stored")
        feeder.join(10)
    finally:
        stop(first)
        if second is not None:
            stop(second)
    runs = rows(workspace, select(monitor_runs).where(monitor_runs.c.claim_id == claim.id))
    assert [(r.attempt, r.status) for r in runs] == [(2, "succeeded")]
    assert runs[0].instance == taken.owner
    metric_runs = {r.run_id for r in rows(workspace, select(run_metrics.c.run_id))}
    assert metric_runs == {runs[0].id}  # nothing half-written by the killed instance
    events = workspace.audit.list_events(EventFilter(action_prefix="monitor.run_taken_over"))
    assert len(events) == 1 and claim.owner in events[0].after
    assert workspace.audit.verify().intact


@pytest.mark.slow
def test_a_stopped_and_resumed_scheduler_catches_up_missed_slots(workspace, workspace_path,
                                                                 tmp_path):
    """SIGSTOP is the computer going to sleep; on SIGCONT the instance catches up once."""
    monitor = add_monitor(workspace, tmp_path, every_s=1,
                          anchor=datetime.now(UTC) + timedelta(seconds=4))
    instance = start_instance(workspace, workspace_path, tmp_path / "sleepy.log", "sleepy")
    try:
        wait_until(lambda: rows(workspace, select(monitor_runs)), 60, "a first run")
        os.killpg(instance.pid, signal.SIGSTOP)
        asleep_at = datetime.now(UTC)
        wait_until(lambda: datetime.now(UTC) > asleep_at + timedelta(seconds=5), 10,
                   "five slots to pass while asleep")
        os.killpg(instance.pid, signal.SIGCONT)
        event = wait_until(lambda: workspace.audit.list_events(
            EventFilter(action_prefix="monitor.slots_missed")), 60, "the catch-up")[0]
    finally:
        os.killpg(instance.pid, signal.SIGCONT)
        stop(instance)
    missed = json.loads(event.after)["missed"]
    assert missed >= 3
    states = [s[1] for s in workspace.monitoring.claim_states(monitor.id)]
    assert states.count("missed") >= missed


def test_a_scheduler_whose_user_cannot_sign_refuses_to_start(workspace, workspace_path):
    result = run_cli("-w", str(workspace_path), "-u", "stranger", "scheduler")
    assert result.returncode != 0
    assert "stranger: no key on this workstation" in result.stderr
    assert "modelledger -u stranger user enroll --host" in result.stderr
    assert "Traceback" not in result.stderr
