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

import logging
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Signal, Slot

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


Job = Callable[[TaskControl], Any]


class Task(QObject):
    """One job's life, seen from the GUI thread. All public signals arrive on the GUI thread."""

    progressed = Signal(int, int, str)
    succeeded = Signal(object)
    failed = Signal(object)  # the exception
    cancelled = Signal()
    finished = Signal()  # after any of the three above

    # Emitted from the worker thread; Qt queues them to this object's (the GUI) thread.
    _progress_from_worker = Signal(int, int, str)
    _outcome_from_worker = Signal(object, object, bool)

    def __init__(self, label: str, parent: QObject | None = None, *, quiet: bool = False,
                 context: QObject | None = None) -> None:
        super().__init__(parent)
        self.label = label
        self.quiet = quiet  # not announced in the status bar (routine polling)
        # The widget the result is for: if it is gone when the result arrives (its page was
        # closed), the result is dropped instead of reaching a deleted object.
        # Held weakly: if the worker thread dropped the last reference to a finished task
        # that held its widget, the widget would be destroyed on the worker thread (a crash).
        self._context = weakref.ref(context) if context is not None else None
        self.control = TaskControl(self._progress_from_worker.emit)
        self.is_finished = False
        self._progress_from_worker.connect(self._on_worker_progress)
        self._outcome_from_worker.connect(self._on_worker_outcome)

    def cancel(self) -> None:
        self.control.request_cancel()

    def _run(self, job: Job) -> None:
        """Runs on the worker thread."""
        try:
            result = job(self.control)
        except TaskCancelled:
            self._outcome_from_worker.emit(None, None, True)
        except BaseException as error:  # every failure must reach the GUI, even a bug
            self._outcome_from_worker.emit(None, error, False)
        else:
            self._outcome_from_worker.emit(result, None, False)

    def _on_future_done(self, future: Future) -> None:
        # A job dropped at shutdown never ran: still report it, so nobody waits for it forever.
        if future.cancelled():
            self._outcome_from_worker.emit(None, None, True)

    @Slot(int, int, str)
    def _on_worker_progress(self, done: int, total: int, text: str) -> None:
        self.progressed.emit(done, total, text)

    @Slot(object, object, bool)
    def _on_worker_outcome(self, result: Any, error: BaseException | None,
                           was_cancelled: bool) -> None:
        self.is_finished = True
        context = self._context() if self._context is not None else None
        if self._context is not None and (context is None or not shiboken6.isValid(context)):
            log.debug("%s: finished after its widget was closed", self.label)
        elif was_cancelled:
            log.info("%s: cancelled", self.label)
            self.cancelled.emit()
        elif error is not None:
            log.info("%s: failed: %s", self.label, error)
            self.failed.emit(error)
        else:
            self.succeeded.emit(result)
        self.finished.emit()


class BackgroundWork(QObject):
    """The window's worker threads. Failures nobody handles go to ``unhandled_failure``."""

    activity_changed = Signal(str)  # what is running, "" when idle
    unhandled_failure = Signal(object)
    write_succeeded = Signal()  # after every successful write: views may want to reload

    def __init__(self, parent: QObject | None = None, *, read_workers: int = 2) -> None:
        super().__init__(parent)
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

    def _start(self, lane: ThreadPoolExecutor, label: str, job: Job,
               on_success: Callable[[Any], None] | None,
               on_failure: Callable[[BaseException], None] | None, *, quiet: bool = False,
               context: QObject | None = None) -> Task:
        if context is None:
            context = _owner_of(on_success) or _owner_of(on_failure)
        task = Task(label, self, quiet=quiet, context=context)
        if on_success is not None:
            task.succeeded.connect(on_success)
        task.failed.connect(on_failure if on_failure is not None else self.unhandled_failure)
        task.finished.connect(lambda: self._on_task_finished(task))
        if self._closed:
            return task
        self._running.append(task)
        self._announce()
        future: Future = lane.submit(task._run, job)
        future.add_done_callback(task._on_future_done)
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
