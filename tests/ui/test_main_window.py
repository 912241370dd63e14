import subprocess
import sys

from modelledger.ui.main_window import MainWindow


def test_main_window_lists_the_inventory(qtbot, workspace):
    workspace.registry.register_model("credit-risk", owner="carol", risk_tier="high")
    workspace.registry.add_version("credit-risk")
    window = MainWindow(workspace)
    qtbot.addWidget(window)
    window.show()
    assert window.inventory.rowCount() == 1
    cells = [window.inventory.item(0, c).text() for c in range(window.inventory.columnCount())]
    assert cells[:5] == ["credit-risk", "carol", "high", "1", "—"]
    qtbot.waitUntil(lambda: "intact" in window.chain_status_text(), timeout=5000)
    workspace.registry.register_model("another")
    window.refresh()
    assert window.inventory.rowCount() == 2
    qtbot.waitUntil(lambda: "events (1..4)" in window.chain_status_text(), timeout=5000)


def test_launch_without_display_explains_instead_of_crashing(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "MODELLEDGER_LOG_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "modelledger", "--demo"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "needs a display" in result.stderr and "xvfb-run" in result.stderr
    assert "Traceback" not in result.stderr
