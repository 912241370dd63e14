"""The Health tab's ranking of drifted features by drift x importance, and measuring again."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt

from modelledger.core.domain import EventFilter
from modelledger.core.monitoring import Schedule, ScheduleKind
from modelledger.services.monitoring.scheduler import MonitorScheduler
from modelledger.ui.health.model_view import ModelHealthView
from tests.services.monitor_data import file_spec, scored_frame, write_csv
from tests.services.monitoring.test_importance import _register_with_model
from tests.ui.conftest import catch_up


@pytest.fixture
def ranked_page(qtbot, session, workspace, tmp_path):
    """Age drifts far, income a little; the model decides on income, hardly on age."""
    _register_with_model(workspace, tmp_path)
    reference = write_csv(scored_frame(2_000, seed=1), tmp_path / "reference.csv")
    current = scored_frame(1_000, seed=2, income_shift=9_000)
    current["age"] = current["age"] + 25
    monitor = workspace.monitoring.create_monitor(
        "credit-risk", "drift", reference,
        file_spec(write_csv(current, tmp_path / "current.csv"), top_k=1),
        Schedule(ScheduleKind.INTERVAL, "3600"))
    scheduler = MonitorScheduler(workspace, max_parallel=1)
    try:
        scheduler.run_now(monitor.id).result(timeout=120)
    finally:
        scheduler.shutdown()
    catch_up(qtbot, session)
    page = ModelHealthView(session)
    qtbot.addWidget(page)
    page.resize(1200, 900)
    page.show()
    with qtbot.waitSignal(page.health_loaded, timeout=15_000):
        page.show_model("credit-risk")
    return page


def _cells(page) -> list[list[str]]:
    model = page.ranking_panel.ranks
    return [[model.data(model.index(row, column)) for column in range(model.columnCount())]
            for row in range(model.rowCount())]


def test_the_ranking_puts_the_drift_of_what_the_model_uses_first(ranked_page):
    panel = ranked_page.ranking_panel
    assert panel.isVisible()
    rows = _cells(ranked_page)
    assert [row[0].strip() for row in rows] == ["★ income", "age", "region"]
    by_feature = {panel.ranks.row(i).feature: panel.ranks.row(i)
                  for i in range(panel.ranks.rowCount())}
    income, age = by_feature["income"], by_feature["age"]
    # Age drifted more, but the model hardly uses it: its weighted drift is smaller.
    assert age.value > income.value
    assert income.weighted > age.weighted
    assert income.weighted == pytest.approx(income.value * income.importance)
    assert rows[0][3] == f"{income.importance:.1%}" and rows[0][4] == f"{income.weighted:.4f}"
    assert rows[0][5] in ("warn", "critical") and rows[1][5] == "critical"
    verdict = panel.ranks.index(1, 5)
    assert panel.ranks.data(verdict, Qt.ItemDataRole.ForegroundRole) is not None
    note = panel.note.text()
    assert "v1 (coefficients)" in note and "1 most important" in note


def test_measure_importance_again_from_the_health_tab(qtbot, ranked_page, workspace):
    with qtbot.waitSignal(ranked_page.importance_measured, timeout=30_000) as measured:
        ranked_page.measure_importance("checked after the refit")
    assert measured.args[0].spec.importance_method == "coefficients"
    events = workspace.audit.list_events(EventFilter(action_prefix="monitor.importance"))
    assert events[0].reason == "checked after the refit" and events[0].actor == "alice"
    assert json.loads(events[0].after)["top_k"] == 1
    qtbot.waitUntil(lambda: ranked_page.ranking_panel.measure_button.isEnabled())
