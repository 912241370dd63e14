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
    if not display_available():
        print(NO_DISPLAY_MESSAGE, file=sys.stderr)
        return 2
    import faulthandler

    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from modelledger.paths import resources_folder
    from modelledger.ui.errors import install_crash_handler
    from modelledger.ui.main_window import MainWindow

    faulthandler.enable()  # a crash inside Qt still leaves a Python stack on stderr
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("ModelLedger")
    app.setOrganizationName("ModelLedger")
    app.setWindowIcon(QIcon(str(resources_folder() / "icons" / "modelledger.svg")))
    install_crash_handler()
    if target is not None and target.lower().endswith(".zip") and Path(target).is_file():
        # An evidence or reply pack (a double-click on one): review mode, no workspace.
        from modelledger.ui.review_window import ReviewWindow

        review = ReviewWindow(Path(target))
        review.show()
        return app.exec()
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


def _still_exists(target: str) -> bool:
    return "://" in target or Path(target).exists()
