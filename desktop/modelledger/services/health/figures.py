"""The health charts as matplotlib figures, for export: PNG, SVG and a one-page PDF report.

Drawn from the objects of `services.health_charts`, the same ones the interactive charts draw,
always in a light print palette whatever the app's theme. No pyplot: its global figure registry
is not thread-safe and exports run off the GUI thread, so every figure is a plain `Figure` on an
Agg canvas. Font sizes are set on each text rather than through rcParams, which are global too.
Dates are shown in the computer's local time zone.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from dateutil import tz as dateutil_tz
from matplotlib import colormaps, transforms
from matplotlib import dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from modelledger.core.downsample import min_max_indices
from modelledger.core.errors import InvalidInputError
from modelledger.core.palette import HEALTH_COLOURS, MUTED, status_colour
from modelledger.services.changes.atomic_files import write_atomically
from modelledger.services.health.chart_data import (
    DRIFT_MEASURES,
    Distribution,
    DriftHeatmap,
    KpiBand,
    MetricSeries,
    MonitorHealth,
    VersionMarker,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import FigureBase

VALUE_COLOUR = "#1f4e79"
VERSION_COLOUR = "#333333"
REFERENCE_COLOUR = "#a6a6a6"
MISSING_COLOUR = "#d9d9d9"
# Okabe-Ito: tells lines apart in colour-blind eyes and in greyscale print.
LINE_COLOURS = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#000000")
TEXT_PT, SMALL_PT, TITLE_PT = 8, 7, 9

PNG_DPI = 150
SAVE_FORMATS = {".png": "png", ".svg": "svg"}
A4_LANDSCAPE = (11.69, 8.27)  # inches
ERROR_METRICS = ("performance.log_loss", "performance.mae", "performance.rmse")
PAGE_KPIS = 2
PERFORMANCE_TITLE = "Performance over time"
PAGE_HEATMAP_ROWS = 12
# Version changes closer than this share of the time axis get one line and one label.
MARKER_MERGE_SHARE = 0.015

# A panel of the PDF page: draws itself into its cell, given the pixels a line may use.
Panel = Callable[["FigureBase", int], None]


def series_figure(series: MetricSeries, markers: Sequence[VersionMarker] = (), *,
                  time_range: tuple[float, float] | None = None,
                  title: str | None = None) -> Figure:
    """The metric over time with its warn and critical zones, alerts and version changes."""
    figure = _new_figure((8, 4))
    axes = figure.add_subplot()
    if _indices_in_range(series.times, time_range).size:
        _draw_series(axes, series, markers, time_range, _pixel_width(figure))
    else:
        _no_data(axes, "No values in this period.")
    _title(axes, title or series.label)
    _legend_below(figure, axes, columns=6)
    return figure


def kpi_figure(series: MetricSeries, band: KpiBand, markers: Sequence[VersionMarker] = (), *,
               time_range: tuple[float, float] | None = None) -> Figure:
    """A KPI over time against its target and tolerance."""
    figure = _new_figure((8, 4))
    axes = figure.add_subplot()
    if _indices_in_range(series.times, time_range).size:
        _draw_kpi(axes, series, band, markers, time_range, _pixel_width(figure))
    else:
        _no_data(axes, "No values in this period.")
    _title(axes, series.label)
    _legend_below(figure, axes, columns=6)
    return figure


def performance_figure(health: MonitorHealth, *,
                       time_range: tuple[float, float] | None = None) -> Figure:
    """Scores (0..1) on top, errors (log loss, MAE, RMSE) below them, labels received below."""
    figure = _new_figure((8, 5))
    if _has_performance(health, time_range):
        _draw_performance(figure, health, time_range, _pixel_width(figure))
    else:
        axes = figure.add_subplot()
        _no_data(axes, "No performance was measured in this period: it needs a label column "
                       "and runs with labelled rows.")
        _title(axes, PERFORMANCE_TITLE)
    return figure


def heatmap_figure(heatmap: DriftHeatmap, *,
                   time_range: tuple[float, float] | None = None) -> Figure:
    """Features (rows) by runs (columns), coloured by the drift measure."""
    height = min(12.0, max(3.0, 1.4 + 0.24 * len(heatmap.features)))
    figure = _new_figure((8, height))
    axes = figure.add_subplot()
    if heatmap.features and _indices_in_range(heatmap.times, time_range).size:
        _draw_heatmap(axes, heatmap, time_range, max_rows=None)
    else:
        _no_data(axes, "No drift was measured in this period.")
    _title(axes, f"{DRIFT_MEASURES.get(heatmap.measure, heatmap.measure)} per feature and run")
    return figure


def distribution_figure(distribution: Distribution) -> Figure:
    """The reference's share per bin beside the run's."""
    figure = _new_figure((8, 4))
    axes = figure.add_subplot()
    _draw_distribution(axes, distribution)
    _title(axes, _distribution_title(distribution))
    _legend_below(figure, axes, columns=2)
    return figure


def save_figure(figure: Figure, path: Path) -> Path:
    """Write the figure as PNG (150 dpi) or SVG, chosen by the file name's extension."""
    path = Path(path)
    file_format = SAVE_FORMATS.get(path.suffix.lower())
    if file_format is None:
        raise InvalidInputError(
            f"Cannot save a chart as {path.name!r}: choose a file name ending in "
            f"{' or '.join(SAVE_FORMATS)}.")
    write_atomically(path, lambda handle: figure.savefig(
        handle, format=file_format, dpi=PNG_DPI, facecolor="white"))
    return path


def health_page_pdf(model_name: str, health: MonitorHealth, path: Path, *, exported_by: str,
                    now: datetime, time_range: tuple[float, float] | None = None,
                    distribution: Distribution | None = None) -> Path:
    """One A4 landscape page: what the model health page shows, for a review file."""
    path = Path(path)
    title = f"{model_name} — {health.monitor.name}: model health"
    figure = _health_page(title, health, exported_by=exported_by, now=now,
                          time_range=time_range, distribution=distribution)
    metadata = {"Title": title, "Author": exported_by, "Creator": "ModelLedger",
                "Subject": f"Monitoring history of {model_name}",
                "CreationDate": now.astimezone()}  # a naive time is local time
    write_atomically(path, lambda handle: figure.savefig(
        handle, format="pdf", metadata=metadata, facecolor="white"))
    return path


# -- The page --------------------------------------------------------------------------------


def _health_page(title: str, health: MonitorHealth, *, exported_by: str, now: datetime,
                 time_range: tuple[float, float] | None,
                 distribution: Distribution | None) -> Figure:
    figure = _new_figure(A4_LANDSCAPE)
    run_times = np.array([run.time for run in health.runs])
    header, body = figure.subfigures(2, 1, height_ratios=[0.8, 7.4])
    _page_header(header, title, health, time_range or _default_range(run_times, health.markers),
                 exported_by, now)
    # Every time panel shows the same dates, so they line up when read side by side.
    panels = _page_panels(health, _time_limits(run_times, health.markers, time_range),
                          distribution)
    if not panels:
        _no_data(body.add_subplot(), "No run succeeded in this period: there is nothing to "
                                     "chart.")
        return figure
    # One row for one or two panels, else two rows; the top row takes the odd one.
    rows = [panels] if len(panels) <= 2 else [panels[:(len(panels) + 1) // 2],
                                              panels[(len(panels) + 1) // 2:]]
    pixel_width = _pixel_width(figure) // max(len(row) for row in rows)
    for row_figure, row in zip(body.subfigures(len(rows), 1, squeeze=False).ravel(), rows,
                               strict=True):
        cells = row_figure.subfigures(1, len(row), squeeze=False).ravel()
        for cell, draw in zip(cells, row, strict=True):
            draw(cell, pixel_width)
    return figure


def _page_header(header: FigureBase, title: str, health: MonitorHealth,
                 period: tuple[float, float] | None, exported_by: str, now: datetime) -> None:
    runs = [run for run in health.runs
            if period is None or period[0] <= run.time <= period[1]]
    failed = sum(run.status == "failed" for run in runs)
    tz = _local_tz()
    if period is None:
        shown = "no runs yet"
    else:
        start, end = (datetime.fromtimestamp(moment, tz) for moment in period)
        shown = f"{start:%d %b %Y} – {end:%d %b %Y} ({end:%Z})"
    counted = f"{len(runs)} run{'s' if len(runs) != 1 else ''}"
    if failed:
        counted += f", {failed} failed"
    exported = now.astimezone(tz)  # a naive time is local time
    header.text(0.01, 0.92, title, fontsize=14, fontweight="bold", va="top")
    header.text(0.01, 0.42, f"Period shown: {shown} · {counted}", fontsize=TEXT_PT, va="top")
    header.text(0.01, 0.14, f"Exported by {exported_by} on {exported:%d %b %Y %H:%M %Z}",
                fontsize=TEXT_PT, va="top", color=MUTED)
    if runs:
        latest = runs[-1]
        when = datetime.fromtimestamp(latest.time, tz)
        header.text(0.99, 0.92, f"Latest run: {latest.health.upper()}", ha="right", va="top",
                    fontsize=12, fontweight="bold",
                    color=HEALTH_COLOURS.get(latest.health, MUTED))
        header.text(0.99, 0.42, f"{when:%d %b %Y %H:%M}, run #{latest.run_id}", ha="right",
                    va="top", fontsize=TEXT_PT)


def _page_panels(health: MonitorHealth, period: tuple[float, float] | None,
                 distribution: Distribution | None) -> list[Panel]:
    """The panels that have something to show, in reading order."""
    panels: list[Panel] = []
    timeline = health.timeline_metrics()
    key = ("drift.share", "") if ("drift.share", "") in health.series else \
        (timeline[0] if timeline else None)
    if key is not None and _indices_in_range(health.series[key].times, period).size:
        series = health.series[key]

        def draw_timeline(cell: FigureBase, pixel_width: int) -> None:
            axes = cell.add_subplot()
            _draw_series(axes, series, health.markers, period, pixel_width)
            _title(axes, series.label)
            _legend_below(cell, axes, columns=3)

        panels.append(draw_timeline)
    heatmap = health.heatmap("drift.psi")
    if heatmap.features and _indices_in_range(heatmap.times, period).size:

        def draw_heatmap(cell: FigureBase, _pixel_width: int) -> None:
            axes = cell.add_subplot()
            shown = _draw_heatmap(axes, heatmap, period, max_rows=PAGE_HEATMAP_ROWS)
            suffix = (f" ({shown} most drifted of {len(heatmap.features)} features)"
                      if shown < len(heatmap.features) else "")
            _title(axes, f"PSI per feature and run{suffix}")

        panels.append(draw_heatmap)
    if _has_performance(health, period):
        panels.append(lambda cell, pixel_width: _draw_performance(cell, health, period,
                                                                  pixel_width))
    for band in health.kpis[:PAGE_KPIS]:
        kpi = health.get(f"kpi.{band.name}")
        if kpi is None or not _indices_in_range(kpi.times, period).size:
            continue

        def draw_kpi(cell: FigureBase, pixel_width: int, kpi=kpi, band=band) -> None:
            axes = cell.add_subplot()
            _draw_kpi(axes, kpi, band, health.markers, period, pixel_width)
            _title(axes, kpi.label)
            _legend_below(cell, axes, columns=3)

        panels.append(draw_kpi)
    if distribution is not None:

        def draw_distribution(cell: FigureBase, _pixel_width: int) -> None:
            axes = cell.add_subplot()
            _draw_distribution(axes, distribution)
            _title(axes, _distribution_title(distribution))
            _legend_below(cell, axes, columns=2)

        panels.append(draw_distribution)
    return panels


# -- Drawing on axes -------------------------------------------------------------------------


def _draw_series(axes: Axes, series: MetricSeries, markers: Sequence[VersionMarker],
                 time_range: tuple[float, float] | None, pixel_width: int) -> None:
    shown = _indices_in_range(series.times, time_range)
    limits = _value_limits(series.values[shown], series.warn[shown], series.critical[shown])
    axes.set_ylim(limits)
    period = _time_limits(series.times[shown], markers, time_range)
    if series.has_thresholds and shown.size:
        _draw_threshold_zones(axes, series, shown, period, limits)
    _draw_values(axes, series, shown, pixel_width)
    _finish_time_axis(axes, period, markers)


def _draw_threshold_zones(axes: Axes, series: MetricSeries, shown: np.ndarray,
                          period: tuple[float, float], limits: tuple[float, float]) -> None:
    """Shaded zones that follow the thresholds in force at each run (a step at each change),
    across the whole width of the axis."""
    # Only the runs where a threshold changed shape the steps: 1M runs under one threshold
    # draw as one rectangle.
    warn, critical = series.warn[shown], series.critical[shown]
    changed = np.flatnonzero(~_same(warn[1:], warn[:-1]) | ~_same(critical[1:], critical[:-1]))
    corners = np.concatenate([[0], changed + 1])
    x = _date_numbers(np.concatenate([[period[0]], series.times[shown][corners[1:]],
                                      [period[1]]]))
    warn = np.append(warn[corners], warn[corners[-1]])
    critical = np.append(critical[corners], critical[corners[-1]])
    bottom, top = limits
    far = top if series.higher_is_worse else bottom
    # Without a critical threshold the warn zone reaches the edge of the axis.
    warn_end = np.where(np.isnan(critical), far, critical)
    axes.fill_between(x, warn, warn_end, step="post", color=HEALTH_COLOURS["warn"], alpha=0.16,
                      linewidth=0, label="warn zone", zorder=1)
    axes.fill_between(x, critical, np.full(x.shape, far), step="post",
                      color=HEALTH_COLOURS["critical"], alpha=0.14, linewidth=0,
                      label="critical zone", zorder=1)


def _draw_values(axes: Axes, series: MetricSeries, shown: np.ndarray, pixel_width: int, *,
                 colour: str = VALUE_COLOUR, label: str | None = None,
                 status_points: bool = True) -> None:
    """The value line (downsampled to the pixels it covers), status dots and alert triangles."""
    alerts = series.alert_indices[np.isin(series.alert_indices, shown)]
    alerts = alerts[np.isfinite(series.values[alerts])]
    drawn = shown
    if shown.size > 2 * pixel_width:
        kept = min_max_indices(series.times[shown], series.values[shown], pixel_width)
        drawn = np.union1d(shown[kept], alerts)
    x = _date_numbers(series.times[drawn])
    y = series.values[drawn]
    axes.plot(x, y, color=colour, linewidth=1.3, label=label, zorder=3, gid="value line")
    if status_points:
        colours = [status_colour(series.statuses[index]) for index in drawn]
        axes.scatter(x, y, c=colours, s=14 if drawn.size <= 200 else 4, linewidths=0,
                     zorder=4, gid="status points")
    if alerts.size:
        severities = dict(zip(series.alert_indices.tolist(), series.alert_severities,
                              strict=True))
        axes.scatter(_date_numbers(series.times[alerts]), series.values[alerts], marker="^",
                     s=70, c=[status_colour(severities[index]) for index in alerts.tolist()],
                     edgecolors="black", linewidths=0.7, zorder=5, label="alert raised",
                     gid="alerts")


def _draw_kpi(axes: Axes, series: MetricSeries, band: KpiBand,
              markers: Sequence[VersionMarker], time_range: tuple[float, float] | None,
              pixel_width: int) -> None:
    shown = _indices_in_range(series.times, time_range)
    (ok_low, ok_high), (warn_low, warn_high) = band.limits()
    limits = _value_limits(series.values[shown], np.array([warn_low, warn_high]),
                           np.array([band.target]))
    axes.set_ylim(limits)
    bottom, top = limits
    axes.axhline(band.target, color="black", linewidth=1.1, label=f"target {band.target:g}",
                 zorder=2)
    # Clipped to the axis: a side that cannot fail has infinite limits.
    axes.axhspan(max(ok_low, bottom), min(ok_high, top), color=HEALTH_COLOURS["ok"],
                 alpha=0.10, linewidth=0, label=f"within ±{band.tolerance:g}", zorder=1)
    warn_spans = [(warn_low, ok_low), (ok_high, warn_high)]
    critical_spans = [(bottom, warn_low), (warn_high, top)]
    for spans, health, label, alpha in ((warn_spans, "warn", "warn", 0.16),
                                        (critical_spans, "critical", "critical", 0.12)):
        for low, high in spans:
            low, high = max(low, bottom), min(high, top)
            if low < high:
                axes.axhspan(low, high, color=HEALTH_COLOURS[health], alpha=alpha, linewidth=0,
                             label=label, zorder=1)
                label = None  # one legend entry per zone, however many spans it takes
    _draw_values(axes, series, shown, pixel_width)
    _finish_time_axis(axes, _time_limits(series.times[shown], markers, time_range), markers)


def _draw_performance(figure: FigureBase, health: MonitorHealth,
                      time_range: tuple[float, float] | None, pixel_width: int) -> None:
    metrics = health.performance_metrics()
    groups = [("Score", [m for m in metrics if m not in ERROR_METRICS], 3),
              ("Error", [m for m in metrics if m in ERROR_METRICS], 2)]
    groups = [group for group in groups if group[1]]
    labelled = health.get("performance.labelled_rows")
    ratios = [ratio for _, _, ratio in groups] + ([1.3] if labelled is not None else [])
    axes_list = figure.subplots(len(ratios), 1, sharex=True, squeeze=False,
                                gridspec_kw={"height_ratios": ratios}).ravel()
    all_times = []
    colours = iter(LINE_COLOURS * 2)
    for axes, (name, group, _) in zip(axes_list, groups, strict=False):
        for metric in group:
            series = health.series[(metric, "")]
            shown = _indices_in_range(series.times, time_range)
            all_times.append(series.times[shown])
            _draw_values(axes, series, shown, pixel_width, colour=next(colours),
                         label=series.label, status_points=False)
        axes.set_ylabel(name, fontsize=SMALL_PT)
        _legend_right(axes)
    if labelled is not None:
        axes = axes_list[-1]
        shown = _indices_in_range(labelled.times, time_range)
        times = labelled.times[shown]
        all_times.append(times)
        spacing = float(np.median(np.diff(times))) if times.size > 1 else 86400.0
        axes.bar(_date_numbers(times), labelled.values[shown], width=0.8 * spacing / 86400,
                 color=REFERENCE_COLOUR, gid="labelled rows")
        axes.set_ylabel("Labelled rows", fontsize=SMALL_PT)
    period = _time_limits(np.concatenate(all_times), health.markers, time_range)
    for position, axes in enumerate(axes_list):
        _finish_time_axis(axes, period, health.markers, marker_labels=position == 0)
    _title(axes_list[0], PERFORMANCE_TITLE)


def _draw_heatmap(axes: Axes, heatmap: DriftHeatmap, time_range: tuple[float, float] | None, *,
                  max_rows: int | None) -> int:
    """Draw the runs in range; with ``max_rows``, only the most drifted features (in their
    usual order). Returns how many features were drawn."""
    columns = _indices_in_range(heatmap.times, time_range)
    values = heatmap.values[:, columns]
    low_is_bad = heatmap.measure == "drift.p_value"
    rows = np.arange(len(heatmap.features))
    if max_rows is not None and rows.size > max_rows:
        with np.errstate(all="ignore"):
            badness = -np.nanmin(values, axis=1) if low_is_bad else np.nanmax(values, axis=1)
        badness = np.nan_to_num(badness, nan=-np.inf)
        rows = np.sort(np.argsort(-badness, kind="stable")[:max_rows])
    values = values[rows]
    colour_map = colormaps["YlOrRd_r" if low_is_bad else "YlOrRd"].with_extremes(
        bad=MISSING_COLOUR)
    if low_is_bad:
        norm = Normalize(0.0, 1.0)
    else:
        finite = values[np.isfinite(values)]
        highest = max([float(finite.max()) if finite.size else 0.0,
                       heatmap.critical or 0.0, 1e-9])
        norm = Normalize(0.0, highest)
    mesh = axes.pcolormesh(_date_numbers(_column_edges(heatmap.times[columns])),
                           np.arange(rows.size + 1), np.ma.masked_invalid(values),
                           cmap=colour_map, norm=norm, gid="heatmap")
    axes.set_yticks(np.arange(rows.size) + 0.5,
                    [heatmap.features[row] for row in rows], fontsize=SMALL_PT)
    axes.invert_yaxis()  # the first feature on top, as in the feature list
    axes.tick_params(axis="y", length=0)
    if time_range is not None:
        axes.set_xlim(_date_numbers(time_range[0]), _date_numbers(time_range[1]))
    _date_axis(axes)
    colour_bar = axes.get_figure().colorbar(mesh, ax=axes, fraction=0.04, pad=0.02)
    colour_bar.ax.tick_params(labelsize=SMALL_PT)
    colour_bar.set_label(DRIFT_MEASURES.get(heatmap.measure, heatmap.measure),
                         fontsize=SMALL_PT)
    marks = transforms.blended_transform_factory(colour_bar.ax.transAxes,
                                                 colour_bar.ax.transData)
    for health, threshold in (("warn", heatmap.warn), ("critical", heatmap.critical)):
        if threshold is not None and norm.vmin <= threshold <= norm.vmax:
            colour_bar.ax.axhline(threshold, color=HEALTH_COLOURS[health], linewidth=2)
            colour_bar.ax.text(-0.15, threshold, health, transform=marks, ha="right",
                               va="center", fontsize=SMALL_PT, color=HEALTH_COLOURS[health])
    return int(rows.size)


def _draw_distribution(axes: Axes, distribution: Distribution) -> None:
    positions = np.arange(len(distribution.labels))
    reference_label = f"reference ({distribution.reference_rows:,} rows)"
    if distribution.current is None:
        axes.bar(positions, distribution.reference, width=0.6, color=REFERENCE_COLOUR,
                 label=reference_label, gid="reference")
        note = textwrap.fill(distribution.note or "No distribution for this run.", 70)
        axes.text(0.5, 0.96, note, transform=axes.transAxes, ha="center", va="top",
                  fontsize=TEXT_PT, bbox={"facecolor": "white", "edgecolor": MUTED,
                                          "boxstyle": "round,pad=0.4"})
        # Head room for the note above the highest bar.
        axes.set_ylim(0, max(distribution.reference, default=0.0) * 1.45 or 1.0)
    else:
        current_rows = (f"{distribution.current_rows:,} rows"
                        if distribution.current_rows is not None else "rows unknown")
        axes.bar(positions - 0.2, distribution.reference, width=0.4, color=REFERENCE_COLOUR,
                 label=reference_label, gid="reference")
        axes.bar(positions + 0.2, distribution.current, width=0.4, color=VALUE_COLOUR,
                 label=f"this run ({current_rows})", gid="current")
    long_labels = max(map(len, distribution.labels), default=0) * len(positions) > 50
    axes.set_xticks(positions, distribution.labels, fontsize=SMALL_PT,
                    rotation=35 if long_labels else 0, ha="right" if long_labels else "center",
                    rotation_mode="anchor")
    axes.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    axes.tick_params(axis="y", labelsize=SMALL_PT)
    axes.set_ylabel("Share of rows", fontsize=SMALL_PT)
    axes.grid(axis="y", color="#e6e6e6", linewidth=0.6)
    axes.set_axisbelow(True)


# -- Time axes and version markers -----------------------------------------------------------


def _time_limits(times: np.ndarray, markers: Sequence[VersionMarker],
                 time_range: tuple[float, float] | None) -> tuple[float, float] | None:
    """The x axis in POSIX seconds: the period asked for, else the data and the version
    changes after it, with a little room."""
    if time_range is not None:
        return time_range
    period = _default_range(times, markers)
    if period is None:
        return None
    start, end = period
    margin = max((end - start) * 0.02, 43200.0)
    return start - margin, end + margin


def _finish_time_axis(axes: Axes, period: tuple[float, float] | None,
                      markers: Sequence[VersionMarker], *, marker_labels: bool = True) -> None:
    if period is not None:
        axes.set_xlim(_date_numbers(period[0]), _date_numbers(period[1]))
        _draw_markers(axes, markers, period, marker_labels)
    _date_axis(axes)
    axes.tick_params(axis="y", labelsize=SMALL_PT)
    axes.grid(color="#e6e6e6", linewidth=0.6)
    axes.set_axisbelow(True)


def _draw_markers(axes: Axes, markers: Sequence[VersionMarker], limits: tuple[float, float],
                  with_labels: bool) -> None:
    start, end = limits
    inside = sorted((m for m in markers if start <= m.time <= end), key=lambda m: m.time)
    # Promotions seconds apart (v1 then v2 on the same day) share one line and one label.
    groups: list[list[VersionMarker]] = []
    for marker in inside:
        if groups and marker.time - groups[-1][-1].time <= (end - start) * MARKER_MERGE_SHARE:
            groups[-1].append(marker)
        else:
            groups.append([marker])
    label_position = transforms.blended_transform_factory(axes.transData, axes.transAxes)
    for index, group in enumerate(groups):
        x = _date_numbers(group[-1].time)
        rollback = any(marker.kind == "rollback" for marker in group)
        colour = HEALTH_COLOURS["warn"] if rollback else VERSION_COLOUR
        axes.axvline(x, color=colour, linestyle="--", linewidth=1.0, zorder=2,
                     label="version change" if index == 0 else None, gid="version marker")
        if not with_labels:
            continue
        label = group[-1].label
        if len(group) > 1:
            label += f" (after {', '.join(f'v{m.version_number}' for m in group[:-1])})"
        at_bottom = _values_high_near(axes, x, (end - start) / 86400 * 0.1)
        text = axes.text(x, 0.03 if at_bottom else 0.97, label, transform=label_position,
                         rotation=90, ha="right", va="bottom" if at_bottom else "top",
                         fontsize=SMALL_PT, color=colour, zorder=6, clip_on=True,
                         bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8,
                               "pad": 1})
        text.set_in_layout(False)  # clipped to the axes: the layout need not make room


def _values_high_near(axes: Axes, x: float, reach: float) -> bool:
    """Whether the values drawn within ``reach`` days of ``x`` sit mostly in the upper half,
    where a version label at the top would cover them."""
    bottom, top = axes.get_ylim()
    near = [line.get_ydata()[np.abs(line.get_xdata() - x) <= reach]
            for line in axes.get_lines() if line.get_gid() == "value line"]
    values = np.concatenate(near) if near else np.empty(0)
    values = values[np.isfinite(values)]
    return bool(values.size) and float(np.median(values)) > (bottom + top) / 2


def _date_axis(axes: Axes) -> None:
    tz = _local_tz()
    locator = mdates.AutoDateLocator(tz=tz, minticks=3, maxticks=7)
    formatter = mdates.ConciseDateFormatter(locator, tz=tz)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(formatter)
    axes.tick_params(axis="x", labelsize=SMALL_PT)
    axes.xaxis.get_offset_text().set_fontsize(SMALL_PT)


def _default_range(times: np.ndarray, markers: Sequence[VersionMarker]
                   ) -> tuple[float, float] | None:
    """The runs' span, stretched to the version changes after the last run (the version the
    monitor follows next); earlier changes are history the runs already reflect."""
    if times.size == 0:
        return None
    start, end = float(times.min()), float(times.max())
    return start, max([end, *(marker.time for marker in markers if marker.time > end)])


# -- Small helpers ---------------------------------------------------------------------------


def _new_figure(size: tuple[float, float]) -> Figure:
    figure = Figure(figsize=size, layout="constrained", facecolor="white")
    FigureCanvasAgg(figure)
    return figure


def _pixel_width(figure: Figure) -> int:
    """The figure's width in pixels of an exported PNG: the line never needs more points."""
    return int(figure.get_figwidth() * PNG_DPI)


def _title(axes: Axes, text: str) -> None:
    axes.set_title(text, fontsize=TITLE_PT, fontweight="bold", loc="left")


def _legend_below(figure: FigureBase, axes: Axes, *, columns: int) -> None:
    handles, labels = axes.get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="outside lower center",
                      ncols=min(len(handles), columns), fontsize=SMALL_PT, frameon=False,
                      handlelength=1.6, columnspacing=1.2)


def _legend_right(axes: Axes) -> None:
    handles, labels = axes.get_legend_handles_labels()
    # The metrics first; alert triangles of several lines are one entry, after them.
    unique = dict(sorted(zip(labels, handles, strict=True),
                         key=lambda entry: entry[0] in ("alert raised", "version change")))
    if unique:
        axes.legend(unique.values(), unique.keys(), loc="upper left", bbox_to_anchor=(1.01, 1),
                    fontsize=SMALL_PT, frameon=False, handlelength=1.6, borderaxespad=0)


def _no_data(axes: Axes, message: str) -> None:
    axes.set_axis_off()
    axes.text(0.5, 0.5, textwrap.fill(message, 60), transform=axes.transAxes, ha="center",
              va="center", fontsize=TEXT_PT, color=MUTED)


def _distribution_title(distribution: Distribution) -> str:
    when = datetime.fromtimestamp(distribution.run_time, _local_tz())
    return f"{distribution.column}: run #{distribution.run_id} of {when:%d %b %Y %H:%M}"


def _local_tz() -> dateutil_tz.tzlocal:
    return dateutil_tz.tzlocal()


def _date_numbers(seconds):
    """POSIX seconds as matplotlib date numbers (days since matplotlib's epoch)."""
    return np.asarray(seconds, dtype=np.float64) / 86400.0 + mdates.date2num(
        datetime(1970, 1, 1, tzinfo=UTC))


def _has_performance(health: MonitorHealth, time_range: tuple[float, float] | None) -> bool:
    return any(_indices_in_range(health.series[(metric, "")].times, time_range).size
               for metric in health.performance_metrics())


def _indices_in_range(times: np.ndarray, time_range: tuple[float, float] | None) -> np.ndarray:
    if time_range is None:
        return np.arange(times.size)
    return np.flatnonzero((times >= time_range[0]) & (times <= time_range[1]))


def _column_edges(times: np.ndarray) -> np.ndarray:
    """Cell edges halfway between runs, so irregular schedules keep their true dates."""
    if times.size == 1:
        return np.array([times[0] - 43200.0, times[0] + 43200.0])
    middles = (times[1:] + times[:-1]) / 2
    return np.concatenate([[2 * times[0] - middles[0]], middles, [2 * times[-1] - middles[-1]]])


def _value_limits(*arrays: np.ndarray) -> tuple[float, float]:
    """Y limits that hold the values and the thresholds, with a little room."""
    finite = np.concatenate([array[np.isfinite(array)] for array in arrays])
    if finite.size == 0:
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    room = (high - low) * 0.08 or max(abs(high) * 0.1, 0.1)
    return low - room, high + room


def _same(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    return (left == right) | (np.isnan(left) & np.isnan(right))
