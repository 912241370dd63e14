"""What must happen on the GUI thread: messages from worker threads, and Python's collection
of reference cycles.

Qt objects must be touched on the GUI thread only, and PySide holds Python's GIL through Qt calls.
The suite met three ways for a worker to break that:
- a worker that emitted a Qt signal took Qt's connection locks while holding the GIL;
- a worker that dropped the last reference to a page destroyed the page on the worker;
- Python's cycle collector, which runs on whichever thread happens to allocate, collected a
  widget on a worker: its disconnect() waited for the GIL while holding a Qt lock that the GUI
  thread, holding the GIL, waited for in connect() (a hang; py-spy showed both stacks).

So a worker only appends to a Python queue and writes one byte to a socket; the GUI thread notices
the byte with a QSocketNotifier and makes every call itself. Workers post to an address and never
hold the receiver: the inbox keeps its method weakly, so a closed page gets no more messages. And
once any background work exists, cycles are collected by a timer on the GUI thread instead of
automatically.
"""

from __future__ import annotations

import gc
import itertools
import logging
import os
import socket
import sys
import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QSocketNotifier, QTimer

log = logging.getLogger(__name__)


def paint_on_gui_thread_only() -> None:
    """Call before the QApplication exists. Qt's raster engine otherwise hands parts of large
    fills and image conversions to a pool of threads and waits for them all; with two cores
    and a monitor run or a chart load busy in the background, that wait made the longest
    repaints of the health page. The variable is Qt's own (read when the pool is first used);
    one set by the user wins."""
    os.environ.setdefault("QT_NO_GUI_THREADPOOL", "1")


class GuiInbox:
    """Calls posted from any thread, made on the thread that created the inbox, in order."""

    def __init__(self) -> None:
        self._messages: deque[tuple[int, tuple[Any, ...]]] = deque()
        self._receivers: dict[int, weakref.WeakMethod | Callable[..., None]] = {}
        self._addresses = itertools.count(1)
        self._lock = threading.Lock()
        self._wake_pending = False
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self._notifier = QSocketNotifier(self._wake_reader.fileno(),
                                         QSocketNotifier.Type.Read)
        self._notifier.activated.connect(self._deliver)

    def register(self, receiver: Callable[..., None]) -> int:
        """An address that workers can post to; a bound method is held weakly. GUI thread."""
        address = next(self._addresses)
        self._receivers[address] = (weakref.WeakMethod(receiver)
                                    if hasattr(receiver, "__self__") else receiver)
        return address

    def forget(self, address: int) -> None:
        """Drop the address: messages still queued for it are discarded. GUI thread."""
        self._receivers.pop(address, None)

    def post(self, address: int, *args: Any) -> None:
        """Queue ``receiver(*args)`` for the GUI thread. Any thread."""
        with self._lock:
            self._messages.append((address, args))
        self._wake()

    def deliver_now(self) -> None:
        """Make the queued calls at once (on shutdown, before the event loop sees them)."""
        self._deliver()

    def _deliver(self) -> None:
        try:
            while self._wake_reader.recv(4096):
                pass
        except BlockingIOError:
            pass
        with self._lock:
            self._wake_pending = False
        try:
            while True:
                with self._lock:
                    if not self._messages:
                        return
                    address, args = self._messages.popleft()
                receiver = self._receivers.get(address)
                if isinstance(receiver, weakref.WeakMethod):
                    receiver = receiver()
                if receiver is None:
                    log.debug("message for address %s dropped: its receiver is gone", address)
                    continue
                receiver(*args)
        finally:
            if self._messages:  # a receiver raised: the rest still arrive, next turn
                self._wake()

    def _wake(self) -> None:
        with self._lock:
            if self._wake_pending:
                return
            self._wake_pending = True
        self._wake_writer.send(b"\0")


_inbox: GuiInbox | None = None


def gui_inbox() -> GuiInbox:
    """The application's inbox; the first call must come from the GUI thread."""
    global _inbox
    if _inbox is None:
        _inbox = GuiInbox()
    return _inbox


# How often the GUI thread checks whether a collection is due; the thresholds stay Python's own.
# A collection's cost grows with what was allocated since the last check: while a worker
# imports pandas, 100 ms let the youngest generations collect for up to 54 ms at once; at 25 ms
# the longest was 12-23 ms (the check itself is a few microseconds).
COLLECTION_CHECK_MILLISECONDS = 25

_collection_timer: QTimer | None = None


class _FullCollectionPacing:
    """When a full collection is due, and what it need not scan again.

    CPython's own rule, which a timer has to keep itself: besides the oldest generation's
    threshold, a full collection waits until the objects that reached the oldest generation
    since the last one are a quarter of those that survived it. Without the rule a full
    collection ran every ~85,000 net allocations (11 x 11 x 700), however large the heap.

    Modules, classes and functions live as long as the application, yet a full collection
    scanned them all every time: 165-200 ms with pandas and scikit-learn loaded, which fell
    inside a health page's opening now and then (benchmarks/chart_bench.py). So what
    survives a full collection is frozen out of the collector whenever new modules have been
    imported since the last freeze. That freezes whatever else is alive then too, the open
    workspace's pages among them, and a frozen object that later becomes garbage in a cycle is
    not collected: `release_frozen_objects` gives them back when the workspace closes. Right
    after a freeze few objects are left to survive, so the next full collection comes soon,
    and scans little."""

    def __init__(self) -> None:
        self.survivors_of_last = 0  # objects in the oldest generation after the last full one
        self.promoted_since = 0
        self.modules_at_last_freeze = 0

    def due(self) -> bool:
        return self.promoted_since > self.survivors_of_last // 4

    def collect_young(self, generation: int) -> None:
        before = sum(len(gc.get_objects(young)) for young in range(generation + 1))
        unreachable = gc.collect(generation)
        if generation == 1:  # the survivors of generation 1 move to the oldest
            self.promoted_since += max(0, before - unreachable)

    def collect_full(self) -> None:
        gc.collect(2)
        if len(sys.modules) != self.modules_at_last_freeze:
            gc.freeze()
            self.modules_at_last_freeze = len(sys.modules)
        self.survivors_of_last = len(gc.get_objects(2))
        self.promoted_since = 0


_pacing = _FullCollectionPacing()


def release_frozen_objects() -> None:
    """Give what was frozen back to the collector (a workspace closed: its pages may be frozen
    with the modules). The next full collection frees what has become garbage since and
    freezes what survives it again."""
    gc.unfreeze()
    _pacing.modules_at_last_freeze = 0


def collect_garbage_on_gui_thread() -> None:
    """Turn automatic cycle collection off and collect from a GUI-thread timer instead, as
    often as Python would. Call from the GUI thread; later calls do nothing."""
    global _collection_timer
    if _collection_timer is not None:
        return
    gc.disable()
    _pacing.collect_full()
    _collection_timer = QTimer()
    _collection_timer.setInterval(COLLECTION_CHECK_MILLISECONDS)
    _collection_timer.timeout.connect(_collect_if_due)
    _collection_timer.start()


def _collect_if_due() -> None:
    young, middle, old = gc.get_count()
    young_limit, middle_limit, old_limit = gc.get_threshold()
    if old > old_limit and _pacing.due():
        _pacing.collect_full()
    elif middle > middle_limit:
        _pacing.collect_young(1)
    elif young > young_limit:
        _pacing.collect_young(0)
