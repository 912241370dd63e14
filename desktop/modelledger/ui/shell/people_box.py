"""Settings → People: who works in the workspace, their roles and their keys.

An admin adds people and changes roles, approves the enrolment of a new key (the person asked
for it from their own workstation, signed with that key) and revokes a key that is lost or whose
owner left. Each is a signed event with a reason. Everyone else sees the list with these
buttons disabled, and the tooltip says which role they need.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from modelledger.core.domain import Role, User
from modelledger.core.identity import ENROLMENT_APPROVED, KEY_REVOKED, short_fingerprint
from modelledger.services.workspace.opening import Workspace
from modelledger.storage.identity_repo import ACTIVE, PENDING, IdentityKey
from modelledger.ui.base.errors import show_error
from modelledger.ui.base.session import WorkspaceSession
from modelledger.ui.widgets.dialogs import ReasonDialog, hint_label
from modelledger.ui.widgets.table_models import Column, Page, PagedTableModel, PageRequest

ROLE_DESCRIPTIONS = {
    Role.DEVELOPER: "builds models, registers versions, asks for promotions",
    Role.VALIDATOR: "reviews models and decides on promotions",
    Role.OWNER: "answers for the models they own: their facts, monitors and alerts",
    Role.ADMIN: "looks after the workspace, its settings, its people and their keys",
    Role.VIEWER: "reads the registry and its audit timeline",
}
PEOPLE_ACTION = "user.created"  # adding a person or changing a role: what an admin may do


@dataclass(frozen=True)
class Person:
    """Someone the workspace knows: as a user with a role, by an enrolment waiting for an
    admin, or both. ``keys`` newest first."""

    name: str
    display_name: str
    role: Role | None  # None: they asked to be enrolled and nobody has approved it yet
    keys: tuple[IdentityKey, ...]

    @property
    def pending_key(self) -> IdentityKey | None:
        return next((key for key in self.keys if key.status == PENDING), None)

    @property
    def active_key(self) -> IdentityKey | None:
        return next((key for key in self.keys if key.status == ACTIVE), None)

    def as_user(self) -> User:
        return User(self.name, self.display_name, self.role or Role.DEVELOPER)

    def key_text(self) -> str:
        shown = self.active_key or self.pending_key or (self.keys[0] if self.keys else None)
        if shown is None:
            return "no key yet"
        status = "waiting for approval" if shown.status == PENDING else shown.status
        kind = " (host)" if shown.kind == "host" else ""
        return f"{short_fingerprint(shown.fingerprint)} {status}{kind}"

    def keys_tooltip(self) -> str:
        if not self.keys:
            return (f"{self.name} has no key: they enrol from their own workstation "
                    "(first start of the app, or `modelledger user enroll`).")
        return "\n".join(f"{key.fingerprint[:16]}… {key.status}, {key.kind} key on {key.host}"
                         + (f" ({key.ended_reason})" if key.ended_reason else "")
                         for key in self.keys)


def read_people(workspace: Workspace) -> list[Person]:
    users = {user.name: user for user in workspace.registry.list_users()}
    keys: dict[str, list[IdentityKey]] = {}
    for key in sorted(workspace.identity.keys(), key=lambda key: key.requested_at,
                      reverse=True):
        keys.setdefault(key.user, []).append(key)
    people = []
    for name in sorted(users.keys() | keys.keys()):
        user = users.get(name)
        display_name = user.display_name if user else keys[name][0].display_name
        people.append(Person(name, display_name, user.role if user else None,
                             tuple(keys.get(name, ()))))
    return people


def fetch_people(workspace: Workspace, request: PageRequest) -> Page:
    """Everyone as one page: a team's list is short."""
    people = read_people(workspace)
    return Page(people, len(people))


class PeopleBox(QGroupBox):
    def __init__(self, session: WorkspaceSession, parent: QWidget | None = None) -> None:
        super().__init__("People, roles and keys", parent)
        self._session = session
        self._workspace = session.workspace
        self._selected_name: str | None = None
        self.user_dialog: UserDialog | None = None
        self.revoke_dialog: ReasonDialog | None = None
        self.users = PagedTableModel(session, self._columns(),
                                     partial(fetch_people, self._workspace),
                                     key=lambda person: person.name, parent=self)
        self._build()
        self.users.loaded.connect(self._on_users_loaded)
        session.standing_changed.connect(self._update_buttons)

    def _columns(self) -> list[Column]:
        me = self._session.user
        return [
            Column("User name", lambda person: f"{person.name} (you)" if person.name == me
                   else person.name),
            Column("Display name", lambda person: person.display_name),
            Column("Role", lambda person: person.role.value.capitalize() if person.role
                   else "— (not approved)",
                   tooltip=lambda person: ROLE_DESCRIPTIONS.get(person.role, "")
                   if person.role else "An admin approves their key and gives them a role."),
            Column("Key", lambda person: person.key_text(),
                   tooltip=lambda person: person.keys_tooltip(),
                   foreground=lambda person: "#8a5a00" if person.pending_key else None),
        ]

    def _build(self) -> None:
        column = QVBoxLayout(self)
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
        for section, width in enumerate((100, 125, 85)):
            header.resizeSection(section, width)
        header.setStretchLastSection(True)
        self.users_table.selectionModel().currentRowChanged.connect(
            self._on_users_table_current_row_changed)
        self.users_table.activated.connect(self._on_users_table_activated)
        self.add_user_button = QPushButton("&Add person…")
        self.add_user_button.clicked.connect(self.add_user)
        self.edit_user_button = QPushButton("&Edit…")
        self.edit_user_button.clicked.connect(self.edit_selected_user)
        self.approve_button = QPushButton("A&pprove key…")
        self.approve_button.clicked.connect(self.approve_selected_key)
        self.revoke_button = QPushButton("Re&voke key…")
        self.revoke_button.clicked.connect(self.revoke_selected_key)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_user_button)
        buttons.addWidget(self.edit_user_button)
        buttons.addStretch(1)
        buttons.addWidget(self.approve_button)
        buttons.addWidget(self.revoke_button)
        column.addWidget(self.users_table, 1)
        column.addLayout(buttons)
        column.addWidget(hint_label(
            "Each decision is signed with its author's key, and roles decide who may do what: "
            "a role that does not allow an action is refused, whoever asks. New keys wait "
            "here for an admin's approval."))
        self._update_buttons()

    # -- reading --------------------------------------------------------------------------------

    def reload(self) -> None:
        self.users.reload()

    def selected_user(self) -> Person | None:
        index = self.users_table.currentIndex()
        return self.users.row(index) if index.isValid() else None

    def _on_users_loaded(self) -> None:
        row = self.users.row_of_key(self._selected_name) if self._selected_name else None
        if row is not None:
            self.users_table.selectRow(row)
        else:
            self._selected_name = None
        self._update_buttons()

    def _on_users_table_current_row_changed(self, current: QModelIndex,
                                            previous: QModelIndex) -> None:
        person = self.users.row(current) if current.isValid() else None
        self._selected_name = person.name if person is not None else None
        self._update_buttons()

    def _on_users_table_activated(self, index: QModelIndex | QPersistentModelIndex) -> None:
        self.edit_selected_user()

    def _update_buttons(self, *_standing: object) -> None:
        person = self.selected_user()
        self._gate(self.add_user_button, PEOPLE_ACTION, True,
                   "Add someone and give them a role")
        self._gate(self.edit_user_button, PEOPLE_ACTION,
                   person is not None and person.role is not None,
                   "Change the selected person's display name or role")
        pending = person.pending_key if person else None
        self._gate(self.approve_button, ENROLMENT_APPROVED, pending is not None,
                   f"Approve {person.name}'s key {short_fingerprint(pending.fingerprint)}"
                   if pending and person else "Select someone whose key waits for approval")
        revocable = (person.active_key or person.pending_key) if person else None
        self._gate(self.revoke_button, KEY_REVOKED, revocable is not None,
                   f"Revoke {person.name}'s key {short_fingerprint(revocable.fingerprint)}"
                   if revocable and person else "Select someone with a key")

    def _gate(self, button: QPushButton, action: str, applies: bool, tooltip: str) -> None:
        """Enabled when it applies to the selection and the user's role allows it; otherwise
        the tooltip says what is missing."""
        refusal = self._session.refusal(action)
        button.setEnabled(applies and refusal is None)
        button.setToolTip(refusal or tooltip)

    # -- changing -------------------------------------------------------------------------------

    def add_user(self) -> None:
        taken = {person.name for person in self.users.rows()}
        self._open_user_dialog(UserDialog(self, taken_names=taken), approving=None)

    def edit_selected_user(self) -> None:
        person = self.selected_user()
        if person is not None and person.role is not None and self.edit_user_button.isEnabled():
            self._open_user_dialog(UserDialog(self, user=person.as_user()), approving=None)

    def approve_selected_key(self) -> None:
        person = self.selected_user()
        key = person.pending_key if person else None
        if person is None or key is None:
            return
        self._open_user_dialog(UserDialog(self, user=person.as_user(), approving=key),
                               approving=key)

    def _open_user_dialog(self, dialog: UserDialog, approving: IdentityKey | None) -> None:
        dialog.accepted.connect(partial(self._on_user_dialog_accepted, dialog, approving))
        dialog.finished.connect(self._on_user_dialog_finished)
        self.user_dialog = dialog
        dialog.open()

    def _on_user_dialog_accepted(self, dialog: UserDialog,
                                 approving: IdentityKey | None) -> None:
        name, display_name, role, reason = dialog.values()
        self._selected_name = name
        workspace = self._workspace
        if approving is not None:
            label = f"Approving {name}'s key"
            job = partial(workspace.identity.approve, name, role=role,
                          fingerprint=approving.fingerprint, reason=reason)
        else:
            label = f"Saving {name}"
            job = partial(workspace.registry.save_user, name, display_name, role, reason)
        self._session.work.write(label, lambda control: job(),
                                 on_success=lambda result: self.users.reload(),
                                 on_failure=partial(show_error, self))

    def _on_user_dialog_finished(self, result: int) -> None:
        if self.user_dialog is not None:
            self.user_dialog.deleteLater()
        self.user_dialog = None

    def revoke_selected_key(self) -> None:
        person = self.selected_user()
        key = (person.active_key or person.pending_key) if person else None
        if person is None or key is None:
            return
        dialog = ReasonDialog(
            f"Revoke {person.name}'s key",
            f"Revoke key {short_fingerprint(key.fingerprint)} of {person.display_name} "
            f"(on {key.host})? Decisions it signed before stay valid; anything signed with it "
            "from now on is refused and reported. They can enrol a new key. Why?",
            self, action_text="Revoke key")
        dialog.finished.connect(partial(self._on_revoke_dialog_finished, dialog, key))
        self.revoke_dialog = dialog
        dialog.open()

    def _on_revoke_dialog_finished(self, dialog: ReasonDialog, key: IdentityKey,
                                   result: int) -> None:
        self.revoke_dialog = None
        dialog.deleteLater()
        if result != QDialog.DialogCode.Accepted:
            return
        reason = dialog.reason()
        identity = self._workspace.identity
        self._session.work.write(f"Revoking {key.user}'s key",
                                 lambda control: identity.revoke(key.fingerprint, reason),
                                 on_success=lambda result: self.users.reload(),
                                 on_failure=partial(show_error, self))


class UserDialog(QDialog):
    """Add a person, change a person's display name and role, or approve their waiting key
    with a role (``approving``); always with a reason."""

    def __init__(self, parent: QWidget | None = None, *, user: User | None = None,
                 taken_names: set[str] | frozenset[str] = frozenset(),
                 approving: IdentityKey | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("userDialog")
        if approving is not None and user is not None:
            self.setWindowTitle(f"Approve {user.name}'s key")
        else:
            self.setWindowTitle(f"Edit {user.name}" if user else "Add a person")
        self.setMinimumWidth(500)
        self._taken_names = taken_names
        self.name_edit = QLineEdit(user.name if user else "")
        self.name_edit.setPlaceholderText("the name they sign in with, e.g. jsmith")
        # A person is known by their sign-in name: it can be shown, not changed.
        self.name_edit.setReadOnly(user is not None)
        self.name_edit.setFrame(user is None)
        self.display_name_edit = QLineEdit(user.display_name if user else "")
        self.display_name_edit.setPlaceholderText("e.g. Jane Smith")
        # Approving keeps the name the person gave with their enrolment.
        self.display_name_edit.setReadOnly(approving is not None)
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
        self.problem_label = hint_label("")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Approve" if approving else "Save" if user else "Add")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("User name:", self.name_edit)
        form.addRow("Display name:", self.display_name_edit)
        if approving is not None:
            key_field = QLineEdit(f"{approving.fingerprint}  ({approving.kind} key on "
                                  f"{approving.host})")
            key_field.setReadOnly(True)
            key_field.setCursorPosition(0)
            form.addRow("Key:", key_field)
        form.addRow("Role:", self.role_combo)
        form.addRow("Reason:", self.reason_edit)
        layout = QVBoxLayout(self)
        if approving is not None:
            layout.addWidget(hint_label("Check the fingerprint with them (in person or by phone): "
                                        "whoever holds this key will sign as them."))
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
