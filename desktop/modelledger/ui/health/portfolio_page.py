"""Portfolio: every active model at a glance — its health, trend, open alerts, stage and owner —
with counts by health and risk tier, and the decisions and activity waiting below."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from modelledger.core.domain import (
    InventoryFilter,
    ModelStatus,
    ModelSummary,
    RequestStatus,
    RiskTier,
    Stage,
)
from modelledger.services.health.chart_data import PortfolioRow, Trend
from modelledger.ui.base.session import WorkspaceSession
from modelledger.ui.health.sparkline import (
    SPARKLINE_ROLE,
    SparklineDelegate,
    is_missing,
    latest_index,
)
from modelledger.ui.widgets.dialogs import HINT_STYLE, hint_label
from modelledger.ui.widgets.table_models import (
    HEALTH_COLOURS,
    MUTED,
    ROOT,
    STAGE_COLOURS,
    Column,
    Index,
    Page,
    PagedTableModel,
    column_data,
    foreground_for_health,
    foreground_for_stage,
    record_table,
)

RECENT_EVENTS = 25
NOT_RUN_YET = "not run yet"
NOT_MONITORED = "not monitored"
# Worst first: the order of the health breakdown and of the table's default sort.
HEALTH_ORDER = ("critical", "failed", "warn", "insufficient data", "ok", NOT_RUN_YET,
                NOT_MONITORED)
# Shown in the breakdown even at zero, so a healthy portfolio visibly has no critical model.
ALWAYS_COUNTED = ("critical", "failed", "warn", "insufficient data", "ok", NOT_MONITORED)
RISK_COLOURS = {"low": "#6a9f58", "medium": "#d4a017", "high": "#e07b39", "critical": "#b00020"}
ATTENTION_COLOUR = HEALTH_COLOURS["warn"]
RETIRED_MODELS = InventoryFilter(status=ModelStatus.RETIRED)

PENDING_COLUMNS = (
    Column("Model", lambda r: r.model_name),
    Column("Version", lambda r: f"v{r.version_number}", align_right=True),
    Column("Requested by", lambda r: r.requested_by),
    Column("Since", lambda r: f"{r.requested_at.astimezone():%Y-%m-%d}"),
    Column("Reason", lambda r: r.reason, tooltip=lambda r: r.reason),
)
ACTIVITY_COLUMNS = (
    Column("When (UTC)", lambda e: e.occurred_at[:16].replace("T", " ")),
    Column("Who", lambda e: e.actor),
    Column("Action", lambda e: e.action),
    Column("About", lambda e: e.entity_id),
    Column("Reason", lambda e: e.reason, tooltip=lambda e: e.reason),
)


def health_text(summary: ModelSummary) -> str:
    if summary.monitor_count == 0:
        return NOT_MONITORED
    return summary.health or NOT_RUN_YET


def stage_text(summary: ModelSummary) -> str:
    if summary.current_stage is None:
        return "no versions"
    if summary.current_stage is Stage.PRODUCTION:
        return f"production v{summary.production_version}"
    return f"{summary.current_stage.value} v{summary.latest_version}"


def format_value(value: float) -> str:
    """Three significant digits for rates and scores, whole numbers for counts."""
    if value.is_integer() and abs(value) < 1e9:
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def latest_text(trend: Trend | None) -> str:
    """'KPI approval rate 0.152': the trend's metric and its newest value."""
    if trend is None:
        return ""
    newest = latest_index(trend.values)
    value = trend.values[newest] if newest is not None else None
    return trend.label if value is None else f"{trend.label} {format_value(value)}"


def trend_tooltip(row: PortfolioRow) -> str:
    trend = row.trend
    if row.summary.monitor_count == 0:
        return "No monitor watches this model: add one on the Monitoring page."
    if trend is None:
        return "No monitoring run has measured this model yet."
    measured = [value for value in trend.values if not is_missing(value)]
    if not measured:
        return f"{trend.label}: no value in the last {len(trend.values)} runs."
    return (f"{trend.label} over the last {len(trend.values)} runs: from "
            f"{format_value(measured[0])} to {format_value(measured[-1])} "
            f"(lowest {format_value(min(measured))}, highest {format_value(max(measured))})")


def _latest_sort_value(row: PortfolioRow) -> tuple:
    if row.trend is None:
        return (1, "", 0.0)
    newest = latest_index(row.trend.values)
    return (0, row.trend.label, row.trend.values[newest] if newest is not None else 0.0)


@dataclass(frozen=True)
class PortfolioColumn:
    title: str
    text: Callable[[PortfolioRow], str]
    sort_value: Callable[[PortfolioRow], Any]
    align_right: bool = False
    tooltip: Callable[[PortfolioRow], str] | None = None
    foreground: Callable[[PortfolioRow], str | None] | None = None


def _versions_tooltip(summary: ModelSummary) -> str:
    if summary.latest_version is None:
        return "No version imported yet."
    return f"{summary.version_count} versions, the newest v{summary.latest_version}"


_HEALTH_RANK = {health: rank for rank, health in enumerate(HEALTH_ORDER)}
_STAGE_ORDER = {stage: rank for rank, stage in enumerate(
    (Stage.PRODUCTION, Stage.STAGING, Stage.DEVELOPMENT, Stage.ARCHIVED))}
_RISK_ORDER = {tier: rank for rank, tier in enumerate(RiskTier)}

PORTFOLIO_COLUMNS = (
    PortfolioColumn("Model", lambda r: r.summary.model.name, lambda r: r.summary.model.name,
                    tooltip=lambda r: r.summary.model.description or r.summary.model.name),
    PortfolioColumn("Health", lambda r: health_text(r.summary),
                    lambda r: _HEALTH_RANK.get(health_text(r.summary), len(_HEALTH_RANK)),
                    foreground=lambda r: foreground_for_health(r.summary.health)),
    # Drawn by the SparklineDelegate from SPARKLINE_ROLE; it sorts like its latest value.
    PortfolioColumn("Trend", lambda r: "", _latest_sort_value, tooltip=trend_tooltip),
    PortfolioColumn("Latest", lambda r: latest_text(r.trend), _latest_sort_value,
                    tooltip=trend_tooltip),
    PortfolioColumn("Open incidents", lambda r: f"{r.unclosed_alerts:,}",
                    lambda r: r.unclosed_alerts, align_right=True,
                    foreground=lambda r: ATTENTION_COLOUR if r.unclosed_alerts else None),
    PortfolioColumn("Stage", lambda r: stage_text(r.summary),
                    lambda r: _STAGE_ORDER.get(r.summary.current_stage, len(_STAGE_ORDER)),
                    tooltip=lambda r: _versions_tooltip(r.summary),
                    foreground=lambda r: foreground_for_stage(r.summary.current_stage)),
    PortfolioColumn("Owner", lambda r: r.summary.model.owner, lambda r: r.summary.model.owner),
    PortfolioColumn("Risk tier", lambda r: r.summary.model.risk_tier.value,
                    lambda r: _RISK_ORDER[r.summary.model.risk_tier]),
)
HEALTH_COLUMN = 1
TREND_COLUMN = 2
LATEST_COLUMN = 3


class PortfolioTableModel(QAbstractTableModel):
    """One row per active model. The list is small and read whole, so it sorts in memory."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[PortfolioRow] = []
        self._sort_column = HEALTH_COLUMN
        self._sort_order = Qt.SortOrder.AscendingOrder

    def set_rows(self, rows: Sequence[PortfolioRow]) -> None:
        self.beginResetModel()
        self._rows = self._sorted(rows)
        self.endResetModel()

    def row(self, index: Index | int) -> PortfolioRow:
        return self._rows[index if isinstance(index, int) else index.row()]

    def rows(self) -> list[PortfolioRow]:
        return list(self._rows)

    def row_of_model(self, name: str) -> int | None:
        for number, row in enumerate(self._rows):
            if row.summary.model.name == name:
                return number
        return None

    # -- Qt model interface ---------------------------------------------------------------------

    def rowCount(self, parent: Index = ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = ROOT) -> int:
        return 0 if parent.isValid() else len(PORTFOLIO_COLUMNS)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        row = self._rows[index.row()]
        if role == SPARKLINE_ROLE and index.column() == TREND_COLUMN:
            return row.trend
        return column_data(PORTFOLIO_COLUMNS[index.column()], row, role)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(PORTFOLIO_COLUMNS):
            return None
        column = PORTFOLIO_COLUMNS[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.title
        if role == Qt.ItemDataRole.TextAlignmentRole and column.align_right:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(PORTFOLIO_COLUMNS):
            return
        self._sort_column, self._sort_order = column, order
        self.layoutAboutToBeChanged.emit()
        before = self._rows
        self._rows = self._sorted(before)
        # Selection and current row follow their model to its new place.
        new_row = {id(row): number for number, row in enumerate(self._rows)}
        for index in self.persistentIndexList():
            moved = new_row[id(before[index.row()])]
            self.changePersistentIndex(index, self.index(moved, index.column()))
        self.layoutChanged.emit()

    def _sorted(self, rows: Sequence[PortfolioRow]) -> list[PortfolioRow]:
        by_name = sorted(rows, key=lambda r: r.summary.model.name)
        # Stable, also in reverse: models that tie stay in name order.
        return sorted(by_name, key=PORTFOLIO_COLUMNS[self._sort_column].sort_value,
                      reverse=self._sort_order == Qt.SortOrder.DescendingOrder)


@dataclass(frozen=True)
class PortfolioCounts:
    models: int
    in_production: int
    open_alerts: int
    by_health: dict[str, int]
    by_risk: dict[str, int]
    retired: int


def count_portfolio(rows: Sequence[PortfolioRow], retired: int) -> PortfolioCounts:
    """The tiles' and breakdowns' numbers, from the active models' rows."""
    return PortfolioCounts(
        models=len(rows),
        in_production=sum(row.summary.current_stage is Stage.PRODUCTION for row in rows),
        open_alerts=sum(row.unclosed_alerts for row in rows),
        by_health=dict(Counter(health_text(row.summary) for row in rows)),
        by_risk=dict(Counter(row.summary.model.risk_tier.value for row in rows)),
        retired=retired)


class _Tile(QFrame):
    def __init__(self, caption: str) -> None:
        super().__init__()
        self.setObjectName("tile")
        self.setStyleSheet("QFrame#tile { border: 1px solid palette(mid); border-radius: 6px; "
                           "background: palette(base); }")
        self.value_label = QLabel("–")
        self.value_label.setStyleSheet("font-size: 20pt; font-weight: 600;")
        self.caption_label = QLabel(caption)
        self.caption_label.setStyleSheet(HINT_STYLE)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 8, 14, 8)
        layout.setSpacing(0)
        layout.addWidget(self.value_label)
        layout.addWidget(self.caption_label)

    def set_value(self, value: int, colour: str | None = None) -> None:
        self.value_label.setText(f"{value:,}")
        self.value_label.setStyleSheet(
            f"font-size: 20pt; font-weight: 600; color: {colour or 'palette(text)'};")


def _breakdown(title: str, counts: dict[str, int], order: Sequence[str],
               colours: dict[str, str]) -> str:
    total = sum(counts.values()) or 1
    rows = []
    for key in order:
        count = counts.get(key, 0)
        width = int(160 * count / total)
        colour = colours.get(key, MUTED)
        rows.append(
            f"<tr><td style='padding:1px 10px 1px 0'>{_breakdown_label(key)}</td>"
            f"<td style='padding:1px 8px; text-align:right'><b>{count}</b></td>"
            f"<td><table cellspacing=0 cellpadding=0><tr><td width={max(width, 1)} height=9 "
            f"bgcolor='{colour}'></td></tr></table></td></tr>")
    return f"<b>{title}</b><table cellspacing=0>{''.join(rows)}</table>"


def _breakdown_label(key: str) -> str:
    return "OK" if key == "ok" else key.capitalize()


def _empty_text(retired: int) -> str:
    if retired:
        return (f"<p style='font-size:12pt'>No active models.</p><p>The {retired} retired "
                "models are listed on the <b>Models</b> page.</p>")
    return ("<p style='font-size:12pt'>No models yet.</p>"
            "<p>Register a model on the <b>Models</b> page (Ctrl+Shift+N) and import its "
            "trained file as a version;<br>add a monitor on the <b>Monitoring</b> page to "
            "follow its health here.</p>")


def _heading(text: str) -> QLabel:
    return QLabel(f"<b>{text}</b>")


class PortfolioPage(QWidget):
    model_requested = Signal(str)
    counts_loaded = Signal(object)  # PortfolioCounts, once the models table is filled too

    def __init__(self, session: WorkspaceSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._generation = 0  # a slower, older reload's result is dropped
        registry, audit = session.workspace.registry, session.workspace.audit
        self.models_tile = _Tile("active models")
        self.production_tile = _Tile("in production")
        self.pending_tile = _Tile("awaiting approval")
        self.alerts_tile = _Tile("open incidents")
        tiles = QHBoxLayout()
        for tile in (self.models_tile, self.production_tile, self.pending_tile,
                     self.alerts_tile):
            tiles.addWidget(tile)
        self.health_breakdown = QLabel()
        self.risk_breakdown = QLabel()
        self.retired_label = hint_label("", wrap=False)
        breakdowns = QHBoxLayout()
        breakdowns.addWidget(self.health_breakdown, 0, Qt.AlignmentFlag.AlignTop)
        breakdowns.addSpacing(48)
        breakdowns.addWidget(self.risk_breakdown, 0, Qt.AlignmentFlag.AlignTop)
        breakdowns.addStretch(1)
        breakdowns.addWidget(self.retired_label, 0, Qt.AlignmentFlag.AlignBottom)

        self.models_model = PortfolioTableModel(self)
        self.models_table = self._models_table()
        self.empty_label = QLabel()
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.empty_label.hide()
        models_header = QHBoxLayout()
        models_header.addWidget(_heading("Models"))
        models_header.addStretch(1)
        self.open_hint = hint_label("Double-click or press Enter to open a model", wrap=False)
        models_header.addWidget(self.open_hint)
        models_area = QWidget()
        models_layout = QVBoxLayout(models_area)
        models_layout.setContentsMargins(0, 0, 0, 0)
        models_layout.setSpacing(4)
        models_layout.addLayout(models_header)
        models_layout.addWidget(self.models_table, 1)
        models_layout.addWidget(self.empty_label, 1)

        self.pending_model = PagedTableModel(
            session, PENDING_COLUMNS,
            lambda request: Page(registry.list_promotion_requests(RequestStatus.PENDING), None),
            key=lambda r: r.id, parent=self)
        self.activity_model = PagedTableModel(
            session, ACTIVITY_COLUMNS,
            lambda request: Page(audit.list_events(limit=RECENT_EVENTS), None),
            key=lambda e: e.seq, page_size=RECENT_EVENTS, parent=self)
        fit_contents = QHeaderView.ResizeMode.ResizeToContents
        self.pending_table = record_table(self.pending_model, resize_mode=fit_contents)
        self.activity_table = record_table(self.activity_model, resize_mode=fit_contents)
        # `activated` is Enter, and a double-click (or the platform's single click) as well.
        self.pending_table.activated.connect(self._on_pending_table_activated)
        self.activity_table.activated.connect(self._on_activity_table_activated)
        below = QWidget()
        below_layout = QHBoxLayout(below)
        below_layout.setContentsMargins(0, 0, 0, 0)
        below_layout.setSpacing(12)
        for heading, table, stretch in (("Promotions awaiting a decision", self.pending_table, 2),
                                        ("Recent activity", self.activity_table, 3)):
            column = QVBoxLayout()
            column.setSpacing(4)
            column.addWidget(_heading(heading))
            column.addWidget(table, 1)
            below_layout.addLayout(column, stretch)

        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(models_area)
        self.splitter.addWidget(below)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 8)
        layout.addWidget(QLabel("<h2 style='margin:0'>Portfolio</h2>"))
        layout.addLayout(tiles)
        layout.addSpacing(4)
        layout.addLayout(breakdowns)
        layout.addSpacing(4)
        layout.addWidget(self.splitter, 1)
        session.changed.connect(self.reload)
        self.pending_model.loaded.connect(self._on_pending_model_loaded)
        self.reload()

    def reload(self) -> None:
        self._generation += 1
        generation = self._generation
        workspace = self._session.workspace
        self._session.work.read(
            "Loading the portfolio",
            lambda control: (workspace.health.portfolio(),
                             workspace.registry.count_models(RETIRED_MODELS)),
            on_success=lambda result: self._on_portfolio_read(generation, *result),
            quiet=True, context=self)
        self.pending_model.reload()
        self.activity_model.reload()

    def _models_table(self) -> QTableView:
        table = QTableView()
        table.setModel(self.models_model)
        table.setItemDelegateForColumn(TREND_COLUMN, SparklineDelegate(table))
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setAlternatingRowColors(True)
        table.verticalHeader().setVisible(False)
        table.setShowGrid(False)
        table.setWordWrap(False)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # The spare width goes to the latest value, so model names are never cut short.
        header.setSectionResizeMode(LATEST_COLUMN, QHeaderView.ResizeMode.Stretch)
        header.setSortIndicator(HEALTH_COLUMN, Qt.SortOrder.AscendingOrder)
        table.setSortingEnabled(True)
        table.activated.connect(self._on_models_table_activated)
        return table

    def _on_portfolio_read(self, generation: int, rows: list[PortfolioRow],
                           retired: int) -> None:
        if generation != self._generation:
            return
        selected = self._selected_model_name()
        self.models_model.set_rows(rows)
        if selected is not None and (row := self.models_model.row_of_model(selected)) is not None:
            self.models_table.selectRow(row)
        self.models_table.setVisible(bool(rows))
        self.open_hint.setVisible(bool(rows))
        self.empty_label.setVisible(not rows)
        self.empty_label.setText(_empty_text(retired))
        counts = count_portfolio(rows, retired)
        self.models_tile.set_value(counts.models)
        self.production_tile.set_value(counts.in_production, STAGE_COLOURS["production"])
        self.alerts_tile.set_value(counts.open_alerts,
                                   ATTENTION_COLOUR if counts.open_alerts else None)
        health_order = [health for health in HEALTH_ORDER
                        if health in ALWAYS_COUNTED or counts.by_health.get(health)]
        self.health_breakdown.setText(_breakdown(
            "Health", counts.by_health, health_order, HEALTH_COLOURS))
        self.risk_breakdown.setText(_breakdown(
            "Risk tier", counts.by_risk, [tier.value for tier in RiskTier], RISK_COLOURS))
        self.retired_label.setText(f"{counts.retired} retired models are not counted."
                                   if counts.retired else "")
        self.counts_loaded.emit(counts)

    def _selected_model_name(self) -> str | None:
        rows = self.models_table.selectionModel().selectedRows()
        return self.models_model.row(rows[0]).summary.model.name if rows else None

    def _on_pending_model_loaded(self) -> None:
        waiting = self.pending_model.rowCount()
        self.pending_tile.set_value(waiting, ATTENTION_COLOUR if waiting else None)

    def _on_models_table_activated(self, index: QModelIndex) -> None:
        if index.isValid():
            self.model_requested.emit(self.models_model.row(index).summary.model.name)

    def _on_pending_table_activated(self, index: QModelIndex) -> None:
        if index.isValid():
            self.model_requested.emit(self.pending_model.row(index).model_name)

    def _on_activity_table_activated(self, index: QModelIndex) -> None:
        if not index.isValid():
            return
        event = self.activity_model.row(index)
        if event.entity_type in ("model", "version", "promotion_request"):
            self.model_requested.emit(event.entity_id.split("/", 1)[0])
