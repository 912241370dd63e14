"""Chart redraw times: a metric series of 1,000,000 points and a 50 features x 1,000 runs heatmap.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/chart_bench.py

Measures, in one run on the same data, the redraw of a 1200 x 400 px chart:
* matplotlib (Agg, what exports use): the raw series, and the series downsampled to the pixel
  width with core.downsample (min-max, 2 points per pixel column; LTTB, 1 per column), the
  downsampling itself timed separately; the heatmap with imshow;
* pyqtgraph, if installed (`.venv/bin/pip install pyqtgraph`), the interactive candidate: the
  raw series with its own peak downsampling and clipping, panned before each redraw so that it
  downsamples again, and the heatmap as an ImageItem.
Each figure is the median of 7 redraws after one warm-up. Goal: under 100 ms per redraw.
Prints figures, asserts nothing.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "desktop"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np

from modelledger.core.downsample import lttb_indices, min_max_indices

WIDTH, HEIGHT, POINTS, FEATURES, RUNS, REPEATS = 1200, 400, 1_000_000, 50, 1_000, 7


def median_ms(action) -> float:
    action()
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def data():
    rng = np.random.default_rng(7)
    x = np.arange(POINTS, dtype=np.float64)
    y = np.cumsum(rng.normal(0, 0.01, POINTS)) + np.sin(x / 20_000)
    heat = rng.gamma(1.5, 0.05, (FEATURES, RUNS))
    return x, y, heat


def matplotlib_figures(x, y, heat) -> dict[str, float]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def line_figure(xs, ys):
        figure = Figure(figsize=(WIDTH / 100, HEIGHT / 100), dpi=100)
        canvas = FigureCanvasAgg(figure)
        figure.add_subplot().plot(xs, ys, linewidth=0.8)
        return canvas

    results = {}
    raw = line_figure(x, y)
    results["matplotlib, raw 1M points"] = median_ms(raw.draw)
    results["min-max downsampling (1M -> 2,400)"] = median_ms(
        lambda: min_max_indices(x, y, WIDTH))
    chosen = min_max_indices(x, y, WIDTH)
    results["matplotlib, min-max 2,400 points"] = median_ms(line_figure(x[chosen],
                                                                       y[chosen]).draw)
    results["LTTB downsampling (1M -> 1,200)"] = median_ms(lambda: lttb_indices(x, y, WIDTH))
    chosen = lttb_indices(x, y, WIDTH)
    results["matplotlib, LTTB 1,200 points"] = median_ms(line_figure(x[chosen],
                                                                     y[chosen]).draw)
    figure = Figure(figsize=(WIDTH / 100, HEIGHT / 100), dpi=100)
    canvas = FigureCanvasAgg(figure)
    figure.add_subplot().imshow(heat, aspect="auto", interpolation="nearest", cmap="viridis")
    results[f"matplotlib, heatmap {FEATURES} x {RUNS}"] = median_ms(canvas.draw)
    return results


def pyqtgraph_figures(x, y, heat) -> dict[str, float]:
    try:
        import pyqtgraph as pg
    except ImportError:
        print("pyqtgraph is not installed: `.venv/bin/pip install pyqtgraph` to compare it.")
        return {}
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv)
    plot = pg.PlotWidget()
    plot.resize(WIDTH, HEIGHT)
    curve = plot.plot(x, y)
    curve.setDownsampling(auto=True, method="peak")
    curve.setClipToView(True)
    plot.show()
    app.processEvents()

    def redraw(widget):
        widget.viewport().update()
        widget.grab()

    pans = iter(range(10**6))

    def pan_and_redraw():
        # A pan changes the view, so pyqtgraph downsamples and clips again before painting.
        shift = next(pans) % 2 * 1_000
        plot.setXRange(shift, POINTS - 1 - shift, padding=0)
        app.processEvents()
        redraw(plot)

    results = {"pyqtgraph, 1M points (peak downsampling)": median_ms(pan_and_redraw)}
    heatmap = pg.PlotWidget()
    heatmap.resize(WIDTH, HEIGHT)
    heatmap.addItem(pg.ImageItem(heat.T))
    heatmap.show()
    app.processEvents()
    results[f"pyqtgraph, heatmap {FEATURES} x {RUNS}"] = median_ms(lambda: redraw(heatmap))
    plot.close()
    heatmap.close()
    return results


def main() -> int:
    x, y, heat = data()
    results = {**matplotlib_figures(x, y, heat), **pyqtgraph_figures(x, y, heat)}
    print(f"Redraw of a {WIDTH} x {HEIGHT} px chart, median of {REPEATS} (ms); goal < 100 ms\n")
    for name, value in results.items():
        verdict = "" if "downsampling (" in name else ("  met" if value < 100 else "  NOT met")
        print(f"  {name:45} {value:9.1f}{verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
