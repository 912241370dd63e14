"""The monitoring page in the real window: its scheduler runs monitors in a worker process,
runs and metrics appear, a running job can be cancelled, monitors are created and paused."""

import os
from datetime import UTC, datetime, timedelta

from PySide6.QtCore import Qt

from modelledger.core.domain import EventFilter
from modelledger.core.monitoring import MonitorStatus, Schedule, ScheduleKind
from modelledger.services.workspace.opening import Workspace
from modelledger.ui.monitoring.monitors_page import MonitoringPage
from modelledger.ui.shell.main_window import MainWindow
from modelledger.ui.widgets.table_models import HEALTH_COLOURS
from tests.services.monitor_data import add_monitor, scored_frame, write_csv

RUN_TIMEOUT = 60_000  # a run starts a worker process that imports pandas and scipy


def later() -> datetime:
    """An anchor whose first slot is not due during the test: runs happen when asked for."""
    return datetime.now(UTC) + timedelta(days=1)


def monitoring_page(qtbot, window, rows: int = 1) -> MonitoringPage:
    window.show_page("Monitoring")
    page = window.pages["Monitoring"]
    qtbot.waitUntil(lambda: page.monitors.rowCount() == rows
                    and page.selected_overview() is not None,
                    timeout=5000)
    return page


def shown(model, row: int) -> list[str]:
    return [model.index(row, column).data() for column in range(model.columnCount())]


def test_a_monitor_is_listed_and_run_now_shows_the_run_and_its_metrics(
        qtbot, qtmodeltester, open_window, workspace, tmp_path):
    add_monitor(workspace, tmp_path, anchor=later())
    window = open_window(workspace)
    page = monitoring_page(qtbot, window)
    assert shown(page.monitors, 0) == ["credit-risk", "drift", "every hour", "active", "never",
                                       "not run yet", "0"]
    assert page.runs.rowCount() == 0 and not page.empty_label.isVisible()
    assert window.scheduler_indicator.text() == "Monitoring: idle"

    qtbot.waitUntil(page.run_button.isEnabled)
    page.run_button.click()
    qtbot.waitUntil(lambda: page.runs.rowCount() == 1 and page.metrics.rowCount() > 0,
                    timeout=RUN_TIMEOUT)
    _, attempt, status, health, rows, summary = shown(page.runs, 0)
    assert (attempt, status, health, rows) == ("1", "succeeded", "critical", "1,000")
    assert "PSI of income" in summary
    metrics = {(m.metric, m.subject): row for row, m in enumerate(page.metrics.rows())}
    income_psi = metrics[("drift.psi", "income")]
    label, column, value, warn, critical, state, _ = shown(page.metrics, income_psi)
    assert (label, column, warn, critical, state) == ("PSI", "income", "0.1", "0.25", "critical")
    assert float(value) > 0.25
    assert page.metrics.index(income_psi, 5).data(Qt.ItemDataRole.ForegroundRole).color() \
        .name() == HEALTH_COLOURS["critical"]
    assert shown(page.metrics, metrics[("drift.psi", "age")])[5] == "ok"
    assert "Run #" in page.run_details.toPlainText()
    assert "drift-current.csv" in page.run_details.toPlainText()
    # The monitor's row catches up: its health and the alerts the run raised.
    qtbot.waitUntil(lambda: shown(page.monitors, 0)[5] == "critical", timeout=5000)
    assert int(shown(page.monitors, 0)[6]) == len(workspace.monitoring.list_alerts())
    assert window.scheduler_indicator.text() == "Monitoring: idle"
    for model in (page.monitors, page.runs, page.metrics):
        qtmodeltester.check(model)


def test_a_running_job_shows_progress_and_cancel_stores_no_run(
        qtbot, open_window, workspace, tmp_path):
    # The current data is a named pipe nobody writes to: the run waits on it until cancelled.
    pipe = tmp_path / "current.csv"
    os.mkfifo(pipe)
    monitor = add_monitor(workspace, tmp_path, current=pipe, anchor=later())
    window = open_window(workspace)
    page = monitoring_page(qtbot, window)
    qtbot.waitUntil(page.run_button.isEnabled)
    page.run_button.click()
    qtbot.waitUntil(lambda: len(page.jobs_panel.claim_ids()) == 1, timeout=RUN_TIMEOUT)
    [claim_id] = page.jobs_panel.claim_ids()
    qtbot.waitUntil(lambda: (page.jobs_panel.progress_of(claim_id) or 0) >= 15,
                    timeout=RUN_TIMEOUT)
    assert window.scheduler_indicator.text() == "Monitoring: 1 run in progress"
    assert "Reading the current data" in window.scheduler_indicator.toolTip()

    page.jobs_panel.cancel_button(claim_id).click()
    qtbot.waitUntil(lambda: not page.jobs_panel.claim_ids(), timeout=15_000)
    assert [state for _, state, _, _ in workspace.monitoring.claim_states(monitor.id)] == \
        ["cancelled"]
    assert workspace.monitoring.list_runs(monitor_id=monitor.id) == []
    [event] = workspace.audit.list_events(EventFilter(action_prefix="monitor.run_cancelled"))
    assert event.reason == "cancelled by the user"
    assert page.jobs_panel.placeholder.isVisible()
    qtbot.waitUntil(lambda: window.scheduler_indicator.text() == "Monitoring: idle")


def test_the_new_monitor_dialog_creates_a_monitor_and_refuses_a_bad_kpi(
        qtbot, open_window, workspace, tmp_path):
    workspace.registry.register_model("credit-risk")
    reference = write_csv(scored_frame(500, seed=1), tmp_path / "reference.csv")
    current = write_csv(scored_frame(300, seed=2), tmp_path / "current.csv")
    window = open_window(workspace)
    window.show_page("Monitoring")
    page = window.pages["Monitoring"]
    qtbot.waitUntil(page.empty_label.isVisible)
    assert "No monitors yet — <b>New monitor…</b> to watch" in page.empty_label.text()

    page.new_button.click()
    dialog = page.monitor_dialog
    qtbot.waitUntil(lambda: dialog.model_combo.currentText() == "credit-risk")
    dialog.name_edit.setText("weekly drift")
    with qtbot.waitSignal(dialog.columns_loaded):
        dialog.reference_edit.setText(str(reference))
        dialog.load_reference_columns()
    assert "500 rows, 6 columns" in dialog.reference_status.text()
    # The usual column names are recognised; the rest are features.
    assert dialog.prediction_combo.currentData() == "prediction"
    assert dialog.score_combo.currentData() == "score"
    assert dialog.label_combo.currentData() == "label"
    assert dialog.features() == ["income", "age", "region"]
    dialog.file_path_edit.setText(str(current))
    dialog.interval_spin.setValue(2)
    dialog.interval_unit.setCurrentIndex(dialog.interval_unit.findText("hours"))
    psi_row = next(row for row in range(dialog.threshold_table.rowCount())
                   if dialog.threshold_table.item(row, 0).toolTip() == "drift.psi")
    assert dialog.threshold_table.item(psi_row, 2).text() == "0.1"
    dialog.threshold_table.item(psi_row, 2).setText("0.15")

    row = dialog.add_kpi_row("approval rate", "share(prediction == 1", 0.5, 0.05)
    assert not dialog.kpi_message.isHidden()
    assert "not a valid formula" in dialog.kpi_message.text()
    dialog.kpi_table.item(row, 1).setText("mean(amount)")
    assert "'amount'" in dialog.kpi_message.text()  # not a column of the reference data
    dialog.ok_button.click()
    assert dialog.isVisible() and "Fix the KPIs" in dialog.message_label.text()
    assert dialog.tabs.tabText(dialog.tabs.currentIndex()) == "KPIs"
    assert workspace.monitoring.list_monitors() == []

    dialog.kpi_table.item(row, 1).setText("share(prediction == 1)")
    assert dialog.kpi_message.isHidden() and not dialog.kpi_problems()
    with qtbot.waitSignal(dialog.saved, timeout=10_000):
        dialog.ok_button.click()
    [monitor] = workspace.monitoring.list_monitors()
    assert (monitor.model_name, monitor.name) == ("credit-risk", "weekly drift")
    assert monitor.schedule == Schedule(ScheduleKind.INTERVAL, "7200")
    assert monitor.spec.features == ("income", "age", "region")
    assert monitor.spec.source.path == str(current)
    assert monitor.spec.thresholds["drift.psi"].warn == 0.15
    assert [(k.name, k.expression) for k in monitor.spec.kpis] == [
        ("approval rate", "share(prediction == 1)")]
    assert monitor.reference_rows == 500
    qtbot.waitUntil(lambda: page.selected_overview() is not None
                    and page.selected_overview().monitor.id == monitor.id, timeout=5000)
    assert "Created the monitor credit-risk / weekly drift" in page.banner.text()


def test_editing_changes_thresholds_and_schedule_with_a_reason(
        qtbot, open_window, workspace, tmp_path):
    monitor = add_monitor(workspace, tmp_path, anchor=later())
    window = open_window(workspace)
    page = monitoring_page(qtbot, window)
    dialog = page.edit_selected_monitor()
    qtbot.waitUntil(lambda: dialog.columns() is not None, timeout=5000)
    assert not dialog.name_edit.isEnabled() and dialog.model_combo.currentText() == "credit-risk"
    assert dialog.features() == ["income", "age", "region"]
    assert dialog.interval_unit.currentText() == "hours" and dialog.interval_spin.value() == 1
    assert dialog.kpi_table.rowCount() == 1
    dialog.cron_radio.setChecked(True)
    dialog.cron_edit.setText("0 6 * * 1")
    dialog.ok_button.click()
    assert "Give a reason" in dialog.message_label.text()
    dialog.reason_edit.setPlainText("weekly is enough for this model")
    with qtbot.waitSignal(dialog.saved, timeout=10_000):
        dialog.ok_button.click()
    changed = workspace.monitoring.get_monitor(monitor.id)
    assert changed.schedule == Schedule(ScheduleKind.CRON, "0 6 * * 1")
    assert changed.row_version == monitor.row_version + 1
    [event] = workspace.audit.list_events(EventFilter(action_prefix="monitor.updated"))
    assert event.reason == "weekly is enough for this model"
    qtbot.waitUntil(lambda: shown(page.monitors, 0)[2] == "cron 0 6 * * 1 (UTC)", timeout=5000)


def test_pause_and_resume_ask_why_and_are_audited(qtbot, open_window, workspace, tmp_path):
    monitor = add_monitor(workspace, tmp_path, anchor=later())
    window = open_window(workspace)
    page = monitoring_page(qtbot, window)
    assert page.pause_button.text() == "Pause…"
    dialog = page.pause_or_resume_selected()
    dialog.reason_edit.setPlainText("source table is being rebuilt")
    dialog.ok_button.click()
    qtbot.waitUntil(lambda: shown(page.monitors, 0)[3] == "paused", timeout=5000)
    assert workspace.monitoring.get_monitor(monitor.id).status is MonitorStatus.PAUSED
    qtbot.waitUntil(lambda: page.pause_button.text() == "Resume…")
    dialog = page.pause_or_resume_selected()
    dialog.reason_edit.setPlainText("table rebuilt")
    dialog.ok_button.click()
    qtbot.waitUntil(lambda: shown(page.monitors, 0)[3] == "active", timeout=5000)
    events = workspace.audit.list_events(EventFilter(action_prefix="monitor."), limit=10)
    assert [(e.action, e.reason) for e in events[:2]] == [
        ("monitor.resumed", "table rebuilt"), ("monitor.paused", "source table is being rebuilt")]


def test_a_read_only_workspace_runs_no_monitors_and_says_why(
        qtbot, workspace, workspace_path, tmp_path, monkeypatch):
    add_monitor(workspace, tmp_path, anchor=later())
    workspace.close()
    monkeypatch.setattr("modelledger.storage.database._is_writable", lambda path: False)
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    window.set_workspace(Workspace.open(workspace_path))
    window.show_page("Monitoring")
    page = monitoring_page(qtbot, window)
    qtbot.waitUntil(lambda: window.alert_watcher.is_ready())
    assert window.session.scheduler is None
    assert window.scheduler_indicator.text() == "Monitoring off (read-only)"
    assert "open read-only" in page.read_only_note.text() and page.read_only_note.isVisible()
    assert not any(button.isEnabled() for button in (
        page.new_button, page.edit_button, page.run_button, page.pause_button))
    window.close()
