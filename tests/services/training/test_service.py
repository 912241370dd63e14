"""Training through the workspace: recipes versioned and audited, a run recorded all-or-nothing,
the challenger judged against the champion, and a promotion request only when the gate holds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sklearn.datasets import load_breast_cancer

from modelledger.core.domain import EventFilter, Role, Stage
from modelledger.core.errors import InvalidInputError, UntrustedModelError
from modelledger.core.identity import PermissionDeniedError
from modelledger.core.monitoring import DataSource, RunStatus, SourceKind
from modelledger.core.promotion_gate import GateRule
from modelledger.core.recipes import Recipe, RecipeKind, SplitRule
from modelledger.core.training import Trigger
from tests.conftest import person

GATE = GateRule("roc_auc", min_absolute_improvement=0.01, non_inferiority={"accuracy": 0.05},
                min_training_rows=100)


@pytest.fixture(scope="module")
def cancer_file(tmp_path_factory) -> tuple[Path, tuple[str, ...]]:
    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [name.replace(" ", "_") for name in frame.columns]
    path = tmp_path_factory.mktemp("data") / "cancer.csv"
    frame.to_csv(path, index=False)
    return path, tuple(name for name in frame.columns if name != "target")


def _recipe(cancer_file, estimator: str = "LogisticRegression", **hyperparameters) -> Recipe:
    path, features = cancer_file
    return Recipe(RecipeKind.DECLARATIVE, DataSource(SourceKind.FILE, str(path)), "target",
                  features, estimator=estimator,
                  hyperparameters=hyperparameters or {"max_iter": 2000}, seed=5)


@pytest.fixture
def team(workspace, cancer_file):
    """alice (admin) trains; bob validates. churn's champion v1 is a one-split tree."""
    bob = person(workspace, "bob", Role.VALIDATOR)
    workspace.registry.register_model("churn", owner="alice", purpose="who leaves",
                                      reason="new model")
    workspace.training.save_recipe("churn", _recipe(cancer_file, "DecisionTreeClassifier",
                                                    max_depth=1), reason="a first baseline")
    first = workspace.training.train("churn")
    assert first.status is RunStatus.SUCCEEDED, first.log
    workspace.registry.move_to_stage("churn", 1, Stage.STAGING, "baseline for review")
    request = workspace.registry.request_promotion("churn", 1, "the baseline")
    bob.registry.approve_promotion(request.id, "fine as a start")
    return workspace, bob


def test_a_first_run_registers_a_version_with_everything_it_was_trained_from(workspace,
                                                                               cancer_file):
    workspace.registry.register_model("churn", owner="alice", reason="new model")
    stored = workspace.training.save_recipe("churn", _recipe(cancer_file), reason="first recipe")
    assert stored.recipe_version == 1
    seen: list[str] = []
    run = workspace.training.train("churn", progress=lambda percent, text: seen.append(text))

    assert run.status is RunStatus.SUCCEEDED and run.version_number == 1
    assert run.champion_version_number is None and run.comparison is None and run.gate is None
    version = workspace.registry.get_version("churn", 1)
    assert version.stage is Stage.DEVELOPMENT
    assert version.artifact is not None and version.artifact.format.value == "skops"
    assert version.metrics["roc_auc"] > 0.95
    assert version.training_data["rows"] == 455
    assert version.training_data["source"]["sha256"] == run.data_reference["sha256"]
    assert len(version.training_data["recipe_sha256"]) == 64
    assert version.estimator_class == "sklearn.pipeline.Pipeline"
    assert "trained by recipe r1" in version.notes
    assert any("Recording the outcome" in text for text in seen)
    actions = [e.action for e in workspace.audit.list_events(EventFilter(model_name="churn"))]
    assert {"recipe.saved", "training.succeeded", "version.created"} <= set(actions)
    assert workspace.training.list_runs("churn")[0].id == run.id


def test_a_better_challenger_passes_the_gate_and_waits_for_a_person(team, cancer_file):
    alice, bob = team
    recipe = replace(_recipe(cancer_file), slice_column="mean_radius",
                     split=SplitRule(holdout_share=0.4))  # quartiles of 57 rows
    alice.training.save_recipe("churn", recipe, gate=GATE,
                               reason="logistic regression should separate better")
    run = alice.training.train("churn", trigger=Trigger.MANUAL, cause="try a linear model")

    assert run.status is RunStatus.SUCCEEDED and run.version_number == 2
    assert run.champion_version_number == 1
    assert run.gate is not None and run.gate.passed, run.gate.reasons
    assert run.comparison.difference("roc_auc").excludes_zero
    assert len(run.comparison.slices) == 4  # quartiles of the slice column
    assert {s.column for s in run.comparison.slices} == {"mean_radius"}
    challenger = alice.registry.get_version("churn", 2)
    assert challenger.stage is Stage.STAGING
    assert challenger.parent_version == 1
    pending = alice.registry.list_promotion_requests()
    request = next(r for r in pending if r.id == run.request_id)
    assert request.version_number == 2 and "passed the promotion gate" in request.reason
    requested = alice.audit.list_events(EventFilter(action_prefix="promotion.requested"))[0]
    assert "training_run" in requested.after and "gate" in requested.after
    assert alice.registry.get_version("churn", 1).stage is Stage.PRODUCTION  # not promoted

    bob.registry.approve_promotion(run.request_id, "the evidence holds")
    assert alice.registry.get_version("churn", 2).stage is Stage.PRODUCTION
    chain, decisions = alice.audit.verify_with_signatures()
    assert chain.intact and decisions.valid, decisions.describe()


def test_a_challenger_no_better_than_the_champion_fails_the_gate_and_asks_nothing(team,
                                                                                  cancer_file):
    alice, _ = team
    alice.training.save_recipe("churn", _recipe(cancer_file, "DecisionTreeClassifier",
                                                max_depth=1), gate=GATE, reason="same again")
    run = alice.training.train("churn")

    assert run.status is RunStatus.SUCCEEDED and run.gate is not None
    assert not run.gate.passed
    assert any("roc_auc" in reason for reason in run.gate.reasons)
    assert run.request_id is None
    assert alice.registry.get_version("churn", run.version_number).stage is Stage.DEVELOPMENT
    assert "gate failed" in run.outcome_text
    failed = alice.audit.list_events(EventFilter(action_prefix="gate.failed"))
    assert len(failed) == 1


def test_a_failed_run_is_recorded_and_nothing_else(workspace, cancer_file, tmp_path):
    workspace.registry.register_model("churn", owner="alice", reason="new model")
    path, features = cancer_file
    broken = tmp_path / "broken.csv"
    broken.write_text(path.read_text().replace("target", "label", 1))
    recipe = Recipe(RecipeKind.DECLARATIVE, DataSource(SourceKind.FILE, str(broken)), "target",
                    features, estimator="LogisticRegression")
    workspace.training.save_recipe("churn", recipe, reason="points at the new extract")
    run = workspace.training.train("churn")

    assert run.status is RunStatus.FAILED and "no column target" in run.error
    assert run.version_number is None
    assert "no column target" in run.log
    assert workspace.registry.list_versions("churn") == []
    assert workspace.audit.list_events(EventFilter(action_prefix="training.failed"))


CODE = '''
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

def train(frame, params):
    model = make_pipeline(StandardScaler(), LogisticRegression(C=params["C"], max_iter=2000))
    return model.fit(frame.drop(columns="target"), frame["target"])
'''


def test_a_code_recipe_runs_only_once_its_file_is_trusted(workspace, cancer_file, tmp_path):
    workspace.registry.register_model("churn", owner="alice", reason="new model")
    code = tmp_path / "train.py"
    code.write_text(CODE)
    path, features = cancer_file
    recipe = Recipe(RecipeKind.DECLARATIVE, DataSource(SourceKind.FILE, str(path)), "target",
                    features, estimator="LogisticRegression", parameters={"C": 0.5})
    stored = workspace.training.save_recipe("churn", recipe, code_file=code,
                                            reason="our own pipeline")
    assert stored.recipe.kind is RecipeKind.CODE and stored.recipe.code_filename == "train.py"

    with pytest.raises(UntrustedModelError, match="has not been trusted"):
        workspace.training.train("churn")
    workspace.training.trust_recipe_code("churn", "read it: scaler and logistic regression")
    run = workspace.training.train("churn")
    assert run.status is RunStatus.SUCCEEDED, run.log
    trusted = workspace.audit.list_events(EventFilter(action_prefix="artifact.trusted"))
    assert trusted[0].entity_id == stored.recipe.code_sha256


def test_a_viewer_cannot_save_a_recipe_or_train(workspace, cancer_file):
    workspace.registry.register_model("churn", owner="alice", reason="new model")
    workspace.training.save_recipe("churn", _recipe(cancer_file), reason="first")
    viewer = person(workspace, "vera", Role.VIEWER)
    with pytest.raises(PermissionDeniedError):
        viewer.training.save_recipe("churn", _recipe(cancer_file), reason="mine now")
    with pytest.raises(PermissionDeniedError):
        viewer.training.train("churn")
    assert len(workspace.training.list_runs("churn")) == 0


def test_training_without_a_recipe_says_how_to_add_one(workspace):
    workspace.registry.register_model("churn", owner="alice", reason="new model")
    with pytest.raises(InvalidInputError, match="has no training recipe yet"):
        workspace.training.train("churn")


def test_reproduce_verifies_unchanged_data_and_stops_at_changed_data(workspace, cancer_file,
                                                                     tmp_path):
    path, features = cancer_file
    copy = tmp_path / "extract.csv"
    copy.write_bytes(path.read_bytes())
    workspace.registry.register_model("churn", owner="alice", reason="new model")
    recipe = Recipe(RecipeKind.DECLARATIVE, DataSource(SourceKind.FILE, str(copy)), "target",
                    features, estimator="RandomForestClassifier",
                    hyperparameters={"n_estimators": 25}, seed=11)
    workspace.training.save_recipe("churn", recipe, reason="forest")
    assert workspace.training.train("churn").status is RunStatus.SUCCEEDED

    verified = workspace.training.reproduce("churn", 1)
    assert verified.verified, verified.differences
    assert workspace.audit.list_events(
        EventFilter(action_prefix="version.reproduction_verified"))

    copy.write_text(copy.read_text().replace("\n1", "\n0", 5))  # five labels edited
    failed = workspace.training.reproduce("churn", 1)
    assert not failed.verified
    assert "extract.csv changed since the run" in failed.differences[0]
    assert "nothing was re-run" in failed.summary
    [event] = workspace.audit.list_events(EventFilter(action_prefix="version.reproduction_failed"))
    assert "changed since the run" in event.reason


def test_a_version_imported_from_a_file_cannot_be_reproduced(workspace):
    workspace.registry.register_model("churn", owner="alice", reason="new model")
    workspace.registry.add_version("churn")
    with pytest.raises(InvalidInputError, match="was not trained here from a recipe"):
        workspace.training.reproduce("churn", 1)
