"""The chart widgets on their own: value axes that need no second layout when they first paint,
and point symbols drawn once per status."""

from __future__ import annotations

import numpy as np
import pytest

from modelledger.services.health.chart_data import DriftHeatmap, MetricSeries
from modelledger.ui.health.charts import HeatmapChart, TimeSeriesChart, status_brushes

DAY = 86400.0


def _series(values: list[float]) -> MetricSeries:
    count = len(values)
    return MetricSeries(
        "kpi.margin", "", "margin", 1.7e9 + np.arange(count) * DAY,
        np.asarray(values, dtype=float), ("ok",) * count, np.arange(count),
        warn=np.full(count, np.nan), critical=np.full(count, np.nan),
        alert_indices=np.array([], dtype=np.int64), alert_severities=())


def _paint_and_keep_width(qtbot, chart, draw) -> tuple[float, float]:
    """The value axis' width as drawn, then after the chart has painted it (pyqtgraph measures
    its labels as it paints, and widens or narrows the axis if they need it)."""
    draw()
    axis = chart.plotItem.getAxis("left")
    drawn = axis.maximumWidth()
    chart.show()
    with qtbot.waitSignal(chart.painted, timeout=5000):
        chart.viewport().update()
    return drawn, axis.maximumWidth()


@pytest.mark.parametrize("values", [[0.01, 0.2, 0.35], [1200.0, 56_000.0, 250_000.0],
                                    [-3.5, 0.0, 2.25], [0.5, 0.5, 0.5]])
@pytest.mark.parametrize("drawn_hidden", [True, False], ids=["drawn hidden", "drawn shown"])
def test_a_value_axis_has_room_for_its_labels_before_it_paints(qtbot, values, drawn_hidden):
    chart = TimeSeriesChart()
    qtbot.addWidget(chart)
    chart.resize(600, 260)
    if not drawn_hidden:
        chart.show()
        qtbot.waitExposed(chart)
    drawn, painted = _paint_and_keep_width(qtbot, chart, lambda: chart.set_series(
        _series(values)))
    assert painted == drawn


def test_the_heatmap_makes_room_for_its_feature_names(qtbot):
    chart = HeatmapChart()
    qtbot.addWidget(chart)
    chart.resize(600, 300)
    features = ("income", "debt_ratio", "a_rather_long_feature_name_from_the_warehouse")
    heatmap = DriftHeatmap("drift.psi", features, 1.7e9 + np.arange(4) * DAY, np.arange(4),
                           np.full((3, 4), 0.05), 0.1, 0.25)
    drawn, painted = _paint_and_keep_width(qtbot, chart, lambda: chart.set_heatmap(heatmap))
    assert painted == drawn
    assert drawn > 150  # the long name fits


def test_a_drift_within_noise_is_drawn_without_the_amber_of_a_warning(qtbot):
    chart = HeatmapChart()
    qtbot.addWidget(chart)
    values = np.array([[0.0, 0.12, 0.12]])
    within_noise = np.array([[False, True, False]])  # the second run judged it "ok"
    chart.set_heatmap(DriftHeatmap("drift.psi", ("income",), 1.7e9 + np.arange(3) * DAY,
                                   np.arange(3), values, 0.1, 0.25, within_noise))
    pixels = chart.image.image  # runs x features x RGBA
    none, calm, amber = (tuple(pixels[run, 0, :3]) for run in range(3))
    assert calm == none != amber

    brushes = status_brushes(("ok", "warn", "ok", "critical", "ok"))
    assert brushes[0] is brushes[2] is brushes[4]
    assert len({id(brush) for brush in brushes}) == 3


def test_a_version_change_outside_the_period_shows_no_label(qtbot):
    """Its label is drawn beside the line, inside the view: for a change just before the
    period it would show, cut in half, over the first days."""
    from modelledger.services.health.chart_data import VersionMarker

    chart = TimeSeriesChart()
    qtbot.addWidget(chart)
    chart.resize(600, 260)
    series = _series([0.1, 0.2, 0.3, 0.2, 0.1, 0.2])
    before, inside = (VersionMarker(series.times[0] - 2 * DAY, 1, "production", "promotion",
                                    "v1 in production"),
                      VersionMarker(series.times[3], 2, "production", "promotion",
                                    "v2 in production"))
    chart.set_series(series, (before, inside))
    chart.setXRange(series.times[0], series.times[-1], padding=0)
    assert [line.label.isVisible() for line in chart.marker_lines] == [False, True]
    chart.setXRange(series.times[0] - 3 * DAY, series.times[-1], padding=0)  # panned back
    assert [line.label.isVisible() for line in chart.marker_lines] == [True, True]
