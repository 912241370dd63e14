"""Training from the command line, as a user runs it: a real subprocess on a real workspace."""

from __future__ import annotations

from sklearn.datasets import load_breast_cancer

from tests.conftest import run_cli


def cli(path, *args, user="alice"):
    return run_cli("-w", str(path), "-u", user, *args)


def test_recipe_train_and_inspect_the_run_from_the_cli(tmp_path):
    path = tmp_path / "team.db"
    assert run_cli("init", str(path)).returncode == 0
    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [name.replace(" ", "_") for name in frame.columns]
    data = tmp_path / "cancer.csv"
    frame.to_csv(data, index=False)
    features = ", ".join(f'"{name}"' for name in frame.columns if name != "target")
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(f"""
estimator = "LogisticRegression"
target = "target"
features = [{features}]
[hyperparameters]
max_iter = 2000
[source]
kind = "file"
path = "{data}"
[gate]
primary_metric = "roc_auc"
min_absolute_improvement = 0.001
""")
    assert cli(path, "model", "register", "cancer").returncode == 0

    saved = cli(path, "recipe", "set", "cancer", str(recipe), "--reason", "first recipe")
    assert saved.returncode == 0, saved.stderr
    assert "recipe r1: LogisticRegression predicting target from 30 features" in saved.stdout
    trained = cli(path, "train", "cancer", "--cause", "first version")
    assert trained.returncode == 0, trained.stderr
    assert "Training run #1: v1 registered" in trained.stdout and "roc_auc" not in trained.stderr
    assert "% Fitted in" in trained.stdout

    listing = cli(path, "training", "list", "cancer")
    assert "#1" in listing.stdout and "succeeded" in listing.stdout and "first version" in \
        listing.stdout
    shown = cli(path, "training", "show", "1", "--log")
    assert shown.returncode == 0 and "training started" in shown.stdout
    assert '"primary_metric": "roc_auc"' in cli(path, "recipe", "show", "cancer").stdout
    reproduced = cli(path, "reproduce", "cancer", "1")
    assert reproduced.returncode == 0, reproduced.stderr
    assert "cancer v1: reproduction verified" in reproduced.stdout


def test_training_bad_input_is_one_clear_line(tmp_path):
    path = tmp_path / "team.db"
    run_cli("init", str(path), check=True)
    assert cli(path, "model", "register", "cancer").returncode == 0
    no_recipe = cli(path, "train", "cancer")
    assert no_recipe.returncode == 2 and "has no training recipe yet" in no_recipe.stderr
    assert "Traceback" not in no_recipe.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text('estimator = "LogisticRegression"\ntarget = [\n')
    refused = cli(path, "recipe", "set", "cancer", str(broken), "--reason", "x")
    assert refused.returncode == 2 and "broken.toml is not valid TOML" in refused.stderr
    missing = cli(path, "recipe", "set", "cancer", str(tmp_path / "nope.toml"), "--reason", "x")
    assert missing.returncode == 2 and "Cannot read" in missing.stderr
