"""Lifecycle actions driven through the real window: request, approve, refuse, roll back."""

import json

from PySide6.QtWidgets import QApplication, QMessageBox

from modelledger.core.domain import RequestStatus, Role, Stage
from modelledger.ui.shell.main_window import MainWindow
from tests.conftest import person


def _window_for(qtbot, workspace, user: str) -> MainWindow:
    window = MainWindow()
    qtbot.addWidget(window)
    window.resize(1200, 800)
    window.show()
    window.set_workspace(workspace.as_user(user))
    return window


def _open_detail(qtbot, window: MainWindow, name: str, version: int):
    detail = window.pages["Models"].detail
    with qtbot.waitSignal(detail.loaded, timeout=5000):
        window.show_model(name)
    detail.tabs.setCurrentWidget(detail.versions_splitter)
    qtbot.waitUntil(lambda: detail.versions_model.row_of_key(version) is not None, timeout=5000)
    detail.versions_table.clearSelection()
    detail.select_version(version)
    return detail


def _answer(qtbot, dialog, reason: str) -> None:
    dialog.reason_edit.setPlainText(reason)
    assert dialog.ok_button.isEnabled()
    dialog.ok_button.click()


def _audit_actions(workspace) -> list[str]:
    return [event.action for event in workspace.audit.list_events(limit=50)]


def test_promotion_needs_someone_else_and_shows_in_the_timeline(qtbot, workspace):
    registry = workspace.registry
    person(workspace, "bob", Role.VALIDATOR)
    registry.register_model("churn")
    registry.add_version("churn")
    registry.move_to_stage("churn", 1, Stage.STAGING, "ready for validation")
    alice = _window_for(qtbot, workspace, "alice")
    detail = _open_detail(qtbot, alice, "churn", 1)
    qtbot.waitUntil(detail.request_button.isEnabled, timeout=5000)
    with qtbot.waitSignal(detail.action_done, timeout=5000) as done:
        _answer(qtbot, detail.request_promotion(), "validation report VR-12 signed off")
    assert "request #" in done.args[0]
    # alice (the admin who asked) may not decide it: her role does not validate, and the
    # button says so instead of failing when pressed
    qtbot.waitUntil(lambda: "needs the role validator" in detail.approve_button.toolTip(),
                    timeout=5000)
    assert not detail.approve_button.isEnabled() and not detail.reject_button.isEnabled()
    assert "alice is an admin" in detail.approve_button.toolTip()
    # asked anyway (a shortcut, a script): the service refuses, first by the four-eyes rule
    _answer(qtbot, detail.decide_request(approve=True), "looks fine to me")
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), QMessageBox),
                    timeout=5000)
    refusal = QApplication.activeModalWidget()
    assert refusal.windowTitle() == "A second person must approve"
    assert "cannot also approve" in refusal.text()
    refusal.close()
    assert registry.get_version("churn", 1).stage is Stage.STAGING
    rejection = detail.decide_request(approve=False)
    assert rejection.conditions_edit is None  # only an approval has conditions
    rejection.reject()

    bob = _window_for(qtbot, workspace, "bob")
    bob_detail = _open_detail(qtbot, bob, "churn", 1)
    qtbot.waitUntil(bob_detail.approve_button.isEnabled, timeout=5000)
    with qtbot.waitSignal(bob_detail.action_done, timeout=5000) as done:
        approval = bob_detail.decide_request(approve=True)
        approval.conditions_edit.setText("quarterly backtest")
        _answer(qtbot, approval, "independent review passed")
    assert "now in production" in done.args[0]
    [approved] = [e for e in workspace.audit.list_events(limit=50)
                  if e.action == "promotion.approved"]
    assert json.loads(approved.after)["conditions"] == "quarterly backtest"
    assert registry.get_version("churn", 1).stage is Stage.PRODUCTION
    [request] = registry.list_promotion_requests(model_name="churn")
    assert (request.status, request.decided_by) == (RequestStatus.APPROVED, "bob")

    # alice's window learns of bob's approval by itself and lists the event
    qtbot.waitUntil(lambda: any(e.action == "promotion.approved"
                                for e in detail.activity_model.rows()), timeout=5000)
    qtbot.waitUntil(lambda: detail.versions_model.row(0).stage is Stage.PRODUCTION,
                    timeout=5000)
    assert _audit_actions(workspace)[:2] == ["stage.promotion", "promotion.approved"]
    alice.close()
    bob.close()


def test_rollback_and_archive_from_the_detail_page(qtbot, workspace):
    registry = workspace.registry
    registry.set_four_eyes_required(False, "single-analyst test workspace")
    registry.register_model("churn")
    for number in (1, 2):
        registry.add_version("churn")
        registry.move_to_stage("churn", number, Stage.STAGING, "validated")
        registry.approve_promotion(registry.request_promotion("churn", number, "ship").id, "ok")
    registry.add_version("churn")
    window = _window_for(qtbot, workspace, "alice")
    detail = _open_detail(qtbot, window, "churn", 1)
    qtbot.waitUntil(detail.rollback_button.isEnabled, timeout=5000)
    with qtbot.waitSignal(detail.action_done, timeout=5000) as done:
        _answer(qtbot, detail.rollback_to_selected(), "v2 mis-scores thin-file applicants")
    assert "in production again" in done.args[0]
    assert registry.get_version("churn", 1).stage is Stage.PRODUCTION
    assert registry.get_version("churn", 2).stage is Stage.ARCHIVED
    assert _audit_actions(workspace)[0] == "stage.rollback"

    qtbot.waitUntil(lambda: detail.versions_model.row(1).stage is Stage.ARCHIVED, timeout=5000)
    detail.versions_table.clearSelection()
    detail.select_version(3)
    assert detail.move_actions[Stage.ARCHIVED].isEnabled()
    assert not detail.rollback_button.isEnabled()  # v3 was never in production
    with qtbot.waitSignal(detail.action_done, timeout=5000):
        _answer(qtbot, detail.move_selected_version(Stage.ARCHIVED), "superseded experiment")
    assert registry.get_version("churn", 3).stage is Stage.ARCHIVED
    history = detail.history_model
    qtbot.waitUntil(lambda: history.rowCount() and history.row(0).version_number == 3
                    and history.row(0).to_stage is Stage.ARCHIVED, timeout=5000)
    window.close()


def test_every_table_of_the_model_page_and_portfolio_passes_the_model_tester(
        qtbot, qtmodeltester, workspace):
    registry = workspace.registry
    registry.register_model("churn")
    for number in (1, 2):
        registry.add_version("churn", metrics={"auc": 0.7 + number / 100})
    registry.move_to_stage("churn", 2, Stage.STAGING, "validated")
    registry.request_promotion("churn", 2, "ship it")
    person(workspace, "bob", Role.VALIDATOR)
    window = _window_for(qtbot, workspace, "bob")
    detail = _open_detail(qtbot, window, "churn", 2)
    portfolio = window.pages["Portfolio"]
    tables = (detail.versions_model, detail.history_model, detail.requests_model,
              detail.activity_model, portfolio.pending_model, portfolio.activity_model)
    for model in tables:
        qtbot.waitUntil(lambda m=model: m.rowCount() > 0 and not m.is_loading(), timeout=5000)
        qtmodeltester.check(model)
    assert detail.requests_model.row(0).status is RequestStatus.PENDING
    window.close()
