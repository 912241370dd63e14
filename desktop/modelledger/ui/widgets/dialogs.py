"""Small dialogs shared by the pages."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

# The look of a hint under a field and of what is wrong with it, on every dialog.
HINT_STYLE = "color: palette(placeholder-text);"


def hint_label(text: str, *, wrap: bool = True) -> QLabel:
    """A quiet line of explanation under a control."""
    label = QLabel(text)
    label.setWordWrap(wrap)
    label.setStyleSheet(HINT_STYLE)
    return label
PROBLEM_STYLE = "color: #b00020;"


class ReasonDialog(QDialog):
    """Asks why: every lifecycle decision is recorded with a reason, so OK needs one."""

    def __init__(self, title: str, question: str, parent: QWidget | None = None, *,
                 action_text: str = "OK", conditions_hint: str | None = None) -> None:
        """``conditions_hint``: also ask, optionally, what the decision depends on."""
        super().__init__(parent)
        self.setObjectName("reasonDialog")
        self.setWindowTitle(title)
        self.setMinimumWidth(460)
        prompt = QLabel(question)
        prompt.setWordWrap(True)
        self.reason_edit = QPlainTextEdit()
        self.reason_edit.setPlaceholderText("Reason (recorded in the audit timeline)")
        self.reason_edit.setTabChangesFocus(True)
        self.reason_edit.setFixedHeight(90)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText(action_text)
        self.ok_button.setEnabled(False)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.reason_edit.textChanged.connect(
            lambda: self.ok_button.setEnabled(bool(self.reason().strip())))
        # What the decision rests on (a training run's evidence), filled in when it arrives.
        self.evidence_view = QPlainTextEdit()
        self.evidence_view.setObjectName("decisionEvidence")
        self.evidence_view.setReadOnly(True)
        self.evidence_view.setMinimumHeight(160)
        self.evidence_view.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(prompt)
        layout.addWidget(self.evidence_view)
        layout.addWidget(self.reason_edit)
        self.conditions_edit: QLineEdit | None = None
        if conditions_hint is not None:
            self.conditions_edit = QLineEdit()
            self.conditions_edit.setPlaceholderText(conditions_hint)
            conditions_label = QLabel("&Conditions (optional; recorded, and shown on the model "
                                      "card):")
            conditions_label.setBuddy(self.conditions_edit)
            layout.addWidget(conditions_label)
            layout.addWidget(self.conditions_edit)
        layout.addWidget(self.buttons)

    def show_evidence(self, lines: list[str]) -> None:
        self.evidence_view.setPlainText("\n".join(lines))
        self.evidence_view.show()
        self.setMinimumWidth(640)
        self.resize(max(self.width(), 640), self.sizeHint().height() + 100)

    def reason(self) -> str:
        return self.reason_edit.toPlainText().strip()

    def conditions(self) -> str:
        return self.conditions_edit.text().strip() if self.conditions_edit is not None else ""
