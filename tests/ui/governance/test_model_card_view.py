"""The Model card tab: the card of the chosen version, editing its sections, exports."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QKeySequence

from modelledger.services.workspace.opening import Workspace
from modelledger.ui.base.session import WorkspaceSession
from modelledger.ui.governance.model_card_view import ModelCardView, export_file_name
from modelledger.ui.registry.model_detail import ModelDetailView
from modelledger.ui.widgets.dialogs import ReasonDialog
from tests.conftest import person
from tests.ui.conftest import catch_up

PURPOSE = "Predict which retail customers cancel within 90 days."


def _register(workspace: Workspace) -> None:
    registry = workspace.registry
    registry.register_model("churn", owner="alice", purpose=PURPOSE)
    registry.add_version("churn", metrics={"roc_auc": 0.812}, notes="first try")
    registry.add_version("churn", metrics={"roc_auc": 0.874}, parent_version=1)


def _shown(qtbot, widget, loaded, model_name: str):
    """``widget`` shown on screen with ``model_name``, once ``loaded`` fired."""
    qtbot.addWidget(widget)
    widget.resize(1200, 800)
    widget.show()
    with qtbot.waitSignal(loaded, timeout=10_000):
        widget.show_model(model_name)
    return widget


@pytest.fixture
def card_page(qtbot, session, workspace):
    _register(workspace)
    catch_up(qtbot, session)
    page = ModelCardView(session)
    return _shown(qtbot, page, page.card_loaded, "churn")


def _choose_section(page: ModelCardView, key: str) -> None:
    page.section_combo.setCurrentIndex(page.section_combo.findData(key))


def _choose_version(qtbot, page: ModelCardView, number: int) -> None:
    with qtbot.waitSignal(page.card_loaded, timeout=10_000):
        page.version_combo.setCurrentIndex(page.version_combo.findData(number))


def _save(qtbot, page: ModelCardView, reason: str, signal) -> None:
    dialog = page.save_section()
    assert dialog is not None
    dialog.reason_edit.setPlainText(reason)
    with qtbot.waitSignal(signal, timeout=10_000):
        dialog.ok_button.click()


def test_the_tab_shows_the_card_of_the_current_version_and_of_the_one_chosen(
        qtbot, session, workspace):
    _register(workspace)
    catch_up(qtbot, session)
    detail = ModelDetailView(session)
    _shown(qtbot, detail, detail.loaded, "churn")
    assert detail.card_view is None  # built when first shown
    titles = [detail.tabs.tabText(i) for i in range(detail.tabs.count())]
    assert "Model card" in titles
    detail.tabs.setCurrentWidget(detail.card_tab)
    page = detail.card_view
    assert page is not None
    qtbot.waitUntil(lambda: page.card is not None, timeout=10_000)
    # Nothing is in production: the newest version is the default.
    assert page.card.version.version_number == 2
    assert page.version_combo.currentData() == 2
    shown = page.browser.toPlainText()
    assert "Model card: churn v2" in shown and PURPOSE in shown and "0.874" in shown
    assert "0.812" not in shown
    # The screen leaves out what only a printed page needs: the running header and contents.
    assert "Contents" not in shown and shown.count("Model card: churn v2") == 1
    _choose_version(qtbot, page, 1)
    shown = page.browser.toPlainText()
    assert "Model card: churn v1" in shown and "0.812" in shown and "first try" in shown

    # It follows the model the page shows.
    workspace.registry.register_model("fraud", purpose="Flag card fraud.")
    workspace.registry.add_version("fraud")
    with qtbot.waitSignal(page.card_loaded, timeout=10_000):
        detail.show_model("fraud")
    qtbot.waitUntil(lambda: page.card.model.name == "fraud", timeout=10_000)
    assert "Flag card fraud." in page.browser.toPlainText()


def test_saving_a_section_stores_and_audits_it_with_ctrl_s(qtbot, card_page, workspace):
    _choose_section(card_page, "limitations")
    assert card_page.editor.placeholderText().startswith("Known weaknesses")
    assert not card_page.save_button.isEnabled()  # nothing to save yet
    card_page.editor.setFocus()
    card_page.editor.setPlainText("Scores drop for customers younger than 25.")
    assert card_page.save_button.isEnabled()
    qtbot.waitUntil(card_page.editor.hasFocus)
    qtbot.keySequence(card_page.editor, QKeySequence(QKeySequence.StandardKey.Save))
    dialog = card_page.findChild(ReasonDialog, "reasonDialog")
    assert dialog is not None and dialog.isVisible()
    dialog.reason_edit.setPlainText("validation report VR-7")
    with qtbot.waitSignal(card_page.saved, timeout=10_000):
        dialog.ok_button.click()

    stored = workspace.cards.card("churn", 2).text("limitations")
    assert stored.text == "Scores drop for customers younger than 25."
    assert (stored.written_for, stored.updated_by) == (2, "alice")
    assert workspace.cards.card("churn", 1).text("limitations").text == ""
    [event] = [event for event in workspace.audit.list_events(limit=50)
               if event.action == "model_card.edited"]
    assert (event.action, event.entity_id, event.reason) == (
        "model_card.edited", "churn/v2", "validation report VR-7")
    assert "Saved “Limitations” of churn v2" in card_page.status_label.text()
    qtbot.waitUntil(lambda: "younger than 25" in card_page.browser.toPlainText(),
                    timeout=10_000)
    assert not card_page.drafts and not card_page.save_button.isEnabled()


def test_a_concurrent_edit_is_refused_and_the_users_text_is_kept(qtbot, card_page, workspace):
    _choose_section(card_page, "evaluation_data")
    mine = "Hold-out of March 2024, 12,000 customers."
    card_page.editor.setPlainText(mine)
    # bob saves the same section from another window meanwhile
    person(workspace, "bob").cards.save_section(
        "churn", 2, "evaluation_data", "Out-of-time sample, Q2 2024.", "from the data team")
    # this page notices the change and warns before any save is tried
    qtbot.waitUntil(card_page.conflict_banner.isVisible, timeout=10_000)
    assert "bob changed Evaluation data" in card_page.conflict_banner.text()
    assert card_page.editor.toPlainText() == mine

    _save(qtbot, card_page, "my numbers", card_page.save_refused)
    assert "Not saved" in card_page.conflict_banner.text()
    assert "bob changed Evaluation data of churn v2" in card_page.conflict_banner.text()
    assert card_page.editor.toPlainText() == mine
    assert workspace.cards.card("churn", 2).text("evaluation_data").text == \
        "Out-of-time sample, Q2 2024."
    qtbot.waitUntil(lambda: "Out-of-time sample" in card_page.browser.toPlainText(),
                    timeout=10_000)
    assert card_page.editor.toPlainText() == mine  # the reload kept the draft

    # Discarding the draft shows bob's text, and an edit over it saves.
    card_page.discard_draft()
    assert card_page.editor.toPlainText() == "Out-of-time sample, Q2 2024."
    assert not card_page.conflict_banner.isVisible()
    card_page.editor.setPlainText(f"Out-of-time sample, Q2 2024. {mine}")
    _save(qtbot, card_page, "added the hold-out", card_page.saved)
    assert mine in workspace.cards.card("churn", 2).text("evaluation_data").text


def test_drafts_survive_switching_section_and_version(qtbot, card_page, workspace):
    _choose_section(card_page, "limitations")
    card_page.editor.setPlainText("draft about limits")
    _choose_section(card_page, "ethical_considerations")
    assert card_page.editor.toPlainText() == ""
    limitations = card_page.section_combo.findData("limitations")
    assert card_page.section_combo.itemText(limitations) == "Limitations — unsaved draft"
    _choose_version(qtbot, card_page, 1)
    assert "Limitations (v2)" in card_page.drafts_label.text()
    _choose_section(card_page, "limitations")
    assert card_page.editor.toPlainText() == ""  # v1 has no draft of its own
    _choose_version(qtbot, card_page, 2)
    assert card_page.editor.toPlainText() == "draft about limits"
    assert workspace.cards.card("churn", 2).text("limitations").text == ""


def test_a_section_carried_over_can_be_confirmed_for_the_new_version(qtbot, card_page,
                                                                      workspace):
    workspace.cards.save_section("churn", 1, "limitations", "Small sample.", "first card")
    _choose_section(card_page, "limitations")
    qtbot.waitUntil(lambda: card_page.editor.toPlainText() == "Small sample.", timeout=10_000)
    assert "Carried over from v1" in card_page.section_note.text()
    assert card_page.save_button.isEnabled()
    _save(qtbot, card_page, "still true for v2", card_page.saved)
    stored = workspace.cards.card("churn", 2).text("limitations")
    assert (stored.text, stored.written_for, stored.carried_over) == ("Small sample.", 2, False)


def test_exports_write_markdown_html_and_pdf(qtbot, card_page, workspace, tmp_path):
    workspace.cards.save_section("churn", 2, "limitations", "Not for business customers.",
                                 "scope")
    catch_up(qtbot, card_page._session)
    (tmp_path / "exports").mkdir()
    written = {}
    for kind in ("md", "html", "pdf"):
        target = tmp_path / "exports" / export_file_name("churn", 2, kind)
        with qtbot.waitSignal(card_page.exported, timeout=30_000) as done:
            card_page.export(kind, str(target))
        assert done.args == [str(target)]
        written[kind] = target.read_bytes()
    # written atomically: no temporary file is left beside them
    assert sorted(p.name for p in (tmp_path / "exports").iterdir()) == [
        "churn-v2-model-card.html", "churn-v2-model-card.md", "churn-v2-model-card.pdf"]
    markdown = written["md"].decode()
    assert markdown.startswith("# Model card: churn v2\n")
    assert "Not for business customers." in markdown and PURPOSE in markdown
    page = written["html"].decode()
    assert page.startswith("<!DOCTYPE html>") and "<title>Model card: churn v2</title>" in page
    assert "Not for business customers." in page
    assert written["pdf"].startswith(b"%PDF")
    assert str(tmp_path / "exports" / "churn-v2-model-card.pdf") in card_page.status_label.text()


def test_an_export_that_cannot_be_written_says_so(qtbot, card_page, tmp_path):
    from PySide6.QtWidgets import QApplication, QMessageBox

    card_page.export("md", str(tmp_path / "no-such-folder" / "card.md"))
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), QMessageBox),
                    timeout=10_000)
    box = QApplication.activeModalWidget()
    assert box.windowTitle() == "Please check the input"
    assert "Cannot write" in box.text() and "Choose another folder" in box.text()
    box.close()
    assert not (tmp_path / "no-such-folder").exists()


def test_a_read_only_workspace_shows_the_card_but_cannot_edit_it(
        qtbot, workspace, workspace_path, monkeypatch):
    _register(workspace)
    workspace.close()
    monkeypatch.setattr("modelledger.storage.database._is_writable", lambda path: False)
    read_only = Workspace.open(workspace_path)
    session = WorkspaceSession(read_only, poll_milliseconds=100)
    try:
        assert session.read_only
        page = ModelCardView(session)
        _shown(qtbot, page, page.card_loaded, "churn")
        assert PURPOSE in page.browser.toPlainText()
        assert page.read_only_note.isVisible() and "read-only" in page.read_only_note.text()
        assert page.editor.isReadOnly()
        qtbot.keyClicks(page.editor, "typed")
        assert page.editor.toPlainText() == ""
        assert not page.save_button.isEnabled() and page.save_section() is None
        assert page.export_button.isEnabled()  # reading and exporting still work
    finally:
        session.work.shutdown()
        session.deleteLater()
        read_only.close()


def test_a_model_without_versions_says_so(qtbot, session, workspace):
    workspace.registry.register_model("empty")
    catch_up(qtbot, session)
    page = ModelCardView(session)
    _shown(qtbot, page, page.card_loaded, "empty")
    assert "has no versions yet" in page.browser.toPlainText()
    assert not page.export_button.isEnabled() and not page.editor.isEnabled()
    assert not page.save_button.isEnabled()
