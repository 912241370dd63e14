"""Sparklines: a metric's latest runs as a small line inside a table cell, drawn with QPainter.

The geometry is a pure function, tested without a widget; the delegate only paints it. No numpy
or chart library here: the portfolio, the first page of the window, draws these at start-up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPalette, QPen, QPolygonF
from PySide6.QtWidgets import (
    QApplication,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
)

from modelledger.ui.widgets.table_models import HEALTH_COLOURS

# The model role a sparkline cell returns its data under (anything shaped like `Sparkline`).
SPARKLINE_ROLE = Qt.ItemDataRole.UserRole + 1
SPARKLINE_WIDTH = 160
CELL_PADDING = 4  # between the cell's border and the drawing
DOT_RADIUS = 3.0
LINE_WIDTH = 1.5


class Sparkline(Protocol):
    """What a sparkline draws: values oldest first (None where a run had none), and each run's
    status ("ok", "warn", …) for the colour of the newest point."""

    @property
    def values(self) -> Sequence[float | None]: ...

    @property
    def statuses(self) -> Sequence[str]: ...


def is_missing(value: float | None) -> bool:
    return value is None or math.isnan(value)


def latest_index(values: Sequence[float | None]) -> int | None:
    """The position of the newest value that exists, or None when there is none."""
    for index in range(len(values) - 1, -1, -1):
        if not is_missing(values[index]):
            return index
    return None


def sparkline_points(values: Sequence[float | None], width: float, height: float,
                     margin: float) -> list[list[tuple[float, float]]]:
    """Where each value goes in a ``width`` x ``height`` box, as line segments broken where a
    value is missing. Runs are evenly spaced, the newest at the right edge; the lowest value is
    at the bottom and the highest at the top, ``margin`` inside the box so a dot on the end of
    the line is not clipped. A flat series runs through the middle."""
    present = [value for value in values if not is_missing(value)]
    if not present:
        return []
    low, high = min(present), max(present)
    plot_width = max(width - 2 * margin, 0.0)
    plot_height = max(height - 2 * margin, 0.0)
    step = plot_width / (len(values) - 1) if len(values) > 1 else 0.0
    right = width - margin

    def y_of(value: float) -> float:
        if high == low:
            return height / 2
        return margin + plot_height * (high - value) / (high - low)

    segments: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    for position, value in enumerate(values):
        if value is None or math.isnan(value):
            if current:
                segments.append(current)
                current = []
            continue
        current.append((right - (len(values) - 1 - position) * step, y_of(value)))
    if current:
        segments.append(current)
    return segments


class SparklineDelegate(QStyledItemDelegate):
    """Draws the cell's `SPARKLINE_ROLE` data as a line in the palette's text colour, so it reads
    on light and dark palettes alike, with the newest point as a dot in its status's colour."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        # The style draws the cell's background, selection and focus as in any other cell.
        cell = QStyleOptionViewItem(option)
        self.initStyleOption(cell, index)
        cell.text = ""
        style = cell.widget.style() if cell.widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, cell, painter, cell.widget)
        sparkline: Sparkline | None = index.data(SPARKLINE_ROLE)
        if sparkline is None:
            return
        area = option.rect.adjusted(CELL_PADDING, CELL_PADDING, -CELL_PADDING, -CELL_PADDING)
        segments = sparkline_points(sparkline.values, area.width(), area.height(), DOT_RADIUS)
        newest = latest_index(sparkline.values)
        if not segments or newest is None:
            return
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        line_colour = option.palette.color(QPalette.ColorRole.HighlightedText if selected
                                           else QPalette.ColorRole.Text)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.translate(area.topLeft())
        pen = QPen(line_colour, LINE_WIDTH)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        painter.setBrush(line_colour)
        for segment in segments:
            if len(segment) == 1:  # a run with missing neighbours: a point, not a line
                painter.drawEllipse(QPointF(*segment[0]), LINE_WIDTH, LINE_WIDTH)
            else:
                painter.drawPolyline(QPolygonF([QPointF(x, y) for x, y in segment]))
        status = sparkline.statuses[newest] if newest < len(sparkline.statuses) else ""
        # A ring in the cell's background colour keeps the dot apart from the line under it.
        if selected:
            ring = option.palette.color(QPalette.ColorRole.Highlight)
        elif cell.features & QStyleOptionViewItem.ViewItemFeature.Alternate:
            ring = option.palette.color(QPalette.ColorRole.AlternateBase)
        else:
            ring = option.palette.color(QPalette.ColorRole.Base)
        painter.setPen(QPen(ring, 1.0))
        painter.setBrush(QColor(HEALTH_COLOURS.get(status, line_colour.name())))
        painter.drawEllipse(QPointF(*segments[-1][-1]), DOT_RADIUS, DOT_RADIUS)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem,
                 index: QModelIndex | QPersistentModelIndex) -> QSize:
        return QSize(SPARKLINE_WIDTH, super().sizeHint(option, index).height())
