"""Start-up probe, run in a fresh interpreter by startup_bench.py (usable alone too).

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/startup_probe.py WORKSPACE.db

It starts the application through the real entry point, ``modelledger.cli.main.main(["-w", ws])``
(what the ``modelledger`` console script runs: logging set up, then ``app.run_application``,
which creates the QApplication and the MainWindow, shows it and opens the workspace on a worker
thread). The only change is that ``modelledger.ui.shell.main_window.MainWindow`` is replaced by a
subclass that notes the time of each step (and the page classes it builds by subclasses that
time their constructors); ``run_application`` imports the class when it is
called, so it builds the subclass. The probe stops when the Models page's ``inventory_loaded``
fires and the table has painted once after it (or, with ``--until-chain``, when the status bar's
audit-chain check also finished), then prints one JSON line on stdout and leaves with
``os._exit`` (so that worker threads still verifying the chain do not delay the exit).

Every mark is ``time.monotonic()`` (CLOCK_MONOTONIC, the same clock for every process of the
machine), so the parent can subtract the moment it recorded just before starting this process.
"""

import time

FIRST_LINE = time.monotonic()  # the interpreter and site (virtualenv) are up: our first line

import json  # noqa: E402  (after the first time stamp, on purpose)
import os  # noqa: E402
import sys  # noqa: E402

HEAVY_MODULES = ("pandas", "sklearn", "scipy", "matplotlib", "numpy", "skops", "alembic",
                 "psycopg", "apscheduler", "cryptography")


def process_created_monotonic() -> float | None:
    """When the kernel created this process, on the CLOCK_MONOTONIC scale (10 ms resolution).

    /proc/self/stat field 22 is the start time in clock ticks since boot (CLOCK_BOOTTIME); the
    difference between the two clocks is the time spent suspended, taken now.
    """
    try:
        with open("/proc/self/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        started_boottime = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        offset = time.clock_gettime(time.CLOCK_BOOTTIME) - time.monotonic()
        return started_boottime - offset
    except (OSError, ValueError, IndexError, AttributeError):
        return None


class HeavyImportTracer:
    """A meta-path finder that only watches: where in our code a heavy package was imported."""

    def __init__(self) -> None:
        self.where: dict[str, list[str]] = {}

    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in HEAVY_MODULES and top not in self.where:
            import traceback

            frames = [f"{frame.filename}:{frame.lineno} ({frame.name})"
                      for frame in traceback.extract_stack()[:-1]
                      if "<frozen" not in frame.filename]
            self.where[top] = frames[-12:]
        return None


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace", help="the workspace file to open")
    parser.add_argument("--until-chain", action="store_true",
                        help="also wait for the status bar's audit-chain verification")
    parser.add_argument("--skip-chain-check", action="store_true",
                        help="do not start the status bar's audit-chain verification (to see "
                        "what it costs the first page)")
    parser.add_argument("--trace-heavy", action="store_true",
                        help="record the stack that first imports pandas, sklearn, ...")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="give up after this many seconds (default 60)")
    args = parser.parse_args()

    marks: dict[str, float] = {"first_line": FIRST_LINE}
    created = process_created_monotonic()
    if created is not None:
        marks["process_created"] = created
    tracer = HeavyImportTracer() if args.trace_heavy else None
    if tracer is not None:
        sys.meta_path.insert(0, tracer)

    # What the console script imports, then the window module run_application will import.
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    from modelledger.cli.main import main as cli_main
    from modelledger.ui.shell import main_window

    marks["imports_done"] = time.monotonic()
    page_build: dict[str, float] = {}  # seconds in each page's constructor (GUI thread)

    def timed(page_class):
        class TimedPage(page_class):
            def __init__(self, *a, **kw) -> None:
                started = time.monotonic()
                super().__init__(*a, **kw)
                page_build[page_class.__name__] = time.monotonic() - started

        TimedPage.__name__ = TimedPage.__qualname__ = page_class.__name__
        return TimedPage

    for page_name in ("WelcomePage", "PortfolioPage", "ModelsPage", "AuditPage", "SettingsPage"):
        if hasattr(main_window, page_name):
            setattr(main_window, page_name, timed(getattr(main_window, page_name)))
    state = {"inventory_painted": False, "chain_verified": False, "finished": False}
    notes: list[str] = []

    def finish(ok: bool, reason: str = "") -> None:
        if state["finished"]:
            return
        state["finished"] = True
        loaded = {name: name in sys.modules for name in HEAVY_MODULES}
        result = {"ok": ok, "reason": reason, "marks": marks, "page_build": page_build,
                  "modules_loaded": loaded,
                  "module_count": len(sys.modules), "notes": notes,
                  "heavy_import_stacks": tracer.where if tracer else {}}
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0 if ok else 1)

    def maybe_finish() -> None:
        if state["inventory_painted"] and (state["chain_verified"] or not args.until_chain):
            finish(True)

    class FirstPaint(QObject):
        """Notes the first Paint event a widget receives after it is installed."""

        def __init__(self, name: str, then=None) -> None:
            super().__init__()
            self.name = name
            self.then = then

        def eventFilter(self, watched, event):
            if event.type() == QEvent.Type.Paint and self.name not in marks:
                marks[self.name] = time.monotonic()
                watched.removeEventFilter(self)
                if self.then is not None:
                    QTimer.singleShot(0, self.then)
            return False

    filters: list[FirstPaint] = []  # kept alive here

    class ProbeWindow(main_window.MainWindow):
        def __init__(self, *a, **kw) -> None:
            marks["qapplication_ready"] = time.monotonic()  # QApplication exists, icon set
            super().__init__(*a, **kw)
            marks["window_built"] = time.monotonic()
            window_paint = FirstPaint("window_painted")
            filters.append(window_paint)
            self.installEventFilter(window_paint)
            self.workspace_opened.connect(self._probe_workspace_opened)
            QTimer.singleShot(int(args.timeout * 1000),
                              lambda: finish(False, f"timed out after {args.timeout} s"))

        def show(self) -> None:
            super().show()
            marks["window_shown"] = time.monotonic()

        def open_workspace(self, target: str, *, create: bool = False) -> None:
            marks["open_requested"] = time.monotonic()
            super().open_workspace(target, create=create)

        def set_workspace(self, workspace, target=None) -> None:
            marks["workspace_ready"] = time.monotonic()  # Workspace.open done on the worker
            super().set_workspace(workspace, target)
            self._probe_models_page()  # the page shown is built at once, the others later

        def verify_chain(self, **kwargs) -> None:
            if args.skip_chain_check:
                state["chain_verified"] = True
                return
            super().verify_chain(**kwargs)

        def _on_chain_verified(self, report) -> None:
            marks["chain_verified"] = time.monotonic()
            notes.append(f"chain: {report.describe()}")
            super()._on_chain_verified(report)
            state["chain_verified"] = True
            maybe_finish()

        def _probe_workspace_opened(self) -> None:
            marks["workspace_opened"] = time.monotonic()  # every page built

        def _probe_models_page(self) -> None:
            page = self.pages["Models"]

            def on_loaded() -> None:
                if "inventory_loaded" in marks:
                    return
                marks["inventory_loaded"] = time.monotonic()
                notes.append(page.count_label.text())
                table_paint = FirstPaint("inventory_painted", then=painted)
                filters.append(table_paint)
                page.table.viewport().installEventFilter(table_paint)
                page.table.viewport().update()
                QTimer.singleShot(2000, painted)  # should a paint never come (hidden table)

            def painted() -> None:
                if not state["inventory_painted"]:
                    if "inventory_painted" not in marks:
                        notes.append("no paint of the table within 2 s of inventory_loaded")
                    state["inventory_painted"] = True
                    maybe_finish()

            page.inventory_loaded.connect(on_loaded)

    main_window.MainWindow = ProbeWindow
    code = cli_main(["-w", args.workspace])
    # app.exec() returned without our signal: the window was closed or the app failed.
    finish(False, f"application exited with {code} before the inventory was shown "
           f"(QApplication alive: {QApplication.instance() is not None})")
    return 1


if __name__ == "__main__":
    sys.exit(main())
