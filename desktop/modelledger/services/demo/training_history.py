"""The demo's training loop, at the end of its history, through the real training service.

- After the faded-scans incident of the digit reader, its developer writes a recipe that
  trains on scans from both scanners, and retrains from the incident: the challenger reads
  faded scans far better than the champion on the same holdout rows, passes the gate, moves
  to staging and waits for the validator's approval when the history ends.
- The screening model's owner tries a simpler, explainable tree: it loses ROC AUC against the
  champion on the same rows, so the gate fails, says why, and no promotion is asked for.

The recipes' data files are written beside the monitors' data, where the demo keeps them.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from modelledger.core.incidents import Cause
from modelledger.core.monitoring import DataSource, SourceKind
from modelledger.core.promotion_gate import GateRule
from modelledger.core.recipes import Recipe, RecipeKind, RetrainPolicy, SplitKind, SplitRule
from modelledger.core.training import Trigger
from modelledger.services.demo.timeline import Timeline

RETRAIN_DAY = 86
FADE = 0.55  # as the faded scans of the monitoring history


def plan_training_history(workspace, data_folder: Path, timeline: Timeline) -> None:
    alice, carol = workspace.as_user("alice"), workspace.as_user("carol")
    digits_training, digits_holdout, digit_features = _digits_files(data_folder)
    screening_training, screening_holdout, screening_features = _screening_files(data_folder)
    digits_recipe = Recipe(
        RecipeKind.DECLARATIVE, DataSource(SourceKind.FILE, str(digits_training)), "target",
        digit_features, estimator="LogisticRegression",
        hyperparameters={"C": 1.0, "max_iter": 3000}, seed=7,
        split=SplitRule(SplitKind.HOLDOUT_FILE, holdout_path=str(digits_holdout)))
    timeline.on(RETRAIN_DAY, "09:40", partial(
        alice.training.save_recipe, "digits-recognizer", digits_recipe,
        gate=GateRule("accuracy", min_absolute_improvement=0.01,
                      non_inferiority={"f1": 0.01}, min_training_rows=1000),
        policy=RetrainPolicy(on_incident=True, cooldown_hours=72, max_per_period=2,
                             period_days=30),
        reason="train on scans from both scanners, so that a faded batch does not throw the "
               "reader off again"))
    timeline.on(RETRAIN_DAY, "10:00", partial(_retrain_after_faded_scans, alice))
    screening_recipe = Recipe(
        RecipeKind.DECLARATIVE, DataSource(SourceKind.FILE, str(screening_training)),
        "target", screening_features, estimator="DecisionTreeClassifier",
        hyperparameters={"max_depth": 3}, seed=7,
        split=SplitRule(SplitKind.HOLDOUT_FILE, holdout_path=str(screening_holdout)))
    timeline.on(RETRAIN_DAY + 1, "11:00", partial(
        carol.training.save_recipe, "breast-cancer-screening", screening_recipe,
        gate=GateRule("roc_auc", min_absolute_improvement=0.0, non_inferiority={"recall": 0.02},
                      min_training_rows=300),
        reason="pathologists asked for a model they can read: try a three-level tree"))
    timeline.on(RETRAIN_DAY + 1, "11:20", partial(
        carol.training.train, "breast-cancer-screening", cause="an explainable candidate"))


def _retrain_after_faded_scans(alice) -> None:
    """What Retrain on the incident does (the Alerts page), with the incident as its cause."""
    (incident,) = [incident for incident in alice.monitoring.list_alerts(
        include_closed=True, model_name="digits-recognizer")
        if incident.cause == Cause.DRIFT.value]
    alice.training.train("digits-recognizer", trigger=Trigger.ALERT,
                         cause=f"asked from incident #{incident.id}: {incident.title}")


def _digits_files(folder: Path) -> tuple[Path, Path, tuple[str, ...]]:
    """The champion's training rows with faded copies of them, and its holdout rows, half of
    them faded as recent scans are."""
    import numpy as np
    import pandas as pd

    train, test = _split("digits")
    features = tuple(train.columns[:-1])
    faded_train = train.copy()
    faded_train[list(features)] = (faded_train[list(features)] * FADE).round()
    half = np.random.default_rng(3).random(len(test)) < 0.5
    test.loc[half, list(features)] = (test.loc[half, list(features)] * FADE).round()
    training, holdout = folder / "digits-training.csv", folder / "digits-holdout.csv"
    pd.concat([train, faded_train], ignore_index=True).to_csv(training, index=False)
    test.to_csv(holdout, index=False)
    return training, holdout, features


def _screening_files(folder: Path) -> tuple[Path, Path, tuple[str, ...]]:
    train, test = _split("breast_cancer")
    training = folder / "screening-training.csv"
    holdout = folder / "screening-holdout.csv"
    train.to_csv(training, index=False)
    test.to_csv(holdout, index=False)
    return training, holdout, tuple(train.columns[:-1])


def _split(dataset: str) -> tuple[Any, Any]:
    """The rows the demo's first versions were trained and scored on (build._load_dataset)."""
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    bunch = getattr(datasets, f"load_{dataset}")(as_frame=True)
    frame = bunch.data.assign(target=bunch.target)
    train, test = train_test_split(frame, test_size=0.25, random_state=7)
    return train.reset_index(drop=True), test.reset_index(drop=True)
