"""The Portfolio page on the demo workspace: every active model with its health, trend, open
alerts and stage; counts by health and risk tier; a model opens on double-click or Enter."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QPalette

from modelledger.core.domain import InventoryFilter, ModelStatus, RequestStatus
from modelledger.ui.base.session import WorkspaceSession
from modelledger.ui.health.portfolio_page import PORTFOLIO_COLUMNS, PortfolioCounts, PortfolioPage
from modelledger.ui.health.sparkline import (
    CELL_PADDING,
    DOT_RADIUS,
    SPARKLINE_ROLE,
    latest_index,
    sparkline_points,
)
from modelledger.ui.widgets.table_models import HEALTH_COLOURS
from tests.ui.conftest import write_and_wait

COLUMN = {column.title: number for number, column in enumerate(PORTFOLIO_COLUMNS)}


@pytest.fixture
def kept_pages():
    """The pages a test opened, released only once the session's workers have stopped (the
    sessions below depend on this fixture, so it is torn down after them). A finished task keeps
    its page alive and a worker may drop the task last: a page without a parent would then be
    destroyed on the worker's thread, which crashes the process."""
    pages: list[PortfolioPage] = []
    yield pages
    pages.clear()


def _session_on(workspace):
    opened = WorkspaceSession(workspace, poll_milliseconds=100)
    yield opened
    opened.work.shutdown()
    opened.deleteLater()


@pytest.fixture
def demo_session(qtbot, kept_pages, demo_workspace):
    yield from _session_on(demo_workspace)


@pytest.fixture
def empty_session(qtbot, kept_pages, workspace):
    yield from _session_on(workspace)


@pytest.fixture
def open_page(qtbot, kept_pages):
    """Opens the Portfolio page on a session; returns it and its first counts."""

    def open_(session: WorkspaceSession) -> tuple[PortfolioPage, PortfolioCounts]:
        page = PortfolioPage(session)
        qtbot.addWidget(page)
        kept_pages.append(page)
        # The page's first read reaches it through the event loop: it cannot arrive before this.
        with qtbot.waitSignal(page.counts_loaded, timeout=10_000) as loaded:
            pass
        return page, loaded.args[0]

    return open_


def _cell(page: PortfolioPage, name: str, title: str):
    model = page.models_model
    return model.index(model.row_of_model(name), COLUMN[title])


def _active_summaries(workspace):
    return workspace.registry.list_models(InventoryFilter(status=ModelStatus.ACTIVE))


def _unclosed_alerts(workspace, name: str) -> int:
    return len(workspace.monitoring.list_alerts(model_name=name))


def test_every_active_model_has_a_row_with_health_alerts_stage_owner_and_risk(
        qtmodeltester, open_page, demo_session, demo_workspace):
    page, _ = open_page(demo_session)
    summaries = _active_summaries(demo_workspace)
    assert len(summaries) == 5
    model = page.models_model
    assert sorted(row.summary.model.name for row in model.rows()) == sorted(
        s.model.name for s in summaries)
    for summary in summaries:
        name = summary.model.name
        health = "not monitored" if summary.monitor_count == 0 else summary.health
        assert _cell(page, name, "Health").data() == health
        assert _cell(page, name, "Open incidents").data() == str(
            _unclosed_alerts(demo_workspace, name))
        assert _cell(page, name, "Stage").data() == f"production v{summary.production_version}"
        assert _cell(page, name, "Owner").data() == summary.model.owner
        assert _cell(page, name, "Risk tier").data() == summary.model.risk_tier.value
    critical = _cell(page, "vendor-credit-score", "Health")
    assert critical.data() == "critical"
    assert critical.data(Qt.ItemDataRole.ForegroundRole).color() == QColor(
        HEALTH_COLOURS["critical"])
    # Incidents, not alerts: drift, KPI, data quality and performance of the vendor score.
    assert _cell(page, "vendor-credit-score", "Open incidents").data() == "4"
    assert model.row(0).summary.health == "critical"  # worst health first
    assert "vendor-credit-score" in {model.row(row).summary.model.name for row in (0, 1)}
    qtmodeltester.check(model)


def test_headers_sort_the_models_and_the_selection_follows(open_page, demo_session):
    page, _ = open_page(demo_session)
    model, table = page.models_model, page.models_table
    table.selectRow(model.row_of_model("digits-recognizer"))
    table.sortByColumn(COLUMN["Open incidents"], Qt.SortOrder.DescendingOrder)
    alerts = [row.unclosed_alerts for row in model.rows()]
    assert alerts == sorted(alerts, reverse=True) and alerts[0] == 4
    table.sortByColumn(COLUMN["Model"], Qt.SortOrder.AscendingOrder)
    names = [row.summary.model.name for row in model.rows()]
    assert names == sorted(names)
    selected = table.selectionModel().selectedRows()
    assert [model.row(index).summary.model.name for index in selected] == ["digits-recognizer"]


def test_tiles_and_breakdowns_count_by_health_and_risk_tier(
        qtbot, open_page, demo_session, demo_workspace):
    page, counts = open_page(demo_session)
    summaries = _active_summaries(demo_workspace)
    open_alerts = sum(_unclosed_alerts(demo_workspace, s.model.name) for s in summaries)
    assert (counts.models, counts.in_production, counts.open_alerts) == (5, 5, open_alerts)
    assert counts.by_health == Counter(
        "not monitored" if s.monitor_count == 0 else s.health for s in summaries)
    # Every demo model has a monitor; the vendor score and the wine model are critical.
    assert counts.by_health["critical"] == 2 and "not monitored" not in counts.by_health
    assert counts.by_risk == {"low": 2, "medium": 1, "high": 1, "critical": 1}
    assert page.models_tile.value_label.text() == "5"
    assert page.production_tile.value_label.text() == "5"
    assert page.alerts_tile.value_label.text() == str(open_alerts)
    pending = len(demo_workspace.registry.list_promotion_requests(RequestStatus.PENDING))
    qtbot.waitUntil(lambda: page.pending_tile.value_label.text() == str(pending), timeout=5000)
    for text in ("Critical", "Insufficient data", "Not monitored", "Risk tier"):
        assert text in page.health_breakdown.text() + page.risk_breakdown.text()


def test_the_trend_of_vendor_credit_score_is_its_headline_metric_drawn_to_scale(
        open_page, demo_session, demo_workspace):
    page, _ = open_page(demo_session)
    expected = next(row.trend for row in demo_workspace.health.portfolio()
                    if row.summary.model.name == "vendor-credit-score")
    trend_cell = _cell(page, "vendor-credit-score", "Trend")
    trend = trend_cell.data(SPARKLINE_ROLE)
    assert trend == expected and len(trend.values) > 2
    latest = trend.values[latest_index(trend.values)]
    assert _cell(page, "vendor-credit-score", "Latest").data() == f"{trend.label} {latest:.3g}"
    diabetes = _cell(page, "diabetes-progression", "Trend").data(SPARKLINE_ROLE)
    assert diabetes.label == "R²"  # every demo model is monitored: no KPI, so performance

    (segment,) = sparkline_points(trend.values, 120, 24, 3)
    assert len(segment) == len(trend.values)
    xs = [x for x, _ in segment]
    assert xs == sorted(xs) and xs[-1] == pytest.approx(117)
    for (_, y_a), value_a in zip(segment, trend.values, strict=True):
        for (_, y_b), value_b in zip(segment, trend.values, strict=True):
            if value_a > value_b:
                assert y_a < y_b  # higher values are drawn higher up
    assert min(y for _, y in segment) == pytest.approx(3)
    assert max(y for _, y in segment) == pytest.approx(21)


def _trend_pixels(page: PortfolioPage, name: str):
    """The painted trend cell of a model, and its points in the viewport's pixels."""
    table = page.models_table
    cell = table.visualRect(_cell(page, name, "Trend"))
    area = cell.adjusted(CELL_PADDING, CELL_PADDING, -CELL_PADDING, -CELL_PADDING)
    trend = _cell(page, name, "Trend").data(SPARKLINE_ROLE)
    segments = sparkline_points(trend.values, area.width(), area.height(), DOT_RADIUS)
    image = table.viewport().grab().toImage()
    points = [QPoint(area.left() + math.floor(x), area.top() + math.floor(y))
              for segment in segments for x, y in segment]
    return image, points


def test_the_newest_point_is_a_dot_in_its_status_colour_and_the_line_follows_the_palette(
        qtbot, open_page, demo_session):
    page, _ = open_page(demo_session)
    page.resize(1200, 700)
    page.show()
    qtbot.waitExposed(page)
    image, points = _trend_pixels(page, "vendor-credit-score")
    assert image.pixelColor(points[-1]) == QColor(HEALTH_COLOURS["critical"])

    dark = QPalette(page.palette())
    for role, colour in ((QPalette.ColorRole.Base, "#1e1e1e"),
                         (QPalette.ColorRole.AlternateBase, "#262626"),
                         (QPalette.ColorRole.Text, "#e6e6e6")):
        dark.setColor(role, QColor(colour))
    page.setPalette(dark)
    image, points = _trend_pixels(page, "breast-cancer-screening")
    middle = points[len(points) // 2]
    lightest = max(image.pixelColor(middle + QPoint(dx, dy)).lightness()
                   for dx in (-1, 0, 1) for dy in (-1, 0, 1))
    assert lightest > 150  # the line is drawn in the dark palette's light text colour


def test_sparkline_segments_break_where_a_run_has_no_value():
    segments = sparkline_points([1.0, None, 3.0, 2.0, math.nan, 1.0], 110, 20, 5)
    assert [len(segment) for segment in segments] == [1, 2, 1]
    assert segments[0] == [(5, 15)]  # the lowest value at the bottom, the oldest at the left
    assert segments[1] == [(pytest.approx(45), 5), (pytest.approx(65), 10)]
    assert segments[2] == [(105, 15)]  # the newest at the right edge


def test_sparkline_of_a_flat_series_a_single_value_and_no_value():
    assert sparkline_points([2.0, 2.0, 2.0], 100, 20, 2) == [[(2, 10), (50, 10), (98, 10)]]
    assert sparkline_points([0.5], 100, 20, 2) == [[(98, 10)]]
    assert sparkline_points([None, None], 100, 20, 2) == []
    assert sparkline_points([], 100, 20, 2) == []
    assert latest_index([1.0, 2.0, None]) == 1 and latest_index([None]) is None


def test_double_click_or_enter_on_a_row_asks_for_that_model_once(
        qtbot, open_page, demo_session):
    page, _ = open_page(demo_session)
    page.resize(1200, 700)
    page.show()
    qtbot.waitExposed(page)
    table = page.models_table
    requested = []
    page.model_requested.connect(requested.append)
    row_centre = table.visualRect(_cell(page, "wine-cultivar", "Model")).center()
    with qtbot.waitSignal(page.model_requested):
        # QTest's double-click is the second click only: the view needs the first one too.
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=row_centre)
        qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=row_centre)
    assert requested == ["wine-cultivar"]

    table.setFocus()
    table.setCurrentIndex(_cell(page, "breast-cancer-screening", "Stage"))
    with qtbot.waitSignal(page.model_requested):
        qtbot.keyClick(table, Qt.Key.Key_Return)
    assert requested == ["wine-cultivar", "breast-cancer-screening"]


def test_closing_an_alert_elsewhere_updates_the_counts(
        qtbot, open_page, demo_session, demo_workspace):
    page, counts = open_page(demo_session)
    alert = demo_workspace.monitoring.list_alerts(model_name="vendor-credit-score")[0]
    monitoring = demo_workspace.as_user("carol").monitoring  # she owns the model
    with qtbot.waitSignal(page.counts_loaded, timeout=10_000) as reloaded:
        write_and_wait(qtbot, demo_session, lambda: monitoring.close_alert(
            alert.id, alert.row_version, "false alarm: the vendor fixed the feed"))
    assert reloaded.args[0].open_alerts == counts.open_alerts - 1
    assert _cell(page, "vendor-credit-score", "Open incidents").data() == "3"


def test_an_empty_workspace_explains_what_to_do_instead_of_an_empty_table(
        open_page, empty_session):
    page, counts = open_page(empty_session)
    assert counts.models == 0 and counts.open_alerts == 0
    assert page.empty_label.isVisibleTo(page)
    assert not page.models_table.isVisibleTo(page)
    assert "No models yet" in page.empty_label.text()
