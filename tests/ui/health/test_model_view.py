"""The model health page on the demo workspace: what each chart plots, and clicking through."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt, QTimer
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from modelledger.services.health.chart_data import MetricSeries
from modelledger.ui.health.charts import threshold_band_areas
from modelledger.ui.health.model_view import ModelHealthView
from modelledger.ui.monitoring.run_dialog import RunDialog

CREDIT = "vendor-credit-score"


@pytest.fixture
def credit_page(qtbot, demo_session):
    page = ModelHealthView(demo_session)
    qtbot.addWidget(page)
    page.resize(1200, 900)
    page.show()
    with qtbot.waitSignal(page.health_loaded, timeout=15_000):
        page.show_model(CREDIT)
    qtbot.waitUntil(lambda: page.distribution is not None, timeout=10_000)
    return page


def _expected(page):
    monitor_id = page.selected_monitor_id()
    return page._session.workspace.health.monitor_health(monitor_id)


def _view_pixel(chart, x: float, y: float):
    """Where a data point is drawn, in the chart viewport's pixels."""
    scene = chart.plotItem.vb.mapViewToScene(QPointF(x, y))
    return chart.mapFromScene(scene)


def test_the_metric_chart_plots_the_series_its_bands_and_its_alerts(credit_page):
    expected = _expected(credit_page).get("drift.share")
    chart = credit_page.metric_chart
    assert credit_page.metric_combo.currentData() == ("drift.share", "")
    x, y = chart.line.getOriginalDataset()
    np.testing.assert_array_equal(x, expected.times)
    np.testing.assert_array_equal(y, expected.values)
    bands = {severity: (times, lower, upper) for severity, times, lower, upper
             in chart.band_areas}
    # The thresholds never changed: each band is one rectangle over the whole series.
    np.testing.assert_array_equal(bands["warn"][0], expected.times[[0, -1]])
    np.testing.assert_array_equal(bands["warn"][1], [0.2, 0.2])  # warn .. critical
    np.testing.assert_array_equal(bands["warn"][2], [0.5, 0.5])
    np.testing.assert_array_equal(bands["critical"][1], [0.5, 0.5])
    assert np.all(bands["critical"][2] > expected.values.max())  # to the top of the view
    alerts = chart.alert_points.getData()
    np.testing.assert_array_equal(alerts[0], expected.times[expected.alert_indices])
    assert expected.alert_indices.size >= 1
    # The demo's drift starts on day 40: the first raise is where the share left zero.
    first = int(expected.alert_indices[0])
    assert expected.values[first] >= 0.2 and np.all(expected.values[:first] < 0.2)


def test_bands_step_where_the_thresholds_changed():
    times = np.array([0.0, 10.0, 20.0, 30.0])
    series = MetricSeries(
        "performance.roc_auc", "", "ROC AUC", times, np.array([0.9, 0.8, 0.85, 0.7]),
        ("ok",) * 4, np.arange(4), warn=np.array([0.85, 0.85, 0.8, 0.8]),
        critical=np.array([0.75, 0.75, 0.7, np.nan]), alert_indices=np.array([], dtype=int),
        alert_severities=())
    areas = {severity: (t, lower, upper) for severity, t, lower, upper
             in threshold_band_areas(series, 0.6, 0.9)}
    step_times, critical, warn = areas["warn"]  # lower is worse: critical .. warn
    np.testing.assert_array_equal(step_times, [0, 20, 20, 30])
    np.testing.assert_array_equal(warn, [0.85, 0.85, 0.8, 0.8])
    np.testing.assert_array_equal(critical, [0.75, 0.75, 0.7, 0.7])  # the gap takes the last
    _, bottom, top = areas["critical"]
    assert np.all(bottom < 0.6) and np.array_equal(top, critical)


def test_a_kpi_chart_shows_its_target_and_tolerance(credit_page):
    credit_page.kpi_combo.setCurrentIndex(credit_page.kpi_combo.findData("approval rate"))
    band, series = credit_page.selected_kpi()
    assert (band.target, band.tolerance) == (0.62, 0.04)
    _, y = credit_page.kpi_chart.line.getOriginalDataset()
    np.testing.assert_array_equal(y, series.values)
    areas = {severity: (lower, upper) for severity, _, lower, upper
             in credit_page.kpi_chart.band_areas}
    assert areas["ok"][0][0] == pytest.approx(0.58)
    # Higher is better: no upper limit, so the ok band reaches the top of the view.
    assert areas["ok"][1][0] > np.nanmax(series.values)
    assert areas["warn"][0][0] == pytest.approx(0.54)  # twice the tolerance below the target


def test_the_heatmap_is_features_by_runs_in_the_chosen_period(qtbot, credit_page):
    expected = _expected(credit_page).heatmap("drift.psi")
    heatmap = credit_page.heatmap_chart
    assert heatmap.heatmap.features == ("income", "debt_ratio", "age", "requested_amount",
                                        "sector")
    assert heatmap.columns.size == 90  # the default period (90 days) holds every daily run
    np.testing.assert_array_equal(heatmap.shown_values(), expected.values)
    credit_page.period_combo.setCurrentText("Last 7 days")
    qtbot.waitUntil(lambda: heatmap.columns.size == 7, timeout=5000)
    np.testing.assert_array_equal(heatmap.shown_values(), expected.values[:, -7:])
    start, end = credit_page.time_range()
    assert end - start == pytest.approx(7 * 86400, rel=0.01)


def test_a_heatmap_cell_chooses_the_distribution_and_its_run(qtbot, credit_page):
    health = _expected(credit_page)
    heatmap = credit_page.heatmap_chart
    early_run = int(heatmap.heatmap.run_ids[heatmap.columns[3]])
    with qtbot.waitSignal(credit_page.distribution_loaded, timeout=10_000):
        qtbot.mouseClick(heatmap.viewport(), Qt.MouseButton.LeftButton,
                         pos=_view_pixel(heatmap, 3.5, 0.5))
    distribution = credit_page.distribution
    assert (distribution.column, distribution.run_id) == ("income", early_run)
    expected = credit_page._session.workspace.health.distribution(
        health.monitor.id, early_run, "income")
    chart = credit_page.distribution_chart
    np.testing.assert_allclose(chart.reference_bars.opts["height"], expected.reference)
    np.testing.assert_allclose(chart.current_bars.opts["height"], expected.current)
    assert len(chart.ticks()) == len(expected.reference) - 1  # the inner bin edges


def test_clicking_a_point_opens_that_run(qtbot, credit_page):
    series = credit_page.selected_series()
    index = int(series.alert_indices[0])
    chart = credit_page.metric_chart
    where = _view_pixel(chart, float(series.times[index]), float(series.values[index]))
    qtbot.mouseMove(chart.viewport(), where)
    qtbot.waitUntil(lambda: f"run #{int(series.run_ids[index])}" in
                    credit_page.hover_label.text(), timeout=5000)
    assert "alert raised" in credit_page.hover_label.text()
    with qtbot.waitSignal(credit_page.run_dialog_opened, timeout=5000) as opened:
        qtbot.mouseClick(chart.viewport(), Qt.MouseButton.LeftButton, pos=where)
    dialog: RunDialog = opened.args[0]
    assert dialog.run_id == int(series.run_ids[index])
    qtbot.waitUntil(lambda: dialog.run is not None, timeout=5000)
    assert f"Run #{dialog.run_id}" in dialog.details.toPlainText()
    dialog.close()


def test_each_chart_and_the_page_export(qtbot, credit_page, tmp_path):
    written = []
    credit_page.exported.connect(written.append)
    for panel, kind in ((credit_page.metric_panel, "png"), (credit_page.heatmap_panel, "svg"),
                        (credit_page.distribution_panel, "png"),
                        (credit_page.kpi_panel, "svg")):
        target = tmp_path / f"{panel.objectName()}.{kind}"
        with qtbot.waitSignal(credit_page.exported, timeout=20_000):
            credit_page.export_chart(panel, kind, str(target))
        head = target.read_bytes()[:200]
        assert head.startswith(b"\x89PNG") if kind == "png" else b"<svg" in head or \
            b"<?xml" in head
    pdf = tmp_path / "health.pdf"
    with qtbot.waitSignal(credit_page.exported, timeout=30_000):
        credit_page.export_page_pdf(str(pdf))
    assert pdf.read_bytes().startswith(b"%PDF")
    assert written[-1] == str(pdf)
    assert "Saved" in credit_page.status_label.text()


def test_performance_lines_and_label_arrival(qtbot, demo_session):
    page = ModelHealthView(demo_session)
    qtbot.addWidget(page)
    page.resize(1200, 900)
    page.show()
    with qtbot.waitSignal(page.health_loaded, timeout=15_000):
        page.show_model("breast-cancer-screening")
    expected = _expected(page)
    chart = page.performance_chart
    assert set(chart.lines) == {"performance.accuracy", "performance.f1",
                                "performance.precision", "performance.recall",
                                "performance.roc_auc"}  # log loss has its own scale
    _, roc_auc = chart.lines["performance.roc_auc"].getData()
    np.testing.assert_array_equal(roc_auc, expected.get("performance.roc_auc").values)
    np.testing.assert_array_equal(chart.label_bars.opts["height"],
                                  expected.get("performance.labelled_rows").values)
    assert not page.kpi_panel.isVisibleTo(page)  # this monitor has no KPIs
    # The time charts share the period.
    np.testing.assert_allclose(chart.viewRange()[0], page.metric_chart.viewRange()[0])


def test_the_charts_appear_one_at_a_time(qtbot, demo_session):
    """Qt paints every changed chart in one pass: each chart is shown once the one before it
    has painted, so that no turn of the event loop paints two new charts."""
    page = ModelHealthView(demo_session)
    qtbot.addWidget(page)
    page.resize(1200, 900)
    page.show()
    qtbot.waitUntil(page.charts_ready, timeout=5000)
    shown_at_first_paint = {}
    for panel in page.panel_figures:
        panel.chart.painted.connect(
            lambda panel=panel: shown_at_first_paint.setdefault(panel.objectName(), {
                shown.objectName() for shown in page.panel_figures if shown.isVisible()}))
    with qtbot.waitSignal(page.health_loaded, timeout=15_000):
        page.show_model(CREDIT)
    order = ["metricPanel", "kpiPanel", "heatmapPanel", "distributionPanel"]
    for number, name in enumerate(order):
        assert shown_at_first_paint[name] == set(order[:number + 1])
    assert all(panel.isVisible() for panel in page.panel_figures)


def test_the_charts_are_built_one_per_turn_of_the_event_loop(qtbot, demo_session):
    """Five charts built at once held the GUI thread ~100 ms when the Health tab first
    opened; built one per turn, input and paints get in between."""
    page = ModelHealthView(demo_session)
    qtbot.addWidget(page)
    page.show()
    assert all(panel.chart is None for panel in page.panel_figures)
    built_at_each_turn = []
    turns = QTimer(interval=0)  # fires once in every turn of the loop, as the build steps do
    turns.timeout.connect(lambda: built_at_each_turn.append(
        sum(panel.chart is not None for panel in page.panel_figures)))
    turns.start()
    with qtbot.waitSignal(page.charts_built, timeout=5000):
        page.show_model(CREDIT)  # data that arrives before the charts waits for them
    turns.stop()
    built_at_each_turn.append(len(page.panel_figures))
    steps = [later - earlier for earlier, later in itertools.pairwise(built_at_each_turn)]
    assert max(steps) <= 1
    assert all(panel.chart is not None for panel in page.panel_figures)
    qtbot.waitUntil(lambda: page.metric_chart.line is not None, timeout=15_000)  # then drawn


def test_a_reload_draws_the_shown_charts_again_in_place(qtbot, credit_page):
    drawn = credit_page.metric_chart.line
    with qtbot.waitSignal(credit_page.health_loaded, timeout=15_000):
        credit_page.load_health()  # as when another user's change arrives
    assert credit_page.metric_chart.line is not drawn
    assert all(panel.isVisible() for panel in credit_page.panel_figures)


def test_a_model_without_monitors_says_how_to_add_one(qtbot, demo_session):
    # Every demo model has a monitor: a model just added has none yet.
    demo_session.workspace.as_user("alice").registry.register_model("fraud-screen")
    page = ModelHealthView(demo_session)
    qtbot.addWidget(page)
    page.show()
    page.show_model("fraud-screen")
    qtbot.waitUntil(lambda: "no monitors yet" in page.empty_label.text(), timeout=10_000)
    assert not page.scroll.isVisibleTo(page)


def test_charts_follow_a_dark_palette(qtbot, credit_page):
    original = QApplication.palette()
    dark = QPalette(original)
    dark.setColor(QPalette.ColorRole.Base, QColor("#1e1e1e"))
    dark.setColor(QPalette.ColorRole.Window, QColor("#2b2b2b"))
    dark.setColor(QPalette.ColorRole.Text, QColor("#e0e0e0"))
    try:
        QApplication.setPalette(dark)
        chart = credit_page.metric_chart
        qtbot.waitUntil(lambda: chart.theme.dark, timeout=5000)
        assert chart.backgroundBrush().color().lightness() < 60
        assert chart.line is not None  # redrawn in the new colours
    finally:
        QApplication.setPalette(original)
    qtbot.waitUntil(lambda: not credit_page.metric_chart.theme.dark, timeout=5000)
