"""Background work for the GUI: two lanes of worker threads and a bridge back to Qt signals.

Every database call from the window runs here, never on the GUI thread (a shared SQLite file can
make even a read wait for another instance's write). Writes go one after the other on a single
worker, so the window never races itself; reads run beside them on a small pool, so a long import
does not hold up browsing.

A job is a plain function ``job(control) -> result``: it may report progress and should call
``control.check_cancelled()`` between steps of long work. Its result or exception comes back as a
signal on the GUI thread.
"""

from __future__ import annotations

import functools
import logging
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Signal

from modelledger.ui.base.gui_thread import collect_garbage_on_gui_thread, gui_inbox

log = logging.getLogger(__name__)


class TaskCancelled(Exception):
    """Raised inside a job when the user cancelled it; the job's work is rolled back."""


class TaskControl:
    """What a job sees of its task: a progress reporter and a cancel flag."""

    def __init__(self, report: Callable[[int, int, str], None]) -> None:
        self._report = report
        self._cancel_requested = threading.Event()

    def report(self, done: int, total: int, text: str = "") -> None:
        """Report progress; raises TaskCancelled when the user has asked to stop."""
        self.check_cancelled()
        self._report(done, total, text)

    def check_cancelled(self) -> None:
        if self._cancel_requested.is_set():
            raise TaskCancelled()

    def request_cancel(self) -> None:
        self._cancel_requested.set()

    @property
    def cancel_event(self) -> threading.Event:
        """Set when the user asks to stop: for a job that waits on other work (a worker
        process) rather than reporting between steps."""
        return self._cancel_requested


Job = Callable[[TaskControl], Any]


class Task(QObject):
    """One job's life, seen from the GUI thread. All public signals arrive on the GUI thread."""

    progressed = Signal(int, int, str)
    succeeded = Signal(object)
    failed = Signal(object)  # the exception
    cancelled = Signal()
    finished = Signal()  # after any of the three above

    def __init__(self, label: str, job: Job, parent: QObject | None = None, *,
                 quiet: bool = False, context: QObject | None = None) -> None:
        super().__init__(parent)
        self.label = label
        self.quiet = quiet  # not announced in the status bar (routine polling)
        # The widget the result is for: if it is gone when the result arrives (its page was
        # closed), the result is dropped instead of reaching a deleted object. Held weakly, so
        # a finished task never keeps a closed page alive.
        self._context = weakref.ref(context) if context is not None else None
        # The worker takes the job out of this box and lets go of it before it reports; this
        # task holds it until the outcome is delivered, so whatever the job's closure holds (a
        # page, often) is released on the GUI thread, never on the worker.
        self._job = job
        self.job_box = [job]
        self.address = gui_inbox().register(self._on_worker_message)
        self.control = TaskControl(functools.partial(gui_inbox().post, self.address, _PROGRESS))
        self.is_finished = False

    def cancel(self) -> None:
        self.control.request_cancel()

    def _on_worker_message(self, kind: str, *payload: Any) -> None:
        if kind == _PROGRESS:
            self.progressed.emit(*payload)
            return
        gui_inbox().forget(self.address)
        self._job = None
        self.is_finished = True
        context = self._context() if self._context is not None else None
        if self._context is not None and (context is None or not shiboken6.isValid(context)):
            log.debug("%s: finished after its widget was closed", self.label)
        elif kind == _CANCELLED:
            log.info("%s: cancelled", self.label)
            self.cancelled.emit()
        elif kind == _FAILED:
            log.info("%s: failed: %s", self.label, payload[0])
            self.failed.emit(payload[0])
        else:
            self.succeeded.emit(payload[0])
        self.finished.emit()


_PROGRESS, _SUCCEEDED, _FAILED, _CANCELLED = "progress", "succeeded", "failed", "cancelled"


def _run_on_worker(job_box: list[Job], control: TaskControl,
                   report_outcome: Callable[..., None]) -> None:
    """Runs on a worker thread; holds no Qt object, only the job (until it has run)."""
    job = job_box.pop()
    try:
        outcome = (_SUCCEEDED, job(control))
    except TaskCancelled:
        outcome = (_CANCELLED,)
    except BaseException as error:  # every failure must reach the GUI, even a bug
        outcome = (_FAILED, error)
    del job
    report_outcome(*outcome)


def _report_if_dropped(report_outcome: Callable[..., None], future: Future) -> None:
    # A job dropped at shutdown never ran: still report it, so nobody waits for it forever.
    if future.cancelled():
        report_outcome(_CANCELLED)


class BackgroundWork(QObject):
    """The window's worker threads. Failures nobody handles go to ``unhandled_failure``."""

    activity_changed = Signal(str)  # what is running, "" when idle
    unhandled_failure = Signal(object)
    write_succeeded = Signal()  # after every successful write: views may want to reload

    def __init__(self, parent: QObject | None = None, *, read_workers: int = 2) -> None:
        super().__init__(parent)
        collect_garbage_on_gui_thread()  # before any worker exists that could collect a widget
        self._write_lane = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-write")
        self._read_lane = ThreadPoolExecutor(max_workers=read_workers,
                                             thread_name_prefix="db-read")
        self._running: list[Task] = []
        self._closed = False

    def write(self, label: str, job: Job, *, on_success: Callable[[Any], None] | None = None,
              on_failure: Callable[[BaseException], None] | None = None,
              context: QObject | None = None) -> Task:
        """Run a job that changes the workspace, after any earlier write has finished."""
        task = self._start(self._write_lane, label, job, on_success, on_failure,
                           context=context)
        task.succeeded.connect(self.write_succeeded)
        return task

    def read(self, label: str, job: Job, *, on_success: Callable[[Any], None] | None = None,
             on_failure: Callable[[BaseException], None] | None = None,
             quiet: bool = False, context: QObject | None = None) -> Task:
        """Run a job that only reads. ``context``: the widget the result is for (see Task)."""
        return self._start(self._read_lane, label, job, on_success, on_failure, quiet=quiet,
                           context=context)

    def running_labels(self) -> list[str]:
        return [task.label for task in self._running]

    def shutdown(self) -> None:
        """Ask running jobs to stop and wait for them; queued jobs are dropped."""
        self._closed = True
        for task in self._running:
            task.cancel()
        for lane in (self._write_lane, self._read_lane):
            lane.shutdown(wait=True, cancel_futures=True)
        gui_inbox().deliver_now()

    def _start(self, lane: ThreadPoolExecutor, label: str, job: Job,
               on_success: Callable[[Any], None] | None,
               on_failure: Callable[[BaseException], None] | None, *, quiet: bool = False,
               context: QObject | None = None) -> Task:
        if context is None:
            context = _owner_of(on_success) or _owner_of(on_failure)
        task = Task(label, job, self, quiet=quiet, context=context)
        if on_success is not None:
            task.succeeded.connect(on_success)
        task.failed.connect(on_failure if on_failure is not None else self.unhandled_failure)
        task.finished.connect(lambda: self._on_task_finished(task))
        if self._closed:
            gui_inbox().forget(task.address)
            return task
        self._running.append(task)
        self._announce()
        report_outcome = functools.partial(gui_inbox().post, task.address)
        future: Future = lane.submit(_run_on_worker, task.job_box, task.control, report_outcome)
        future.add_done_callback(functools.partial(_report_if_dropped, report_outcome))
        return task

    def _on_task_finished(self, task: Task) -> None:
        if task in self._running:
            self._running.remove(task)
        self._announce()
        task.deleteLater()

    def _announce(self) -> None:
        labels = [task.label for task in self._running if not task.quiet]
        if not labels:
            self.activity_changed.emit("")
        elif len(labels) == 1:
            self.activity_changed.emit(labels[0])
        else:
            self.activity_changed.emit(f"{labels[0]} (+{len(labels) - 1} more)")


def _owner_of(callback: Callable | None) -> QObject | None:
    """The QObject a bound-method callback belongs to, if any."""
    owner = getattr(callback, "__self__", None)
    return owner if isinstance(owner, QObject) else None
