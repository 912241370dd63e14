import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from modelledger.core.comparison import MISSING_TEXT
from modelledger.ui.registry.compare_dialog import (
    DIFFERENCE_BACKGROUND,
    MISSING_FOREGROUND,
    SECTION_BACKGROUND,
    CompareVersionsDialog,
)
from tests.ui.conftest import write_and_wait

BACKGROUND = Qt.ItemDataRole.BackgroundRole
FONT = Qt.ItemDataRole.FontRole


@pytest.fixture
def three_versions(workspace):
    registry = workspace.registry
    registry.register_model("credit-risk")
    registry.add_version("credit-risk", parameters={"C": 1.0, "max_iter": 100},
                         metrics={"auc": 0.90, "recall": 0.80})
    registry.add_version("credit-risk", parameters={"C": 0.5, "max_iter": 100},
                         metrics={"auc": 0.92, "recall": 0.80})
    registry.add_version("credit-risk", parameters={"C": 0.5, "max_iter": 100, "tol": 0.001},
                         metrics={"auc": 0.92, "recall": 0.80})
    return "credit-risk"


def open_dialog(qtbot, session, model_name, numbers):
    dialog = CompareVersionsDialog(session, model_name, numbers)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.loaded, timeout=10_000):
        dialog.show()
    return dialog


def rows_by_key(model):
    """{(section, field): row number} of the rows the model shows."""
    shown = {}
    for number in range(model.rowCount()):
        row = model.comparison_row(number)
        if row is not None:
            shown[(row.section, row.key)] = number
    return shown


def cell(model, row, column, role=Qt.ItemDataRole.DisplayRole):
    return model.data(model.index(row, column), role)


def is_bold(model, row, column):
    font = cell(model, row, column, FONT)
    return font is not None and font.bold()


def has_background(model, row, column, colour):
    brush = cell(model, row, column, BACKGROUND)
    return brush is not None and brush.color() == colour


def test_differing_rows_are_flagged_and_highlighted(qtbot, qtmodeltester, session,
                                                     three_versions):
    dialog = open_dialog(qtbot, session, three_versions, [1, 2, 3])
    model = dialog.table_model
    qtmodeltester.check(model)
    assert dialog.stack.currentWidget() is dialog.table
    assert [model.headerData(c, Qt.Orientation.Horizontal) for c in range(4)] == [
        "Field", "v1", "v2", "v3"]
    rows = rows_by_key(model)

    c = rows[("Parameters", "C")]
    assert model.comparison_row(c).differs
    assert [cell(model, c, column) for column in range(4)] == ["C", "1", "0.5", "0.5"]
    assert all(has_background(model, c, column, DIFFERENCE_BACKGROUND) for column in range(4))
    # The field name and the values changed since v1 are bold; v1 itself is the baseline.
    assert [is_bold(model, c, column) for column in range(4)] == [True, False, True, True]

    max_iter = rows[("Parameters", "max_iter")]
    assert not model.comparison_row(max_iter).differs
    assert all(cell(model, max_iter, column, BACKGROUND) is None for column in range(4))
    assert not any(is_bold(model, max_iter, column) for column in range(4))

    tol = rows[("Parameters", "tol")]
    assert [cell(model, tol, column) for column in range(1, 4)] == [
        MISSING_TEXT, MISSING_TEXT, "0.001"]
    assert cell(model, tol, 1, Qt.ItemDataRole.ForegroundRole).color() == MISSING_FOREGROUND
    assert [is_bold(model, tol, column) for column in range(1, 4)] == [False, False, True]

    auc = rows[("Metrics", "auc")]
    assert [cell(model, auc, column) for column in range(1, 4)] == [
        "0.9", "0.92 (+0.02)", "0.92 (+0.02)"]
    assert "against v1" in cell(model, auc, 2, Qt.ItemDataRole.ToolTipRole)
    recall = rows[("Metrics", "recall")]
    assert cell(model, recall, 1, BACKGROUND) is None

    assert model.comparison_row(rows[("Version", "Created at")]).differs
    assert not model.comparison_row(rows[("Version", "Created by")]).differs
    assert dialog.summary_label.text().startswith(f"{model.comparison().differing_count} of ")

    section = next(number for number in range(model.rowCount()) if model.is_section_row(number))
    assert cell(model, section, 0) == "Version  ·  1 of 10 differ"
    assert is_bold(model, section, 0)
    assert has_background(model, section, 0, SECTION_BACKGROUND)
    assert dialog.table.columnSpan(section, 0) == 4


def test_only_differences_hides_equal_rows_and_equal_sections(qtbot, qtmodeltester, session,
                                                             three_versions):
    dialog = open_dialog(qtbot, session, three_versions, [1, 2, 3])
    model = dialog.table_model
    everything = set(rows_by_key(model))
    assert ("Environment", "python") in everything

    dialog.only_differences_box.setChecked(True)
    qtmodeltester.check(model)
    shown = set(rows_by_key(model))
    assert shown == {("Version", "Created at"), ("Parameters", "C"), ("Parameters", "tol"),
                     ("Metrics", "auc")}
    sections = [cell(model, number, 0).split("  ·  ")[0] for number in range(model.rowCount())
                if model.is_section_row(number)]
    assert sections == ["Version", "Metrics", "Parameters"]  # Environment: all equal

    dialog.only_differences_box.setChecked(False)
    assert set(rows_by_key(model)) == everything


def test_ticking_versions_in_the_list_changes_the_comparison(qtbot, session, three_versions):
    dialog = open_dialog(qtbot, session, three_versions, [1, 2, 3])
    items = {dialog.version_list.item(i).data(Qt.ItemDataRole.UserRole):
             dialog.version_list.item(i) for i in range(dialog.version_list.count())}
    assert sorted(items) == [1, 2, 3]
    assert all(item.checkState() == Qt.CheckState.Checked for item in items.values())

    items[2].setCheckState(Qt.CheckState.Unchecked)
    model = dialog.table_model
    assert dialog.selected_version_numbers() == [1, 3]
    assert model.columnCount() == 3
    assert model.headerData(2, Qt.Orientation.Horizontal) == "v3"

    items[1].setCheckState(Qt.CheckState.Unchecked)
    assert model.rowCount() == 0
    assert dialog.stack.currentWidget() is dialog.message_label
    assert "Tick two or more" in dialog.message_label.text()
    assert not dialog.copy_button.isEnabled()

    items[2].setCheckState(Qt.CheckState.Checked)
    assert dialog.selected_version_numbers() == [2, 3]
    assert dialog.stack.currentWidget() is dialog.table
    # v2 and v3 differ only in tol and their creation time.
    dialog.only_differences_box.setChecked(True)
    assert {key for _, key in rows_by_key(model)} == {"tol", "Created at"}


def test_opened_with_one_version_asks_for_more(qtbot, session, three_versions):
    dialog = open_dialog(qtbot, session, three_versions, [2])
    assert dialog.stack.currentWidget() is dialog.message_label
    assert "Tick two or more" in dialog.message_label.text()
    assert not dialog.only_differences_box.isEnabled()


def test_a_model_with_a_single_version_has_nothing_to_compare(qtbot, session, workspace):
    workspace.registry.register_model("lonely")
    workspace.registry.add_version("lonely")
    dialog = open_dialog(qtbot, session, "lonely", [1])
    assert dialog.message_label.text() == (
        "lonely has 1 version(s): there is nothing to compare yet.")


def test_identical_versions_with_only_differences_say_so(qtbot, session, workspace):
    workspace.registry.register_model("twins")
    workspace.registry.add_version("twins", parameters={"C": 1.0})
    workspace.registry.add_version("twins", parameters={"C": 1.0})
    dialog = open_dialog(qtbot, session, "twins", [1, 2])
    dialog.only_differences_box.setChecked(True)
    # Their creation times differ; nothing else does.
    assert set(rows_by_key(dialog.table_model)) == {("Version", "Created at")}


def test_an_unknown_model_shows_why_nothing_loaded(qtbot, session):
    dialog = open_dialog(qtbot, session, "no-such-model", [1, 2])
    assert dialog.stack.currentWidget() is dialog.message_label
    assert "Could not load the versions of no-such-model" in dialog.message_label.text()


def test_copy_as_tsv_and_copy_selected_cells(qtbot, session, three_versions):
    dialog = open_dialog(qtbot, session, three_versions, [1, 2, 3])
    clipboard = QGuiApplication.clipboard()
    qtbot.mouseClick(dialog.copy_button, Qt.MouseButton.LeftButton)
    lines = clipboard.text().splitlines()
    assert lines[0] == "Field\tv1\tv2\tv3"
    assert lines[1] == "Version · 1 of 10 differ\t\t\t"
    assert "C\t1\t0.5\t0.5" in lines
    assert len(lines) == 1 + dialog.table_model.rowCount()

    c = rows_by_key(dialog.table_model)[("Parameters", "C")]
    dialog.table.selectRow(c)
    qtbot.keyClick(dialog.table, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert clipboard.text() == "C\t1\t0.5\t0.5\n"


def test_a_new_version_elsewhere_appears_in_the_list(qtbot, session, three_versions):
    dialog = open_dialog(qtbot, session, three_versions, [1, 2])
    registry = session.workspace.registry
    write_and_wait(qtbot, session, lambda: registry.add_version(three_versions))
    qtbot.waitUntil(lambda: dialog.version_list.count() == 4, timeout=10_000)
    assert dialog.selected_version_numbers() == [1, 2]
    assert dialog.table_model.columnCount() == 3
