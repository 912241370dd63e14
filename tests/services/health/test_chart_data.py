"""The chart data read from the demo workspace: series, alert raises, distributions, trends."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modelledger.core.drift import PSI_FLOOR, profile_from_dict
from modelledger.core.monitoring import AlertStatus
from modelledger.storage import monitoring_repo as mrepo

CREDIT = "vendor-credit-score"
SCREENING = "breast-cancer-screening"


@pytest.fixture
def credit(demo_workspace):
    monitor = demo_workspace.monitoring.list_monitors(model_name=CREDIT)[0]
    return monitor, demo_workspace.health.monitor_health(monitor.id)


def test_series_hold_every_succeeded_run_in_slot_order(demo_workspace, credit):
    monitor, health = credit
    runs = list(reversed(demo_workspace.monitoring.list_runs(monitor_id=monitor.id, limit=None)))
    assert [run.id for run in runs] == [point.run_id for point in health.runs]
    share = health.get("drift.share")
    stored = demo_workspace.monitoring.metric_series(monitor.id, "drift.share")
    np.testing.assert_array_equal(share.run_ids, [run_id for *_, run_id in stored])
    np.testing.assert_array_equal(share.values, [value for _, value, _, _ in stored])
    assert np.all(np.diff(share.times) > 0)
    assert share.statuses == tuple(status for _, _, status, _ in stored)
    np.testing.assert_array_equal(share.warn, 0.2)  # the defaults were in force throughout
    np.testing.assert_array_equal(share.critical, 0.5)
    assert share.higher_is_worse
    roc_auc = health.get("performance.roc_auc")
    assert roc_auc is None or not roc_auc.higher_is_worse  # performance thresholds point down


def test_alert_points_are_the_runs_that_raised_the_alerts(demo_workspace, credit):
    monitor, health = credit
    """A point is marked where a metric joined an incident (opened it, or was added to it)."""
    incidents = [a for a in demo_workspace.monitoring.list_alerts(include_closed=True,
                                                                    model_name=CREDIT)
                 if a.kind == "threshold"]
    members = [m for incident in incidents
               for m in demo_workspace.monitoring.incident_members(incident.id)]
    runs = demo_workspace.monitoring.list_runs(monitor_id=monitor.id, limit=None)
    raising = {run.id for run in runs if run.finished_at in {m.first_seen_at for m in members}}
    plotted = {int(series.run_ids[i]) for series in health.series.values()
               for i in series.alert_indices}
    assert plotted == raising
    assert sum(s.alert_indices.size for s in health.series.values()) == len(members)


def test_each_run_stores_the_distribution_its_psi_was_computed_on(demo_workspace, credit):
    monitor, health = credit
    stored_profiles = demo_workspace.database.read(
        lambda conn: mrepo.monitor_profiles(conn, monitor.id))
    profiles = {name: profile_from_dict(data) for name, data in stored_profiles.items()}
    latest = health.runs[-1]
    for feature in health.drift_features():
        distribution = demo_workspace.health.distribution(monitor.id, latest.run_id, feature)
        assert distribution.current is not None and distribution.note == ""
        assert math.fsum(distribution.current) == pytest.approx(1.0)
        assert len(distribution.current) == len(distribution.reference) == \
            len(distribution.labels)
        assert distribution.reference == profiles[feature].proportions
        p = np.maximum(np.asarray(distribution.reference), PSI_FLOOR)
        q = np.maximum(np.asarray(distribution.current), PSI_FLOOR)
        psi = float(np.sum((q - p) * np.log(q / p)))
        assert psi == pytest.approx(health.get("drift.psi", feature).values[-1], rel=1e-9)
    numeric = demo_workspace.health.distribution(monitor.id, latest.run_id, "income")
    assert numeric.kind == "numeric" and len(numeric.edges) == len(numeric.labels) + 1
    categorical = demo_workspace.health.distribution(monitor.id, latest.run_id, "sector")
    assert categorical.kind == "categorical" and categorical.labels[-1] == "other"


def test_the_heatmap_is_the_feature_series_side_by_side(credit):
    _, health = credit
    heatmap = health.heatmap("drift.psi")
    assert heatmap.values.shape == (len(heatmap.features), len(health.runs))
    for row, feature in enumerate(heatmap.features):
        np.testing.assert_array_equal(heatmap.values[row], health.get("drift.psi", feature).values)
    assert (heatmap.warn, heatmap.critical) == (0.10, 0.25)
    # The demo drifts income from day 40: its PSI ends well above critical.
    assert heatmap.values[heatmap.features.index("income"), -1] > 0.25


def test_the_heatmap_marks_the_values_its_runs_judged_within_noise(demo_workspace):
    # The screening model's reference has 569 rows: distances near 0.1 are noise there.
    monitor = demo_workspace.monitoring.list_monitors(model_name=SCREENING)[0]
    health = demo_workspace.health.monitor_health(monitor.id)
    heatmap = health.heatmap("drift.distance")
    assert heatmap.within_noise is not None
    for row, feature in enumerate(heatmap.features):
        series = health.get("drift.distance", feature)
        expected = (np.asarray(series.statuses) == "ok") & (series.values >= series.warn)
        np.testing.assert_array_equal(heatmap.within_noise[row], expected)
    assert (heatmap.colour_values()[heatmap.within_noise] == 0.0).all()
    assert (heatmap.values[heatmap.within_noise] >= 0.10).all()


def test_the_portfolio_has_health_alerts_and_a_trend_per_model(demo_workspace):
    rows = {row.summary.model.name: row for row in demo_workspace.health.portfolio()}
    assert len(rows) == 5
    for name, row in rows.items():
        unclosed = [a for a in demo_workspace.monitoring.list_alerts(model_name=name)
                    if a.status is not AlertStatus.CLOSED]
        assert row.unclosed_alerts == len(unclosed)
    credit = rows[CREDIT]
    assert credit.summary.health == "critical"
    assert credit.trend.label == "KPI approval rate"  # the business KPI comes first
    assert len(credit.trend.values) == 30
    assert credit.trend.values[-1] < 0.25 and credit.trend.values[0] > 0.35
    assert rows["breast-cancer-screening"].trend.label == "ROC AUC"
    assert rows["wine-cultivar"].trend is not None  # every demo model is monitored


def test_version_markers_sit_where_production_changed_in_the_run_history(demo_workspace):
    """Screening: v1 was released before the first run, v2 between two weekly runs; each run
    scored the version in production when it ran. The vendor score never changed version."""
    monitor = demo_workspace.monitoring.list_monitors(model_name=SCREENING)[0]
    health = demo_workspace.health.monitor_health(monitor.id)
    runs = health.runs
    assert [(m.version_number, m.kind) for m in health.markers] == [
        (1, "promotion"), (2, "promotion")]
    released, replaced = health.markers
    assert released.time < runs[0].time < replaced.time < runs[-1].time
    on_v1 = [run for run in runs if run.time < replaced.time]
    on_v2 = [run for run in runs if run.time > replaced.time]
    assert len(on_v1) >= 6 and len(on_v2) >= 4
    assert {run.version_number for run in on_v1} == {1}
    assert {run.version_number for run in on_v2} == {2}
    assert replaced.label == "v2 in production"

    credit = demo_workspace.health.monitor_health(
        demo_workspace.monitoring.list_monitors(model_name=CREDIT)[0].id)
    (approved,) = credit.markers
    assert approved.time < credit.runs[0].time
    assert {run.version_number for run in credit.runs} == {1}
