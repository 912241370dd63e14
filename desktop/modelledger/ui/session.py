"""The open workspace as the window sees it: its services, its worker threads, a change signal."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QTimer, Signal

from modelledger.services.workspace import Workspace
from modelledger.ui.tasks import BackgroundWork

log = logging.getLogger(__name__)

# Every change to a workspace appends an audit event, so the newest event's number is a change
# counter for all instances sharing the database; reading it is one indexed MAX().
CHANGE_POLL_MILLISECONDS = 1500


class WorkspaceSession(QObject):
    """Views read and write through ``work`` and reload when ``changed`` fires."""

    changed = Signal()  # this window or another instance changed the workspace

    def __init__(self, workspace: Workspace, parent: QObject | None = None, *,
                 poll_milliseconds: int = CHANGE_POLL_MILLISECONDS) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.work = BackgroundWork(self)
        self._known_head: int | None = None
        self._head_check_running = False
        self._poll = QTimer(self)
        self._poll.setInterval(poll_milliseconds)
        self._poll.timeout.connect(self.check_for_changes)
        self._poll.start()
        self.work.write_succeeded.connect(self.check_for_changes)
        self.check_for_changes()

    @property
    def user(self) -> str:
        return self.workspace.actor.user

    def check_for_changes(self) -> None:
        if self._head_check_running:
            return
        self._head_check_running = True
        self.work.read("checking for changes", lambda control: self.workspace.audit.head_seq(),
                       on_success=self._on_head_read, on_failure=self._on_head_check_failed,
                       quiet=True)

    def close(self) -> None:
        self._poll.stop()
        self.work.shutdown()
        self.workspace.close()

    def _on_head_read(self, head: int) -> None:
        self._head_check_running = False
        if self._known_head is not None and head != self._known_head:
            log.info("workspace changed: newest audit event %s -> %s", self._known_head, head)
            self._known_head = head
            self.changed.emit()
        self._known_head = head

    def _on_head_check_failed(self, error: BaseException) -> None:
        # A busy or briefly unreachable database: the next tick tries again.
        self._head_check_running = False
        log.warning("could not check the workspace for changes: %s", error)
