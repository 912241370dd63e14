"""Main window: the model inventory of the open workspace."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QMainWindow,
    QTableWidget,
    QTableWidgetItem,
)

from modelledger.services.workspace import Workspace

INVENTORY_COLUMNS = ("Model", "Owner", "Risk tier", "Versions", "Production", "Last change",
                     "Description")


class _ChainCheckResults(QObject):
    """Carries a result from the worker thread to the GUI thread (a queued signal)."""

    finished = Signal(str)


class MainWindow(QMainWindow):
    def __init__(self, workspace: Workspace) -> None:
        super().__init__()
        self._workspace = workspace
        self.setWindowTitle(f"ModelLedger — {workspace.database.display_name}")
        self.resize(1100, 640)
        self.inventory = QTableWidget(0, len(INVENTORY_COLUMNS), self)
        self.inventory.setHorizontalHeaderLabels(INVENTORY_COLUMNS)
        self.inventory.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.inventory.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.inventory.setAlternatingRowColors(True)
        self.inventory.verticalHeader().setVisible(False)
        self.inventory.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.inventory.horizontalHeader().setStretchLastSection(True)
        self.setCentralWidget(self.inventory)
        self._chain_label = QLabel("Checking the audit chain…")
        # Verifying the chain reads every event: seconds on a large workspace, so never on the
        # GUI thread.
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chain-check")
        self._chain_results = _ChainCheckResults(self)
        self._chain_results.finished.connect(self._chain_label.setText)
        self.statusBar().addWidget(QLabel(
            f"{workspace.database.display_name}  ·  {workspace.database.sharing_mode.value}  ·  "
            f"user {workspace.actor.user}"))
        self.statusBar().addPermanentWidget(self._chain_label)
        refresh = QAction("&Refresh", self, shortcut=QKeySequence.StandardKey.Refresh)
        refresh.triggered.connect(self.refresh)
        quit_action = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(refresh)
        file_menu.addAction(quit_action)
        self.refresh()

    def refresh(self) -> None:
        summaries = self._workspace.registry.list_models()
        self.inventory.setRowCount(len(summaries))
        for row, summary in enumerate(summaries):
            cells = (
                summary.model.name,
                summary.model.owner,
                summary.model.risk_tier.value,
                str(summary.version_count),
                f"v{summary.production_version}" if summary.production_version else "—",
                f"{summary.model.updated_at:%Y-%m-%d %H:%M}",
                summary.model.description,
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column == 3:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.inventory.setItem(row, column, item)
        self._background.submit(self._workspace.audit.verify).add_done_callback(
            self._on_chain_checked)

    def chain_status_text(self) -> str:
        return self._chain_label.text()

    def _on_chain_checked(self, future: Future) -> None:
        error = future.exception()
        message = future.result().describe() if error is None else f"Chain check failed: {error}"
        self._chain_results.finished.emit(message)

    def closeEvent(self, event) -> None:
        self._background.shutdown(wait=True, cancel_futures=True)
        super().closeEvent(event)
