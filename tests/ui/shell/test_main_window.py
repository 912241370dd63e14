import itertools
import sqlite3
import subprocess
import sys

from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox, QTableWidget

from modelledger.services.workspace.opening import Workspace
from modelledger.ui.base.errors import CrashDialog, show_error
from modelledger.ui.shell.app_settings import AppSettings
from modelledger.ui.shell.main_window import MainWindow


def _open(qtbot, target) -> MainWindow:
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.workspace_opened, timeout=10_000):
        window.open_workspace(str(target))
    return window


def test_window_opens_a_workspace_off_the_gui_thread_and_shows_where_and_who(
        qtbot, workspace, workspace_path):
    workspace.registry.register_model("credit-risk", owner="carol", risk_tier="high")
    window = _open(qtbot, workspace_path)
    assert [window.navigation.item(i).text() for i in range(window.navigation.count())] == [
        "Portfolio", "Models", "Monitoring", "Alerts", "Audit timeline", "Settings"]
    status = window.workspace_label.text()
    assert "team.db" in status and "Local file (WAL)" in status and "alice" in status
    models = window.pages["Models"]
    qtbot.waitUntil(lambda: models.inventory_model.rowCount() == 1, timeout=5000)
    assert models.inventory_model.row(0).model.name == "credit-risk"
    qtbot.waitUntil(lambda: "verified" in window.chain_label.text(), timeout=5000)
    window.show_page("Audit timeline")
    assert window.stack.currentWidget() is window.pages["Audit timeline"]
    window.close()


def test_the_pages_are_built_one_per_turn_after_the_one_shown(qtbot, workspace):
    """Built together, the six pages held the GUI thread 180-290 ms when a workspace opened."""
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    built_at_each_turn = []
    turns = QTimer(interval=0)  # fires once in every turn of the loop, as the build steps do
    turns.timeout.connect(lambda: built_at_each_turn.append(len(window.pages.built())))
    with qtbot.waitSignal(window.workspace_opened, timeout=10_000):
        window.set_workspace(workspace)
        assert window.pages.built() == [window.pages["Models"]]  # the page shown, at once
        assert window.stack.currentWidget() is window.pages["Models"]
        turns.start()
    turns.stop()
    built_at_each_turn.append(len(window.pages.built()))
    assert max(later - earlier for earlier, later in itertools.pairwise(built_at_each_turn)) <= 1
    assert [window.stack.indexOf(window.pages[title]) >= 0 for title in window.pages.names()] \
        == [True] * 6
    qtbot.waitUntil(lambda: "verified" in window.chain_label.text(), timeout=5000)
    window.close()


def test_a_page_asked_for_before_its_turn_is_built_at_once(qtbot, workspace):
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    window.set_workspace(workspace)
    window.show_page("Settings")  # the last in line
    assert window.stack.currentWidget() is window.pages["Settings"]
    assert len(window.pages.built()) == 2
    with qtbot.waitSignal(window.workspace_opened, timeout=10_000):
        pass
    assert len(window.pages.built()) == 6
    window.close()


def test_pages_frozen_with_new_modules_are_collected_once_their_workspace_closes(
        qtbot, workspace):
    """A full collection after an import freezes whatever is alive, the pages too
    (ui/base/gui_thread.py); closing the workspace gives them back to the collector."""
    import gc
    import types
    import weakref

    from modelledger.ui.base import gui_thread

    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.workspace_opened, timeout=10_000):
        window.set_workspace(workspace)
    pages = [weakref.ref(page) for page in window.pages.built()]
    sys.modules["modelledger_test_imported"] = types.ModuleType("modelledger_test_imported")
    try:
        gui_thread._pacing.collect_full()  # as the GUI thread's timer does after an import
        assert gc.get_freeze_count() > 0
        window.close_workspace()
        qtbot.waitUntil(lambda: not window._closing_sessions, timeout=10_000)
        qtbot.waitUntil(lambda: gc.collect() >= 0 and all(page() is None for page in pages),
                        timeout=5000)
    finally:
        del sys.modules["modelledger_test_imported"]
        gc.unfreeze()
    window.close()


def test_last_workspace_recent_list_and_geometry_are_remembered(qtbot, workspace_path):
    Workspace.open(workspace_path, create=True).close()
    window = _open(qtbot, workspace_path)
    window.resize(798, 560)
    window.close()
    settings = AppSettings()
    assert settings.last_workspace() == str(workspace_path)
    assert settings.recent_workspaces() == [str(workspace_path)]
    again = MainWindow()
    qtbot.addWidget(again)
    assert (again.width(), again.height()) == (798, 560)
    assert again.welcome.recent_list.item(0).text() == str(workspace_path)
    again.close()


def test_a_workspace_from_a_newer_version_gets_a_clear_dialog_not_a_crash(
        qtbot, workspace, workspace_path):
    workspace.close()
    with sqlite3.connect(workspace_path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099_from_the_future'")
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    window.open_workspace(str(workspace_path))
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), QMessageBox),
                    timeout=10_000)
    box = QApplication.activeModalWidget()
    assert box.objectName() == "knownErrorDialog"
    assert box.windowTitle() == "Workspace from a newer ModelLedger"
    assert "newer version of ModelLedger" in box.text()
    box.close()
    assert window.session is None and window.stack.currentWidget() is window.welcome
    window.close()


def test_a_bug_gets_a_crash_dialog_with_traceback_version_log_and_copy(qtbot):
    import logging

    from modelledger import __version__
    from modelledger.logs import configure_logging

    configure_logging()
    logging.getLogger("modelledger.test").info("a line the report must carry")
    try:
        raise RuntimeError("boom in a slot")
    except RuntimeError as error:
        dialog = show_error(None, error)
    qtbot.addWidget(dialog)
    assert isinstance(dialog, CrashDialog)
    assert "RuntimeError: boom in a slot" in dialog.report
    assert f"ModelLedger {__version__}" in dialog.report
    assert "a line the report must carry" in dialog.report
    dialog.copy_button.click()
    assert QGuiApplication.clipboard().text() == dialog.report
    dialog.close()


def test_keyboard_shortcuts_dialog_lists_the_real_shortcuts(qtbot, workspace_path):
    Workspace.open(workspace_path, create=True).close()
    window = _open(qtbot, workspace_path)
    window.show_shortcuts()
    dialog = QApplication.activeModalWidget()
    table = dialog.findChild(QTableWidget)
    rows = {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}
    assert rows["Import model version"] == "Ctrl+I"
    assert rows["Find"] == "Ctrl+F"
    dialog.close()
    window.close()


def test_launch_without_display_explains_instead_of_crashing(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "MODELLEDGER_LOG_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "modelledger", "--demo"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "needs a display" in result.stderr and "xvfb-run" in result.stderr
    assert "Traceback" not in result.stderr
