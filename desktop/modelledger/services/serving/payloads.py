"""Request bodies as MLflow's scoring server accepts them, turned into the frame a version
scores, checked against the version's feature schema.

JSON bodies hold exactly one of ``dataframe_split`` ({"columns": [...], "data": [[...]]}),
``dataframe_records`` ([{column: value}, ...]), ``instances`` or ``inputs`` (records, a dict of
columns, or rows of values in the schema's order); ``text/csv`` bodies are a header row and
rows. Every problem is a `PayloadError` naming the column or what is wrong, never an exception
from pandas or numpy.

Where the time goes (benchmarks/serving_bench.py): for a one-row request the DataFrame and the
estimator's own input checks cost more than the JSON. So an all-numeric schema (the common
case) is converted with one ``numpy.asarray`` and handed on as that matrix (`Rows`), with no
DataFrame at all; the column-by-column checks run only to explain a body that this fails on.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from modelledger.core.errors import InvalidInputError

JSON_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
CONTENT_TYPE_JSON = "application/json"
CONTENT_TYPE_CSV = "text/csv"


class PayloadError(InvalidInputError):
    """A request body that cannot be scored; ``column`` is the feature at fault, if one is."""

    def __init__(self, message: str, column: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.column = column
        self.status = status


@dataclass(frozen=True)
class FeatureSchema:
    """The columns a version scores, in the order it was trained on, and their kinds."""

    names: tuple[str, ...]
    numeric: tuple[bool, ...]

    @classmethod
    def from_version(cls, feature_schema: Sequence[Mapping[str, str]],
                     feature_names: Sequence[str] = ()) -> FeatureSchema:
        """From the version's recorded schema; the estimator's ``feature_names_in_`` when the
        version recorded none (then every column is taken as numeric, as scikit-learn fits)."""
        if feature_schema:
            names = tuple(column["name"] for column in feature_schema)
            numeric = tuple(_is_numeric_dtype(column.get("dtype", "")) for column in
                            feature_schema)
            if feature_names and set(feature_names) <= set(names):
                # The training frame may hold more columns (the target); score what the
                # estimator was fitted on.
                kinds = dict(zip(names, numeric, strict=True))
                names = tuple(feature_names)
                numeric = tuple(kinds[name] for name in names)
            return cls(names, numeric)
        return cls(tuple(feature_names), tuple(True for _ in feature_names))

    @property
    def all_numeric(self) -> bool:
        return all(self.numeric)

    def example_row(self) -> pd.DataFrame:
        """One row of neutral values, for warming a version before anyone has sent a request."""
        return pd.DataFrame({name: [0.0 if numeric else ""]
                             for name, numeric in zip(self.names, self.numeric, strict=True)})


class Rows:
    """Rows to score: a float matrix in the schema's column order when every feature is numeric
    (most requests), else a typed frame; either is made from the other only when asked for."""

    __slots__ = ("_frame", "_matrix", "names")

    def __init__(self, names: Sequence[str], *, matrix: np.ndarray | None = None,
                 frame: pd.DataFrame | None = None) -> None:
        self.names = list(names)
        self._matrix = matrix
        self._frame = frame

    @property
    def matrix(self) -> np.ndarray:
        if self._matrix is None:
            self._matrix = self.frame.to_numpy(dtype=np.float64)
        return self._matrix

    @property
    def frame(self) -> pd.DataFrame:
        if self._frame is None:
            self._frame = pd.DataFrame(self._matrix, columns=self.names, copy=False)
        return self._frame


def _is_numeric_dtype(dtype: str) -> bool:
    # An unrecorded dtype ("" from feature_names_in_) is numeric: what scikit-learn fits on.
    return dtype == "" or dtype.startswith(("int", "uint", "float", "Int", "UInt", "Float"))


def parse_body(body: bytes, content_type: str, schema: FeatureSchema) -> Rows:
    """The rows ``body`` describes, with the schema's columns in its order."""
    mime_type, _, parameters = content_type.partition(";")
    mime_type = mime_type.strip().lower()
    charset = "utf-8"
    for parameter in parameters.split(";"):
        key, _, value = parameter.strip().partition("=")
        if key.lower() == "charset":
            charset = value.strip().strip('"').lower()
    if charset not in ("utf-8", "utf8"):
        raise PayloadError(f"The body must be UTF-8, not {charset}.", status=415)
    if mime_type == CONTENT_TYPE_JSON:
        return _frame_from_json(body, schema)
    if mime_type == CONTENT_TYPE_CSV:
        return _frame_from_csv(body, schema)
    raise PayloadError(
        f"Content-Type must be {CONTENT_TYPE_JSON} or {CONTENT_TYPE_CSV}, not "
        f"'{content_type or '(none)'}'.", status=415)


# -- JSON ---------------------------------------------------------------------------------------

def _frame_from_json(body: bytes, schema: FeatureSchema) -> Rows:
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PayloadError(f"The body is not valid JSON: {exc}.") from None
    if not isinstance(document, dict):
        raise PayloadError(f"The body must be a JSON object with one of the keys "
                           f"{', '.join(JSON_FORMATS)}; it is a {type(document).__name__}.")
    given = [key for key in JSON_FORMATS if key in document]
    if len(given) != 1:
        raise PayloadError(f"The body must hold exactly one of {', '.join(JSON_FORMATS)}; it "
                           f"holds {', '.join(given) if given else 'none'} (keys: "
                           f"{', '.join(map(str, document)) or 'none'}).")
    payload_format = given[0]
    data = document[payload_format]
    if payload_format == "dataframe_split":
        return _frame_from_split(data, schema)
    if payload_format == "dataframe_records":
        return _frame_from_records(data, schema, payload_format)
    # instances / inputs: records, a dict of columns, or rows in the schema's order.
    if isinstance(data, dict):
        return _frame_from_columns(data, schema, payload_format)
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return _frame_from_records(data, schema, payload_format)
    if isinstance(data, list):
        return _frame_from_rows(data, schema, payload_format)
    raise PayloadError(f"'{payload_format}' must be a list of rows, a list of records or an "
                       f"object of columns; it is a {type(data).__name__}.")


def _frame_from_split(data: Any, schema: FeatureSchema) -> Rows:
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise PayloadError("'dataframe_split' must be an object with 'columns' (a list of "
                           "names) and 'data' (a list of rows).")
    columns = data.get("columns")
    rows = data["data"]
    if columns is None:
        return _frame_from_rows(rows, schema, "dataframe_split")
    if not isinstance(columns, list):
        raise PayloadError("'dataframe_split.columns' must be a list of column names.")
    if tuple(columns) == schema.names:
        return _frame_from_rows(rows, schema, "dataframe_split")
    position = {name: index for index, name in enumerate(columns)}
    _require_columns(position, schema)
    order = [position[name] for name in schema.names]
    width = len(columns)
    reordered = []
    for number, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            raise PayloadError(f"Row {number} of 'dataframe_split.data' must be a list of "
                               f"{width} values, one per column.")
        reordered.append([row[index] for index in order])
    return _frame_from_rows(reordered, schema, "dataframe_split")


def _frame_from_records(records: Any, schema: FeatureSchema, where: str) -> Rows:
    if not isinstance(records, list):
        raise PayloadError(f"'{where}' must be a list of records ({{column: value}}).")
    names = schema.names
    rows = []
    for number, record in enumerate(records):
        if not isinstance(record, dict):
            raise PayloadError(f"Record {number} of '{where}' must be an object "
                               "{column: value}.")
        try:
            rows.append([record[name] for name in names])
        except KeyError:
            missing = next(name for name in names if name not in record)
            raise PayloadError(f"Record {number} of '{where}' has no column '{missing}'.",
                               column=missing) from None
    return _frame_from_rows(rows, schema, where)


def _frame_from_columns(columns: dict, schema: FeatureSchema, where: str) -> Rows:
    _require_columns(columns, schema)
    values = [columns[name] if isinstance(columns[name], list) else [columns[name]]
              for name in schema.names]
    lengths = {len(column) for column in values}
    if len(lengths) > 1:
        raise PayloadError(f"The columns of '{where}' must all have the same number of values.")
    return _frame_from_rows([list(row) for row in zip(*values, strict=True)], schema, where)


def _frame_from_rows(rows: Any, schema: FeatureSchema, where: str) -> Rows:
    if not isinstance(rows, list) or not rows:
        raise PayloadError(f"'{where}' holds no rows to score.")
    if not schema.names:  # a version without a recorded schema: scored as sent
        frame = pd.DataFrame(rows)
        return Rows(list(frame.columns), frame=frame)
    if schema.all_numeric:
        try:
            matrix = np.asarray(rows, dtype=np.float64)
        except (TypeError, ValueError):
            matrix = None
        if matrix is not None and matrix.ndim == 2 and matrix.shape[1] == len(schema.names):
            return Rows(schema.names, matrix=matrix)
    _check_row_widths(rows, schema, where)
    frame = pd.DataFrame(rows, columns=list(schema.names))
    return Rows(schema.names, frame=_typed(frame, schema))


def _check_row_widths(rows: list, schema: FeatureSchema, where: str) -> None:
    width = len(schema.names)
    for number, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            got = f"{len(row)} values" if isinstance(row, list) else f"a {type(row).__name__}"
            raise PayloadError(
                f"Row {number} of '{where}' has {got}; the model takes {width} columns in this "
                f"order: {', '.join(schema.names)}.")


def _require_columns(given: Mapping[str, Any], schema: FeatureSchema) -> None:
    missing = [name for name in schema.names if name not in given]
    if missing:
        shown = ", ".join(f"'{name}'" for name in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise PayloadError(f"Missing column {shown}{more}: the model needs "
                           f"{len(schema.names)} columns.", column=missing[0])


# -- CSV ----------------------------------------------------------------------------------------

def _frame_from_csv(body: bytes, schema: FeatureSchema) -> Rows:
    if not body.strip():
        raise PayloadError("The CSV body is empty: send a header row and at least one row.")
    try:
        frame = pd.read_csv(io.BytesIO(body), encoding="utf-8")
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise PayloadError(f"The body is not readable CSV: {exc}".rstrip(".") + ".") from None
    if frame.empty:
        raise PayloadError("The CSV body has a header but no rows to score.")
    if not schema.names:
        return Rows(list(frame.columns), frame=frame)
    _require_columns(frame.columns, schema)
    return Rows(schema.names, frame=_typed(frame[list(schema.names)], schema))


# -- types --------------------------------------------------------------------------------------

def _typed(frame: pd.DataFrame, schema: FeatureSchema) -> pd.DataFrame:
    """``frame`` with numeric columns as float64; the first value that is not a number, named
    with its column and row, is a PayloadError."""
    converted = {}
    for name, numeric in zip(schema.names, schema.numeric, strict=True):
        column = frame[name]
        if numeric:
            converted[name] = _numeric_column(column, name)
        else:
            _check_scalars(column, name)
            converted[name] = column
    return pd.DataFrame(converted, index=frame.index)


def _numeric_column(column: pd.Series, name: str) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(
            column.dtype):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    values = np.empty(len(column), dtype=np.float64)
    for row, value in enumerate(column.tolist()):
        values[row] = _number(value, name, row)
    return values


def _number(value: Any, column: str, row: int) -> float:
    if value is None:
        return math.nan
    if not isinstance(value, int | float | str):  # bool is an int: 0 or 1, as numpy takes it
        raise PayloadError(f"Column '{column}' must hold numbers; row {row} holds a "
                           f"{type(value).__name__} ({json.dumps(value, default=str)[:40]}).",
                           column=column)
    try:
        return float(value)
    except ValueError:
        raise PayloadError(f"Column '{column}' must hold numbers; row {row} holds "
                           f"'{value[:40]}', which is not one.", column=column) from None


def _check_scalars(column: pd.Series, name: str) -> None:
    if column.dtype != object:
        return
    for row, value in enumerate(column.tolist()):
        if isinstance(value, dict | list):
            raise PayloadError(f"Column '{name}' must hold single values; row {row} holds a "
                               f"{type(value).__name__}.", column=name)


def predictions_json(predictions: Any) -> bytes:
    """``{"predictions": [...]}`` as MLflow's scoring server answers."""
    if isinstance(predictions, pd.DataFrame):
        values = predictions.to_dict(orient="records")
    elif isinstance(predictions, np.ndarray | pd.Series):
        values = predictions.tolist()
    else:
        values = list(predictions)
    return json.dumps({"predictions": values}, allow_nan=True).encode()
