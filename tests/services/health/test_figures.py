"""Exported health figures: what they plot (read back from the matplotlib artists), how they are
saved, and the one-page PDF of a demo monitor."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import warnings
import xml.etree.ElementTree as ElementTree
from datetime import UTC, datetime

import numpy as np
import pytest
from matplotlib import dates as mdates
from matplotlib.colors import to_rgb, to_rgba

from modelledger.core.errors import InvalidInputError
from modelledger.services.health import figures as health_figures
from modelledger.services.health.chart_data import (
    Distribution,
    DriftHeatmap,
    KpiBand,
    MetricSeries,
    VersionMarker,
)
from modelledger.services.health.figures import (
    HEALTH_COLOURS,
    distribution_figure,
    health_page_pdf,
    heatmap_figure,
    kpi_figure,
    performance_figure,
    save_figure,
    series_figure,
)

DAY = 86400.0
START = 1_780_000_000.0  # May 2026


def dates(seconds) -> np.ndarray:
    return np.array([mdates.date2num(datetime.fromtimestamp(s, UTC)) for s in seconds])


def make_series(values, *, warn=None, critical=None, statuses=None, alerts=(),
                severities=None, step=DAY) -> MetricSeries:
    values = np.asarray(values, dtype=np.float64)
    count = values.size

    def thresholds(given):
        return np.full(count, np.nan) if given is None else np.broadcast_to(
            np.asarray(given, dtype=np.float64), (count,)).copy()

    return MetricSeries(
        "drift.share", "", "Drifted share", START + np.arange(count) * step, values,
        tuple(statuses or ("ok",) * count), np.arange(1, count + 1, dtype=np.int64),
        thresholds(warn), thresholds(critical), np.array(alerts, dtype=np.int64),
        tuple(severities or ("critical",) * len(alerts)))


def by_gid(axes, gid, kind="lines"):
    return [artist for artist in getattr(axes, kind) if artist.get_gid() == gid]


def zone(axes, label):
    (collection,) = [c for c in axes.collections if c.get_label() == label]
    (path,) = collection.get_paths()
    return path.vertices


def span_extents(axes, colour):
    """(low, high) of the horizontal spans filled in ``colour``, bottom to top."""
    extents = []
    for patch in axes.patches:
        if patch.get_facecolor()[:3] == pytest.approx(to_rgb(colour)):
            ys = patch.get_patch_transform().transform(patch.get_path().vertices)[:, 1]
            extents.append((float(ys.min()), float(ys.max())))
    return sorted(extents)


def monitor_health(workspace, model_name):
    (overview,) = [o for o in workspace.monitoring.overviews()
                   if o.monitor.model_name == model_name]
    return workspace.health.monitor_health(overview.monitor.id)


# -- Series ------------------------------------------------------------------------------------


def test_series_line_status_points_and_alerts_are_the_series():
    statuses = ("ok", "ok", "warn", "critical", "insufficient data", "ok")
    series = make_series([0.1, 0.15, np.nan, 0.6, 0.2, 0.1], warn=0.3, critical=0.5,
                         statuses=statuses, alerts=[3], severities=["critical"])
    axes = series_figure(series).axes[0]
    (line,) = by_gid(axes, "value line")
    np.testing.assert_allclose(line.get_xdata(), dates(series.times))
    np.testing.assert_array_equal(line.get_ydata(), series.values)  # NaN: a gap in the line
    (points,) = by_gid(axes, "status points", "collections")
    expected = [to_rgba(HEALTH_COLOURS.get(status, health_figures.MUTED)) for status in statuses]
    np.testing.assert_allclose(points.get_facecolors(), expected)
    (alerts,) = by_gid(axes, "alerts", "collections")
    np.testing.assert_allclose(alerts.get_offsets(), [[dates(series.times)[3], 0.6]])
    assert axes.get_title(loc="left") == "Drifted share"
    legend = [text.get_text() for text in axes.get_figure().legends[0].get_texts()]
    assert legend == ["warn zone", "critical zone", "alert raised"]


def test_threshold_zones_follow_the_thresholds_in_force_step_by_step():
    """No threshold for the first two runs, then warn 0.2 / critical 0.5, raised to 0.3 / 0.6
    from the fifth run: high values are bad, so the critical zone reaches the top."""
    nan = np.nan
    series = make_series(np.linspace(0.0, 0.7, 8), warn=[nan, nan, .2, .2, .3, .3, .3, .3],
                         critical=[nan, nan, .5, .5, .6, .6, .6, .6])
    axes = series_figure(series).axes[0]
    x = dates(series.times)
    bottom, top = axes.get_ylim()
    assert top > 0.7 and bottom < 0.0
    warn, critical = zone(axes, "warn zone"), zone(axes, "critical zone")
    # The step at the fifth run is a vertical edge holding both; either side holds one.
    first, second = warn[:, 0] < x[4], warn[:, 0] > x[4]
    assert warn[:, 0].min() == pytest.approx(x[2])  # nothing where no threshold was set
    assert set(np.round(warn[first, 1], 9)) == {0.2, 0.5}
    assert set(np.round(warn[second, 1], 9)) == {0.3, 0.6}
    assert set(np.round(critical[critical[:, 0] < x[4], 1], 9)) == {0.5, round(top, 9)}
    assert set(np.round(critical[critical[:, 0] > x[4], 1], 9)) == {0.6, round(top, 9)}
    # The last thresholds stay in force to the right edge of the chart.
    assert warn[:, 0].max() == pytest.approx(axes.get_xlim()[1])


def test_when_low_values_are_bad_the_zones_are_mirrored():
    series = make_series([0.9, 0.8, 0.7, 0.85], warn=0.8, critical=0.7)
    assert not series.higher_is_worse
    axes = series_figure(series).axes[0]
    bottom, _ = axes.get_ylim()
    assert set(np.round(zone(axes, "warn zone")[:, 1], 9)) == {0.7, 0.8}
    assert set(np.round(zone(axes, "critical zone")[:, 1], 9)) == {round(bottom, 9), 0.7}


def test_time_range_limits_the_axis_and_the_version_markers():
    series = make_series(np.arange(30.0))
    inside = VersionMarker(START + 12.5 * DAY, 2, "production", "promotion", "v2 in production")
    outside = VersionMarker(START + 2 * DAY, 1, "production", "promotion", "v1 in production")
    period = (START + 10 * DAY, START + 20 * DAY)
    axes = series_figure(series, [inside, outside], time_range=period, title="Rows").axes[0]
    np.testing.assert_allclose(axes.get_xlim(), dates(period))
    (line,) = by_gid(axes, "value line")
    np.testing.assert_array_equal(line.get_ydata(), np.arange(10.0, 21.0))
    (marker,) = by_gid(axes, "version marker")
    assert marker.get_linestyle() == "--"
    assert marker.get_xdata()[0] == pytest.approx(dates([inside.time])[0])
    assert [text.get_text() for text in axes.texts] == ["v2 in production"]
    assert axes.get_title(loc="left") == "Rows"


def test_a_million_points_are_drawn_as_about_two_per_pixel_keeping_extremes_and_alerts():
    rng = np.random.default_rng(7)
    values = rng.normal(size=1_000_000)
    lowest, highest = int(values.argmin()), int(values.argmax())
    series = make_series(values, step=60.0, alerts=[123_457, 654_321],
                         severities=["warn", "critical"])
    figure = series_figure(series)
    pixel_width = figure.get_figwidth() * health_figures.PNG_DPI
    (line,) = by_gid(figure.axes[0], "value line")
    drawn = line.get_ydata()
    assert drawn.size <= 2 * pixel_width + 4
    assert drawn.min() == values[lowest] and drawn.max() == values[highest]
    assert set(values[[123_457, 654_321]]) <= set(drawn)
    (alerts,) = by_gid(figure.axes[0], "alerts", "collections")
    np.testing.assert_allclose(alerts.get_offsets()[:, 1], values[[123_457, 654_321]])


# -- KPI, performance, heatmap, distribution ---------------------------------------------------


def test_kpi_target_and_tolerance_bands():
    band = KpiBand("approval rate", target=0.62, tolerance=0.04, direction="both")
    series = make_series([0.61, 0.64, 0.57, 0.69, 0.5], alerts=[4])
    axes = kpi_figure(series, band).axes[0]
    bottom, top = axes.get_ylim()
    assert bottom < 0.5 and top > 0.70
    (target,) = [line for line in axes.lines if line.get_label() == "target 0.62"]
    assert set(target.get_ydata()) == {0.62}
    np.testing.assert_allclose(span_extents(axes, HEALTH_COLOURS["ok"]), [(0.58, 0.66)])
    np.testing.assert_allclose(span_extents(axes, HEALTH_COLOURS["warn"]),
                               [(0.54, 0.58), (0.66, 0.70)])
    np.testing.assert_allclose(span_extents(axes, HEALTH_COLOURS["critical"]),
                               [(bottom, 0.54), (0.70, top)])
    legend = [text.get_text() for text in axes.get_figure().legends[0].get_texts()]
    assert legend == ["target 0.62", "within ±0.04", "warn", "critical", "alert raised"]


def test_kpi_of_the_demo_against_its_band(demo_workspace):
    health = monitor_health(demo_workspace, "vendor-credit-score")
    band = health.kpis[0]
    series = health.get(f"kpi.{band.name}")
    axes = kpi_figure(series, band, health.markers).axes[0]
    (line,) = by_gid(axes, "value line")
    np.testing.assert_allclose(line.get_xdata(), dates(series.times))
    np.testing.assert_array_equal(line.get_ydata(), series.values)
    # Only falling short fails: within tolerance reaches the top of the axis.
    np.testing.assert_allclose(span_extents(axes, HEALTH_COLOURS["ok"]),
                               [(band.target - band.tolerance, axes.get_ylim()[1])])
    (alerts,) = by_gid(axes, "alerts", "collections")
    np.testing.assert_allclose(alerts.get_offsets()[:, 1], series.values[series.alert_indices])
    # The vendor score's only version was approved before monitoring began: no marker drawn.
    (approved,) = health.markers
    assert approved.time < series.times[0]
    assert by_gid(axes, "version marker") == []


def test_the_screening_chart_marks_where_v2_replaced_v1(demo_workspace):
    health = monitor_health(demo_workspace, "breast-cancer-screening")
    series = health.get("drift.share")
    axes = series_figure(series, health.markers).axes[0]
    (marker,) = by_gid(axes, "version marker")
    replaced = health.markers[-1]
    assert series.times[0] < replaced.time < series.times[-1]
    assert marker.get_xdata()[0] == pytest.approx(dates([replaced.time])[0])
    assert "v2 in production" in [text.get_text() for text in axes.texts]


def test_performance_scores_errors_and_labelled_rows(demo_workspace):
    health = monitor_health(demo_workspace, "breast-cancer-screening")
    scores, errors, labelled = performance_figure(health).axes
    expected = [m for m in health.performance_metrics() if m != "performance.log_loss"]
    assert [line.get_label() for line in by_gid(scores, "value line")] == [
        health.get(metric).label for metric in expected]
    for line, metric in zip(by_gid(scores, "value line"), expected, strict=True):
        np.testing.assert_array_equal(line.get_ydata(), health.get(metric).values)
    (log_loss,) = by_gid(errors, "value line")
    np.testing.assert_array_equal(log_loss.get_ydata(), health.get("performance.log_loss").values)
    rows = health.get("performance.labelled_rows")
    assert [bar.get_height() for bar in labelled.patches] == rows.values.tolist()
    # The rows arrived per run: one bar at each run's date.
    np.testing.assert_allclose([bar.get_center()[0] for bar in labelled.patches],
                               dates(rows.times))
    assert scores.get_xlim() == errors.get_xlim() == labelled.get_xlim()


def test_heatmap_cells_are_the_values_with_missing_ones_in_grey():
    values = np.array([[0.05, np.nan, 0.3, 0.4], [0.0, 0.12, np.nan, 0.02]])
    heatmap = DriftHeatmap("drift.psi", ("income", "age"), START + np.arange(4) * DAY,
                           np.arange(1, 5), values, warn=0.1, critical=0.25)
    figure = heatmap_figure(heatmap)
    axes, colour_bar = figure.axes
    (mesh,) = by_gid(axes, "heatmap", "collections")
    cells = mesh.get_array()
    np.testing.assert_array_equal(cells.mask, np.isnan(values))
    np.testing.assert_array_equal(cells.filled(np.nan), values)
    assert mesh.get_cmap().name.startswith("YlOrRd") and not mesh.get_cmap().name.endswith("_r")
    assert mesh.get_cmap().get_bad() == pytest.approx(to_rgba(health_figures.MISSING_COLOUR))
    assert [label.get_text() for label in axes.get_yticklabels()] == ["income", "age"]
    assert sorted(line.get_ydata()[0] for line in colour_bar.lines) == [0.1, 0.25]
    # A period keeps its runs only; low p-values are the bad ones, so the colours turn.
    period = (START + 1.5 * DAY, START + 3 * DAY)
    p_values = DriftHeatmap("drift.p_value", heatmap.features, heatmap.times,
                            heatmap.run_ids, values, None, None)
    (mesh,) = by_gid(heatmap_figure(p_values, time_range=period).axes[0], "heatmap",
                     "collections")
    np.testing.assert_array_equal(mesh.get_array().filled(np.nan), values[:, 2:])
    assert mesh.get_cmap().name.endswith("_r")


def test_heatmap_of_the_demo(demo_workspace):
    heatmap = monitor_health(demo_workspace, "vendor-credit-score").heatmap()
    (mesh,) = by_gid(heatmap_figure(heatmap).axes[0], "heatmap", "collections")
    np.testing.assert_array_equal(mesh.get_array().filled(np.nan), heatmap.values)


def test_distribution_bars_are_the_shares(demo_workspace):
    health = monitor_health(demo_workspace, "vendor-credit-score")
    distribution = demo_workspace.health.distribution(health.monitor.id, health.runs[-1].run_id,
                                                      "sector")
    axes = distribution_figure(distribution).axes[0]
    assert [bar.get_height() for bar in by_gid(axes, "reference", "patches")] == list(
        distribution.reference)
    assert [bar.get_height() for bar in by_gid(axes, "current", "patches")] == list(
        distribution.current)
    assert [label.get_text() for label in axes.get_xticklabels()] == list(distribution.labels)
    assert axes.get_title(loc="left").startswith(f"sector: run #{distribution.run_id} of ")


def test_distribution_without_current_values_shows_the_reference_and_why():
    distribution = Distribution("income", "numeric", ("≤ 10", "10 – 20", "> 20"),
                                (0.0, 10.0, 20.0, 50.0), (0.2, 0.5, 0.3), None, 7, START, 1000,
                                None, "This run failed, so it measured nothing.")
    axes = distribution_figure(distribution).axes[0]
    assert [bar.get_height() for bar in by_gid(axes, "reference", "patches")] == [0.2, 0.5, 0.3]
    assert by_gid(axes, "current", "patches") == []
    assert [text.get_text() for text in axes.texts] == [distribution.note]


# -- Saving ------------------------------------------------------------------------------------


def test_save_figure_writes_png_and_svg(tmp_path):
    figure = series_figure(make_series([0.1, 0.2, 0.3], warn=0.25, critical=0.5))
    png = save_figure(figure, tmp_path / "chart.png")
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    svg = save_figure(figure, tmp_path / "chart.SVG")
    assert ElementTree.parse(svg).getroot().tag == "{http://www.w3.org/2000/svg}svg"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["chart.SVG", "chart.png"]
    # An export is for others to read: the umask decides, not a private temporary file's 0600.
    umask = os.umask(0o022)
    os.umask(umask)
    assert png.stat().st_mode & 0o777 == 0o666 & ~umask


def test_save_figure_refuses_other_formats(tmp_path):
    with pytest.raises(InvalidInputError, match=r"\.png or \.svg"):
        save_figure(series_figure(make_series([1.0])), tmp_path / "chart.jpg")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    figure = series_figure(make_series([1.0, 2.0]))
    # A parent that is a file fails even for root, who may write into read-only folders.
    (tmp_path / "report.txt").write_text("not a folder")
    with pytest.raises(InvalidInputError, match=r"Not a directory\. Choose another folder"):
        save_figure(figure, tmp_path / "report.txt" / "chart.png")
    # Failing at the rename, after the temporary file was written: it is removed.
    (tmp_path / "chart.png").mkdir()
    with pytest.raises(InvalidInputError, match="Is a directory"):
        save_figure(figure, tmp_path / "chart.png")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["chart.png", "report.txt"]
    assert list((tmp_path / "chart.png").iterdir()) == []


# -- The PDF page ------------------------------------------------------------------------------


def pdf_pages_and_text(path) -> tuple[int, str | None]:
    """Pages and text by poppler-utils; without them (scripts/test.sh installs them), the page
    objects are counted and the text is not checked."""
    if shutil.which("pdfinfo") and shutil.which("pdftotext"):
        info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True,
                              check=True).stdout
        assert "Page size:       841.68 x 595.44 pts (A4)" in info
        text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                              check=True).stdout
        return int(re.search(r"^Pages:\s+(\d+)$", info, re.MULTILINE)[1]), text
    return len(re.findall(rb"/Type\s*/Page\b", path.read_bytes())), None


def test_health_page_pdf_is_one_readable_page(demo_workspace, tmp_path):
    health = monitor_health(demo_workspace, "vendor-credit-score")
    distribution = demo_workspace.health.distribution(health.monitor.id, health.runs[-1].run_id,
                                                      "sector")
    now = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    folder = tmp_path / "exports"
    folder.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. a layout that could not fit the panels
        path = health_page_pdf("vendor-credit-score", health, folder / "health.pdf",
                               exported_by="alice", now=now, distribution=distribution)
    assert path == folder / "health.pdf"
    assert [p.name for p in folder.iterdir()] == ["health.pdf"]
    pages, text = pdf_pages_and_text(path)
    assert pages == 1
    if text is not None:
        assert "vendor-credit-score — daily drift and approvals: model health" in text
        for shown in ("Exported by alice", "90 runs", "Latest run: CRITICAL", "Drifted share",
                      "PSI per feature and run", "Performance over time",
                      "KPI approval rate", "KPI expected margin per application",
                      "sector: run #"):
            assert shown in text


def test_health_page_leaves_out_what_is_missing_and_keeps_ticks_apart(demo_workspace):
    """No KPIs and no distribution: three panels. Their tick labels must not overlap in print."""
    health = monitor_health(demo_workspace, "breast-cancer-screening")
    period = (health.runs[-6].time, health.runs[-1].time)
    figure = health_figures._health_page("screening — weekly: model health", health,
                                         exported_by="bob", now=datetime(2026, 11, 24),
                                         time_range=period, distribution=None)
    titles = [axes.get_title(loc="left") for axes in figure.get_axes()]
    assert [title for title in titles if title] == [
        "Drifted share", "PSI per feature and run (12 most drifted of 30 features)",
        "Performance over time"]
    renderer = figure.canvas.get_renderer()
    figure.draw(renderer)
    for axes in figure.get_axes():
        for labels in (axes.get_xticklabels(), axes.get_yticklabels()):
            boxes = [label.get_window_extent(renderer) for label in labels
                     if label.get_visible() and label.get_text()]
            assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
            assert all(label.get_fontsize() >= 7 for label in labels)
