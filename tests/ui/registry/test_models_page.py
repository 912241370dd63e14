from PySide6.QtCore import Qt

from modelledger.core.domain import RiskTier, Role, Stage
from modelledger.services.workspace.opening import Workspace
from modelledger.ui.registry.models_page import ModelsPage
from tests.conftest import person, run_cli


def _page(qtbot, session) -> ModelsPage:
    page = ModelsPage(session)
    qtbot.addWidget(page)
    page.resize(1100, 700)
    page.show()
    qtbot.waitUntil(lambda: not page.inventory_model.is_loading(), timeout=5000)
    return page


def _names(page: ModelsPage) -> list[str]:
    return [summary.model.name for summary in page.inventory_model.rows()]


def test_inventory_table_model_passes_the_model_tester(qtbot, qtmodeltester, session,
                                                       workspace):
    for name, tier in (("churn", RiskTier.LOW), ("credit-risk", RiskTier.HIGH)):
        workspace.registry.register_model(name, risk_tier=tier, owner="carol")
        workspace.registry.add_version(name)
    page = _page(qtbot, session)
    assert _names(page) == ["churn", "credit-risk"]
    model = page.inventory_model
    assert [model.data(model.index(1, column)) for column in range(4)] == [
        "credit-risk", "carol", "development (v1)", "not monitored"]
    qtmodeltester.check(model)


def test_search_filters_and_sort_are_done_in_sql(qtbot, session, workspace):
    registry = workspace.registry
    for name, tier in (("alpha", RiskTier.LOW), ("beta", RiskTier.HIGH),
                       ("gamma", RiskTier.HIGH)):
        registry.register_model(name, risk_tier=tier, description=f"{name} scorer")
        registry.add_version(name)
    registry.move_to_stage("gamma", 1, Stage.STAGING, "validate")
    page = _page(qtbot, session)

    def shows(expected):
        qtbot.waitUntil(lambda: _names(page) == expected and not page.inventory_model.is_loading(),
                        timeout=5000)

    page.search_edit.setText("gam")
    shows(["gamma"])
    page.search_edit.clear()
    shows(["alpha", "beta", "gamma"])
    page.risk_filter.setCurrentIndex(page.risk_filter.findData(RiskTier.HIGH))
    shows(["beta", "gamma"])
    page.stage_filter.setCurrentIndex(page.stage_filter.findData(Stage.STAGING))
    shows(["gamma"])
    page.stage_filter.setCurrentIndex(0)
    shows(["beta", "gamma"])
    page.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
    shows(["gamma", "beta"])
    page.search_edit.setText("no such model")
    shows([])
    assert page.empty_label.isVisible() and "No model matches" in page.empty_label.text()


def test_large_inventory_is_paged_as_the_user_scrolls(qtbot, session, workspace):
    for number in range(230):
        workspace.registry.register_model(f"model-{number:03d}")
    page = _page(qtbot, session)
    assert page.inventory_model.rowCount() == 200
    assert page.count_label.text() == "Showing 200 of 230 models  — scroll for more"
    page.table.scrollToBottom()
    qtbot.waitUntil(lambda: page.inventory_model.rowCount() == 230, timeout=5000)
    assert _names(page)[-1] == "model-229"
    assert page.count_label.text() == "Showing 230 of 230 models"


def test_a_reload_while_more_rows_are_coming_keeps_them(qtbot, session, workspace):
    """Another instance's change reloads the list; rows the user scrolled for must stay."""
    for number in range(230):
        workspace.registry.register_model(f"model-{number:03d}")
    page = _page(qtbot, session)
    page.inventory_model.fetchMore()
    with qtbot.waitSignal(page.inventory_model.loaded, timeout=5000):
        page.inventory_model.reload()
        page.inventory_model.reload()  # e.g. the change poll's, superseding the first
    qtbot.waitUntil(lambda: not page.inventory_model.is_loading(), timeout=5000)
    assert page.inventory_model.rowCount() == 230


def test_another_process_registering_a_model_appears_without_a_restart(
        qtbot, session, workspace, workspace_path):
    person(workspace, "bob", Role.DEVELOPER)  # the command line finds his key on this machine
    page = _page(qtbot, session)
    assert page.empty_label.isVisible() and "No models yet" in page.empty_label.text()
    result = run_cli("--workspace", str(workspace_path), "--user", "bob", "model", "register",
                     "fraud-detector", "--owner", "bob")
    assert result.returncode == 0, result.stderr
    qtbot.waitUntil(lambda: _names(page) == ["fraud-detector"], timeout=10_000)
    assert page.table.isVisible()


def test_editing_a_model_someone_changed_meanwhile_is_refused_and_kept(
        qtbot, session, workspace, workspace_path):
    workspace.registry.register_model("churn", description="first words")
    person(workspace, "bob", Role.ADMIN)
    page = _page(qtbot, session)
    detail = page.detail
    with qtbot.waitSignal(detail.loaded, timeout=5000):
        page.open_model("churn")
    detail.tabs.setCurrentWidget(detail.overview)  # the facts are edited on the Overview tab
    detail.description_edit.setPlainText("alice's words")
    assert detail.save_button.isEnabled()
    other = Workspace.open(workspace_path, user="bob")
    try:
        current = other.registry.get_model("churn")
        other.registry.update_model("churn", current.row_version, {"description": "bob's words"})
    finally:
        other.close()
    detail.save_overview()
    # The poll may warn first ("changed elsewhere"); the refused save must say so either way.
    qtbot.waitUntil(lambda: detail.conflict_banner.isVisible()
                    and "Not saved" in detail.conflict_banner.text(), timeout=5000)
    assert detail.description_edit.toPlainText() == "alice's words"
    assert workspace.registry.get_model("churn").description == "bob's words"
    detail.revert_button.click()
    qtbot.waitUntil(lambda: detail.description_edit.toPlainText() == "bob's words",
                    timeout=5000)
    detail.description_edit.setPlainText("agreed words")
    with qtbot.waitSignal(detail.action_done, timeout=5000):
        detail.save_overview()
    assert workspace.registry.get_model("churn").description == "agreed words"
