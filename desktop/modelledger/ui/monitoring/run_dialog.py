"""One monitoring run's details in a dialog: opened by clicking a point on a health chart."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from modelledger.core.monitoring import MetricValue, MonitorRun
from modelledger.ui.base.session import WorkspaceSession
from modelledger.ui.monitoring.monitors_page import METRIC_COLUMNS, metric_order, run_details_html
from modelledger.ui.widgets.table_models import Page, PagedTableModel, record_table


class RunDialog(QDialog):
    loaded = Signal()

    def __init__(self, session: WorkspaceSession, run_id: int,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.run_id = run_id
        self.run: MonitorRun | None = None
        self.setWindowTitle(f"Run #{run_id}")
        self.resize(820, 620)
        self.details = QTextBrowser()
        self.details.setObjectName("runDetails")
        self.details.setOpenLinks(False)
        self.details.setHtml("Loading…")
        self._metrics: list[MetricValue] = []
        self.metrics = PagedTableModel(session, METRIC_COLUMNS,
                                       lambda request: Page(self._metrics, None),
                                       key=lambda m: (m.metric, m.subject), parent=self)
        self.metrics_table = record_table(self.metrics)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.details)
        splitter.addWidget(self.metrics_table)
        splitter.setSizes([230, 330])
        splitter.setChildrenCollapsible(False)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(buttons)
        monitoring = session.workspace.monitoring
        session.work.read(f"Loading run #{run_id}", lambda control: monitoring.get_run(run_id),
                          on_success=self._on_run_loaded,
                          on_failure=lambda error: self.details.setPlainText(str(error)),
                          context=self)

    def _on_run_loaded(self, result: tuple[MonitorRun, list[MetricValue]]) -> None:
        self.run, metrics = result
        self.setWindowTitle(f"Run #{self.run.id} · {self.run.model_name} / "
                            f"{self.run.monitor_name}")
        self.details.setHtml(run_details_html(self.run))
        self._metrics = sorted(metrics, key=metric_order)
        self.metrics.loaded.connect(self.loaded, Qt.ConnectionType.SingleShotConnection)
        self.metrics.reload()
