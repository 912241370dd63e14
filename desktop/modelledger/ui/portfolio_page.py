"""Portfolio: the whole inventory at a glance — stages, risk, decisions waiting, recent activity."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from modelledger.core.domain import ModelStatus, RequestStatus, RiskTier, Stage
from modelledger.ui.session import WorkspaceSession
from modelledger.ui.table_models import (
    STAGE_COLOURS,
    Column,
    Page,
    PagedTableModel,
    record_table,
)

RECENT_EVENTS = 25

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


@dataclass(frozen=True)
class PortfolioCounts:
    models: int
    by_stage: dict[str, int]
    by_risk: dict[str, int]
    retired: int


def count_portfolio(summaries) -> PortfolioCounts:
    active = [s for s in summaries if s.model.status is ModelStatus.ACTIVE]
    by_stage = Counter(s.current_stage.value if s.current_stage else "no versions" for s in active)
    by_risk = Counter(s.model.risk_tier.value for s in active)
    return PortfolioCounts(len(active), dict(by_stage), dict(by_risk),
                           len(summaries) - len(active))


class _Tile(QFrame):
    def __init__(self, caption: str) -> None:
        super().__init__()
        self.setObjectName("tile")
        self.setStyleSheet("QFrame#tile { border: 1px solid palette(mid); border-radius: 6px; "
                           "background: palette(base); }")
        self.value_label = QLabel("–")
        self.value_label.setStyleSheet("font-size: 22pt; font-weight: 600;")
        self.caption_label = QLabel(caption)
        self.caption_label.setStyleSheet("color: #666;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 10)
        layout.addWidget(self.value_label)
        layout.addWidget(self.caption_label)

    def set_value(self, value: int, colour: str | None = None) -> None:
        self.value_label.setText(f"{value:,}")
        self.value_label.setStyleSheet(
            f"font-size: 22pt; font-weight: 600; color: {colour or 'palette(text)'};")


def _breakdown(title: str, counts: dict[str, int], order: list[str],
               colours: dict[str, str]) -> str:
    total = sum(counts.values()) or 1
    rows = []
    for key in order:
        count = counts.get(key, 0)
        width = int(220 * count / total)
        colour = colours.get(key, "#8a8a8a")
        rows.append(
            f"<tr><td style='padding:2px 10px 2px 0'>{key.capitalize()}</td>"
            f"<td style='padding:2px 8px; text-align:right'><b>{count}</b></td>"
            f"<td><table cellspacing=0 cellpadding=0><tr><td width={max(width, 1)} height=10 "
            f"bgcolor='{colour}'></td></tr></table></td></tr>")
    return f"<b>{title}</b><table cellspacing=0>{''.join(rows)}</table>"


RISK_COLOURS = {"low": "#6a9f58", "medium": "#d4a017", "high": "#e07b39", "critical": "#b00020"}


class PortfolioPage(QWidget):
    model_requested = Signal(str)
    counts_loaded = Signal(object)

    def __init__(self, session: WorkspaceSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session = session
        registry, audit = session.workspace.registry, session.workspace.audit
        self.models_tile = _Tile("active models")
        self.production_tile = _Tile("in production")
        self.pending_tile = _Tile("awaiting approval")
        self.high_risk_tile = _Tile("high or critical risk")
        tiles = QHBoxLayout()
        for tile in (self.models_tile, self.production_tile, self.pending_tile,
                     self.high_risk_tile):
            tiles.addWidget(tile)
        self.stage_breakdown = QLabel()
        self.risk_breakdown = QLabel()
        self.retired_label = QLabel()
        self.retired_label.setStyleSheet("color: #666;")
        breakdowns = QHBoxLayout()
        breakdowns.addWidget(self.stage_breakdown, 0, Qt.AlignmentFlag.AlignTop)
        breakdowns.addSpacing(40)
        breakdowns.addWidget(self.risk_breakdown, 0, Qt.AlignmentFlag.AlignTop)
        breakdowns.addStretch(1)

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
        self.pending_table.activated.connect(
            lambda index: self._open_model(self.pending_model.row(index).model_name))
        self.pending_table.doubleClicked.connect(
            lambda index: self._open_model(self.pending_model.row(index).model_name))
        self.activity_table.doubleClicked.connect(self._on_activity_double_clicked)

        grid = QGridLayout()
        grid.addWidget(QLabel("<b>Promotions awaiting a decision</b>"), 0, 0)
        grid.addWidget(QLabel("<b>Recent activity</b>"), 0, 1)
        grid.addWidget(self.pending_table, 1, 0)
        grid.addWidget(self.activity_table, 1, 1)
        grid.setColumnStretch(0, 2)
        grid.setColumnStretch(1, 3)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 8)
        layout.addWidget(QLabel("<h2 style='margin:0'>Portfolio</h2>"))
        layout.addLayout(tiles)
        layout.addSpacing(6)
        layout.addLayout(breakdowns)
        layout.addWidget(self.retired_label)
        layout.addLayout(grid, 1)
        session.changed.connect(self.reload)
        self.pending_model.loaded.connect(
            lambda: self.pending_tile.set_value(self.pending_model.rowCount(),
                                                "#a35f00" if self.pending_model.rowCount()
                                                else None))
        self.reload()

    def reload(self) -> None:
        registry = self._session.workspace.registry
        self._session.work.read("Counting the portfolio",
                                lambda control: count_portfolio(registry.list_models()),
                                on_success=self._on_counts_loaded, quiet=True)
        self.pending_model.reload()
        self.activity_model.reload()

    def _on_counts_loaded(self, counts: PortfolioCounts) -> None:
        self.models_tile.set_value(counts.models)
        self.production_tile.set_value(counts.by_stage.get(Stage.PRODUCTION.value, 0),
                                       STAGE_COLOURS["production"])
        self.high_risk_tile.set_value(
            counts.by_risk.get(RiskTier.HIGH.value, 0) + counts.by_risk.get(
                RiskTier.CRITICAL.value, 0), RISK_COLOURS["high"])
        self.stage_breakdown.setText(_breakdown(
            "Current version's stage", counts.by_stage,
            [s.value for s in (Stage.PRODUCTION, Stage.STAGING, Stage.DEVELOPMENT,
                               Stage.ARCHIVED)] + ["no versions"], STAGE_COLOURS))
        self.risk_breakdown.setText(_breakdown("Risk tier", counts.by_risk,
                                               [t.value for t in RiskTier], RISK_COLOURS))
        self.retired_label.setText(f"{counts.retired} retired models are not counted."
                                   if counts.retired else "")
        self.counts_loaded.emit(counts)

    def _open_model(self, name: str) -> None:
        self.model_requested.emit(name)

    def _on_activity_double_clicked(self, index: QModelIndex) -> None:
        entity = self.activity_model.row(index)
        if entity.entity_type in ("model", "version", "promotion_request"):
            self.model_requested.emit(entity.entity_id.split("/", 1)[0])

