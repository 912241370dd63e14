"""Reading tabular data for monitors: files, folders of files, SQL queries, and time windows.

Every failure becomes an `InvalidInputError` whose message names the file or source and says
what to do; a monitor run records it as its error.
"""

from __future__ import annotations

import re
import socket
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from modelledger.core.errors import InvalidInputError, ModelLedgerError
from modelledger.core.monitoring import DataSource, FolderPick, MonitorSpec, SourceKind

READERS = {".csv": "read_csv", ".parquet": "read_parquet", ".xlsx": "read_excel"}
KEYRING_SERVICE = "ModelLedger data sources"
_DATE_IN_NAME = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")


def read_table(path: Path, what: str = "Data file") -> Any:
    """A pandas DataFrame from a .csv, .parquet or .xlsx file, or a clear error."""
    import pandas as pd

    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise InvalidInputError(
            f"{what} {path.name}: use a {', '.join(sorted(READERS))} file.")
    if not path.exists():
        raise InvalidInputError(f"{what} {path} does not exist. Check the path or the share.")
    if path.is_dir():
        raise InvalidInputError(f"{what} {path} is a folder, not a file.")
    try:
        frame = getattr(pd, reader)(path)
    except pd.errors.EmptyDataError as exc:
        raise InvalidInputError(f"{what} {path.name} is empty: it has no header and no rows.") \
            from exc
    except PermissionError as exc:
        raise InvalidInputError(f"{what} {path} cannot be read: permission denied.") from exc
    except Exception as exc:  # each reader raises its own parser, engine and IO errors
        raise InvalidInputError(
            f"Cannot read {what.lower()} {path.name}: {_first_line(exc)}. Check that it is a "
            f"valid {path.suffix} file (not truncated or still being written)."
        ) from exc
    frame.columns = [str(column) for column in frame.columns]
    return frame


def table_columns(path: Path) -> list[str]:
    """The column names of a data file, without reading its rows (a form offers them)."""
    if not path.is_file():
        raise InvalidInputError(f"Data file {path} does not exist. Check the path or the share.")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return [str(name) for name in pq.read_schema(path).names]
        if suffix == ".csv":
            import pandas as pd

            return [str(name) for name in pd.read_csv(path, nrows=0).columns]
    except Exception as exc:  # each reader raises its own parser and IO errors
        raise InvalidInputError(f"Cannot read the columns of {path.name}: {_first_line(exc)}."
                                ) from exc
    return [str(name) for name in read_table(path).columns]


def load_current(source: DataSource, slot: datetime) -> tuple[Any, str]:
    """The current data for a run at ``slot`` and a description of where it came from."""
    if source.kind is SourceKind.FILE:
        path = Path(source.path).expanduser()
        return read_table(path, "Current data"), str(path)
    if source.kind is SourceKind.FOLDER:
        path = choose_folder_file(source, slot)
        return read_table(path, "Current data"), str(path)
    return _read_sql(source), f"{source.url}: {source.query}"


def choose_folder_file(source: DataSource, slot: datetime) -> Path:
    folder = Path(source.path).expanduser()
    if not folder.is_dir():
        raise InvalidInputError(f"The data folder {folder} does not exist or is not a folder.")
    files = [p for p in folder.glob(source.pattern) if p.is_file()]
    if not files:
        raise InvalidInputError(f"No file in {folder} matches '{source.pattern}'.")
    if source.pick is FolderPick.NEWEST:
        return max(files, key=lambda p: (p.stat().st_mtime, p.name))
    dated = []
    for path in files:
        match = _DATE_IN_NAME.search(path.name)
        if match:
            try:
                day = datetime(int(match[1]), int(match[2]), int(match[3]), tzinfo=slot.tzinfo)
            except ValueError:
                continue
            if day <= slot:
                dated.append((day, path.name, path))
    if not dated:
        raise InvalidInputError(
            f"No file in {folder} matching '{source.pattern}' has a date (YYYY-MM-DD or "
            f"YYYYMMDD) in its name on or before {slot:%Y-%m-%d}.")
    return max(dated)[2]


def _read_sql(source: DataSource) -> Any:
    import pandas as pd
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    try:
        url = make_url(source.url)
    except Exception as exc:  # SQLAlchemy raises ArgumentError and ValueError for bad URLs
        raise InvalidInputError(f"'{source.url}' is not a database URL: {exc}") from exc
    if source.credential:
        url = url.set(password=source_password(source.credential))
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            frame = pd.read_sql(text(source.query), conn)
    except SQLAlchemyError as exc:
        raise InvalidInputError(
            f"The query against {url.render_as_string(hide_password=True)} failed: "
            f"{_first_line(exc)}") from exc
    finally:
        engine.dispose()
    frame.columns = [str(column) for column in frame.columns]
    return frame


def source_password(credential: str) -> str:
    keyring = _keyring()
    try:
        password = keyring.get_password(KEYRING_SERVICE, credential)
    except Exception as exc:  # keyring backends raise their own errors (locked, no backend)
        raise InvalidInputError(f"The system keyring could not be read: {exc}.") from exc
    if password is None:
        raise InvalidInputError(
            f"No password is stored for '{credential}' in the keyring of {socket.gethostname()}. "
            "Edit the monitor on this computer and enter the password again.")
    return password


def store_source_password(credential: str, password: str) -> None:
    keyring = _keyring()
    try:
        keyring.set_password(KEYRING_SERVICE, credential, password)
    except Exception as exc:  # see source_password
        raise InvalidInputError(
            f"The password could not be stored in the system keyring ({exc}). ModelLedger never "
            "stores passwords in the workspace; use a database account that needs none, or set "
            "up a keyring (e.g. GNOME Keyring, KWallet, Windows Credential Manager, macOS "
            "Keychain).") from exc


def _keyring():
    import keyring

    return keyring


def apply_window(frame: Any, spec: MonitorSpec,
                 slot: datetime) -> tuple[Any, datetime | None, datetime | None]:
    """Rows whose timestamp lies in (slot - window, slot]; the whole frame without a window."""
    import pandas as pd

    if not spec.timestamp:
        return frame, None, None
    if spec.timestamp not in frame.columns:
        raise InvalidInputError(
            f"The timestamp column '{spec.timestamp}' is not in the current data (its columns: "
            f"{_column_list(frame)}).")
    stamps = pd.to_datetime(frame[spec.timestamp], errors="coerce", utc=True)
    if spec.window_days is None:
        valid = stamps.dropna()
        start = valid.min().to_pydatetime() if len(valid) else None
        end = valid.max().to_pydatetime() if len(valid) else None
        return frame, start, end
    end = pd.Timestamp(slot)
    start = end - timedelta(days=spec.window_days)
    return frame[(stamps > start) & (stamps <= end)], start.to_pydatetime(), end.to_pydatetime()


def require_columns(frame: Any, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"The {what} has no column {', '.join(repr(c) for c in missing)} (its columns: "
            f"{_column_list(frame)}). Fix the data or edit the monitor's columns.")


def _column_list(frame: Any) -> str:
    names = [str(c) for c in frame.columns[:12]]
    return ", ".join(names) + (", …" if len(frame.columns) > 12 else "")


def _first_line(exc: BaseException) -> str:
    if isinstance(exc, ModelLedgerError):
        return str(exc)
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
