import sys
import threading

from PySide6.QtCore import QObject, Signal

from modelledger.ui.tasks import BackgroundWork


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
