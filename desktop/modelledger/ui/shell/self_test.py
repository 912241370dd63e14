"""``modelledger self-test``: check that an installation works, end to end, through the window.

It builds the demo workspace in a folder of its own (its own settings, data and signing keys, so
nothing of the user's is touched), opens it in the main window, runs one monitor through the
scheduler and its worker process, exports a signed evidence pack with its reports, opens that
pack in review mode (which verifies it) and exits 0; any failure prints what went wrong and
exits 1. The installer's smoke test runs it in the frozen build (installer/smoke_test.py).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from modelledger.core.evidence import EventSelection
from modelledger.core.monitoring import MonitorStatus
from modelledger.paths import CONFIG_DIR_ENV, DATA_DIR_ENV

log = logging.getLogger(__name__)

PACK_NAME = "self-test-evidence.zip"


def isolate_in(folder: Path) -> None:
    """Settings, keys and the demo workspace go into ``folder``; worker processes inherit it."""
    os.environ[CONFIG_DIR_ENV] = str(folder / "config")
    os.environ[DATA_DIR_ENV] = str(folder / "data")


class SelfTest(QObject):
    """The steps, one after the other, each started by the previous one's signal."""

    finished = Signal(int)  # the exit code: 0 when every step passed

    def __init__(self, window, folder: Path, *, timeout_s: float,
                 say: Callable[[str], None] = print) -> None:
        super().__init__(window)
        self.window = window
        self.pack_path = folder / PACK_NAME
        self.review = None
        self._say = say
        self._started = time.monotonic()
        self._step = "starting"
        self._done = False
        self._timeout_s = timeout_s
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._on_timeout)

    def start(self) -> None:
        self._timer.start(int(self._timeout_s * 1000))
        self._begin("building and opening the demo workspace")
        self.window.error_shown.connect(self._fail)
        self.window.workspace_opened.connect(self._on_workspace_opened)
        self.window.open_demo_workspace()

    # -- steps ----------------------------------------------------------------------------------

    def _on_workspace_opened(self) -> None:
        self.window.workspace_opened.disconnect(self._on_workspace_opened)
        session = self.window.session
        self._passed(f"opened {session.workspace.database.display_name}")
        self._begin("starting the monitoring scheduler")
        if session.scheduler is not None:
            self._on_scheduler_started()
        else:
            session.scheduler_started.connect(self._on_scheduler_started)

    def _on_scheduler_started(self) -> None:
        session = self.window.session
        self._passed("scheduler running")
        self._begin("running one monitor now")
        scheduler, monitoring = session.scheduler, session.workspace.monitoring

        def run_one(control):
            monitor = monitoring.list_monitors(status=MonitorStatus.ACTIVE)[0]
            stored = scheduler.run_now(monitor.id).result()
            if stored.run_id is None:
                raise RuntimeError(f"the run of {monitor.name} was not stored")
            run, metrics = monitoring.get_run(stored.run_id)
            return monitor, run, metrics

        session.work.read("Self-test: running a monitor", run_one,
                          on_success=self._on_monitor_run, on_failure=self._fail)

    def _on_monitor_run(self, result) -> None:
        monitor, run, metrics = result
        if run.status.value != "succeeded":
            self._fail(RuntimeError(f"run #{run.id} of {monitor.model_name}/{monitor.name} "
                                    f"ended {run.status.value}: {run.summary}"))
            return
        self._passed(f"run #{run.id} of {monitor.model_name}/{monitor.name}: "
                     f"{run.health.value}, {len(metrics)} metrics")
        self._begin("exporting a signed evidence pack with its reports")
        task = self.window.export_evidence(EventSelection(), self.pack_path, with_reports=True)
        task.succeeded.connect(self._on_exported)
        task.failed.connect(self._fail)

    def _on_exported(self, summary) -> None:
        self._passed(f"{summary.path.name}: {summary.selected_count:,} events, "
                     f"{len(summary.files)} files, {summary.path.stat().st_size:,} bytes")
        self._begin("opening the pack in review mode, which verifies it")
        from modelledger.ui.governance.review_window import ReviewWindow

        self.review = ReviewWindow(self.pack_path)
        self.review.loaded.connect(self._on_review_loaded)
        self.review.load_failed.connect(self._fail)
        self.review.show()

    def _on_review_loaded(self, opened) -> None:
        verification = opened.contents.verification
        if not verification.valid:
            self._fail(RuntimeError("the pack does not verify:\n" + verification.describe()))
            return
        self._passed(f"verified: {verification.event_count:,} chained events, "
                     f"{len(verification.files)} files, signed by {verification.signer}")
        self._finish(0)

    # -- bookkeeping ----------------------------------------------------------------------------

    def _begin(self, step: str) -> None:
        self._step = step
        log.info("self-test: %s", step)
        self._say(f"[{self._elapsed()}] {step}…")

    def _passed(self, detail: str) -> None:
        self._say(f"[{self._elapsed()}]   ok: {detail}")

    def _fail(self, error: BaseException) -> None:
        log.error("self-test failed while %s: %s", self._step, error, exc_info=error)
        self._say(f"[{self._elapsed()}] FAILED while {self._step}: {error}")
        self._finish(1)

    def _on_timeout(self) -> None:
        self._fail(TimeoutError(f"no answer within {self._timeout_s:.0f} s"))

    def _finish(self, code: int) -> None:
        if self._done:
            return
        self._done = True
        self._timer.stop()
        if code == 0:
            self._say(f"[{self._elapsed()}] self-test passed")
        if self.review is not None:
            self.review.close()
        self.finished.emit(code)

    def _elapsed(self) -> str:
        return f"{time.monotonic() - self._started:6.1f} s"
