"""Side-by-side comparison of model versions: which facts, metrics and parameters differ.

Values are compared exactly; only their display is compact. When compact texts would make two
different values look alike (0.95612 and 0.95614 both read 0.9561), the row falls back to more
precise texts, so a flagged difference is always visible.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelledger.core.domain import ModelVersion

MISSING_TEXT = "—"

SECTION_VERSION = "Version"
SECTION_METRICS = "Metrics"
SECTION_PARAMETERS = "Parameters"
SECTION_FEATURES = "Features"
SECTION_ENVIRONMENT = "Environment"
# Metrics come right after the version facts: they are what a reviewer compares first.
SECTIONS = (SECTION_VERSION, SECTION_METRICS, SECTION_PARAMETERS, SECTION_FEATURES,
            SECTION_ENVIRONMENT)


class _Missing(enum.Enum):
    MISSING = "missing"

    def __repr__(self) -> str:
        return "MISSING"


# Not None: a parameter set to None (max_depth=None) differs from one that is not recorded.
MISSING = _Missing.MISSING

Formatter = Callable[[Any], str]


@dataclass(frozen=True)
class ComparedVersion:
    model_name: str
    number: int
    stage: str
    label: str  # the column title: "v3", or "model v3" when models are mixed


@dataclass(frozen=True)
class ComparisonRow:
    section: str
    key: str
    values: tuple[Any, ...]  # one per version; MISSING where the version lacks the field
    texts: tuple[str, ...]  # compact, yet different wherever the values differ
    full_texts: tuple[str, ...]  # exact, for tooltips
    differs: bool  # not all values equal; a missing value differs from a present one
    changed: tuple[bool, ...]  # the value differs from the first version's
    deltas: tuple[float | None, ...]  # metrics: value minus the first version's, where numeric

    def cell_text(self, column: int) -> str:
        """The text of one version's cell, with the change against the first version."""
        delta = self.deltas[column]
        if delta is None or delta == 0:
            return self.texts[column]
        return f"{self.texts[column]} ({format_delta(delta, self.values[0])})"


@dataclass(frozen=True)
class VersionComparison:
    versions: tuple[ComparedVersion, ...]
    rows: tuple[ComparisonRow, ...]

    @property
    def sections(self) -> tuple[str, ...]:
        """The sections that have rows, in display order."""
        present = {row.section for row in self.rows}
        return tuple(section for section in SECTIONS if section in present)

    def rows_in(self, section: str) -> tuple[ComparisonRow, ...]:
        return tuple(row for row in self.rows if row.section == section)

    @property
    def differing_count(self) -> int:
        return sum(row.differs for row in self.rows)


def compare_versions(versions: Sequence[ModelVersion]) -> VersionComparison:
    """Compare ``versions`` field by field; the first one is the baseline for changes."""
    if not versions:
        raise ValueError("compare_versions needs at least one version")
    mixed_models = len({version.model_name for version in versions}) > 1
    compared = tuple(
        ComparedVersion(version.model_name, version.version_number, version.stage.value,
                        f"{version.model_name} v{version.version_number}" if mixed_models
                        else f"v{version.version_number}")
        for version in versions)
    rows = [
        *_version_rows(versions),
        *_mapping_rows(SECTION_METRICS, [version.metrics for version in versions],
                       with_deltas=True),
        *_mapping_rows(SECTION_PARAMETERS, [version.parameters for version in versions]),
        *_feature_rows(versions),
        *_mapping_rows(SECTION_ENVIRONMENT, [version.environment for version in versions]),
    ]
    return VersionComparison(compared, tuple(rows))


# -- formatting ------------------------------------------------------------------------------------


def format_value(value: Any, significant_digits: int | None = 4) -> str:
    """Compact text of a value; ``significant_digits=None`` keeps floats exact."""
    if value is MISSING:
        return MISSING_TEXT
    if isinstance(value, float):
        if significant_digits is None or not math.isfinite(value):
            return repr(value)
        return f"{value:.{significant_digits}g}"
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return f"{value.astimezone():%Y-%m-%d %H:%M}"
    if value is None or isinstance(value, bool | int):
        return str(value)
    return json.dumps(value, sort_keys=True, separators=(", ", ": "), default=str)


def format_delta(delta: float, baseline: float) -> str:
    """The change, to the decimal places the baseline shows with four significant digits.

    0.972 against 0.965 reads +0.007, not +0.006993: the extra digits are noise next to values
    that are shown rounded. A change too small for those places keeps two significant digits.
    """
    if baseline != 0 and math.isfinite(baseline):
        decimals = max(3 - math.floor(math.log10(abs(baseline))), 0)
        text = f"{delta:+.{decimals}f}"
        if decimals:
            text = text.rstrip("0").rstrip(".")
        if float(text) != 0:
            return text
    return f"{delta:+.2g}"


def _exact_text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return format_value(value, significant_digits=None)


def _identity(value: Any) -> str:
    """A key equal for equal values only: True is not 1, and 1 is not 1.0."""
    if value is MISSING:
        return "\x00missing"
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)


GENERAL_TEXTS: tuple[Formatter, ...] = (
    format_value,
    lambda value: format_value(value, 6),
    lambda value: format_value(value, 10),
    _exact_text,
)
DATETIME_TEXTS: tuple[Formatter, ...] = (
    format_value,
    lambda value: f"{value.astimezone():%Y-%m-%d %H:%M:%S}",
    lambda value: f"{value.astimezone():%Y-%m-%d %H:%M:%S.%f}",
    _exact_text,
)
HASH_TEXTS: tuple[Formatter, ...] = (lambda value: f"{value[:12]}…", _exact_text)
CLASS_NAME_TEXTS: tuple[Formatter, ...] = (lambda value: value.rsplit(".", 1)[-1], _exact_text)


def _make_row(section: str, key: str, values: Sequence[Any],
              texts: Sequence[Formatter] = GENERAL_TEXTS, *,
              with_deltas: bool = False) -> ComparisonRow:
    identities = [_identity(value) for value in values]
    baseline = identities[0]
    deltas: list[float | None] = [None] * len(values)
    if with_deltas and _is_number(values[0]):
        for column, value in enumerate(values[1:], start=1):
            if _is_number(value):
                deltas[column] = value - values[0]
    return ComparisonRow(
        section=section,
        key=key,
        values=tuple(values),
        texts=_distinguishing_texts(values, identities, texts),
        full_texts=tuple(MISSING_TEXT if value is MISSING else _exact_text(value)
                         for value in values),
        differs=len(set(identities)) > 1,
        changed=tuple(identity != baseline for identity in identities),
        deltas=tuple(deltas),
    )


def _distinguishing_texts(values: Sequence[Any], identities: Sequence[str],
                          formatters: Sequence[Formatter]) -> tuple[str, ...]:
    """The first (most compact) texts that tell every pair of different values apart."""
    distinct = len(set(identities))
    texts: tuple[str, ...] = ()
    for formatter in formatters:
        texts = tuple(MISSING_TEXT if value is MISSING else formatter(value) for value in values)
        if len(set(texts)) == distinct:
            break
    return texts


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# -- sections --------------------------------------------------------------------------------------


def _present(value: Any) -> Any:
    """Empty facts ("" framework, no parent) read as missing, so they show as a dash."""
    return MISSING if value is None or value == "" else value


def _version_rows(versions: Sequence[ModelVersion]) -> list[ComparisonRow]:
    def row(key: str, value_of: Callable[[ModelVersion], Any],
            texts: Sequence[Formatter] = GENERAL_TEXTS) -> ComparisonRow:
        return _make_row(SECTION_VERSION, key,
                         [_present(value_of(version)) for version in versions], texts)

    return [
        row("Stage", lambda v: v.stage.value),
        row("Estimator", lambda v: v.estimator_class, CLASS_NAME_TEXTS),
        row("Framework", lambda v: v.framework),
        row("Created by", lambda v: v.created_by),
        row("Created at", lambda v: v.created_at, DATETIME_TEXTS),
        row("Parent version",
            lambda v: f"v{v.parent_version}" if v.parent_version is not None else None),
        row("Model file SHA-256", lambda v: v.artifact.sha256 if v.artifact else None,
            HASH_TEXTS),
        row("Training data SHA-256", lambda v: v.training_data.get("content_sha256"),
            HASH_TEXTS),
        row("Training rows", lambda v: v.training_data.get("rows")),
        row("Notes", lambda v: " ".join(v.notes.split())),
    ]


def _mapping_rows(section: str, mappings: Sequence[dict[str, Any]], *,
                  with_deltas: bool = False) -> list[ComparisonRow]:
    keys = sorted(set().union(*mappings))
    return [_make_row(section, key, [mapping.get(key, MISSING) for mapping in mappings],
                      with_deltas=with_deltas)
            for key in keys]


def _feature_rows(versions: Sequence[ModelVersion]) -> list[ComparisonRow]:
    """One row per feature name, in schema order; a version's value is the feature's dtype."""
    dtypes = [{column["name"]: column.get("dtype") or "present"
               for column in version.feature_schema}
              for version in versions]
    names = list(dict.fromkeys(name for schema in dtypes for name in schema))
    return [_make_row(SECTION_FEATURES, name, [schema.get(name, MISSING) for schema in dtypes])
            for name in names]
