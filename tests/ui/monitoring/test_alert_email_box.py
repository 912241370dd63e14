"""Settings > Incidents and email: a test email through a real SMTP server, saving with a
reason, incidents' resolve-after and daily digest."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox

from modelledger.core.domain import EventFilter
from modelledger.ui.monitoring.alert_email_box import AlertEmailBox
from tests.services.monitoring.test_alert_email import smtp_server  # noqa: F401  (a fixture)
from tests.ui.conftest import catch_up


def open_box(qtbot, session) -> AlertEmailBox:
    catch_up(qtbot, session)
    box = AlertEmailBox(session)
    qtbot.addWidget(box)
    box.show()
    box.reload()
    qtbot.waitUntil(lambda: not session.work.running_labels())
    return box


def fill(box: AlertEmailBox, port: int) -> None:
    box.enabled_check.setChecked(True)
    box.host_edit.setText("127.0.0.1")
    box.port_spin.setValue(port)
    box.security_combo.setCurrentIndex(box.security_combo.findData("none"))
    box.sender_edit.setText("ledger@example.org")
    box.recipients_edit.setText("risk@example.org, owner@example.org")


def test_send_test_email_reaches_the_server(qtbot, session, smtp_server):  # noqa: F811
    inbox, port = smtp_server
    box = open_box(qtbot, session)
    fill(box, port)
    box.test_button.click()
    qtbot.waitUntil(lambda: "Test email sent" in box.status_label.text(), timeout=20_000)
    assert len(inbox.messages) == 1
    assert inbox.messages[0].rcpt_tos == ["risk@example.org", "owner@example.org"]
    assert box.test_button.isEnabled()


def test_saving_asks_why_and_is_audited(qtbot, session, workspace):
    box = open_box(qtbot, session)
    fill(box, 2525)
    box.resolve_spin.setValue(5)
    box.digest_check.setChecked(True)
    box.digest_hour_spin.setValue(8)
    box.save_button.click()
    qtbot.waitUntil(lambda: box.reason_dialog is not None)
    box.reason_dialog.reason_edit.setPlainText("alerts to the risk team")
    box.reason_dialog.accept()
    qtbot.waitUntil(lambda: box.status_label.text() == "Saved.", timeout=10_000)
    settings = workspace.monitoring.email_settings()
    assert settings.enabled and settings.port == 2525
    incidents = workspace.monitoring.incident_settings()
    assert (incidents.resolve_after_runs, incidents.daily_digest,
            incidents.digest_hour_utc) == (5, True, 8)
    assert settings.recipients == ("risk@example.org", "owner@example.org")
    event = workspace.audit.list_events(EventFilter(action_prefix="settings.changed"))[0]
    assert event.reason == "alerts to the risk team"


def test_a_bad_form_says_what_to_fix(qtbot, session):
    box = open_box(qtbot, session)
    box.enabled_check.setChecked(True)
    box.host_edit.setText("smtp.example.org")
    box.save_button.click()
    dialog = box.findChild(QMessageBox, "knownErrorDialog")
    assert dialog is not None and "sender" in dialog.text()
    dialog.close()
    assert box.reason_dialog is None
