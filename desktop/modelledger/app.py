"""Composition root of the desktop application: settings -> database -> services -> window."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

log = logging.getLogger(__name__)

NO_DISPLAY_MESSAGE = """\
ModelLedger is a desktop application and needs a display, but none was found
(neither DISPLAY nor WAYLAND_DISPLAY is set).

On a machine without a screen, run it under a virtual display:
    sudo apt-get install xvfb      # once
    xvfb-run -a make demo
To check it starts without any display at all:
    QT_QPA_PLATFORM=offscreen make demo
The command line works without a display: `modelledger --help`."""


def display_available() -> bool:
    if not sys.platform.startswith("linux"):
        return True
    return bool(
        os.environ.get("QT_QPA_PLATFORM")
        or os.environ.get("DISPLAY")
        or os.environ.get("WAYLAND_DISPLAY")
    )


def run_application(target: str | None, *, demo: bool = False, user: str | None = None) -> int:
    """Show the window at once; the workspace opens (or the demo is built) on a worker thread."""
    app = _start_qt()
    if app is None:
        return 2
    if target is not None and target.lower().endswith(".zip") and Path(target).is_file():
        # An evidence or reply pack (a double-click on one): review mode, no workspace.
        from modelledger.ui.governance.review_window import ReviewWindow

        review = ReviewWindow(Path(target))
        review.show()
        return app.exec()
    from modelledger.ui.shell.main_window import MainWindow

    window = MainWindow(user=user)
    window.show()
    log.info("main window shown")
    if demo:
        window.open_demo_workspace()
    elif target is not None:
        window.open_workspace(target)
    elif window.settings.last_workspace() and _still_exists(window.settings.last_workspace()):
        window.open_workspace(window.settings.last_workspace())
    return app.exec()


def run_self_test(folder: Path | None, *, timeout_s: float) -> int:
    """``modelledger self-test``: see ui/shell/self_test.py. Works in ``folder`` (kept
    afterwards) or in a temporary folder that is removed at the end."""
    import tempfile

    from modelledger.ui.shell.self_test import isolate_in

    with tempfile.TemporaryDirectory(prefix="modelledger-self-test-") as scratch:
        folder = Path(folder) if folder is not None else Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        isolate_in(folder)  # before Qt starts: the settings file is read from there
        app = _start_qt()
        if app is None:
            return 2
        from modelledger.ui.shell.app_settings import AppSettings
        from modelledger.ui.shell.main_window import MainWindow
        from modelledger.ui.shell.self_test import SelfTest

        window = MainWindow(AppSettings())
        window.show()
        test = SelfTest(window, folder, timeout_s=timeout_s,
                        say=lambda line: print(line, flush=True))
        exit_code: list[int] = []
        test.finished.connect(exit_code.append)
        test.finished.connect(lambda _code: window.close())
        test.finished.connect(app.quit)
        test.start()
        app.exec()
        if folder != Path(scratch):
            print(f"The workspace, its settings and the evidence pack are in {folder}")
        return exit_code[0] if exit_code else 1


def _start_qt():
    """The QApplication with ModelLedger's name, icon and crash handler; None (after saying
    why) when there is no display."""
    if not display_available():
        print(NO_DISPLAY_MESSAGE, file=sys.stderr)
        return None
    import faulthandler

    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from modelledger.paths import APP_NAME, resources_folder
    from modelledger.ui.base.errors import install_crash_handler
    from modelledger.ui.base.gui_thread import paint_on_gui_thread_only

    if sys.stderr is not None:  # a windowed Windows executable has no stderr at all
        faulthandler.enable()  # a crash inside Qt still leaves a Python stack on stderr
    paint_on_gui_thread_only()
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    app.setWindowIcon(QIcon(str(resources_folder() / "icons" / "modelledger.svg")))
    install_crash_handler()
    from modelledger.services.identity import keystore

    keystore.forbid_terminal_prompt()  # the window asks for the passphrase itself
    if sys.platform == "darwin":
        from modelledger.ui.shell.file_open import PackOpenRequests

        PackOpenRequests(app)
    return app


def _still_exists(target: str) -> bool:
    return "://" in target or Path(target).exists()
