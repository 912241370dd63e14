from dataclasses import replace
from datetime import UTC, datetime

import pytest

from modelledger.core.comparison import (
    MISSING,
    MISSING_TEXT,
    SECTION_ENVIRONMENT,
    SECTION_FEATURES,
    SECTION_METRICS,
    SECTION_PARAMETERS,
    SECTION_VERSION,
    compare_versions,
    format_delta,
    format_value,
)
from modelledger.core.domain import ArtifactFormat, ArtifactRef, ModelVersion, Stage

CREATED = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def version(number=1, **changes) -> ModelVersion:
    base = ModelVersion(
        id=number, model_id=1, model_name="credit-risk", version_number=number,
        stage=Stage.DEVELOPMENT, artifact=None, framework="scikit-learn 1.5.0",
        estimator_class="sklearn.linear_model._logistic.LogisticRegression",
        parameters={"C": 1.0, "max_iter": 100}, metrics={"auc": 0.91},
        training_data={"content_sha256": "a" * 64, "rows": 1000, "columns": 2},
        feature_schema=[{"name": "age", "dtype": "int64"}, {"name": "income", "dtype": "float64"}],
        environment={"python": "3.11.9", "numpy": "2.0.0"}, parent_version=None, notes="",
        created_by="alice", created_at=CREATED, row_version=1)
    return replace(base, **changes)


def row(comparison, section, key):
    matches = [r for r in comparison.rows if r.section == section and r.key == key]
    assert len(matches) == 1, f"no single row {section}/{key}"
    return matches[0]


def test_identical_versions_have_no_differences():
    comparison = compare_versions([version(1), version(2)])
    assert [v.label for v in comparison.versions] == ["v1", "v2"]
    assert comparison.differing_count == 0
    assert comparison.sections == (SECTION_VERSION, SECTION_METRICS, SECTION_PARAMETERS,
                                   SECTION_FEATURES, SECTION_ENVIRONMENT)


def test_parameters_are_the_union_of_keys_sorted_and_missing_counts_as_different():
    comparison = compare_versions([
        version(1, parameters={"max_iter": 100, "C": 1.0}),
        version(2, parameters={"C": 0.5, "max_iter": 100, "tol": 0.001}),
    ])
    parameters = comparison.rows_in(SECTION_PARAMETERS)
    assert [r.key for r in parameters] == ["C", "max_iter", "tol"]
    assert [r.differs for r in parameters] == [True, False, True]
    tol = row(comparison, SECTION_PARAMETERS, "tol")
    assert tol.values == (MISSING, 0.001)
    assert tol.texts == (MISSING_TEXT, "0.001")
    assert tol.changed == (False, True)


def test_a_parameter_set_to_none_differs_from_a_missing_one():
    comparison = compare_versions([version(1, parameters={"max_depth": None}),
                                   version(2, parameters={})])
    max_depth = row(comparison, SECTION_PARAMETERS, "max_depth")
    assert max_depth.differs
    assert max_depth.texts == ("None", MISSING_TEXT)


def test_values_compare_exactly_by_type():
    comparison = compare_versions([
        version(1, parameters={"flag": True, "n": 1, "nested": {"a": [1, 2]}}),
        version(2, parameters={"flag": 1, "n": 1.0, "nested": {"a": [1, 2]}}),
    ])
    assert row(comparison, SECTION_PARAMETERS, "flag").differs
    n = row(comparison, SECTION_PARAMETERS, "n")
    assert n.differs
    assert n.texts == ("1", "1.0")  # compact "1" for both would hide the difference
    nested = row(comparison, SECTION_PARAMETERS, "nested")
    assert not nested.differs
    assert nested.texts == ('{"a": [1, 2]}',) * 2


def test_floats_show_four_significant_digits_unless_that_hides_a_difference():
    comparison = compare_versions([
        version(1, metrics={"auc": 0.912345, "recall": 0.956121}),
        version(2, metrics={"auc": 0.812345, "recall": 0.956149}),
    ])
    auc = row(comparison, SECTION_METRICS, "auc")
    assert auc.texts == ("0.9123", "0.8123")
    assert auc.full_texts == ("0.912345", "0.812345")
    recall = row(comparison, SECTION_METRICS, "recall")
    assert recall.differs
    assert recall.texts == ("0.956121", "0.956149")


def test_metrics_give_the_change_against_the_first_version():
    comparison = compare_versions([
        version(1, metrics={"auc": 0.90, "f1": 0.80}),
        version(2, metrics={"auc": 0.95}),
        version(3, metrics={"auc": 0.90, "f1": 0.70}),
    ])
    auc = row(comparison, SECTION_METRICS, "auc")
    assert auc.deltas[0] is None
    assert auc.deltas[1] == pytest.approx(0.05)
    assert auc.changed == (False, True, False)
    assert auc.cell_text(0) == "0.9"
    assert auc.cell_text(1) == "0.95 (+0.05)"
    assert auc.cell_text(2) == "0.9"  # unchanged: no "+0"
    f1 = row(comparison, SECTION_METRICS, "f1")
    assert f1.deltas == (None, None, pytest.approx(-0.1))
    assert f1.cell_text(1) == MISSING_TEXT
    assert f1.cell_text(2) == "0.7 (-0.1)"


def test_parameters_get_no_deltas():
    comparison = compare_versions([version(1, parameters={"C": 1.0}),
                                   version(2, parameters={"C": 2.0})])
    assert row(comparison, SECTION_PARAMETERS, "C").deltas == (None, None)


def test_version_facts():
    artifact = ArtifactRef("b" * 64, 10, ArtifactFormat.SKOPS, "m.skops")
    comparison = compare_versions([
        version(1),
        version(2, stage=Stage.PRODUCTION, artifact=artifact, parent_version=1,
                estimator_class="sklearn.ensemble._forest.RandomForestClassifier",
                training_data={"content_sha256": "c" * 64, "rows": 1200},
                notes="more trees,\nless depth"),
    ])
    facts = {r.key: r for r in comparison.rows_in(SECTION_VERSION)}
    assert facts["Stage"].texts == ("development", "production")
    assert facts["Estimator"].texts == ("LogisticRegression", "RandomForestClassifier")
    assert facts["Estimator"].full_texts[1] == "sklearn.ensemble._forest.RandomForestClassifier"
    assert facts["Parent version"].texts == (MISSING_TEXT, "v1")
    assert facts["Model file SHA-256"].texts == (MISSING_TEXT, "bbbbbbbbbbbb…")
    assert facts["Model file SHA-256"].full_texts[1] == "b" * 64
    assert facts["Training data SHA-256"].texts == ("aaaaaaaaaaaa…", "cccccccccccc…")
    assert facts["Training rows"].texts == ("1000", "1200")
    assert facts["Notes"].texts == (MISSING_TEXT, "more trees, less depth")
    assert not facts["Created by"].differs
    assert not facts["Created at"].differs
    assert facts["Created at"].full_texts[0] == CREATED.isoformat()
    assert not facts["Framework"].differs


def test_short_texts_fall_back_to_full_ones_when_they_would_look_alike():
    comparison = compare_versions([
        version(1, estimator_class="sklearn.linear_model.Ridge"),
        version(2, estimator_class="mylib.Ridge"),
    ])
    assert row(comparison, SECTION_VERSION, "Estimator").texts == (
        "sklearn.linear_model.Ridge", "mylib.Ridge")


def test_features_present_absent_and_dtype_changes():
    comparison = compare_versions([
        version(1),
        version(2, feature_schema=[{"name": "age", "dtype": "float64"},
                                   {"name": "income", "dtype": "float64"},
                                   {"name": "debt", "dtype": ""}]),
    ])
    features = comparison.rows_in(SECTION_FEATURES)
    assert [f.key for f in features] == ["age", "income", "debt"]  # schema order
    assert [f.differs for f in features] == [True, False, True]
    assert features[2].texts == (MISSING_TEXT, "present")


def test_environment_rows():
    comparison = compare_versions([
        version(1),
        version(2, environment={"python": "3.12.1", "numpy": "2.0.0", "skops": "0.10"}),
    ])
    environment = {r.key: r for r in comparison.rows_in(SECTION_ENVIRONMENT)}
    assert list(environment) == ["numpy", "python", "skops"]
    assert environment["python"].differs and not environment["numpy"].differs
    assert environment["skops"].values == (MISSING, "0.10")


def test_sections_without_rows_are_left_out():
    comparison = compare_versions([version(1, metrics={}, environment={}),
                                   version(2, metrics={}, environment={})])
    assert comparison.sections == (SECTION_VERSION, SECTION_PARAMETERS, SECTION_FEATURES)


def test_versions_of_different_models_are_labelled_with_the_model():
    comparison = compare_versions([version(1), version(1, model_name="fraud")])
    assert [v.label for v in comparison.versions] == ["credit-risk v1", "fraud v1"]


def test_a_single_version_compares_with_itself_and_none_is_an_error():
    assert compare_versions([version(1)]).differing_count == 0
    with pytest.raises(ValueError):
        compare_versions([])


@pytest.mark.parametrize(("value", "text"), [
    (0.123456, "0.1235"), (1234567.0, "1.235e+06"), (3, "3"), (False, "False"),
    (None, "None"), ("lbfgs", "lbfgs"), ([1, "a"], '[1, "a"]'), (float("nan"), "nan"),
    (MISSING, MISSING_TEXT),
])
def test_format_value(value, text):
    assert format_value(value) == text


@pytest.mark.parametrize(("delta", "baseline", "text"), [
    (0.972 - 0.965, 0.965, "+0.007"), (-0.00816, 0.9964, "-0.0082"), (12.6, 3021.0, "+13"),
    (0.00002, 0.95612, "+2e-05"), (0.5, 0.0, "+0.5"),
])
def test_format_delta_matches_the_precision_values_are_shown_with(delta, baseline, text):
    assert format_delta(delta, baseline) == text
