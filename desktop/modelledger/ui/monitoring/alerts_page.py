"""Alerts: the incidents monitoring opened (one per monitor and cause while open), their
members, who is on them, their history, and handling them (acknowledge, assign, comment,
snooze, mute, close); and the watcher that tells the window about incidents opened (or grown
more severe) while it is open. Snoozed and muted incidents are told to nobody."""

from __future__ import annotations

import html
import logging
from datetime import UTC, datetime, timedelta

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from modelledger.core.domain import User
from modelledger.core.errors import ConcurrentEditError
from modelledger.core.incidents import Cause, IncidentMember, rose
from modelledger.core.monitoring import Alert, AlertNote, AlertStatus, metric_label
from modelledger.core.recipes import RETRAIN_CAUSES
from modelledger.services.monitoring.scheduler import SchedulerEvent
from modelledger.ui.base.errors import show_error
from modelledger.ui.base.session import WorkspaceSession
from modelledger.ui.monitoring.monitors_page import local_minute
from modelledger.ui.widgets.dialogs import ReasonDialog
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

BASELINE_RETRY_MILLISECONDS = 2000
STATUS_COLOURS = {"open": "#b00020", "acknowledged": "#a35f00", "closed": MUTED}
NOTE_TITLES = {"raised": "opened it", "repeated": "saw it again", "acknowledged": "acknowledged",
               "assigned": "assigned", "comment": "commented", "closed": "closed",
               "reopened": "reopened", "snoozed": "snoozed", "unsnoozed": "ended the snooze",
               "muted": "muted", "unmuted": "unmuted", "resolved": "resolved",
               "snooze expired": "snooze ended", "mute expired": "mute ended",
               "email": "e-mail"}
FILTERS = (("Open and acknowledged", False), ("All incidents, including closed", True))
SNOOZE_CHOICES = (("1 hour", timedelta(hours=1)), ("4 hours", timedelta(hours=4)),
                  ("1 day", timedelta(days=1)), ("3 days", timedelta(days=3)),
                  ("1 week", timedelta(weeks=1)))
MUTE_CHOICES = (("until unmuted", None), ("1 day", timedelta(days=1)),
                ("1 week", timedelta(weeks=1)), ("30 days", timedelta(days=30)))


def status_text(alert: Alert, now: datetime | None = None) -> str:
    """e.g. ``open``, ``acknowledged · snoozed``, ``resolved``."""
    if alert.resolution:
        return "resolved"
    text = alert.status.value
    if alert.silenced(now or datetime.now(UTC)):
        text += " · muted" if alert.muted else " · snoozed"
    return text


def cause_text(alert: Alert) -> str:
    try:
        return Cause(alert.cause).label
    except ValueError:
        return alert.cause


ALERT_COLUMNS: tuple[Column, ...] = (
    Column("Severity", lambda a: a.severity.value,
           foreground=lambda a: HEALTH_COLOURS.get(a.severity.value)),
    Column("Status", status_text,
           foreground=lambda a: STATUS_COLOURS.get(a.status.value)),
    Column("Cause", cause_text),
    Column("Model", lambda a: a.model_name, tooltip=lambda a: f"monitor {a.monitor_name}"),
    Column("Title", lambda a: short_title(a), tooltip=lambda a: a.title),
    Column("Assignee", lambda a: a.assignee or "—"),
    Column("Runs", lambda a: str(a.occurrences), align_right=True),
    Column("First seen", lambda a: local_minute(a.first_seen_at)),
    Column("Last seen", lambda a: local_minute(a.last_seen_at)),
)
TITLE_COLUMN = 4
MEMBER_HEADERS = ("Feature / metric", "Now", "Worst", "Value", "Warn at", "Critical at", "Runs",
                  "Last seen")


def short_title(alert: Alert) -> str:
    """The title without the "model / monitor: " it starts with (the table has both)."""
    prefix = f"{alert.model_name} / {alert.monitor_name}: "
    return alert.title.removeprefix(prefix)


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def alert_html(alert: Alert, notes: list[AlertNote]) -> str:
    """One incident for the details pane: where it stands, and its history."""
    escape = html.escape
    colour = HEALTH_COLOURS.get(alert.severity.value, "#000")
    rows = [
        ("Status", f"<span style='color:{STATUS_COLOURS.get(alert.status.value, '#000')}'>"
                   f"{escape(status_text(alert))}</span>"),
        ("Cause", escape(cause_text(alert))),
        ("Assignee", escape(alert.assignee or "nobody yet")),
        ("Monitor", f"{escape(alert.model_name)} / {escape(alert.monitor_name)}"),
        ("Runs", f"{alert.occurrences}, first {local_minute(alert.first_seen_at)}, "
                 f"last {local_minute(alert.last_seen_at)} (run #{alert.run_id})"),
    ]
    if alert.status is not AlertStatus.CLOSED and alert.healthy_runs:
        rows.append(("Healthy since", f"{alert.healthy_runs} run"
                                      f"{'s' if alert.healthy_runs != 1 else ''} in a row"))
    if alert.snoozed_until is not None:
        rows.append(("Snoozed until", local_minute(alert.snoozed_until)))
    if alert.muted:
        until = f" (until {local_minute(alert.muted_until)})" if alert.muted_until else ""
        rows.append(("Muted", escape(alert.muted_reason) + until))
    if alert.closed_at is not None:
        rows.append(("Closed", local_minute(alert.closed_at)
                     + (f": {escape(alert.resolution)}" if alert.resolution else "")))
    parts = [f"<h3 style='margin:0 0 4px 0'>Incident #{alert.id} · <span style='color:{colour}'>"
             f"{escape(alert.severity.value)}</span></h3>",
             f"<p style='margin:0 0 6px 0'><b>{escape(alert.title)}</b></p>",
             "<table cellspacing='0' cellpadding='2'>"]
    parts += [f"<tr><td style='color:gray; padding-right:10px'>{label}</td><td>{value}</td>"
              "</tr>" for label, value in rows]
    parts.append("</table>")
    parts.append("<p style='margin:10px 0 2px 0'><b>History</b></p>")
    for note in reversed(notes):
        parts.append(
            f"<p style='margin:0 0 6px 0'><span style='color:gray'>"
            f"{local_minute(note.created_at)}</span> <b>{escape(note.author)}</b> "
            f"{escape(NOTE_TITLES.get(note.kind, note.kind))}"
            f"{'<br>' + escape(note.text).replace(chr(10), '<br>') if note.text else ''}</p>")
    return "".join(parts)


def describe_new_alerts(alerts: list[Alert]) -> str:
    """One line for a notification: the incident itself, or how many and how bad."""
    if len(alerts) == 1:
        alert = alerts[0]
        return f"{alert.severity.value.capitalize()}: {alert.title}"
    critical = sum(1 for alert in alerts if alert.severity.value == "critical")
    worst = f" ({critical} critical)" if critical else ""
    models = sorted({alert.model_name for alert in alerts})
    return f"{len(alerts)} new incidents{worst} on {', '.join(models)}"


class AlertWatcher(QObject):
    """Tells about incidents opened (or grown more severe) while the workspace is open, by
    this window's scheduler or by another instance; never about those that existed when it was
    opened, nor about snoozed or muted ones."""

    ready = Signal()  # the alerts that already existed are known
    new_alerts = Signal(list)  # alerts to tell the user about

    def __init__(self, session: WorkspaceSession, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._baseline: int | None = None  # the newest alert id when the workspace opened
        self._told: dict[int, str] = {}  # id -> the severity told: only a rise tells again
        self._checking = False
        session.changed.connect(self._on_session_changed)
        session.scheduler_event.connect(self._on_session_scheduler_event)

    def is_ready(self) -> bool:
        return self._baseline is not None

    def start(self) -> None:
        service = self._session.workspace.monitoring
        self._session.work.read("Reading alerts", lambda control: service.newest_alert_id(),
                                on_success=self._on_baseline_read,
                                on_failure=self._on_baseline_failed, quiet=True)

    def _on_baseline_read(self, newest: int) -> None:
        self._baseline = newest
        self.ready.emit()

    def _on_baseline_failed(self, error: BaseException) -> None:
        log.warning("could not read the newest alert, trying again: %s", error)
        QTimer.singleShot(BASELINE_RETRY_MILLISECONDS, self, self.start)

    def _on_session_changed(self) -> None:
        if self._baseline is None or self._checking:
            return
        self._checking = True
        service, baseline = self._session.workspace.monitoring, self._baseline
        self._session.work.read("Checking for new alerts",
                                lambda control: service.alerts_after(baseline),
                                on_success=self._on_alerts_read,
                                on_failure=self._on_check_failed, quiet=True)

    def _on_alerts_read(self, alerts: list[Alert]) -> None:
        self._checking = False
        self._tell([alert for alert in alerts if alert.id > (self._baseline or 0)])

    def _on_check_failed(self, error: BaseException) -> None:
        self._checking = False
        log.warning("could not check for new alerts: %s", error)

    def _on_session_scheduler_event(self, event: SchedulerEvent) -> None:
        if event.kind == "finished" and event.stored is not None and event.stored.new_alerts:
            self._tell(list(event.stored.new_alerts))

    def _tell(self, alerts: list[Alert]) -> None:
        if self._baseline is None:
            return
        # This window's runs report incidents that opened or grew more severe (an older
        # incident's rise is news too); another instance's are read by id, newer ones only.
        now = datetime.now(UTC)
        fresh = [alert for alert in alerts
                 if rose(self._told.get(alert.id), alert.severity.value)
                 and not alert.silenced(now)]
        if not fresh:
            return
        self._told.update((alert.id, alert.severity.value) for alert in fresh)
        self.new_alerts.emit(fresh)


class AssignDialog(QDialog):
    """Who takes the incident, from the workspace's people (or a name typed in)."""

    def __init__(self, alert: Alert, users: list[User], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("assignDialog")
        self.setWindowTitle(f"Assign incident #{alert.id}")
        self.setMinimumWidth(460)
        prompt = QLabel(f"Who looks after “{alert.title}”?")
        prompt.setWordWrap(True)
        self.person_combo = QComboBox()
        self.person_combo.setEditable(True)
        for user in users:
            shown = user.name if user.display_name in ("", user.name) \
                else f"{user.display_name} ({user.name})"
            self.person_combo.addItem(shown, user.name)
        index = self.person_combo.findData(alert.assignee)
        self.person_combo.setCurrentIndex(index)
        if index < 0:
            self.person_combo.setEditText("")
        self.comment_edit = QPlainTextEdit()
        self.comment_edit.setPlaceholderText("Comment (optional, kept with the incident)")
        self.comment_edit.setTabChangesFocus(True)
        self.comment_edit.setFixedHeight(70)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Assign")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.person_combo.currentTextChanged.connect(self._on_person_combo_text_changed)
        self._on_person_combo_text_changed(self.person_combo.currentText())
        form = QFormLayout()
        form.addRow("Assign to", self.person_combo)
        layout = QVBoxLayout(self)
        layout.addWidget(prompt)
        layout.addLayout(form)
        layout.addWidget(self.comment_edit)
        layout.addWidget(self.buttons)

    def assignee(self) -> str:
        index = self.person_combo.currentIndex()
        text = self.person_combo.currentText().strip()
        if index >= 0 and self.person_combo.itemText(index) == text:
            return self.person_combo.itemData(index)
        return text

    def comment(self) -> str:
        return self.comment_edit.toPlainText().strip()

    def _on_person_combo_text_changed(self, text: str) -> None:
        self.ok_button.setEnabled(bool(text.strip()))


class SilenceDialog(QDialog):
    """How long to snooze an incident, or why and how long to mute it."""

    def __init__(self, alert: Alert, *, mute: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("muteDialog" if mute else "snoozeDialog")
        self.setWindowTitle(f"{'Mute' if mute else 'Snooze'} incident #{alert.id}")
        self.setMinimumWidth(460)
        what = ("Nobody is notified about it until it is unmuted (or the time below); it keeps "
                "being updated and can still resolve itself." if mute else
                "Nobody is notified about it until then; it keeps being updated.")
        prompt = QLabel(f"“{alert.title}”<br>{what}")
        prompt.setWordWrap(True)
        self.duration_combo = QComboBox()
        for label, length in (MUTE_CHOICES if mute else SNOOZE_CHOICES):
            self.duration_combo.addItem(label, length)
        self.text_edit = QPlainTextEdit()
        self.text_edit.setPlaceholderText(
            "Reason (required, kept with the incident and in the audit timeline)" if mute
            else "Comment (optional, kept with the incident)")
        self.text_edit.setTabChangesFocus(True)
        self.text_edit.setFixedHeight(70)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Mute" if mute else "Snooze")
        self.ok_button.setEnabled(not mute)
        if mute:
            self.text_edit.textChanged.connect(
                lambda: self.ok_button.setEnabled(bool(self.text().strip())))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("For", self.duration_combo)
        layout = QVBoxLayout(self)
        layout.addWidget(prompt)
        layout.addLayout(form)
        layout.addWidget(self.text_edit)
        layout.addWidget(self.buttons)

    def until(self) -> datetime | None:
        length = self.duration_combo.currentData()
        return datetime.now(UTC) + length if length is not None else None

    def text(self) -> str:
        return self.text_edit.toPlainText().strip()


class AlertsPage(QWidget):
    alerts_loaded = Signal()
    details_loaded = Signal()
    open_count_changed = Signal(int)  # alerts not closed yet
    action_done = Signal(str)
    retrained = Signal(object)  # the TrainingRun an incident's Retrain recorded

    def __init__(self, session: WorkspaceSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("alertsPage")
        self._session = session
        self._retraining = None  # the Task of a retrain asked from this page
        self._service = session.workspace.monitoring
        self._writable = not session.read_only
        self._include_closed = False
        self._selected_id: int | None = None
        self._alert_to_restore: int | None = None
        self._details: tuple[Alert, list[AlertNote], list[IncidentMember]] | None = None
        self._users: list[User] = []
        self.open_count: int | None = None
        self.dialog: QDialog | None = None
        self._build()
        self.alerts.modelAboutToBeReset.connect(self._on_alerts_about_to_be_reset)
        self.alerts.loaded.connect(self._on_alerts_loaded)
        self.alerts.load_failed.connect(session.work.unhandled_failure)
        session.changed.connect(self.reload)
        session.scheduler_event.connect(self._on_session_scheduler_event)
        self._update_actions()
        self.reload()

    # -- building -------------------------------------------------------------------------------

    def _build(self) -> None:
        self.filter_combo = QComboBox()
        for title, include_closed in FILTERS:
            self.filter_combo.addItem(title, include_closed)
        self.filter_combo.currentIndexChanged.connect(self._on_filter_combo_current_index_changed)
        self.acknowledge_button = self._action_button("Acknowledge", "Alt+A",
                                                      self.acknowledge_selected)
        self.assign_button = self._action_button("Assign…", "Alt+S", self.assign_selected)
        self.comment_button = self._action_button("Comment…", "Alt+C", self.comment_selected)
        self.snooze_button = self._action_button("Snooze…", "Alt+N", self.snooze_or_unsnooze)
        self.mute_button = self._action_button("Mute…", "Alt+M", self.mute_or_unmute)
        self.close_button = self._action_button("Close…", "Alt+L", self.close_selected)
        self.retrain_button = self._action_button("Retrain", "Alt+R", self.retrain_for_selected)
        top = QHBoxLayout()
        top.addWidget(QLabel("<h2 style='margin:0'>Incidents</h2>"))
        top.addSpacing(16)
        top.addWidget(self.filter_combo)
        top.addSpacing(12)
        for button in self._buttons():
            top.addWidget(button)
        top.addStretch(1)

        self.banner = QLabel()
        self.banner.setObjectName("alertsBanner")
        self.banner.setWordWrap(True)
        self.banner.hide()

        self.alerts = PagedTableModel(self._session, ALERT_COLUMNS, self._fetch_alerts,
                                      key=lambda a: a.id, parent=self)
        self.table = record_table(self.alerts)
        self.table.setObjectName("alertsTable")
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        for column, width in enumerate((64, 178, 96, 140, 240, 70, 44, 118, 118)):
            self.table.setColumnWidth(column, width)
        header.setSectionResizeMode(TITLE_COLUMN, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().selectionChanged.connect(self._on_table_selection_changed)

        self.members_table = QTableWidget(0, len(MEMBER_HEADERS))
        self.members_table.setObjectName("incidentMembers")
        self.members_table.setHorizontalHeaderLabels(MEMBER_HEADERS)
        self.members_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.members_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.members_table.verticalHeader().hide()
        self.members_table.setWordWrap(False)
        members_header = self.members_table.horizontalHeader()
        members_header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column, width in enumerate((0, 64, 64, 70, 64, 76, 44, 118)):
            if width:
                self.members_table.setColumnWidth(column, width)
        self.members_label = QLabel("<b>Members</b>")
        members_box = QWidget()
        members_layout = QVBoxLayout(members_box)
        members_layout.setContentsMargins(0, 4, 0, 0)
        members_layout.addWidget(self.members_label)
        members_layout.addWidget(self.members_table, 1)

        self.details = QTextBrowser()
        self.details.setObjectName("alertDetails")
        self.details.setOpenLinks(False)
        self.lower = QSplitter(Qt.Orientation.Horizontal)
        self.lower.addWidget(members_box)
        self.lower.addWidget(self.details)
        self.lower.setStretchFactor(0, 3)
        self.lower.setStretchFactor(1, 2)
        self.lower.setSizes([620, 420])
        self.lower.setChildrenCollapsible(False)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(self.lower)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([300, 340])
        self.splitter.setChildrenCollapsible(False)

        self.empty_label = QLabel()
        self.empty_label.setObjectName("alertsEmpty")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.empty_label.hide()
        self.count_label = QLabel("Loading…")
        self.count_label.setObjectName("alertCount")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 8)
        layout.addLayout(top)
        layout.addWidget(self.banner)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.empty_label, 1)
        layout.addWidget(self.count_label)
        self._show_details(None)

    def _action_button(self, text: str, shortcut: str, slot) -> QPushButton:
        button = QPushButton(text)
        button.setShortcut(QKeySequence(shortcut))
        button.clicked.connect(slot)
        return button

    def _buttons(self) -> tuple[QPushButton, ...]:
        return (self.acknowledge_button, self.assign_button, self.comment_button,
                self.snooze_button, self.mute_button, self.close_button, self.retrain_button)

    # -- loading --------------------------------------------------------------------------------

    def _fetch_alerts(self, request: PageRequest) -> Page:
        include_closed = self._include_closed
        alerts = self._service.list_alerts(include_closed=include_closed)
        return Page(alerts, len(alerts))

    def reload(self) -> None:
        self.alerts.reload()
        self._load_open_count()
        self._load_users()
        if self._selected_id is not None:
            self._load_details(self._selected_id)

    def _load_open_count(self) -> None:
        service = self._service
        self._session.work.read("Counting open incidents",
                                lambda control: service.count_unclosed_alerts(),
                                on_success=self._on_open_count_read, quiet=True)

    def _on_open_count_read(self, count: int) -> None:
        if count != self.open_count:
            self.open_count = count
            self.open_count_changed.emit(count)
        self._update_count_label()

    def _load_users(self) -> None:
        registry = self._session.workspace.registry
        self._session.work.read("Loading people", lambda control: registry.list_users(),
                                on_success=self._on_users_read, quiet=True)

    def _on_users_read(self, users: list[User]) -> None:
        self._users = list(users)

    def people(self) -> list[User]:
        """The workspace's people, whom an incident can be assigned to."""
        return list(self._users)

    def _on_session_scheduler_event(self, event: SchedulerEvent) -> None:
        if event.kind == "finished" and event.stored is not None and event.stored.run_id:
            self.reload()

    def _on_filter_combo_current_index_changed(self, index: int) -> None:
        self._include_closed = bool(self.filter_combo.currentData())
        self.alerts.set_fetch_page(self._fetch_alerts)

    def _on_alerts_about_to_be_reset(self) -> None:
        self._alert_to_restore = self._selected_id

    def _on_alerts_loaded(self) -> None:
        empty = self.alerts.rowCount() == 0
        self.splitter.setVisible(not empty)
        self.empty_label.setVisible(empty)
        if empty:
            self.empty_label.setText(
                "<p style='font-size:12pt'>No incidents.</p><p>A monitor opens an incident when "
                "a run finds drift, a data problem, a drop in performance or a KPI off target, "
                "or when its runs keep failing; later runs update it, and it resolves itself "
                "after enough healthy runs.</p>")
        wanted, self._alert_to_restore = self._alert_to_restore, None
        row = self.alerts.row_of_key(wanted) if wanted is not None else None
        if row is not None:
            self.table.selectRow(row)
        elif not empty:
            self.table.selectRow(0)
        else:
            self._select(None)
        self._update_count_label()
        self.alerts_loaded.emit()

    def _update_count_label(self) -> None:
        shown = self.alerts.rowCount()
        text = f"{shown} incident{'s' if shown != 1 else ''} shown"
        if self.open_count is not None:
            text += f" · {self.open_count} not closed"
        self.count_label.setText(text)

    # -- selection ------------------------------------------------------------------------------

    def selected_alert(self) -> Alert | None:
        return selected_record(self.table)

    def select_alert(self, alert_id: int) -> bool:
        return select_record(self.table, alert_id)

    def _on_table_selection_changed(self) -> None:
        alert = self.selected_alert()
        self._select(alert.id if alert else None)

    def _select(self, alert_id: int | None) -> None:
        changed = alert_id != self._selected_id
        self._selected_id = alert_id
        if alert_id is None:
            self._details = None
            self._show_details(None)
        elif changed or self._details is None:
            self._load_details(alert_id)
        self._update_actions()

    def _load_details(self, alert_id: int) -> None:
        service = self._service
        self._session.work.read(
            f"Loading incident #{alert_id}",
            lambda control: (*service.alert_details(alert_id),
                             service.incident_members(alert_id)),
            on_success=lambda details: self._on_details_read(alert_id, details), context=self)

    def _on_details_read(self, alert_id: int,
                         details: tuple[Alert, list[AlertNote], list[IncidentMember]]) -> None:
        if alert_id != self._selected_id:
            return
        self._details = details
        self._show_details(details)
        self._update_actions()
        self.details_loaded.emit()

    def _show_details(self, details) -> None:
        if details is None:
            self.details.setHtml("<p style='color:gray'>Select an incident to see what it found "
                                 "and what has been done about it.</p>")
            self._show_members([])
        else:
            alert, notes, members = details
            self.details.setHtml(alert_html(alert, notes))
            self._show_members(members)

    def _show_members(self, members: list[IncidentMember]) -> None:
        self.members_table.setRowCount(len(members))
        firing = sum(1 for m in members if m.status in ("warn", "critical"))
        self.members_label.setText(
            f"<b>Members</b> <span style='color:gray'>{len(members)} check"
            f"{'s' if len(members) != 1 else ''}, {firing} outside thresholds in the latest "
            "run</span>" if members else "<b>Members</b>")
        for row, member in enumerate(members):
            cells = (metric_label(member.metric, member.subject), member.status, member.worst,
                     _number(member.value), _number(member.warn), _number(member.critical),
                     str(member.occurrences), local_minute(member.last_seen_at))
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column in (1, 2):
                    colour = HEALTH_COLOURS.get(text)
                    if colour:
                        item.setForeground(QColor(colour))
                if 3 <= column <= 6:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                if column == 0 and member.note:
                    item.setToolTip(member.note)
                self.members_table.setItem(row, column, item)

    def current_alert(self) -> Alert | None:
        """The selected incident as last read (with the row version actions must quote)."""
        if self._details is not None and self._details[0].id == self._selected_id:
            return self._details[0]
        return self.selected_alert()

    # -- actions --------------------------------------------------------------------------------

    def _update_actions(self) -> None:
        alert = self.current_alert()
        status = alert.status if alert else None
        unresolved = status in (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)
        writable = self._writable
        self.acknowledge_button.setEnabled(writable and status is AlertStatus.OPEN)
        self.assign_button.setEnabled(writable and unresolved)
        self.comment_button.setEnabled(writable and alert is not None)
        snoozed = alert is not None and alert.snoozed_until is not None
        muted = alert is not None and alert.muted
        self.snooze_button.setText("Unsnooze" if snoozed else "Snooze…")
        self.mute_button.setText("Unmute" if muted else "Mute…")
        self.snooze_button.setEnabled(writable and (snoozed or unresolved))
        self.mute_button.setEnabled(writable and (muted or unresolved))
        self.close_button.setEnabled(writable and unresolved)
        # setText drops a button's shortcut when the text has none: set them again.
        self.snooze_button.setShortcut(QKeySequence("Alt+N"))
        self.mute_button.setShortcut(QKeySequence("Alt+M"))
        for button in self._buttons():
            shortcut = button.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            button.setToolTip(f"{button.text().rstrip('…')} ({shortcut})" if writable
                              else "The workspace is open read-only.")
        answerable = alert is not None and alert.cause in RETRAIN_CAUSES
        refusal = self._session.refusal("training.succeeded")
        self.retrain_button.setEnabled(writable and answerable and refusal is None
                                       and self._retraining is None)
        self.retrain_button.setToolTip(
            refusal if answerable and refusal else
            "Train the model's next version from its recipe because of this incident (Alt+R); "
            "it is compared with the champion and proposed only if it passes the gate"
            if answerable else "Retraining answers drift and performance incidents")

    def _act(self, label: str, job, done: str) -> None:
        self._session.work.write(label, lambda control: job(),
                                 on_success=lambda alert: self._on_action_succeeded(alert, done),
                                 on_failure=self._on_action_failed, context=self)

    def _on_action_succeeded(self, alert: Alert, done: str) -> None:
        self.banner.setText(done)
        self.banner.setStyleSheet(
            "background: #e8f5e9; color: #1b5e20; border: 1px solid #81c784; padding: 6px;")
        self.banner.show()
        self.reload()
        self.action_done.emit(done)

    def _on_action_failed(self, error: BaseException) -> None:
        show_error(self, error)
        if isinstance(error, ConcurrentEditError):
            self._details = None  # read the incident again before the next try
            self.reload()

    def retrain_for_selected(self) -> None:
        alert = self.current_alert()
        if alert is None or not self.retrain_button.isEnabled():
            return
        from modelledger.core.training import Trigger

        training = self._session.workspace.training
        name, cause = alert.model_name, f"asked from incident #{alert.id}: {alert.title}"

        def job(control):
            return training.train(name, trigger=Trigger.ALERT, cause=cause,
                                  progress=lambda percent, text: control.report(percent, 100,
                                                                                text),
                                  cancelled=control.cancel_event)

        # Minutes of waiting on a worker process: the read lane leaves writes free.
        self._retraining = self._session.work.read(
            f"Retraining {name}", job, on_success=self._on_retrained,
            on_failure=self._on_action_failed, context=self)
        self._retraining.finished.connect(self._on_retrain_finished)
        self.banner.setText(f"Retraining {name} because of incident #{alert.id}…")
        self.banner.setStyleSheet("")
        self.banner.show()
        self._update_actions()

    def _on_retrained(self, run) -> None:
        self._on_action_succeeded(None, f"Training run #{run.id} of {run.model_name}: "
                                        f"{run.outcome_text}")
        self.retrained.emit(run)

    def _on_retrain_finished(self) -> None:
        self._retraining = None
        self._update_actions()

    def acknowledge_selected(self) -> None:
        alert = self.current_alert()
        if alert is None:
            return
        service = self._service
        self._act(f"Acknowledging incident #{alert.id}",
                  lambda: service.acknowledge_alert(alert.id, alert.row_version),
                  f"Incident #{alert.id} acknowledged.")

    def assign_selected(self) -> AssignDialog | None:
        alert = self.current_alert()
        if alert is None:
            return None
        dialog = AssignDialog(alert, self._users, self)
        service = self._service

        def assign() -> None:
            person, comment = dialog.assignee(), dialog.comment()
            self._act(f"Assigning incident #{alert.id}",
                      lambda: service.assign_alert(alert.id, alert.row_version, person, comment),
                      f"Incident #{alert.id} assigned to {person}.")

        dialog.accepted.connect(assign)
        self.dialog = dialog
        dialog.open()
        return dialog

    def comment_selected(self) -> ReasonDialog | None:
        alert = self.current_alert()
        if alert is None:
            return None
        service = self._service
        return self._ask(
            f"Comment on incident #{alert.id}", f"Add a note to “{alert.title}”.", "Add comment",
            "Comment (kept with the incident and in the audit timeline)",
            lambda text: self._act(f"Commenting on incident #{alert.id}",
                                   lambda: service.comment_alert(alert.id, alert.row_version,
                                                                 text),
                                   f"Comment added to incident #{alert.id}."))

    def close_selected(self) -> ReasonDialog | None:
        alert = self.current_alert()
        if alert is None:
            return None
        service = self._service
        return self._ask(
            f"Close incident #{alert.id}",
            f"Close “{alert.title}”? If the cause comes back, a new incident opens. What "
            "was found or done?", "Close incident",
            "Closing note (kept with the incident and in the audit timeline)",
            lambda text: self._act(f"Closing incident #{alert.id}",
                                   lambda: service.close_alert(alert.id, alert.row_version, text),
                                   f"Incident #{alert.id} closed."))

    def snooze_or_unsnooze(self) -> SilenceDialog | None:
        alert = self.current_alert()
        if alert is None:
            return None
        service = self._service
        if alert.snoozed_until is not None:
            self._act(f"Ending the snooze of incident #{alert.id}",
                      lambda: service.unsnooze_alert(alert.id, alert.row_version),
                      f"Incident #{alert.id} is no longer snoozed.")
            return None
        dialog = SilenceDialog(alert, mute=False, parent=self)

        def snooze() -> None:
            until, comment = dialog.until(), dialog.text()
            self._act(f"Snoozing incident #{alert.id}",
                      lambda: service.snooze_alert(alert.id, alert.row_version, until, comment),
                      f"Incident #{alert.id} snoozed until {local_minute(until)}.")

        dialog.accepted.connect(snooze)
        self.dialog = dialog
        dialog.open()
        return dialog

    def mute_or_unmute(self) -> SilenceDialog | None:
        alert = self.current_alert()
        if alert is None:
            return None
        service = self._service
        if alert.muted:
            self._act(f"Unmuting incident #{alert.id}",
                      lambda: service.unmute_alert(alert.id, alert.row_version),
                      f"Incident #{alert.id} unmuted.")
            return None
        dialog = SilenceDialog(alert, mute=True, parent=self)

        def mute() -> None:
            until, reason = dialog.until(), dialog.text()
            self._act(f"Muting incident #{alert.id}",
                      lambda: service.mute_alert(alert.id, alert.row_version, reason, until),
                      f"Incident #{alert.id} muted.")

        dialog.accepted.connect(mute)
        self.dialog = dialog
        dialog.open()
        return dialog

    def _ask(self, title: str, question: str, action_text: str, placeholder: str,
             on_text) -> ReasonDialog:
        dialog = ReasonDialog(title, question, self, action_text=action_text)
        dialog.reason_edit.setPlaceholderText(placeholder)
        dialog.accepted.connect(lambda: on_text(dialog.reason()))
        self.dialog = dialog
        dialog.open()
        return dialog
