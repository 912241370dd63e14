"""Alert email through a real SMTP server (aiosmtpd) on the loopback interface."""

from __future__ import annotations

import email
import email.policy
import socket

import pytest
from aiosmtpd.controller import Controller

from modelledger.core.domain import EventFilter
from modelledger.core.errors import InvalidInputError
from modelledger.services.monitoring.alert_email import EmailSettings
from modelledger.services.monitoring.scheduler import MonitorScheduler, SchedulerTimings
from tests.services.monitor_data import add_monitor


class Inbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_drifted_monitor(workspace, tmp_path):
    monitor = add_monitor(workspace, tmp_path)
    scheduler = MonitorScheduler(workspace, timings=SchedulerTimings(), max_parallel=1)
    try:
        return scheduler.run_now(monitor.id).result(timeout=120)
    finally:
        scheduler.shutdown()


def test_new_critical_alerts_are_emailed_once_and_noted(workspace, tmp_path, smtp_server):
    inbox, port = smtp_server
    settings = EmailSettings(enabled=True, host="127.0.0.1", port=port, security="none",
                             sender="ledger@example.org", recipients=("risk@example.org",))
    workspace.monitoring.set_email_settings(settings, "alerts to the risk team")
    stored = run_drifted_monitor(workspace, tmp_path)
    critical = [a for a in stored.new_alerts if a.severity.value == "critical"]
    assert critical and len(inbox.messages) == 1
    envelope = inbox.messages[0]
    assert envelope.rcpt_tos == ["risk@example.org"]
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert message["Subject"].startswith("[ModelLedger] critical:")
    assert critical[0].title in message.get_content()
    _, notes = workspace.monitoring.alert_details(critical[0].id)
    assert notes[-1].kind == "email" and "risk@example.org" in notes[-1].text
    warn_only = [a for a in stored.new_alerts if a.severity.value == "warn"]
    if warn_only:  # below the configured severity: not emailed
        assert all(n.kind != "email" for n in workspace.monitoring.alert_details(
            warn_only[0].id)[1])
    assert workspace.audit.list_events(EventFilter(action_prefix="alert.emailed"))


def test_an_unreachable_server_is_noted_on_the_alert_not_fatal(workspace, tmp_path):
    settings = EmailSettings(enabled=True, host="127.0.0.1", port=free_port(), security="none",
                             sender="ledger@example.org", recipients=("risk@example.org",))
    workspace.monitoring.set_email_settings(settings, "alerts to the risk team")
    stored = run_drifted_monitor(workspace, tmp_path)
    assert stored.run_id is not None
    alert = next(a for a in stored.new_alerts if a.severity.value == "critical")
    note = workspace.monitoring.alert_details(alert.id)[1][-1]
    assert note.kind == "email" and note.text.startswith("email not sent:")
    assert "Settings > Incidents and email" in note.text
    assert workspace.audit.list_events(EventFilter(action_prefix="alert.email_failed"))


def test_settings_are_validated_and_audited(workspace):
    with pytest.raises(InvalidInputError, match="recipient"):
        EmailSettings(enabled=True, host="smtp.example.org", sender="a@example.org")
    with pytest.raises(InvalidInputError, match="port"):
        EmailSettings(port=70000)
    settings = EmailSettings(enabled=True, host="smtp.example.org", sender="a@example.org",
                             recipients=("b@example.org",))
    workspace.monitoring.set_email_settings(settings, "set up alert email")
    assert workspace.monitoring.email_settings() == settings
    event = workspace.audit.list_events(EventFilter(action_prefix="settings.changed"))[0]
    assert event.entity_id == "alert_email" and "password" not in event.after
