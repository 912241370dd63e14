"""A model's health over time: its monitored metrics with their bands and alerts, the drift
heatmap, reference against current distributions, performance with label arrival, KPIs against
their targets, and version changes on the time axis. Every chart exports to PNG or SVG, and the
page to a one-page PDF.

Imported on a worker when a model page is built (it brings numpy and pyqtgraph, 300-400 ms);
every read and every export runs on the session's worker threads.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from PySide6.QtCore import QDate, QDateTime, QSignalBlocker, Qt, QTime, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMenu,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from modelledger.core.monitoring import MonitorOverview
from modelledger.services.health.chart_data import (
    DRIFT_MEASURES,
    Distribution,
    MonitorHealth,
)
from modelledger.ui.base.errors import show_error
from modelledger.ui.base.session import WorkspaceSession
from modelledger.ui.health.charts import (
    DistributionChart,
    HeatmapChart,
    PerformanceChart,
    ThemedPlot,
    TimeSeriesChart,
)
from modelledger.ui.health.drift_ranking import MEASURE_ACTION, DriftRankingPanel
from modelledger.ui.monitoring.run_dialog import RunDialog
from modelledger.ui.widgets.staged_widgets import StagedWidgets
from modelledger.ui.widgets.table_models import HEALTH_COLOURS, MUTED

DAY = 86400.0
PERIODS = (("Last 7 days", 7), ("Last 30 days", 30), ("Last 90 days", 90),
           ("Last year", 365), ("All runs", None))
DEFAULT_PERIOD = "Last 90 days"
PANEL_HEIGHT = 290
IMAGE_FILTERS = "PNG image (*.png);;SVG image (*.svg)"

# One step of drawing the page: what to do, and the chart that it changes (if any).
DrawStep = tuple[Callable[[], object], ThemedPlot | None]


class ChartPanel(QFrame):
    """A titled frame around one chart, with its own choosers and an Export menu."""

    export_requested = Signal(str)  # "png" or "svg"

    def __init__(self, title: str, name: str) -> None:
        super().__init__()
        self.setObjectName(name)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.chart: ThemedPlot | None = None  # see set_chart
        self.title_label = QLabel(f"<b>{html.escape(title)}</b>")
        self.controls = QHBoxLayout()
        self.controls.setSpacing(6)
        self.export_button = QToolButton()
        self.export_button.setText("Export")
        self.export_button.setToolTip("Save this chart as a PNG or SVG image")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        menu.addAction("As PNG image…", lambda: self.export_requested.emit("png"))
        menu.addAction("As SVG image…", lambda: self.export_requested.emit("svg"))
        self.export_button.setMenu(menu)
        header = QHBoxLayout()
        header.addWidget(self.title_label)
        header.addStretch(1)
        header.addLayout(self.controls)
        header.addWidget(self.export_button)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet(f"color: {MUTED};")
        self.note.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(4)
        layout.addLayout(header)
        layout.addWidget(self.note)

    def set_chart(self, chart: ThemedPlot) -> None:
        """The chart goes between the header and the note."""
        self.chart = chart
        self.layout().insertWidget(1, chart, 1)

    def set_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))


class ModelHealthView(QWidget):
    charts_built = Signal()  # every chart exists (they are built one per turn of the loop)
    health_loaded = Signal()  # a monitor's history arrived and the charts show it
    distribution_loaded = Signal()
    run_dialog_opened = Signal(object)  # the RunDialog
    importance_measured = Signal(object)  # the Monitor, with its importance measured again
    exported = Signal(str)  # the path written

    def __init__(self, session: WorkspaceSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._health_service = session.workspace.health
        self.model_name: str | None = None
        self.health: MonitorHealth | None = None
        self.distribution: Distribution | None = None
        self._overviews: list[MonitorOverview] = []
        self._syncing_range = False
        self._draw_steps: list[DrawStep] = []  # still to do, in order
        self._awaited_chart: ThemedPlot | None = None  # the next step waits for its paint
        self._health_before_charts: MonitorHealth | None = None  # arrived before the charts
        self._build()
        session.changed.connect(self._on_session_changed)

    # -- building -------------------------------------------------------------------------------

    def _build(self) -> None:
        self.monitor_combo = QComboBox()
        self.monitor_combo.setMinimumContentsLength(24)
        self.monitor_combo.currentIndexChanged.connect(self._on_monitor_combo_changed)
        self.period_combo = QComboBox()
        for label, _days in PERIODS:
            self.period_combo.addItem(label)
        self.period_combo.addItem("Custom")
        self.period_combo.setCurrentText(DEFAULT_PERIOD)
        self.period_combo.currentTextChanged.connect(self._on_period_combo_changed)
        self.from_edit = QDateEdit(calendarPopup=True)
        self.to_edit = QDateEdit(calendarPopup=True)
        for edit in (self.from_edit, self.to_edit):
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.dateChanged.connect(self._on_date_edit_changed)
        self.pdf_button = QPushButton("Export page as PDF…")
        self.pdf_button.setToolTip("The whole page on one A4 page (Ctrl+Shift+E)")
        self.pdf_button.clicked.connect(self.export_page_pdf)
        QShortcut(QKeySequence("Ctrl+Shift+E"), self, self.export_page_pdf)
        toolbar = QHBoxLayout()
        toolbar.addWidget(QLabel("Monitor"))
        toolbar.addWidget(self.monitor_combo)
        toolbar.addSpacing(12)
        toolbar.addWidget(QLabel("Period"))
        toolbar.addWidget(self.period_combo)
        toolbar.addWidget(self.from_edit)
        toolbar.addWidget(QLabel("to"))
        toolbar.addWidget(self.to_edit)
        toolbar.addStretch(1)
        toolbar.addWidget(self.pdf_button)

        self.status_label = QLabel()
        self.status_label.setObjectName("healthStatus")
        self.status_label.setWordWrap(True)
        self.hover_label = QLabel(" ")
        self.hover_label.setObjectName("healthHover")
        self.hover_label.setStyleSheet(f"color: {MUTED};")
        self.hover_label.setToolTip("What the pointer is over. Wheel: zoom in time, drag: pan, "
                                    "click a point: open its run.")

        self.metric_combo = QComboBox()
        self.metric_combo.setMinimumContentsLength(22)
        self.metric_combo.currentIndexChanged.connect(self._draw_metric)
        self.metric_panel = ChartPanel("Metric over time", "metricPanel")
        self.metric_panel.controls.addWidget(self.metric_combo)

        self.measure_combo = QComboBox()
        for metric, label in DRIFT_MEASURES.items():
            self.measure_combo.addItem(label, metric)
        self.measure_combo.currentIndexChanged.connect(self._draw_heatmap)
        self.heatmap_panel = ChartPanel("Drift by feature and run", "heatmapPanel")
        self.heatmap_panel.controls.addWidget(self.measure_combo)

        self.feature_combo = QComboBox()
        self.feature_combo.setMinimumContentsLength(14)
        self.feature_combo.currentIndexChanged.connect(self._on_feature_combo_changed)
        self.distribution_panel = ChartPanel("Reference vs current", "distributionPanel")
        self.distribution_panel.controls.addWidget(self.feature_combo)
        self._distribution_run_id: int | None = None

        self.performance_panel = ChartPanel("Performance and labelled rows",
                                            "performancePanel")
        self.ranking_panel = DriftRankingPanel()
        self.ranking_panel.measure_requested.connect(self._on_ranking_panel_measure_requested)

        self.kpi_combo = QComboBox()
        self.kpi_combo.setMinimumContentsLength(16)
        self.kpi_combo.currentIndexChanged.connect(self._draw_kpi)
        self.kpi_panel = ChartPanel("KPI against target", "kpiPanel")
        self.kpi_panel.controls.addWidget(self.kpi_combo)
        self._syncing_charts = False
        # A chart takes 8-13 ms to build (pyqtgraph makes its axes and view); the five built
        # together with their context menus held the GUI thread ~100 ms. One per turn.
        chart_kinds = ((self.metric_panel, TimeSeriesChart), (self.kpi_panel, TimeSeriesChart),
                       (self.heatmap_panel, HeatmapChart),
                       (self.distribution_panel, DistributionChart),
                       (self.performance_panel, PerformanceChart))
        self._charts = StagedWidgets({panel.objectName(): kind for panel, kind in chart_kinds},
                                     self)
        self._charts.widget_built.connect(self._on_chart_built)
        self._charts.all_built.connect(self._on_charts_built)
        self._charts_ready = False
        self._charts.build_the_rest()
        self.panel_figures: dict[ChartPanel, Callable] = {
            self.metric_panel: self._metric_figure, self.heatmap_panel: self._heatmap_figure,
            self.distribution_panel: self._distribution_figure,
            self.performance_panel: self._performance_figure, self.kpi_panel: self._kpi_figure,
        }
        for panel in self.panel_figures:
            panel.export_requested.connect(
                lambda kind, panel=panel: self.export_chart(panel, kind))
            # A panel shown later takes the place it had: showing it moves no other chart.
            policy = panel.sizePolicy()
            policy.setRetainSizeWhenHidden(True)
            panel.setSizePolicy(policy)
        # A timer object, not QTimer.singleShot(0, ...): Qt runs those posted calls two at a
        # time, and a timer lets input and other timers in before each step.
        self._draw_timer = QTimer(self, singleShot=True, interval=0)
        self._draw_timer.timeout.connect(self._next_draw_step)

        self.grid = QGridLayout()
        self.grid.setSpacing(8)
        self.grid.setContentsMargins(0, 0, 0, 0)
        for panel in self.panel_figures:
            panel.setFixedHeight(PANEL_HEIGHT)
        self.charts = QWidget()
        self.charts.setLayout(self.grid)
        self._arrange()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.charts)
        self.scroll = scroll

        self.empty_label = QLabel()
        self.empty_label.setObjectName("healthEmpty")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.empty_label.setStyleSheet(f"color: {MUTED}; font-size: 11pt;")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 6, 4, 2)
        layout.addLayout(toolbar)
        layout.addWidget(self.status_label)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.empty_label, 1)
        layout.addWidget(self.hover_label)
        self._show_empty("Loading…")

    def _on_chart_built(self, panel_name: str, chart: ThemedPlot) -> None:
        self.findChild(ChartPanel, panel_name).set_chart(chart)
        chart.painted.connect(lambda: self._on_chart_painted(chart))

    def _on_charts_built(self) -> None:
        self.metric_chart, self.kpi_chart, self.heatmap_chart, self.distribution_chart, \
            self.performance_chart = (panel.chart for panel in (
                self.metric_panel, self.kpi_panel, self.heatmap_panel, self.distribution_panel,
                self.performance_panel))
        self.heatmap_chart.cell_clicked.connect(self._on_heatmap_chart_cell_clicked)
        for chart in (self.metric_chart, self.kpi_chart, self.heatmap_chart):
            chart.hovered.connect(self._on_chart_hovered)
        for chart in (self.metric_chart, self.kpi_chart, self.performance_chart,
                      self.heatmap_chart):
            chart.run_clicked.connect(self.open_run)
        # The time charts pan and zoom together (the same period, not pyqtgraph's setXLink,
        # which lines up screen positions, and the charts' axes differ in width); the first
        # one drives the period controls.
        self.time_charts = (self.metric_chart, self.kpi_chart, self.performance_chart)
        for chart in self.time_charts:
            chart.sigXRangeChanged.connect(
                lambda _view, _range, chart=chart: self._on_time_chart_range_changed(chart))
        self._charts_ready = True
        self.charts_built.emit()
        if self._health_before_charts is not None:
            health, self._health_before_charts = self._health_before_charts, None
            self._on_health_loaded(health)

    def charts_ready(self) -> bool:
        return self._charts_ready

    def _arrange(self, empty: frozenset[ChartPanel] = frozenset()) -> None:
        """Two charts a row; a chart whose partner has nothing to show takes the whole row."""
        for panel in (*self.panel_figures, self.ranking_panel):
            self.grid.removeWidget(panel)
            if panel in empty:
                panel.hide()
        rows = [(self.metric_panel, self.kpi_panel),
                (self.heatmap_panel, self.distribution_panel), (self.ranking_panel,),
                (self.performance_panel,)]
        row_number = 0
        for row in rows:
            shown = [panel for panel in row if panel not in empty]
            for column, panel in enumerate(shown):
                self.grid.addWidget(panel, row_number, column, 1, 2 if len(shown) == 1 else 1)
            row_number += bool(shown)
        self.grid.setColumnStretch(0, 3)
        self.grid.setColumnStretch(1, 2)
        self.grid.setRowStretch(row_number, 1)

    # -- loading --------------------------------------------------------------------------------

    def show_model(self, name: str) -> None:
        if name != self.model_name:
            self.model_name = name
            self.health = None
            self._overviews = []
            self.monitor_combo.clear()
            self._show_empty("Loading…")
        self._load_overviews()

    def _load_overviews(self) -> None:
        name = self.model_name
        monitoring = self._session.workspace.monitoring
        self._session.work.read(
            f"Loading the monitors of {name}",
            lambda control: monitoring.overviews(model_name=name),
            on_success=lambda overviews: self._on_overviews_loaded(name, overviews),
            quiet=True, context=self)

    def _on_overviews_loaded(self, name: str, overviews: list[MonitorOverview]) -> None:
        if name != self.model_name:
            return
        self._overviews = overviews
        if not overviews:
            self._show_empty(f"{name} has no monitors yet. Add one on the Monitoring page "
                             "(Ctrl+3, New monitor…) to see its health here.")
            return
        keep = self.selected_monitor_id()
        with QSignalBlocker(self.monitor_combo):
            self.monitor_combo.clear()
            for overview in overviews:
                self.monitor_combo.addItem(overview.monitor.name, overview.monitor.id)
            index = self.monitor_combo.findData(keep)
            self.monitor_combo.setCurrentIndex(max(index, 0))
        self.monitor_combo.setEnabled(len(overviews) > 1)
        self.load_health()

    def selected_monitor_id(self) -> int | None:
        return self.monitor_combo.currentData()

    def _on_monitor_combo_changed(self) -> None:
        self.health = None
        self.load_health()

    def load_health(self) -> None:
        monitor_id = self.selected_monitor_id()
        if monitor_id is None:
            return
        service = self._health_service
        self._session.work.read(
            "Loading the health history", lambda control: service.monitor_health(monitor_id),
            on_success=self._on_health_loaded, quiet=True, context=self)

    def _on_session_changed(self, *_args) -> None:
        if self.model_name is not None and self.isVisible():
            self._load_overviews()

    def _on_health_loaded(self, health: MonitorHealth) -> None:
        if health.monitor.id != self.selected_monitor_id():
            return
        if not self.charts_ready():  # drawn when the last chart is built
            self._health_before_charts = health
            return
        first = self.health is None
        self.health = health
        if not health.runs:
            self._show_empty(f"The monitor '{health.monitor.name}' has not run yet. Its first "
                             f"run follows its schedule ({health.monitor.schedule.describe()}), "
                             "or use Run now on the Monitoring page.")
            return
        self.scroll.show()
        self.empty_label.hide()
        self._show_status(health)
        self._fill_choosers()
        drift_rows = len(health.drift_features())
        for panel in (self.heatmap_panel, self.distribution_panel):
            panel.setFixedHeight(min(max(PANEL_HEIGHT, 150 + 15 * drift_rows), 600))
        empty = {self.performance_panel: not health.performance_metrics(),
                 self.kpi_panel: not health.kpis,
                 self.heatmap_panel: not health.drift_features(),
                 self.distribution_panel: not health.profiled,
                 self.ranking_panel: not health.drift_features()}
        self.ranking_panel.set_health(health)
        self.ranking_panel.setVisible(not empty[self.ranking_panel])
        # The model's owner is not read here: the service refuses an owner of another model.
        self.ranking_panel.set_refusal(self._session.refusal(MEASURE_ACTION))
        self._arrange(frozenset(panel for panel, nothing in empty.items() if nothing))
        # Qt paints every chart that changed in one pass, so charts drawn together would stall
        # the window for their sum. Each step changes one chart, and the next step waits until
        # that chart has painted. A first load draws the charts hidden (and sets the period),
        # then shows them one at a time.
        if first:
            for panel in self.panel_figures:
                panel.hide()

        def reveal(panel: ChartPanel) -> DrawStep:
            # A panel already shown does not paint again: then there is nothing to wait for.
            return (lambda: panel.setVisible(not empty.get(panel, False)),
                    panel.chart if panel.isHidden() else None)

        period = (lambda: self._apply_period(self.period_combo.currentText())) if first \
            else self._sync_time_charts  # draws the heatmap over the period too
        self._draw_steps = [
            (self._draw_metric, self.metric_chart), (self._draw_kpi, self.kpi_chart),
            (self._draw_performance, self.performance_chart), (period, self.heatmap_chart),
            reveal(self.metric_panel), reveal(self.kpi_panel), reveal(self.heatmap_panel),
            reveal(self.distribution_panel), reveal(self.performance_panel),
            # Read last: a worker holding Python's lock while a step runs slows the step down.
            (self._load_distribution, None), (self.health_loaded.emit, None)]
        self._awaited_chart = None
        self._draw_timer.start()

    def _on_ranking_panel_measure_requested(self) -> None:
        reason, accepted = QInputDialog.getText(
            self, "Measure importance", "Why measure it again (kept in the audit log)?")
        if accepted:
            self.measure_importance(reason)

    def measure_importance(self, reason: str = "") -> None:
        """Measure again how much the monitored version uses each feature, on a worker (the
        model is loaded and may be permuted on the reference data)."""
        monitor_id = self.selected_monitor_id()
        if monitor_id is None:
            return
        monitoring = self._session.workspace.monitoring
        self.ranking_panel.set_busy(True)
        # Measured on the read lane (seconds for a permutation), stored by a quick write, so
        # other writes do not wait for the measurement.
        self._session.work.read(
            "Measuring feature importance",
            lambda control: monitoring.importance_for(monitor_id),
            on_success=lambda measured: self._store_importance(monitor_id, measured, reason),
            on_failure=self._on_importance_failed, context=self)

    def _store_importance(self, monitor_id: int, measured, reason: str) -> None:
        monitoring = self._session.workspace.monitoring
        self._session.work.write(
            "Storing feature importance",
            lambda control: monitoring.store_importance(monitor_id, measured, reason),
            on_success=self._on_importance_measured, on_failure=self._on_importance_failed,
            context=self)

    def _on_importance_measured(self, monitor) -> None:
        self.ranking_panel.set_busy(False)
        self.importance_measured.emit(monitor)
        self.load_health()

    def _on_importance_failed(self, error: BaseException) -> None:
        self.ranking_panel.set_busy(False)
        show_error(self, error)

    def _sync_time_charts(self) -> None:
        """The time charts, drawn again, on the metric chart's period; the heatmap over it."""
        self._on_time_chart_range_changed(self.metric_chart)

    def _on_time_chart_range_changed(self, source) -> None:
        if self._syncing_charts:
            return
        start, end = source.viewRange()[0]
        self._syncing_charts = True
        try:
            for chart in self.time_charts:
                if chart is not source:
                    chart.setXRange(start, end, padding=0)
        finally:
            self._syncing_charts = False
        self._on_period_changed()

    def _next_draw_step(self) -> None:
        if not self._draw_steps:
            return
        action, chart = self._draw_steps.pop(0)
        action()
        if chart is not None and _on_screen(chart.viewport()):  # what a chart paints on
            self._awaited_chart = chart
        elif self._draw_steps:
            self._draw_timer.start()

    def _draw_next(self, action: Callable[[], object], chart: ThemedPlot) -> None:
        """Draw before the steps still to do, in a turn of its own."""
        self._draw_steps.insert(0, (action, chart))
        if self._awaited_chart is None:
            self._draw_timer.start()

    def _on_chart_painted(self, chart: ThemedPlot) -> None:
        if chart is self._awaited_chart:
            self._awaited_chart = None
            if self._draw_steps:
                self._draw_timer.start()

    def _draw_performance(self) -> None:
        self.performance_chart.set_health(self.health)
        self.performance_panel.set_note(self.performance_chart.legend_html()
                                        if self.performance_chart.lines else "")

    def _show_empty(self, text: str) -> None:
        self._draw_steps, self._awaited_chart = [], None
        self.scroll.hide()
        self.status_label.hide()
        self.empty_label.setText(text)
        self.empty_label.show()

    def _show_status(self, health: MonitorHealth) -> None:
        latest = health.runs[-1]
        colour = HEALTH_COLOURS.get(latest.health, MUTED)
        alerts = next((o.open_alerts for o in self._overviews
                       if o.monitor.id == health.monitor.id), 0)
        version = (f"pinned to v{health.monitor.pinned_version}"
                   if health.monitor.pinned_version else "follows the production version")
        self.status_label.setText(
            f"Latest run {_local(latest.time)}: <b style='color:{colour}'>{latest.health}</b>"
            f" · {len(health.runs)} runs · {alerts} open incident{'s' if alerts != 1 else ''}"
            f" · {version} · {html.escape(health.monitor.schedule.describe())}")
        self.status_label.show()

    def _fill_choosers(self) -> None:
        health = self.health
        assert health is not None
        choices = [(health.get(*key).label, key) for key in health.timeline_metrics()]
        _refill(self.metric_combo, choices, default=_first_metric(health))
        _refill(self.kpi_combo, [(band.name, band.name) for band in health.kpis])
        self.kpi_combo.setVisible(len(health.kpis) > 1)
        features = [c for c in health.profiled if c in health.monitor.spec.features] + \
            [c for c in health.profiled if c not in health.monitor.spec.features]
        default_feature = _most_drifted(health)
        _refill(self.feature_combo, [(name, name) for name in features],
                default=default_feature)

    # -- drawing --------------------------------------------------------------------------------

    def selected_series(self):
        key = self.metric_combo.currentData()
        return None if self.health is None or key is None else self.health.get(*key)

    def selected_kpi(self):
        if self.health is None:
            return None, None
        name = self.kpi_combo.currentData()
        band = next((b for b in self.health.kpis if b.name == name), None)
        return band, (self.health.get(f"kpi.{name}") if band else None)

    def _draw_metric(self) -> None:
        if self.health is None:
            return
        series = self.selected_series()
        self.metric_chart.set_series(series, self.health.markers)
        how = ("▲ alert raised · dashed line: a version reached production · click a point "
               "to open its run.")
        self.metric_panel.set_note(
            f"Amber band: warn, red: critical. {how}" if series is None or series.has_thresholds
            else f"No thresholds apply to this metric: it is shown for information. {how}")

    def _draw_kpi(self) -> None:
        if not self.charts_ready():  # the first load draws it
            return
        band, series = self.selected_kpi()
        self.kpi_chart.set_series(series, self.health.markers if self.health else (), band)
        if band is None:
            note = ""
        elif band.direction == "both":
            note = (f"Target {band.target:g}: ok within ±{band.tolerance:g}, amber within "
                    f"±{2 * band.tolerance:g}.")
        else:
            note = (f"Target {band.target:g}, {band.direction} is better: ok within "
                    f"{band.tolerance:g} of it, amber within {2 * band.tolerance:g}.")
        self.kpi_panel.set_note(note)

    def _draw_heatmap(self) -> None:
        if self.health is None:
            return
        self.heatmap_chart.set_heatmap(self.health.heatmap(self.measure_combo.currentData()),
                                       self.time_range())
        heatmap = self.heatmap_chart.heatmap
        if not self.heatmap_chart.columns.size:
            note = "No runs in this period."
        elif heatmap.measure == "drift.p_value":
            note = ("Red: p < 0.01, orange: p < 0.05 (Benjamini-Hochberg adjusted; shown, never "
                    "judged). Click a cell to compare that run's distribution.")
        else:
            warn = "" if heatmap.warn is None else f"amber from {heatmap.warn:g}, "
            critical = "" if heatmap.critical is None else f"red from {heatmap.critical:g}"
            noise = "palest: within the noise of the run's window; " \
                if heatmap.within_noise is not None else ""
            note = (f"{warn}{critical}; {noise}grey: no value. Click a cell to compare that "
                    "run's distribution, double-click to open the run.")
        self.heatmap_panel.set_note(note[0].upper() + note[1:])

    def _on_heatmap_chart_cell_clicked(self, feature: str, run_id: int) -> None:
        self._distribution_run_id = run_id
        with QSignalBlocker(self.feature_combo):
            self.feature_combo.setCurrentIndex(max(self.feature_combo.findData(feature), 0))
        self._load_distribution()

    def _on_feature_combo_changed(self) -> None:
        self._load_distribution()

    def _load_distribution(self) -> None:
        health, column = self.health, self.feature_combo.currentData()
        if health is None or column is None:
            if self.charts_ready():
                self.distribution_chart.set_distribution(None)
            return
        succeeded = [run for run in health.runs if run.status == "succeeded"]
        run_ids = {run.run_id for run in health.runs}
        if self._distribution_run_id not in run_ids:
            self._distribution_run_id = (succeeded or health.runs)[-1].run_id
        run_id, monitor_id = self._distribution_run_id, health.monitor.id
        service = self._health_service
        self._session.work.read(
            "Loading a distribution",
            lambda control: service.distribution(monitor_id, run_id, column),
            on_success=self._on_distribution_loaded, quiet=True, context=self)

    def _on_distribution_loaded(self, distribution: Distribution) -> None:
        if (distribution.column != self.feature_combo.currentData()
                or distribution.run_id != self._distribution_run_id):
            return
        # It may arrive while other charts draw: it is drawn in a step of its own too.
        self._draw_next(lambda: self._draw_distribution(distribution), self.distribution_chart)

    def _draw_distribution(self, distribution: Distribution) -> None:
        self.distribution = distribution
        self.distribution_chart.set_distribution(distribution)
        self.distribution_panel.title_label.setText(
            f"<b>Reference vs run of {_local(distribution.run_time)[:10]}</b>")
        self.distribution_panel.set_note(
            distribution.note or "Click a cell of the drift chart to compare another run.")
        self.distribution_loaded.emit()

    def _on_chart_hovered(self, text: str) -> None:
        self.hover_label.setText(text.replace("\n", " · ") or " ")

    # -- the period -----------------------------------------------------------------------------

    def time_range(self) -> tuple[float, float] | None:
        """The period shown, in POSIX seconds."""
        if self.health is None or not self.health.runs:
            return None
        (start, end), _ = self.metric_chart.viewRange()
        return float(start), float(end)

    def _on_period_combo_changed(self, text: str) -> None:
        if text != "Custom":
            self._apply_period(text)

    def _apply_period(self, text: str) -> None:
        if self.health is None or not self.health.runs:
            return
        last = self.health.runs[-1].time
        days = dict(PERIODS).get(text)
        # Half a day of margin either side, so that "last 7 days" of daily runs shows 7 runs.
        first = self.health.runs[0].time - DAY / 2 if days is None \
            else last - (days - 0.5) * DAY
        self.set_time_range(min(first, last - DAY), last + DAY / 2)

    def set_time_range(self, start: float, end: float) -> None:
        before = self.metric_chart.viewRange()[0]
        self.metric_chart.setXRange(start, end, padding=0)
        if self.metric_chart.viewRange()[0] == before:  # no range signal: follow it here
            self._on_time_chart_range_changed(self.metric_chart)

    def _on_date_edit_changed(self) -> None:
        if self._syncing_range or self.health is None:  # a period needs runs to show
            return
        start = QDateTime(self.from_edit.date(), QTime(0, 0)).toSecsSinceEpoch()
        end = QDateTime(self.to_edit.date().addDays(1), QTime(0, 0)).toSecsSinceEpoch()
        if end > start:
            with QSignalBlocker(self.period_combo):
                self.period_combo.setCurrentText("Custom")
            self.set_time_range(float(start), float(end))

    def _on_period_changed(self, *_args) -> None:
        time_range = self.time_range()
        if time_range is None:
            return
        self._syncing_range = True
        try:
            self.from_edit.setDate(_qdate(time_range[0]))
            self.to_edit.setDate(_qdate(time_range[1] - 1))
        finally:
            self._syncing_range = False
        self._draw_heatmap()

    # -- runs and exports -----------------------------------------------------------------------

    def open_run(self, run_id: int) -> RunDialog:
        dialog = RunDialog(self._session, run_id, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        self.run_dialog_opened.emit(dialog)
        return dialog

    def _metric_figure(self):
        from modelledger.services.health.figures import series_figure

        series, markers, time_range = self.selected_series(), self.health.markers, \
            self.time_range()
        return lambda: series_figure(series, markers, time_range=time_range)

    def _kpi_figure(self):
        from modelledger.services.health.figures import kpi_figure

        (band, series), markers, time_range = self.selected_kpi(), self.health.markers, \
            self.time_range()
        return lambda: kpi_figure(series, band, markers, time_range=time_range)

    def _heatmap_figure(self):
        from modelledger.services.health.figures import heatmap_figure

        heatmap, time_range = self.heatmap_chart.heatmap, self.time_range()
        return lambda: heatmap_figure(heatmap, time_range=time_range)

    def _distribution_figure(self):
        from modelledger.services.health.figures import distribution_figure

        distribution = self.distribution
        return lambda: distribution_figure(distribution)

    def _performance_figure(self):
        from modelledger.services.health.figures import performance_figure

        health, time_range = self.health, self.time_range()
        return lambda: performance_figure(health, time_range=time_range)

    def _default_name(self, what: str, suffix: str) -> str:
        monitor = self.health.monitor.name if self.health else "health"
        stem = f"{self.model_name}-{monitor}-{what}".replace(" ", "-").replace("/", "-")
        return str(Path.home() / f"{stem}.{suffix}")

    def export_chart(self, panel: ChartPanel, kind: str, path: str | None = None) -> None:
        """Save one chart as shown (same data and period) as a PNG or SVG image."""
        if self.health is None:
            return
        if path is None:
            chosen, _ = QFileDialog.getSaveFileName(
                self, "Export chart", self._default_name(panel.objectName().removesuffix(
                    "Panel"), kind), IMAGE_FILTERS,
                "SVG image (*.svg)" if kind == "svg" else "PNG image (*.png)")
            if not chosen:
                return
            path = chosen if Path(chosen).suffix else f"{chosen}.{kind}"
        build = self.panel_figures[panel]()
        target = Path(path)

        def render(control):
            from modelledger.services.health.figures import save_figure

            return save_figure(build(), target)

        self._session.work.read(f"Exporting a chart to {target.name}", render,
                                on_success=self._on_exported, context=self)

    def export_page_pdf(self, path: str | None = None) -> None:
        """The page as shown (same monitor, period and distribution) on one PDF page."""
        if self.health is None or not self.health.runs:
            return
        if path is None:
            chosen, _ = QFileDialog.getSaveFileName(
                self, "Export model health as PDF", self._default_name("health", "pdf"),
                "PDF document (*.pdf)")
            if not chosen:
                return
            path = chosen if Path(chosen).suffix else f"{chosen}.pdf"
        health, name, time_range = self.health, self.model_name, self.time_range()
        distribution, user, target = self.distribution, self._session.workspace.actor.user, \
            Path(path)

        def render(control):
            from modelledger.services.health.figures import health_page_pdf

            return health_page_pdf(name, health, target, exported_by=user,
                                   now=datetime.now(UTC), time_range=time_range,
                                   distribution=distribution)

        self._session.work.read(f"Exporting {target.name}", render,
                                on_success=self._on_exported, context=self)

    def _on_exported(self, path: Path) -> None:
        self.status_label.setText(f"Saved {html.escape(str(path))}")
        self.exported.emit(str(path))


def _refill(combo: QComboBox, choices: list[tuple[str, object]], default=None) -> None:
    """New choices, keeping the current one when it is still there."""
    keep = combo.currentData()
    with QSignalBlocker(combo):
        combo.clear()
        for label, data in choices:
            combo.addItem(label, data)
        index = combo.findData(keep) if keep is not None else -1
        if index < 0 and default is not None:
            index = combo.findData(default)
        combo.setCurrentIndex(max(index, 0) if choices else -1)


def _first_metric(health: MonitorHealth) -> tuple[str, str] | None:
    """The metric shown first: how much of the input drifted, the broadest signal there is."""
    metrics = health.timeline_metrics()
    return ("drift.share", "") if ("drift.share", "") in metrics else next(iter(metrics), None)


def _most_drifted(health: MonitorHealth) -> str | None:
    """The feature with the highest PSI at the latest run."""
    best, chosen = -1.0, None
    for feature in health.drift_features():
        series = health.get("drift.psi", feature)
        if series is not None and series.values.size:
            value = float(series.values[-1])
            if value == value and value > best:
                best, chosen = value, feature
    return chosen


def _on_screen(widget: QWidget) -> bool:
    """Whether the widget is shown in an exposed window, at least in part (a chart scrolled
    out of view is painted only when it scrolls in)."""
    window = widget.window().windowHandle()
    return (widget.isVisible() and window is not None and window.isExposed()
            and not widget.visibleRegion().isEmpty())


def _local(seconds: float) -> str:
    return f"{datetime.fromtimestamp(seconds).astimezone():%Y-%m-%d %H:%M}"


def _qdate(seconds: float) -> QDate:
    moment = datetime.fromtimestamp(seconds)
    return QDate(moment.year, moment.month, moment.day)
