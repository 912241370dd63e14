"""The colour of each health and run state, shared by the window and the exported figures, so a
state reads the same on every page and in every file (no Qt: plain hex strings)."""

MUTED = "#7a7a7a"
HEALTH_COLOURS = {
    "ok": "#1b7f3b",
    "warn": "#a35f00",
    "critical": "#b00020",
    "failed": "#6a1b9a",
    "insufficient data": MUTED,
    "succeeded": "#1b7f3b",
    "cancelled": MUTED,
    "paused": "#a35f00",
}


def status_colour(status: str) -> str:
    """A metric's or run's status colour; information-only values are muted."""
    return HEALTH_COLOURS.get(status, MUTED)
