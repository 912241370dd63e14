"""Interactive health charts, drawn with pyqtgraph (chosen over matplotlib by
`benchmarks/chart_bench.py`: a 1,000,000-point series pans and redraws in a few milliseconds).

Each chart draws one of the data objects of `services.health_charts`; the exported figures draw
the same objects with matplotlib. Time axes show local time, zoom and pan with the mouse wheel
and drag (horizontally only: the value axis keeps its bands in view), and clicking a point emits
its run id. Imported lazily by the model health page: numpy and pyqtgraph stay out of start-up.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFontMetricsF, QPalette
from PySide6.QtWidgets import QApplication, QWidget

from modelledger.core.palette import status_colour
from modelledger.services.health.chart_data import (
    Distribution,
    DriftHeatmap,
    KpiBand,
    MetricSeries,
    MonitorHealth,
    VersionMarker,
    short_number,
)

# Above this many points, per-point symbols would hide the line and cost more than they show:
# the line alone is drawn (downsampled) and alerts keep their markers.
MAX_SYMBOLS = 2_000
HOVER_PIXELS = 12  # how near the pointer must be to a point for hover and click
BOUNDED_PERFORMANCE = ("accuracy", "precision", "recall", "f1", "roc_auc", "r2")
LINE_COLOURS = ("#1f6fb2", "#c45a00", "#2a8f6a", "#8e44ad", "#b8860b", "#d1495b", "#5b6770")


@dataclass(frozen=True)
class ChartTheme:
    """Colours of one palette; dark when the window background is dark."""

    dark: bool
    background: str
    foreground: str
    grid_alpha: float
    line: str
    marker_line: str  # version markers
    warn_band: QColor
    critical_band: QColor
    ok_band: QColor
    missing: str  # heatmap cells without a value

    @classmethod
    def current(cls, widget: QWidget | None = None) -> ChartTheme:
        palette = widget.palette() if widget is not None else QApplication.palette()
        background = palette.color(QPalette.ColorRole.Base)
        dark = background.lightness() < 128
        return cls(
            dark=dark,
            background=background.name(),
            foreground=palette.color(QPalette.ColorRole.Text).name(),
            grid_alpha=0.18 if dark else 0.25,
            line="#6fb3ff" if dark else "#1f6fb2",
            marker_line="#b0b0b0" if dark else "#555555",
            warn_band=QColor(255, 183, 77, 60 if dark else 55),
            critical_band=QColor(239, 83, 80, 60 if dark else 45),
            ok_band=QColor(102, 187, 106, 45 if dark else 35),
            missing="#3a3a3a" if dark else "#e4e4e4",
        )


class ClippedAxisPainting:
    """Paints an axis (its ticks, labels and grid lines) clipped to its own rectangle.

    Without a rectangular clip, Qt's raster engine draws a translucent line as a run of spans
    and hands every 96 or more of them to its GUI thread pool, then waits for it. The grid
    lines made a chart's repaint take 4-49 ms instead of 1-4 ms on two busy cores. With the
    clip, which holds all that the axis draws, Qt writes the same pixels directly."""

    def paint(self, painter, option, widget) -> None:
        painter.save()
        painter.setClipRect(self.boundingRect(), Qt.ClipOperation.IntersectClip)
        super().paint(painter, option, widget)
        painter.restore()


class ChartAxis(ClippedAxisPainting, pg.AxisItem):
    """An axis of numbers, or of the labels it is given."""


class LocalDateAxis(ClippedAxisPainting, pg.DateAxisItem):
    """Date ticks in the viewer's local time (pyqtgraph's default would be UTC offsets)."""

    def __init__(self, orientation: str = "bottom") -> None:
        super().__init__(orientation=orientation, utcOffset=-datetime.now().astimezone()
                         .utcoffset().total_seconds())


def _when(seconds: float) -> str:
    return f"{datetime.fromtimestamp(seconds).astimezone():%Y-%m-%d %H:%M}"


def _number(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.4g}"


class ThemedPlot(pg.PlotWidget):
    """A plot that follows the application's light or dark palette."""

    theme: ChartTheme | None = None  # None until constructed (Qt sends palette events before)
    painted = Signal()  # after each paint, so that a page can draw its charts one at a time

    def __init__(self, parent: QWidget | None = None, *, date_axis: bool = True,
                 right_axis: bool = False) -> None:
        axes = {"bottom": LocalDateAxis() if date_axis else ChartAxis("bottom"),
                "left": ChartAxis("left")}
        if right_axis:  # pyqtgraph shows every axis it is given
            axes["right"] = ChartAxis("right")
        # No pyqtgraph context menus: one export path, the panel's Export menu (and not
        # building them saves a fifth of a chart's construction).
        super().__init__(parent, axisItems=axes, enableMenu=False)
        self.setMinimumHeight(180)
        self.plotItem.hideButtons()
        self.theme = ChartTheme.current(self)
        self._apply_theme()

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        self.painted.emit()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        palette_events = (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange)
        if self.theme is not None and event.type() in palette_events:
            self.theme = ChartTheme.current(self)
            self._apply_theme()
            self.redraw()

    def _apply_theme(self) -> None:
        self.setBackground(self.theme.background)
        for name in ("left", "bottom"):
            axis = self.plotItem.getAxis(name)
            axis.setPen(self.theme.foreground)
            axis.setTextPen(self.theme.foreground)
        self.plotItem.showGrid(x=True, y=True, alpha=self.theme.grid_alpha)

    def redraw(self) -> None:
        """Draw the current data again (after a palette change)."""

    def fit_axis_to_labels(self, name: str, labels: Iterable[str] | None = None) -> None:
        """Make room beside a vertical axis for the labels it is about to draw (by default,
        those of its view's range) before it paints. Left to itself, pyqtgraph measures them as
        it paints and then resizes the axis: the chart is laid out and painted a second time."""
        axis = self.plotItem.getAxis(name)
        metrics = QFontMetricsF(axis.style["tickFont"] or self.font())
        if labels is None:
            low, high = axis.linkedView().viewRange()[1]
            labels = axis_labels(axis, low, high, self.plotItem.vb.height(), metrics.height())
        square = QRectF(0, 0, 100, 100)  # pyqtgraph measures a label centred in this square
        widths = [metrics.boundingRect(square, Qt.AlignmentFlag.AlignCenter, label).width()
                  for label in labels]
        axis.textWidth = math.ceil(max(widths, default=0.0))
        axis.setWidth(None)  # the width follows textWidth


def axis_labels(axis: pg.AxisItem, low: float, high: float, pixels: float,
                line_height: float) -> list[str]:
    """The labels that pyqtgraph draws on a vertical axis over low..high: its levels of ticks
    while the labels fill less of the axis than its limits (`AxisItem.generateDrawSpecs`)."""
    pixels = max(pixels, 1.0)
    shown: list[str] = []
    levels = axis.tickValues(low, high, pixels)[:axis.style["maxTextLevel"] + 1]
    for level, (spacing, values) in enumerate(levels):
        labels = axis.tickStrings(values, axis.autoSIPrefixScale * axis.scale, spacing)
        fill = (len(shown) + len(labels)) * line_height * 0.8 / pixels
        if level and any(len(shown) >= count and fill >= limit
                         for count, limit in axis.style["textFillLimits"]):
            break
        shown += labels
    return shown


class TimeSeriesChart(ThemedPlot):
    """One metric over time with its warn and critical bands (or a KPI with its target and
    tolerance), the runs where alerts were raised, and version changes."""

    run_clicked = Signal(int)
    hovered = Signal(str)  # what the pointer is over, "" when nothing

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.series: MetricSeries | None = None
        self.kpi: KpiBand | None = None
        self.markers: tuple[VersionMarker, ...] = ()
        self.band_areas: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []
        self.line: pg.PlotDataItem | None = None
        self.points: pg.ScatterPlotItem | None = None
        self.alert_points: pg.ScatterPlotItem | None = None
        self.marker_lines: list[pg.InfiniteLine] = []
        self.setMouseEnabled(x=True, y=False)
        self.plotItem.vb.setMouseMode(pg.ViewBox.PanMode)
        self._tip = pg.TextItem(anchor=(0, 1))
        self._tip.setZValue(30)
        self.scene().sigMouseMoved.connect(self._on_scene_mouse_moved)
        self.scene().sigMouseClicked.connect(self._on_scene_mouse_clicked)
        self.sigXRangeChanged.connect(self._label_markers_in_view)

    def set_series(self, series: MetricSeries | None, markers: Sequence[VersionMarker] = (),
                   kpi: KpiBand | None = None) -> None:
        self.series, self.markers, self.kpi = series, tuple(markers), kpi
        self.redraw()

    def redraw(self) -> None:
        self.clear()
        self.band_areas, self.marker_lines = [], []
        self.line = self.points = self.alert_points = None
        self.addItem(self._tip, ignoreBounds=True)
        self._tip.setText("")
        series = self.series
        if series is None or series.times.size == 0:
            return
        low, high = value_range(series, self.kpi)
        self.band_areas = (kpi_band_areas(series.times, self.kpi, low, high) if self.kpi
                           else threshold_band_areas(series, low, high))
        for severity, times, lower, upper in self.band_areas:
            brush = {"ok": self.theme.ok_band, "warn": self.theme.warn_band,
                     "critical": self.theme.critical_band}[severity]
            bottom = pg.PlotCurveItem(times, lower, pen=None)
            top = pg.PlotCurveItem(times, upper, pen=None)
            self.addItem(pg.FillBetweenItem(bottom, top, brush=brush))
        if self.kpi is not None:
            self.addItem(pg.InfiniteLine(self.kpi.target, angle=0, pen=pg.mkPen(
                self.theme.foreground, width=1, style=Qt.PenStyle.DashLine),
                label=f"target {self.kpi.target:g}",
                labelOpts={"position": 0.98, "color": self.theme.foreground,
                           "anchors": [(1, 0), (1, 0)]}))
        # The value axis always holds all the data: pyqtgraph's guard against values far
        # outside it, redone at each change of the view, is off.
        self.line = self.plot(series.times, series.values,
                              pen=pg.mkPen(self.theme.line, width=2), connect="finite",
                              dynamicRangeLimit=None)
        self.line.setDownsampling(auto=True, method="peak")
        self.line.setClipToView(True)
        if series.times.size <= MAX_SYMBOLS:
            self.points = pg.ScatterPlotItem(
                series.times, series.values, size=7, pen=pg.mkPen(self.theme.background),
                brush=status_brushes(series.statuses), data=series.run_ids)
            self.addItem(self.points)
        if series.alert_indices.size:
            index = series.alert_indices
            self.alert_points = pg.ScatterPlotItem(
                series.times[index], series.values[index], symbol="t1", size=14,
                pen=pg.mkPen(self.theme.foreground, width=1),
                brush=status_brushes(series.alert_severities), data=series.run_ids[index])
            self.alert_points.setZValue(20)
            self.addItem(self.alert_points)
        for marker in self.markers:
            line = pg.InfiniteLine(
                marker.time, angle=90,
                pen=pg.mkPen(self.theme.marker_line, width=1, style=Qt.PenStyle.DashLine),
                label=marker.label,
                labelOpts={"position": 0.95, "color": self.theme.foreground,
                           "rotateAxis": (1, 0), "anchors": [(1, 0), (1, 0)]})
            self.addItem(line, ignoreBounds=True)
            self.marker_lines.append(line)
        self._label_markers_in_view()
        padding = (high - low) * 0.05 or 0.05
        self.setYRange(low - padding, high + padding, padding=0)
        self.setLimits(xMin=float(series.times[0]) - 86400 * 3650,
                       xMax=float(series.times[-1]) + 86400 * 3650)
        self.fit_axis_to_labels("left")

    def nearest_index(self, scene_pos: QPointF) -> int | None:
        """The point under the pointer, within HOVER_PIXELS on screen."""
        series = self.series
        if series is None or series.times.size == 0:
            return None
        view = self.plotItem.vb
        if not view.sceneBoundingRect().contains(scene_pos):
            return None
        x = view.mapSceneToView(scene_pos).x()
        position = int(np.searchsorted(series.times, x))
        candidates = [i for i in (position - 1, position) if 0 <= i < series.times.size]
        best, best_distance = None, float(HOVER_PIXELS)
        for index in candidates:
            if not math.isfinite(series.values[index]):
                continue
            point = view.mapViewToScene(QPointF(series.times[index], series.values[index]))
            distance = math.hypot(point.x() - scene_pos.x(), point.y() - scene_pos.y())
            if distance <= best_distance:
                best, best_distance = index, distance
        return best

    def describe_point(self, index: int) -> str:
        series = self.series
        assert series is not None
        alert = " · alert raised" if index in set(series.alert_indices.tolist()) else ""
        return (f"{series.label}: {_number(float(series.values[index]))} "
                f"({series.statuses[index]}){alert}\n{_when(float(series.times[index]))} · "
                f"run #{int(series.run_ids[index])}")

    def _label_markers_in_view(self) -> None:
        """A label is drawn beside its line, inside the view: the label of a version change
        just before the period would show, cut in half, over the period's first days."""
        low, high = self.viewRange()[0]
        for line in self.marker_lines:
            line.label.setVisible(bool(low <= line.value() <= high))

    def _on_scene_mouse_moved(self, scene_pos: QPointF) -> None:
        index = self.nearest_index(scene_pos)
        text = "" if index is None else self.describe_point(index)
        if index is not None:
            assert self.series is not None
            self._tip.setText(text, color=self.theme.foreground)
            self._tip.setPos(float(self.series.times[index]), float(self.series.values[index]))
            self.setCursor(Qt.CursorShape.PointingHandCursor)
        else:
            self._tip.setText("")
            self.unsetCursor()
        self.hovered.emit(text)

    def _on_scene_mouse_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self.series is None:
            return
        index = self.nearest_index(event.scenePos())
        if index is not None:
            event.accept()
            self.run_clicked.emit(int(self.series.run_ids[index]))


def status_brushes(statuses: Sequence[str]) -> list[QBrush]:
    """A brush per point, one object per status: pyqtgraph draws a symbol once per brush object
    (a new brush for each point drew every point's symbol again)."""
    brushes = {status: pg.mkBrush(status_colour(status)) for status in set(statuses)}
    return [brushes[status] for status in statuses]


def value_range(series: MetricSeries, kpi: KpiBand | None) -> tuple[float, float]:
    """The value axis: the data and the thresholds (or KPI target band) all in view."""
    values = [series.values]
    if kpi is not None:
        (ok_low, ok_high), (warn_low, warn_high) = kpi.limits()
        values.append(np.array([kpi.target, ok_low, ok_high, warn_low, warn_high]))
    else:
        values += [series.warn, series.critical]
    with warnings.catch_warnings():  # an all-NaN array has no minimum: it is skipped below
        warnings.simplefilter("ignore", RuntimeWarning)
        lows = [float(np.nanmin(v)) for v in values if v.size]
        highs = [float(np.nanmax(v)) for v in values if v.size]
    lows, highs = [v for v in lows if math.isfinite(v)], [v for v in highs if math.isfinite(v)]
    if not lows:
        return 0.0, 1.0
    low, high = min(lows), max(highs)
    if low == high:
        low, high = low - 0.5, high + 0.5
    return low, high


def _filled(values: np.ndarray) -> np.ndarray:
    """Thresholds missing at some runs take the nearest known one, so a band has no holes."""
    finite = np.isfinite(values)
    if finite.all():
        return values
    known = np.flatnonzero(finite)
    if known.size == 0:
        return values
    positions = np.searchsorted(known, np.arange(values.size), side="right") - 1
    return values[known[np.clip(positions, 0, known.size - 1)]]


def threshold_band_areas(series: MetricSeries, low: float, high: float
                         ) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """(severity, times, lower, upper) of the warn and critical bands, following the
    thresholds in force at each run; the critical band reaches the edge of the view."""
    if not series.has_thresholds or series.times.size == 0:
        return []
    times = series.times
    warn, critical = _filled(series.warn), _filled(series.critical)
    if times.size == 1:  # a band needs a width: half a day either side of a single run
        times = np.array([times[0] - 43200.0, times[0] + 43200.0])
        warn, critical = np.repeat(warn, 2), np.repeat(critical, 2)
    # Both thresholds step at the union of their changes.
    changed = np.flatnonzero((warn[1:] != warn[:-1]) | (critical[1:] != critical[:-1])) + 1
    keep = np.concatenate(([0], changed))
    step_times = np.concatenate(([times[0]], np.repeat(times[changed], 2), [times[-1]]))
    warn, critical = np.repeat(warn[keep], 2), np.repeat(critical[keep], 2)
    padding = (high - low) * 0.05 or 0.05
    if series.higher_is_worse:
        edge = np.full(step_times.size, high + padding)
        return [("warn", step_times, warn, critical), ("critical", step_times, critical, edge)]
    edge = np.full(step_times.size, low - padding)
    return [("warn", step_times, critical, warn), ("critical", step_times, edge, critical)]


def kpi_band_areas(times: np.ndarray, kpi: KpiBand, low: float, high: float
                   ) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """The tolerance band (ok) and the twice-tolerance band (warn) around the target."""
    padding = (high - low) * 0.05 or 0.05
    span = np.array([times[0] - 43200.0, times[-1] + 43200.0])
    (ok_low, ok_high), (warn_low, warn_high) = kpi.limits()

    def flat(value: float) -> np.ndarray:
        clipped = min(max(value, low - padding), high + padding)
        return np.full(2, clipped)

    areas = [("ok", span, flat(ok_low), flat(ok_high))]
    if math.isfinite(warn_low):
        areas.append(("warn", span, flat(warn_low), flat(ok_low)))
    if math.isfinite(warn_high):
        areas.append(("warn", span, flat(ok_high), flat(warn_high)))
    return areas


class PerformanceChart(ThemedPlot):
    """Performance metrics on a 0-1 scale over time, one line each, and how many labelled rows
    each run had (labels arrive late: a short bar means a metric computed on few rows).
    Unbounded metrics (log loss, MAE, RMSE) have their own scale: the metric chart shows them."""

    run_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, right_axis=True)
        self.health: MonitorHealth | None = None
        self.lines: dict[str, pg.PlotCurveItem] = {}
        self.colours: dict[str, str] = {}
        self.points: pg.ScatterPlotItem | None = None  # every line's points, clickable
        self.label_bars: pg.BarGraphItem | None = None
        self.setMouseEnabled(x=True, y=False)
        self._labels_view = pg.ViewBox()
        self._labels_view.setMouseEnabled(x=False, y=False)
        self.plotItem.scene().addItem(self._labels_view)
        self.plotItem.getAxis("right").linkToView(self._labels_view)
        self.plotItem.getAxis("right").setLabel("labelled rows")
        self._labels_view.setXLink(self.plotItem)
        self._labels_view.setZValue(-10)
        self.plotItem.vb.sigResized.connect(self._on_view_resized)

    def _on_view_resized(self) -> None:
        self._labels_view.setGeometry(self.plotItem.vb.sceneBoundingRect())

    def set_health(self, health: MonitorHealth | None) -> None:
        self.health = health
        self.redraw()

    def _apply_theme(self) -> None:
        super()._apply_theme()
        axis = self.plotItem.getAxis("right")
        axis.setPen(self.theme.foreground)
        axis.setTextPen(self.theme.foreground)

    def shown_metrics(self) -> list[str]:
        return [] if self.health is None else [
            metric for metric in self.health.performance_metrics()
            if metric.removeprefix("performance.") in BOUNDED_PERFORMANCE]

    def legend_html(self) -> str:
        assert self.health is not None
        return " &nbsp; ".join(
            f"<span style='color:{self.colours[metric]}'>■</span> "
            f"{self.health.get(metric).label}" for metric in self.lines) + \
            " &nbsp; <span style='color:#999'>■</span> labelled rows"

    def redraw(self) -> None:
        self.clear()
        self._labels_view.clear()
        self.lines, self.colours, self.points, self.label_bars = {}, {}, None, None
        health = self.health
        if health is None:
            return
        labelled = health.get("performance.labelled_rows")
        if labelled is not None and labelled.times.size:
            width = float(np.median(np.diff(labelled.times))) * 0.6 if labelled.times.size > 1 \
                else 43200.0
            self.label_bars = pg.BarGraphItem(
                x=labelled.times, height=np.nan_to_num(labelled.values), width=width,
                brush=QColor(128, 128, 128, 60), pen=None)
            self._labels_view.addItem(self.label_bars)
            self._labels_view.setYRange(0, float(np.nanmax(labelled.values)) * 3 or 1)
        values, times, run_ids, brushes = [], [], [], []
        for number, metric in enumerate(self.shown_metrics()):
            series = health.get(metric)
            assert series is not None
            colour = LINE_COLOURS[number % len(LINE_COLOURS)]
            line = pg.PlotCurveItem(series.times, series.values, pen=pg.mkPen(colour, width=2),
                                    connect="finite")
            self.addItem(line)
            self.lines[metric], self.colours[metric] = line, colour
            finite = np.isfinite(series.values)
            values.append(series.values[finite])
            times.append(series.times[finite])
            run_ids.append(series.run_ids[finite])
            brushes += [pg.mkBrush(colour)] * int(finite.sum())
        if values:
            # One item for the points of all the lines: a line item with its own points costs
            # pyqtgraph several times as much to build.
            self.points = pg.ScatterPlotItem(
                np.concatenate(times), np.concatenate(values), size=6, pen=None, brush=brushes,
                data=np.concatenate(run_ids))
            self.points.sigClicked.connect(self._on_points_clicked)
            self.addItem(self.points)
        for marker in health.markers:
            self.addItem(pg.InfiniteLine(marker.time, angle=90, pen=pg.mkPen(
                self.theme.marker_line, style=Qt.PenStyle.DashLine)), ignoreBounds=True)
        finite = np.concatenate(values) if values else np.empty(0)
        if finite.size:
            low, high = float(finite.min()), float(finite.max())
            padding = max((high - low) * 0.15, 0.005)
            self.setYRange(max(low - padding, 0.0) if low >= 0 else low - padding,
                           high + padding, padding=0)
        self.fit_axis_to_labels("left")
        self.fit_axis_to_labels("right")

    def _on_points_clicked(self, _item, points, _event) -> None:
        if len(points):
            self.run_clicked.emit(int(points[0].data()))


def _label_step(count: int, pixels: float, pixels_per_label: float) -> int:
    """Label every n-th of ``count`` items so that labels get ``pixels_per_label`` each."""
    fitting = max(int(pixels // pixels_per_label), 1) if pixels > 0 else 8
    return max(1, math.ceil(count / fitting))


def heatmap_colour_map(heatmap: DriftHeatmap) -> tuple[pg.ColorMap, float, float]:
    """Pale below warn, amber at warn, red from critical; p-values the other way round (a small
    p-value is the alarming one)."""
    if heatmap.measure == "drift.p_value":
        return (pg.ColorMap([0.0, 0.01, 0.05, 1.0],
                            ["#b00020", "#e65100", "#ffcc80", "#fff8e1"]), 0.0, 1.0)
    warn = heatmap.warn if heatmap.warn is not None else 0.1
    critical = heatmap.critical if heatmap.critical is not None else 0.25
    finite = heatmap.values[np.isfinite(heatmap.values)]
    top = max(critical * 2, float(finite.max()) if finite.size else 0.0)
    stops = [0.0, warn / top, critical / top, 1.0]
    return pg.ColorMap(stops, ["#fff8e1", "#ffb74d", "#e53935", "#7f0000"]), 0.0, top


class HeatmapChart(ThemedPlot):
    """Drift of each feature (rows) at each run (columns). Columns are runs in order, not
    calendar time, so that irregular schedules leave no gaps; the axis labels give dates."""

    # Class defaults: Qt sends resize events while the base class is still being constructed.
    heatmap: DriftHeatmap | None = None
    columns = np.empty(0, dtype=np.int64)  # indices into heatmap.times shown
    cell_clicked = Signal(str, int)  # feature, run id
    run_clicked = Signal(int)  # double-click: open the run
    hovered = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, date_axis=False)
        self.image = pg.ImageItem()
        self.setMouseEnabled(x=False, y=False)
        self.plotItem.invertY(True)
        self.plotItem.showGrid(x=False, y=False)
        self.scene().sigMouseMoved.connect(self._on_scene_mouse_moved)
        self.scene().sigMouseClicked.connect(self._on_scene_mouse_clicked)

    def _apply_theme(self) -> None:
        super()._apply_theme()
        self.plotItem.showGrid(x=False, y=False)

    def set_heatmap(self, heatmap: DriftHeatmap | None,
                    time_range: tuple[float, float] | None = None) -> None:
        self.heatmap = heatmap
        if heatmap is None:
            self.columns = np.empty(0, dtype=np.int64)
        elif time_range is None:
            self.columns = np.arange(heatmap.times.size)
        else:
            self.columns = np.flatnonzero((heatmap.times >= time_range[0]) &
                                          (heatmap.times <= time_range[1]))
        self.redraw()

    def shown_values(self) -> np.ndarray:
        """features x shown runs, as drawn."""
        assert self.heatmap is not None
        return self.heatmap.values[:, self.columns]

    def redraw(self) -> None:
        self.clear()
        heatmap = self.heatmap
        if heatmap is None or not heatmap.features or self.columns.size == 0:
            return
        colour_map, low, high = heatmap_colour_map(heatmap)
        values = heatmap.colour_values()[:, self.columns]
        rgba = colour_map.map(np.clip((np.nan_to_num(values, nan=low) - low) / (high - low),
                                      0.0, 1.0), mode="byte")
        rgba[~np.isfinite(values)] = QColor(self.theme.missing).getRgb()
        self.image = pg.ImageItem(np.ascontiguousarray(rgba.transpose(1, 0, 2)))
        self.addItem(self.image)
        self.setXRange(0, self.columns.size, padding=0)
        self.setYRange(0, len(heatmap.features), padding=0)
        self._update_ticks()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        # plotItem is None once the widget is closed (pyqtgraph drops it).
        if self.plotItem is not None and self.heatmap is not None and self.columns.size:
            self._update_ticks()

    def _update_ticks(self) -> None:
        """As many feature names and dates as fit without overlapping."""
        heatmap = self.heatmap
        assert heatmap is not None
        view = self.plotItem.vb.size()
        rows = len(heatmap.features)
        row_step = _label_step(rows, view.height(), 15)
        row_ticks = [(i + 0.5, name) for i, name in enumerate(heatmap.features)
                     if i % row_step == 0]
        self.plotItem.getAxis("left").setTicks([row_ticks])
        self.fit_axis_to_labels("left", [name for _, name in row_ticks])
        column_step = _label_step(self.columns.size, view.width(), 64)
        self.plotItem.getAxis("bottom").setTicks(
            [[(i + 0.5, f"{datetime.fromtimestamp(heatmap.times[c]):%b %d}")
              for i, c in enumerate(self.columns) if i % column_step == 0]])

    def cell_at(self, scene_pos: QPointF) -> tuple[int, int] | None:
        """(feature row, shown column) under the pointer."""
        if self.heatmap is None or self.columns.size == 0:
            return None
        view = self.plotItem.vb
        if not view.sceneBoundingRect().contains(scene_pos):
            return None
        point = view.mapSceneToView(scene_pos)
        row, column = math.floor(point.y()), math.floor(point.x())
        if 0 <= row < len(self.heatmap.features) and 0 <= column < self.columns.size:
            return row, column
        return None

    def describe_cell(self, row: int, column: int) -> str:
        heatmap = self.heatmap
        assert heatmap is not None
        run = int(self.columns[column])
        return (f"{heatmap.features[row]} · {_when(float(heatmap.times[run]))}: "
                f"{_number(float(heatmap.values[row, run]))} · run #{heatmap.run_ids[run]}")

    def _on_scene_mouse_moved(self, scene_pos: QPointF) -> None:
        cell = self.cell_at(scene_pos)
        text = "" if cell is None else self.describe_cell(*cell)
        self.setToolTip(text)
        self.hovered.emit(text)

    def _on_scene_mouse_clicked(self, event) -> None:
        cell = self.cell_at(event.scenePos())
        if cell is None or self.heatmap is None or event.button() != Qt.MouseButton.LeftButton:
            return
        event.accept()
        row, column = cell
        run_id = int(self.heatmap.run_ids[self.columns[column]])
        if event.double():
            self.run_clicked.emit(run_id)
        else:
            self.cell_clicked.emit(self.heatmap.features[row], run_id)


class DistributionChart(ThemedPlot):
    """Reference against current shares over the reference's bins (numeric: equal-frequency
    bins, so the reference bars are level and a shift shows as bars rising and falling) or
    categories."""

    distribution: Distribution | None = None  # a class default: see HeatmapChart

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, date_axis=False)
        self.reference_bars: pg.BarGraphItem | None = None
        self.current_bars: pg.BarGraphItem | None = None
        self.setMouseEnabled(x=False, y=False)
        self.plotItem.showGrid(x=False, y=True, alpha=self.theme.grid_alpha)
        self.legend = self.addLegend(offset=(-10, 10))

    def _apply_theme(self) -> None:
        super()._apply_theme()
        self.plotItem.showGrid(x=False, y=True, alpha=self.theme.grid_alpha)

    def set_distribution(self, distribution: Distribution | None) -> None:
        self.distribution = distribution
        self.redraw()

    def redraw(self) -> None:
        self.clear()
        self.legend.clear()
        self.legend.setLabelTextColor(self.theme.foreground)
        self.legend.setBrush(pg.mkBrush(self.theme.background))
        self.reference_bars = self.current_bars = None
        distribution = self.distribution
        if distribution is None:
            return
        positions = np.arange(len(distribution.labels), dtype=float)
        paired = distribution.current is not None
        self.reference_bars = pg.BarGraphItem(
            x=positions - (0.2 if paired else 0.0), height=np.asarray(distribution.reference),
            width=0.4 if paired else 0.7,
            brush=QColor("#7d8c9c" if self.theme.dark else "#9aa7b4"), pen=None)
        self.addItem(self.reference_bars)
        self.legend.addItem(self.reference_bars, "reference")
        if paired:
            self.current_bars = pg.BarGraphItem(
                x=positions + 0.2, height=np.asarray(distribution.current), width=0.4,
                brush=QColor(self.theme.line), pen=None)
            self.addItem(self.current_bars)
            self.legend.addItem(self.current_bars, f"run of {_when(distribution.run_time)[:10]}")
        self.setXRange(-0.6, len(distribution.labels) - 0.4, padding=0)
        self._fit_to_size()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.plotItem is not None and self.distribution is not None:
            self._fit_to_size()

    def _fit_to_size(self) -> None:
        """Room above the tallest bar for the legend in the top corner (a fixed share of the
        height hid a tall last bar behind it in a short panel), and ticks that fit."""
        distribution = self.distribution
        shares = list(distribution.reference) + list(distribution.current or ())
        pixels = self.plotItem.vb.height()
        legend = self.legend.boundingRect().height() + 10 + 6  # its offset, then a gap
        free = 1 - legend / pixels if pixels > 2 * legend else 0.5
        self.setYRange(0, max(shares, default=0.0) / free or 1, padding=0)
        self._update_ticks()
        self.fit_axis_to_labels("left")

    def ticks(self) -> list[tuple[float, str]]:
        """Numeric bins: their edges, between the bars. Categories: their names, shortened."""
        distribution = self.distribution
        assert distribution is not None
        if distribution.kind == "numeric":
            inner = distribution.edges[1:-1]
            return [(i + 0.5, short_number(edge)) for i, edge in enumerate(inner)]
        return [(float(i), label if len(label) <= 14 else label[:13] + "…")
                for i, label in enumerate(distribution.labels)]

    def _update_ticks(self) -> None:
        ticks = self.ticks()
        step = _label_step(len(ticks), self.plotItem.vb.size().width(), 58)
        self.plotItem.getAxis("bottom").setTicks(
            [[tick for i, tick in enumerate(ticks) if i % step == 0]])
