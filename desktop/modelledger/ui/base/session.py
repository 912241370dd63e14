"""The open workspace as the window sees it: its services, its worker threads, a change signal,
and the monitoring scheduler that runs the workspace's monitors while the window is open."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

from modelledger.services.workspace.opening import Workspace
from modelledger.ui.base.gui_thread import gui_inbox
from modelledger.ui.base.tasks import BackgroundWork

if TYPE_CHECKING:
    from modelledger.services.identity.service import Standing
    from modelledger.services.monitoring.scheduler import (
        MonitorScheduler,
        RunningJob,
        SchedulerEvent,
        SchedulerTimings,
    )

log = logging.getLogger(__name__)

# Every change to a workspace appends an audit event, so the newest event's number is a change
# counter for all instances sharing the database; reading it is one indexed MAX().
CHANGE_POLL_MILLISECONDS = 1500

READ_ONLY_SCHEDULER_NOTE = (
    "This workspace is open read-only, so this window runs no monitors. Runs are made by "
    "instances that can write to it: another ModelLedger window, or `modelledger scheduler`.")


class WorkspaceSession(QObject):
    """Views read and write through ``work`` and reload when ``changed`` fires."""

    changed = Signal()  # this window or another instance changed the workspace
    scheduler_started = Signal()  # start_scheduler() made this window run the monitors
    scheduler_event = Signal(object)  # a SchedulerEvent of this window's scheduler
    closed = Signal()  # close_in_background() has finished
    standing_changed = Signal(object)  # Standing: who the user is here, their role and key

    def __init__(self, workspace: Workspace, parent: QObject | None = None, *,
                 poll_milliseconds: int = CHANGE_POLL_MILLISECONDS) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.work = BackgroundWork(self)
        self.scheduler: MonitorScheduler | None = None
        # Who the user is here (role, key): None until first read. Read again after every
        # change, since an admin elsewhere may approve, revoke or change a role meanwhile.
        self.standing: Standing | None = None
        self._standing_read_running = False
        self._closing = False
        self._closer: threading.Thread | None = None
        self._known_head: int | None = None
        self._head_check_running = False
        # The scheduler's and the closing thread's messages reach the GUI thread through these.
        self._scheduler_events = gui_inbox().register(self._on_scheduler_thread_event)
        self._closed_messages = gui_inbox().register(self._on_closed_in_background)
        self._poll = QTimer(self)
        self._poll.setInterval(poll_milliseconds)
        self._poll.timeout.connect(self.check_for_changes)
        self._poll.start()
        self.work.write_succeeded.connect(self.check_for_changes)
        self.changed.connect(self.read_standing)
        self.check_for_changes()
        self.read_standing()

    @property
    def user(self) -> str:
        return self.workspace.actor.user

    @property
    def read_only(self) -> bool:
        return self.workspace.database.read_only

    def refusal(self, action: str, model_owner: str | None = None) -> str | None:
        """Why the user may not take ``action`` here (a disabled control's tooltip), or None
        when they may, or while that is not known yet (the services decide in any case)."""
        if self.read_only:
            return "The workspace is open read-only."
        return self.standing.refusal(action, model_owner) if self.standing else None

    def read_standing(self) -> None:
        if self._standing_read_running or self._closing:
            return
        self._standing_read_running = True
        workspace = self.workspace
        self.work.read("Checking who you are here",
                       lambda control: workspace.identity.who(workspace.signer),
                       on_success=self._on_standing_read,
                       on_failure=self._on_standing_read_failed, quiet=True)

    def _on_standing_read(self, standing: Standing) -> None:
        self._standing_read_running = False
        if standing != self.standing:
            self.standing = standing
            self.standing_changed.emit(standing)

    def _on_standing_read_failed(self, error: BaseException) -> None:
        self._standing_read_running = False
        log.warning("could not read who the user is here: %s", error)

    def check_for_changes(self) -> None:
        if self._head_check_running or self._closing:
            return
        self._head_check_running = True
        self.work.read("checking for changes", lambda control: self.workspace.audit.head_seq(),
                       on_success=self._on_head_read, on_failure=self._on_head_check_failed,
                       quiet=True)

    # -- monitoring scheduler -------------------------------------------------------------------

    def scheduler_note(self) -> str:
        """Why this window runs no monitors, or "" when it does."""
        return READ_ONLY_SCHEDULER_NOTE if self.read_only else ""

    def start_scheduler(self, *, timings: SchedulerTimings | None = None) -> bool:
        """Run the workspace's monitors from this window until it closes; False if it cannot
        (a read-only workspace). Starting imports APScheduler, so it happens on a worker."""
        if self.read_only or self.scheduler is not None or self._closing:
            return False
        from modelledger.services.monitoring.scheduler import MonitorScheduler

        scheduler = MonitorScheduler(self.workspace, timings=timings,
                                     listener=functools.partial(gui_inbox().post,
                                                            self._scheduler_events))
        self.scheduler = scheduler
        self.work.read("Starting the monitoring scheduler", lambda control: scheduler.start(),
                       quiet=True)
        self.scheduler_started.emit()
        return True

    def running_jobs(self) -> list[RunningJob]:
        return self.scheduler.running_jobs() if self.scheduler is not None else []

    def _on_scheduler_thread_event(self, event: SchedulerEvent) -> None:
        if not self._closing:
            self.scheduler_event.emit(event)

    # -- closing --------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the workers and the scheduler, then close the workspace. Blocks while a
        monitoring run in progress is stopped (a second or two)."""
        self._begin_close()
        _close(self.scheduler, self.workspace)

    def close_in_background(self) -> None:
        """Like close(), but the scheduler stops on a thread of its own, so that a run in
        progress does not freeze the window; ``closed`` fires once everything is stopped."""
        self._begin_close()
        # The thread gets what it closes, not this object: it must not hold the window's objects.
        self._closer = threading.Thread(
            target=_close_and_report, name="closing-workspace",
            args=(self.scheduler, self.workspace,
                  functools.partial(gui_inbox().post, self._closed_messages)))
        self._closer.start()

    def wait_closed(self) -> None:
        """Wait for close_in_background() to finish (before the application exits)."""
        if self._closer is not None:
            self._closer.join()

    def _begin_close(self) -> None:
        self._closing = True
        self._poll.stop()
        self.work.shutdown()

    def _on_closed_in_background(self) -> None:
        self.closed.emit()

    # -- change polling -------------------------------------------------------------------------

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


def _close(scheduler: MonitorScheduler | None, workspace: Workspace) -> None:
    # The scheduler first: stopping hands unfinished slots back through the database.
    if scheduler is not None:
        scheduler.shutdown()
    workspace.close()


def _close_and_report(scheduler: MonitorScheduler | None, workspace: Workspace,
                      report_closed: Callable[[], None]) -> None:
    try:
        _close(scheduler, workspace)
    except Exception:  # a thread has nobody to raise to: the log keeps it
        log.exception("closing the workspace failed")
    finally:
        report_closed()
