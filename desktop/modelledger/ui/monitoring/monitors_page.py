"""Monitoring: every monitor with its latest health, its runs, a run's metrics, error and log,
the actions on a monitor, and the runs this window is computing right now."""

from __future__ import annotations

import html
import logging
from datetime import datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from modelledger.core.monitoring import (
    METRIC_LABELS,
    Health,
    MetricValue,
    MonitorOverview,
    MonitorRun,
    MonitorStatus,
    RunStatus,
    metric_label,
)
from modelledger.services.monitoring.scheduler import RunningJob, SchedulerEvent
from modelledger.ui.base.session import WorkspaceSession
from modelledger.ui.monitoring.monitor_dialog import MonitorDialog
from modelledger.ui.widgets.dialogs import HINT_STYLE, ReasonDialog
from modelledger.ui.widgets.table_models import (
    HEALTH_COLOURS,
    MUTED,
    Column,
    Page,
    PagedTableModel,
    PageRequest,
    record_table,
    select_record,
    selected_record,
)

log = logging.getLogger(__name__)

RUNS_SHOWN = 200
EMPTY_TEXT = ("<p style='font-size:12pt'>No monitors yet — <b>New monitor…</b> to watch a "
              "production model.</p><p>A monitor compares the data the model sees now with its "
              "reference data on a schedule: drift, data quality, performance and your KPIs.</p>")


def local_minute(moment: datetime | None) -> str:
    """A stored UTC time in the user's time zone, to the minute."""
    return f"{moment.astimezone():%Y-%m-%d %H:%M}" if moment is not None else ""


def health_colour(state: str | None) -> str | None:
    return HEALTH_COLOURS.get(state or "")


# Metrics are listed drift first, then the prediction, performance, KPIs and data quality.
METRIC_GROUPS = ("drift", "prediction", "performance", "kpi", "quality")
METRIC_ORDER = tuple(METRIC_LABELS)


def metric_order(metric: MetricValue) -> tuple:
    group = metric.metric.partition(".")[0]
    rank = METRIC_GROUPS.index(group) if group in METRIC_GROUPS else len(METRIC_GROUPS)
    within = METRIC_ORDER.index(metric.metric) if metric.metric in METRIC_ORDER \
        else len(METRIC_ORDER)
    return rank, within, metric.metric, metric.subject


def number_text(value: float | None) -> str:
    if value is None:
        return "—"
    if float(value).is_integer() and abs(value) < 1e12:
        return f"{int(value):,}"
    return f"{value:.4g}"


def _monitor_status(overview: MonitorOverview) -> str:
    monitor = overview.monitor
    if monitor.status is MonitorStatus.ACTIVE and monitor.consecutive_failures:
        failures = monitor.consecutive_failures
        return f"active ({failures} failed run{'s' if failures != 1 else ''})"
    return monitor.status.value


MONITOR_COLUMNS = (
    Column("Model", lambda o: o.monitor.model_name),
    Column("Monitor", lambda o: o.monitor.name,
           tooltip=lambda o: o.monitor.spec.source.describe()),
    Column("Schedule", lambda o: o.monitor.schedule.describe()),
    Column("Status", _monitor_status,
           foreground=lambda o: HEALTH_COLOURS["paused"]
           if o.monitor.status is MonitorStatus.PAUSED else None),
    Column("Last run", lambda o: local_minute(o.last_run_at) or "never"),
    Column("Health", lambda o: o.last_health.value if o.last_health else "not run yet",
           foreground=lambda o: health_colour(o.last_health.value if o.last_health else None)
           or MUTED),
    Column("Open incidents", lambda o: str(o.open_alerts), align_right=True,
           foreground=lambda o: HEALTH_COLOURS["critical"] if o.open_alerts else None),
)
RUN_COLUMNS = (
    Column("Slot", lambda r: local_minute(r.slot),
           tooltip=lambda r: f"{r.slot:%Y-%m-%d %H:%M:%S} UTC, run #{r.id}"),
    Column("Attempt", lambda r: str(r.attempt), align_right=True),
    Column("Status", lambda r: r.status.value, foreground=lambda r: health_colour(r.status.value)),
    Column("Health", lambda r: r.health.value, foreground=lambda r: health_colour(r.health.value)),
    Column("Rows", lambda r: number_text(r.current_rows), align_right=True),
    Column("Summary", lambda r: r.summary, tooltip=lambda r: r.summary),
)
METRIC_COLUMNS = (
    Column("Metric", lambda m: metric_label(m.metric), tooltip=lambda m: m.metric),
    Column("Column", lambda m: m.subject or "—", tooltip=lambda m: m.subject),
    Column("Value", lambda m: number_text(m.value), align_right=True),
    Column("Warn", lambda m: number_text(m.warn) if m.warn is not None else "",
           align_right=True),
    Column("Critical", lambda m: number_text(m.critical) if m.critical is not None else "",
           align_right=True),
    Column("Status", lambda m: m.status, foreground=lambda m: health_colour(m.status) or MUTED),
    Column("Note", lambda m: m.note, tooltip=lambda m: m.note),
)


def _no_rows(request: PageRequest) -> Page:
    return Page([], 0)


def finished_text(event: SchedulerEvent) -> str:
    """What became of a run this window started, for the banner."""
    job, stored, outcome = event.job, event.stored, event.outcome
    which = f"The run of {job.model_name} / {job.monitor_name}"
    if outcome is not None and outcome.status is RunStatus.CANCELLED:
        return f"{which} was cancelled; nothing was stored."
    if stored is None or stored.run_id is None:
        error = outcome.error if outcome is not None else ""
        return f"{which} could not be stored. {error}".strip()
    if stored.health is Health.FAILED:
        return f"{which} failed: {outcome.error if outcome else ''}".rstrip(": ")
    alerts = len(stored.new_alerts)
    raised = (f", {alerts} incident{'s' if alerts != 1 else ''} opened or more severe"
              if alerts else "")
    return f"{which} finished: {stored.health.value}{raised}."


def run_details_html(run: MonitorRun) -> str:
    """What one run did: when, on which data, its summary, its error and its log."""
    escape = html.escape
    colour = health_colour(run.health.value) or "#000"
    window = (f"{local_minute(run.window_start)} – {local_minute(run.window_end)}"
              if run.window_start and run.window_end else "all rows")
    rows = [
        ("Slot", f"{local_minute(run.slot)} (attempt {run.attempt})"),
        ("Ran", f"{local_minute(run.started_at)} – {run.finished_at.astimezone():%H:%M:%S} "
                f"on {run.instance}"),
        ("Version", f"v{run.version_number}" if run.version_number else "—"),
        ("Data", run.data_description or "—"),
        ("Window", window),
        ("Rows", f"{number_text(run.current_rows)} current, "
                 f"{number_text(run.reference_rows)} reference"),
    ]
    parts = [f"<h3 style='margin:0 0 4px 0'>Run #{run.id} · {escape(run.status.value)} · "
             f"<span style='color:{colour}'>{escape(run.health.value)}</span></h3>",
             "<table cellspacing='0' cellpadding='2'>"]
    parts += [f"<tr><td style='color:gray; padding-right:10px'>{label}</td>"
              f"<td>{escape(value)}</td></tr>" for label, value in rows]
    parts.append("</table>")
    if run.summary:
        parts.append(f"<p style='margin:6px 0'>{escape(run.summary)}</p>")
    if run.error:
        parts.append(f"<p style='margin:6px 0 2px 0'><b>Error</b></p><p style='color:"
                     f"{HEALTH_COLOURS['critical']}; margin:0'>{escape(run.error)}</p>")
    parts.append("<p style='margin:8px 0 2px 0'><b>Log</b></p>")
    parts.append(f"<pre style='margin:0'>{escape(run.log)}</pre>" if run.log
                 else "<p style='color:gray; margin:0'>empty</p>")
    return "".join(parts)


class RunningJobsPanel(QGroupBox):
    """The runs this window is computing: progress, and a Cancel button each."""

    cancel_requested = Signal(int)  # the claim id

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Running jobs", parent)
        self.setObjectName("runningJobs")
        self._rows: dict[int, tuple[QWidget, QLabel, QProgressBar, QPushButton]] = {}
        self.placeholder = QLabel("No runs in progress.")
        self.placeholder.setStyleSheet(HINT_STYLE)
        self.placeholder.setWordWrap(True)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(8, 4, 8, 6)
        self._layout.setSpacing(4)
        self._layout.addWidget(self.placeholder)

    def set_placeholder(self, text: str) -> None:
        self.placeholder.setText(text)

    def claim_ids(self) -> list[int]:
        return list(self._rows)

    def progress_of(self, claim_id: int) -> int | None:
        row = self._rows.get(claim_id)
        return row[2].value() if row else None

    def cancel_button(self, claim_id: int) -> QPushButton | None:
        row = self._rows.get(claim_id)
        return row[3] if row else None

    def show_job(self, job: RunningJob) -> None:
        claim = job.claim
        if claim.id not in self._rows:
            row = QWidget()
            label = QLabel()
            bar = QProgressBar()
            bar.setRange(0, 100)
            bar.setFixedWidth(160)
            bar.setMaximumHeight(16)
            cancel = QPushButton("Cancel")
            cancel.clicked.connect(lambda checked=False, c=claim.id: self._on_cancel_clicked(c))
            line = QHBoxLayout(row)
            line.setContentsMargins(0, 0, 0, 0)
            line.addWidget(label, 1)
            line.addWidget(bar)
            line.addWidget(cancel)
            self._layout.addWidget(row)
            self._rows[claim.id] = (row, label, bar, cancel)
        _, label, bar, cancel = self._rows[claim.id]
        kind = "run now" if claim.kind == "manual" else "scheduled"
        retry = f", attempt {claim.attempt}" if claim.attempt > 1 else ""
        status = "Cancelling…" if job.cancelled.is_set() else job.message
        label.setText(f"<b>{html.escape(job.model_name)} / {html.escape(job.monitor_name)}</b>"
                      f" · slot {local_minute(claim.slot)} ({kind}{retry}) · "
                      f"{html.escape(status)}")
        bar.setValue(job.percent)
        cancel.setEnabled(not job.cancelled.is_set())
        self.placeholder.hide()

    def remove_job(self, claim_id: int) -> None:
        row = self._rows.pop(claim_id, None)
        if row is not None:
            self._layout.removeWidget(row[0])
            row[0].deleteLater()
        self.placeholder.setVisible(not self._rows)

    def _on_cancel_clicked(self, claim_id: int) -> None:
        row = self._rows.get(claim_id)
        if row is not None:
            row[3].setEnabled(False)
            row[3].setText("Cancelling…")
        self.cancel_requested.emit(claim_id)


class MonitoringPage(QWidget):
    monitors_loaded = Signal()
    runs_loaded = Signal()
    metrics_loaded = Signal()
    action_done = Signal(str)  # an action succeeded; the text says what happened

    def __init__(self, session: WorkspaceSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("monitoringPage")
        self._session = session
        self._service = session.workspace.monitoring
        self._writable = not session.read_only
        self._selected_monitor_id: int | None = None
        self._selected_run_id: int | None = None
        self._monitor_to_restore: int | None = None
        self._run_to_restore: int | None = None
        self._monitor_wanted: int | None = None  # select this one once the list has reloaded
        self._follow_newest_run = False
        self.monitor_dialog: MonitorDialog | None = None
        self.reason_dialog: ReasonDialog | None = None
        self._build()
        self.monitors.modelAboutToBeReset.connect(self._on_monitors_about_to_be_reset)
        self.monitors.loaded.connect(self._on_monitors_loaded)
        self.runs.modelAboutToBeReset.connect(self._on_runs_about_to_be_reset)
        self.runs.loaded.connect(self._on_runs_loaded)
        self.metrics.loaded.connect(self.metrics_loaded)
        for model in (self.monitors, self.runs, self.metrics):
            model.load_failed.connect(session.work.unhandled_failure)
        session.changed.connect(self.reload)
        session.scheduler_event.connect(self._on_session_scheduler_event)
        session.scheduler_started.connect(self._update_actions)
        for job in session.running_jobs():
            self.jobs_panel.show_job(job)
        self._update_actions()
        self.monitors.reload(keep_loaded=False)

    # -- building -------------------------------------------------------------------------------

    def _build(self) -> None:
        self.new_button = QPushButton("New monitor…")
        self.new_button.clicked.connect(self.new_monitor)
        self.edit_button = QPushButton("Edit thresholds/schedule…")
        self.edit_button.clicked.connect(self.edit_selected_monitor)
        self.run_button = QPushButton("Run now")
        self.run_button.clicked.connect(self.run_selected_now)
        self.pause_button = QPushButton("Pause…")
        self.pause_button.clicked.connect(self.pause_or_resume_selected)
        actions = QHBoxLayout()
        actions.addWidget(QLabel("<h2 style='margin:0'>Monitoring</h2>"))
        actions.addSpacing(16)
        for button in (self.new_button, self.edit_button, self.run_button, self.pause_button):
            actions.addWidget(button)
        actions.addStretch(1)

        self.banner = QLabel()
        self.banner.setObjectName("monitoringBanner")
        self.banner.setWordWrap(True)
        self.banner.hide()
        self.read_only_note = QLabel(self._session.scheduler_note())
        self.read_only_note.setObjectName("schedulerNote")
        self.read_only_note.setWordWrap(True)
        self.read_only_note.setStyleSheet(
            "background: #fff4e5; color: #663c00; border: 1px solid #ffb74d; padding: 6px;")
        self.read_only_note.setVisible(bool(self._session.scheduler_note()))

        self.monitors = PagedTableModel(self._session, MONITOR_COLUMNS, self._fetch_monitors,
                                        key=lambda o: o.monitor.id, parent=self)
        self.monitors_table = record_table(self.monitors)
        self.monitors_table.setObjectName("monitorsTable")
        self.monitors_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        for column, width in enumerate((170, 170, 150, 110, 130, 110)):
            self.monitors_table.setColumnWidth(column, width)
        self.monitors_table.selectionModel().selectionChanged.connect(
            self._on_monitors_selection_changed)

        self.runs = PagedTableModel(self._session, RUN_COLUMNS, _no_rows, key=lambda r: r.id,
                                    page_size=50, parent=self)
        self.runs_table = record_table(self.runs)
        self.runs_table.setObjectName("runsTable")
        self.runs_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        for column, width in enumerate((126, 60, 72, 64, 54)):
            self.runs_table.setColumnWidth(column, width)
        self.runs_table.selectionModel().selectionChanged.connect(self._on_runs_selection_changed)

        self.metrics = PagedTableModel(self._session, METRIC_COLUMNS, _no_rows,
                                       key=lambda m: (m.metric, m.subject), parent=self)
        self.metrics_table = record_table(self.metrics)
        self.metrics_table.setObjectName("metricsTable")
        for column, width in enumerate((118, 140, 76, 44, 56, 64)):
            self.metrics_table.setColumnWidth(column, width)
        self.run_details = QTextBrowser()
        self.run_details.setObjectName("runDetails")
        self.run_details.setOpenLinks(False)

        runs_box = self._titled("Runs, newest first", self.runs_table)
        run_splitter = QSplitter(Qt.Orientation.Vertical)
        run_splitter.addWidget(self._titled("Metrics of the selected run", self.metrics_table))
        run_splitter.addWidget(self.run_details)
        run_splitter.setSizes([260, 150])
        run_splitter.setChildrenCollapsible(False)
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(runs_box)
        lower.addWidget(run_splitter)
        lower.setSizes([460, 650])
        lower.setChildrenCollapsible(False)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.monitors_table)
        self.splitter.addWidget(lower)
        self.splitter.setSizes([170, 430])
        self.splitter.setChildrenCollapsible(False)

        self.empty_label = QLabel(EMPTY_TEXT)
        self.empty_label.setObjectName("monitorsEmpty")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.empty_label.hide()

        self.jobs_panel = RunningJobsPanel()
        self.jobs_panel.cancel_requested.connect(self._on_jobs_panel_cancel_requested)
        if not self._writable:
            self.jobs_panel.set_placeholder("No runs here: the workspace is open read-only.")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 8)
        layout.addLayout(actions)
        layout.addWidget(self.read_only_note)
        layout.addWidget(self.banner)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.empty_label, 1)
        layout.addWidget(self.jobs_panel)
        self._show_run(None)

    @staticmethod
    def _titled(title: str, table: QWidget) -> QWidget:
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 4, 0, 0)
        column.setSpacing(2)
        caption = QLabel(f"<b>{html.escape(title)}</b>")
        column.addWidget(caption)
        column.addWidget(table, 1)
        return box

    # -- loading --------------------------------------------------------------------------------

    def _fetch_monitors(self, request: PageRequest) -> Page:
        overviews = self._service.overviews()
        return Page(overviews, len(overviews))

    def reload(self) -> None:
        self.monitors.reload()

    def selected_overview(self) -> MonitorOverview | None:
        return selected_record(self.monitors_table)

    def selected_run(self) -> MonitorRun | None:
        return selected_record(self.runs_table)

    def select_monitor(self, monitor_id: int) -> bool:
        return select_record(self.monitors_table, monitor_id)

    def select_run(self, run_id: int) -> bool:
        return select_record(self.runs_table, run_id)

    def _on_monitors_about_to_be_reset(self) -> None:
        self._monitor_to_restore = self._selected_monitor_id

    def _on_monitors_loaded(self) -> None:
        empty = self.monitors.rowCount() == 0
        self.splitter.setVisible(not empty)
        self.empty_label.setVisible(empty)
        wanted = self._monitor_wanted if self._monitor_wanted is not None \
            else self._monitor_to_restore
        self._monitor_wanted = self._monitor_to_restore = None
        if not empty and not (wanted is not None and self.select_monitor(wanted)):
            self.monitors_table.selectRow(0)
        if empty:
            self._selected_monitor_id = None
            self.runs.set_fetch_page(_no_rows)
            self._update_actions()
        self.monitors_loaded.emit()

    def _on_monitors_selection_changed(self) -> None:
        overview = self.selected_overview()
        monitor_id = overview.monitor.id if overview else None
        if monitor_id != self._selected_monitor_id:
            self._selected_monitor_id = monitor_id
            self._selected_run_id = None
            self._show_run(None)
            self.metrics.set_fetch_page(_no_rows)
            if monitor_id is None:
                self.runs.set_fetch_page(_no_rows)
            else:
                service = self._service

                def fetch_runs(request: PageRequest) -> Page:
                    # The service lists newest first with a limit: page by asking for more.
                    runs = service.list_runs(monitor_id=monitor_id,
                                             limit=request.offset + request.limit)
                    return Page(runs[request.offset:], None)

                self.runs.set_fetch_page(fetch_runs)
        elif monitor_id is not None:
            self.runs.reload()
        self._update_actions()

    def _on_runs_about_to_be_reset(self) -> None:
        self._run_to_restore = self._selected_run_id

    def _on_runs_loaded(self) -> None:
        wanted, self._run_to_restore = self._run_to_restore, None
        if self._follow_newest_run:
            self._follow_newest_run, wanted = False, None
        if self.runs.rowCount() and not (wanted is not None and self.select_run(wanted)):
            self.runs_table.selectRow(0)
        overview = self.selected_overview()
        if not self.runs.rowCount() and overview is not None:
            self.run_details.setHtml(
                f"<p style='color:gray'>No runs yet. Its schedule: "
                f"{html.escape(overview.monitor.schedule.describe())}; <b>Run now</b> starts a "
                "run at once.</p>")
        self.runs_loaded.emit()

    def _on_runs_selection_changed(self) -> None:
        run = self.selected_run()
        run_id = run.id if run else None
        if run is not None:
            self._show_run(run)
        if run_id == self._selected_run_id:
            return
        self._selected_run_id = run_id
        if run is None:
            self._show_run(None)
            self.metrics.set_fetch_page(_no_rows)
            return
        service = self._service

        def fetch_metrics(request: PageRequest) -> Page:
            metrics = sorted(service.get_run(run_id)[1], key=metric_order)
            return Page(metrics, len(metrics))

        self.metrics.set_fetch_page(fetch_metrics)

    def _show_run(self, run: MonitorRun | None) -> None:
        if run is None:
            self.run_details.setHtml("<p style='color:gray'>Select a run to see its metrics, "
                                     "the data it read, its error and its log.</p>")
            return
        self.run_details.setHtml(run_details_html(run))

    # -- scheduler ------------------------------------------------------------------------------

    def _on_session_scheduler_event(self, event: SchedulerEvent) -> None:
        if event.kind != "finished":
            self.jobs_panel.show_job(event.job)
            return
        self.jobs_panel.remove_job(event.job.claim.id)
        if event.job.claim.kind == "manual":
            self._show_result(finished_text(event), ok=event.stored is not None
                              and event.stored.run_id is not None
                              and event.stored.health not in (Health.FAILED, None))
        stored = event.stored
        if (stored is not None and stored.run_id is not None
                and event.job.claim.monitor_id == self._selected_monitor_id):
            self._follow_newest_run = True  # show the run that just arrived
        self.reload()

    def _on_jobs_panel_cancel_requested(self, claim_id: int) -> None:
        scheduler = self._session.scheduler
        if scheduler is None or not scheduler.cancel(claim_id):
            self.jobs_panel.remove_job(claim_id)  # it finished meanwhile

    # -- actions --------------------------------------------------------------------------------

    def _update_actions(self) -> None:
        overview = self.selected_overview()
        writable = self._writable
        self.new_button.setEnabled(writable)
        self.edit_button.setEnabled(writable and overview is not None)
        self.run_button.setEnabled(writable and overview is not None
                                   and self._session.scheduler is not None)
        paused = overview is not None and overview.monitor.status is MonitorStatus.PAUSED
        self.pause_button.setText("Resume…" if paused else "Pause…")
        self.pause_button.setEnabled(writable and overview is not None)
        tip = "" if writable else self._session.scheduler_note()
        for button in (self.new_button, self.edit_button, self.run_button, self.pause_button):
            button.setToolTip(tip)

    def new_monitor(self) -> MonitorDialog:
        overview = self.selected_overview()
        self.monitor_dialog = MonitorDialog(
            self._session, self, model_name=overview.monitor.model_name if overview else None)
        self.monitor_dialog.saved.connect(self._on_monitor_dialog_saved)
        self.monitor_dialog.open()
        return self.monitor_dialog

    def edit_selected_monitor(self) -> MonitorDialog | None:
        overview = self.selected_overview()
        if overview is None:
            return None
        self.monitor_dialog = MonitorDialog(self._session, self, monitor=overview.monitor)
        self.monitor_dialog.saved.connect(self._on_monitor_dialog_saved)
        self.monitor_dialog.open()
        return self.monitor_dialog

    def _on_monitor_dialog_saved(self, text: str, monitor_id: int) -> None:
        self._monitor_wanted = monitor_id
        self.monitors.reload()
        self._show_result(text)

    def run_selected_now(self) -> None:
        overview = self.selected_overview()
        scheduler = self._session.scheduler
        if overview is None or scheduler is None:
            return
        monitor = overview.monitor
        self.run_button.setEnabled(False)
        # run_now claims a slot in the database before the run starts in the worker process.

        def start(control) -> None:
            scheduler.run_now(monitor.id)  # the result arrives as scheduler events

        self._session.work.write(
            f"Starting a run of {monitor.name}", start,
            on_success=lambda result: self._on_run_started(monitor.model_name, monitor.name),
            on_failure=self._on_action_failed)

    def _on_run_started(self, model_name: str, monitor_name: str) -> None:
        self._update_actions()
        self._show_result(f"Started a run of {model_name} / {monitor_name}; it appears under "
                          "Running jobs until it is stored.")

    def pause_or_resume_selected(self) -> ReasonDialog | None:
        overview = self.selected_overview()
        if overview is None:
            return None
        monitor = overview.monitor
        service = self._service
        resume = monitor.status is MonitorStatus.PAUSED
        verb = "Resume" if resume else "Pause"
        if resume:
            question = (f"Resume {monitor.model_name} / {monitor.name}? It runs right away "
                        "for the newest slot it missed (the others are recorded as missed), "
                        "then on its schedule. What was fixed?")
        else:
            question = (f"Pause {monitor.model_name} / {monitor.name}? No scheduled runs happen "
                        "until it is resumed. Why pause it?")
        self.reason_dialog = ReasonDialog(f"{verb} monitor {monitor.name}", question, self,
                                          action_text=verb)

        def change(reason: str) -> None:
            job = service.resume_monitor if resume else service.pause_monitor
            self._session.work.write(
                f"{'Resuming' if resume else 'Pausing'} {monitor.name}",
                lambda control: job(monitor.id, reason),
                on_success=lambda changed: self._show_result(
                    f"{changed.model_name} / {changed.name} is {changed.status.value}."),
                on_failure=self._on_action_failed)

        dialog = self.reason_dialog
        dialog.accepted.connect(lambda: change(dialog.reason()))
        dialog.open()
        return dialog

    def _on_action_failed(self, error: BaseException) -> None:
        self._update_actions()
        self.reload()
        self._session.work.unhandled_failure.emit(error)

    def _show_result(self, text: str, *, ok: bool = True) -> None:
        self.banner.setText(text)
        self.banner.setStyleSheet(
            "background: #e8f5e9; color: #1b5e20; border: 1px solid #81c784; padding: 6px;"
            if ok else
            "background: #fff4e5; color: #663c00; border: 1px solid #ffb74d; padding: 6px;")
        self.banner.show()
        self.action_done.emit(text)

