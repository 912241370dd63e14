"""The audit timeline: every recorded change, newest first, filtered in SQL, and the chain check.

Events page in by sequence number (keyset paging), so scrolling stays fast however long the
log grows; the filters become WHERE clauses, never a pass over loaded rows.
"""

from __future__ import annotations

import html
import json
import logging
from datetime import datetime
from functools import partial

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QPainter, QPaintEvent, QPalette, QTextOption
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QCompleter,
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
from modelledger.services.audit import AuditService
from modelledger.services.workspace import Workspace
from modelledger.ui.session import WorkspaceSession
from modelledger.ui.table_models import (
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
    ("Settings", "settings."),
    ("People", "user."),
)
MODEL_ENTITY_TYPES = frozenset({"model", "version", "promotion_request"})
MODEL_LINK_SCHEME = "model"
SEARCH_DELAY_MILLISECONDS = 250
INTACT_COLOUR = "#1b7f3b"
BROKEN_COLOUR = "#b00020"


def fetch_timeline_page(audit: AuditService, timeline_filter: EventFilter,
                        request: PageRequest) -> Page:
    """One page of events older than the last loaded one; runs on the read lane.

    Only the first page is counted: the count costs a pass over the matching rows, and later
    pages only need to know whether they came back full.
    """
    before_seq = request.last_row.seq if request.last_row is not None else None
    events = audit.list_events(timeline_filter, limit=request.limit, before_seq=before_seq)
    total = audit.count_events(timeline_filter) if before_seq is None else None
    return Page(events, total)


def read_filter_choices(workspace: Workspace) -> tuple[list[str], list[str]]:
    """Model names and everyone in the log, for the filter lists."""
    models = [summary.model.name for summary in workspace.registry.list_models()]
    return models, workspace.audit.actors()


def model_of(event: AuditEvent) -> str | None:
    """The model an event is about, if any: its entity id starts with the model's name."""
    if event.entity_type not in MODEL_ENTITY_TYPES:
        return None
    return event.entity_id.split("/", 1)[0]


def local_time(occurred_at: str) -> str:
    """The stored UTC timestamp in the user's time zone, to the second."""
    try:
        moment = datetime.fromisoformat(occurred_at)
    except ValueError:
        return occurred_at  # a hand-edited row: show what is there
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def pretty_json(text: str) -> str:
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if value in ({}, [], None):
        return ""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def single_line(text: str) -> str:
    return " ".join(text.split())


def chain_status(report: ChainReport) -> tuple[str, str]:
    """The status line and its colour."""
    if report.first_break is not None:
        return (f"Chain BROKEN at event {report.first_break.seq}: "
                f"{report.first_break.problem}", BROKEN_COLOUR)
    if report.events_checked == 0:
        return "The audit log is empty: nothing to verify yet.", INTACT_COLOUR
    return (f"Chain verified: {report.events_checked} events, every hash recomputed and "
            "matching.", INTACT_COLOUR)


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

    def __init__(self, session: WorkspaceSession, parent: QWidget | None = None, *,
                 page_size: int = DEFAULT_PAGE_SIZE) -> None:
        super().__init__(parent)
        self.setObjectName("auditPage")
        self._session = session
        self._filter = EVERY_EVENT
        self._model_names: set[str] = set()
        self._selected_seq: int | None = None
        self._verifying = False
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
            Column("About", lambda event: event.entity_id,
                   tooltip=lambda event: f"{event.entity_type} {event.entity_id}"),
            Column("Reason", lambda event: single_line(event.reason),
                   tooltip=lambda event: event.reason),
        ]

    def _build(self) -> None:
        self.chain_label = QLabel("The chain has not been checked since the workspace opened.")
        self.chain_label.setObjectName("chainStatus")
        self.chain_label.setWordWrap(True)
        self.chain_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.verify_button = QPushButton("&Verify chain")
        self.verify_button.setToolTip(
            "Recompute the hash of every event and check that each one links to the one "
            "before it, so any edit, removal or insertion made outside ModelLedger shows.")
        self.verify_button.clicked.connect(self.verify_chain)
        chain_row = QHBoxLayout()
        chain_row.addWidget(self.chain_label, 1)
        chain_row.addWidget(self.verify_button)

        self.model_filter = QComboBox()
        self.model_filter.setEditable(True)
        self.model_filter.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.model_filter.lineEdit().setPlaceholderText("All models")
        self.model_filter.lineEdit().setClearButtonEnabled(True)
        self.model_filter.setToolTip("Events about one model, its versions and its promotion "
                                     "requests. Pick a name or type it and press Enter.")
        self.model_filter.setMinimumContentsLength(16)
        self.model_filter.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        completer = QCompleter(self.model_filter.model(), self.model_filter)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.model_filter.setCompleter(completer)
        self.model_filter.activated.connect(self._apply_filters)
        self.model_filter.lineEdit().returnPressed.connect(self._apply_filters)
        self.model_filter.currentTextChanged.connect(self._on_model_filter_text_changed)

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

        self.search_edit = QLineEdit()
        self.search_edit.setObjectName("auditSearch")
        self.search_edit.setPlaceholderText("Search reasons")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.textChanged.connect(self._on_search_edit_text_changed)
        self.search_edit.returnPressed.connect(self._apply_filters)

        self.clear_filters_button = QPushButton("Clear filters")
        self.clear_filters_button.setEnabled(False)
        self.clear_filters_button.clicked.connect(self.clear_filters)
        self.count_label = QLabel("")
        self.count_label.setObjectName("eventCount")

        filter_row = QHBoxLayout()
        filter_row.addWidget(self.model_filter)
        filter_row.addWidget(self.action_filter)
        filter_row.addWidget(self.actor_filter)
        filter_row.addWidget(self.search_edit, 1)
        filter_row.addWidget(self.clear_filters_button)

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
        for column, width in enumerate((48, 140, 64, 140, 170)):
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

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.addLayout(chain_row)
        layout.addLayout(filter_row)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.count_label)
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
        for widget in (self.model_filter, self.action_filter, self.actor_filter,
                       self.search_edit):
            widget.blockSignals(True)
        self.model_filter.setEditText("")
        self.action_filter.setCurrentIndex(0)
        self.actor_filter.setCurrentIndex(0)
        self.search_edit.clear()
        for widget in (self.model_filter, self.action_filter, self.actor_filter,
                       self.search_edit):
            widget.blockSignals(False)
        self._apply_filters()

    def chain_status_text(self) -> str:
        return self.chain_label.text()

    def current_filter(self) -> EventFilter:
        return self._filter

    def selected_event(self) -> AuditEvent | None:
        index = self.table.currentIndex()
        return self.events.row(index) if index.isValid() else None

    def verify_chain(self) -> None:
        if self._verifying:
            return
        self._verifying = True
        self.verify_button.setEnabled(False)
        self._set_chain_text("Verifying the chain…", None)
        audit = self._session.workspace.audit
        self._session.work.read("Verifying the audit chain", lambda control: audit.verify(),
                                on_success=self._on_verify_done,
                                on_failure=self._on_verify_failed)

    # -- filters --------------------------------------------------------------------------------

    def _fetch_for(self, timeline_filter: EventFilter):
        return partial(fetch_timeline_page, self._session.workspace.audit, timeline_filter)

    def _filter_from_widgets(self) -> EventFilter:
        return EventFilter(
            model_name=self.model_filter.currentText().strip() or None,
            action_prefix=self.action_filter.currentData(),
            actor=self.actor_filter.currentData(),
            search=self.search_edit.text().strip() or None,
        )

    def _apply_filters(self) -> None:
        self._search_delay.stop()
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

    def _on_model_filter_text_changed(self, text: str) -> None:
        # A half-typed name would match nothing; filter once the text is a whole model name.
        if not text.strip() or text.strip() in self._model_names:
            self._apply_filters()

    def _load_filter_choices(self) -> None:
        workspace = self._session.workspace
        self._session.work.read("Loading audit filters",
                                lambda control: read_filter_choices(workspace),
                                on_success=self._on_filter_choices_read, quiet=True)

    def _on_filter_choices_read(self, choices: tuple[list[str], list[str]]) -> None:
        models, actors = choices
        listed_models = [self.model_filter.itemText(i) for i in range(self.model_filter.count())]
        if models != listed_models:
            self._model_names = set(models)
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

    def _show_event(self, event: AuditEvent | None) -> None:
        if event is None:
            self.details.setHtml("<p style='color:gray'>Select an event to see everything it "
                                 "recorded: the values before and after, and its place in the "
                                 "hash chain.</p>")
            return
        self.details.setHtml(event_html(event))

    # -- chain ----------------------------------------------------------------------------------

    def _on_verify_done(self, report: ChainReport) -> None:
        self._verifying = False
        self.verify_button.setEnabled(True)
        self._broken_seq = report.first_break.seq if report.first_break else None
        self.table.viewport().update()
        text, colour = chain_status(report)
        checked_at = datetime.now().strftime("%H:%M:%S")
        self._set_chain_text(f"{text} (checked at {checked_at})", colour,
                             bold=report.first_break is not None)
        self.chain_verified.emit(report)

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


def event_html(event: AuditEvent) -> str:
    """Everything an event recorded, for the detail pane."""
    escape = html.escape
    model = model_of(event)
    link = ""
    if model is not None:
        target = QUrl()
        target.setScheme(MODEL_LINK_SCHEME)
        target.setPath(model)
        link = f"<br><a href='{escape(target.toString())}'>Open model {escape(model)}</a>"
    rows = [
        ("When", f"{escape(local_time(event.occurred_at))}<br>"
                 f"<span style='color:gray'>{escape(event.occurred_at)} (UTC)</span>"),
        ("Who", f"{escape(event.actor)} <span style='color:gray'>on "
                f"{escape(event.host)}</span>"),
        ("Action", escape(event.action)),
        ("About", f"{escape(event.entity_type)} <b>{escape(event.entity_id)}</b>{link}"),
        ("Reason", escape(event.reason).replace("\n", "<br>") if event.reason
         else "<span style='color:gray'>none given</span>"),
    ]
    parts = [f"<h3 style='margin-bottom:6px'>Event {event.seq}</h3>",
             "<table cellspacing='0' cellpadding='3'>"]
    parts += [f"<tr><td style='color:gray; padding-right:10px' valign='top'>{label}</td>"
              f"<td>{value}</td></tr>" for label, value in rows]
    parts.append("</table>")
    for title, text in (("Before", event.before), ("After", event.after)):
        pretty = pretty_json(text)
        parts.append(f"<p style='margin-top:10px; margin-bottom:2px'><b>{title}</b></p>")
        parts.append(f"<pre style='margin:0'>{escape(pretty)}</pre>" if pretty
                     else "<p style='color:gray; margin:0'>nothing</p>")
    for title, digest in (("Previous hash", event.prev_hash), ("Hash", event.hash)):
        parts.append(f"<p style='margin-top:10px; margin-bottom:2px'><b>{title}</b></p>"
                     f"<p style='font-family:monospace; margin:0'>{escape(digest)}</p>")
    return "".join(parts)
