"""Workspace settings and the people who work in it; every change is audited with a reason."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from modelledger.core.domain import Role, User
from modelledger.services.identity.postgres_grants import LoginStanding, login_standing
from modelledger.services.registry.service import RegistryService
from modelledger.services.workspace.opening import Workspace
from modelledger.storage import schema
from modelledger.ui.base.errors import show_error
from modelledger.ui.base.session import WorkspaceSession
from modelledger.ui.monitoring.alert_email_box import AlertEmailBox
from modelledger.ui.widgets.dialogs import HINT_STYLE, ReasonDialog
from modelledger.ui.widgets.table_models import Column, Page, PagedTableModel, PageRequest

log = logging.getLogger(__name__)

ROLE_DESCRIPTIONS = {
    Role.DEVELOPER: "builds models, registers versions, asks for promotions",
    Role.VALIDATOR: "reviews models and decides on promotions",
    Role.OWNER: "answers for the models in production",
    Role.ADMIN: "looks after the workspace, its settings and its people",
    Role.VIEWER: "reads the registry and its audit timeline",
}


@dataclass(frozen=True)
class WorkspaceRules:
    four_eyes_required: bool
    shared_file: bool
    database_login: LoginStanding | None  # None on SQLite


def read_rules(workspace: Workspace) -> WorkspaceRules:
    registry = workspace.registry
    return WorkspaceRules(registry.four_eyes_required(), registry.shared_file(),
                          login_standing(workspace.database, workspace.actor.user))


def fetch_users(registry: RegistryService, request: PageRequest) -> Page:
    """All people as one page: a team's list is short, and the table sorts by name."""
    users = registry.list_users()
    return Page(users, len(users))


def hint(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet(HINT_STYLE)
    return label


class SettingsPage(QWidget):
    def __init__(self, session: WorkspaceSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("settingsPage")
        self._session = session
        self._registry = session.workspace.registry
        self._database = session.workspace.database
        self._rules: WorkspaceRules | None = None
        self._setting_writes_pending = 0
        self._selected_user: str | None = None
        self.reason_dialog: ReasonDialog | None = None
        self.user_dialog: UserDialog | None = None
        self.users = PagedTableModel(
            session, self._user_columns(), partial(fetch_users, self._registry),
            key=lambda user: user.name, parent=self)
        self._build()
        self.users.loaded.connect(self._on_users_loaded)
        self.users.load_failed.connect(self._on_users_load_failed)
        session.changed.connect(self.reload)
        self.reload()

    # -- building -------------------------------------------------------------------------------

    def _user_columns(self) -> list[Column]:
        me = self._session.user
        return [
            Column("User name", lambda user: f"{user.name} (you)" if user.name == me
                   else user.name),
            Column("Display name", lambda user: user.display_name),
            Column("Role", lambda user: user.role.value.capitalize(),
                   tooltip=lambda user: ROLE_DESCRIPTIONS.get(user.role, "")),
        ]

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(12)
        top = QHBoxLayout()
        top.setSpacing(12)
        top.addWidget(self._build_workspace_box(), 1)
        top.addWidget(self._build_rules_box(), 1)
        layout.addLayout(top)
        bottom = QHBoxLayout()
        bottom.setSpacing(12)
        bottom.addWidget(self._build_people_box(), 1)
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
        column.addWidget(hint("The person who asked for a promotion to production cannot "
                              "approve it themselves."))
        column.addSpacing(6)
        self.shared_file_check = QCheckBox(
            "Shared file on a network drive (use rollback journal)")
        self.shared_file_check.clicked.connect(self._on_shared_file_check_clicked)
        column.addWidget(self.shared_file_check)
        self.shared_file_hint = hint(self._shared_file_explanation())
        column.addWidget(self.shared_file_hint)
        self.read_only_hint = hint("This workspace is open read-only: its settings and people "
                                   "can be seen but not changed.")
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

    def _build_people_box(self) -> QGroupBox:
        box = QGroupBox("People and roles")
        column = QVBoxLayout(box)
        self.users_table = QTableView()
        self.users_table.setObjectName("usersTable")
        self.users_table.setModel(self.users)
        self.users_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.users_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.users_table.setAlternatingRowColors(True)
        self.users_table.verticalHeader().hide()
        self.users_table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 10)
        header = self.users_table.horizontalHeader()
        header.setHighlightSections(False)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.resizeSection(0, 150)
        header.resizeSection(1, 190)
        header.setStretchLastSection(True)
        self.users_table.selectionModel().currentRowChanged.connect(
            self._on_users_table_current_row_changed)
        self.users_table.activated.connect(self._on_users_table_activated)
        self.add_user_button = QPushButton("&Add person…")
        self.add_user_button.clicked.connect(self.add_user)
        self.edit_user_button = QPushButton("&Edit…")
        self.edit_user_button.setEnabled(False)
        self.edit_user_button.clicked.connect(self.edit_selected_user)
        self.add_user_button.setEnabled(not self._database.read_only)
        buttons = QHBoxLayout()
        buttons.addWidget(hint("Roles are recorded with each decision in the audit timeline "
                               "(an approval notes the approver's role); they do not restrict "
                               "what anyone can do."), 1)
        buttons.addWidget(self.add_user_button)
        buttons.addWidget(self.edit_user_button)
        column.addWidget(self.users_table, 1)
        column.addLayout(buttons)
        return box

    # -- loading --------------------------------------------------------------------------------

    def reload(self) -> None:
        """Read the settings and people again (this or another instance changed them)."""
        workspace = self._session.workspace
        self._session.work.read("Loading settings", lambda control: read_rules(workspace),
                                on_success=self._on_rules_read,
                                on_failure=self._on_rules_read_failed, quiet=True)
        self.users.reload()
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
        writable = not self._database.read_only
        self.four_eyes_check.setEnabled(writable)
        self.shared_file_check.setEnabled(writable and not self._database.is_postgresql)

    def _on_rules_read_failed(self, error: BaseException) -> None:
        log.warning("could not read the workspace settings: %s", error)

    def _on_users_loaded(self) -> None:
        row = self.users.row_of_key(self._selected_user) if self._selected_user else None
        if row is not None:
            self.users_table.selectRow(row)
        else:
            self._selected_user = None
            self.edit_user_button.setEnabled(False)

    def _on_users_load_failed(self, error: BaseException) -> None:
        log.warning("could not read the people of the workspace: %s", error)

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

    # -- people ---------------------------------------------------------------------------------

    def selected_user(self) -> User | None:
        index = self.users_table.currentIndex()
        return self.users.row(index) if index.isValid() else None

    def add_user(self) -> None:
        taken = {user.name for user in self.users.rows()}
        self._open_user_dialog(UserDialog(self, taken_names=taken))

    def edit_selected_user(self) -> None:
        user = self.selected_user()
        if user is not None and not self._database.read_only:
            self._open_user_dialog(UserDialog(self, user=user))

    def _open_user_dialog(self, dialog: UserDialog) -> None:
        dialog.accepted.connect(partial(self._on_user_dialog_accepted, dialog))
        dialog.finished.connect(self._on_user_dialog_finished)
        self.user_dialog = dialog
        dialog.open()

    def _on_user_dialog_accepted(self, dialog: UserDialog) -> None:
        name, display_name, role, reason = dialog.values()
        self._selected_user = name
        registry = self._registry
        self._session.work.write(f"Saving {name}",
                                 lambda control: registry.save_user(name, display_name, role,
                                                                    reason),
                                 on_success=self._on_user_saved, on_failure=self._on_user_failed)

    def _on_user_dialog_finished(self, result: int) -> None:
        if self.user_dialog is not None:
            self.user_dialog.deleteLater()
        self.user_dialog = None

    def _on_user_saved(self, user: User) -> None:
        self.users.reload()

    def _on_user_failed(self, error: BaseException) -> None:
        show_error(self, error)

    def _on_users_table_current_row_changed(self, current: QModelIndex,
                                            previous: QModelIndex) -> None:
        user = self.users.row(current) if current.isValid() else None
        self._selected_user = user.name if user is not None else None
        self.edit_user_button.setEnabled(user is not None and not self._database.read_only)

    def _on_users_table_activated(self, index: QModelIndex | QPersistentModelIndex) -> None:
        self.edit_selected_user()


class UserDialog(QDialog):
    """Add a person, or change an existing person's display name and role, with a reason."""

    def __init__(self, parent: QWidget | None = None, *, user: User | None = None,
                 taken_names: set[str] | frozenset[str] = frozenset()) -> None:
        super().__init__(parent)
        self.setObjectName("userDialog")
        self.setWindowTitle(f"Edit {user.name}" if user else "Add a person")
        self.setMinimumWidth(480)
        self._taken_names = taken_names
        self.name_edit = QLineEdit(user.name if user else "")
        self.name_edit.setPlaceholderText("the name they sign in with, e.g. jsmith")
        # A person is known by their sign-in name: it can be shown, not changed.
        self.name_edit.setReadOnly(user is not None)
        self.name_edit.setFrame(user is None)
        self.display_name_edit = QLineEdit(user.display_name if user else "")
        self.display_name_edit.setPlaceholderText("e.g. Jane Smith")
        self.role_combo = QComboBox()
        for role in Role:
            self.role_combo.addItem(f"{role.value.capitalize()} — {ROLE_DESCRIPTIONS[role]}",
                                    role.value)
        self.role_combo.setCurrentIndex(
            self.role_combo.findData((user.role if user else Role.DEVELOPER).value))
        self.reason_edit = QPlainTextEdit()
        self.reason_edit.setPlaceholderText("Reason (recorded in the audit timeline)")
        self.reason_edit.setTabChangesFocus(True)
        self.reason_edit.setFixedHeight(70)
        self.problem_label = hint("")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Save" if user else "Add")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("User name:", self.name_edit)
        form.addRow("Display name:", self.display_name_edit)
        form.addRow("Role:", self.role_combo)
        form.addRow("Reason:", self.reason_edit)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.problem_label)
        layout.addWidget(self.buttons)
        self.name_edit.textChanged.connect(self._update_ok_button)
        self.reason_edit.textChanged.connect(self._update_ok_button)
        self._update_ok_button()

    def values(self) -> tuple[str, str, Role, str]:
        name = self.name_edit.text().strip()
        return (name, self.display_name_edit.text().strip() or name,
                Role(self.role_combo.currentData()), self.reason_edit.toPlainText().strip())

    def _update_ok_button(self) -> None:
        name, _, _, reason = self.values()
        problem = ""
        if name in self._taken_names:
            problem = f"{name} is already in this workspace: select them and choose Edit."
        self.problem_label.setText(problem)
        self.problem_label.setVisible(bool(problem))
        self.ok_button.setEnabled(bool(name and reason and not problem))
