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
import numbers
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

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
SHOWN_COLUMNS = 20
TOLERANCE_SLACK = 1e-9  # relative: 0.8 - 0.75 is 0.05000000000000004, still within 0.05


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
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
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
    parse_checked(expression, columns)


def parse_checked(expression: str, columns: Collection[str] | None) -> ast.Expression:
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

ARITHMETIC_OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
LOGICAL_OPERATORS = {ast.BitAnd: "&", ast.BitOr: "|"}
COMPARISON_OPERATORS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">",
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
            if op not in ARITHMETIC_OPERATORS and op not in LOGICAL_OPERATORS:
                self.fail(f"uses the operator {_OPERATOR_TEXT.get(op, op.__name__)}, which is "
                          "not available")
            return self.combined([node.left, node.right], depth)
        if isinstance(node, ast.UnaryOp):
            return self.shape(node.operand, depth)  # - + ~ not: all allowed
        if isinstance(node, ast.BoolOp):
            return self.combined(node.values, depth)
        if isinstance(node, ast.Compare):
            for op in node.ops:
                if type(op) not in COMPARISON_OPERATORS:
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
        shown = ", ".join(self.shown_columns[:SHOWN_COLUMNS])
        more = (f" and {len(self.shown_columns) - SHOWN_COLUMNS} more"
                if len(self.shown_columns) > SHOWN_COLUMNS else "")
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
            or (isinstance(node, ast.BinOp) and type(node.op) in LOGICAL_OPERATORS))
