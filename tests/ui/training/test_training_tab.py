"""The Training tab driven through the real window: write a recipe in the form, train with
progress, see the champion-vs-challenger evidence and the gate, open the request it made."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from sklearn.datasets import load_breast_cancer

from modelledger.core.domain import Role, Stage
from modelledger.core.monitoring import DataSource, SourceKind
from modelledger.core.promotion_gate import GateRule
from modelledger.core.recipes import Recipe, RecipeKind
from tests.conftest import person


@pytest.fixture
def cancer_csv(tmp_path):
    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [name.replace(" ", "_") for name in frame.columns]
    path = tmp_path / "cancer.csv"
    frame.to_csv(path, index=False)
    return path, tuple(name for name in frame.columns if name != "target")


def _training_tab(qtbot, open_window, workspace, name="churn"):
    window = open_window(workspace)
    detail = window.pages["Models"].detail
    with qtbot.waitSignal(detail.loaded, timeout=20_000):
        window.show_model(name)
    detail.tabs.setCurrentWidget(detail.training_tab)
    tab = detail.training_view
    qtbot.waitUntil(lambda: tab.gate_summary.text() != "", timeout=20_000)
    return window, detail, tab


def _a_challenger_that_passed(workspace, cancer_csv):
    """churn v1 (a one-split tree) in production, approved by bob; v2 (logistic regression)
    trained by alice, through the gate, with a promotion request waiting for bob."""
    path, features = cancer_csv
    bob = person(workspace, "bob", Role.VALIDATOR)
    training = workspace.training
    workspace.registry.register_model("churn", owner="alice", reason="new model")
    source = DataSource(SourceKind.FILE, str(path))
    training.save_recipe("churn", Recipe(RecipeKind.DECLARATIVE, source, "target", features,
                                         estimator="DecisionTreeClassifier",
                                         hyperparameters={"max_depth": 1}), reason="baseline")
    training.train("churn")
    workspace.registry.move_to_stage("churn", 1, Stage.STAGING, "baseline")
    bob.registry.approve_promotion(
        workspace.registry.request_promotion("churn", 1, "baseline").id, "ok")
    training.save_recipe("churn", Recipe(RecipeKind.DECLARATIVE, source, "target", features,
                                         estimator="LogisticRegression",
                                         hyperparameters={"max_iter": 2000}),
                         gate=GateRule("roc_auc", min_absolute_improvement=0.01),
                         reason="linear model")
    passed = training.train("churn")
    assert passed.gate.passed
    return bob, passed


def test_a_recipe_written_in_the_form_trains_a_version(qtbot, open_window, workspace,
                                                       cancer_csv):
    path, features = cancer_csv
    workspace.registry.register_model("churn", owner="alice", reason="new model")
    window, _, tab = _training_tab(qtbot, open_window, workspace)
    assert "No training recipe" in tab.recipe_label.text()
    assert not tab.train_button.isEnabled() and "Write a recipe first" in \
        tab.train_button.toolTip()
    assert tab.empty_label.isVisible()

    tab.edit_recipe()
    dialog = tab.recipe_dialog
    assert not dialog.save_button.isEnabled()
    with qtbot.waitSignal(dialog.columns_loaded, timeout=20_000):
        dialog.data_edit.setText(str(path))
        dialog._load_columns()
    assert dialog.target_combo.currentText() == "target"
    assert dialog.features() == list(features)
    dialog.features_list.item(0).setCheckState(Qt.CheckState.Unchecked)
    dialog.hyperparameters_edit.setText("{max_iter: 2000}")
    assert "must be JSON" in dialog.problem_label.text()
    dialog.hyperparameters_edit.setText('{"max_iter": 2000}')
    dialog.schedule_combo.setCurrentIndex(dialog.schedule_combo.findData("custom"))
    dialog.cron_edit.setText("0 3 * *")
    dialog.reason_edit.setPlainText("first recipe")
    assert "needs five fields" in dialog.problem_label.text()
    dialog.cron_edit.setText("0 3 * * 1")
    dialog.incident_check.setChecked(True)
    assert dialog.save_button.isEnabled(), dialog.problem_label.text()
    dialog.save_button.click()
    qtbot.waitUntil(lambda: "Recipe r1" in tab.recipe_label.text(), timeout=30_000)
    assert "from 29 features" in tab.recipe_label.text()
    assert "Gate: roc_auc better by at least 0.005" in tab.gate_summary.text()
    assert "Retrains cron 0 3 * * 1 (UTC) and on critical incidents" in tab.gate_summary.text()

    qtbot.waitUntil(tab.train_button.isEnabled, timeout=20_000)
    progress: list[str] = []
    with qtbot.waitSignal(tab.training_finished, timeout=120_000) as finished:
        tab.train_now()
        assert tab.progress.isVisible() and tab.cancel_button.isVisible()
        tab._task.progressed.connect(lambda done, total, text: progress.append(text))
    run = finished.args[0]
    assert run.version_number == 1
    assert any("training rows" in text for text in progress)
    qtbot.waitUntil(lambda: tab.runs_model.rowCount() == 1, timeout=20_000)
    assert "v1 registered" in tab.run_title.text()
    assert "No champion to compare with" in tab.test_label.text()
    assert "training started" in tab.log_view.toPlainText()
    qtbot.waitUntil(lambda: not tab.progress.isVisible(), timeout=20_000)
    window.grab().save(str(path.with_name("training-first.png")))

    assert tab.reproduce_button.isVisible()
    with qtbot.waitSignal(tab.reproduced, timeout=120_000) as reproduced:
        tab.reproduce_button.click()
    assert reproduced.args[0].verified
    assert "Reproduction verified" in tab.progress_label.text()


def test_the_evidence_of_a_challenger_that_passed_the_gate(qtbot, open_window, workspace,
                                                           cancer_csv):
    path, _ = cancer_csv
    _, passed = _a_challenger_that_passed(workspace, cancer_csv)

    window, detail, tab = _training_tab(qtbot, open_window, workspace)
    qtbot.waitUntil(lambda: tab.runs_model.rowCount() == 2, timeout=20_000)
    assert tab.selected_run().id == passed.id  # the newest run is shown
    assert "gate passed, promotion request" in tab.run_title.text()
    assert tab.differences_table.rowCount() == len(passed.comparison.differences)
    metrics = [tab.differences_table.item(row, 0).text()
               for row in range(tab.differences_table.rowCount())]
    assert "roc_auc" in metrics and "accuracy" in metrics
    assert "McNemar exact" in tab.test_label.text()
    assert "Gate passed" in tab.gate_label.text() and "✓" in tab.gate_label.text()
    assert tab.chart.comparison == passed.comparison
    assert tab.request_button.isVisible()
    axis = tab.chart.plotItem.getAxis("left")  # wide enough for every metric's name
    qtbot.waitUntil(lambda: axis.width() == axis.fixedWidth > 60, timeout=20_000)
    window.grab().save(str(path.with_name("training-evidence.png")))

    tab.request_button.click()
    assert detail.tabs.currentWidget() is detail.requests_table
    qtbot.waitUntil(lambda: detail.requests_table.selectionModel().hasSelection(), timeout=20_000)


def test_the_approver_sees_the_evidence_in_the_approval_dialog(qtbot, open_window, workspace,
                                                              cancer_csv):
    path, _ = cancer_csv
    bob, _ = _a_challenger_that_passed(workspace, cancer_csv)

    window = open_window(bob)
    detail = window.pages["Models"].detail
    with qtbot.waitSignal(detail.loaded, timeout=20_000):
        window.show_model("churn")
    detail.tabs.setCurrentWidget(detail.versions_splitter)
    qtbot.waitUntil(lambda: detail.versions_model.row_of_key(2) is not None, timeout=20_000)
    detail.select_version(2)
    qtbot.waitUntil(detail.approve_button.isEnabled, timeout=20_000)
    dialog = detail.decide_request(approve=True)
    qtbot.waitUntil(dialog.evidence_view.isVisible, timeout=20_000)
    evidence = dialog.evidence_view.toPlainText()
    assert "v2 against champion v1" in evidence and "roc_auc" in evidence
    assert "Gate passed" in evidence and "McNemar exact" in evidence
    dialog.grab().save(str(path.with_name("approval-evidence.png")))
    dialog.reject()
