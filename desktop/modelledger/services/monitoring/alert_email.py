"""Incident email through an SMTP server the team configures (optional): one message when an
incident opens, another only when its severity rises, and an optional daily digest.

The settings live in the workspace (audited like every setting); the SMTP password never does:
it is kept in the system keyring of each machine that sends. Sending happens on the scheduler's
run thread after the run is stored, so a slow or unreachable server delays nothing else, and
the outcome (sent or why not) is noted on the alert.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from typing import Any

from modelledger.core.errors import InvalidInputError
from modelledger.core.monitoring import Alert, Health

SETTING_KEY = "alert_email"
SECURITY_MODES = ("starttls", "ssl", "none")
SMTP_TIMEOUT_S = 15


@dataclass(frozen=True)
class EmailSettings:
    enabled: bool = False
    host: str = ""
    port: int = 587
    security: str = "starttls"
    sender: str = ""
    recipients: tuple[str, ...] = field(default_factory=tuple)
    username: str = ""  # empty: the server needs no login
    min_severity: str = Health.CRITICAL.value  # "warn" sends warnings too

    def __post_init__(self) -> None:
        if self.security not in SECURITY_MODES:
            raise InvalidInputError(f"Security must be one of {', '.join(SECURITY_MODES)}.")
        if self.min_severity not in (Health.WARN.value, Health.CRITICAL.value):
            raise InvalidInputError("Send alerts from 'warn' or from 'critical' severity.")
        if not 0 < self.port < 65536:
            raise InvalidInputError(f"{self.port} is not a port number (1-65535).")
        if self.enabled:
            if not self.host.strip():
                raise InvalidInputError("Give the SMTP server's host name.")
            if "@" not in self.sender:
                raise InvalidInputError("Give the sender's email address.")
            bad = [r for r in self.recipients if "@" not in r]
            if not self.recipients or bad:
                raise InvalidInputError(
                    "Give one or more recipient email addresses, separated by commas.")

    @property
    def credential(self) -> str:
        return f"smtp {self.username}@{self.host}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["recipients"] = list(self.recipients)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> EmailSettings:
        if not data:
            return cls()
        return cls(**{**data, "recipients": tuple(data.get("recipients", ()))})

    def wants(self, alert: Alert) -> bool:
        return self.enabled and (self.min_severity == Health.WARN.value
                                 or alert.severity is Health.CRITICAL)


def compose(settings: EmailSettings, alerts: Sequence[Alert]) -> EmailMessage:
    message = EmailMessage()
    worst = "critical" if any(a.severity is Health.CRITICAL for a in alerts) else "warn"
    first = alerts[0]
    more = f" (+{len(alerts) - 1} more)" if len(alerts) > 1 else ""
    message["Subject"] = f"[ModelLedger] {worst}: {first.title}{more}"
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.recipients)
    lines = []
    for alert in alerts:
        detail = alert.detail.replace("\n", "\n  ")
        lines += [f"{alert.severity.value.upper()}  {alert.title}",
                  f"  model {alert.model_name}, monitor {alert.monitor_name}, run "
                  f"#{alert.run_id}, incident #{alert.id} ({alert.cause})", f"  {detail}", ""]
    lines.append("Open ModelLedger's Alerts page to acknowledge, assign, snooze or close them.")
    message.set_content("\n".join(lines))
    return message


def compose_digest(settings: EmailSettings, incidents: Sequence[Alert], day: str) -> EmailMessage:
    """The day's digest: every open incident nobody snoozed or muted, worst first."""
    message = EmailMessage()
    critical = sum(1 for incident in incidents if incident.severity is Health.CRITICAL)
    message["Subject"] = (f"[ModelLedger] digest {day}: {len(incidents)} open incident"
                          f"{'s' if len(incidents) != 1 else ''} ({critical} critical)")
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.recipients)
    ordered = sorted(incidents, key=lambda i: (i.severity is not Health.CRITICAL, i.id))
    lines = [f"{i.severity.value.upper():9} #{i.id} {i.title} ({i.status.value}, "
             f"{i.occurrences} runs, last {i.last_seen_at:%Y-%m-%d %H:%M} UTC"
             f"{', ' + i.assignee if i.assignee else ''})" for i in ordered]
    message.set_content("\n".join(lines or ["No open incidents."]))
    return message


def compose_test(settings: EmailSettings, workspace_name: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = "[ModelLedger] test email"
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.recipients)
    message.set_content(
        f"This is a test from ModelLedger for the workspace {workspace_name}. Alerts of "
        f"severity {settings.min_severity} and above will be sent to these addresses.")
    return message


def send(settings: EmailSettings, message: EmailMessage, password: str | None) -> None:
    """Deliver one message; every failure becomes an InvalidInputError that says why."""
    context = ssl.create_default_context()
    try:
        if settings.security == "ssl":
            client = smtplib.SMTP_SSL(settings.host, settings.port, timeout=SMTP_TIMEOUT_S,
                                      context=context)
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=SMTP_TIMEOUT_S)
        with client:
            if settings.security == "starttls":
                client.starttls(context=context)
            if settings.username:
                client.login(settings.username, password or "")
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise InvalidInputError(
            f"The alert email could not be sent through {settings.host}:{settings.port} "
            f"({type(exc).__name__}: {exc}). Check the server, port, security and login in "
            "Settings > Incidents and email.") from exc
