"""Settings page: workspace rules changed with a reason, people and roles, live updates."""

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from modelledger.core.domain import EventFilter, Role
from modelledger.core.identity import short_fingerprint
from modelledger.services.identity import keystore
from modelledger.services.workspace.opening import Workspace
from modelledger.ui.base.session import WorkspaceSession
from modelledger.ui.shell.settings_page import SettingsPage
from tests.conftest import person
from tests.ui.conftest import catch_up


@pytest.fixture
def open_page(qtbot, session):
    """Opens settings pages, and closes them only once no read for them is still running."""
    opened = []

    def open_(on_session=None) -> SettingsPage:
        catch_up(qtbot, on_session or session)
        page = SettingsPage(on_session or session)
        opened.append(page)
        page.resize(1100, 700)
        page.show()
        qtbot.waitUntil(lambda: page.rules() is not None and not page.people.users.is_loading())
        return page

    yield open_
    # Table models take their rows through callbacks that outlive them: let every read land
    # while the pages still exist.
    for page in opened:
        qtbot.waitUntil(lambda page=page: not page._session.work.running_labels())
        page.close()
        page.deleteLater()

def user_rows(page):
    return [tuple(page.people.users.index(row, column).data() for column in range(3))
            for row in range(page.people.users.rowCount())]


def click(qtbot, widget):
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


@pytest.fixture
def team(workspace):
    workspace.registry.save_user("bob", "Bob Okafor", Role.VALIDATOR, reason="joins")
    return workspace


def test_workspace_facts_are_shown(open_page, workspace, workspace_path):
    page = open_page()
    fields = {title: field.text() for title, field in page.workspace_fields.items()}
    assert fields["Location"] == str(workspace_path)
    assert fields["Sharing"] == "Local file (WAL)"
    assert fields["Model files"] == str(workspace.artifacts.root)
    assert fields["Signed in as"] == "alice"
    assert fields["Schema revision"]
    assert "Database login" not in fields  # a file has no login of its own
    assert page.four_eyes_check.isChecked() and page.four_eyes_check.isEnabled()
    assert not page.shared_file_check.isChecked() and page.shared_file_check.isEnabled()


def test_turning_four_eyes_off_asks_why_and_is_audited(qtbot, open_page, workspace):
    page = open_page()
    click(qtbot, page.four_eyes_check)
    dialog = page.reason_dialog
    assert dialog is not None and not dialog.ok_button.isEnabled()
    qtbot.keyClicks(dialog.reason_edit, "two-person team this quarter")
    click(qtbot, dialog.ok_button)
    qtbot.waitUntil(lambda: not workspace.registry.four_eyes_required())
    event = workspace.audit.list_events(EventFilter(action_prefix="settings."), limit=1)[0]
    assert (event.entity_id, event.reason, event.actor) == (
        "four_eyes_required", "two-person team this quarter", "alice")
    qtbot.waitUntil(page.four_eyes_check.isEnabled)
    assert not page.four_eyes_check.isChecked()


def test_cancelling_the_reason_puts_the_checkbox_back(qtbot, open_page, workspace):
    page = open_page()
    head = workspace.audit.head_seq()
    click(qtbot, page.shared_file_check)
    assert page.shared_file_check.isChecked()  # while the question is open
    page.reason_dialog.reject()
    assert not page.shared_file_check.isChecked()
    assert page.reason_dialog is None
    assert not workspace.registry.shared_file()
    assert workspace.audit.head_seq() == head


def test_marking_the_file_shared_is_saved(qtbot, open_page, workspace):
    page = open_page()
    click(qtbot, page.shared_file_check)
    qtbot.keyClicks(page.reason_dialog.reason_edit, "moved to the team drive")
    page.reason_dialog.accept()
    qtbot.waitUntil(workspace.registry.shared_file)
    qtbot.waitUntil(page.shared_file_check.isEnabled)
    assert page.shared_file_check.isChecked()


def test_a_setting_changed_by_another_instance_shows_up(qtbot, open_page, workspace,
                                                       workspace_path):
    person(workspace, "bob", Role.ADMIN)
    page = open_page()
    other = Workspace.open(workspace_path, user="bob")
    try:
        other.registry.set_four_eyes_required(False, "bob's decision")
    finally:
        other.close()
    qtbot.waitUntil(lambda: not page.four_eyes_check.isChecked(), timeout=5000)


def test_people_table_passes_the_model_tester(qtbot, qtmodeltester, open_page, team):
    page = open_page()
    assert user_rows(page) == [("alice (you)", "alice", "Admin"),
                               ("bob", "Bob Okafor", "Validator")]
    qtmodeltester.check(page.people.users)
    qtbot.waitUntil(lambda: not page.people.users.is_loading())


def test_adding_a_person_appears_in_the_table_and_the_log(qtbot, open_page, team):
    page = open_page()
    click(qtbot, page.people.add_user_button)
    dialog = page.people.user_dialog
    qtbot.keyClicks(dialog.name_edit, "carol")
    qtbot.keyClicks(dialog.display_name_edit, "Carol Nguyen")
    dialog.role_combo.setCurrentIndex(dialog.role_combo.findData(Role.OWNER.value))
    assert not dialog.ok_button.isEnabled()  # no reason yet
    qtbot.keyClicks(dialog.reason_edit, "owns the credit models")
    click(qtbot, dialog.ok_button)
    qtbot.waitUntil(lambda: ("carol", "Carol Nguyen", "Owner") in user_rows(page))
    event = team.audit.list_events(EventFilter(action_prefix="user."), limit=1)[0]
    assert (event.action, event.entity_id, event.reason) == (
        "user.created", "carol", "owns the credit models")
    assert page.people.selected_user().name == "carol"


def test_a_name_already_taken_cannot_be_added_again(qtbot, open_page, team):
    page = open_page()
    click(qtbot, page.people.add_user_button)
    dialog = page.people.user_dialog
    qtbot.keyClicks(dialog.name_edit, "bob")
    qtbot.keyClicks(dialog.reason_edit, "again")
    assert not dialog.ok_button.isEnabled()
    assert "already" in dialog.problem_label.text()
    dialog.reject()
    assert page.people.user_dialog is None


def test_editing_a_person_changes_their_role(qtbot, open_page, team):
    page = open_page()
    page.people.users_table.selectRow(1)
    click(qtbot, page.people.edit_user_button)
    dialog = page.people.user_dialog
    assert dialog.name_edit.isReadOnly() and dialog.name_edit.text() == "bob"
    dialog.role_combo.setCurrentIndex(dialog.role_combo.findData(Role.ADMIN.value))
    qtbot.keyClicks(dialog.reason_edit, "looks after the workspace now")
    click(qtbot, dialog.ok_button)
    qtbot.waitUntil(lambda: ("bob", "Bob Okafor", "Admin") in user_rows(page))
    assert {user.name: user.role for user in team.registry.list_users()}["bob"] is Role.ADMIN
    assert page.people.selected_user().name == "bob"


@pytest.mark.postgres
def test_the_shared_file_setting_is_off_limits_on_postgresql(open_page, postgres_url,
                                                              tmp_path):
    workspace = Workspace.open(postgres_url, create=True, user="alice",
                               artifact_root=tmp_path / "artifacts")
    session = WorkspaceSession(workspace, poll_milliseconds=100)
    try:
        page = open_page(session)
        assert page.workspace_fields["Sharing"].text() == "PostgreSQL server"
        assert page.four_eyes_check.isEnabled()
        assert not page.shared_file_check.isEnabled()
        assert "PostgreSQL" in page.shared_file_hint.text()
    finally:
        session.close()


def key_column(page, name):
    people = page.people
    return people.users.index(people.users.row_of_key(name), 3).data()


def test_an_admin_approves_a_waiting_key_with_a_role_and_later_revokes_it(
        qtbot, open_page, workspace):
    key = keystore.create_key("erin")  # erin asked from her own workstation
    workspace.as_user("erin").identity.request_enrolment(key, display_name="Erin Diaz")
    page = open_page()
    people = page.people
    assert ("erin", "Erin Diaz", "— (not approved)") in user_rows(page)
    assert key_column(page, "erin") == f"{short_fingerprint(key.fingerprint)} " \
                                       "waiting for approval"
    people.users_table.selectRow(people.users.row_of_key("erin"))
    assert people.approve_button.isEnabled() and not people.edit_user_button.isEnabled()
    click(qtbot, people.approve_button)
    dialog = people.user_dialog
    assert dialog.windowTitle() == "Approve erin's key" and dialog.display_name_edit.isReadOnly()
    dialog.role_combo.setCurrentIndex(dialog.role_combo.findData(Role.VALIDATOR.value))
    qtbot.keyClicks(dialog.reason_edit, "fingerprint checked by phone")
    click(qtbot, dialog.ok_button)
    qtbot.waitUntil(lambda: ("erin", "Erin Diaz", "Validator") in user_rows(page))
    approved = workspace.audit.list_events(
        EventFilter(action_prefix="identity.enrolment_approved"), limit=1)[0]
    assert (approved.actor, approved.reason) == ("alice", "fingerprint checked by phone")

    qtbot.waitUntil(lambda: people.revoke_button.isEnabled()
                    and people.selected_user().name == "erin")
    click(qtbot, people.revoke_button)
    dialog = people.revoke_dialog
    assert "Decisions it signed before stay valid" in dialog.findChild(QLabel).text()
    qtbot.keyClicks(dialog.reason_edit, "laptop lost")
    click(qtbot, dialog.ok_button)
    qtbot.waitUntil(lambda: key_column(page, "erin").endswith("revoked"))
    assert workspace.identity.keys(user="erin")[0].status == "revoked"


def test_someone_who_is_not_an_admin_sees_which_role_each_change_needs(
        qtbot, open_page, workspace):
    bob = WorkspaceSession(person(workspace, "bob", Role.VALIDATOR), poll_milliseconds=100)
    try:
        qtbot.waitUntil(lambda: bob.standing is not None)
        page = open_page(bob)
        people = page.people
        for control in (people.add_user_button, people.approve_button, people.revoke_button,
                        page.four_eyes_check, page.shared_file_check,
                        page.alert_email_box.save_button):
            assert not control.isEnabled()
            assert "bob is a validator" in control.toolTip()
            assert "needs the role admin" in control.toolTip()
        assert ("bob (you)", "bob", "Validator") in user_rows(page)
    finally:
        qtbot.waitUntil(lambda: not bob.work.running_labels())
        bob.work.shutdown()
        bob.deleteLater()


@pytest.mark.postgres
def test_the_database_login_is_among_the_facts_of_a_postgresql_workspace(qtbot, open_page,
                                                                          postgres_url,
                                                                          tmp_path):
    from modelledger.services.identity.postgres_grants import apply_grants

    workspace = Workspace.open(postgres_url, create=True, user="alice",
                               artifact_root=tmp_path / "artifacts")
    session = WorkspaceSession(workspace, poll_milliseconds=100)
    try:
        page = open_page(session)
        login = page.workspace_fields["Database login"]
        assert login.text() == ("ledger (nobody is mapped to a database login yet: any login "
                                "writes as anyone)")
        apply_grants(workspace.database, workspace.actor, workspace.changes)
        # Seen as another instance's change would be: through the session's polling.
        qtbot.waitUntil(lambda: login.text() == "ledger, mapped to alice")
    finally:
        session.close()
