"""The audit timeline: every recorded change, newest first, filtered in SQL, the chain check,
and a model as it stood at any past moment.

Events page in by sequence number (keyset paging), so scrolling stays fast however long the
log grows; the filters become WHERE clauses, never a pass over loaded rows.
"""

from __future__ import annotations

import html
import json
import logging
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any

from PySide6.QtCore import (
    QDate,
    QDateTime,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import QPainter, QPaintEvent, QPalette, QTextOption
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QCompleter,
    QDateEdit,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from modelledger.core.audit_chain import ChainReport
from modelledger.core.domain import EVERY_EVENT, AuditEvent, EventFilter
from modelledger.core.errors import ModelLedgerError
from modelledger.core.identity import DecisionReport
from modelledger.core.monitoring import metric_label
from modelledger.core.palette import MUTED, status_colour
from modelledger.services.governance.as_of import ModelAsOf, MonitorAsOf, event_moment, model_as_of
from modelledger.services.governance.audit import NOT_RECORDED, AuditService, field_changes
from modelledger.services.workspace.opening import Workspace
from modelledger.ui.base.errors import show_error
from modelledger.ui.base.session import WorkspaceSession
from modelledger.ui.governance.signature_badges import signature_column, signature_html
from modelledger.ui.widgets.table_models import (
    DEFAULT_PAGE_SIZE,
    Column,
    Page,
    PagedTableModel,
    PageRequest,
)

log = logging.getLogger(__name__)

ACTION_TYPES = (
    ("All actions", None),
    ("Models", "model."),
    ("Versions", "version."),
    ("Stage changes", "stage."),
    ("Promotions", "promotion."),
    ("Model files", "artifact."),
    ("Monitors", "monitor."),
    ("Alerts", "alert."),
    ("Settings", "settings."),
    ("People", "user."),
    ("Chain checks", "audit."),
)
# (title, days back including today); None: no limit. BETWEEN_DATES shows the date fields.
BETWEEN_DATES = "Between dates"
PERIODS = (("Any time", None), ("Today", 1), ("Last 7 days", 7), ("Last 30 days", 30),
           (BETWEEN_DATES, None))
# Entities whose id starts with the name of the model they belong to ("model/v2", ...).
MODEL_ENTITY_TYPES = frozenset({"model", "version", "promotion_request", "monitor"})
MODEL_LINK_SCHEME = "model"
AS_OF_LINK_SCHEME = "asof"
SEARCH_DELAY_MILLISECONDS = 250
AS_OF_TIP = ("What a model looked like at a past moment: its versions and their stages, its "
             "monitors and thresholds, and its health then.")
INTACT_COLOUR = "#1b7f3b"
BROKEN_COLOUR = "#b00020"


def about_text(event: AuditEvent) -> str:
    """What an event is about, as text when the timeline read a label for it, else its id."""
    return event.about or event.entity_id


def fetch_timeline_page(audit: AuditService, timeline_filter: EventFilter,
                        request: PageRequest) -> Page:
    """One page of events older than the last loaded one; runs on the read lane.

    Only the first page is counted: the count costs a pass over the matching rows, and later
    pages only need to know whether they came back full.
    """
    before_seq = request.last_row.seq if request.last_row is not None else None
    events = audit.list_events(timeline_filter, limit=request.limit, before_seq=before_seq)
    total = audit.count_events(timeline_filter) if before_seq is None else None
    labels = audit.subject_labels(events)
    return Page([replace(event, about=labels.get((event.entity_type, event.entity_id), ""))
                 for event in events], total)


def read_filter_choices(workspace: Workspace) -> tuple[list[str], list[str]]:
    """Model names and everyone in the log, for the filter lists."""
    models = [summary.model.name for summary in workspace.registry.list_models()]
    return models, workspace.audit.actors()


def read_version_numbers(workspace: Workspace, model_name: str) -> list[int]:
    """The model's version numbers, newest first, for the version filter."""
    return [version.version_number for version in workspace.registry.list_versions(model_name)]


def model_of(event: AuditEvent) -> str | None:
    """The model an event is about, if any: its entity id starts with the model's name, or,
    for an alert, its record names the model."""
    if event.entity_type in MODEL_ENTITY_TYPES:
        return event.entity_id.split("/", 1)[0]
    if event.entity_type == "alert":
        for text in (event.after, event.before):
            try:
                record = json.loads(text)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("model"), str):
                return record["model"]
    return None


def period_bounds(period: str, from_day: date, to_day: date,
                  today: date) -> tuple[datetime | None, datetime | None]:
    """The period the user chose, in local days, as [start, end) moments (None: open)."""
    if period == BETWEEN_DATES:
        return local_midnight(from_day), local_midnight(to_day + timedelta(days=1))
    days = dict(PERIODS)[period]
    if days is None:
        return None, None
    return local_midnight(today - timedelta(days=days - 1)), None


def local_midnight(day: date) -> datetime:
    """The start of a day in this computer's time zone, as an aware moment."""
    return datetime.combine(day, time.min).astimezone()


def local_time(occurred_at: str) -> str:
    """The stored UTC timestamp in the user's time zone, to the second."""
    try:
        return local_moment(datetime.fromisoformat(occurred_at))
    except ValueError:
        return occurred_at  # a hand-edited row: show what is there


def local_moment(moment: datetime) -> str:
    """A moment in the user's time zone, to the second."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def single_line(text: str) -> str:
    return " ".join(text.split())


def chain_status(report: ChainReport,
                 decisions: DecisionReport | None = None) -> tuple[str, str]:
    """The status line and its colour; it is about the whole log, whatever the filters show."""
    if report.first_break is not None:
        return (f"Chain BROKEN at event {report.first_break.seq}: "
                f"{report.first_break.problem}", BROKEN_COLOUR)
    if report.events_checked == 0:
        return "The audit log is empty: nothing to verify yet.", INTACT_COLOUR
    text = (f"Chain verified: all {report.events_checked} events, every hash recomputed and "
            "matching.")
    if decisions is None or decisions.identity_from_seq is None:
        return text, INTACT_COLOUR
    if decisions.problems:
        count = len(decisions.problems)
        return (f"{text} But {count} decision{'s' if count > 1 else ''} NOT VALID, first at "
                f"event {decisions.problems[0].seq}: {decisions.problems[0].problem}",
                BROKEN_COLOUR)
    return (f"{text} Every one of the {decisions.signed} decisions is signed by its author's "
            "valid key.", INTACT_COLOUR)


class PlaceholderTableView(QTableView):
    """A table that says why it is empty instead of showing a blank area."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._placeholder = ""

    def placeholder_text(self) -> str:
        return self._placeholder

    def set_placeholder_text(self, text: str) -> None:
        self._placeholder = text
        self.viewport().update()

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        model = self.model()
        if not self._placeholder or model is None or model.rowCount() > 0:
            return
        painter = QPainter(self.viewport())
        painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
        area = self.viewport().rect().adjusted(24, 24, -24, -24)
        painter.drawText(area, int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop
                                   | Qt.TextFlag.TextWordWrap), self._placeholder)
        painter.end()


class AuditPage(QWidget):
    model_requested = Signal(str)  # the user wants to see this model
    chain_verified = Signal(object)  # a ChainReport, after "Verify chain" (or verify_chain())
    verification_recorded = Signal(object)  # the audit.verified AuditEvent written after it
    as_of_opened = Signal(object)  # a ModelAsOfDialog

    def __init__(self, session: WorkspaceSession, parent: QWidget | None = None, *,
                 page_size: int = DEFAULT_PAGE_SIZE) -> None:
        super().__init__(parent)
        self.setObjectName("auditPage")
        self._session = session
        self._filter = EVERY_EVENT
        self._model_names: list[str] = []
        self._versions_model: str | None = None  # the model the version filter lists
        self._selected_seq: int | None = None
        self._verifying = False
        # The verdict of the last check on every decision, for the Signed column.
        self._decisions: DecisionReport | None = None
        self._broken_seq: int | None = None  # from the last verification
        self.events = PagedTableModel(
            session, self._timeline_columns(), self._fetch_for(self._filter),
            key=lambda event: event.seq, page_size=page_size, parent=self)
        self._search_delay = QTimer(self)
        self._search_delay.setSingleShot(True)
        self._search_delay.setInterval(SEARCH_DELAY_MILLISECONDS)
        self._search_delay.timeout.connect(self._apply_filters)
        self._build()
        self.events.loaded.connect(self._on_events_loaded)
        self.events.rowsInserted.connect(self._on_events_rows_inserted)
        self.events.load_failed.connect(self._on_events_load_failed)
        session.changed.connect(self._on_session_changed)
        self.events.reload(keep_loaded=False)
        self._load_filter_choices()

    # -- building -------------------------------------------------------------------------------

    def _timeline_columns(self) -> list[Column]:
        def broken_colour(event: AuditEvent) -> str | None:
            return BROKEN_COLOUR if event.seq == self._broken_seq else None

        return [
            Column("#", lambda event: str(event.seq), align_right=True,
                   foreground=broken_colour),
            Column("When", lambda event: local_time(event.occurred_at),
                   tooltip=lambda event: f"{event.occurred_at} (UTC)"),
            Column("Who", lambda event: event.actor,
                   tooltip=lambda event: f"{event.actor}@{event.host}"),
            Column("Action", lambda event: event.action),
            Column("About", about_text,
                   tooltip=lambda event: f"{event.entity_type} {event.entity_id}"),
            Column("Reason", lambda event: single_line(event.reason),
                   tooltip=lambda event: event.reason),
            signature_column(lambda: self._decisions),
        ]

    def _build(self) -> None:
        self.chain_label = QLabel("The chain has not been checked since the workspace opened.")
        self.chain_label.setObjectName("chainStatus")
        self.chain_label.setWordWrap(True)
        self.chain_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.as_of_button = QPushButton("Model &as of…")
        self.as_of_button.setToolTip(AS_OF_TIP)
        self.as_of_button.setEnabled(False)  # until the models are known
        self.as_of_button.clicked.connect(self._on_as_of_button_clicked)
        self.verify_button = QPushButton("&Verify chain")
        self.verify_button.setToolTip(
            "Recompute the hash of every event and check that each one links to the one "
            "before it, so any edit, removal or insertion made outside ModelLedger shows. "
            "The check is itself recorded in the log when the workspace is writable.")
        self.verify_button.clicked.connect(self.verify_chain)
        chain_row = QHBoxLayout()
        chain_row.addWidget(self.chain_label, 1)
        chain_row.addWidget(self.as_of_button)
        chain_row.addWidget(self.verify_button)

        self.model_filter = QComboBox()
        self.model_filter.setEditable(True)
        self.model_filter.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.model_filter.lineEdit().setPlaceholderText("All models")
        self.model_filter.lineEdit().setClearButtonEnabled(True)
        self.model_filter.setToolTip("Events about one model: its versions, promotion requests, "
                                     "monitors and alerts. Pick a name or type it and press "
                                     "Enter.")
        self.model_filter.setMinimumContentsLength(20)
        self.model_filter.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        completer = QCompleter(self.model_filter.model(), self.model_filter)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.model_filter.setCompleter(completer)
        self.model_filter.activated.connect(self._apply_filters)
        self.model_filter.lineEdit().returnPressed.connect(self._apply_filters)
        self.model_filter.currentTextChanged.connect(self._on_model_filter_text_changed)

        self.version_filter = QComboBox()
        self.version_filter.addItem("All versions", None)
        self.version_filter.setToolTip("Events about one version of the chosen model and its "
                                       "promotion requests. Choose a model first.")
        self.version_filter.setEnabled(False)
        self.version_filter.currentIndexChanged.connect(self._apply_filters)

        self.action_filter = QComboBox()
        for title, prefix in ACTION_TYPES:
            self.action_filter.addItem(title, prefix)
        self.action_filter.currentIndexChanged.connect(self._apply_filters)

        self.actor_filter = QComboBox()
        self.actor_filter.addItem("Everyone", None)
        self.actor_filter.setMinimumContentsLength(10)
        self.actor_filter.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.actor_filter.currentIndexChanged.connect(self._apply_filters)

        self.period_filter = QComboBox()
        for title, _days in PERIODS:
            self.period_filter.addItem(title)
        self.period_filter.setToolTip("When the events happened, in this computer's time zone.")
        self.period_filter.currentIndexChanged.connect(self._on_period_filter_changed)
        today = QDate.currentDate()
        self.from_date = QDateEdit(today.addDays(-29), calendarPopup=True)
        self.to_date = QDateEdit(today, calendarPopup=True)
        self.from_date.setToolTip("From the start of this day")
        self.to_date.setToolTip("To the end of this day")
        for edit in (self.from_date, self.to_date):
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setVisible(False)
            edit.dateChanged.connect(self._on_date_changed)
        self.to_date.setMinimumDate(self.from_date.date())

        self.search_edit = QLineEdit()
        self.search_edit.setObjectName("auditSearch")
        self.search_edit.setPlaceholderText("Search reasons and recorded text")
        self.search_edit.setToolTip("Finds the text in reasons and comments, and in any text "
                                    "an event recorded (alert titles, notes, summaries, errors, "
                                    "descriptions), in any case.")
        self.search_edit.setMinimumWidth(120)
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.textChanged.connect(self._on_search_edit_text_changed)
        self.search_edit.returnPressed.connect(self._apply_filters)

        self.clear_filters_button = QPushButton("Clear filters")
        self.clear_filters_button.setEnabled(False)
        self.clear_filters_button.clicked.connect(self.clear_filters)
        self.count_label = QLabel("")
        self.count_label.setObjectName("eventCount")

        filter_row = QHBoxLayout()
        for widget in (self.model_filter, self.version_filter, self.action_filter,
                       self.actor_filter, self.period_filter, self.from_date, self.to_date):
            filter_row.addWidget(widget)
        filter_row.addWidget(self.search_edit, 1)

        self.table = PlaceholderTableView()
        self.table.setObjectName("auditTable")
        self.table.setModel(self.events)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 10)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        for column, width in enumerate((48, 140, 120, 140, 260, 160)):
            header.resizeSection(column, width)
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.selectionModel().currentRowChanged.connect(self._on_table_current_row_changed)
        self.table.activated.connect(self._on_table_activated)

        self.details = QTextBrowser()
        self.details.setObjectName("eventDetails")
        self.details.setOpenLinks(False)
        # Hashes are one 64-character word: let them wrap rather than widen the pane.
        self.details.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.details.anchorClicked.connect(self._on_details_anchor_clicked)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([720, 360])

        count_row = QHBoxLayout()
        count_row.addWidget(self.count_label, 1)
        count_row.addWidget(self.clear_filters_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.addLayout(chain_row)
        layout.addLayout(filter_row)
        layout.addWidget(self.splitter, 1)
        layout.addLayout(count_row)
        self._show_event(None)
        self._update_placeholder()

    # -- public ---------------------------------------------------------------------------------

    def focus_search(self) -> None:
        self.search_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_edit.selectAll()

    def show_model_events(self, model_name: str) -> None:
        """Narrow the timeline to one model (as when arriving from the model's page)."""
        self.model_filter.setEditText(model_name)
        self._apply_filters()

    def clear_filters(self) -> None:
        filters = (self.model_filter, self.version_filter, self.action_filter,
                   self.actor_filter, self.period_filter, self.search_edit)
        for widget in filters:
            widget.blockSignals(True)
        self.model_filter.setEditText("")
        for combo in (self.version_filter, self.action_filter, self.actor_filter,
                      self.period_filter):
            combo.setCurrentIndex(0)
        self.search_edit.clear()
        for widget in filters:
            widget.blockSignals(False)
        self._show_date_fields()
        self._apply_filters()

    def chain_status_text(self) -> str:
        return self.chain_label.text()

    def current_filter(self) -> EventFilter:
        return self._filter

    def selected_event(self) -> AuditEvent | None:
        index = self.table.currentIndex()
        return self.events.row(index) if index.isValid() else None

    def verify_chain(self, *, record: bool = True) -> None:
        """Check the whole chain on the read lane; then, with ``record`` and a writable
        workspace, add the outcome to the log (the check made on opening is not recorded,
        or every window opened would add an event)."""
        if self._verifying:
            return
        self._verifying = True
        self.verify_button.setEnabled(False)
        self._set_chain_text("Verifying the chain…", None)
        audit = self._session.workspace.audit
        self._session.work.read("Verifying the audit chain",
                                lambda control: audit.verify_with_signatures(),
                                on_success=partial(self._on_verify_done, record),
                                on_failure=self._on_verify_failed, context=self)

    def show_model_as_of(self, model_name: str | None = None,
                         event: AuditEvent | None = None) -> ModelAsOfDialog:
        """Open the picture of a model at an event's moment, or now."""
        moment = event_moment(event) if event is not None else datetime.now(UTC)
        dialog = ModelAsOfDialog(self._session, self._model_names, model_name, moment, self,
                                 event_seq=event.seq if event is not None else None)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        self.as_of_opened.emit(dialog)
        return dialog

    # -- filters --------------------------------------------------------------------------------

    def _fetch_for(self, timeline_filter: EventFilter):
        return partial(fetch_timeline_page, self._session.workspace.audit, timeline_filter)

    def _filter_from_widgets(self) -> EventFilter:
        model_name = self.model_filter.currentText().strip() or None
        start, end = period_bounds(self.period_filter.currentText(),
                                   self.from_date.date().toPython(),
                                   self.to_date.date().toPython(), date.today())
        return EventFilter(
            model_name=model_name,
            version_number=self.version_filter.currentData() if model_name else None,
            action_prefix=self.action_filter.currentData(),
            actor=self.actor_filter.currentData(),
            search=self.search_edit.text().strip() or None,
            occurred_from=start,
            occurred_before=end,
        )

    def _apply_filters(self) -> None:
        self._search_delay.stop()
        self._list_versions_of(self.model_filter.currentText().strip() or None)
        wanted = self._filter_from_widgets()
        self.clear_filters_button.setEnabled(wanted != EVERY_EVENT)
        if wanted == self._filter:
            return
        self._filter = wanted
        self._update_placeholder()
        self.events.set_fetch_page(self._fetch_for(wanted))

    def _on_search_edit_text_changed(self, text: str) -> None:
        # One query when the typing pauses, not one per key.
        self._search_delay.start()

    def _on_date_changed(self, changed: QDate) -> None:
        # The end may not come before the start: moving the start past it moves it along.
        self.to_date.setMinimumDate(self.from_date.date())
        self._search_delay.start()

    def _on_period_filter_changed(self, index: int) -> None:
        self._show_date_fields()
        self._apply_filters()

    def _show_date_fields(self) -> None:
        between = self.period_filter.currentText() == BETWEEN_DATES
        self.from_date.setVisible(between)
        self.to_date.setVisible(between)

    def _on_model_filter_text_changed(self, text: str) -> None:
        # A half-typed name would match nothing; filter once the text is a whole model name.
        if not text.strip() or text.strip() in self._model_names:
            self._apply_filters()

    def _list_versions_of(self, model_name: str | None) -> None:
        """Offer the versions of the chosen model; another model starts from all versions."""
        if model_name == self._versions_model:
            return
        self._versions_model = model_name
        self.version_filter.blockSignals(True)
        self.version_filter.clear()
        self.version_filter.addItem("All versions", None)
        self.version_filter.blockSignals(False)
        self.version_filter.setEnabled(False)
        self._load_version_choices()

    def _load_version_choices(self) -> None:
        model_name = self._versions_model
        if model_name not in self._model_names:
            return
        workspace = self._session.workspace
        self._session.work.read("Loading versions",
                                lambda control: read_version_numbers(workspace, model_name),
                                on_success=partial(self._on_version_choices_read, model_name),
                                quiet=True, context=self)

    def _on_version_choices_read(self, model_name: str, numbers: list[int]) -> None:
        if model_name != self._versions_model:
            return  # the user has chosen another model meanwhile
        listed = [self.version_filter.itemData(i) for i in range(1, self.version_filter.count())]
        if numbers != listed:
            chosen = self.version_filter.currentData()
            self.version_filter.blockSignals(True)
            self.version_filter.clear()
            self.version_filter.addItem("All versions", None)
            for number in numbers:
                self.version_filter.addItem(f"v{number}", number)
            self.version_filter.setCurrentIndex(max(0, self.version_filter.findData(chosen)))
            self.version_filter.blockSignals(False)
        self.version_filter.setEnabled(bool(numbers))

    def _load_filter_choices(self) -> None:
        workspace = self._session.workspace
        self._session.work.read("Loading audit filters",
                                lambda control: read_filter_choices(workspace),
                                on_success=self._on_filter_choices_read, quiet=True)

    def _on_filter_choices_read(self, choices: tuple[list[str], list[str]]) -> None:
        models, actors = choices
        self.as_of_button.setEnabled(bool(models))
        self.as_of_button.setToolTip(AS_OF_TIP if models else "No model is registered yet.")
        if models != self._model_names:
            self._model_names = models
            typed = self.model_filter.currentText()
            self.model_filter.blockSignals(True)
            self.model_filter.clear()
            self.model_filter.addItems(models)
            self.model_filter.setEditText(typed)
            self.model_filter.blockSignals(False)
        listed_actors = [self.actor_filter.itemData(i) for i in range(1, self.actor_filter.count())]
        if actors == listed_actors:
            return
        chosen = self.actor_filter.currentData()
        self.actor_filter.blockSignals(True)
        self.actor_filter.clear()
        self.actor_filter.addItem("Everyone", None)
        for actor in actors:
            self.actor_filter.addItem(actor, actor)
        self.actor_filter.setCurrentIndex(max(0, self.actor_filter.findData(chosen)))
        self.actor_filter.blockSignals(False)

    # -- loading --------------------------------------------------------------------------------

    def _on_session_changed(self) -> None:
        self.events.reload()
        self._load_filter_choices()
        self._load_version_choices()

    def _on_events_loaded(self) -> None:
        self._update_count()
        self._update_placeholder()
        row = self.events.row_of_key(self._selected_seq) if self._selected_seq else None
        if row is None:
            self._selected_seq = None
            self._show_event(None)
            return
        self.table.selectRow(row)
        self.table.scrollTo(self.events.index(row, 0))

    def _on_events_rows_inserted(self, parent: QModelIndex, first: int, last: int) -> None:
        self._update_count()

    def _on_events_load_failed(self, error: BaseException) -> None:
        log.warning("could not load audit events: %s", error)
        self.count_label.setText(f"<span style='color:{BROKEN_COLOUR}'>Could not read the "
                                 f"audit log: {html.escape(str(error))}</span>")

    def _update_count(self) -> None:
        loaded, total = self.events.rowCount(), self.events.total()
        noun = "matching event" if self._filter != EVERY_EVENT else "event"
        if total is None:
            text = f"{loaded} {noun}s loaded"
        else:
            text = f"{total} {noun}{'' if total == 1 else 's'}"
            if loaded < total:
                text += f" · newest {loaded} shown, scroll down for more"
        self.count_label.setText(text)

    def _update_placeholder(self) -> None:
        if self.events.is_loading() and self.events.rowCount() == 0:
            text = "Loading the audit timeline…"
        elif self._filter != EVERY_EVENT:
            text = "No events match these filters.\nClear the filters to see every event."
        else:
            text = ("No events yet.\nEvery change to this workspace — models, versions, stage "
                    "changes, approvals, settings — is recorded here.")
        self.table.set_placeholder_text(text)

    # -- selection ------------------------------------------------------------------------------

    def _on_table_current_row_changed(self, current: QModelIndex,
                                      previous: QModelIndex) -> None:
        event = self.events.row(current) if current.isValid() else None
        self._selected_seq = event.seq if event is not None else None
        self._show_event(event)

    def _on_table_activated(self, index: QModelIndex | QPersistentModelIndex) -> None:
        name = model_of(self.events.row(index))
        if name is not None:
            self.model_requested.emit(name)

    def _on_details_anchor_clicked(self, url: QUrl) -> None:
        if url.scheme() == MODEL_LINK_SCHEME:
            self.model_requested.emit(url.path())
        elif url.scheme() == AS_OF_LINK_SCHEME:
            event = self.selected_event()
            if event is not None:
                self.show_model_as_of(model_of(event), event)

    def _on_as_of_button_clicked(self) -> None:
        typed = self.model_filter.currentText().strip()
        selected = self.selected_event()
        if typed in self._model_names:
            self.show_model_as_of(typed)
        else:
            self.show_model_as_of(model_of(selected) if selected is not None else None)

    def _show_event(self, event: AuditEvent | None) -> None:
        if event is None:
            self.details.setHtml("<p style='color:gray'>Select an event to see everything it "
                                 "recorded: what it changed, and its place in the hash "
                                 "chain.</p>")
            return
        self.details.setHtml(event_html(event, signature=signature_html(event, self._decisions)))

    # -- chain ----------------------------------------------------------------------------------

    def _on_verify_done(self, record: bool,
                        reports: tuple[ChainReport, DecisionReport]) -> None:
        report, decisions = reports
        self._verifying = False
        self.verify_button.setEnabled(True)
        self._broken_seq = report.first_break.seq if report.first_break else None
        self._decisions = decisions
        self.table.viewport().update()
        self._show_event(self.selected_event())
        text, colour = chain_status(report, decisions)
        checked = f"{text} (checked at {datetime.now().strftime('%H:%M:%S')})"
        self._set_chain_text(checked, colour, bold=report.first_break is not None)
        self.chain_verified.emit(report)
        if record and not self._session.read_only:
            workspace = self._session.workspace
            self._session.work.write(
                "Recording the chain check",
                lambda control: workspace.audit.record_verification(
                    report, workspace.actor, workspace.changes, decisions),
                on_success=partial(self._on_verification_recorded, checked, colour, report),
                on_failure=partial(self._on_verification_not_recorded, checked, colour,
                                   report), context=self)

    def _on_verification_recorded(self, checked: str, colour: str, report: ChainReport,
                                  event: AuditEvent) -> None:
        self._set_chain_text(f"{checked} · recorded as event {event.seq}", colour,
                             bold=not report.intact)
        self.verification_recorded.emit(event)

    def _on_verification_not_recorded(self, checked: str, colour: str, report: ChainReport,
                                      error: BaseException) -> None:
        log.warning("could not record the chain check: %s", error)
        self._set_chain_text(f"{checked} · not recorded in the log: {error}", colour,
                             bold=not report.intact)

    def _on_verify_failed(self, error: BaseException) -> None:
        self._verifying = False
        self.verify_button.setEnabled(True)
        self._set_chain_text(f"Could not verify the chain: {error}", BROKEN_COLOUR)

    def _set_chain_text(self, text: str, colour: str | None, *, bold: bool = False) -> None:
        self.chain_label.setText(text)
        style = f"color: {colour};" if colour else ""
        if bold:
            style += " font-weight: bold;"
        self.chain_label.setStyleSheet(style)


class ModelAsOfDialog(QDialog):
    """A model as it stood at a moment; the picture is rebuilt on the read lane whenever the
    model or the moment changes."""

    picture_shown = Signal(object)  # the ModelAsOf now on screen

    def __init__(self, session: WorkspaceSession, model_names: list[str],
                 model_name: str | None, moment: datetime, parent: QWidget | None = None, *,
                 event_seq: int | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelAsOfDialog")
        self.setWindowTitle("Model as of a past moment")
        self.resize(820, 620)
        self._session = session
        self._moment = moment  # to the microsecond; the edit shows it to the second
        self._event_seq = event_seq
        self._generation = 0  # a picture asked for before the latest change is dropped
        self.picture: ModelAsOf | None = None

        self.model_combo = QComboBox()
        self.model_combo.addItems(model_names)
        self.model_combo.setMinimumContentsLength(20)
        if model_name is not None:
            if self.model_combo.findText(model_name) < 0:  # the page's list is still loading
                self.model_combo.addItem(model_name)
            self.model_combo.setCurrentText(model_name)
        self.moment_edit = QDateTimeEdit(calendarPopup=True)
        self.moment_edit.setDisplayFormat("yyyy-MM-dd HH:mm:ss")
        self.moment_edit.setDateTime(QDateTime.fromMSecsSinceEpoch(
            int(moment.timestamp() * 1000)))
        self.moment_edit.setToolTip("In this computer's time zone")
        self.now_button = QPushButton("Now")
        self.now_button.clicked.connect(self._on_now_button_clicked)
        self.view = QTextBrowser()
        self.view.setObjectName("modelAsOf")
        self.view.setOpenLinks(False)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)

        inputs = QHBoxLayout()
        inputs.addWidget(QLabel("Model"))
        inputs.addWidget(self.model_combo)
        inputs.addSpacing(12)
        inputs.addWidget(QLabel("As of"))
        inputs.addWidget(self.moment_edit)
        inputs.addWidget(self.now_button)
        inputs.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(inputs)
        layout.addWidget(self.view, 1)
        layout.addWidget(buttons)

        self._reload_delay = QTimer(self)
        self._reload_delay.setSingleShot(True)
        self._reload_delay.setInterval(SEARCH_DELAY_MILLISECONDS)
        self._reload_delay.timeout.connect(self._load)
        self.model_combo.currentTextChanged.connect(self._load)
        self.moment_edit.dateTimeChanged.connect(self._on_moment_edit_changed)
        self._load()

    def moment(self) -> datetime:
        return self._moment

    def set_moment(self, moment: datetime) -> None:
        """Show the model at another moment (as typing it in the date field would)."""
        self.moment_edit.setDateTime(QDateTime.fromMSecsSinceEpoch(
            int(moment.timestamp() * 1000)))

    def _on_now_button_clicked(self) -> None:
        self.set_moment(datetime.now(UTC))

    def _on_moment_edit_changed(self, moment: QDateTime) -> None:
        self._moment = datetime.fromtimestamp(moment.toMSecsSinceEpoch() / 1000, UTC)
        self._event_seq = None
        self._reload_delay.start()  # once the typing pauses

    def _load(self) -> None:
        self._reload_delay.stop()
        self._generation += 1
        model_name, moment = self.model_combo.currentText(), self._moment
        if not model_name:
            self.view.setHtml("<p style='color:gray'>No model is registered yet.</p>")
            return
        self.view.setHtml(f"<p style='color:gray'>Reading {html.escape(model_name)} as of "
                          f"{html.escape(local_moment(moment))}…</p>")
        database = self._session.workspace.database
        self._session.work.read(
            f"Reading {model_name} as of {local_moment(moment)}",
            lambda control: model_as_of(database, model_name, moment),
            on_success=partial(self._on_picture_read, self._generation),
            on_failure=partial(self._on_picture_failed, self._generation), context=self)

    def _on_picture_read(self, generation: int, picture: ModelAsOf) -> None:
        if generation != self._generation:
            return
        self.picture = picture
        self.view.setHtml(model_as_of_html(picture, self._event_seq))
        self.picture_shown.emit(picture)

    def _on_picture_failed(self, generation: int, error: BaseException) -> None:
        if generation != self._generation:
            return
        if not isinstance(error, ModelLedgerError):
            show_error(self, error)
        self.view.setHtml(f"<p style='color:{BROKEN_COLOUR}'>{html.escape(str(error))}</p>")


def event_html(event: AuditEvent, *, with_links: bool = True, signature: str = "") -> str:
    """Everything an event recorded, for the detail pane: what it changed, field by field.
    ``with_links``: links into the open workspace (none in review mode, which has none);
    ``signature``: who signed it, as signature_badges.signature_html gives it."""
    escape = html.escape
    model = model_of(event)
    links = ""
    if model is not None and with_links:
        target = QUrl()
        target.setScheme(MODEL_LINK_SCHEME)
        target.setPath(model)
        links = (f"<br><a href='{escape(target.toString())}'>Open model {escape(model)}</a>"
                 f" · <a href='{AS_OF_LINK_SCHEME}:{event.seq}'>Show the model as of this "
                 "event</a>")
    rows = [
        ("When", f"{escape(local_time(event.occurred_at))}<br>"
                 f"<span style='color:gray'>{escape(event.occurred_at)} (UTC)</span>"),
        ("Who", f"{escape(event.actor)} <span style='color:gray'>on "
                f"{escape(event.host)}</span>"),
        *([("Signed", signature)] if signature else []),
        ("Action", escape(event.action)),
        ("About", (f"<b>{escape(about_text(event))}</b><br><span style='color:gray'>"
                   f"{escape(event.entity_type)} {escape(event.entity_id)}</span>{links}")
         if event.about else
         f"{escape(event.entity_type)} <b>{escape(event.entity_id)}</b>{links}"),
        ("Reason", escape(event.reason).replace("\n", "<br>") if event.reason
         else "<span style='color:gray'>none given</span>"),
    ]
    parts = [f"<h3 style='margin-bottom:6px'>Event {event.seq}</h3>",
             "<table cellspacing='0' cellpadding='3'>"]
    parts += [f"<tr><td style='color:gray; padding-right:10px' valign='top'>{label}</td>"
              f"<td>{value}</td></tr>" for label, value in rows]
    parts.append("</table>")
    parts.append(changes_html(event))
    for title, digest in (("Previous hash", event.prev_hash), ("Hash", event.hash)):
        parts.append(f"<p style='margin-top:10px; margin-bottom:2px'><b>{title}</b></p>"
                     f"<p style='font-family:monospace; margin:0'>{escape(digest)}</p>")
    return "".join(parts)


def changes_html(event: AuditEvent) -> str:
    """The recorded values: for a change, each field that differs with its old and new value;
    for a creation or an outcome (nothing before), every field it recorded."""
    changes, unchanged = field_changes(event)
    heading = "<p style='margin-top:12px; margin-bottom:4px'><b>{}</b></p>"
    if not changes:
        return heading.format("Values") + "<p style='color:gray; margin:0'>nothing recorded</p>"
    cell = "<td valign='top' style='padding:2px 8px 2px 0'>{}</td>"
    recorded_only = all(change.before is NOT_RECORDED for change in changes)
    if recorded_only:
        parts = [heading.format("Recorded"), "<table cellspacing='0'>"]
        parts += [f"<tr>{cell.format(_field_name(change.field))}"
                  f"{cell.format(value_html(change.after))}</tr>" for change in changes]
    else:
        parts = [heading.format("Changes"), "<table cellspacing='0'><tr>"
                 + "".join(f"<th align='left' style='color:gray; padding-right:8px'>{title}"
                           "</th>" for title in ("Field", "Before", "After")) + "</tr>"]
        parts += [f"<tr>{cell.format(_field_name(change.field))}"
                  f"{cell.format(value_html(change.before, colour=BROKEN_COLOUR))}"
                  f"{cell.format(value_html(change.after, colour=INTACT_COLOUR))}</tr>"
                  for change in changes]
    parts.append("</table>")
    if unchanged:
        parts.append(f"<p style='color:gray; margin-top:4px'>{unchanged} other recorded "
                     f"field{'' if unchanged == 1 else 's'} unchanged</p>")
    return "".join(parts)


def _field_name(field: str) -> str:
    return f"<span style='color:gray'>{html.escape(field)}</span>"


def value_html(value: Any, *, colour: str | None = None) -> str:
    """One recorded value as text: strings as written, everything else as JSON."""
    if value is NOT_RECORDED:
        return f"<span style='color:{MUTED}'>—</span>"
    if value is None:
        return f"<span style='color:{MUTED}'>none</span>"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    shown = html.escape(text).replace("\n", "<br>") or f"<span style='color:{MUTED}'>empty</span>"
    return f"<span style='color:{colour}'>{shown}</span>" if colour else shown


def model_as_of_html(picture: ModelAsOf, event_seq: int | None = None) -> str:
    """The picture of a model at a moment, for the as-of dialog."""
    escape = html.escape
    when = local_moment(picture.moment)
    reference = f" (event {event_seq})" if event_seq is not None else ""
    parts = [f"<h3 style='margin-bottom:4px'>{escape(picture.model_name)} as of "
             f"{escape(when)}{reference}</h3>"]
    if not picture.existed:
        parts.append(f"<p>It did not exist yet: it was registered on "
                     f"{escape(local_moment(picture.registered_at))}.</p>")
        return "".join(parts)
    health = picture.health
    if health is None:
        parts.append("<p>Health then: <span style='color:gray'>no monitor had run yet</span></p>")
    else:
        parts.append(f"<p>Health then: <b style='color:{status_colour(health.value)}'>"
                     f"{escape(health.value)}</b> <span style='color:gray'>(the worst of its "
                     "monitors' latest runs)</span></p>")
    facts = picture.facts
    described = [f"{label} {escape(str(facts[key]))}"
                 for label, key in (("owner", "owner"), ("risk tier", "risk_tier"),
                                    ("status", "status")) if facts.get(key)]
    if described:
        parts.append(f"<p style='color:gray'>{' · '.join(described)}</p>")
    parts.append("<h4 style='margin-bottom:2px'>Versions</h4>")
    if picture.versions:
        parts.append(_table(("Version", "Stage then", "In that stage since", "Registered"), [
            (f"v{v.number}", f"<b>{escape(v.stage.value)}</b>",
             escape(local_moment(v.stage_since)),
             f"{escape(local_moment(v.created_at))} by {escape(v.created_by)}")
            for v in picture.versions]))
    else:
        parts.append("<p style='color:gray'>No version was registered yet.</p>")
    parts.append("<h4 style='margin-bottom:2px'>Monitors</h4>")
    if picture.monitors:
        parts.append(_table(("Monitor", "Status", "Thresholds set", "Latest run then"),
                            [_monitor_row(monitor) for monitor in picture.monitors]))
        parts.append("<p style='color:gray'>Metrics without a threshold of their own were "
                     "judged by the defaults (or, for performance, against the version's "
                     "recorded metrics).</p>")
    else:
        parts.append("<p style='color:gray'>No monitor watched it yet.</p>")
    return "".join(parts)


def _monitor_row(monitor: MonitorAsOf) -> tuple[str, ...]:
    escape = html.escape
    watches = (f"v{monitor.pinned_version}" if monitor.pinned_version is not None
               else "the production version")
    name = (f"<b>{escape(monitor.name)}</b><br><span style='color:gray'>{escape(monitor.schedule)}"
            f", watching {watches}; configured "
            f"{escape(local_moment(monitor.configured_at))} by "
            f"{escape(monitor.configured_by)}</span>")
    thresholds = "<br>".join(
        f"{escape(metric_label(*key.split('@', 1)))}: warn {limit.warn:g}, critical "
        f"{limit.critical:g}{'' if limit.higher_is_worse else ' (lower is worse)'}"
        for key, limit in monitor.thresholds.items()) or "<span style='color:gray'>defaults</span>"
    run = monitor.latest_run
    if run is None:
        latest = "<span style='color:gray'>none yet</span>"
    else:
        version = f", v{run.version_number}" if run.version_number is not None else ""
        latest = (f"<b style='color:{status_colour(run.health.value)}'>"
                  f"{escape(run.health.value)}</b> · "
                  f"{escape(local_moment(run.finished_at))} (run #{run.run_id}{version})<br>"
                  f"{escape(run.summary)}")
    status = (f"<span style='color:{status_colour(monitor.status.value)}'>"
              f"{escape(monitor.status.value)}</span>")
    return name, status, thresholds, latest


def _table(headings: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """An HTML table of already escaped cells."""
    head = "".join(f"<th align='left' style='color:gray; padding-right:12px'>{title}</th>"
                   for title in headings)
    body = "".join(
        "<tr>" + "".join(f"<td valign='top' style='padding:3px 12px 3px 0'>{cell}</td>"
                         for cell in row) + "</tr>" for row in rows)
    return f"<table cellspacing='0'><tr>{head}</tr>{body}</table>"
