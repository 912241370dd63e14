"""Champion vs challenger as a chart: each metric's improvement with its confidence interval.

Improvements are signed so that right of zero is better for every metric (lower log loss or
RMSE counts as an improvement), so one glance shows which differences are more than chance: the
bars that do not cross the zero line.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QWidget

from modelledger.core.challenger import Comparison
from modelledger.ui.health.charts import ThemedPlot

BETTER = "#2a8f6a"
WORSE = "#d1495b"
UNSURE = "#8a8f98"


class ComparisonChart(ThemedPlot):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, date_axis=False)
        self.setObjectName("comparisonChart")
        self.plotItem.setLabel("bottom", "challenger − champion (right: better)")
        self.plotItem.setMouseEnabled(x=False, y=False)
        self.plotItem.getAxis("bottom").enableAutoSIPrefix(False)
        self.plotItem.invertY(True)  # the first metric on top, as in the table beside it
        self.comparison: Comparison | None = None

    def set_comparison(self, comparison: Comparison | None) -> None:
        self.comparison = comparison
        self.redraw()

    def redraw(self) -> None:
        plot = self.plotItem
        plot.clear()
        left = plot.getAxis("left")
        if self.comparison is None:
            left.setTicks([[]])
            return
        differences = [d for d in self.comparison.differences
                       if math.isfinite(d.improvement)]
        plot.addLine(x=0, pen=pg.mkPen(self.theme.foreground, width=1))
        widest = 0.0
        for row, difference in enumerate(differences):
            low, high = difference.improvement_interval
            colour = BETTER if low > 0 else WORSE if high < 0 else UNSURE
            if math.isfinite(low) and math.isfinite(high):
                plot.addItem(pg.PlotDataItem([low, high], [row, row],
                                             pen=pg.mkPen(colour, width=3)))
                widest = max(widest, abs(low), abs(high))
            plot.addItem(pg.ScatterPlotItem([difference.improvement], [row], size=9,
                                            brush=pg.mkBrush(colour), pen=pg.mkPen(colour)))
            widest = max(widest, abs(difference.improvement))
        labels = [(row, d.metric.replace("_", " ")) for row, d in enumerate(differences)]
        left.setTicks([labels, []])
        metrics = QFontMetrics(left.style["tickFont"] or self.font())
        left.setWidth(max((metrics.horizontalAdvance(text) for _, text in labels), default=0)
                      + 2 * left.style["tickTextOffset"][0] + 8)
        margin = widest * 1.15 or 0.01
        plot.setXRange(-margin, margin, padding=0)
        plot.setYRange(-0.7, max(len(differences) - 0.3, 0.7), padding=0)
