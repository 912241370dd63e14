"""Scheduled retrains across real processes sharing one SQLite file: each slot is claimed and
trained once, by whichever instance wins it; the run records its trigger and cause."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sklearn.datasets import load_breast_cancer
from sqlalchemy import select

from modelledger.core.domain import EventFilter
from modelledger.core.monitoring import DataSource, Schedule, ScheduleKind, SourceKind
from modelledger.core.recipes import Recipe, RecipeKind
from modelledger.core.training import Trigger
from modelledger.storage.tables import training_claims, training_runs
from tests.conftest import wait_until
from tests.services.monitoring.test_scheduler_processes import rows, start_instance, stop


@pytest.mark.slow
def test_two_instances_train_each_scheduled_slot_once(workspace, workspace_path, tmp_path):
    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [name.replace(" ", "_") for name in frame.columns]
    data = tmp_path / "cancer.csv"
    frame.to_csv(data, index=False)
    workspace.registry.register_model("churn", owner="alice", reason="new model")
    recipe = Recipe(RecipeKind.DECLARATIVE, DataSource(SourceKind.FILE, str(data)), "target",
                    tuple(name for name in frame.columns if name != "target"),
                    estimator="LogisticRegression", hyperparameters={"max_iter": 2000})
    stored = workspace.training.save_recipe("churn", recipe, reason="weekly, here every 6 s",
                                            schedule=Schedule(ScheduleKind.INTERVAL, "6"))
    instances = [start_instance(workspace, workspace_path, tmp_path / f"instance-{i}.log",
                                f"host{i}") for i in range(2)]
    try:
        wait_until(lambda: len(rows(workspace, select(training_runs.c.id))) >= 3, 150,
                   "three scheduled retrains")
    finally:
        for process in instances:
            stop(process)
    logs = "\n".join((tmp_path / f"instance-{i}.log").read_text() for i in range(2))
    assert "Traceback" not in logs, logs

    claims = rows(workspace, select(training_claims))
    runs = workspace.training.list_runs("churn")
    finished = [claim for claim in claims if claim.run_id is not None]
    assert len({claim.slot for claim in claims}) == len(claims)  # each slot claimed once
    assert sorted(claim.run_id for claim in finished) == sorted(run.id for run in runs)
    assert all(run.trigger is Trigger.SCHEDULE for run in runs)
    assert all(claim.slot - stored.created_at == timedelta(seconds=6) * round(
        (claim.slot - stored.created_at) / timedelta(seconds=6)) for claim in claims)
    assert {run.status.value for run in runs} <= {"succeeded", "cancelled"}
    assert "scheduled retrain (every 6 s)" in runs[-1].cause
    triggered = workspace.audit.list_events(EventFilter(action_prefix="training.triggered"))
    assert len(triggered) == len(claims)
    assert workspace.audit.verify().intact


@pytest.mark.slow
def test_a_critical_incident_starts_one_retrain_across_instances_and_the_cool_down_holds(
        workspace, workspace_path, tmp_path):
    from datetime import UTC, datetime

    from modelledger.core.recipes import RetrainPolicy
    from tests.services.monitor_data import FEATURES, add_monitor, scored_frame, write_csv

    monitor = add_monitor(workspace, tmp_path, every_s=2,
                          anchor=datetime.now(UTC) + timedelta(seconds=6))
    training_data = write_csv(scored_frame(2_000, seed=3), tmp_path / "labelled.csv")
    recipe = Recipe(RecipeKind.DECLARATIVE, DataSource(SourceKind.FILE, str(training_data)),
                    "label", FEATURES, estimator="LogisticRegression")
    workspace.training.save_recipe(
        "credit-risk", recipe, reason="retrain when income drifts",
        policy=RetrainPolicy(on_incident=True, cooldown_hours=1, max_per_period=5))
    instances = [start_instance(workspace, workspace_path, tmp_path / f"instance-{i}.log",
                                f"host{i}") for i in range(2)]
    try:
        wait_until(lambda: len(workspace.training.list_runs("credit-risk")) >= 1, 120,
                   "the retrain the drift incident started")
        # Six more monitor runs: the incident stays critical, the cool-down holds the retrains.
        def monitor_runs() -> int:
            return len(workspace.monitoring.list_runs(monitor_id=monitor.id))

        runs_then = monitor_runs()
        wait_until(lambda: monitor_runs() >= runs_then + 6, 90, "six more monitor runs")
    finally:
        for process in instances:
            stop(process)
    logs = "\n".join((tmp_path / f"instance-{i}.log").read_text() for i in range(2))
    assert "Traceback" not in logs, logs
    [run] = workspace.training.list_runs("credit-risk")
    assert run.trigger is Trigger.ALERT and "critical drift incident" in run.cause
    assert run.status.value == "succeeded", run.log
    [claim] = rows(workspace, select(training_claims))
    assert claim.run_id == run.id and claim.trigger == "alert"
    assert workspace.audit.verify().intact
