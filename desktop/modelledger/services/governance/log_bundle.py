"""One zip file for a support request: the application's log files and the logs of the
monitoring runs of a period, with a README that says what is inside and what it covers.

The zip is written under a temporary name beside the destination and renamed when complete,
so a cancelled or failed bundle never leaves a broken file under the chosen name.
"""

from __future__ import annotations

import csv
import errno
import io
import os
import platform
import re
import socket
import uuid
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from modelledger import __version__
from modelledger.core.errors import DiskFullError, InvalidInputError
from modelledger.storage.database import Database
from modelledger.storage.tables import model_versions, monitor_runs, monitors, registered_models

APPLICATION_LOGS = "application-logs"
JOB_LOGS = "job-logs"
JOB_INDEX = "job-runs.csv"
JOB_INDEX_COLUMNS = ("run_id", "model", "monitor", "slot", "started_at", "finished_at",
                     "status", "health", "attempt", "version", "instance", "summary", "error")
RUN_BATCH = 200

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class LogBundle:
    path: Path
    application_logs: int  # files
    job_runs: int
    size_bytes: int


def write_log_bundle(destination: Path, start: datetime, end: datetime, *, log_dir: Path,
                     database: Database | None, recent_lines: Sequence[str] = (),
                     progress: Progress | None = None,
                     check_cancelled: Callable[[], None] | None = None) -> LogBundle:
    """Bundle the log files written from ``start`` and the monitoring runs that finished in
    [``start``, ``end``) of ``database`` (none: application logs only) into ``destination``.

    ``recent_lines`` stand in for the log files when there are none (a home folder that could
    not be written). ``check_cancelled`` raises to stop; nothing is left behind then.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("the period's bounds must be timezone-aware")
    if start >= end:
        raise InvalidInputError("The start of the period must come before its end.")
    report = progress or (lambda done, total, text: None)
    stop_if_cancelled = check_cancelled or (lambda: None)
    log_files = _log_files_written_since(log_dir, start)
    run_count = database.read(lambda conn: _count_runs(conn, start, end)) if database else 0
    total = len(log_files) + run_count + 1
    temporary = destination.with_name(f".{destination.name}.{uuid.uuid4().hex[:12]}.part")
    try:
        with zipfile.ZipFile(_create(temporary), "w", zipfile.ZIP_DEFLATED) as bundle:
            unreadable = []
            for done, path in enumerate(log_files, 1):
                stop_if_cancelled()
                report(done, total, f"adding {path.name}")
                try:
                    bundle.write(path, f"{APPLICATION_LOGS}/{path.name}")
                except OSError as exc:
                    unreadable.append(f"{path.name}: {exc.strerror}")
            if not log_files:
                bundle.writestr(f"{APPLICATION_LOGS}/recent-lines.log",
                                "\n".join(recent_lines) + "\n")
            index = io.StringIO()
            rows = csv.writer(index)
            rows.writerow(JOB_INDEX_COLUMNS)
            done = len(log_files)
            for run in _runs(database, start, end) if database else ():
                stop_if_cancelled()
                done += 1
                report(done, total, f"adding the log of run #{run['run_id']}")
                bundle.writestr(_job_log_name(run), _job_log(run))
                rows.writerow([_text(run[column]) for column in JOB_INDEX_COLUMNS])
            bundle.writestr(JOB_INDEX, index.getvalue())
            report(total, total, "writing the README")
            bundle.writestr("README.txt", _readme(start, end, database, len(log_files),
                                                  unreadable, run_count))
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, destination)
    except OSError as exc:
        _remove(temporary)
        if exc.errno == errno.ENOSPC:
            raise DiskFullError(f"The disk holding {destination.parent} is full; the log bundle "
                                "was not written. Free some space and try again.") from exc
        raise InvalidInputError(f"Cannot write the log bundle to {destination.parent}: "
                                f"{exc.strerror}. Choose a folder you can write to.") from exc
    except BaseException:
        _remove(temporary)
        raise
    return LogBundle(destination, len(log_files), run_count, destination.stat().st_size)


def _create(path: Path):
    # O_EXCL: never write into a file someone else put there under our temporary name.
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                             | getattr(os, "O_BINARY", 0), 0o666), "wb")


def _remove(path: Path) -> None:
    if path.exists():
        path.unlink()


def _log_files_written_since(log_dir: Path, start: datetime) -> list[Path]:
    """The log files last written at or after ``start`` (older rotated files hold nothing of
    the period), oldest first as a reader would follow them."""
    try:
        candidates = [path for path in log_dir.iterdir()
                      if path.is_file() and ".log" in path.name]
    except OSError:  # no log folder: logging to a file was never possible
        return []
    written = [(path.stat().st_mtime, path) for path in candidates]
    return [path for mtime, path in sorted(written) if mtime >= start.timestamp()]


def _run_query():
    return (
        select(monitor_runs.c.id.label("run_id"), registered_models.c.name.label("model"),
               monitors.c.name.label("monitor"), monitor_runs.c.slot,
               monitor_runs.c.started_at, monitor_runs.c.finished_at, monitor_runs.c.status,
               monitor_runs.c.health, monitor_runs.c.attempt,
               model_versions.c.version_number.label("version"), monitor_runs.c.instance,
               monitor_runs.c.window_start, monitor_runs.c.window_end,
               monitor_runs.c.data_description, monitor_runs.c.summary, monitor_runs.c.error,
               monitor_runs.c.log)
        .join(monitors, monitors.c.id == monitor_runs.c.monitor_id)
        .join(registered_models, registered_models.c.id == monitors.c.model_id)
        .outerjoin(model_versions, model_versions.c.id == monitor_runs.c.version_id)
    )


def _in_period(query, start: datetime, end: datetime):
    return query.where(monitor_runs.c.finished_at >= start, monitor_runs.c.finished_at < end)


def _count_runs(conn, start: datetime, end: datetime) -> int:
    return conn.execute(_in_period(select(func.count()).select_from(monitor_runs),
                                   start, end)).scalar_one()


def _runs(database: Database, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
    """The period's runs in id order, a batch per read, so that a long period with large logs
    is never held in memory at once."""
    after_id = 0
    while True:
        query = (_in_period(_run_query(), start, end).where(monitor_runs.c.id > after_id)
                 .order_by(monitor_runs.c.id).limit(RUN_BATCH))
        batch = database.read(lambda conn, query=query: [dict(row._mapping)
                                                         for row in conn.execute(query)])
        if not batch:
            return
        yield from batch
        after_id = batch[-1]["run_id"]


def _job_log_name(run: dict[str, Any]) -> str:
    return f"{JOB_LOGS}/{_safe(run['model'])}/{_safe(run['monitor'])}/run-{run['run_id']}.log"


def _safe(name: str) -> str:
    """A name usable as a folder on every system (monitor names are free text)."""
    return re.sub(r"[^A-Za-z0-9 ._-]+", "_", name).strip(" .") or "_"


def _job_log(run: dict[str, Any]) -> str:
    facts = [
        ("Model", run["model"]), ("Monitor", run["monitor"]), ("Slot", run["slot"]),
        ("Attempt", run["attempt"]), ("Instance", run["instance"]),
        ("Started", run["started_at"]), ("Finished", run["finished_at"]),
        ("Status", run["status"]), ("Health", run["health"]),
        ("Version", f"v{run['version']}" if run["version"] is not None else "none"),
        ("Data window", f"{_text(run['window_start'])} to {_text(run['window_end'])}"
         if run["window_start"] else "whole source"),
        ("Data", run["data_description"]), ("Summary", run["summary"]),
    ]
    lines = [f"Monitoring run #{run['run_id']}", ""]
    lines += [f"{label + ':':<13}{_text(value)}" for label, value in facts]
    for title, text in (("Error", run["error"]), ("Log", run["log"])):
        lines += ["", f"{title}:", text.rstrip() or "(none)"]
    return "\n".join(lines) + "\n"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value)


def _readme(start: datetime, end: datetime, database: Database | None, log_files: int,
            unreadable: list[str], run_count: int) -> str:
    workspace = (database.display_name if database is not None
                 else "none open: application logs only")
    lines = [
        "ModelLedger log bundle",
        "",
        f"Created:    {_text(datetime.now(UTC))} on {socket.gethostname()}",
        f"ModelLedger {__version__}, Python {platform.python_version()}, "
        f"{platform.platform()}",
        f"Period:     {_text(start)} to {_text(end)}",
        f"Workspace:  {workspace}",
        "",
        "Contents",
        f"  {APPLICATION_LOGS}/  the application's log files written during the period "
        f"({log_files}; the application keeps its latest few)",
        f"  {JOB_INDEX}       one line per monitoring run that finished in the period "
        f"({run_count})",
        f"  {JOB_LOGS}/          each of those runs' log and error, by model and monitor",
    ]
    if not log_files:
        lines += ["", f"No log file was written during the period: {APPLICATION_LOGS}/"
                      "recent-lines.log holds the lines this session still had in memory."]
    if unreadable:
        lines += ["", "Log files that could not be read:"] + [f"  {line}" for line in unreadable]
    lines += ["", "Look through the files before you send them: log lines name files, models "
                  "and monitors, and errors may quote values from your data."]
    return "\n".join(lines) + "\n"
