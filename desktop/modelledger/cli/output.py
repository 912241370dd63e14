"""How commands print: aligned tables, progress steps, short metric lists."""

from __future__ import annotations

from collections.abc import Sequence


def print_step(message: str) -> None:
    print(f"  {message}")


def metrics_text(metrics: dict) -> str:
    return ", ".join(f"{key}={value:.4g}" for key, value in list(metrics.items())[:3]) or "-"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    if not rows:
        print("(none)")
        return
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows,
                                                                          strict=False)]
    for row in (headers, *rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths,
                                                                       strict=True)).rstrip())
