"""Logging: a rotating file in the user's log folder and a small in-memory buffer.

The buffer holds the most recent lines so that a crash report can include them.
"""

from __future__ import annotations

import collections
import logging
import logging.handlers
from pathlib import Path

from modelledger.paths import log_folder

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s"
RECENT_LINES = 500


class RecentLinesHandler(logging.Handler):
    def __init__(self, capacity: int = RECENT_LINES) -> None:
        super().__init__()
        self.lines: collections.deque[str] = collections.deque(maxlen=capacity)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


recent_lines = RecentLinesHandler()


def configure_logging(*, console: bool = False, level: int = logging.INFO) -> Path | None:
    """Set up the handlers once; returns the log file, or None if it cannot be written."""
    root = logging.getLogger()
    if recent_lines in root.handlers:
        return None
    formatter = logging.Formatter(LOG_FORMAT)
    root.setLevel(level)
    # APScheduler logs two INFO lines per job execution; the scheduler's 5-second maintenance
    # job alone would fill the log (and a crash report's recent lines) with them.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    recent_lines.setFormatter(formatter)
    root.addHandler(recent_lines)
    log_file: Path | None = log_folder() / "modelledger.log"
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=2_000_000, backupCount=5, encoding="utf-8"
        )
        file_handler.setFormatter(formatter)
        root.addHandler(file_handler)
    except OSError:
        # A read-only home must not stop the program; the recent-lines buffer still works.
        log_file = None
    if console:
        stream = logging.StreamHandler()
        stream.setLevel(logging.WARNING)
        stream.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        root.addHandler(stream)
    return log_file
