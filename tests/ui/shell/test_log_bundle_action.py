"""Help > Bundle logs for support: the window writes the bundle on a worker and says where."""

import zipfile
from datetime import timedelta

from PySide6.QtWidgets import QMessageBox

from modelledger.paths import log_folder
from modelledger.ui.shell.main_window import MainWindow
from tests.services.governance.test_as_of import run_in_process
from tests.services.monitor_data import add_monitor


def test_the_bundle_of_the_open_workspace_holds_its_runs(qtbot, open_window, workspace,
                                                        tmp_path):
    monitor = add_monitor(workspace, tmp_path)
    run = run_in_process(workspace, monitor.id)
    log_folder().mkdir(parents=True, exist_ok=True)
    (log_folder() / "modelledger.log").write_text("INFO started\n")
    window = open_window(workspace)
    destination = tmp_path / "support.zip"
    action = next(action for action in window.actions()
                  if action.text() == "&Bundle logs for support…")
    assert action.isEnabled()
    with qtbot.waitSignal(window.write_log_bundle(destination, timedelta(days=7)).finished,
                          timeout=10_000):
        pass
    assert window.statusBar().currentMessage() == (
        f"Log bundle saved to {destination} (1 monitoring run)")
    with zipfile.ZipFile(destination) as archive:
        assert f"job-logs/credit-risk/drift/run-{run.id}.log" in archive.namelist()
        assert archive.read("application-logs/modelledger.log") == b"INFO started\n"


def test_without_a_workspace_the_application_logs_are_bundled(qtbot, tmp_path):
    window = MainWindow()
    qtbot.addWidget(window)
    destination = tmp_path / "support.zip"
    with qtbot.waitSignal(window.write_log_bundle(destination, timedelta(days=1)).finished):
        pass
    with zipfile.ZipFile(destination) as archive:
        assert "none open" in archive.read("README.txt").decode()
    window.close()


def test_an_unwritable_folder_says_so_and_clears_the_progress(qtbot, tmp_path):
    window = MainWindow()
    qtbot.addWidget(window)
    task = window.write_log_bundle(tmp_path / "missing" / "support.zip", timedelta(days=1))
    with qtbot.waitSignal(task.finished):
        pass
    box = window.findChild(QMessageBox, "knownErrorDialog")
    qtbot.waitUntil(lambda: box is not None and box.isVisible())
    assert "Cannot write the log bundle to" in box.text()
    assert "Choose a folder you can write to" in box.text()
    assert window.statusBar().currentMessage() == ""
    box.close()
    window.close()
