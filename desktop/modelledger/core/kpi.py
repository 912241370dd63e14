"""Business KPIs: named expressions over the scored data, judged against a target.

A KPI expression is a small formula over the columns of the scored data that reduces to one
number, e.g. ``share(prediction == 1)``, ``sum(where(prediction == 1, amount * 0.02, 0))`` or
``mean(score) * 100``. It is parsed with `ast` and evaluated by walking the tree here; nothing
is ever handed to ``eval``/``exec``, and only the constructs listed in `ALLOWED` exist.

Semantics, column by column (vectorised with numpy):

* Missing values propagate through arithmetic, comparisons and ``where``; ``&``/``|`` follow
  three-valued logic (False & missing is False). Aggregates skip missing values, like pandas;
  a comparison with a missing value is missing, so ``share(score > 0.5)`` is the share among
  the rows that have a score.
* A division by zero (and an undefined power such as ``0 ** -1``) makes that value missing; an
  aggregate that skips such rows says so in the note, and a KPI whose final value is undefined
  has no value ("insufficient data"). Values are never NaN or infinite.
* ``count`` counts non-missing values; to count the rows where a condition holds, use
  ``sum(condition)``.

Problems with the expression itself raise `InvalidInputError`. Problems that depend on the data
(a column that is not in this data, text where numbers are needed) give the result "insufficient
data" with a note, so one KPI does not stop a monitoring run.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np
import pandas as pd

from modelledger.core.errors import InvalidInputError

HIGHER = "higher"  # a shortfall is bad
LOWER = "lower"  # an excess is bad
BOTH = "both"
DIRECTIONS = (HIGHER, LOWER, BOTH)

OK = "ok"
WARN = "warn"
CRITICAL = "critical"
INSUFFICIENT = "insufficient data"

AGGREGATES = ("mean", "sum", "count", "min", "max", "median", "share")
FUNCTIONS = (*AGGREGATES, "where")
COLUMN_FUNCTION = "col"
ALLOWED = (
    "Allowed: numbers, column names (col(\"a name\") for any name, e.g. with spaces), "
    "+ - * / **, comparisons == != < <= > >=, conditions combined with & | ~ or and/or/not, "
    "parentheses, and the functions mean, sum, count, min, max, median, share(condition) and "
    "where(condition, value if true, value if false)."
)
EXAMPLE = "share(prediction == 1)"

MAX_LENGTH = 5_000
MAX_DEPTH = 100
_SHOWN_COLUMNS = 20
_TOLERANCE_SLACK = 1e-9  # relative: 0.8 - 0.75 is 0.05000000000000004, still within 0.05


# ---------------------------------------------------------------------------------------------
# Definitions and results


@dataclass(frozen=True)
class KpiDefinition:
    name: str
    expression: str
    target: float
    tolerance: float  # >= 0
    direction: str = HIGHER  # "higher" (a shortfall is bad), "lower" (an excess is bad), "both"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidInputError("Give the KPI a name, e.g. \"approval rate\".")
        if not isinstance(self.expression, str):
            raise InvalidInputError(f"The expression of KPI {self.name!r} must be text, e.g. "
                                    f"{EXAMPLE}.")
        object.__setattr__(self, "target", _number(self.target, "target", self.name))
        tolerance = _number(self.tolerance, "tolerance", self.name)
        if tolerance < 0:
            raise InvalidInputError(
                f"The tolerance of KPI {self.name!r} must be 0 or more, not {tolerance:g}: it is "
                "how far the value may miss the target before a warning.")
        object.__setattr__(self, "tolerance", tolerance)
        if self.direction not in DIRECTIONS:
            raise InvalidInputError(
                f"The direction of KPI {self.name!r} must be \"higher\" (a shortfall is bad), "
                f"\"lower\" (an excess is bad) or \"both\", not {self.direction!r}.")
        check_expression(self.expression)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "expression": self.expression, "target": self.target,
                "tolerance": self.tolerance, "direction": self.direction}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KpiDefinition:
        if not isinstance(data, Mapping):
            raise InvalidInputError(
                f"A KPI must be given as a mapping with name, expression, target and tolerance, "
                f"not {type(data).__name__}.")
        required = ("name", "expression", "target", "tolerance")
        lacking = [key for key in required if key not in data]
        if lacking:
            raise InvalidInputError(f"The KPI {data.get('name', '')!r} lacks {', '.join(lacking)}; "
                                    f"a KPI needs {', '.join(required)} (and optionally "
                                    "direction).")
        unknown = sorted(set(data) - {*required, "direction"})
        if unknown:
            raise InvalidInputError(f"The KPI {data.get('name', '')!r} has unknown fields "
                                    f"{', '.join(map(str, unknown))}; the fields are "
                                    f"{', '.join(required)} and direction.")
        numbers = {}
        for key in ("target", "tolerance"):
            numbers[key] = data[key]
            if isinstance(numbers[key], str):  # hand-written JSON: "0.8"
                try:
                    numbers[key] = float(numbers[key].strip())
                except ValueError:
                    raise InvalidInputError(f"The {key} of KPI {data['name']!r} must be a "
                                            f"number, not {data[key]!r}.") from None
        return cls(data["name"], data["expression"], numbers["target"], numbers["tolerance"],
                   data.get("direction", HIGHER))


@dataclass(frozen=True)
class KpiResult:
    name: str
    value: float | None
    target: float
    tolerance: float
    status: str  # "ok" | "warn" | "critical" | "insufficient data"
    note: str


def _number(value: Any, what: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InvalidInputError(f"The {what} of KPI {name!r} must be a number, not {value!r}.")
    value = float(value)
    if not math.isfinite(value):
        raise InvalidInputError(f"The {what} of KPI {name!r} must be a finite number.")
    return value


# ---------------------------------------------------------------------------------------------
# Checking an expression


def check_expression(expression: str, columns: Collection[str] | None = None) -> None:
    """Raise `InvalidInputError` unless ``expression`` is a valid KPI expression.

    With ``columns``, every column it refers to must be one of them.
    """
    _check(expression, columns)


def _check(expression: str, columns: Collection[str] | None) -> ast.Expression:
    if not isinstance(expression, str) or not expression.strip():
        raise InvalidInputError(f"The KPI expression is empty; write a formula such as "
                                f"{EXAMPLE}.")
    if len(expression) > MAX_LENGTH:
        raise InvalidInputError(f"The KPI expression is {len(expression):,} characters long; "
                                f"keep it under {MAX_LENGTH:,}.")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as error:
        where = f" at character {error.offset}" if error.offset else ""
        raise InvalidInputError(
            f"The KPI expression {_shown(expression)} is not a valid formula "
            f"({error.msg}{where}). {ALLOWED}") from None
    except (ValueError, RecursionError, MemoryError):
        raise InvalidInputError(f"The KPI expression {_shown(expression)} cannot be read; "
                                "simplify it.") from None
    checker = _Checker(expression, columns)
    if checker.shape(tree.body, 0) == _COLUMN:
        raise InvalidInputError(
            f"The KPI expression {_shown(expression)} gives a value per row, not a single number; "
            "wrap it in an aggregate such as mean(...), sum(...) or share(...).")
    return tree


_COLUMN = "column"
_SCALAR = "scalar"

_ARITHMETIC = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_LOGICAL = {ast.BitAnd: "&", ast.BitOr: "|"}
_COMPARISONS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">",
                ast.GtE: ">="}
_OPERATOR_TEXT = {ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.LShift: "<<",
                  ast.RShift: ">>", ast.BitXor: "^", ast.Is: "is", ast.IsNot: "is not",
                  ast.In: "in", ast.NotIn: "not in"}
_CONSTRUCTS = {
    ast.Attribute: "attribute access", ast.Subscript: "a subscript ([...])",
    ast.Lambda: "a lambda", ast.ListComp: "a list comprehension",
    ast.SetComp: "a set comprehension", ast.DictComp: "a dict comprehension",
    ast.GeneratorExp: "a generator expression", ast.List: "a list", ast.Tuple: "a tuple",
    ast.Dict: "a dict", ast.Set: "a set", ast.NamedExpr: "an assignment (:=)",
    ast.JoinedStr: "an f-string", ast.Starred: "* unpacking", ast.Await: "await",
    ast.Yield: "yield", ast.YieldFrom: "yield", ast.Slice: "a slice",
}


class _Checker:
    """Validates the tree and works out whether each node is a column or a single number."""

    def __init__(self, expression: str, columns: Collection[str] | None) -> None:
        self.expression = expression
        self.columns = None if columns is None else {str(c) for c in columns}
        self.shown_columns = None if columns is None else [str(c) for c in columns]

    def fail(self, problem: str, allowed: bool = True) -> NoReturn:
        raise InvalidInputError(f"The KPI expression {_shown(self.expression)} {problem}."
                                + (f" {ALLOWED}" if allowed else ""))

    def shape(self, node: ast.AST, depth: int) -> str:
        if depth > MAX_DEPTH:
            self.fail("is nested too deeply; simplify it", allowed=False)
        depth += 1
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            self.column(node.id, node)
            return _COLUMN
        if isinstance(node, ast.BinOp):
            op = type(node.op)
            if op not in _ARITHMETIC and op not in _LOGICAL:
                self.fail(f"uses the operator {_OPERATOR_TEXT.get(op, op.__name__)}, which is "
                          "not available")
            return self.combined([node.left, node.right], depth)
        if isinstance(node, ast.UnaryOp):
            return self.shape(node.operand, depth)  # - + ~ not: all allowed
        if isinstance(node, ast.BoolOp):
            return self.combined(node.values, depth)
        if isinstance(node, ast.Compare):
            for op in node.ops:
                if type(op) not in _COMPARISONS:
                    self.fail(f"uses the comparison '{_OPERATOR_TEXT.get(type(op), '?')}', which "
                              "is not available (use == != < <= > >=)")
            return self.combined([node.left, *node.comparators], depth)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        if isinstance(node, ast.IfExp):
            self.fail(f"uses 'x if condition else y' ({ast.unparse(node)}); write "
                      "where(condition, x, y) instead")
        if isinstance(node, ast.Attribute):
            hint = (f"; write {node.attr}({ast.unparse(node.value)}) instead"
                    if node.attr in FUNCTIONS else "")
            self.fail(f"uses attribute access ({ast.unparse(node)}), which is not "
                      f"allowed{hint}")
        what = _CONSTRUCTS.get(type(node), type(node).__name__)
        self.fail(f"uses {what} ({ast.unparse(node)}), which is not allowed")

    def combined(self, nodes: list[ast.expr], depth: int) -> str:
        shapes = [self.shape(child, depth) for child in nodes]
        return _COLUMN if _COLUMN in shapes else _SCALAR

    def constant(self, node: ast.Constant) -> str:
        value = node.value
        if isinstance(value, str):
            self.fail(f"uses the text {value!r}; text is only allowed as a column name inside "
                      f"col(\"...\"), and KPIs compare columns with numbers or other columns")
        if isinstance(value, bool):
            return _SCALAR
        if isinstance(value, int | float):
            try:
                float(value)
            except OverflowError:
                self.fail("uses a number that is too large", allowed=False)
            return _SCALAR
        self.fail(f"uses {value!r}, which is not allowed")

    def column(self, name: str, node: ast.AST) -> None:
        if self.columns is None or name in self.columns:
            return
        shown = ", ".join(self.shown_columns[:_SHOWN_COLUMNS])
        more = (f" and {len(self.shown_columns) - _SHOWN_COLUMNS} more"
                if len(self.shown_columns) > _SHOWN_COLUMNS else "")
        hint = f" ({name} is a function: write {name}(column))" if name in FUNCTIONS else ""
        self.fail(f"refers to the column {name!r}, which is not in the data{hint}; the columns "
                  f"are: {shown}{more}", allowed=False)

    def call(self, node: ast.Call, depth: int) -> str:
        if not isinstance(node.func, ast.Name):
            if isinstance(node.func, ast.Attribute):
                self.shape(node.func, depth)  # explains attribute access
            self.fail(f"calls {ast.unparse(node.func)}(...), which is not a KPI function")
        name = node.func.id
        if node.keywords:
            self.fail(f"passes a named argument to {name}(); give arguments by position")
        if name == COLUMN_FUNCTION:
            if len(node.args) != 1 or not isinstance(node.args[0], ast.Constant) \
                    or not isinstance(node.args[0].value, str):
                self.fail("uses col() wrongly; col() takes one column name in quotes, e.g. "
                          "col(\"net amount\")", allowed=False)
            self.column(node.args[0].value, node)
            return _COLUMN
        if name not in FUNCTIONS:
            self.fail(f"calls {name}(), which is not a KPI function")
        expected = 3 if name == "where" else 1
        if len(node.args) != expected:
            takes = ("3 arguments (condition, value if true, value if false)" if name == "where"
                     else "1 argument")
            self.fail(f"calls {name}() with {len(node.args)} argument"
                      f"{'s' if len(node.args) != 1 else ''}; {name}() takes {takes}",
                      allowed=False)
        shapes = [self.shape(argument, depth) for argument in node.args]
        if name == "where":
            return _COLUMN if _COLUMN in shapes else _SCALAR
        if shapes[0] != _COLUMN:
            self.fail(f"applies {name}() to a single number ({ast.unparse(node.args[0])}); "
                      f"{name}() aggregates a column, e.g. {name}(score)", allowed=False)
        if name == "count" and _is_condition(node.args[0]):
            self.fail(f"counts a condition ({ast.unparse(node)}); count() counts the non-missing "
                      f"values, so write sum({ast.unparse(node.args[0])}) to count the rows "
                      "where the condition holds", allowed=False)
        return _SCALAR


def _shown(expression: str) -> str:
    expression = " ".join(expression.split())
    return repr(expression if len(expression) <= 80 else expression[:77] + "...")


def _is_condition(node: ast.AST) -> bool:
    return (isinstance(node, ast.Compare | ast.BoolOp)
            or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.Invert))
            or (isinstance(node, ast.BinOp) and type(node.op) in _LOGICAL))


# ---------------------------------------------------------------------------------------------
# Evaluating


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
    tree = _check(definition.expression, None)

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
    slack = _TOLERANCE_SLACK * max(1.0, abs(target), abs(value))
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
            if type(node.op) in _LOGICAL:
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
        symbol = _ARITHMETIC[type(node.op)]
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
            symbol = _COMPARISONS[type(op)]
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
            more = (f" and {len(names) - _SHOWN_COLUMNS} more"
                    if len(names) > _SHOWN_COLUMNS else "")
            raise _DataProblem(f"The column {name!r} is not in the data (its columns: "
                               f"{', '.join(names[:_SHOWN_COLUMNS])}{more}).")
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
