import time

import numpy as np
import pandas as pd
import pytest

from modelledger.core.errors import InvalidInputError
from modelledger.core.quality import (
    ColumnQuality,
    QualityReport,
    SchemaChange,
    data_quality,
    type_family,
)


def only(report: QualityReport, column: str) -> ColumnQuality:
    matches = [c for c in report.columns if c.column == column]
    assert len(matches) == 1
    return matches[0]


@pytest.mark.parametrize(("dtype", "family"), [
    ("int64", "numeric"), ("float64", "numeric"), ("int8", "numeric"), ("uint32", "numeric"),
    ("Int64", "numeric"), ("Float64", "numeric"), ("timedelta64[ns]", "numeric"),
    ("bool", "boolean"), ("boolean", "boolean"),
    ("datetime64[ns]", "datetime"), ("datetime64[ns, UTC]", "datetime"),
    (pd.PeriodDtype("D"), "datetime"),
    ("object", "text"), ("string", "text"), ("str", "text"), ("complex128", "text"),
    (pd.CategoricalDtype(["a", "b"]), "text"), (pd.CategoricalDtype([1, 2]), "numeric"),
])
def test_type_family(dtype, family):
    assert type_family(dtype) == family


def test_missing_share_counts_missing_values_in_current():
    reference = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "c": list("abcd")})
    current = pd.DataFrame({"x": [1.0, np.nan, 3.0, np.nan], "c": ["a", None, "b", "c"]})
    report = data_quality(reference, current, ["x", "c"])
    assert report.row_count == 4
    assert [c.column for c in report.columns] == ["x", "c"]
    assert only(report, "x").missing_share == 0.5
    assert only(report, "c").missing_share == 0.25
    assert report.schema_changes == ()


def test_out_of_range_share_is_relative_to_the_reference_range_and_ignores_missing():
    reference = pd.DataFrame({"x": [10, 20, 30, np.nan]})
    current = pd.DataFrame({"x": [5.0, 10.0, 30.0, 31.0, 20.0, np.nan]})
    column = only(data_quality(reference, current, ["x"]), "x")
    assert column.out_of_range_share == pytest.approx(2 / 5)  # 5 and 31 of five values
    assert column.unseen_category_share is None
    assert column.missing_share == pytest.approx(1 / 6)


def test_unseen_category_share_for_text_and_booleans():
    reference = pd.DataFrame({"c": ["a", "b", None], "flag": [False, False, False]})
    current = pd.DataFrame({"c": ["a", "z", "z", None, "b"], "flag": [False, True, False, True,
                                                                      None]})
    report = data_quality(reference, current, ["c", "flag"])
    text = only(report, "c")
    assert text.unseen_category_share == pytest.approx(2 / 4)
    assert text.out_of_range_share is None
    flag = only(report, "flag")  # object column of booleans with a gap: still boolean
    assert flag.unseen_category_share == pytest.approx(2 / 4)
    assert report.schema_changes == ()


def test_string_dtypes_and_categoricals_compare_by_value():
    reference = pd.DataFrame({"c": pd.Series(["a", "b", "c"], dtype="string")})
    current = pd.DataFrame({"c": pd.Categorical(["a", "c", "d", "d"])})
    column = only(data_quality(reference, current, ["c"]), "c")
    assert column.unseen_category_share == 0.5


def test_ints_and_floats_are_both_numeric_not_retyped():
    reference = pd.DataFrame({"x": np.arange(10, dtype="int64"),
                              "y": pd.array(range(10), dtype="Int64")})
    current = pd.DataFrame({"x": np.linspace(-1, 12, 14), "y": np.arange(14, dtype=float) % 10})
    report = data_quality(reference, current, ["x", "y"])
    assert report.schema_changes == ()
    assert only(report, "x").out_of_range_share == pytest.approx(4 / 14)  # -1, 10, 11, 12
    assert only(report, "y").out_of_range_share == 0.0


def test_numbers_read_as_text_are_retyped():
    reference = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    current = pd.DataFrame({"x": ["1", "2", "3,5"]})
    report = data_quality(reference, current, ["x"])
    assert report.schema_changes == (SchemaChange("x", "retyped", "numeric", "text"),)
    column = only(report, "x")
    assert column.missing_share == 0.0
    assert column.out_of_range_share is None and column.unseen_category_share is None


def test_python_numbers_in_an_object_column_are_numeric():
    reference = pd.DataFrame({"x": [1, 2, 3]})
    current = pd.DataFrame({"x": pd.Series([1, 2.5, 7, None], dtype=object)})
    report = data_quality(reference, current, ["x"])
    assert report.schema_changes == ()
    assert only(report, "x").out_of_range_share == pytest.approx(1 / 3)


def test_other_retypings():
    reference = pd.DataFrame({"when": pd.to_datetime(["2024-01-01", "2024-02-01"]),
                              "flag": [True, False], "n": [1, 2]})
    current = pd.DataFrame({"when": ["2024-01-01", "2024-02-01"], "flag": [1, 0],
                            "n": [True, False]})
    report = data_quality(reference, current, ["when", "flag", "n"])
    assert report.schema_changes == (
        SchemaChange("when", "retyped", "datetime", "text"),
        SchemaChange("flag", "retyped", "boolean", "numeric"),
        SchemaChange("n", "retyped", "numeric", "boolean"),
    )


def test_missing_and_extra_columns():
    reference = pd.DataFrame({"a": [1], "b": ["x"], "unwatched": [1.0]})
    current = pd.DataFrame({"a": [2], "new": ["y"], "also_new": [True]})
    report = data_quality(reference, current, ["a", "b", "nowhere"])
    assert [c.column for c in report.columns] == ["a"]  # b is gone, nowhere never existed
    assert report.schema_changes == (
        SchemaChange("b", "missing", "text", ""),
        SchemaChange("new", "extra", "", "text"),
        SchemaChange("also_new", "extra", "", "boolean"),
    )


def test_a_requested_column_that_is_new_gets_only_its_missing_share():
    reference = pd.DataFrame({"a": [1, 2]})
    current = pd.DataFrame({"a": [1, 2], "b": [1.0, np.nan]})
    report = data_quality(reference, current, ["a", "b"])
    assert only(report, "b") == ColumnQuality("b", 0.5, None, None)
    assert report.schema_changes == (SchemaChange("b", "extra", "", "numeric"),)


def test_all_missing_columns():
    reference = pd.DataFrame({"x": [1.0, 2.0], "c": ["a", "b"], "empty": [np.nan, np.nan]})
    current = pd.DataFrame({"x": [np.nan] * 3, "c": [None] * 3, "empty": [1.0, 5.0, np.nan]})
    report = data_quality(reference, current, ["x", "c", "empty"])
    # an all-missing column says nothing about its type: not retyped, just missing
    assert report.schema_changes == ()
    # with two reference rows, every share of three current rows is within noise: floor 1.0
    assert only(report, "x") == ColumnQuality("x", 1.0, None, None, missing_floor=1.0)
    assert only(report, "c") == ColumnQuality("c", 1.0, None, None, missing_floor=1.0)
    # nothing in the reference to compare with
    assert only(report, "empty") == ColumnQuality("empty", pytest.approx(1 / 3), None, None,
                                                  missing_floor=1.0)


def test_empty_current_frame():
    reference = pd.DataFrame({"x": [1.0, 2.0], "c": ["a", "b"]})
    current = reference.iloc[0:0]
    report = data_quality(reference, current, ["x", "c"])
    assert report.row_count == 0
    assert report.columns == (ColumnQuality("x", None, None, None),
                              ColumnQuality("c", None, None, None))
    assert report.schema_changes == ()

    report = data_quality(reference, pd.DataFrame(), ["x"])
    assert report.row_count == 0 and report.columns == ()
    assert report.schema_changes == (SchemaChange("x", "missing", "numeric", ""),)


def test_empty_reference():
    current = pd.DataFrame({"x": [1.0, 2.0]})
    report = data_quality(pd.DataFrame({"x": pd.Series([], dtype=float)}), current, ["x"])
    assert report.columns == (ColumnQuality("x", 0.0, None, None),)


def test_duplicate_column_names_are_refused_with_advice():
    current = pd.DataFrame([[1, 2]], columns=["x", "x"])
    with pytest.raises(InvalidInputError, match="more than one column named 'x'; rename"):
        data_quality(pd.DataFrame({"x": [1]}), current, ["x"])


def test_datetime_columns():
    reference = pd.DataFrame({"day": pd.to_datetime(["2024-01-01", "2024-01-02"])})
    current = pd.DataFrame({"day": pd.to_datetime(["2024-01-02", "2024-01-03", None])})
    column = only(data_quality(reference, current, ["day"]), "day")
    assert column.unseen_category_share == 0.5
    assert column.missing_share == pytest.approx(1 / 3)


def test_a_million_rows_with_a_hundred_thousand_categories_is_fast():
    rng = np.random.default_rng(0)
    categories = np.array([f"customer-{i}" for i in range(100_000)], dtype=object)
    # every category occurs in the reference at least once
    reference = pd.DataFrame({
        "c": np.concatenate([categories, categories[rng.integers(0, 100_000, 900_000)]]),
        "x": rng.normal(size=1_000_000),
    })
    unseen = np.array([f"new-{i}" for i in range(10_000)], dtype=object)
    current_categories = categories[rng.integers(0, 100_000, 1_000_000)]
    current_categories[:100_000] = unseen[rng.integers(0, 10_000, 100_000)]
    current = pd.DataFrame({"c": current_categories, "x": rng.normal(size=1_000_000) * 1.5})

    started = time.perf_counter()
    report = data_quality(reference, current, ["c", "x"])
    elapsed = time.perf_counter() - started

    assert only(report, "c").unseen_category_share == pytest.approx(0.1, abs=1e-12)
    x = reference["x"]
    assert only(report, "x").out_of_range_share == pytest.approx(
        float(((current["x"] < x.min()) | (current["x"] > x.max())).mean()))
    assert elapsed < 3.0
