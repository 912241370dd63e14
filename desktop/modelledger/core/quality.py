"""Data quality of the current data measured against the reference data.

Per watched column: the share of missing values, and for numbers the share outside the range
seen in the reference, for everything else the share of values never seen in the reference.
Across the frames: the schema changes (a watched column gone, a new column, a column whose type
family changed, e.g. numbers that now arrive as text).

Each share comes with its noise floor: the share that chance alone stays under with probability
1 - alpha at this reference size and this window size, so that a verdict can tell a change from
sampling noise. The count of missing values in m rows of undrifted data is beta-binomial,
BetaBinomial(m, k + 1, N - k + 1) for k missing among the N reference rows (the reference share
is itself a sample). A new value of a continuous column falls outside the range of n reference
values with probability 2 / (n + 1), exactly Beta(2, n - 1) distributed, so the count out of
range is BetaBinomial(m, 2, n - 1). The share of values never seen in the reference is, by
Good and Turing, about the share of reference values seen only once, N1 / n; its count is taken
as BetaBinomial(m, N1 + 1, n - N1 + 1).

Everything is vectorised (one hash pass over reference and current values), so a million rows with a
hundred thousand distinct categories take well under a second.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from modelledger.core.errors import InvalidInputError

NUMERIC = "numeric"
BOOLEAN = "boolean"
DATETIME = "datetime"
TEXT = "text"

MISSING = "missing"
EXTRA = "extra"
RETYPED = "retyped"


@dataclass(frozen=True)
class ColumnQuality:
    column: str
    missing_share: float | None  # share missing in current; None if the current data is empty
    out_of_range_share: float | None  # numbers: share outside [reference min, reference max]
    unseen_category_share: float | None  # other types: share of values not in the reference
    # What chance alone stays under at these sizes (see the module's docstring).
    missing_floor: float | None = None
    out_of_range_floor: float | None = None
    unseen_category_floor: float | None = None


@dataclass(frozen=True)
class SchemaChange:
    column: str
    change: str  # "missing" | "extra" | "retyped"
    reference_type: str  # type family: "numeric" | "boolean" | "datetime" | "text" | ""
    current_type: str


@dataclass(frozen=True)
class QualityReport:
    row_count: int
    columns: tuple[ColumnQuality, ...]  # one per requested column present in current, in order
    schema_changes: tuple[SchemaChange, ...]


def type_family(dtype: Any) -> str:
    """The coarse type of a column: "numeric", "boolean", "datetime" or "text".

    Integers and floats (numpy or nullable) and durations are numeric; dates and times with or
    without a time zone and periods are datetime; strings, objects, categories of text and
    anything else are text. A categorical takes the family of its categories.
    """
    dtype = pd.api.types.pandas_dtype(dtype)
    if isinstance(dtype, pd.CategoricalDtype):
        return type_family(dtype.categories.dtype)
    if isinstance(dtype, pd.SparseDtype):
        return type_family(dtype.subtype)
    if pd.api.types.is_bool_dtype(dtype):
        return BOOLEAN
    if pd.api.types.is_datetime64_any_dtype(dtype) or isinstance(dtype, pd.PeriodDtype):
        return DATETIME
    if pd.api.types.is_timedelta64_dtype(dtype):
        return NUMERIC
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        return NUMERIC
    return TEXT


def data_quality(reference: pd.DataFrame, current: pd.DataFrame,
                 columns: Sequence[str], *, alpha: float = 1e-4) -> QualityReport:
    """Quality of ``columns`` in ``current`` against ``reference``, and the schema changes.

    A requested column absent from the current data is a "missing" change (when the reference
    has it) and gets no `ColumnQuality`; a requested column absent from both is skipped. "extra"
    covers every current column the reference lacks. A column is "retyped" only when both sides
    hold values (an all-missing column says nothing about its type; its missing share does);
    object columns are judged by their values, so Python numbers in an object column are
    numeric while numbers read as text are text. Range and unseen-category shares are None when
    the column is new or retyped, or when the reference or the current data has no values.
    Each share's noise floor has a false-alarm rate of ``alpha``.
    """
    if isinstance(columns, str):
        columns = [columns]
    requested = list(dict.fromkeys(columns))
    for frame, which in ((reference, "reference"), (current, "current")):
        counts = pd.Index(frame.columns).value_counts()
        duplicated = [c for c in requested if counts.get(c, 0) > 1]
        if duplicated:
            raise InvalidInputError(
                f"The {which} data has more than one column named {duplicated[0]!r}; rename "
                "the duplicates so that each column name is unique.")

    reference_columns = set(reference.columns)
    current_columns = set(current.columns)
    qualities: list[ColumnQuality] = []
    changes: list[SchemaChange] = []
    for name in requested:
        in_reference, in_current = name in reference_columns, name in current_columns
        if not in_current:
            if in_reference:
                changes.append(SchemaChange(str(name), MISSING,
                                            _shown_family(reference[name]), ""))
            continue
        values = current[name]
        current_family = _family(values)
        known = reference[name] if in_reference else None
        reference_family = _family(known) if known is not None else None
        if current_family and reference_family and current_family != reference_family:
            changes.append(SchemaChange(str(name), RETYPED, reference_family, current_family))
            known = None
        qualities.append(_column_quality(name, reference[name] if in_reference else None, known,
                                         values, current_family, alpha))
    for name in dict.fromkeys(current.columns):
        if name not in reference_columns:
            column = current.loc[:, current.columns == name].iloc[:, 0]
            changes.append(SchemaChange(str(name), EXTRA, "", _shown_family(column)))
    return QualityReport(len(current), tuple(qualities), tuple(changes))


_INFERRED = {
    "boolean": BOOLEAN, "integer": NUMERIC, "floating": NUMERIC, "mixed-integer-float": NUMERIC,
    "decimal": NUMERIC, "timedelta": NUMERIC, "timedelta64": NUMERIC, "datetime": DATETIME,
    "datetime64": DATETIME, "date": DATETIME, "period": DATETIME,
}


def _family(values: pd.Series) -> str | None:
    """The type family shown by the values; None when there are none (no evidence)."""
    if not values.notna().any():
        return None
    if pd.api.types.is_object_dtype(values.dtype):
        return _INFERRED.get(pd.api.types.infer_dtype(values, skipna=True), TEXT)
    return type_family(values.dtype)


def _shown_family(values: pd.Series) -> str:
    return _family(values) or type_family(values.dtype)


def _share_floor(rows: int, a: float, b: float, alpha: float) -> float | None:
    """The share of ``rows`` that a BetaBinomial(rows, a, b) count stays at or under with
    probability at least 1 - alpha. Summed over the counts up to 40 standard deviations above
    the mean (far beyond any alpha asked for), which is much faster than scipy's generic
    search for discrete quantiles."""
    if rows <= 0:
        return None
    total = a + b
    mean = rows * a / total
    sd = math.sqrt(rows * a * b * (total + rows) / (total * total * (total + 1.0)))
    top = int(min(rows, math.ceil(mean + 40.0 * sd + 40.0)))
    tail = 1.0 - np.cumsum(stats.betabinom.pmf(np.arange(top + 1), rows, a, b))
    within = np.flatnonzero(tail <= alpha)
    return float(within[0] if within.size else top) / rows


def _column_quality(name: str, reference: pd.Series | None, comparable: pd.Series | None,
                    current: pd.Series, family: str | None, alpha: float) -> ColumnQuality:
    if len(current) == 0:
        return ColumnQuality(name, None, None, None)
    missing = current.isna().to_numpy(dtype=bool)
    missing_share = float(missing.mean())
    missing_floor = None
    if reference is not None and len(reference):
        reference_missing = int(reference.isna().sum())
        missing_floor = _share_floor(len(current), reference_missing + 1,
                                     len(reference) - reference_missing + 1, alpha)
    out_of_range = unseen = out_of_range_floor = unseen_floor = None
    if comparable is not None and family is not None:
        known = comparable.dropna()
        present = current[~missing]
        if len(known) and family == NUMERIC:
            out_of_range = _out_of_range_share(known, present)
            if out_of_range is not None:
                out_of_range_floor = _share_floor(len(present), 2, max(len(known) - 1, 1),
                                                  alpha)
        elif len(known):
            unseen, singletons = _unseen_share(known, present)
            unseen_floor = _share_floor(len(present), singletons + 1,
                                        len(known) - singletons + 1, alpha)
    return ColumnQuality(name, missing_share, out_of_range, unseen, missing_floor,
                         out_of_range_floor, unseen_floor)


def _out_of_range_share(known: pd.Series, present: pd.Series) -> float | None:
    known, present = _numbers(known), _numbers(present)
    low, high = known.min(), known.max()
    try:
        outside = (present < low) | (present > high)
    except TypeError:  # e.g. durations against plain numbers: no common scale
        return None
    return float(np.asarray(outside, dtype=bool).mean())


def _unseen_share(known: pd.Series, present: pd.Series) -> tuple[float, int]:
    """The share of ``present`` values absent from ``known``, and how many values ``known``
    holds only once."""
    # One hash pass over both (factorize) is several times faster than ``isin`` against a
    # large set of categories, and works for every dtype.
    both = pd.concat([_plain(known), _plain(present)], ignore_index=True)
    codes, uniques = pd.factorize(both)
    known_codes = codes[: len(known)]
    seen = np.zeros(len(uniques) + 1, dtype=bool)  # the extra slot is code -1 (missing)
    seen[known_codes] = True
    singletons = int(np.count_nonzero(np.bincount(known_codes[known_codes >= 0]) == 1))
    return float(1.0 - seen[codes[len(known):]].mean()), singletons


def _numbers(values: pd.Series) -> pd.Series:
    values = _plain(values)
    if pd.api.types.is_object_dtype(values.dtype) \
            and pd.api.types.infer_dtype(values, skipna=True) != "timedelta":
        return pd.to_numeric(values, errors="coerce")
    return values


def _plain(values: pd.Series) -> pd.Series:
    """Categorical and sparse columns as the values they hold."""
    if isinstance(values.dtype, pd.CategoricalDtype | pd.SparseDtype):
        return pd.Series(np.asarray(values), index=values.index)
    return values
