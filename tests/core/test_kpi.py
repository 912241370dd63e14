import builtins
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelledger.core.errors import InvalidInputError
from modelledger.core.kpi import KpiDefinition, KpiResult, check_expression
from modelledger.core.kpi_evaluation import evaluate_kpi


def kpi(expression: str, target: float = 0.0, tolerance: float = 0.0,
        direction: str = "higher") -> KpiDefinition:
    return KpiDefinition("k", expression, target, tolerance, direction)


def value(expression: str, frame: pd.DataFrame) -> float | None:
    result = evaluate_kpi(kpi(expression), frame)
    assert isinstance(result, KpiResult)
    return result.value


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 5_000
    data = pd.DataFrame({
        "prediction": rng.integers(0, 2, n).astype(float),
        "score": rng.random(n),
        "amount": rng.gamma(2.0, 100.0, n),
        "net amount": rng.normal(50, 10, n),
        "flag": rng.random(n) < 0.3,
        "segment": rng.choice(["retail", "business", "private"], n),
        "other segment": rng.choice(["retail", "business"], n),
    })
    for column, share in (("prediction", 0.05), ("score", 0.1), ("amount", 0.02)):
        data.loc[rng.random(n) < share, column] = np.nan
    data.loc[rng.random(n) < 0.05, "segment"] = None
    return data


def nullable(series: pd.Series) -> pd.Series:
    """pandas' own missing-aware arithmetic: comparisons with NA give NA, & | are Kleene."""
    return series.astype("Float64")


@pytest.mark.parametrize(("expression", "expected"), [
    ("mean(score)", lambda d: d.score.mean()),
    ("sum(amount)", lambda d: d.amount.sum()),
    ("count(amount)", lambda d: d.amount.count()),
    ("count(segment)", lambda d: d.segment.count()),
    ("min(amount)", lambda d: d.amount.min()),
    ("max(amount)", lambda d: d.amount.max()),
    ("median(amount)", lambda d: d.amount.median()),
    ("mean(col(\"net amount\"))", lambda d: d["net amount"].mean()),
    ("mean(amount + score)", lambda d: (d.amount + d.score).mean()),
    ("mean(amount - score)", lambda d: (d.amount - d.score).mean()),
    ("mean(amount * score)", lambda d: (d.amount * d.score).mean()),
    ("mean(amount / (score + 1))", lambda d: (d.amount / (d.score + 1)).mean()),
    ("mean(score ** 2)", lambda d: (d.score ** 2).mean()),
    ("mean(-score)", lambda d: (-d.score).mean()),
    ("mean(+score)", lambda d: d.score.mean()),
    ("mean(score) * 100", lambda d: d.score.mean() * 100),
    ("2 ** 3 - 1 / 4", lambda d: 2 ** 3 - 1 / 4),
    ("mean(score - mean(score))", lambda d: (d.score - d.score.mean()).mean()),
    ("sum(where(prediction == 1, amount * 0.02, 0))",
     lambda d: (nullable(d.amount) * 0.02).where(nullable(d.prediction) == 1, 0).sum()),
    # a missing condition gives a missing value (pandas' where would take the second branch)
    ("mean(where(score > 0.5, amount, -amount))",
     lambda d: d.amount.where(d.score > 0.5, -d.amount)[d.score.notna()].mean()),
    ("share(prediction == 1)", lambda d: (nullable(d.prediction) == 1).mean()),
    ("share(prediction != 1)", lambda d: (nullable(d.prediction) != 1).mean()),
    ("share(score < 0.25)", lambda d: (nullable(d.score) < 0.25).mean()),
    ("share(score <= 0.25)", lambda d: (nullable(d.score) <= 0.25).mean()),
    ("share(score > 0.25)", lambda d: (nullable(d.score) > 0.25).mean()),
    ("share(score >= 0.25)", lambda d: (nullable(d.score) >= 0.25).mean()),
    ("share(0.2 < score < 0.7)",
     lambda d: ((nullable(d.score) > 0.2) & (nullable(d.score) < 0.7)).mean()),
    ("share((score > 0.5) & (prediction == 1))",
     lambda d: ((nullable(d.score) > 0.5) & (nullable(d.prediction) == 1)).mean()),
    ("share(score > 0.5 and prediction == 1)",
     lambda d: ((nullable(d.score) > 0.5) & (nullable(d.prediction) == 1)).mean()),
    ("share((score > 0.5) | (prediction == 1))",
     lambda d: ((nullable(d.score) > 0.5) | (nullable(d.prediction) == 1)).mean()),
    ("share(score > 0.5 or prediction == 1)",
     lambda d: ((nullable(d.score) > 0.5) | (nullable(d.prediction) == 1)).mean()),
    ("share(~(score > 0.5))", lambda d: (~(nullable(d.score) > 0.5)).mean()),
    ("share(not score > 0.5)", lambda d: (~(nullable(d.score) > 0.5)).mean()),
    ("sum(prediction == 1)", lambda d: (nullable(d.prediction) == 1).sum()),
    ("share(flag)", lambda d: d.flag.mean()),
    ("sum(flag) + mean(flag)", lambda d: d.flag.sum() + d.flag.mean()),
    ("share(flag & (score > 0.5))", lambda d: (d.flag & (nullable(d.score) > 0.5)).mean()),
    ("share(flag == True)", lambda d: d.flag.mean()),
    ("share(segment == col(\"other segment\"))",
     lambda d: (d.segment[d.segment.notna()] == d["other segment"][d.segment.notna()]).mean()),
    ("share(segment != col(\"other segment\"))",
     lambda d: (d.segment[d.segment.notna()] != d["other segment"][d.segment.notna()]).mean()),
    ("mean(score) > 0.4", lambda d: float(d.score.mean() > 0.4)),
])
def test_expressions_agree_with_pandas(frame, expression, expected):
    check_expression(expression, frame.columns)
    assert value(expression, frame) == pytest.approx(float(expected(frame)), rel=1e-9, abs=1e-12)


def test_object_columns_of_booleans_and_numbers():
    data = pd.DataFrame({"flag": pd.Series([True, False, None, True], dtype=object),
                         "n": pd.Series([1, 2.5, None, 4], dtype=object),
                         "b": pd.array([True, None, False, False], dtype="boolean")})
    assert value("share(flag)", data) == pytest.approx(2 / 3)
    assert value("mean(n)", data) == pytest.approx(7.5 / 3)
    assert value("share(b)", data) == pytest.approx(1 / 3)
    assert value("count(b)", data) == 3


def test_kleene_logic_keeps_decided_rows():
    data = pd.DataFrame({"a": [1.0, np.nan, np.nan, 0.0], "b": [1.0, 0.0, 1.0, np.nan]})
    # row 2: missing & False is False; row 3: missing & True is missing; row 4: False & missing
    assert value("share((a == 1) & (b == 1))", data) == pytest.approx(1 / 3)
    # row 2: missing | False is missing; row 3: missing | True is True; row 4: False | missing
    assert value("share((a == 1) | (b == 1))", data) == 1.0


def test_where_with_a_missing_condition_is_missing():
    data = pd.DataFrame({"c": [1.0, np.nan, 0.0], "x": [10.0, 20.0, 30.0]})
    assert value("sum(where(c == 1, x, 0))", data) == 10.0
    assert value("count(where(c == 1, x, 0))", data) == 2


@pytest.mark.parametrize(("expression", "fragment"), [
    ("__import__('os')", "calls __import__(), which is not a KPI function"),
    ("__import__('os').system('echo hi')", "attribute access"),
    ("prediction.sum()", "write sum(prediction) instead"),
    ("score.__class__", "attribute access (score.__class__)"),
    ("[x for x in y]", "list comprehension"),
    ("sum(x for x in score)", "generator expression"),
    ("(lambda: 1)()", "not a KPI function"),
    ("lambda: 1", "a lambda"),
    ("score[0]", "a subscript"),
    ("share(segment == 'retail')", "text is only allowed as a column name inside col"),
    ("mean(x) if flag else 0", "write where(condition, x, y) instead"),
    ("mean(score, 2)", "mean() takes 1 argument"),
    ("where(score > 1, 2)", "where() takes 3 arguments"),
    ("mean(x=score)", "named argument"),
    ("col(score)", "col() takes one column name in quotes"),
    ("mean(score // 2)", "operator //"),
    ("mean(score % 2)", "operator %"),
    ("share(score is None)", "comparison 'is'"),
    ("share(score in [1])", "comparison 'in'"),
    ("mean(score) + None", "uses None"),
    ("mean(score) * 1j", "uses 1j"),
    ("score * 2", "gives a value per row, not a single number"),
    ("mean(3)", "applies mean() to a single number"),
    ("count(score > 1)", "write sum(score > 1) to count the rows"),
    ("mean(score", "is not a valid formula"),
    ("x = 1", "is not a valid formula"),
    ("mean(score); 1", "is not a valid formula"),
    ("   ", "is empty"),
    ("f'{score}'", "f-string"),
    ("{1: 2}", "a dict"),
    ("(y := 1)", "assignment"),
    ("1" + " + mean(score)" * 150, "nested too deeply"),
    ("9" * 400, "too large"),
])
def test_forbidden_expressions_are_refused_with_a_helpful_message(expression, fragment):
    with pytest.raises(InvalidInputError) as raised:
        check_expression(expression)
    assert fragment in str(raised.value)
    with pytest.raises(InvalidInputError):
        KpiDefinition("k", expression, 1.0, 0.1)


def test_messages_list_what_is_allowed():
    with pytest.raises(InvalidInputError, match=r"Allowed: numbers, column names .* where\("):
        check_expression("open('x')")


def test_unknown_columns_are_refused_when_the_columns_are_known():
    check_expression("mean(income)")  # without columns, any name may be a column
    with pytest.raises(InvalidInputError,
                       match=r"refers to the column 'income', which is not in the data; the "
                             r"columns are: score, net amount"):
        check_expression("mean(income)", ["score", "net amount"])
    with pytest.raises(InvalidInputError, match="column 'gross amount'"):
        check_expression("sum(col(\"gross amount\"))", ["score", "net amount"])
    with pytest.raises(InvalidInputError, match=r"mean is a function: write mean\(column\)"):
        check_expression("sum(mean)", ["score"])
    check_expression("sum(col(\"net amount\")) / count(score)", ["score", "net amount"])


def test_no_eval_or_exec_is_used(frame, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("eval/exec must not be used")

    monkeypatch.setattr(builtins, "eval", refuse)
    monkeypatch.setattr(builtins, "exec", refuse)
    assert value("share(prediction == 1) * 100", frame) is not None


@pytest.mark.parametrize(("direction", "value_", "expected"), [
    ("higher", 0.80, "ok"), ("higher", 0.95, "ok"), ("higher", 0.75, "ok"),
    ("higher", 0.72, "warn"), ("higher", 0.70, "warn"), ("higher", 0.69, "critical"),
    ("lower", 0.80, "ok"), ("lower", 0.50, "ok"), ("lower", 0.85, "ok"),
    ("lower", 0.88, "warn"), ("lower", 0.90, "warn"), ("lower", 0.91, "critical"),
    ("both", 0.80, "ok"), ("both", 0.85, "ok"), ("both", 0.75, "ok"), ("both", 0.88, "warn"),
    ("both", 0.72, "warn"), ("both", 0.91, "critical"), ("both", 0.69, "critical"),
])
def test_status_rules(direction, value_, expected):
    data = pd.DataFrame({"x": [value_]})
    result = evaluate_kpi(KpiDefinition("rate", "mean(x)", 0.80, 0.05, direction), data)
    assert result.value == pytest.approx(value_)
    assert result.status == expected
    assert (result.note == "") == (expected == "ok")
    assert result.name == "rate" and result.target == 0.8 and result.tolerance == 0.05


def test_zero_tolerance_warns_never_and_a_note_explains_the_miss():
    data = pd.DataFrame({"x": [0.5]})
    assert evaluate_kpi(KpiDefinition("k", "mean(x)", 0.5, 0.0), data).status == "ok"
    result = evaluate_kpi(KpiDefinition("k", "mean(x)", 0.6, 0.0), data)
    assert result.status == "critical"
    assert result.note == "0.5 is 0.1 below the target 0.6 (tolerance 0; critical beyond 0)."


def test_empty_frame_and_missing_values():
    empty = pd.DataFrame({"x": pd.Series([], dtype=float)})
    result = evaluate_kpi(kpi("mean(x)"), empty)
    assert result.value is None and result.status == "insufficient data"
    assert "no rows" in result.note
    assert evaluate_kpi(kpi("count(x)"), empty).status == "insufficient data"

    gaps = pd.DataFrame({"x": [np.nan, np.nan], "y": [1.0, 2.0]})
    for expression in ("mean(x)", "sum(x)", "min(x)", "median(x)", "share(x > 1)",
                       "mean(y) + max(x)"):
        result = evaluate_kpi(kpi(expression), gaps)
        assert result.value is None and result.status == "insufficient data", expression
        assert "no values" in result.note
    # count is the one aggregate that is defined on no values
    assert evaluate_kpi(kpi("count(x)"), gaps).value == 0.0
    assert value("mean(x + y)", pd.DataFrame({"x": [np.nan, 1.0], "y": [5.0, 2.0]})) == 3.0


def test_division_by_zero():
    data = pd.DataFrame({"a": [1.0, 2.0, 3.0], "q": [1.0, 0.0, 2.0], "zero": [0.0] * 3})
    result = evaluate_kpi(kpi("sum(a) / sum(zero)"), data)
    assert result.value is None and result.status == "insufficient data"
    assert "division by zero in sum(a) / sum(zero)" in result.note

    result = evaluate_kpi(kpi("mean(a / q)"), data)
    assert result.value == pytest.approx((1.0 + 1.5) / 2)
    assert "skips 1 row with an undefined value (division by zero in a / q)" in result.note

    result = evaluate_kpi(kpi("mean(where(q != 0, a / q, 0))"), data)
    assert result.value == pytest.approx((1.0 + 0 + 1.5) / 3)
    assert "division" not in result.note

    result = evaluate_kpi(kpi("mean(a / zero)"), data)
    assert result.value is None and "division by zero in a / zero" in result.note
    assert evaluate_kpi(kpi("0 ** -1 + mean(a)"), data).value is None
    assert evaluate_kpi(kpi("mean((0 - a) ** 0.5)"), data).value is None


def test_values_are_never_infinite():
    data = pd.DataFrame({"x": [1.0, np.inf], "y": [1e308, 1e308]})
    for expression in ("mean(x)", "sum(y) * 10", "mean(x - x)"):
        result = evaluate_kpi(kpi(expression), data)
        assert result.value is None and result.status == "insufficient data", expression
        assert "not a finite number" in result.note


def test_problems_of_the_data_give_insufficient_data_with_a_note(frame):
    cases = {
        "mean(income)": "The column 'income' is not in the data (its columns: prediction",
        "mean(segment)": "mean() needs numbers, but 'segment' holds text",
        "share(score)": "share() needs a condition (true/false), but 'score' holds numbers",
        "share(segment > col(\"other segment\"))": "only == and != compare such columns",
        "sum(where(flag, segment, 1))": "mixes numbers with text",
    }
    for expression, fragment in cases.items():
        result = evaluate_kpi(kpi(expression), frame)
        assert result.value is None and result.status == "insufficient data"
        assert fragment in result.note, (expression, result.note)


def test_columns_named_by_numbers_and_dates():
    data = pd.DataFrame({1: [1.0, 3.0], "when": pd.to_datetime(["2024-01-01", "2024-01-02"])})
    assert value("mean(col(\"1\"))", data) == 2.0
    assert value("count(when)", data) == 2
    result = evaluate_kpi(kpi("mean(when)"), data)
    assert "'when' holds dates" in result.note


def test_definition_validation_and_round_trip():
    definition = KpiDefinition("approval rate", "share(prediction == 1)", 0.6, 0.05, "both")
    assert KpiDefinition.from_dict(definition.to_dict()) == definition
    assert definition.to_dict() == {"name": "approval rate",
                                    "expression": "share(prediction == 1)", "target": 0.6,
                                    "tolerance": 0.05, "direction": "both"}
    assert KpiDefinition.from_dict({"name": "n", "expression": "count(x)", "target": 10,
                                    "tolerance": "2"}) == KpiDefinition("n", "count(x)", 10.0,
                                                                        2.0, "higher")
    assert isinstance(KpiDefinition("n", "count(x)", 10, 2).target, float)

    with pytest.raises(InvalidInputError, match="tolerance of KPI 'k' must be 0 or more"):
        KpiDefinition("k", "mean(x)", 1.0, -0.1)
    with pytest.raises(InvalidInputError, match="direction of KPI 'k' must be"):
        KpiDefinition("k", "mean(x)", 1.0, 0.1, "up")
    with pytest.raises(InvalidInputError, match="Give the KPI a name"):
        KpiDefinition(" ", "mean(x)", 1.0, 0.1)
    with pytest.raises(InvalidInputError, match="target of KPI 'k' must be a finite number"):
        KpiDefinition("k", "mean(x)", math.nan, 0.1)
    with pytest.raises(InvalidInputError, match="target of KPI 'k' must be a number"):
        KpiDefinition("k", "mean(x)", "high", 0.1)
    with pytest.raises(InvalidInputError, match="lacks tolerance"):
        KpiDefinition.from_dict({"name": "k", "expression": "mean(x)", "target": 1})
    with pytest.raises(InvalidInputError, match="unknown fields tolerence"):
        KpiDefinition.from_dict({"name": "k", "expression": "mean(x)", "target": 1,
                                 "tolerance": 1, "tolerence": 2})
    with pytest.raises(InvalidInputError, match="must be a number, not 'a lot'"):
        KpiDefinition.from_dict({"name": "k", "expression": "mean(x)", "target": "a lot",
                                 "tolerance": 1})


def test_a_million_rows_is_quick():
    rng = np.random.default_rng(1)
    data = pd.DataFrame({"prediction": rng.integers(0, 2, 1_000_000),
                         "amount": rng.random(1_000_000) * 100})
    result = evaluate_kpi(kpi("sum(where(prediction == 1, amount * 0.02, 0)) / count(amount)"),
                          data)
    expected = (data.amount * 0.02).where(data.prediction == 1, 0).sum() / len(data)
    assert result.value == pytest.approx(expected, rel=1e-9)


expressions = st.sampled_from([
    "mean(x)", "sum(x / y)", "mean(x) / mean(y)", "share(x > y)", "median(x ** y)",
    "max(where(y != 0, x / y, 0))", "min(x) - max(y)", "sum((x > 0) & (y < 0)) / count(x)",
    "mean(x * y) ** 0.5", "share(not x == y) * 100",
])
numbers = st.one_of(st.none(), st.floats(-1e6, 1e6), st.sampled_from([0.0, 1.0, -1.0]))


@settings(max_examples=150, deadline=None)
@given(expressions, st.lists(st.tuples(numbers, numbers), max_size=20))
def test_values_are_numbers_or_none_never_nan(expression, rows):
    data = pd.DataFrame({"x": [x for x, _ in rows], "y": [y for _, y in rows]}, dtype=float)
    result = evaluate_kpi(kpi(expression, 1.0, 0.5), data)
    if result.value is None:
        assert result.status == "insufficient data" and result.note
    else:
        assert math.isfinite(result.value)
        assert result.status in ("ok", "warn", "critical")
