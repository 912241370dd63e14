"""Fixtures for widget tests: a workspace session with its worker threads, closed after the test."""

from __future__ import annotations

import pytest

from modelledger.ui.base.session import WorkspaceSession


@pytest.fixture(autouse=True)
def _isolated_app_settings(tmp_path_factory, monkeypatch):
    """Window geometry and recent workspaces go to a per-test folder, never the real home."""
    monkeypatch.setenv("MODELLEDGER_CONFIG_DIR", str(tmp_path_factory.mktemp("config")))


@pytest.fixture
def session(qtbot, workspace):
    """The ``workspace`` (user alice) as the window sees it; polls for changes every 100 ms."""
    opened = WorkspaceSession(workspace, poll_milliseconds=100)
    yield opened
    opened.work.shutdown()
    opened.deleteLater()


@pytest.fixture
def demo_session(qtbot, demo_workspace):
    """The demo workspace (a private copy) as the window sees it."""
    opened = WorkspaceSession(demo_workspace, poll_milliseconds=100)
    yield opened
    opened.work.shutdown()
    opened.deleteLater()


@pytest.fixture
def open_window(qtbot, monkeypatch):
    """Opens main windows on workspaces (their monitoring scheduler starts, with a quick
    heartbeat) and closes them after the test."""
    monkeypatch.setenv("MODELLEDGER_HEARTBEAT_S", "0.3")
    windows = []

    def open_(workspace):
        from modelledger.ui.shell.main_window import MainWindow

        window = MainWindow()
        qtbot.addWidget(window)
        window.resize(1280, 800)
        window.show()
        window.set_workspace(workspace)
        windows.append(window)
        qtbot.waitUntil(lambda: window.session.scheduler is not None, timeout=5000)
        return window

    yield open_
    for window in windows:
        window.close()


def write_and_wait(qtbot, session: WorkspaceSession, job, timeout: int = 10_000):
    """Run a write through the session's write lane and return its result (test helper)."""
    results, failures = [], []
    task = session.work.write("test write", lambda control: job(), on_success=results.append,
                              on_failure=failures.append)
    with qtbot.waitSignal(task.finished, timeout=timeout):
        pass
    assert results, f"the write failed: {failures}"
    return results[0]


def catch_up(qtbot, session):
    """Let the session see writes the test made before opening a page, so they do not reach
    the page later as a change and reload it in the middle of the test."""
    qtbot.waitUntil(lambda: not session.work.running_labels())
    session.check_for_changes()
    qtbot.waitUntil(lambda: not session.work.running_labels())
