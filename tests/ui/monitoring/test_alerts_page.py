"""Incidents in the real window: listed after a drifted run with their members, handled
(also from the keyboard) and audited, counted in the navigation, and announced when new ones
arrive from this window or another instance."""

import shutil
from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtWidgets import QApplication, QMessageBox

from modelledger.core.domain import EventFilter, Role
from modelledger.core.monitoring import AlertStatus
from modelledger.services.monitoring.scheduler import MonitorScheduler
from modelledger.services.workspace.opening import Workspace
from modelledger.ui.monitoring.alerts_page import AlertsPage, AssignDialog
from modelledger.ui.shell.main_window import MainWindow
from tests.conftest import person, plain_keys_beside
from tests.services.monitor_data import add_monitor

RUN_TIMEOUT = 60_000  # a run starts a worker process that imports pandas and scipy


def later() -> datetime:
    return datetime.now(UTC) + timedelta(days=1)


def run_elsewhere(workspace, monitor_id: int, user: str = "bob"):
    """One run by another instance (its own scheduler), as `modelledger scheduler` would."""
    other = MonitorScheduler(workspace.as_user(user), max_parallel=1)
    try:
        return other.run_now(monitor_id).result(timeout=RUN_TIMEOUT / 1000)
    finally:
        other.shutdown()


@pytest.fixture(scope="module")
def alerted_template(tmp_path_factory):
    """A workspace whose monitor found drift once: built once, copied for each test."""
    folder = tmp_path_factory.mktemp("alerted")
    plain_keys_beside(folder / "team.db", "alice", "bob", "carol")
    workspace = Workspace.open(folder / "team.db", create=True, user="alice")
    try:
        monitor = add_monitor(workspace, folder, anchor=later())
        stored = run_elsewhere(workspace, monitor.id, user="alice")
        assert len(stored.new_alerts) >= 2  # drift and data quality
        person(workspace, "carol", Role.ADMIN, "Carol Jones")  # looks after the credit models
        person(workspace, "bob", Role.DEVELOPER, "Bob Okafor")
    finally:
        workspace.close()
    return folder / "team.db"


@pytest.fixture
def alerted_workspace(alerted_template, tmp_path):
    path = tmp_path / "team.db"
    shutil.copy(alerted_template, path)
    for companion in ("team.db.artifacts", "team.db.keys"):
        shutil.copytree(alerted_template.with_name(companion), path.with_name(companion))
    workspace = Workspace.open(path, user="alice")
    yield workspace
    workspace.close()


def alerts_page(qtbot, window) -> AlertsPage:
    window.show_page("Alerts")
    page = window.pages["Alerts"]
    qtbot.waitUntil(lambda: page.alerts.rowCount() > 0 and page.open_count is not None,
                    timeout=5000)
    return page


def nav_texts(window) -> list[str]:
    return [window.navigation.item(row).text() for row in range(window.navigation.count())]


def select_drift_incident(qtbot, page):
    [row] = [row for row, alert in enumerate(page.alerts.rows()) if alert.cause == "drift"]
    page.table.selectRow(row)
    qtbot.waitUntil(lambda: page.current_alert() is not None
                    and "Drift on income" in page.details.toPlainText()
                    and page.members_table.rowCount() > 0)
    return page.current_alert()


def member_rows(page) -> dict[str, list[str]]:
    table = page.members_table
    return {table.item(row, 0).text(): [table.item(row, column).text()
                                        for column in range(1, table.columnCount())]
            for row in range(table.rowCount())}


def wait_for_status(qtbot, page, alert_id, status: AlertStatus):
    qtbot.waitUntil(lambda: page.alerts.row_of_key(alert_id) is not None
                    and page.alerts.row(page.alerts.row_of_key(alert_id)).status is status,
                    timeout=5000)


def test_a_drifted_run_lists_alerts_and_the_navigation_counts_them(
        qtbot, qtmodeltester, open_window, alerted_workspace):
    window = open_window(alerted_workspace)
    page = alerts_page(qtbot, window)
    stored = alerted_workspace.monitoring.list_alerts()
    assert page.alerts.rowCount() == len(stored) == page.open_count
    assert f"Alerts ({len(stored)})" in nav_texts(window)
    alert = select_drift_incident(qtbot, page)
    row = page.alerts.row_of_key(alert.id)
    cells = [page.alerts.index(row, column).data() for column in range(9)]
    assert cells[:4] == ["critical", "open", "Drift", "credit-risk"]
    assert cells[4].startswith("Drift on income") and cells[5] == "—" and cells[6] == "1"
    # One incident per cause: no two rows share a cause.
    causes = [incident.cause for incident in page.alerts.rows()]
    assert len(causes) == len(set(causes))
    members = member_rows(page)
    assert members["PSI · income"][:2] == ["critical", "critical"]
    assert members["PSI · income"][3:5] == ["0.1", "0.25"]
    assert "PSI · age" not in members
    details = page.details.toPlainText()
    assert "Cause\nDrift" in details
    assert "opened it" in details
    assert page.acknowledge_button.isEnabled() and page.close_button.isEnabled()
    qtmodeltester.check(page.alerts)


def test_acknowledge_assign_comment_and_close_are_audited(qtbot, open_window,
                                                          alerted_workspace):
    window = open_window(alerted_workspace)
    page = alerts_page(qtbot, window)
    opened = page.open_count
    alert = select_drift_incident(qtbot, page)

    page.acknowledge_button.click()
    wait_for_status(qtbot, page, alert.id, AlertStatus.ACKNOWLEDGED)
    qtbot.waitUntil(lambda: not page.acknowledge_button.isEnabled())

    qtbot.waitUntil(lambda: len(page.people()) >= 2)
    dialog = page.assign_selected()
    assert isinstance(dialog, AssignDialog)
    dialog.person_combo.setCurrentIndex(dialog.person_combo.findData("carol"))
    assert dialog.person_combo.currentText() == "Carol Jones (carol)"
    dialog.comment_edit.setPlainText("carol owns credit-risk")
    dialog.ok_button.click()
    qtbot.waitUntil(lambda: page.alerts.row(page.alerts.row_of_key(alert.id)).assignee
                    == "carol", timeout=5000)

    qtbot.waitUntil(lambda: "carol owns credit-risk" in page.details.toPlainText())
    dialog = page.comment_selected()
    dialog.reason_edit.setPlainText("income jumped after the new marketing campaign")
    dialog.ok_button.click()
    qtbot.waitUntil(lambda: "new marketing campaign" in page.details.toPlainText(),
                    timeout=5000)

    dialog = page.close_selected()
    assert not dialog.ok_button.isEnabled()  # closing needs a note
    dialog.reason_edit.setPlainText("expected shift; reference data refreshed next quarter")
    dialog.ok_button.click()
    qtbot.waitUntil(lambda: page.alerts.row_of_key(alert.id) is None, timeout=5000)
    qtbot.waitUntil(lambda: page.open_count == opened - 1, timeout=5000)
    assert f"Alerts ({opened - 1})" in nav_texts(window)
    page.filter_combo.setCurrentIndex(1)
    wait_for_status(qtbot, page, alert.id, AlertStatus.CLOSED)

    events = alerted_workspace.audit.list_events(EventFilter(action_prefix="alert."), limit=4)
    assert [(e.action, e.entity_id, e.actor, e.reason) for e in reversed(events)] == [
        ("alert.acknowledged", str(alert.id), "alice", ""),
        ("alert.assigned", str(alert.id), "alice", "carol owns credit-risk"),
        ("alert.comment", str(alert.id), "alice",
         "income jumped after the new marketing campaign"),
        ("alert.closed", str(alert.id), "alice",
         "expected shift; reference data refreshed next quarter"),
    ]
    stored, notes = alerted_workspace.monitoring.alert_details(alert.id)
    assert (stored.status, stored.assignee) == (AlertStatus.CLOSED, "carol")
    assert [note.kind for note in notes] == ["raised", "acknowledged", "assigned", "comment",
                                             "closed"]


def test_a_change_made_meanwhile_is_refused_shown_and_reloaded(qtbot, open_window,
                                                               alerted_workspace):
    window = open_window(alerted_workspace)
    page = alerts_page(qtbot, window)
    alert = select_drift_incident(qtbot, page)
    carol = alerted_workspace.as_user("carol").monitoring
    carol.comment_alert(alert.id, alert.row_version, "carol is looking at it")
    page.acknowledge_button.click()
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), QMessageBox),
                    timeout=5000)
    box = QApplication.activeModalWidget()
    assert box.windowTitle() == "Someone else changed this meanwhile"
    box.close()
    qtbot.waitUntil(lambda: "carol is looking at it" in page.details.toPlainText(), timeout=5000)
    assert alerted_workspace.monitoring.alert_details(alert.id)[0].status is AlertStatus.OPEN
    # With the alert read again, the same action goes through.
    page.acknowledge_button.click()
    wait_for_status(qtbot, page, alert.id, AlertStatus.ACKNOWLEDGED)


def test_alerts_from_this_windows_scheduler_are_announced_and_open_the_alerts_page(
        qtbot, workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("MODELLEDGER_HEARTBEAT_S", "0.3")
    # Due now: the window's scheduler runs it as soon as the workspace is open.
    add_monitor(workspace, tmp_path, anchor=datetime.now(UTC) - timedelta(seconds=1))
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.alerts_notified, timeout=RUN_TIMEOUT) as told:
        window.set_workspace(workspace)
    critical = sum(1 for alert in workspace.monitoring.list_alerts()
                   if alert.severity.value == "critical")
    assert told.args[0].startswith(f"{len(workspace.monitoring.list_alerts())} new incidents "
                                   f"({critical} critical) on credit-risk")
    # Offscreen there is no system tray: the status bar says it, and a click opens Alerts.
    assert window.alert_notice.isVisible() and "show incidents" in window.alert_notice.text()
    window.alert_notice.click()
    assert window.stack.currentWidget() is window.pages["Alerts"]
    assert not window.alert_notice.isVisible()
    qtbot.waitUntil(lambda: any(text.startswith("Alerts (") for text in nav_texts(window)),
                    timeout=5000)
    window.close()


def test_only_alerts_raised_after_opening_are_announced_also_from_another_instance(
        qtbot, open_window, alerted_workspace, tmp_path):
    existing = {alert.id for alert in alerted_workspace.monitoring.list_alerts()}
    other = add_monitor(alerted_workspace, tmp_path, name="other", anchor=later())
    window = open_window(alerted_workspace)
    qtbot.waitUntil(window.alert_watcher.is_ready)
    with qtbot.waitSignal(window.alert_watcher.new_alerts, timeout=RUN_TIMEOUT) as told:
        stored = run_elsewhere(alerted_workspace, other.id)
    announced = told.args[0]
    assert {alert.id for alert in announced} == {alert.id for alert in stored.new_alerts}
    assert not existing & {alert.id for alert in announced}
    assert {alert.monitor_name for alert in announced} == {"other"}
    assert window.alert_notice.isVisible()


def test_snooze_and_mute_from_the_keyboard_are_audited_and_shown(qtbot, open_window,
                                                                  alerted_workspace):
    from PySide6.QtCore import Qt

    from modelledger.ui.monitoring.alerts_page import SilenceDialog

    window = open_window(alerted_workspace)
    page = alerts_page(qtbot, window)
    alert = select_drift_incident(qtbot, page)
    assert page.snooze_button.toolTip() == "Snooze (Alt+N)"
    page.table.setFocus()
    qtbot.keyClick(page.table, Qt.Key.Key_N, Qt.KeyboardModifier.AltModifier)
    qtbot.waitUntil(lambda: isinstance(page.dialog, SilenceDialog) and page.dialog.isVisible())
    dialog = page.dialog
    dialog.duration_combo.setCurrentIndex(dialog.duration_combo.findText("1 day"))
    dialog.text_edit.setPlainText("vendor ships a fix tomorrow")
    dialog.ok_button.click()
    qtbot.waitUntil(lambda: page.alerts.row_of_key(alert.id) is not None
                    and page.alerts.index(page.alerts.row_of_key(alert.id), 1).data()
                    == "open · snoozed", timeout=5000)
    qtbot.waitUntil(lambda: page.snooze_button.text() == "Unsnooze", timeout=5000)
    assert "Snoozed until" in page.details.toPlainText()

    dialog = page.mute_or_unmute()
    assert not dialog.ok_button.isEnabled()  # muting needs a reason
    dialog.text_edit.setPlainText("seasonal: the campaign runs all month")
    dialog.ok_button.click()
    qtbot.waitUntil(lambda: page.mute_button.text() == "Unmute", timeout=5000)
    qtbot.waitUntil(lambda: "seasonal: the campaign" in page.details.toPlainText(), timeout=5000)
    page.mute_button.click()  # unmute
    qtbot.waitUntil(lambda: page.mute_button.text() == "Mute…", timeout=5000)
    page.snooze_button.click()  # unsnooze
    qtbot.waitUntil(lambda: page.snooze_button.text() == "Snooze…", timeout=5000)

    events = alerted_workspace.audit.list_events(EventFilter(action_prefix="alert."), limit=4)
    assert [(e.action, e.entity_id) for e in reversed(events)] == [
        ("alert.snoozed", str(alert.id)), ("alert.muted", str(alert.id)),
        ("alert.unmuted", str(alert.id)), ("alert.unsnoozed", str(alert.id))]
    assert events[-1].signature  # signed by alice, as every decision
    stored = alerted_workspace.monitoring.alert_details(alert.id)[0]
    assert stored.snoozed_until is None and not stored.muted


def test_retrain_from_a_drift_incident_records_a_run_caused_by_it(qtbot, open_window,
                                                                  alerted_workspace, tmp_path):
    from modelledger.core.monitoring import DataSource, SourceKind
    from modelledger.core.recipes import Recipe, RecipeKind
    from modelledger.core.training import Trigger
    from tests.services.monitor_data import FEATURES, scored_frame, write_csv

    labelled = write_csv(scored_frame(1_000, seed=4), tmp_path / "labelled.csv")
    alerted_workspace.training.save_recipe(
        "credit-risk", Recipe(RecipeKind.DECLARATIVE, DataSource(SourceKind.FILE,
                                                                 str(labelled)),
                              "label", FEATURES, estimator="LogisticRegression"),
        reason="retrain on fresh labels")
    window = open_window(alerted_workspace)
    page = alerts_page(qtbot, window)
    [quality_row] = [row for row, a in enumerate(page.alerts.rows())
                     if a.cause == "data quality"]
    page.table.selectRow(quality_row)
    qtbot.waitUntil(lambda: page.current_alert() is not None
                    and page.current_alert().cause == "data quality", timeout=5000)
    assert not page.retrain_button.isEnabled()
    assert "drift and performance" in page.retrain_button.toolTip()
    incident = select_drift_incident(qtbot, page)
    qtbot.waitUntil(page.retrain_button.isEnabled, timeout=5000)
    with qtbot.waitSignal(page.retrained, timeout=RUN_TIMEOUT * 2) as retrained:
        page.retrain_button.click()
        assert not page.retrain_button.isEnabled()  # one retrain at a time from here
    run = retrained.args[0]
    assert run.trigger is Trigger.ALERT and f"incident #{incident.id}" in run.cause
    assert run.version_number == 1
    assert f"Training run #{run.id} of credit-risk: v1 registered" in page.banner.text()
