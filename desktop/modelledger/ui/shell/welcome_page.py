"""What the window shows before a workspace is open: how to get one, and the recent ones."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from modelledger.ui.shell.app_settings import AppSettings


class WelcomePage(QWidget):
    open_requested = Signal(str)
    new_requested = Signal()
    browse_requested = Signal()
    demo_requested = Signal()

    def __init__(self, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        title = QLabel("<h1 style='margin-bottom:2px'>ModelLedger</h1>"
                       "<p style='color:#555'>Keep machine-learning models healthy and "
                       "accountable: inventory, approvals, monitoring and a verifiable audit "
                       "timeline.</p>")
        title.setWordWrap(True)
        open_button = QPushButton("Open workspace…")
        new_button = QPushButton("New workspace…")
        demo_button = QPushButton("Explore the demo workspace")
        open_button.clicked.connect(self.browse_requested)
        new_button.clicked.connect(self.new_requested)
        demo_button.clicked.connect(self.demo_requested)
        buttons = QHBoxLayout()
        for button in (open_button, new_button, demo_button):
            button.setMinimumHeight(34)
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.recent_list = QListWidget()
        self.recent_list.itemActivated.connect(self._on_recent_list_item_activated)
        self.no_recent_label = QLabel("Workspaces you open will be listed here.")
        self.no_recent_label.setStyleSheet("color: #666;")
        column = QVBoxLayout()
        column.addWidget(title)
        column.addSpacing(10)
        column.addLayout(buttons)
        column.addSpacing(18)
        column.addWidget(QLabel("<b>Recent workspaces</b>"))
        column.addWidget(self.recent_list, 1)
        column.addWidget(self.no_recent_label)
        holder = QWidget()
        holder.setMaximumWidth(720)
        holder.setLayout(column)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(40, 40, 40, 40)
        layout.addWidget(holder, 1, Qt.AlignmentFlag.AlignHCenter)

    def reload_recent(self) -> None:
        self.recent_list.clear()
        for target in self._settings.recent_workspaces():
            QListWidgetItem(target, self.recent_list)
        has_recent = self.recent_list.count() > 0
        self.recent_list.setVisible(has_recent)
        self.no_recent_label.setVisible(not has_recent)

    def _on_recent_list_item_activated(self, item: QListWidgetItem) -> None:
        self.open_requested.emit(item.text())
