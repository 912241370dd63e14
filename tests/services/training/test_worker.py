"""Training recipes run in a worker process of their own: declarative and code recipes train,
and every kind of bad input or accident ends as a failed run with a clear message and its log."""

from __future__ import annotations

import os
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes

from modelledger.core.errors import InvalidInputError
from modelledger.core.monitoring import DataSource, RunStatus, SourceKind, Task
from modelledger.core.recipes import Recipe, RecipeKind, SplitKind, SplitRule, parse_recipe
from modelledger.services.training.worker import (
    LOG_NAME,
    TrainingJob,
    train_in_worker,
    train_now,
)


@pytest.fixture(scope="module")
def cancer(tmp_path_factory) -> tuple[Path, list[str]]:
    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [name.replace(" ", "_") for name in frame.columns]
    frame["clinic"] = ["north", "south", "east"] * (len(frame) // 3) + ["north"] * (len(frame) % 3)
    frame["seen"] = pd.date_range("2026-01-01", periods=len(frame), freq="h")
    path = tmp_path_factory.mktemp("data") / "cancer.csv"
    frame.to_csv(path, index=False)
    return path, [name for name in frame.columns if name not in ("target", "seen")]


def _recipe(path: Path, features: list[str], **changes) -> Recipe:
    settings = {"kind": RecipeKind.DECLARATIVE, "source": DataSource(SourceKind.FILE, str(path)),
                "target": "target", "features": tuple(features), "estimator": "LogisticRegression",
                "hyperparameters": {"max_iter": 2000}, "seed": 7}
    settings.update(changes)
    return Recipe(**settings)


def _job(recipe: Recipe, tmp_path: Path, code_path: str = "") -> TrainingJob:
    output = tmp_path / "run"
    output.mkdir(parents=True, exist_ok=True)
    return TrainingJob(recipe.to_dict(), str(output), datetime.now(UTC), code_path)


def _in_worker(job: TrainingJob, *, time_limit_s: float = 120, memory_limit_mb: int = 4096,
               cancelled: threading.Event | None = None, progress=None):
    return train_in_worker(job, progress or (lambda percent, text: None),
                           cancelled=cancelled or threading.Event(), time_limit_s=time_limit_s,
                           memory_limit_mb=memory_limit_mb)


def test_a_declarative_recipe_trains_in_a_worker_and_reports_what_it_read(cancer, tmp_path):
    path, features = cancer
    seen: list[str] = []
    outcome = _in_worker(_job(_recipe(path, features, class_weight="balanced"), tmp_path),
                         progress=lambda percent, text: seen.append(text))

    assert outcome.status is RunStatus.SUCCEEDED, outcome.log
    assert outcome.metrics["accuracy"] > 0.9 and outcome.metrics["roc_auc"] > 0.95
    assert (outcome.training_rows, outcome.holdout_rows) == (455, 114)
    assert outcome.data_reference["kind"] == "file" and len(outcome.data_reference["sha256"]) == 64
    assert outcome.parameters["model__class_weight"] == "balanced"
    assert outcome.fingerprint["rows"] == 455
    assert Path(outcome.model_path).is_file() and outcome.comparison is None
    assert "Fitted in" in outcome.log and "succeeded" in outcome.log
    assert any("training rows" in text for text in seen)


def test_the_same_recipe_and_seed_give_the_same_split_and_metrics(cancer, tmp_path):
    path, features = cancer
    recipe = _recipe(path, features, estimator="RandomForestClassifier",
                     hyperparameters={"n_estimators": 20})
    first = train_now(_job(recipe, tmp_path / "a"), lambda *_: None)
    second = train_now(_job(recipe, tmp_path / "b"), lambda *_: None)
    assert first.status is RunStatus.SUCCEEDED
    assert first.metrics == second.metrics and first.fingerprint == second.fingerprint


def test_a_time_split_holds_out_the_rows_from_the_cutoff_on(cancer, tmp_path):
    path, features = cancer
    recipe = _recipe(path, features, split=SplitRule(SplitKind.TIME, time_column="seen",
                                                     cutoff="2026-01-20"))
    outcome = train_now(_job(recipe, tmp_path), lambda *_: None)
    assert outcome.status is RunStatus.SUCCEEDED, outcome.error
    assert outcome.training_rows == 19 * 24 and outcome.holdout_rows == 569 - 19 * 24


def test_a_regression_recipe_from_toml(tmp_path):
    frame = load_diabetes(as_frame=True).frame
    frame.to_parquet(tmp_path / "diabetes.parquet")
    written = parse_recipe(f"""
        task = "regression"
        estimator = "Ridge"
        target = "target"
        features = ["age", "sex", "bmi", "bp", "s1", "s5"]
        [hyperparameters]
        alpha = 0.5
        [split]
        holdout_share = 0.25
        [source]
        kind = "file"
        path = "{tmp_path / 'diabetes.parquet'}"
        [gate]
        primary_metric = "rmse"
        min_relative_improvement = 0.02
        [schedule]
        cron = "0 3 * * 1"
        [on_incident]
        cooldown_hours = 48
        """)
    recipe = written.recipe
    assert written.gate is not None and written.gate.min_relative_improvement == 0.02
    assert written.schedule.describe() == "cron 0 3 * * 1 (UTC)"
    assert written.policy.on_incident and written.policy.cooldown_hours == 48
    outcome = train_now(_job(recipe, tmp_path), lambda *_: None)
    assert outcome.status is RunStatus.SUCCEEDED, outcome.error
    assert set(outcome.metrics) == {"mae", "rmse", "r2"} and outcome.metrics["r2"] > 0.3
    assert outcome.holdout_rows == round(442 * 0.25)


CODE_RECIPE = '''
from sklearn.ensemble import RandomForestClassifier

def train(frame, params):
    print("training with", sorted(params))
    model = RandomForestClassifier(n_estimators=params["trees"], random_state=0)
    return model.fit(frame.drop(columns="target"), frame["target"])
'''


def test_a_code_recipe_trains_and_its_prints_land_in_the_log(cancer, tmp_path):
    path, features = cancer
    numeric = [name for name in features if name != "clinic"]
    code = tmp_path / "train.py"
    code.write_text(CODE_RECIPE)
    recipe = _recipe(path, numeric, kind=RecipeKind.CODE, estimator="", code_sha256="a" * 64,
                     code_filename="train.py", parameters={"trees": 15})
    outcome = _in_worker(_job(recipe, tmp_path, str(code)))
    assert outcome.status is RunStatus.SUCCEEDED, outcome.log
    assert "training with ['trees']" in outcome.log
    assert outcome.parameters["n_estimators"] == 15


@pytest.mark.parametrize(("code", "message"), [
    ("def train(frame, params):\n    raise ValueError('no convergence')\n",
     "The recipe failed: ValueError: no convergence"),
    ("def train(frame, params):\n    return 42\n", "returned int, which has no predict()"),
    ("def fit(frame, params):\n    pass\n", "has no function train(frame, params)"),
])
def test_a_code_recipe_that_fails_ends_as_a_failed_run_with_its_traceback(cancer, tmp_path, code,
                                                                          message):
    path, features = cancer
    script = tmp_path / "train.py"
    script.write_text(code)
    recipe = _recipe(path, features, kind=RecipeKind.CODE, estimator="", code_sha256="b" * 64,
                     code_filename="train.py")
    outcome = _in_worker(_job(recipe, tmp_path, str(script)))
    assert outcome.status is RunStatus.FAILED
    assert message in outcome.error
    assert not outcome.model_path
    if "raise" in code:
        assert "Traceback" in outcome.log and "no convergence" in outcome.log


def test_bad_data_is_named(cancer, tmp_path):
    path, features = cancer
    missing_target = train_now(_job(_recipe(path, features, target="churned"), tmp_path),
                               lambda *_: None)
    assert missing_target.status is RunStatus.FAILED
    assert "no column churned" in missing_target.error

    one_class = tmp_path / "one_class.csv"
    pd.read_csv(path).assign(target=1).to_csv(one_class, index=False)
    outcome = train_now(_job(_recipe(one_class, features), tmp_path), lambda *_: None)
    assert "has one class (1)" in outcome.error

    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert "is empty" in train_now(_job(_recipe(empty, features), tmp_path),
                                   lambda *_: None).error

    tiny = tmp_path / "tiny.csv"
    pd.read_csv(path).head(100).to_csv(tiny, index=False)
    assert "leaves 20 holdout rows" in train_now(_job(_recipe(tiny, features), tmp_path),
                                                 lambda *_: None).error


SLOW_RECIPE = '''
import time
from pathlib import Path

def train(frame, params):
    Path(params["started"]).write_text("started")
    time.sleep(600)
'''


def _slow_job(cancer, tmp_path) -> tuple[TrainingJob, Path]:
    path, features = cancer
    script = tmp_path / "slow.py"
    script.write_text(SLOW_RECIPE)
    started = tmp_path / "started"
    recipe = _recipe(path, features, kind=RecipeKind.CODE, estimator="", code_sha256="c" * 64,
                     code_filename="slow.py", parameters={"started": str(started)})
    return _job(recipe, tmp_path, str(script)), started


def test_the_time_limit_stops_the_training(cancer, tmp_path):
    job, _ = _slow_job(cancer, tmp_path)
    outcome = _in_worker(job, time_limit_s=8)  # long enough to start on a busy machine
    assert outcome.status is RunStatus.FAILED
    assert "longer than its time limit of 8 s" in outcome.error
    assert "training started" in outcome.log


def test_a_worker_killed_mid_training_leaves_a_failed_run_and_no_model(cancer, tmp_path):
    job, started = _slow_job(cancer, tmp_path)
    killer = threading.Thread(target=_kill_the_trainer_once_started, args=(started, job))
    killer.start()
    outcome = _in_worker(job, time_limit_s=120)
    killer.join()
    assert outcome.status is RunStatus.FAILED
    assert "stopped unexpectedly (exit code -9)" in outcome.error
    assert not (Path(job.output_dir) / "model.skops").exists()


def _kill_the_trainer_once_started(started: Path, job: TrainingJob) -> None:
    import time

    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # polling a file another process writes: there is no signal to wait on
    log = (Path(job.output_dir) / LOG_NAME).read_text()
    pid = int(log.split("(process ")[1].split(")")[0])
    os.kill(pid, signal.SIGKILL)


def test_cancel_stops_the_training(cancer, tmp_path):
    job, _ = _slow_job(cancer, tmp_path)
    cancelled = threading.Event()

    def cancel_when_started(percent: int, text: str) -> None:
        if "training rows" in text:
            cancelled.set()

    outcome = _in_worker(job, cancelled=cancelled, progress=cancel_when_started)
    assert outcome.status is RunStatus.CANCELLED


def test_the_memory_limit_turns_a_runaway_recipe_into_a_clear_failure(cancer, tmp_path):
    path, features = cancer
    script = tmp_path / "greedy.py"
    script.write_text("def train(frame, params):\n    return bytearray(8 * 1024 ** 3)\n")
    recipe = _recipe(path, features, kind=RecipeKind.CODE, estimator="", code_sha256="d" * 64,
                     code_filename="greedy.py", memory_limit_mb=1500)
    outcome = _in_worker(_job(recipe, tmp_path, str(script)), memory_limit_mb=1500)
    assert outcome.status is RunStatus.FAILED
    assert "ran out of memory (its limit is 1500 MB)" in outcome.error


@pytest.mark.parametrize(("text", "message"), [
    ('estimator = "LogisticRegression"\ntarget = "y"\nfeatures = ["a"]\n',
     "needs a data source"),
    ('estimator = "SVC"\ntarget = "y"\nfeatures = ["a"]\n[source]\nkind = "file"\npath = "x.csv"',
     "Unknown estimator 'SVC'"),
    ('estimator = "Ridge"\ntarget = "y"\nfeatures = ["a"]\n[source]\nkind = "file"\npath = "x"',
     "Ridge solves regression, but the recipe is for classification"),
    ('estimator = "Ridge"\ntask = "regression"\ntarget = "y"\nfeatures = ["a"]\ncolour = 1\n'
     '[source]\nkind = "file"\npath = "x.csv"', "Unknown recipe setting(s): colour"),
    ('target = "y"\nfeatures = ["y"]\nestimator = "Ridge"\ntask = "regression"\n'
     '[source]\nkind = "file"\npath = "x.csv"', "cannot also be a feature"),
    ('estimator = "Ridge"\ntask = "regression"\ntarget = "y"\nfeatures = ["a"]\n'
     '[split]\nkind = "time"\ntime_column = "t"\ncutoff = "soon"\n[source]\nkind = "file"\n'
     'path = "x.csv"', "must be an ISO date"),
    ("target = [", "is not valid TOML"),
    ('estimator = "Ridge"\ntask = "regression"\ntarget = "y"\nfeatures = ["a"]\n'
     '[source]\nkind = "file"\npath = "x.csv"\n[schedule]\nhourly = true',
     "Unknown schedule setting(s): hourly"),
    ('estimator = "Ridge"\ntask = "regression"\ntarget = "y"\nfeatures = ["a"]\n'
     '[source]\nkind = "file"\npath = "x.csv"\n[schedule]\n',
     "needs either cron"),
])
def test_bad_recipes_are_refused_with_what_is_wrong(text, message):
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_recipe(text)


def test_a_recipe_is_stored_and_read_back_whole(cancer):
    path, features = cancer
    recipe = _recipe(path, features, class_weight={"0": 2.0, "1": 1.0}, task=Task.CLASSIFICATION,
                     split=SplitRule(SplitKind.TIME, time_column="seen", cutoff="2026-01-20"))
    assert Recipe.from_dict(recipe.to_dict()) == recipe
    assert "LogisticRegression predicting target" in recipe.describe()


def test_a_challenger_is_compared_with_the_champion_on_the_same_holdout_rows(cancer, tmp_path):
    from modelledger.core.challenger import Comparison

    path, features = cancer
    numeric = [name for name in features if name != "clinic"]
    champion = train_now(_job(_recipe(path, numeric, estimator="DecisionTreeClassifier",
                                      hyperparameters={"max_depth": 1}), tmp_path / "champion"),
                         lambda *_: None)
    assert champion.status is RunStatus.SUCCEEDED
    job = TrainingJob(_recipe(path, features).to_dict(), str(tmp_path), datetime.now(UTC),
                      champion_path=champion.model_path, champion_format="skops",
                      slice_column="clinic")
    outcome = train_now(job, lambda *_: None)

    assert outcome.status is RunStatus.SUCCEEDED, outcome.error
    comparison = Comparison.from_dict(outcome.comparison)
    assert comparison.rows == outcome.holdout_rows == 114
    accuracy = comparison.difference("accuracy")
    assert accuracy.challenger == pytest.approx(outcome.metrics["accuracy"])
    assert accuracy.champion == pytest.approx(champion.metrics["accuracy"])
    assert comparison.difference("roc_auc").improvement > 0
    assert {s.value for s in comparison.slices} == {"north", "south", "east"}
