import gc
import sys
import threading

import pytest
from PySide6.QtCore import QObject, Signal

from modelledger.ui.base.gui_thread import gui_inbox
from modelledger.ui.base.tasks import BackgroundWork


def test_results_progress_and_failures_arrive_on_the_gui_thread(qtbot):
    work = BackgroundWork()
    seen = []

    def job(control):
        seen.append(("job thread", threading.current_thread() is threading.main_thread()))
        for step in range(3):
            control.report(step + 1, 3, f"step {step + 1}")
        return 42

    task = work.write("counting", job)
    task.progressed.connect(lambda done, total, text: seen.append(
        ("progress", done, threading.current_thread() is threading.main_thread())))
    with qtbot.waitSignal(task.succeeded, timeout=5000) as result:
        pass
    assert result.args == [42]
    assert seen[0] == ("job thread", False)
    assert ("progress", 3, True) in seen
    failures = []
    work.unhandled_failure.connect(failures.append)
    with qtbot.waitSignal(work.write("failing", lambda control: 1 / 0).finished, timeout=5000):
        pass
    assert isinstance(failures[0], ZeroDivisionError)
    work.shutdown()
    # Qt must delete it: garbage-collecting a QObject whose children have pending events
    # crashes PySide (in the application every BackgroundWork has a parent).
    work.deleteLater()


def test_cancel_stops_a_job_at_its_next_progress_report(qtbot):
    work = BackgroundWork()
    started = threading.Event()
    release = threading.Event()

    def long_job(control):
        started.set()
        release.wait(5)
        control.report(1, 2, "halfway")
        raise AssertionError("a cancelled job must not get past its next report")

    task = work.write("long", long_job)
    qtbot.waitUntil(started.is_set, timeout=5000)
    task.cancel()
    release.set()
    with qtbot.waitSignal(task.cancelled, timeout=5000):
        pass
    assert task.is_finished
    work.shutdown()
    work.deleteLater()


def test_emitting_signals_does_not_leak_references_to_true():
    """PySide6 6.12.0 dropped a reference to True on every emit() and crashed long sessions;
    the dependency pin keeps it out, this keeps the pin honest."""

    class Emitter(QObject):
        fired = Signal(object)

    emitter = Emitter()
    before = sys.getrefcount(True)
    for _ in range(2000):
        emitter.fired.emit(1)
    assert sys.getrefcount(True) >= before - 50


def test_what_a_job_holds_is_released_on_the_gui_thread(qtbot):
    """A widget destroyed on a worker thread crashes Qt; the worker must never drop the last
    reference to what the job's closure holds."""
    work = BackgroundWork()
    destroyed_on = []
    for _ in range(20):
        page = QObject()
        page.destroyed.connect(
            lambda: destroyed_on.append(threading.current_thread() is threading.main_thread()))
        task = work.read("loading", lambda control, page=page: page.objectName())
        del page
        with qtbot.waitSignal(task.finished, timeout=5000):
            pass
        del task
    qtbot.waitUntil(lambda: len(destroyed_on) == 20, timeout=5000)
    assert all(destroyed_on)
    work.shutdown()
    work.deleteLater()


def test_inbox_delivers_in_order_on_the_gui_thread_and_skips_gone_receivers(qtbot):
    inbox = gui_inbox()
    received = []

    class Receiver:
        def take(self, number):
            received.append((number, threading.current_thread() is threading.main_thread()))
            if number == 3:
                raise ValueError("a failing receiver must not hold up the rest")

    receiver, gone = Receiver(), Receiver()
    address, gone_address = inbox.register(receiver.take), inbox.register(gone.take)
    del gone
    threads = [threading.Thread(target=lambda: [inbox.post(address, n) for n in range(100)]),
               threading.Thread(target=lambda: inbox.post(gone_address, -1))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with qtbot.captureExceptions() as exceptions:
        qtbot.waitUntil(lambda: len(received) == 100, timeout=5000)
    assert [number for number, _ in received] == list(range(100))
    assert all(on_gui for _, on_gui in received)
    assert len(exceptions) == 1 and isinstance(exceptions[0][1], ValueError)
    inbox.forget(address)


def test_reference_cycles_are_collected_on_the_gui_thread_only(qtbot):
    """A widget in a reference cycle collected by a worker thread hung the suite (see
    ui/base/gui_thread.py); once background work exists, only the GUI thread collects."""
    work = BackgroundWork()
    collected_on = []

    class Cycle:
        def __init__(self):
            self.me = self

        def __del__(self):
            collected_on.append(threading.current_thread() is threading.main_thread())

    def make_garbage_on_a_worker(control):
        for _ in range(5000):
            Cycle()
            [[] for _ in range(10)]  # allocations that would trigger automatic collection

    with qtbot.waitSignal(work.read("cycles", make_garbage_on_a_worker).finished, timeout=10000):
        pass
    # 5000 new objects pass the youngest generation's threshold, so the GUI thread's timer
    # collects some; garbage left below the threshold waits for more allocations, as it would
    # with automatic collection, so the rest is collected here, also on the GUI thread.
    qtbot.waitUntil(lambda: len(collected_on) > 0, timeout=10000)
    gc.collect()
    assert len(collected_on) == 5000
    assert all(collected_on)
    work.shutdown()
    work.deleteLater()


class _Node:
    def __init__(self):
        self.me = self


@pytest.fixture
def collection_by_hand():
    """As on the GUI thread: no automatic collection in between to disturb the counts."""
    was_enabled = gc.isenabled()
    gc.disable()
    yield
    if was_enabled:
        gc.enable()


def test_a_full_collection_waits_for_a_quarter_of_its_survivors_to_be_new(
        collection_by_hand):
    """CPython's pacing of full collections, kept by the GUI thread's timer: without it a full
    collection scanned the whole heap every ~85,000 allocations."""
    from modelledger.ui.base.gui_thread import _FullCollectionPacing

    pacing = _FullCollectionPacing()
    pacing.modules_at_last_freeze = len(sys.modules)  # pacing alone: nothing to freeze
    survivors = [_Node() for _ in range(4000)]
    pacing.collect_full()
    assert pacing.survivors_of_last >= 4000
    assert not pacing.due()
    young = [_Node() for _ in range(pacing.survivors_of_last // 8)]
    pacing.collect_young(1)  # an eighth more reach the oldest generation: not yet
    assert not pacing.due()
    young += [_Node() for _ in range(pacing.survivors_of_last // 4)]
    pacing.collect_young(1)
    assert pacing.due()
    pacing.collect_full()
    assert not pacing.due()
    del survivors, young


def test_what_survives_a_full_collection_after_new_imports_is_frozen(collection_by_hand):
    import types
    import weakref

    from modelledger.ui.base.gui_thread import _FullCollectionPacing

    pacing = _FullCollectionPacing()
    pacing.collect_full()
    frozen = gc.get_freeze_count()
    pacing.collect_full()  # no module imported since: nothing more is frozen
    assert gc.get_freeze_count() == frozen
    kept = [_Node() for _ in range(1000)]
    garbage = [weakref.ref(_Node()) for _ in range(1000)]  # each kept alive by its own cycle
    sys.modules["modelledger_test_new_module"] = types.ModuleType("modelledger_test_new_module")
    try:
        pacing.collect_full()
        assert gc.get_freeze_count() >= frozen + 1000  # the survivors are frozen...
        assert all(node() is None for node in garbage)  # ...the garbage was collected first
    finally:
        del sys.modules["modelledger_test_new_module"]
        gc.unfreeze()  # leave the rest of the suite as it was: nothing exempt from collection
    del kept
