"""Settings > Incidents and email: when incidents resolve themselves, the daily digest, and
the SMTP server that incident emails go through (optional)."""

from __future__ import annotations

import logging
from functools import partial

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from modelledger.core.errors import InvalidInputError
from modelledger.core.incidents import DEFAULT_RESOLVE_AFTER_RUNS, IncidentSettings
from modelledger.services.monitoring.alert_email import EmailSettings
from modelledger.ui.base.errors import show_error
from modelledger.ui.base.session import WorkspaceSession
from modelledger.ui.widgets.dialogs import HINT_STYLE, ReasonDialog

log = logging.getLogger(__name__)

SECURITY_LABELS = (("starttls", "STARTTLS (port 587)"), ("ssl", "SSL/TLS (port 465)"),
                   ("none", "None (internal relay only)"))
SEVERITY_LABELS = (("critical", "Critical incidents only"), ("warn", "Warnings and critical"))


ADMIN_ONLY_TEXT = "Only an admin can change these settings."


class AlertEmailBox(QGroupBox):
    def __init__(self, session: WorkspaceSession, parent: QWidget | None = None) -> None:
        super().__init__("Incidents and email", parent)
        self.setObjectName("alertEmailBox")
        self._session = session
        self._monitoring = session.workspace.monitoring
        self._editable = False  # until _apply_editable knows the user's role
        self.reason_dialog: ReasonDialog | None = None
        self.resolve_spin = QSpinBox()
        self.resolve_spin.setRange(1, 100)
        self.resolve_spin.setValue(DEFAULT_RESOLVE_AFTER_RUNS)
        self.resolve_spin.setSuffix(" healthy runs in a row")
        self.resolve_spin.setToolTip("A monitor may say otherwise: modelledger monitor "
                                     "resolve-after MODEL MONITOR N")
        self.digest_check = QCheckBox("Email a daily digest of open incidents at")
        self.digest_hour_spin = QSpinBox()
        self.digest_hour_spin.setRange(0, 23)
        self.digest_hour_spin.setSuffix(":00 UTC")
        self.enabled_check = QCheckBox("Email new incidents through this SMTP server")
        self.host_edit = QLineEdit()
        self.host_edit.setPlaceholderText("smtp.example.org")
        self.port_spin = QSpinBox()
        self.port_spin.setRange(1, 65535)
        self.port_spin.setValue(587)
        self.security_combo = QComboBox()
        for value, label in SECURITY_LABELS:
            self.security_combo.addItem(label, value)
        self.sender_edit = QLineEdit()
        self.sender_edit.setPlaceholderText("modelledger@example.org")
        self.recipients_edit = QLineEdit()
        self.recipients_edit.setPlaceholderText("risk@example.org, owner@example.org")
        self.username_edit = QLineEdit()
        self.username_edit.setPlaceholderText("empty when the server needs no login")
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText("kept in this computer's keyring, not the workspace")
        self.severity_combo = QComboBox()
        for value, label in SEVERITY_LABELS:
            self.severity_combo.addItem(label, value)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setStyleSheet(HINT_STYLE)
        self.test_button = QPushButton("Send &test email")
        self.test_button.clicked.connect(self.send_test)
        self.save_button = QPushButton("Save…")
        self.save_button.clicked.connect(self.save)
        form = QFormLayout()
        form.addRow("Resolve after:", self.resolve_spin)
        digest = QHBoxLayout()
        digest.addWidget(self.digest_check)
        digest.addWidget(self.digest_hour_spin)
        digest.addStretch(1)
        form.addRow("Digest:", digest)
        form.addRow(self.enabled_check)
        server = QHBoxLayout()
        server.addWidget(self.host_edit, 1)
        server.addWidget(QLabel("Port:"))
        server.addWidget(self.port_spin)
        form.addRow("Server:", server)
        form.addRow("Security:", self.security_combo)
        form.addRow("From:", self.sender_edit)
        form.addRow("To:", self.recipients_edit)
        form.addRow("Login:", self.username_edit)
        form.addRow("Password:", self.password_edit)
        form.addRow("Send:", self.severity_combo)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status_label, 1)
        buttons.addWidget(self.test_button)
        buttons.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addStretch(1)
        layout.addLayout(buttons)
        self._apply_editable()
        session.standing_changed.connect(self._apply_editable)

    def _apply_editable(self, *_standing: object) -> None:
        """Saving the settings needs the admin role: everyone else sees them read-only, and
        why."""
        refusal = self._session.refusal("settings.changed")
        self._editable = refusal is None
        for widget in self._inputs():
            widget.setEnabled(self._editable)
        self.test_button.setEnabled(self._editable)
        self.save_button.setEnabled(self._editable)
        self.save_button.setToolTip(refusal or "")
        if self._session.read_only:
            self.status_label.setText("Read-only workspace: the settings cannot be changed.")
        elif refusal:
            self.status_label.setText(ADMIN_ONLY_TEXT)
        elif self.status_label.text() == ADMIN_ONLY_TEXT:
            self.status_label.clear()

    def _inputs(self) -> list[QWidget]:
        return [self.resolve_spin, self.digest_check, self.digest_hour_spin,
                self.enabled_check, self.host_edit, self.port_spin, self.security_combo,
                self.sender_edit, self.recipients_edit, self.username_edit, self.password_edit,
                self.severity_combo]

    # -- loading --------------------------------------------------------------------------------

    def reload(self) -> None:
        monitoring = self._monitoring
        self._session.work.read("Loading incident and email settings",
                                lambda control: (monitoring.email_settings(),
                                                 monitoring.incident_settings()),
                                on_success=lambda both: self.show_settings(*both), quiet=True,
                                context=self)

    def show_settings(self, settings: EmailSettings, incidents: IncidentSettings) -> None:
        if self.reason_dialog is not None:
            return  # the form holds the values being saved
        self.resolve_spin.setValue(incidents.resolve_after_runs)
        self.digest_check.setChecked(incidents.daily_digest)
        self.digest_hour_spin.setValue(incidents.digest_hour_utc)
        self.enabled_check.setChecked(settings.enabled)
        self.host_edit.setText(settings.host)
        self.port_spin.setValue(settings.port)
        self.security_combo.setCurrentIndex(self.security_combo.findData(settings.security))
        self.sender_edit.setText(settings.sender)
        self.recipients_edit.setText(", ".join(settings.recipients))
        self.username_edit.setText(settings.username)
        self.severity_combo.setCurrentIndex(self.severity_combo.findData(settings.min_severity))

    def form_settings(self) -> EmailSettings:
        """The form's values; raises InvalidInputError that says what to fix."""
        recipients = tuple(r.strip() for r in self.recipients_edit.text().split(",") if r.strip())
        return EmailSettings(
            enabled=self.enabled_check.isChecked(), host=self.host_edit.text().strip(),
            port=self.port_spin.value(), security=self.security_combo.currentData(),
            sender=self.sender_edit.text().strip(), recipients=recipients,
            username=self.username_edit.text().strip(),
            min_severity=self.severity_combo.currentData())

    def form_incident_settings(self) -> IncidentSettings:
        return IncidentSettings(self.resolve_spin.value(), self.digest_check.isChecked(),
                                self.digest_hour_spin.value())

    # -- actions --------------------------------------------------------------------------------

    def send_test(self) -> None:
        try:
            settings = self.form_settings()
        except InvalidInputError as error:
            show_error(self, error)
            return
        if not settings.host or not settings.recipients:
            self.status_label.setText("Fill in the server, the sender and the recipients first.")
            return
        password = self.password_edit.text() or None
        monitoring = self._monitoring
        self.test_button.setEnabled(False)
        self.status_label.setText(f"Sending a test email through {settings.host}…")
        self._session.work.read(
            "Sending a test email",
            lambda control: monitoring.send_test_email(settings, password),
            on_success=lambda _: self._on_test_done(f"Test email sent to "
                                                    f"{', '.join(settings.recipients)}."),
            on_failure=self._on_test_failed, context=self)

    def _on_test_done(self, message: str) -> None:
        self.test_button.setEnabled(True)
        self.status_label.setText(message)

    def _on_test_failed(self, error: BaseException) -> None:
        self._on_test_done("The test email was not sent.")
        show_error(self, error)

    def save(self) -> None:
        try:
            settings, incidents = self.form_settings(), self.form_incident_settings()
        except InvalidInputError as error:
            show_error(self, error)
            return
        dialog = ReasonDialog("Incidents and email", "Why are these settings changing? The "
                              "change is recorded in the audit timeline.", self,
                              action_text="Save")
        dialog.finished.connect(partial(self._on_reason_given, dialog, settings, incidents))
        self.reason_dialog = dialog
        dialog.open()

    def _on_reason_given(self, dialog: ReasonDialog, settings: EmailSettings,
                         incidents: IncidentSettings, result: int) -> None:
        self.reason_dialog = None
        dialog.deleteLater()
        if result != QDialog.DialogCode.Accepted:
            return
        reason, password = dialog.reason(), self.password_edit.text() or None
        monitoring = self._monitoring
        self.save_button.setEnabled(False)
        def save_both(control) -> None:
            monitoring.set_email_settings(settings, reason, password)
            monitoring.set_incident_settings(incidents, reason)

        self._session.work.write("Saving the incident and email settings", save_both,
                                 on_success=self._on_saved, on_failure=self._on_save_failed,
                                 context=self)

    def _on_saved(self, _result: object) -> None:
        self.save_button.setEnabled(True)
        self.password_edit.clear()
        self.status_label.setText("Saved.")
        self.reload()

    def _on_save_failed(self, error: BaseException) -> None:
        self.save_button.setEnabled(True)
        show_error(self, error)
