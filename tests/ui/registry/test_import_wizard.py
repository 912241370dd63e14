"""The import wizard driven like a user: real model files, a real workspace, real worker threads."""

from __future__ import annotations

import os
import pickle
import re
import time

import numpy as np
import pytest
import shiboken6
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QAbstractButton, QApplication, QDialog, QLabel, QWizard
from sklearn.linear_model import LogisticRegression
from skops.io import dump

from modelledger.core.domain import ArtifactFormat, EventFilter, RiskTier
from modelledger.core.errors import InvalidInputError
from modelledger.ui.registry.import_wizard import (
    COPYING_TEXT,
    PAGE_DETAILS,
    PAGE_FILE,
    PAGE_IMPORT,
    PAGE_TRUST,
    ImportWizard,
    parse_metrics,
)
from tests.ui.conftest import write_and_wait

Button = QWizard.WizardButton
BIG_FILE_MEGABYTES = 200


@pytest.fixture(scope="module")
def fitted():
    features = np.array([[30.0, 1], [40, 0], [50, 3], [60, 2], [35, 0], [45, 1]])
    return LogisticRegression(C=0.7).fit(features, [0, 1, 0, 1, 0, 1])


@pytest.fixture
def skops_file(tmp_path, fitted):
    path = tmp_path / "credit.skops"
    dump(fitted, path)
    return path


@pytest.fixture
def pickle_file(tmp_path, fitted):
    path = tmp_path / "scorecard.pkl"
    path.write_bytes(pickle.dumps(fitted))
    return path


@pytest.fixture(scope="module")
def big_joblib_file(tmp_path_factory):
    """~200 MB that starts like a pickle: stored, never unpickled without trust."""
    path = tmp_path_factory.mktemp("big") / "huge-model.joblib"
    block = os.urandom(1 << 20)
    with path.open("wb") as handle:
        handle.write(b"\x80\x04")
        for _ in range(BIG_FILE_MEGABYTES):
            handle.write(block)
    return path


@pytest.fixture
def open_wizard(qtbot, session):
    opened = []

    def open_(**options) -> ImportWizard:
        wizard = ImportWizard(session, **options)
        opened.append(wizard)
        wizard.open()
        qtbot.waitUntil(lambda: wizard.model_page.models_loaded, timeout=5000)
        return wizard

    yield open_
    for wizard in opened:
        if shiboken6.isValid(wizard):
            if wizard.import_page.is_running:
                with qtbot.waitSignal(wizard.import_page.running_changed, timeout=20_000):
                    wizard.import_page.cancel()
            wizard.close()


@pytest.fixture
def scorecard(qtbot, session):
    write_and_wait(qtbot, session, lambda: session.workspace.registry.register_model("scorecard"))
    return "scorecard"


def click(wizard: ImportWizard, which: QWizard.WizardButton) -> None:
    button = wizard.button(which)
    assert button.isVisible() and button.isEnabled(), f"'{button.text()}' cannot be pressed"
    button.click()


def import_button(wizard: ImportWizard) -> QAbstractButton:
    # The details page is a commit page until an import failed, then a normal one.
    return wizard.button(Button.CommitButton if wizard.details_page.isCommitPage()
                         else Button.NextButton)


def choose_file(qtbot, wizard: ImportWizard, path) -> None:
    page = wizard.file_page
    page.set_model_file(path)
    qtbot.waitUntil(lambda: page.isComplete() or page.error_label.isVisible(), timeout=5000)


def go_to_details(qtbot, wizard: ImportWizard, model_file) -> None:
    """From the model page to the details page, leaving a pickle untrusted."""
    click(wizard, Button.NextButton)
    choose_file(qtbot, wizard, model_file)
    click(wizard, Button.NextButton)
    if wizard.currentId() == PAGE_TRUST:
        click(wizard, Button.NextButton)
    assert wizard.currentId() == PAGE_DETAILS


def run_import(qtbot, wizard: ImportWizard, timeout: int = 30_000):
    with qtbot.waitSignal(wizard.finished_import, timeout=timeout) as imported:
        assert import_button(wizard).text() == "&Import"
        import_button(wizard).click()
    return imported.args[0]


def actions(session) -> list[str]:
    return [event.action for event in session.workspace.audit.list_events(limit=1000)]


def test_register_a_new_model_with_a_skops_file(qtbot, session, open_wizard, skops_file):
    wizard = open_wizard(register_new=True)
    page = wizard.model_page
    assert page.new_radio.isChecked() and page.owner_edit.text() == "alice"
    assert not wizard.button(Button.NextButton).isEnabled()
    qtbot.keyClicks(page.name_edit, "credit-risk")
    page.risk_combo.setCurrentIndex(page.risk_combo.findData(RiskTier.HIGH))
    page.purpose_edit.setText("Approve consumer loans")
    click(wizard, Button.NextButton)
    assert wizard.currentId() == PAGE_FILE
    choose_file(qtbot, wizard, skops_file)
    assert wizard.file_page.file_format is ArtifactFormat.SKOPS
    assert "safe" in wizard.file_page.format_label.text()
    click(wizard, Button.NextButton)
    assert wizard.currentId() == PAGE_DETAILS, "skops needs no trust page"
    wizard.details_page.metrics_edit.setPlainText("auc = 0.81\n\nks=0.42\n")

    version = run_import(qtbot, wizard)

    assert wizard.currentId() == PAGE_IMPORT
    assert (version.model_name, version.version_number) == ("credit-risk", 1)
    stored = session.workspace.registry.get_version("credit-risk", 1)
    assert stored.estimator_class.endswith("LogisticRegression")
    assert stored.parameters["C"] == 0.7
    assert stored.metrics == {"auc": 0.81, "ks": 0.42}
    assert session.workspace.registry.get_model("credit-risk").risk_tier is RiskTier.HIGH
    assert {"model.registered", "version.created"} <= set(actions(session))
    result = wizard.import_page.result_label.text()
    assert result.startswith(
        f"credit-risk v1 registered, artifact sha256 {stored.artifact.sha256[:12]}…")
    assert not wizard.button(Button.BackButton).isEnabled(), "a finished import is final"
    with qtbot.waitSignal(wizard.finished) as closed:
        click(wizard, Button.FinishButton)
    assert closed.args == [QDialog.DialogCode.Accepted.value]


def test_pickle_is_stored_unopened_unless_trusted(qtbot, session, open_wizard, scorecard,
                                                   pickle_file):
    wizard = open_wizard(model_name=scorecard)
    assert wizard.model_page.model_name() == scorecard
    click(wizard, Button.NextButton)
    choose_file(qtbot, wizard, pickle_file)
    click(wizard, Button.NextButton)
    assert wizard.currentId() == PAGE_TRUST
    trust = wizard.trust_page
    assert not trust.trust_checkbox.isChecked(), "trust is never the default"
    assert "runs whatever code" in trust.explanation_label.text()
    assert "not extracted" in trust.consequence_label.text()
    click(wizard, Button.NextButton)
    untrusted = run_import(qtbot, wizard)
    assert untrusted.artifact.format is ArtifactFormat.PICKLE
    assert untrusted.parameters == {} and untrusted.estimator_class == ""
    assert "not trusted" in wizard.import_page.result_label.text()
    assert "artifact.trusted" not in actions(session)
    click(wizard, Button.FinishButton)

    wizard = open_wizard(model_name=scorecard)
    click(wizard, Button.NextButton)
    choose_file(qtbot, wizard, pickle_file)
    click(wizard, Button.NextButton)
    trust = wizard.trust_page
    trust.trust_checkbox.setChecked(True)
    assert not wizard.button(Button.NextButton).isEnabled(), "trust needs a reason"
    qtbot.keyClicks(trust.reason_edit, "trained by our team")
    click(wizard, Button.NextButton)
    trusted = run_import(qtbot, wizard)
    assert trusted.version_number == 2 and trusted.parameters["C"] == 0.7
    events = session.workspace.audit.list_events(EventFilter(action_prefix="artifact.trusted"))
    assert [(event.entity_id, event.reason) for event in events] == [
        (trusted.artifact.sha256, "trained by our team")]


def test_trust_is_for_one_file(qtbot, open_wizard, scorecard, pickle_file, tmp_path, fitted):
    wizard = open_wizard(model_name=scorecard)
    click(wizard, Button.NextButton)
    choose_file(qtbot, wizard, pickle_file)
    click(wizard, Button.NextButton)
    wizard.trust_page.trust_checkbox.setChecked(True)
    wizard.trust_page.reason_edit.setText("ours")
    click(wizard, Button.BackButton)
    other = tmp_path / "other.pkl"
    other.write_bytes(pickle.dumps(fitted, protocol=4))
    choose_file(qtbot, wizard, other)
    click(wizard, Button.NextButton)
    assert not wizard.trust_page.trust_checkbox.isChecked()
    assert wizard.trust_page.trust_reason() is None


def test_dropping_a_file_on_the_page_picks_it(qtbot, open_wizard, scorecard, skops_file,
                                              pickle_file):
    wizard = open_wizard(model_name=scorecard)
    click(wizard, Button.NextButton)
    page = wizard.file_page
    assert "Drop a model file here" in page.drop_zone.text()

    def drag_enter(urls: list[QUrl]) -> bool:
        mime = QMimeData()
        mime.setUrls(urls)
        event = QDragEnterEvent(QPoint(20, 20), Qt.DropAction.CopyAction, mime,
                                Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(page, event)
        return event.isAccepted()

    assert not drag_enter([QUrl.fromLocalFile(str(skops_file)),
                           QUrl.fromLocalFile(str(pickle_file))]), "only one file at a time"
    assert not drag_enter([QUrl("https://example.com/model.skops")]), "only local files"
    assert drag_enter([QUrl.fromLocalFile(str(skops_file))])
    assert page.drop_zone.property("dragActive") is True

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(skops_file))])
    drop = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(page, drop)
    assert drop.isAccepted()
    assert page.drop_zone.property("dragActive") is False
    qtbot.waitUntil(page.isComplete, timeout=5000)
    assert page.model_file == skops_file and page.file_format is ArtifactFormat.SKOPS
    assert page.path_edit.text() == str(skops_file)


def test_a_file_that_is_not_a_model_is_refused_before_anything_is_written(
        qtbot, session, open_wizard, tmp_path):
    fake = tmp_path / "model.skops"
    fake.write_bytes(b"not a model" + os.urandom(4096))
    events_before = actions(session)
    wizard = open_wizard(register_new=True)
    wizard.model_page.name_edit.setText("fraud")
    click(wizard, Button.NextButton)
    choose_file(qtbot, wizard, fake)
    message = wizard.file_page.error_label.text()
    assert "says it is a .skops model file, but its content is not one" in message
    assert not wizard.button(Button.NextButton).isEnabled()
    assert session.workspace.registry.list_models() == []
    assert actions(session) == events_before


def test_invalid_inputs_say_what_is_wrong(qtbot, open_wizard, scorecard):
    wizard = open_wizard(register_new=True)
    page = wizard.model_page
    page.name_edit.setText(scorecard)
    assert "already exists" in page.error_label.text()
    assert not wizard.button(Button.NextButton).isEnabled()
    page.name_edit.setText("-bad name!")
    assert "letters, digits" in page.error_label.text()
    page.name_edit.setText("fraud")
    assert not page.error_label.isVisible()
    click(wizard, Button.NextButton)
    wizard.file_page.no_artifact_checkbox.setChecked(True)
    click(wizard, Button.NextButton)
    details = wizard.details_page
    details.metrics_edit.setPlainText("auc=0.8\nks 0.4")
    assert details.error_label.text().startswith("Metrics line 2 ('ks 0.4')")
    assert not import_button(wizard).isEnabled()
    details.metrics_edit.setPlainText("auc=0.8")
    details.training_data_edit.setText("/data/train.txt")
    assert "Training data must be a .csv" in details.error_label.text()
    assert not import_button(wizard).isEnabled()


def test_parse_metrics():
    assert parse_metrics(" auc = 0.81 \n\nks=1e-1") == {"auc": 0.81, "ks": 0.1}
    for text, message in [("auc", "line 1"), ("auc=0,8", "Use a dot"), ("a=1\na=2", "earlier"),
                          ("a=nan", "finite"), ("=3", "name=value")]:
        with pytest.raises(InvalidInputError, match=message):
            parse_metrics(text)


def test_new_model_whose_version_fails_is_explained_and_retried(qtbot, session, open_wizard,
                                                                skops_file, tmp_path):
    empty_data = tmp_path / "train.csv"
    empty_data.write_text("age,debt\n")
    wizard = open_wizard(register_new=True)
    wizard.model_page.name_edit.setText("credit-risk")
    go_to_details(qtbot, wizard, skops_file)
    wizard.details_page.training_data_edit.setText(str(empty_data))
    with qtbot.waitSignal(wizard.import_page.running_changed,
                          check_params_cb=lambda running: not running, timeout=20_000):
        import_button(wizard).click()

    message = wizard.import_page.error_label.text()
    assert "has no rows" in message
    assert "'credit-risk' was registered, but no version was imported" in message
    assert "Traceback" not in message
    assert wizard.currentId() == PAGE_IMPORT
    assert session.workspace.registry.list_versions("credit-risk") == []
    click(wizard, Button.BackButton)
    assert not wizard.model_page.is_new(), "the retry adds the version to the registered model"
    wizard.details_page.training_data_edit.clear()
    version = run_import(qtbot, wizard)
    assert (version.model_name, version.version_number) == ("credit-risk", 1)


def test_missing_training_data_fails_before_the_model_file_is_copied(
        qtbot, session, open_wizard, scorecard, skops_file, tmp_path):
    wizard = open_wizard(model_name=scorecard)
    go_to_details(qtbot, wizard, skops_file)
    wizard.details_page.training_data_edit.setText(str(tmp_path / "gone.csv"))
    with qtbot.waitSignal(wizard.import_page.running_changed, timeout=10_000,
                          check_params_cb=lambda running: not running):
        import_button(wizard).click()
    assert "gone.csv does not exist" in wizard.import_page.error_label.text()
    assert "Nothing was imported" in wizard.import_page.error_label.text()
    assert not (session.workspace.artifacts.root / "sha256").exists()


def test_cancel_during_a_large_import_leaves_nothing_behind(qtbot, session, open_wizard,
                                                            scorecard, big_joblib_file):
    wizard = open_wizard(model_name=scorecard)
    go_to_details(qtbot, wizard, big_joblib_file)
    import_button(wizard).click()
    page = wizard.import_page
    assert page.is_running and page.cancel_button.isVisible()
    assert not wizard.button(Button.BackButton).isEnabled()
    with qtbot.waitSignal(page.task.progressed, timeout=10_000,
                          check_params_cb=lambda done, total, text: text == COPYING_TEXT
                          and 0 < done < total):
        pass
    with qtbot.waitSignal(page.running_changed, timeout=20_000):
        page.cancel_button.click()

    assert "Import cancelled. Nothing was stored." in page.status_label.text()
    assert session.workspace.registry.list_versions(scorecard) == []
    assert not {"artifact.stored", "version.created"} & set(actions(session))
    staging = session.workspace.artifacts.root / "tmp"
    assert list(staging.iterdir()) == []
    assert not (session.workspace.artifacts.root / "sha256").exists()
    assert wizard.button(Button.BackButton).isEnabled(), "the user may fix and retry"
    assert wizard.button(Button.CancelButton).isVisible()


def test_escape_during_an_import_cancels_it_instead_of_closing(qtbot, open_wizard, scorecard,
                                                              big_joblib_file):
    wizard = open_wizard(model_name=scorecard)
    go_to_details(qtbot, wizard, big_joblib_file)
    import_button(wizard).click()
    with qtbot.waitSignal(wizard.import_page.running_changed, timeout=20_000):
        qtbot.keyClick(wizard, Qt.Key.Key_Escape)
    assert wizard.isVisible()
    assert "cancelled" in wizard.import_page.status_label.text()


def test_the_window_stays_responsive_during_a_large_import(qtbot, session, open_wizard,
                                                           scorecard, big_joblib_file):
    wizard = open_wizard(model_name=scorecard)
    go_to_details(qtbot, wizard, big_joblib_file)
    gaps = []
    last_tick = time.perf_counter()

    def on_tick():
        nonlocal last_tick
        now = time.perf_counter()
        gaps.append(now - last_tick)
        last_tick = now

    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(10)
    timer.timeout.connect(on_tick)
    timer.start()
    last_tick = time.perf_counter()
    version = run_import(qtbot, wizard)
    timer.stop()

    assert version.artifact.size_bytes == BIG_FILE_MEGABYTES * (1 << 20) + 2
    assert len(gaps) > 10
    assert max(gaps) < 0.1, f"the event loop stalled for {max(gaps) * 1000:.0f} ms"


def test_mnemonics_are_unique_on_every_page(open_wizard, scorecard):
    wizard = open_wizard(model_name=scorecard)
    for page in (wizard.model_page, wizard.file_page, wizard.trust_page,
                 wizard.details_page, wizard.import_page):
        texts = [widget.text() for widget in page.findChildren(QAbstractButton)]
        texts += [label.text() for label in page.findChildren(QLabel) if label.buddy()]
        keys = [match.lower() for text in texts for match in re.findall(r"&(\w)", text)]
        assert len(keys) == len(set(keys)), f"{page.objectName()}: {texts}"
