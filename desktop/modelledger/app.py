"""Composition root of the desktop application: settings -> database -> services -> window."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

log = logging.getLogger(__name__)

# resources/ sits at the top of a checkout; a frozen build puts it beside the package.
RESOURCES = Path(__file__).resolve().parents[2] / "resources"

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
    if not display_available():
        print(NO_DISPLAY_MESSAGE, file=sys.stderr)
        return 2
    from modelledger.services.workspace import Workspace

    if demo:
        from modelledger.services.demo import create_demo_workspace, default_demo_path

        demo_path = default_demo_path()
        if not demo_path.exists():
            print(f"Creating the demo workspace at {demo_path} (takes a few seconds)...")
        target = str(create_demo_workspace(demo_path, progress=lambda step: print(f"  {step}")))
    if target is None:
        print("Open a workspace: `modelledger gui PATH`, or try the demo: `modelledger --demo`.",
              file=sys.stderr)
        return 2
    workspace = Workspace.open(target, user=user)
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from modelledger.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("ModelLedger")
    app.setOrganizationName("ModelLedger")
    app.setWindowIcon(QIcon(str(RESOURCES / "icons" / "modelledger.svg")))
    window = MainWindow(workspace)
    window.show()
    log.info("main window shown for %s", workspace.database.display_name)
    try:
        return app.exec()
    finally:
        workspace.close()
