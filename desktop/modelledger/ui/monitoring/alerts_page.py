"""Alerts: what monitoring raised, who is on it, its notes, and handling it (acknowledge, assign,
comment, close); and the watcher that tells the window about alerts raised while it is open."""

from __future__ import annotations

import html
import logging

from PySide6.QtCore import QObject, Qt, QTimer, Signal
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
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from modelledger.core.domain import User
from modelledger.core.errors import ConcurrentEditError
from modelledger.core.monitoring import Alert, AlertNote, AlertStatus
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
NOTE_TITLES = {"raised": "raised", "repeated": "fired again", "acknowledged": "acknowledged",
               "assigned": "assigned", "comment": "commented", "closed": "closed",
               "reopened": "reopened"}
FILTERS = (("Open and acknowledged", False), ("All alerts, including closed", True))

ALERT_COLUMNS: tuple[Column, ...] = (
    Column("Severity", lambda a: a.severity.value,
           foreground=lambda a: HEALTH_COLOURS.get(a.severity.value)),
    Column("Status", lambda a: a.status.value,
           foreground=lambda a: STATUS_COLOURS.get(a.status.value)),
    Column("Model", lambda a: a.model_name),
    Column("Monitor", lambda a: a.monitor_name),
    Column("Title", lambda a: short_title(a), tooltip=lambda a: a.title),
    Column("Assignee", lambda a: a.assignee or "—"),
    Column("Occurrences", lambda a: str(a.occurrences), align_right=True),
    Column("First seen", lambda a: local_minute(a.first_seen_at)),
    Column("Last seen", lambda a: local_minute(a.last_seen_at)),
)
TITLE_COLUMN = 4


def short_title(alert: Alert) -> str:
    """The title without the "model / monitor: " it starts with (the table has both)."""
    prefix = f"{alert.model_name} / {alert.monitor_name}: "
    return alert.title.removeprefix(prefix)


def alert_html(alert: Alert, notes: list[AlertNote]) -> str:
    """One alert for the details pane: what it says, where it stands, and its history."""
    escape = html.escape
    colour = HEALTH_COLOURS.get(alert.severity.value, "#000")
    rows = [
        ("Status", f"<span style='color:{STATUS_COLOURS.get(alert.status.value, '#000')}'>"
                   f"{escape(alert.status.value)}</span>"),
        ("Assignee", escape(alert.assignee or "nobody yet")),
        ("Monitor", f"{escape(alert.model_name)} / {escape(alert.monitor_name)}"),
        ("Run", f"#{alert.run_id}" if alert.run_id else "—"),
        ("Occurrences", f"{alert.occurrences}, first {local_minute(alert.first_seen_at)}, "
                        f"last {local_minute(alert.last_seen_at)}"),
    ]
    if alert.closed_at is not None:
        rows.append(("Closed", local_minute(alert.closed_at)))
    parts = [f"<h3 style='margin:0 0 4px 0'>Alert #{alert.id} · <span style='color:{colour}'>"
             f"{escape(alert.severity.value)}</span></h3>",
             f"<p style='margin:0 0 6px 0'><b>{escape(alert.title)}</b></p>",
             "<table cellspacing='0' cellpadding='2'>"]
    parts += [f"<tr><td style='color:gray; padding-right:10px'>{label}</td><td>{value}</td>"
              "</tr>" for label, value in rows]
    parts.append("</table>")
    parts.append("<p style='margin:8px 0 2px 0'><b>Details</b></p>")
    parts.append(f"<p style='margin:0'>{escape(alert.detail).replace(chr(10), '<br>')}</p>"
                 if alert.detail else "<p style='color:gray; margin:0'>none</p>")
    parts.append("<p style='margin:10px 0 2px 0'><b>History</b></p>")
    for note in reversed(notes):
        parts.append(
            f"<p style='margin:0 0 6px 0'><span style='color:gray'>"
            f"{local_minute(note.created_at)}</span> <b>{escape(note.author)}</b> "
            f"{escape(NOTE_TITLES.get(note.kind, note.kind))}"
            f"{'<br>' + escape(note.text).replace(chr(10), '<br>') if note.text else ''}</p>")
    return "".join(parts)


def describe_new_alerts(alerts: list[Alert]) -> str:
    """One line for a notification: the alert itself, or how many and how bad."""
    if len(alerts) == 1:
        alert = alerts[0]
        return f"{alert.severity.value.capitalize()}: {alert.title}"
    critical = sum(1 for alert in alerts if alert.severity.value == "critical")
    worst = f" ({critical} critical)" if critical else ""
    models = sorted({alert.model_name for alert in alerts})
    return f"{len(alerts)} new alerts{worst} on {', '.join(models)}"


class AlertWatcher(QObject):
    """Tells about alerts raised while the workspace is open, by this window's scheduler or by
    another instance; never about those that existed when it was opened."""

    ready = Signal()  # the alerts that already existed are known
    new_alerts = Signal(list)  # alerts to tell the user about

    def __init__(self, session: WorkspaceSession, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._baseline: int | None = None  # the newest alert id when the workspace opened
        self._told: set[tuple[int, str]] = set()  # (id, severity): an escalation tells again
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
        self._tell(alerts)

    def _on_check_failed(self, error: BaseException) -> None:
        self._checking = False
        log.warning("could not check for new alerts: %s", error)

    def _on_session_scheduler_event(self, event: SchedulerEvent) -> None:
        if event.kind == "finished" and event.stored is not None and event.stored.new_alerts:
            self._tell(list(event.stored.new_alerts))

    def _tell(self, alerts: list[Alert]) -> None:
        if self._baseline is None:
            return
        fresh = [alert for alert in alerts if alert.id > self._baseline
                 and (alert.id, alert.severity.value) not in self._told]
        if not fresh:
            return
        self._told.update((alert.id, alert.severity.value) for alert in fresh)
        self.new_alerts.emit(fresh)


class AssignDialog(QDialog):
    """Who takes the alert, from the workspace's people (or a name typed in)."""

    def __init__(self, alert: Alert, users: list[User], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("assignDialog")
        self.setWindowTitle(f"Assign alert #{alert.id}")
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
        self.comment_edit.setPlaceholderText("Comment (optional, kept with the alert)")
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


class AlertsPage(QWidget):
    alerts_loaded = Signal()
    details_loaded = Signal()
    open_count_changed = Signal(int)  # alerts not closed yet
    action_done = Signal(str)

    def __init__(self, session: WorkspaceSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("alertsPage")
        self._session = session
        self._service = session.workspace.monitoring
        self._writable = not session.read_only
        self._include_closed = False
        self._selected_id: int | None = None
        self._alert_to_restore: int | None = None
        self._details: tuple[Alert, list[AlertNote]] | None = None
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
        self.acknowledge_button = QPushButton("Acknowledge")
        self.acknowledge_button.clicked.connect(self.acknowledge_selected)
        self.assign_button = QPushButton("Assign…")
        self.assign_button.clicked.connect(self.assign_selected)
        self.comment_button = QPushButton("Comment…")
        self.comment_button.clicked.connect(self.comment_selected)
        self.close_button = QPushButton("Close…")
        self.close_button.clicked.connect(self.close_selected)
        top = QHBoxLayout()
        top.addWidget(QLabel("<h2 style='margin:0'>Alerts</h2>"))
        top.addSpacing(16)
        top.addWidget(self.filter_combo)
        top.addSpacing(12)
        for button in (self.acknowledge_button, self.assign_button, self.comment_button,
                       self.close_button):
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
        for column, width in enumerate((64, 96, 170, 150, 220, 80, 84, 118, 118)):
            self.table.setColumnWidth(column, width)
        header.setSectionResizeMode(TITLE_COLUMN, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().selectionChanged.connect(self._on_table_selection_changed)

        self.details = QTextBrowser()
        self.details.setObjectName("alertDetails")
        self.details.setOpenLinks(False)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([380, 260])
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
        self._session.work.read("Counting open alerts",
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
        """The workspace's people, whom an alert can be assigned to."""
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
                "<p style='font-size:12pt'>No alerts.</p><p>A monitor raises an alert when a "
                "run finds drift, a data problem, a drop in performance or a KPI off target"
                + (", or when it pauses itself after failing." if not self._include_closed
                   else ".") + "</p>")
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
        text = f"{shown} alert{'s' if shown != 1 else ''} shown"
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
            f"Loading alert #{alert_id}", lambda control: service.alert_details(alert_id),
            on_success=lambda details: self._on_details_read(alert_id, details), context=self)

    def _on_details_read(self, alert_id: int,
                         details: tuple[Alert, list[AlertNote]]) -> None:
        if alert_id != self._selected_id:
            return
        self._details = details
        self._show_details(details)
        self._update_actions()
        self.details_loaded.emit()

    def _show_details(self, details: tuple[Alert, list[AlertNote]] | None) -> None:
        if details is None:
            self.details.setHtml("<p style='color:gray'>Select an alert to see what it found "
                                 "and what has been done about it.</p>")
        else:
            self.details.setHtml(alert_html(*details))

    def current_alert(self) -> Alert | None:
        """The selected alert as last read (with the row version actions must quote)."""
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
        self.close_button.setEnabled(writable and unresolved)
        tip = "" if writable else "The workspace is open read-only."
        for button in (self.acknowledge_button, self.assign_button, self.comment_button,
                       self.close_button):
            button.setToolTip(tip)

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
            self._details = None  # read the alert again before the next try
            self.reload()

    def acknowledge_selected(self) -> None:
        alert = self.current_alert()
        if alert is None:
            return
        service = self._service
        self._act(f"Acknowledging alert #{alert.id}",
                  lambda: service.acknowledge_alert(alert.id, alert.row_version),
                  f"Alert #{alert.id} acknowledged.")

    def assign_selected(self) -> AssignDialog | None:
        alert = self.current_alert()
        if alert is None:
            return None
        dialog = AssignDialog(alert, self._users, self)
        service = self._service

        def assign() -> None:
            person, comment = dialog.assignee(), dialog.comment()
            self._act(f"Assigning alert #{alert.id}",
                      lambda: service.assign_alert(alert.id, alert.row_version, person, comment),
                      f"Alert #{alert.id} assigned to {person}.")

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
            f"Comment on alert #{alert.id}", f"Add a note to “{alert.title}”.", "Add comment",
            "Comment (kept with the alert and in the audit timeline)",
            lambda text: self._act(f"Commenting on alert #{alert.id}",
                                   lambda: service.comment_alert(alert.id, alert.row_version,
                                                                 text),
                                   f"Comment added to alert #{alert.id}."))

    def close_selected(self) -> ReasonDialog | None:
        alert = self.current_alert()
        if alert is None:
            return None
        service = self._service
        return self._ask(
            f"Close alert #{alert.id}",
            f"Close “{alert.title}”? If the condition comes back, a new alert is raised. What "
            "was found or done?", "Close alert",
            "Closing note (kept with the alert and in the audit timeline)",
            lambda text: self._act(f"Closing alert #{alert.id}",
                                   lambda: service.close_alert(alert.id, alert.row_version, text),
                                   f"Alert #{alert.id} closed."))

    def _ask(self, title: str, question: str, action_text: str, placeholder: str,
             on_text) -> ReasonDialog:
        dialog = ReasonDialog(title, question, self, action_text=action_text)
        dialog.reason_edit.setPlaceholderText(placeholder)
        dialog.accepted.connect(lambda: on_text(dialog.reason()))
        self.dialog = dialog
        dialog.open()
        return dialog
