"""Evaluating business KPIs over scored data (numpy/pandas); see `core.kpi` for the language.

Kept apart from `core.kpi` so that defining and checking KPIs (the monitor dialog, reading a
monitor's configuration) does not import numpy and pandas at application start-up.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from modelledger.core.kpi import (
    ARITHMETIC_OPERATORS,
    COLUMN_FUNCTION,
    COMPARISON_OPERATORS,
    CRITICAL,
    HIGHER,
    INSUFFICIENT,
    LOGICAL_OPERATORS,
    LOWER,
    OK,
    SHOWN_COLUMNS,
    TOLERANCE_SLACK,
    WARN,
    KpiDefinition,
    KpiResult,
    parse_checked,
)

NUMBER = "number"
BOOLEAN = "boolean"
OTHER = "other"  # text, dates, ...: only ==, != and count()


@dataclass
class _Value:
    kind: str
    data: np.ndarray  # 0-d for a single value, 1-d for a column; numbers hold NaN where missing
    missing: np.ndarray  # bool, same shape
    undefined: np.ndarray  # bool: missing because of a division by zero or undefined power
    about: str  # the expression text, for messages
    described: str = ""  # OTHER: what the values are ("text", "dates", ...)


class _DataProblem(Exception):
    """The expression is fine but this data cannot give a value (told in the note)."""


def evaluate_kpi(definition: KpiDefinition, frame: pd.DataFrame) -> KpiResult:
    """The KPI's value on ``frame`` and its status against the target and tolerance."""
    tree = parse_checked(definition.expression, None)

    def insufficient(note: str) -> KpiResult:
        return KpiResult(definition.name, None, definition.target, definition.tolerance,
                         INSUFFICIENT, note)

    if len(frame) == 0:
        return insufficient("The data has no rows.")
    evaluator = _Evaluator(frame)
    try:
        with np.errstate(all="ignore"):
            result = evaluator.evaluate(tree.body)
    except _DataProblem as problem:
        return insufficient(str(problem))
    notes = list(evaluator.notes)
    if bool(result.missing):
        if bool(result.undefined):
            notes.insert(0, f"The value is undefined: {_reasons(evaluator.reasons)}.")
        else:
            notes.insert(0, "There are no values to compute it from: the columns it uses are "
                            "missing in every row that counts.")
        return insufficient(" ".join(notes))
    value = float(result.data)
    if not math.isfinite(value):
        notes.insert(0, f"The value is not a finite number ({value}); the data holds infinite "
                        "or extremely large values.")
        return insufficient(" ".join(notes))
    status, judgement = _judge(definition, value)
    if judgement:
        notes.insert(0, judgement)
    return KpiResult(definition.name, value, definition.target, definition.tolerance, status,
                     " ".join(notes))


def _judge(definition: KpiDefinition, value: float) -> tuple[str, str]:
    target, tolerance = definition.target, definition.tolerance
    if definition.direction == HIGHER:
        deviation = target - value
    elif definition.direction == LOWER:
        deviation = value - target
    else:
        deviation = abs(value - target)
    slack = TOLERANCE_SLACK * max(1.0, abs(target), abs(value))
    if deviation <= tolerance + slack:
        return OK, ""
    status = WARN if deviation <= 2 * tolerance + slack else CRITICAL
    side = "below" if value < target else "above"
    return status, (f"{_fmt(value)} is {_fmt(abs(value - target))} {side} the target "
                    f"{_fmt(target)} (tolerance {_fmt(tolerance)}; critical beyond "
                    f"{_fmt(2 * tolerance)}).")


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _reasons(reasons: list[str]) -> str:
    return "; ".join(reasons) if reasons else "division by zero"


class _Evaluator:
    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.rows = len(frame)
        self.cache: dict[str, _Value] = {}
        self.notes: list[str] = []
        self.reasons: list[str] = []

    def evaluate(self, node: ast.AST) -> _Value:
        if isinstance(node, ast.Constant):
            kind = BOOLEAN if isinstance(node.value, bool) else NUMBER
            data = np.array(node.value if kind == BOOLEAN else float(node.value))
            return _Value(kind, data, np.array(False), np.array(False), ast.unparse(node))
        if isinstance(node, ast.Name):
            return self.column(node.id)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.BinOp):
            left, right = self.evaluate(node.left), self.evaluate(node.right)
            if type(node.op) in LOGICAL_OPERATORS:
                return self.logical(type(node.op), [left, right], ast.unparse(node))
            return self.arithmetic(node, left, right)
        if isinstance(node, ast.BoolOp):
            op = ast.BitAnd if isinstance(node.op, ast.And) else ast.BitOr
            return self.logical(op, [self.evaluate(v) for v in node.values], ast.unparse(node))
        if isinstance(node, ast.UnaryOp):
            return self.unary(node, self.evaluate(node.operand))
        if isinstance(node, ast.Compare):
            return self.compare(node)
        raise AssertionError(f"unchecked node {type(node).__name__}")  # the checker refuses it

    # -- leaves ---------------------------------------------------------------------------

    def column(self, name: str) -> _Value:
        if name not in self.cache:
            self.cache[name] = _load(self.frame, name)
        return self.cache[name]

    # -- operators ------------------------------------------------------------------------

    def arithmetic(self, node: ast.BinOp, left: _Value, right: _Value) -> _Value:
        symbol = ARITHMETIC_OPERATORS[type(node.op)]
        about = ast.unparse(node)
        a = self.numbers(left, f"'{symbol}'")
        b = self.numbers(right, f"'{symbol}'")
        missing = left.missing | right.missing
        if symbol == "+":
            data = a + b
        elif symbol == "-":
            data = a - b
        elif symbol == "*":
            data = a * b
        elif symbol == "/":
            data = a / b
        else:
            data = np.power(a, b)
        undefined_now, reason = np.zeros_like(missing), ""
        if symbol == "/":
            undefined_now = (b == 0) & ~missing
            reason = f"division by zero in {about}"
        elif symbol == "**":
            undefined_now = ~missing & ((a == 0) & (b < 0) | np.isnan(data))
            reason = f"undefined power in {about}"
        if undefined_now.any():
            data = np.where(undefined_now, np.nan, data)
            missing = missing | undefined_now
            if reason not in self.reasons:
                self.reasons.append(reason)
        undefined = left.undefined | right.undefined | undefined_now
        return _Value(NUMBER, np.asarray(data, dtype=np.float64), missing, undefined, about)

    def unary(self, node: ast.UnaryOp, operand: _Value) -> _Value:
        about = ast.unparse(node)
        if isinstance(node.op, ast.Not | ast.Invert):
            self.conditions(operand, "'not'" if isinstance(node.op, ast.Not) else "'~'")
            return _Value(BOOLEAN, ~operand.data & ~operand.missing, operand.missing,
                          operand.undefined, about)
        data = self.numbers(operand, "'-'")
        return _Value(NUMBER, -data if isinstance(node.op, ast.USub) else data,
                      operand.missing, operand.undefined, about)

    def logical(self, op: type, values: list[_Value], about: str) -> _Value:
        symbol = "&/and" if op is ast.BitAnd else "|/or"
        for value in values:
            self.conditions(value, f"'{symbol}'")
        result = values[0]
        for other in values[1:]:
            if op is ast.BitAnd:  # False wins over missing
                decided = (~result.data & ~result.missing) | (~other.data & ~other.missing)
                data = result.data & other.data
            else:  # True wins over missing
                decided = (result.data & ~result.missing) | (other.data & ~other.missing)
                data = result.data | other.data
            missing = (result.missing | other.missing) & ~decided
            undefined = (result.undefined | other.undefined) & missing
            result = _Value(BOOLEAN, data & ~missing, missing, undefined, about)
        return result

    def compare(self, node: ast.Compare) -> _Value:
        about = ast.unparse(node)
        operands = [self.evaluate(node.left)] + [self.evaluate(c) for c in node.comparators]
        parts = []
        for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
            symbol = COMPARISON_OPERATORS[type(op)]
            a, b = self.comparable(left, right, symbol)
            missing = left.missing | right.missing
            if symbol == "==":
                data = a == b
            elif symbol == "!=":
                data = a != b
            elif symbol == "<":
                data = a < b
            elif symbol == "<=":
                data = a <= b
            elif symbol == ">":
                data = a > b
            else:
                data = a >= b
            data = np.asarray(data, dtype=bool) & ~missing
            parts.append(_Value(BOOLEAN, data, missing, left.undefined | right.undefined, about))
        return parts[0] if len(parts) == 1 else self.logical(ast.BitAnd, parts, about)

    def comparable(self, left: _Value, right: _Value, symbol: str) -> tuple[Any, Any]:
        kinds = {left.kind, right.kind}
        if kinds == {BOOLEAN}:
            return left.data, right.data
        if OTHER not in kinds:
            return self.numbers(left, symbol), self.numbers(right, symbol)
        if kinds == {OTHER} and symbol in ("==", "!="):
            return left.data, right.data
        other = left if left.kind == OTHER else right
        if kinds == {OTHER}:
            raise _DataProblem(f"{symbol} compares numbers, but {other.about!r} holds "
                               f"{_describe(other)}; only == and != compare such columns.")
        raise _DataProblem(f"{symbol} cannot compare {other.about!r}, which holds "
                           f"{_describe(other)}, with numbers.")

    # -- functions ------------------------------------------------------------------------

    def call(self, node: ast.Call) -> _Value:
        name = node.func.id  # the checker made sure it is a plain name
        if name == COLUMN_FUNCTION:
            return self.column(node.args[0].value)
        arguments = [self.evaluate(argument) for argument in node.args]
        about = ast.unparse(node)
        if name == "where":
            return self.where(arguments, about)
        return self.aggregate(name, arguments[0], about)

    def where(self, arguments: list[_Value], about: str) -> _Value:
        condition, yes, no = arguments
        self.conditions(condition, "where()'s first argument")
        kinds = {yes.kind, no.kind}
        if kinds == {BOOLEAN}:
            kind, a, b = BOOLEAN, yes.data, no.data
        elif OTHER not in kinds:
            kind, a, b = NUMBER, self.numbers(yes, "where()"), self.numbers(no, "where()")
        elif kinds == {OTHER}:
            kind, a, b = OTHER, yes.data, no.data
        else:
            raise _DataProblem(f"where() in {about!r} mixes numbers with "
                               f"{_describe(yes if yes.kind == OTHER else no)}; both values "
                               "must be of the same kind.")
        chosen = condition.data
        data = np.where(chosen, a, b)
        missing = condition.missing | np.where(chosen, yes.missing, no.missing)
        undefined = condition.undefined | (np.where(chosen, yes.undefined, no.undefined)
                                           & ~condition.missing)
        if kind == NUMBER:
            data = np.where(missing, np.nan, data)
        elif kind == BOOLEAN:
            data = data & ~missing
        described = yes.described or no.described
        return _Value(kind, np.asarray(data), missing, undefined & missing, about, described)

    def aggregate(self, name: str, value: _Value, about: str) -> _Value:
        if name == "share":
            self.conditions(value, "share()")
        elif name != "count":
            self.numbers(value, f"{name}()")
        present = ~value.missing
        kept = int(np.count_nonzero(present))
        skipped = int(np.count_nonzero(value.undefined & value.missing))
        if name == "count":
            return _scalar(float(kept), False, about)
        if kept == 0:
            return _scalar(np.nan, True, about, undefined=skipped > 0)
        if skipped:
            self.notes.append(f"{about} skips {skipped:,} row{'s' if skipped != 1 else ''} "
                              f"with an undefined value ({_reasons(self.reasons)}).")
        values = value.data[present].astype(np.float64)
        if name in ("mean", "share"):
            result = np.mean(values)
        elif name == "sum":
            result = np.sum(values)
        elif name == "min":
            result = np.min(values)
        elif name == "max":
            result = np.max(values)
        else:
            result = np.median(values)
        return _scalar(float(result), False, about)

    # -- kinds ----------------------------------------------------------------------------

    def numbers(self, value: _Value, used_by: str) -> np.ndarray:
        if value.kind == NUMBER:
            return value.data
        if value.kind == BOOLEAN:
            return np.where(value.missing, np.nan, value.data.astype(np.float64))
        raise _DataProblem(f"{used_by} needs numbers, but {value.about!r} holds "
                           f"{_describe(value)}.")

    def conditions(self, value: _Value, used_by: str) -> None:
        if value.kind != BOOLEAN:
            raise _DataProblem(
                f"{used_by} needs a condition (true/false), but {value.about!r} holds "
                f"{_describe(value)}; write a comparison such as ({value.about} == 1).")


def _scalar(value: float, missing: bool, about: str, undefined: bool = False) -> _Value:
    return _Value(NUMBER, np.array(value), np.array(missing), np.array(undefined), about)


def _describe(value: _Value) -> str:
    if value.kind == NUMBER:
        return "numbers"
    if value.kind == BOOLEAN:
        return "true/false values"
    return value.described or "values that are not numbers"


def _load(frame: pd.DataFrame, name: str) -> _Value:
    if name in frame.columns:
        key: Any = name
    else:
        matches = [c for c in frame.columns if str(c) == name]
        if not matches:
            names = [str(c) for c in frame.columns]
            more = (f" and {len(names) - SHOWN_COLUMNS} more"
                    if len(names) > SHOWN_COLUMNS else "")
            raise _DataProblem(f"The column {name!r} is not in the data (its columns: "
                               f"{', '.join(names[:SHOWN_COLUMNS])}{more}).")
        key = matches[0]
    series = frame[key]
    if isinstance(series, pd.DataFrame):
        raise _DataProblem(f"The data has more than one column named {name!r}.")
    missing = series.isna().to_numpy(dtype=bool)
    dtype = series.dtype
    if pd.api.types.is_object_dtype(dtype):
        inferred = pd.api.types.infer_dtype(series, skipna=True)
        if inferred == "boolean":
            data = series.where(~missing, False).to_numpy(dtype=bool)
            return _Value(BOOLEAN, data, missing, np.zeros_like(missing), name)
        if inferred in ("integer", "floating", "mixed-integer-float", "decimal"):
            series, dtype = pd.to_numeric(series), np.dtype(np.float64)
    if pd.api.types.is_bool_dtype(dtype):
        data = series.to_numpy(dtype=bool, na_value=False)
        return _Value(BOOLEAN, data, missing, np.zeros_like(missing), name)
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        data = series.to_numpy(dtype=np.float64, na_value=np.nan)
        return _Value(NUMBER, data, missing, np.zeros_like(missing), name)
    data = series.to_numpy(dtype=object)
    if pd.api.types.is_datetime64_any_dtype(dtype) or isinstance(dtype, pd.PeriodDtype):
        described = "dates"
    elif pd.api.types.is_timedelta64_dtype(dtype):
        described = "durations"
    else:
        described = "text"
    return _Value(OTHER, data, missing, np.zeros_like(missing), name, described)
