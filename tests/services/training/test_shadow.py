"""Shadow runs: a staging challenger is scored on the production monitor's rows beside the
champion, on every run, and its agreement and gains are stored as charted info metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from modelledger.core.domain import Role, Stage
from modelledger.core.errors import InvalidInputError
from modelledger.core.monitoring import DataSource, SourceKind
from modelledger.core.recipes import Recipe, RecipeKind
from modelledger.services.monitoring.scheduler import MonitorScheduler
from tests.conftest import person
from tests.services.monitor_data import FEATURES, add_monitor, scored_frame, write_csv


def test_every_run_of_a_production_monitor_scores_the_staging_challenger_beside_it(
        workspace, tmp_path):
    bob = person(workspace, "bob", Role.VALIDATOR)
    labelled = write_csv(scored_frame(2_000, seed=5), tmp_path / "labelled.csv")
    # The monitor's current rows carry the champion's logged predictions and, later, labels.
    monitor = add_monitor(workspace, tmp_path, anchor=datetime.now(UTC) + timedelta(days=1))
    training = workspace.training
    source = DataSource(SourceKind.FILE, str(labelled))
    training.save_recipe("credit-risk", Recipe(
        RecipeKind.DECLARATIVE, source, "label", FEATURES, estimator="DecisionTreeClassifier",
        hyperparameters={"max_depth": 1}), reason="baseline")
    training.train("credit-risk")
    workspace.registry.move_to_stage("credit-risk", 1, Stage.STAGING, "baseline")
    bob.registry.approve_promotion(
        workspace.registry.request_promotion("credit-risk", 1, "baseline").id, "ok")
    training.save_recipe("credit-risk", Recipe(
        RecipeKind.DECLARATIVE, source, "label", FEATURES, estimator="LogisticRegression"),
        reason="a linear challenger")
    training.train("credit-risk")
    workspace.registry.move_to_stage("credit-risk", 2, Stage.STAGING, "shadow it first")

    scheduler = MonitorScheduler(workspace, max_parallel=1)
    try:
        stored = scheduler.run_now(monitor.id).result(timeout=120)
    finally:
        scheduler.shutdown()
    run, metrics = workspace.monitoring.get_run(stored.run_id)
    shadow = {m.metric: m for m in metrics if m.metric.startswith("shadow.")}
    assert set(shadow) >= {"shadow.agreement", "shadow.accuracy", "shadow.roc_auc"}
    assert all(m.subject == "v2" and m.status == "info" for m in shadow.values())
    assert 0 <= shadow["shadow.agreement"].value <= 1
    assert "labelled rows (95%:" in shadow["shadow.accuracy"].note
    assert run.health is not None  # judged by the champion's metrics, not the shadow's


def test_a_recipe_can_also_compare_on_the_monitors_recent_labelled_rows(workspace, tmp_path):
    from dataclasses import replace

    bob = person(workspace, "bob", Role.VALIDATOR)
    labelled = write_csv(scored_frame(2_000, seed=5), tmp_path / "labelled.csv")
    add_monitor(workspace, tmp_path, anchor=datetime.now(UTC) + timedelta(days=1))
    training = workspace.training
    recipe = Recipe(RecipeKind.DECLARATIVE, DataSource(SourceKind.FILE, str(labelled)), "label",
                    FEATURES, estimator="DecisionTreeClassifier",
                    hyperparameters={"max_depth": 1})
    training.save_recipe("credit-risk", recipe, reason="baseline")
    training.train("credit-risk")
    workspace.registry.move_to_stage("credit-risk", 1, Stage.STAGING, "baseline")
    bob.registry.approve_promotion(
        workspace.registry.request_promotion("credit-risk", 1, "baseline").id, "ok")
    training.save_recipe("credit-risk", replace(recipe, estimator="LogisticRegression",
                                                hyperparameters={},
                                                evaluate_on_monitor="drift"),
                         reason="judge it on what production saw too")
    run = training.train("credit-risk")
    assert run.monitor_comparison is not None, run.log
    assert run.monitor_comparison.rows == 1_000  # the monitor's current rows, all labelled
    assert {d.metric for d in run.monitor_comparison.differences} >= {"accuracy", "roc_auc"}
    assert any("recent labelled rows" in line for line in run.evidence_lines())

    training.save_recipe("credit-risk", replace(recipe, evaluate_on_monitor="nope"),
                         reason="a typo")
    with pytest.raises(InvalidInputError, match="no monitor named 'nope'"):
        training.train("credit-risk")
