"""The Health tab's ranking of drifted features by drift x importance: a feature the model
hardly uses can drift without harm, a small drift of its main input matters."""

from __future__ import annotations

import html

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from modelledger.core.importance import top_features
from modelledger.core.monitoring import METRIC_LABELS, Monitor
from modelledger.services.health.chart_data import DriftRank, MonitorHealth
from modelledger.ui.widgets.table_models import (
    HEALTH_COLOURS,
    MUTED,
    Column,
    RecordListModel,
    record_table,
)

MEASURE_ACTION = "monitor.importance_measured"
MAX_VISIBLE_ROWS = 10


def _percent(share: float | None) -> str:
    return "–" if share is None else f"{share:.1%}"


class DriftRankingPanel(QFrame):
    measure_requested = Signal()  # the user asked to measure the importance again

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("driftRankingPanel")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self._top: tuple[str, ...] = ()
        title = QLabel("<b>Drift × importance</b>")
        self.measure_button = QPushButton("Measure importance…")
        self.measure_button.setToolTip(
            "Measure again how much the monitored version uses each feature (from its "
            "coefficients or feature importances, else by permutation on the reference data). "
            "Recorded in the audit log.")
        self.measure_button.clicked.connect(self.measure_requested)
        header = QHBoxLayout()
        header.addWidget(title)
        header.addStretch(1)
        header.addWidget(self.measure_button)
        self.note = QLabel()
        self.note.setObjectName("driftRankingNote")
        self.note.setWordWrap(True)
        self.note.setStyleSheet(f"color: {MUTED};")
        self.ranks = RecordListModel([
            Column("Feature", self._feature_text,
                   tooltip=lambda rank: "one of the most important features"
                   if rank.feature in self._top else ""),
            Column("Drift", lambda rank: f"{rank.value:.3f}", align_right=True,
                   tooltip=lambda rank: METRIC_LABELS.get(rank.measure, rank.measure)),
            Column("Measure", lambda rank: METRIC_LABELS.get(rank.measure, rank.measure)),
            Column("Importance", lambda rank: _percent(rank.importance), align_right=True),
            Column("Drift × importance",
                   lambda rank: "–" if rank.weighted is None else f"{rank.weighted:.4f}",
                   align_right=True),
            Column("Verdict", lambda rank: rank.status,
                   foreground=lambda rank: HEALTH_COLOURS.get(rank.status, MUTED)),
        ], parent=self)
        self.table = record_table(self.ranks)
        self.table.setObjectName("driftRankingTable")
        for column, width in enumerate((170, 70, 90, 90, 130)):
            self.table.setColumnWidth(column, width)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(4)
        layout.addLayout(header)
        layout.addWidget(self.note)
        layout.addWidget(self.table, 1)

    def _feature_text(self, rank: DriftRank) -> str:
        return f"★ {rank.feature}" if rank.feature in self._top else f"   {rank.feature}"

    def set_health(self, health: MonitorHealth) -> None:
        ranks = health.drift_ranking()
        spec = health.monitor.spec
        self._top = top_features(spec.importance, spec.top_k, spec.features) \
            if spec.importance else ()
        self.ranks.set_rows(ranks)
        self.note.setText(_note(health.monitor))
        # Tall enough for every row up to MAX_VISIBLE_ROWS; more scroll inside the table.
        header = self.table.horizontalHeader().sizeHint().height()
        row = self.table.verticalHeader().defaultSectionSize()
        self.setFixedHeight(80 + header + row * min(max(len(ranks), 1), MAX_VISIBLE_ROWS))

    def set_refusal(self, refusal: str | None) -> None:
        """Disabled, with the reason as its tooltip, for someone who may not measure it."""
        self.measure_button.setEnabled(refusal is None)
        if refusal:
            self.measure_button.setToolTip(refusal)

    def set_busy(self, busy: bool) -> None:
        self.measure_button.setEnabled(not busy)
        self.measure_button.setText("Measuring…" if busy else "Measure importance…")


def _note(monitor: Monitor) -> str:
    spec = monitor.spec
    if not spec.importance:
        return ("Ranked by drift alone: the importance of the features was not measured (the "
                "version has no model file ModelLedger can load). Measure it once the model "
                "file is there.")
    return (f"Importance measured on v{spec.importance_version} "
            f"({html.escape(spec.importance_method)}). ★ marks the {spec.top_k} most important "
            "features; each run judges the share of them that drift (“Drifted share of the top "
            "k”).")
