"""The first-run dialog: make a signing key on this workstation and ask to be enrolled."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from modelledger.services.identity import keystore
from modelledger.ui.widgets.dialogs import HINT_STYLE, PROBLEM_STYLE


class EnrolmentDialog(QDialog):
    """Asks for the name others see and, where the key goes into a file rather than the OS
    keyring, a passphrase typed twice. Opened with ``open()``: it never blocks the window."""

    def __init__(self, user: str, *, needs_passphrase: bool, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Enrol on this workstation")
        self.setObjectName("enrolment_dialog")
        self._needs_passphrase = needs_passphrase
        intro = QLabel(
            f"You are <b>{user}</b>. This workspace signs every decision with its author's "
            f"key, and there is no key for {user} on this workstation yet.<br><br>"
            "ModelLedger makes one now and asks an admin to approve it. Until an admin does, "
            "you can look at everything but change nothing.")
        intro.setWordWrap(True)
        self.display_name = QLineEdit(user)
        self.display_name.setObjectName("display_name")
        self.passphrase = QLineEdit()
        self.passphrase.setObjectName("passphrase")
        self.passphrase.setEchoMode(QLineEdit.EchoMode.Password)
        self.confirmation = QLineEdit()
        self.confirmation.setObjectName("confirmation")
        self.confirmation.setEchoMode(QLineEdit.EchoMode.Password)
        form = QFormLayout()
        form.addRow("Name others see:", self.display_name)
        if needs_passphrase:
            form.addRow("Passphrase:", self.passphrase)
            form.addRow("Again:", self.confirmation)
        where = QLabel(
            f"The key is kept in a file protected by this passphrase (at least "
            f"{keystore.MIN_PASSPHRASE} characters), asked once each time ModelLedger starts."
            if needs_passphrase else "The key is kept in your system's keyring.")
        where.setWordWrap(True)
        where.setStyleSheet(HINT_STYLE)
        self.problem = QLabel()
        self.problem.setObjectName("problem")
        self.problem.setStyleSheet(PROBLEM_STYLE)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.enrol_button = self.buttons.addButton(
            "Make key and ask to enrol", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(where)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        for field in (self.display_name, self.passphrase, self.confirmation):
            field.textChanged.connect(self._check)
        self.setMinimumWidth(460)
        self._check()

    def problem_text(self) -> str:
        if not self.display_name.text().strip():
            return "Give the name others see in the audit log."
        if not self._needs_passphrase:
            return ""
        if len(self.passphrase.text()) < keystore.MIN_PASSPHRASE:
            return f"The passphrase needs at least {keystore.MIN_PASSPHRASE} characters."
        if self.confirmation.text() != self.passphrase.text():
            return "The two passphrases differ."
        return ""

    def _check(self) -> None:
        problem = self.problem_text()
        self.problem.setText(problem)
        self.enrol_button.setEnabled(not problem)

    def chosen_passphrase(self) -> str | None:
        return self.passphrase.text() if self._needs_passphrase else None
