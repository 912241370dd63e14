"""One model: its facts (editable, with conflict detection), versions, stage history, approvals,
activity, and the lifecycle actions on the selected version."""

from __future__ import annotations

import html
import json

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from modelledger.core import lifecycle
from modelledger.core.domain import (
    EventFilter,
    ModelStatus,
    ModelVersion,
    PromotionRequest,
    RegisteredModel,
    RequestStatus,
    RiskTier,
    Stage,
)
from modelledger.core.errors import ConcurrentEditError
from modelledger.ui.base.session import WorkspaceSession
from modelledger.ui.widgets.dialogs import ReasonDialog
from modelledger.ui.widgets.table_models import (
    STAGE_COLOURS,
    Column,
    Page,
    PagedTableModel,
    PageRequest,
    foreground_for_stage,
    record_table,
)


def _when(moment) -> str:
    return f"{moment.astimezone():%Y-%m-%d %H:%M}" if moment else ""


APPROVAL_CONDITIONS_HINT = "What the approval depends on, e.g. a quarterly backtest"

VERSION_COLUMNS = (
    Column("Version", lambda v: f"v{v.version_number}", align_right=True),
    Column("Stage", lambda v: v.stage.value, foreground=lambda v: foreground_for_stage(v.stage)),
    Column("Estimator", lambda v: v.estimator_class.rsplit(".", 1)[-1] or "—",
           tooltip=lambda v: v.estimator_class),
    Column("Metrics", lambda v: ", ".join(f"{k} {value:.4g}" for k, value in
                                          sorted(v.metrics.items())[:3]) or "—"),
    Column("Artifact", lambda v: f"{v.artifact.sha256[:12]}… ({v.artifact.format.value})"
           if v.artifact else "none", tooltip=lambda v: v.artifact.sha256 if v.artifact else ""),
    Column("Created by", lambda v: v.created_by),
    Column("Created", lambda v: _when(v.created_at)),
)
HISTORY_COLUMNS = (
    Column("When", lambda c: _when(c.occurred_at)),
    Column("Version", lambda c: f"v{c.version_number}", align_right=True),
    Column("From", lambda c: c.from_stage.value if c.from_stage else "—"),
    Column("To", lambda c: c.to_stage.value, foreground=lambda c: foreground_for_stage(c.to_stage)),
    Column("Kind", lambda c: c.kind),
    Column("By", lambda c: c.actor),
    Column("Reason", lambda c: c.reason, tooltip=lambda c: c.reason),
)
REQUEST_COLUMNS = (
    Column("#", lambda r: str(r.id), align_right=True),
    Column("Version", lambda r: f"v{r.version_number}", align_right=True),
    Column("Status", lambda r: r.status.value,
           foreground=lambda r: {"pending": "#a35f00", "approved": "#1b7f3b",
                                 "rejected": "#b00020"}[r.status.value]),
    Column("Requested by", lambda r: r.requested_by),
    Column("Requested", lambda r: _when(r.requested_at)),
    Column("Reason", lambda r: r.reason, tooltip=lambda r: r.reason),
    Column("Decided by", lambda r: r.decided_by or ""),
    Column("Decision", lambda r: r.decision_reason or "",
           tooltip=lambda r: r.decision_reason or ""),
)
ACTIVITY_COLUMNS = (
    Column("#", lambda e: str(e.seq), align_right=True),
    Column("When (UTC)", lambda e: e.occurred_at[:19].replace("T", " ")),
    Column("Who", lambda e: e.actor),
    Column("Action", lambda e: e.action),
    Column("About", lambda e: e.entity_id),
    Column("Reason", lambda e: e.reason, tooltip=lambda e: e.reason),
)


class ModelDetailView(QWidget):
    back_requested = Signal()
    loaded = Signal()  # the model's facts arrived
    action_done = Signal(str)  # a lifecycle action succeeded; the text says what happened

    def __init__(self, session: WorkspaceSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._registry = session.workspace.registry
        self.model_name: str | None = None
        self.model: RegisteredModel | None = None
        self._compare_dialog = None
        self._four_eyes = True
        self._form_base: RegisteredModel | None = None  # the model whose values the form shows
        self._build_header()
        self._build_overview()
        self._build_tables()
        tabs = QTabWidget()
        self.tabs = tabs
        # The health charts bring numpy and pyqtgraph: built when the tab is first shown.
        self.health_tab = QWidget()
        self.health_tab.setLayout(QVBoxLayout())
        self.health_tab.layout().setContentsMargins(0, 0, 0, 0)
        self.health_view = None
        tabs.addTab(self.health_tab, "Health")
        tabs.addTab(self.overview, "Overview")
        tabs.addTab(self.versions_splitter, "Versions")
        # Built on first use too: its comparison chart brings pyqtgraph.
        self.training_tab = QWidget()
        self.training_tab.setLayout(QVBoxLayout())
        self.training_tab.layout().setContentsMargins(0, 0, 0, 0)
        self.training_view = None
        tabs.addTab(self.training_tab, "Training")
        tabs.addTab(self.history_table, "Stage history")
        tabs.addTab(self.requests_table, "Approvals")
        tabs.addTab(self.activity_table, "Activity")
        # Built on first use too, like the Health tab.
        self.card_tab = QWidget()
        self.card_tab.setLayout(QVBoxLayout())
        self.card_tab.layout().setContentsMargins(0, 0, 0, 0)
        self.card_view = None
        tabs.addTab(self.card_tab, "Model card")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.addLayout(self.header)
        layout.addWidget(self.result_banner)
        layout.addLayout(self.actions_row)
        layout.addWidget(tabs, 1)
        tabs.currentChanged.connect(self._on_tabs_current_changed)
        session.changed.connect(self.reload)
        session.standing_changed.connect(self._update_actions)
        back = QShortcut(QKeySequence("Alt+Left"), self)
        back.activated.connect(self.back_requested)
        # What the Health tab needs, imported now on a worker (see _import_health_charts).
        session.work.read("Preparing the health charts", _import_health_charts, quiet=True)

    # -- building -------------------------------------------------------------------------------

    def _build_header(self) -> None:
        self.back_button = QPushButton("← All models")
        self.back_button.setToolTip("Back to the inventory (Alt+Left)")
        self.back_button.clicked.connect(self.back_requested)
        self.title_label = QLabel()
        self.title_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.facts_label = QLabel()
        self.header = QHBoxLayout()
        self.header.addWidget(self.back_button)
        self.header.addSpacing(12)
        self.header.addWidget(self.title_label)
        self.header.addSpacing(12)
        self.header.addWidget(self.facts_label, 1)

        self.result_banner = QLabel()
        self.result_banner.setObjectName("resultBanner")
        self.result_banner.setWordWrap(True)
        self.result_banner.hide()

        self.import_button = QPushButton("Import version…")
        self.import_button.clicked.connect(lambda: self.window().start_import_version())
        self.move_button = QToolButton()
        self.move_button.setText("Move to stage")
        self.move_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.move_menu = QMenu(self.move_button)
        self.move_actions = {}
        for stage in (Stage.DEVELOPMENT, Stage.STAGING, Stage.ARCHIVED):
            action = self.move_menu.addAction(stage.value.capitalize() + "…")
            action.triggered.connect(lambda checked=False, s=stage: self.move_selected_version(s))
            self.move_actions[stage] = action
        self.move_button.setMenu(self.move_menu)
        self.request_button = QPushButton("Request promotion…")
        self.request_button.clicked.connect(self.request_promotion)
        self.approve_button = QPushButton("Approve…")
        self.approve_button.clicked.connect(lambda: self.decide_request(approve=True))
        self.reject_button = QPushButton("Reject…")
        self.reject_button.clicked.connect(lambda: self.decide_request(approve=False))
        self.rollback_button = QPushButton("Roll back to this version…")
        self.rollback_button.clicked.connect(self.rollback_to_selected)
        self.compare_button = QPushButton("Compare versions…")
        self.compare_button.clicked.connect(self.compare_selected_versions)
        self.actions_row = QHBoxLayout()
        for button in (self.import_button, self.move_button, self.request_button,
                       self.approve_button, self.reject_button, self.rollback_button,
                       self.compare_button):
            self.actions_row.addWidget(button)
        self.actions_row.addStretch(1)

    def _build_overview(self) -> None:
        self.overview = QWidget()
        self.description_edit = QPlainTextEdit()
        self.purpose_edit = QPlainTextEdit()
        self.intended_use_edit = QPlainTextEdit()
        for edit in (self.description_edit, self.purpose_edit, self.intended_use_edit):
            edit.setTabChangesFocus(True)
            edit.setFixedHeight(64)
        self.owner_edit = QLineEdit()
        self.tags_edit = QLineEdit()
        self.tags_edit.setPlaceholderText("comma-separated, e.g. credit, retail")
        self.risk_combo = QComboBox()
        for tier in RiskTier:
            self.risk_combo.addItem(tier.value.capitalize(), tier)
        self.status_combo = QComboBox()
        for status in ModelStatus:
            self.status_combo.addItem(status.value.capitalize(), status)
        self.created_label = QLabel()
        self.conflict_banner = QLabel()
        self.conflict_banner.setObjectName("conflictBanner")
        self.conflict_banner.setWordWrap(True)
        self.conflict_banner.setStyleSheet(
            "background: #fff4e5; color: #663c00; border: 1px solid #ffb74d; padding: 6px;")
        self.conflict_banner.hide()
        self.save_button = QPushButton("Save changes")
        self.save_button.setShortcut(QKeySequence.StandardKey.Save)
        self.save_button.setToolTip("Save (Ctrl+S)")
        self.save_button.clicked.connect(self.save_overview)
        self.revert_button = QPushButton("Discard changes")
        self.revert_button.clicked.connect(self._fill_overview)
        form = QFormLayout()
        form.addRow("Description", self.description_edit)
        form.addRow("Owner", self.owner_edit)
        form.addRow("Purpose", self.purpose_edit)
        form.addRow("Intended use", self.intended_use_edit)
        form.addRow("Risk tier", self.risk_combo)
        form.addRow("Tags", self.tags_edit)
        form.addRow("Status", self.status_combo)
        form.addRow("Registered", self.created_label)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.save_button)
        layout = QVBoxLayout(self.overview)
        layout.addWidget(self.conflict_banner)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addStretch(1)
        for edit in (self.description_edit, self.purpose_edit, self.intended_use_edit):
            edit.textChanged.connect(self._update_dirty_state)
        for line in (self.owner_edit, self.tags_edit):
            line.textChanged.connect(self._update_dirty_state)
        for combo in (self.risk_combo, self.status_combo):
            combo.currentIndexChanged.connect(self._update_dirty_state)

    def _build_tables(self) -> None:
        self.versions_model = PagedTableModel(
            self._session, VERSION_COLUMNS, self._empty_fetch, key=lambda v: v.version_number,
            page_size=100, parent=self)
        self.history_model = PagedTableModel(
            self._session, HISTORY_COLUMNS, self._empty_fetch,
            key=lambda c: (c.occurred_at, c.version_number, c.to_stage), parent=self)
        self.requests_model = PagedTableModel(
            self._session, REQUEST_COLUMNS, self._empty_fetch, key=lambda r: r.id, parent=self)
        self.activity_model = PagedTableModel(
            self._session, ACTIVITY_COLUMNS, self._empty_fetch, key=lambda e: e.seq, parent=self)
        self.versions_table = record_table(self.versions_model)
        self.versions_table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.versions_table.selectionModel().selectionChanged.connect(
            self._on_versions_selection_changed)
        self.version_details = QTextBrowser()
        self.version_details.setOpenLinks(False)
        self.versions_splitter = QSplitter(Qt.Orientation.Vertical)
        self.versions_splitter.addWidget(self.versions_table)
        self.versions_splitter.addWidget(self.version_details)
        self.versions_splitter.setSizes([220, 320])
        self.history_table = record_table(self.history_model)
        self.requests_table = record_table(self.requests_model)
        self.requests_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.requests_table.selectionModel().selectionChanged.connect(self._update_actions)
        self.activity_table = record_table(self.activity_model)
        for model in (self.versions_model, self.history_model, self.requests_model):
            model.loaded.connect(self._update_actions)
            model.load_failed.connect(self._session.work.unhandled_failure)
        self.versions_model.loaded.connect(self._on_versions_loaded)
        self._selected_version_numbers: list[int] = []

    @staticmethod
    def _empty_fetch(request: PageRequest) -> Page:
        return Page([], 0)

    # -- loading --------------------------------------------------------------------------------

    def show_model(self, name: str) -> None:
        if name != self.model_name:
            self.model_name = name
            self.model = None
            self._form_base = None
            self.result_banner.hide()
            self.conflict_banner.hide()
            self.title_label.setText(f"<h2 style='margin:0'>{html.escape(name)}</h2>")
            self.facts_label.setText("Loading…")
            self._selected_version_numbers = []
            registry = self._registry
            self.versions_model.set_fetch_page(lambda r: Page(
                registry.list_versions(name, limit=r.limit, offset=r.offset), None))
            self.history_model.set_fetch_page(
                lambda r: Page(list(reversed(registry.stage_history(name))), None))
            self.requests_model.set_fetch_page(
                lambda r: Page(registry.list_promotion_requests(model_name=name), None))
            audit = self._session.workspace.audit
            self.activity_model.set_fetch_page(lambda r: Page(audit.list_events(
                EventFilter(model_name=name), limit=r.limit,
                before_seq=r.last_row.seq if r.last_row else None), None))
            self._load_facts()
        else:
            self.reload()
        if self.health_view is not None or self.tabs.currentWidget() is self.health_tab:
            self.show_health()
        if self.card_view is not None or self.tabs.currentWidget() is self.card_tab:
            self.show_card()
        if self.training_view is not None or self.tabs.currentWidget() is self.training_tab:
            self.show_training()

    def show_training(self):
        """The Training tab, built on first use, showing this model."""
        if self.training_view is None:
            from modelledger.ui.training.training_tab import TrainingTab

            self.training_view = TrainingTab(self._session)
            self.training_view.open_request.connect(self.show_request)
            self.training_tab.layout().addWidget(self.training_view)
        if self.model_name is not None:
            self.training_view.show_model(self.model_name)
        return self.training_view

    def show_request(self, request_id: int) -> None:
        """The Approvals tab with this promotion request selected."""
        self.tabs.setCurrentWidget(self.requests_table)
        for row, request in enumerate(self.requests_model.rows()):
            if request.id == request_id:
                self.requests_table.selectRow(row)

    def show_health(self):
        """The Health tab, built on first use, showing this model."""
        if self.health_view is None:
            from modelledger.ui.health.model_view import ModelHealthView

            self.health_view = ModelHealthView(self._session)
            self.health_tab.layout().addWidget(self.health_view)
        if self.model_name is not None:
            self.health_view.show_model(self.model_name)
        return self.health_view

    def show_card(self):
        """The Model card tab, built on first use, showing this model."""
        if self.card_view is None:
            from modelledger.ui.governance.model_card_view import ModelCardView

            self.card_view = ModelCardView(self._session)
            self.card_tab.layout().addWidget(self.card_view)
        if self.model_name is not None:
            self.card_view.show_model(self.model_name)
        return self.card_view

    def _on_tabs_current_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.health_tab and self.health_view is None:
            self.show_health()
        if self.tabs.widget(index) is self.card_tab and self.card_view is None:
            self.show_card()
        if self.tabs.widget(index) is self.training_tab and self.training_view is None:
            self.show_training()

    def reload(self) -> None:
        if self.model_name is None:
            return
        self._load_facts()
        for model in (self.versions_model, self.history_model, self.requests_model,
                      self.activity_model):
            model.reload()

    def _load_facts(self) -> None:
        name = self.model_name
        registry = self._registry
        self._session.work.read(
            f"Loading {name}", lambda control: (registry.get_model(name),
                                                registry.four_eyes_required()),
            on_success=lambda result: self._on_facts_loaded(name, *result), context=self)

    def _on_facts_loaded(self, name: str, model: RegisteredModel, four_eyes: bool) -> None:
        if name != self.model_name:
            return
        self.model = model
        self._four_eyes = four_eyes
        self.facts_label.setText(
            f"owner <b>{html.escape(model.owner)}</b> · risk <b>{model.risk_tier.value}</b> · "
            f"{model.status.value} · last change {_when(model.updated_at)}")
        if self._form_base is None or not self.overview_is_dirty():
            self._fill_overview()
        elif (self._form_base.row_version != model.row_version
              and not self.conflict_banner.isVisible()):
            self.conflict_banner.setText(
                f"{model.name} was changed elsewhere while you were editing (now revision "
                f"{model.row_version}). Saving will be refused; press “Discard changes” to see "
                "the new values, then edit again.")
            self.conflict_banner.show()
        self.loaded.emit()

    # -- overview -------------------------------------------------------------------------------

    def _overview_values(self) -> dict:
        return {
            "description": self.description_edit.toPlainText(),
            "owner": self.owner_edit.text().strip(),
            "purpose": self.purpose_edit.toPlainText(),
            "intended_use": self.intended_use_edit.toPlainText(),
            "risk_tier": self.risk_combo.currentData(),
            "tags": tuple(sorted({t.strip() for t in self.tags_edit.text().split(",")
                                  if t.strip()})),
            "status": self.status_combo.currentData(),
        }

    def _stored_values(self) -> dict:
        model = self._form_base
        return {
            "description": model.description, "owner": model.owner, "purpose": model.purpose,
            "intended_use": model.intended_use, "risk_tier": model.risk_tier,
            "tags": tuple(sorted(model.tags)), "status": model.status,
        }

    def overview_is_dirty(self) -> bool:
        return self._form_base is not None and self._overview_values() != self._stored_values()

    def _fill_overview(self) -> None:
        model = self.model
        if model is None:
            return
        self._form_base = model
        self.description_edit.setPlainText(model.description)
        self.owner_edit.setText(model.owner)
        self.purpose_edit.setPlainText(model.purpose)
        self.intended_use_edit.setPlainText(model.intended_use)
        self.risk_combo.setCurrentIndex(self.risk_combo.findData(model.risk_tier))
        self.tags_edit.setText(", ".join(model.tags))
        self.status_combo.setCurrentIndex(self.status_combo.findData(model.status))
        self.created_label.setText(f"{_when(model.created_at)} by {model.created_by}")
        self.conflict_banner.hide()
        self._update_dirty_state()

    def _update_dirty_state(self) -> None:
        dirty = self.overview_is_dirty()
        self.save_button.setEnabled(dirty)
        self.revert_button.setEnabled(dirty)

    def save_overview(self) -> None:
        if not self.overview_is_dirty():
            return
        stored = self._stored_values()
        changes = {key: value for key, value in self._overview_values().items()
                   if value != stored[key]}
        name, expected = self.model_name, self._form_base.row_version
        registry = self._registry
        self.save_button.setEnabled(False)
        self._session.work.write(
            f"Saving {name}", lambda control: registry.update_model(name, expected, changes),
            on_success=self._on_saved, on_failure=self._on_save_failed)

    def _on_saved(self, model: RegisteredModel) -> None:
        self.model = model
        self._fill_overview()
        self._show_result(f"Saved the changes to {model.name}.")

    def _on_save_failed(self, error: BaseException) -> None:
        self._update_dirty_state()
        if isinstance(error, ConcurrentEditError):
            self.conflict_banner.setText(
                f"Not saved: {error} Your edits are still here; copy what you need, press "
                "“Discard changes” to load the current values, and edit again.")
            self.conflict_banner.show()
            return
        self._session.work.unhandled_failure.emit(error)

    # -- versions -------------------------------------------------------------------------------

    def selected_versions(self) -> list[ModelVersion]:
        rows = sorted(index.row() for index in self.versions_table.selectionModel().selectedRows())
        return [self.versions_model.row(row) for row in rows]

    def select_version(self, number: int) -> None:
        row = self.versions_model.row_of_key(number)
        if row is not None:
            self.versions_table.selectRow(row)

    def _on_versions_loaded(self) -> None:
        restore = self._selected_version_numbers or (
            [self.versions_model.row(0).version_number] if self.versions_model.rowCount() else [])
        self.versions_table.clearSelection()
        mode = self.versions_table.selectionMode()
        self.versions_table.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        for number in restore:
            self.select_version(number)
        self.versions_table.setSelectionMode(mode)
        self.versions_table.resizeColumnsToContents()

    def _on_versions_selection_changed(self) -> None:
        selected = self.selected_versions()
        if selected:
            self._selected_version_numbers = [v.version_number for v in selected]
        self.version_details.setHtml(version_details_html(selected[0]) if selected else
                                     "<p>Select a version to see its details.</p>")
        self._update_actions()

    def _pending_request_for(self, version: ModelVersion) -> PromotionRequest | None:
        for request in self.requests_model.rows():
            if (request.version_number == version.version_number
                    and request.status is RequestStatus.PENDING):
                return request
        return None

    def _was_in_production(self, version: ModelVersion) -> bool:
        return any(change.version_number == version.version_number
                   and change.to_stage is Stage.PRODUCTION
                   for change in self.history_model.rows())

    def _update_actions(self, *_standing: object) -> None:
        selected = self.selected_versions()
        version = selected[0] if len(selected) == 1 else None
        owner = self.model.owner if self.model is not None else None
        refusal = self._session.refusal
        allowed = lifecycle.allowed_direct_moves(version.stage) if version else frozenset()
        moving = refusal("stage.transition")
        for stage, action in self.move_actions.items():
            action.setEnabled(stage in allowed and moving is None)
        self._gate(self.move_button, bool(allowed), moving, "")
        pending = self._pending_request_for(version) if version else None
        self._gate(self.request_button,
                   version is not None and version.stage is Stage.STAGING and pending is None,
                   refusal("promotion.requested"), "")
        tip = ""
        if pending is not None:
            tip = f"Request #{pending.id} by {pending.requested_by}: {pending.reason}"
            if self._four_eyes_applies(pending):
                tip += "\nYou asked for this promotion: someone else must decide it."
        self._gate(self.approve_button, pending is not None, refusal("promotion.approved"), tip)
        self._gate(self.reject_button, pending is not None, refusal("promotion.rejected"), tip)
        self._gate(self.rollback_button,
                   version is not None and version.stage is not Stage.PRODUCTION
                   and self._was_in_production(version),
                   refusal("stage.rollback", owner), "")
        self.compare_button.setEnabled(self.versions_model.rowCount() >= 2)
        self._gate(self.import_button, True, refusal("version.created"),
                   "Add a version of this model from a model file (Ctrl+I)")

    @staticmethod
    def _gate(button: QPushButton, applies: bool, refusal: str | None, tooltip: str) -> None:
        """Enabled when the action applies and the user's role allows it; the tooltip then
        says what it would do, or else which role it needs."""
        button.setEnabled(applies and refusal is None)
        button.setToolTip(refusal if applies and refusal else tooltip)

    def _four_eyes_applies(self, request: PromotionRequest) -> bool:
        return self._four_eyes and request.requested_by == self._session.user

    # -- lifecycle actions ----------------------------------------------------------------------

    def _single_selected_version(self) -> ModelVersion | None:
        selected = self.selected_versions()
        return selected[0] if len(selected) == 1 else None

    def _ask_reason(self, title: str, question: str, action_text: str, on_reason, *,
                    conditions_hint: str | None = None) -> ReasonDialog:
        dialog = ReasonDialog(title, question, self, action_text=action_text,
                              conditions_hint=conditions_hint)
        dialog.accepted.connect(lambda: on_reason(dialog.reason()))
        dialog.open()
        return dialog

    def _run_action(self, label: str, job, describe) -> None:
        self._session.work.write(label, lambda control: job(),
                                 on_success=lambda result: self._show_result(describe(result)),
                                 context=self)

    def move_selected_version(self, target: Stage) -> ReasonDialog | None:
        version = self._single_selected_version()
        if version is None:
            return None
        name, number = version.model_name, version.version_number
        registry = self._registry

        def move(reason: str) -> None:
            self._run_action(f"Moving v{number} to {target.value}",
                             lambda: registry.move_to_stage(name, number, target, reason),
                             lambda v: f"v{v.version_number} of {name} is now in {v.stage.value}.")

        return self._ask_reason(f"Move v{number} to {target.value}",
                                f"Why move {name} v{number} from {version.stage.value} to "
                                f"{target.value}?", f"Move to {target.value}", move)

    def request_promotion(self) -> ReasonDialog | None:
        version = self._single_selected_version()
        if version is None:
            return None
        name, number = version.model_name, version.version_number
        registry = self._registry

        def send(reason: str) -> None:
            self._run_action(
                f"Requesting promotion of v{number}",
                lambda: registry.request_promotion(name, number, reason),
                lambda r: f"Promotion of v{r.version_number} requested (request #{r.id}). "
                          "Another team member must approve it.")

        return self._ask_reason(
            f"Request promotion of v{number}",
            f"Ask for {name} v{number} to go to production. Why is it ready? (validation "
            "results, sign-offs, tickets)", "Request promotion", send)

    def decide_request(self, *, approve: bool) -> ReasonDialog | None:
        version = self._single_selected_version()
        request = self._pending_request_for(version) if version else None
        if request is None:
            return None
        registry = self._registry
        verb = "Approve" if approve else "Reject"

        def decide(reason: str) -> None:
            if approve:
                conditions = dialog.conditions()
                self._run_action(
                    f"Approving request #{request.id}",
                    lambda: registry.approve_promotion(request.id, reason, conditions),
                    lambda v: f"Approved: v{v.version_number} of {v.model_name} is now in "
                              "production; the previous production version was archived.")
            else:
                self._run_action(
                    f"Rejecting request #{request.id}",
                    lambda: registry.reject_promotion(request.id, reason),
                    lambda r: f"Rejected request #{r.id} for v{r.version_number}.")

        dialog = self._ask_reason(
            f"{verb} promotion of v{request.version_number}",
            f"{request.requested_by} asked to promote {request.model_name} "
            f"v{request.version_number} to production:\n“{request.reason}”\n\n"
            f"Why do you {verb.lower()} it?", verb, decide,
            conditions_hint=APPROVAL_CONDITIONS_HINT if approve else None)
        training = self._session.workspace.training
        self._session.work.read(
            f"Reading the evidence of request #{request.id}",
            lambda control: training.run_of_request(request.id),
            on_success=lambda run: dialog.show_evidence(run.evidence_lines()) if run else None,
            context=dialog)
        return dialog

    def rollback_to_selected(self) -> ReasonDialog | None:
        version = self._single_selected_version()
        if version is None:
            return None
        name, number = version.model_name, version.version_number
        registry = self._registry

        def roll_back(reason: str) -> None:
            self._run_action(f"Rolling back to v{number}",
                             lambda: registry.rollback(name, number, reason),
                             lambda v: f"Rolled back: v{v.version_number} of {name} is in "
                                       "production again.")

        return self._ask_reason(
            f"Roll back {name} to v{number}",
            f"Put v{number} back into production at once; the current production version is "
            "archived. What went wrong?", "Roll back", roll_back)

    def compare_selected_versions(self) -> None:
        from modelledger.ui.registry.compare_dialog import CompareVersionsDialog

        numbers = [v.version_number for v in self.selected_versions()]
        if len(numbers) < 2:
            numbers = [v.version_number for v in self.versions_model.rows()[:2]]
        self._compare_dialog = CompareVersionsDialog(self._session, self.model_name,
                                                     sorted(numbers), self)
        self._compare_dialog.show()

    def _show_result(self, text: str) -> None:
        self.result_banner.setText(text)
        self.result_banner.setStyleSheet(
            "background: #e8f5e9; color: #1b5e20; border: 1px solid #81c784; padding: 6px;")
        self.result_banner.show()
        self.action_done.emit(text)


def _json_block(value) -> str:
    return (f"<pre style='margin:2px 0'>{html.escape(json.dumps(value, indent=2, sort_keys=True))}"
            "</pre>")


def _rows(pairs) -> str:
    body = "".join(f"<tr><td style='padding:1px 14px 1px 0; color:#555'>{html.escape(str(k))}"
                   f"</td><td>{html.escape(str(v))}</td></tr>" for k, v in pairs)
    return f"<table cellspacing='0'>{body}</table>"


def version_details_html(version: ModelVersion) -> str:
    """Everything known about one version, as the details pane shows it."""
    colour = STAGE_COLOURS.get(version.stage.value, "#000")
    parts = [
        f"<h3 style='margin:0'>{html.escape(version.model_name)} v{version.version_number} "
        f"<span style='color:{colour}'>· {version.stage.value}</span></h3>",
        _rows([("Estimator", version.estimator_class or "—"),
               ("Framework", version.framework or "—"),
               ("Created", f"{_when(version.created_at)} by {version.created_by}"),
               ("Parent (lineage)", f"v{version.parent_version}" if version.parent_version
                else "none"),
               ("Notes", version.notes or "—")]),
        "<h4>Artifact</h4>",
        _rows([("SHA-256", version.artifact.sha256), ("Format", version.artifact.format.value),
               ("Size", f"{version.artifact.size_bytes:,} bytes"),
               ("Original file", version.artifact.original_filename)])
        if version.artifact else "<p>No artifact: this model is scored outside ModelLedger.</p>",
        "<h4>Metrics</h4>",
        _rows(sorted(version.metrics.items())) if version.metrics else "<p>None recorded.</p>",
        "<h4>Parameters</h4>",
        _rows(sorted((k, json.dumps(v)) for k, v in version.parameters.items()))
        if version.parameters else "<p>None recorded.</p>",
        "<h4>Feature schema</h4>",
        _rows((c["name"], c.get("dtype") or "") for c in version.feature_schema)
        if version.feature_schema else "<p>Not recorded.</p>",
        "<h4>Training data</h4>",
        _json_block(version.training_data) if version.training_data else "<p>Not recorded.</p>",
        "<h4>Environment</h4>",
        _rows(sorted(version.environment.items())) if version.environment else "<p>—</p>",
    ]
    return "".join(parts)


def _import_health_charts(_control) -> None:
    """On a worker: the chart modules (pyqtgraph, numpy), and pandas and SciPy, which the
    first distribution's read needs (core.drift). They define classes and import; they make
    no Qt objects that would belong to this thread. Their C parts hold Python's lock while
    they initialise, whatever the thread: those pauses come while the workspace opens, not in
    the first Health tab (once 157 ms there, with pandas and SciPy left for it)."""
    import modelledger.core.drift
    import modelledger.ui.health.model_view  # noqa: F401
