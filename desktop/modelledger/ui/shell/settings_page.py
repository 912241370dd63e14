"""Workspace settings and the people who work in it; every change is audited with a reason."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from modelledger.services.identity.postgres_grants import LoginStanding, login_standing
from modelledger.services.workspace.opening import Workspace
from modelledger.storage import schema
from modelledger.ui.base.errors import show_error
from modelledger.ui.base.session import WorkspaceSession
from modelledger.ui.monitoring.alert_email_box import AlertEmailBox
from modelledger.ui.shell.people_box import PeopleBox
from modelledger.ui.widgets.dialogs import ReasonDialog, hint_label

log = logging.getLogger(__name__)
SETTINGS_ACTION = "settings.changed"  # what changing a rule needs: the admin role


@dataclass(frozen=True)
class WorkspaceRules:
    four_eyes_required: bool
    shared_file: bool
    database_login: LoginStanding | None  # None on SQLite


def read_rules(workspace: Workspace) -> WorkspaceRules:
    registry = workspace.registry
    return WorkspaceRules(registry.four_eyes_required(), registry.shared_file(),
                          login_standing(workspace.database, workspace.actor.user))


class SettingsPage(QWidget):
    def __init__(self, session: WorkspaceSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("settingsPage")
        self._session = session
        self._registry = session.workspace.registry
        self._database = session.workspace.database
        self._rules: WorkspaceRules | None = None
        self._setting_writes_pending = 0
        self.reason_dialog: ReasonDialog | None = None
        self._build()
        session.changed.connect(self.reload)
        session.standing_changed.connect(self._show_rules)
        self.reload()

    # -- building -------------------------------------------------------------------------------

    def _build(self) -> None:
        # Scrolled, so that the page's many settings never set the window's minimum size.
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        content = QWidget()
        scroll.setWidget(content)
        outer.addWidget(scroll)
        layout = QVBoxLayout(content)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(12)
        top = QHBoxLayout()
        top.setSpacing(12)
        top.addWidget(self._build_workspace_box(), 1)
        top.addWidget(self._build_rules_box(), 1)
        layout.addLayout(top)
        bottom = QHBoxLayout()
        bottom.setSpacing(12)
        self.people = PeopleBox(self._session)
        bottom.addWidget(self.people, 1)
        self.alert_email_box = AlertEmailBox(self._session)
        bottom.addWidget(self.alert_email_box, 1)
        layout.addLayout(bottom, 1)

    def _build_workspace_box(self) -> QGroupBox:
        box = QGroupBox("Workspace")
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        database = self._database
        mode = database.sharing_mode.value
        # Opening a workspace upgrades it to this revision or refuses it, so an open
        # workspace is always at the head revision.
        fields = (
            ("Location", database.display_name),
            ("Sharing", mode[:1].upper() + mode[1:]),
            ("Schema revision", schema.HEAD_REVISION),
            ("Model files", str(self._session.workspace.artifacts.root)),
            ("Signed in as", self._session.user),
        )
        if database.is_postgresql:
            # Read with the rules: session_user is the server's answer, not the URL's guess.
            fields += (("Database login", "…"),)
        self.workspace_fields: dict[str, QLineEdit] = {}
        for title, value in fields:
            # A read-only line rather than a label: a long path scrolls instead of widening
            # the window, and can still be selected and copied.
            field = QLineEdit(value)
            field.setReadOnly(True)
            field.setFrame(False)
            field.setStyleSheet("QLineEdit { background: transparent; }")
            field.setCursorPosition(0)
            field.setToolTip(value)
            form.addRow(title + ":", field)
            self.workspace_fields[title] = field
        return box

    def _build_rules_box(self) -> QGroupBox:
        box = QGroupBox("Rules")
        column = QVBoxLayout(box)
        self.four_eyes_check = QCheckBox(
            "Require a second person to approve promotions (four-eyes)")
        self.four_eyes_check.clicked.connect(self._on_four_eyes_check_clicked)
        column.addWidget(self.four_eyes_check)
        column.addWidget(hint_label("The person who asked for a promotion to production cannot "
                                    "approve it themselves."))
        column.addSpacing(6)
        self.shared_file_check = QCheckBox(
            "Shared file on a network drive (use rollback journal)")
        self.shared_file_check.clicked.connect(self._on_shared_file_check_clicked)
        column.addWidget(self.shared_file_check)
        self.shared_file_hint = hint_label(self._shared_file_explanation())
        column.addWidget(self.shared_file_hint)
        self.read_only_hint = hint_label("This workspace is open read-only: its settings and "
                                         "people can be seen but not changed.")
        self.read_only_hint.setVisible(self._database.read_only)
        column.addWidget(self.read_only_hint)
        column.addStretch(1)
        self.four_eyes_check.setEnabled(False)
        self.shared_file_check.setEnabled(False)
        return box

    def _shared_file_explanation(self) -> str:
        if self._database.is_postgresql:
            return ("Only for workspace files: a PostgreSQL server shares the workspace between "
                    "computers by itself.")
        return ("ModelLedger recognises most network drives by itself; tick this when it does "
                "not (for example a synced folder). Each computer switches journal mode the "
                "next time it opens the workspace.")

    # -- loading --------------------------------------------------------------------------------

    def reload(self) -> None:
        """Read the settings and people again (this or another instance changed them)."""
        workspace = self._session.workspace
        self._session.work.read("Loading settings", lambda control: read_rules(workspace),
                                on_success=self._on_rules_read,
                                on_failure=self._on_rules_read_failed, quiet=True)
        self.people.reload()
        self.alert_email_box.reload()

    def rules(self) -> WorkspaceRules | None:
        return self._rules

    def _on_rules_read(self, rules: WorkspaceRules) -> None:
        self._rules = rules
        if self._setting_writes_pending or self.reason_dialog is not None:
            return  # the checkbox shows the answer being asked about; the write reloads
        self._show_rules()

    def _show_rules(self) -> None:
        if self._rules is None:
            return
        login = self._rules.database_login
        if login is not None:
            field = self.workspace_fields["Database login"]
            field.setText(login.describe())
            field.setToolTip(login.describe())
            field.setCursorPosition(0)
        self.four_eyes_check.setChecked(self._rules.four_eyes_required)
        self.shared_file_check.setChecked(self._rules.shared_file)
        refusal = self._session.refusal(SETTINGS_ACTION)
        self.four_eyes_check.setEnabled(refusal is None)
        self.shared_file_check.setEnabled(refusal is None and not self._database.is_postgresql)
        for check in (self.four_eyes_check, self.shared_file_check):
            check.setToolTip(refusal or "")

    def _on_rules_read_failed(self, error: BaseException) -> None:
        log.warning("could not read the workspace settings: %s", error)

    # -- rules ----------------------------------------------------------------------------------

    def _on_four_eyes_check_clicked(self, checked: bool) -> None:
        question = (
            "From now on, a promotion to production must be approved by someone other than "
            "the person who asked for it. Why?" if checked else
            "From now on, the person who asked for a promotion may approve it themselves. "
            "Auditors will see this change and its reason. Why?")
        registry = self._registry
        self._ask_reason_for_setting(
            self.four_eyes_check, "Four-eyes approval", question,
            lambda reason: registry.set_four_eyes_required(checked, reason))

    def _on_shared_file_check_clicked(self, checked: bool) -> None:
        question = (
            "Every computer will open this workspace with the rollback journal, which works on "
            "network drives but is slower. Why?" if checked else
            "Computers will use write-ahead logging unless they detect a network drive "
            "themselves. Only do this if the file is on a local disk. Why?")
        registry = self._registry
        self._ask_reason_for_setting(
            self.shared_file_check, "Shared workspace file", question,
            lambda reason: registry.set_shared_file(checked, reason))

    def _ask_reason_for_setting(self, checkbox: QCheckBox, title: str, question: str,
                                save: Callable[[str], None]) -> None:
        dialog = ReasonDialog(title, question, self, action_text="Change setting")
        dialog.finished.connect(partial(self._on_reason_dialog_finished, dialog, checkbox, save))
        self.reason_dialog = dialog
        dialog.open()

    def _on_reason_dialog_finished(self, dialog: ReasonDialog, checkbox: QCheckBox,
                                   save: Callable[[str], None], result: int) -> None:
        self.reason_dialog = None
        dialog.deleteLater()
        if result != QDialog.DialogCode.Accepted:
            self._show_rules()
            return
        reason = dialog.reason()
        self._setting_writes_pending += 1
        checkbox.setEnabled(False)
        self._session.work.write(f"Changing setting: {dialog.windowTitle()}",
                                 lambda control: save(reason),
                                 on_success=self._on_setting_saved,
                                 on_failure=self._on_setting_failed)

    def _on_setting_saved(self, result: object) -> None:
        self._setting_writes_pending -= 1
        self.reload()

    def _on_setting_failed(self, error: BaseException) -> None:
        self._setting_writes_pending -= 1
        self._show_rules()
        self.reload()
        show_error(self, error)
