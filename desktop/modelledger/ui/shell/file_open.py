"""Packs opened from the macOS Finder ("Open With", a double-click on a pack).

macOS does not put such a file on the command line: it hands it to the application as a
FileOpen event, also when that starts the application. Windows and Linux pass the path as an
argument (``ModelLedger gui PACK.zip``), which app.run_application handles.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QFileOpenEvent


class PackOpenRequests(QObject):
    """Installed on the application: each evidence or reply pack opens in its review window."""

    def __init__(self, application: QObject) -> None:
        super().__init__(application)
        self.review_windows: list = []
        application.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.FileOpen or not isinstance(event, QFileOpenEvent):
            return False
        path = Path(event.file())
        if path.suffix.lower() != ".zip":
            return False
        from modelledger.ui.governance.review_window import ReviewWindow

        window = ReviewWindow(path)
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        window.destroyed.connect(lambda: self.review_windows.remove(window))
        self.review_windows.append(window)
        window.show()
        return True
