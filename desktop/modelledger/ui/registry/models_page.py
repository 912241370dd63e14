"""Models: the inventory table (searched, filtered, sorted and paged in SQL) and model details."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from modelledger.core.domain import InventoryFilter, ModelStatus, ModelSummary, RiskTier, Stage
from modelledger.ui.base.session import WorkspaceSession
from modelledger.ui.registry.model_detail import ModelDetailView
from modelledger.ui.widgets.table_models import (
    Column,
    Page,
    PagedTableModel,
    PageRequest,
    foreground_for_health,
    foreground_for_stage,
    record_table,
    selected_record,
)

SEARCH_DELAY_MILLISECONDS = 250


def _stage_text(summary: ModelSummary) -> str:
    if summary.current_stage is None:
        return "no versions"
    if summary.current_stage is Stage.PRODUCTION:
        return f"production (v{summary.production_version})"
    return f"{summary.current_stage.value} (v{summary.latest_version})"


INVENTORY_COLUMNS = (
    Column("Model", lambda s: s.model.name, "name",
           tooltip=lambda s: s.model.description or s.model.name),
    Column("Owner", lambda s: s.model.owner, "owner"),
    Column("Stage", _stage_text, "current_stage",
           foreground=lambda s: foreground_for_stage(s.current_stage)),
    # The worst health of the model's monitors' latest runs; no monitor says so plainly.
    Column("Health", lambda s: _health_text(s), None,
           foreground=lambda s: foreground_for_health(s.health)),
    Column("Risk tier", lambda s: s.model.risk_tier.value, "risk_tier"),
    Column("Versions", lambda s: str(s.version_count), None, align_right=True),
    Column("Status", lambda s: s.model.status.value, None),
    Column("Last change", lambda s: f"{s.model.updated_at.astimezone():%Y-%m-%d %H:%M}",
           "updated_at"),
)


def _combo(all_text: str, values) -> QComboBox:
    combo = QComboBox()
    combo.addItem(all_text, None)
    for value in values:
        combo.addItem(value.value.capitalize(), value)
    return combo


class ModelsPage(QWidget):
    """The inventory; activating a model shows its details in place of the table."""

    inventory_loaded = Signal()

    def __init__(self, session: WorkspaceSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Search name, owner, description, tags   (Ctrl+F)")
        self.search_edit.setClearButtonEnabled(True)
        self.risk_filter = _combo("All risk tiers", RiskTier)
        self.stage_filter = _combo("All stages", Stage)
        self.status_filter = _combo("Active and retired", ModelStatus)
        self.status_filter.setCurrentIndex(1)  # active models by default
        self.register_button = QPushButton("Register model…")
        self.import_button = QPushButton("Import version…")
        self.register_button.clicked.connect(lambda: self.window().start_register_model())
        self.import_button.clicked.connect(lambda: self.window().start_import_version())
        session.standing_changed.connect(self._gate_buttons)
        self._gate_buttons()
        filters = QHBoxLayout()
        filters.addWidget(self.search_edit, 1)
        for widget in (self.risk_filter, self.stage_filter, self.status_filter):
            filters.addWidget(widget)
            widget.currentIndexChanged.connect(self._apply_filter)
        filters.addSpacing(12)
        filters.addWidget(self.register_button)
        filters.addWidget(self.import_button)

        self.inventory_model = PagedTableModel(session, INVENTORY_COLUMNS, self._fetch_page(),
                                               key=lambda s: s.model.name, sort_key="name",
                                               parent=self)
        self.table = record_table(self.inventory_model)
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSortIndicator(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        for column, width in enumerate((240, 110, 170, 110, 90, 80, 80)):
            self.table.setColumnWidth(column, width)
        self.table.activated.connect(self._on_table_activated)
        self.table.doubleClicked.connect(self._on_table_activated)
        self.count_label = QLabel("Loading…")
        self.count_label.setObjectName("inventoryCount")
        self.empty_label = QLabel()
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.empty_label.hide()

        list_view = QWidget()
        list_layout = QVBoxLayout(list_view)
        list_layout.setContentsMargins(12, 12, 12, 8)
        title = QLabel("<h2 style='margin:0'>Models</h2>")
        list_layout.addWidget(title)
        list_layout.addLayout(filters)
        list_layout.addWidget(self.table, 1)
        list_layout.addWidget(self.empty_label, 1)
        list_layout.addWidget(self.count_label)

        self.detail = ModelDetailView(session, self)
        self.detail.back_requested.connect(self.show_inventory)
        self.views = QStackedWidget()
        self.views.addWidget(list_view)
        self.views.addWidget(self.detail)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.views)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MILLISECONDS)
        self._search_timer.timeout.connect(self._apply_filter)
        self.search_edit.textChanged.connect(self._search_timer.start)
        self._selection_to_restore: str | None = None
        self.inventory_model.modelAboutToBeReset.connect(self._remember_selection)
        self.inventory_model.loaded.connect(self._on_inventory_loaded)
        self.inventory_model.rowsInserted.connect(self._update_count)
        self.inventory_model.load_failed.connect(session.work.unhandled_failure)
        session.changed.connect(self.inventory_model.reload)
        self.inventory_model.reload(keep_loaded=False)

    # -- public ---------------------------------------------------------------------------------

    def current_filter(self) -> InventoryFilter:
        return InventoryFilter(
            search=self.search_edit.text().strip() or None,
            risk_tier=self.risk_filter.currentData(),
            current_stage=self.stage_filter.currentData(),
            status=self.status_filter.currentData(),
        )

    def open_model(self, name: str) -> None:
        self.detail.show_model(name)
        self.views.setCurrentWidget(self.detail)

    def show_inventory(self) -> None:
        self.views.setCurrentIndex(0)
        self.table.setFocus()

    def selected_model_name(self) -> str | None:
        if self.views.currentWidget() is self.detail:
            return self.detail.model_name
        summary = selected_record(self.table)
        return summary.model.name if summary else None

    def focus_search(self) -> None:
        if self.views.currentWidget() is self.detail:
            self.show_inventory()
        self.search_edit.setFocus()
        self.search_edit.selectAll()

    # -- internals ------------------------------------------------------------------------------

    def _fetch_page(self):
        registry = self._session.workspace.registry
        inventory_filter = self.current_filter()

        def fetch(request: PageRequest) -> Page:
            rows = registry.list_models(inventory_filter, sort_by=request.sort_key or "name",
                                        descending=request.descending, limit=request.limit,
                                        offset=request.offset)
            return Page(rows, registry.count_models(inventory_filter))

        return fetch

    def _gate_buttons(self, *_standing: object) -> None:
        """Registering and importing need the developer role (or owner, admin): the tooltip
        says so to everyone else."""
        for button, action, tooltip in (
                (self.register_button, "model.registered", "Register a new model (Ctrl+Shift+N)"),
                (self.import_button, "version.created", "Add a version from a model file "
                                                        "(Ctrl+I)")):
            refusal = self._session.refusal(action)
            button.setEnabled(refusal is None)
            button.setToolTip(refusal or tooltip)

    def _apply_filter(self) -> None:
        self._search_timer.stop()
        self.inventory_model.set_fetch_page(self._fetch_page())

    def _remember_selection(self) -> None:
        summary = selected_record(self.table)
        self._selection_to_restore = summary.model.name if summary else None

    def _on_inventory_loaded(self) -> None:
        selected, self._selection_to_restore = self._selection_to_restore, None
        self._update_count()
        empty = self.inventory_model.rowCount() == 0
        self.table.setVisible(not empty)
        self.empty_label.setVisible(empty)
        if empty:
            any_filter = self.current_filter() != InventoryFilter(status=ModelStatus.ACTIVE)
            self.empty_label.setText(
                "No model matches these filters." if any_filter else
                "<p style='font-size:12pt'>No models yet.</p>"
                "<p>Register your first model with <b>Register model…</b> (Ctrl+Shift+N),<br>"
                "then import its trained file as a version.</p>")
        elif selected is not None:
            row = self.inventory_model.row_of_key(selected)
            if row is not None:
                self.table.selectRow(row)
        self.inventory_loaded.emit()

    def _update_count(self) -> None:
        total = self.inventory_model.total() or 0
        shown = self.inventory_model.rowCount()
        more = "  — scroll for more" if shown < total else ""
        self.count_label.setText(f"Showing {shown:,} of {total:,} models{more}")

    def _on_table_activated(self, index: QModelIndex) -> None:
        if index.isValid():
            self.open_model(self.inventory_model.row(index).model.name)


def _health_text(summary: ModelSummary) -> str:
    if summary.monitor_count == 0:
        return "not monitored"
    return summary.health or "not run yet"
