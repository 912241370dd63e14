"""Health over time: what the charts draw, read from stored runs and shaped into arrays
(`chart_data`), and the same charts as matplotlib figures for exports (`figures`), so the
window's interactive charts and the PDF report draw the same data. Reads storage; writes
figure files through changes."""
