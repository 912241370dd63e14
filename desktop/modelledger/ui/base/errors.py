"""What the user sees when something goes wrong.

A known error (``ModelLedgerError``) already says what happened and what to do: it gets a plain
message box. Anything else is a bug: it gets a crash dialog with the traceback, the versions and
the recent log, and a button that copies all of it for a bug report.
"""

from __future__ import annotations

import logging
import platform
import sys
import traceback
from types import TracebackType

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices, QFont, QGuiApplication
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from modelledger import __version__
from modelledger.core import errors
from modelledger.logs import recent_lines
from modelledger.paths import log_folder

log = logging.getLogger(__name__)

_TITLES: tuple[tuple[type[errors.ModelLedgerError], str], ...] = (
    (errors.DatabaseBusyError, "The workspace is busy"),
    (errors.ReadOnlyWorkspaceError, "The workspace is read-only"),
    (errors.NewerSchemaError, "Workspace from a newer ModelLedger"),
    (errors.CorruptDatabaseError, "The workspace file cannot be used"),
    (errors.DiskFullError, "The disk is full"),
    (errors.ArtifactIntegrityError, "A model file is missing or changed"),
    (errors.UntrustedModelError, "The model file is not trusted"),
    (errors.ConcurrentEditError, "Someone else changed this meanwhile"),
    (errors.FourEyesError, "A second person must approve"),
    (errors.LifecycleError, "That stage change is not allowed"),
    (errors.NotFoundError, "Not found"),
    (errors.InvalidInputError, "Please check the input"),
)


def title_for(error: errors.ModelLedgerError) -> str:
    for kind, title in _TITLES:
        if isinstance(error, kind):
            return title
    return "ModelLedger"


def show_error(parent: QWidget | None, error: BaseException) -> QDialog:
    """Show ``error`` without blocking the caller (the dialog is window-modal)."""
    if isinstance(error, errors.ModelLedgerError):
        box = QMessageBox(QMessageBox.Icon.Warning, title_for(error), str(error),
                          QMessageBox.StandardButton.Ok, parent)
        box.setObjectName("knownErrorDialog")
        box.open()
        return box
    log.error("unexpected error", exc_info=(type(error), error, error.__traceback__))
    dialog = CrashDialog(type(error), error, error.__traceback__, parent)
    dialog.open()
    return dialog


def crash_report(kind: type[BaseException], error: BaseException,
                 trace: TracebackType | None) -> str:
    return "\n".join([
        f"ModelLedger {__version__}",
        f"Python {platform.python_version()} · PySide6 {pyside_version} · {platform.platform()}",
        "",
        "".join(traceback.format_exception(kind, error, trace)).rstrip(),
        "",
        "Recent log:",
        *list(recent_lines.lines)[-200:],
    ])


class CrashDialog(QDialog):
    def __init__(self, kind: type[BaseException], error: BaseException,
                 trace: TracebackType | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("crashDialog")
        self.setWindowTitle("ModelLedger hit a bug")
        self.resize(760, 520)
        self.report = crash_report(kind, error, trace)
        intro = QLabel(
            "<b>Something went wrong inside ModelLedger.</b><br>This is a bug, not something "
            "you did. Your data is safe: an unfinished change is never half-written. Please "
            "copy the report below and send it to the team.")
        intro.setWordWrap(True)
        details = QPlainTextEdit(self.report)
        details.setReadOnly(True)
        details.setFont(QFont("monospace", 9))
        details.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = QPushButton("&Copy report")
        self.copy_button.clicked.connect(self._on_copy_clicked)
        logs_button = QPushButton("Open &log folder")
        logs_button.clicked.connect(open_log_folder)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(logs_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(details, 1)
        layout.addWidget(buttons)

    def _on_copy_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.report)
        self.copy_button.setText("Copied")


def open_log_folder() -> None:
    folder = log_folder()
    folder.mkdir(parents=True, exist_ok=True)
    QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))


def install_crash_handler() -> None:
    """Route uncaught exceptions on the GUI thread (slots, event handlers) to the crash dialog."""
    def on_uncaught(kind: type[BaseException], error: BaseException,
                    trace: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, error, trace)
            return
        log.critical("uncaught exception", exc_info=(kind, error, trace))
        app = QApplication.instance()
        if app is None:
            sys.__excepthook__(kind, error, trace)
            return
        if isinstance(error, errors.ModelLedgerError):
            show_error(QApplication.activeWindow(), error)
        else:
            CrashDialog(kind, error, trace, QApplication.activeWindow()).open()

    sys.excepthook = on_uncaught
