"""The promotion gate: what passes, what fails and why, as properties over many comparisons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelledger.core.challenger import Comparison, MetricDifference, PairedTest
from modelledger.core.errors import InvalidInputError
from modelledger.core.paired_comparison import compare_on_same_rows
from modelledger.core.promotion_gate import GateRule, GateVerdict, TrainingDataFacts, judge

FEATURES = ("age", "income", "tenure")
CLEAN_DATA = TrainingDataFacts(rows=5000, missing_share={"age": 0.01, "income": 0.0})


def _comparison(*differences: MetricDifference) -> Comparison:
    return Comparison(task="classification", rows=5000, resamples=1000, confidence=0.95,
                      differences=differences, test=PairedTest("McNemar exact", 0, 1, ""))


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(min_value=50, max_value=600), seed=st.integers(0, 10_000),
       margin=st.floats(min_value=0, max_value=0.05))
def test_a_challenger_identical_to_the_champion_never_passes(rows, seed, margin):
    rng = np.random.default_rng(seed)
    labels = pd.Series(rng.integers(0, 2, rows))
    predictions = pd.Series(rng.integers(0, 2, rows))
    comparison = compare_on_same_rows("classification", labels, predictions, predictions.copy(),
                                      resamples=100)
    for require_significance in (True, False):
        rule = GateRule("accuracy", min_absolute_improvement=margin,
                        require_significance=require_significance)
        verdict = judge(rule, comparison, CLEAN_DATA, FEATURES, FEATURES)
        assert not verdict.passed
        assert any("accuracy" in reason for reason in verdict.reasons)


@settings(max_examples=100, deadline=None)
@given(champion=st.floats(min_value=0.3, max_value=0.9), margin=st.floats(0, 0.05),
       excess=st.floats(min_value=1e-4, max_value=0.05),
       width_share=st.floats(min_value=0, max_value=0.99),
       lower_is_better=st.booleans())
def test_better_by_more_than_the_margin_with_a_narrow_interval_always_passes(
        champion, margin, excess, width_share, lower_is_better):
    improvement = margin + excess
    half_width = improvement * width_share  # the interval stays above zero
    if lower_is_better:
        metric, challenger = "log_loss", champion - improvement
        low, high = -improvement - half_width, -improvement + half_width
    else:
        metric, challenger = "roc_auc", champion + improvement
        low, high = improvement - half_width, improvement + half_width
    rule = GateRule(metric, min_absolute_improvement=margin)
    verdict = judge(rule, _comparison(MetricDifference(metric, champion, challenger, low, high)),
                    CLEAN_DATA, FEATURES, FEATURES)
    assert verdict.passed, verdict.reasons


def test_each_failed_check_says_why_with_its_figures():
    comparison = _comparison(
        MetricDifference("roc_auc", 0.80, 0.81, -0.002, 0.022),  # better, but maybe luck
        MetricDifference("recall", 0.70, 0.66, -0.06, -0.02))  # worse beyond the margin
    rule = GateRule("roc_auc", min_absolute_improvement=0.005, min_relative_improvement=0.02,
                    non_inferiority={"recall": 0.01}, min_training_rows=10_000,
                    max_missing_share=0.005)
    verdict = judge(rule, comparison, CLEAN_DATA, ("age", "income", "region"), FEATURES)

    failed = {check.name: check.detail for check in verdict.checks if not check.passed}
    assert not verdict.passed
    assert set(failed) == {
        "roc_auc improves by at least 2%", "the roc_auc improvement is more than chance",
        "recall is not worse by more than 0.01", "at least 10,000 training rows",
        "no feature more than 0.5% missing", "features match what monitors and serving send"}
    assert "includes zero" in failed["the roc_auc improvement is more than chance"]
    assert "worst end of the interval -0.06" in failed["recall is not worse by more than 0.01"]
    assert "5,000 training rows" in failed["at least 10,000 training rows"]
    assert "age 1.0%" in failed["no feature more than 0.5% missing"]
    assert failed["features match what monitors and serving send"] == (
        "the challenger does not take tenure; the challenger needs region, which are not sent "
        "today")
    passed = [check.name for check in verdict.checks if check.passed]
    assert passed == ["roc_auc improves by at least 0.005"]


def test_a_metric_the_comparison_lacks_fails_the_gate_by_name():
    verdict = judge(GateRule("rmse"), _comparison(MetricDifference("accuracy", .8, .9, .05, .15)),
                    CLEAN_DATA, FEATURES, FEATURES)
    assert not verdict.passed
    assert "no metric 'rmse'" in verdict.reasons[0]


def test_the_rule_and_the_verdict_are_stored_and_read_back():
    rule = GateRule("f1", 0.01, 0.0, True, {"recall": 0.02}, 0.1, 500)
    assert GateRule.from_dict(rule.to_dict()) == rule
    verdict = judge(rule, _comparison(MetricDifference("f1", .7, .75, .02, .08)), CLEAN_DATA,
                    FEATURES, FEATURES)
    assert GateVerdict.from_dict(verdict.to_dict()) == verdict


@pytest.mark.parametrize(("settings_", "message"), [
    ({"primary_metric": "speed"}, "unknown metric 'speed'"),
    ({"primary_metric": "f1", "min_absolute_improvement": -1}, "must be a number ≥ 0"),
    ({"primary_metric": "f1", "non_inferiority": {"recall": float("nan")}}, "margin of recall"),
    ({"primary_metric": "f1", "max_missing_share": 2}, "between 0 and 1"),
    ({"primary_metric": "f1", "colour": "red"}, "unknown gate settings: colour"),
    ({"min_absolute_improvement": 0.1}, "needs a primary_metric"),
])
def test_bad_rules_are_refused_by_name(settings_, message):
    with pytest.raises(InvalidInputError, match=message):
        GateRule.from_dict(settings_)


def test_reproduction_names_every_difference():
    from modelledger.core.training import judge_reproduction

    recorded = {"fingerprint": "abc", "parameters": {"C": 1.0, "max_iter": 100},
                "metrics": {"accuracy": 0.9, "f1": 0.8}}
    same = {**recorded, "agreement": {"same_prediction_share": 1.0, "max_score_difference": 0}}
    assert judge_reproduction(recorded, same).verified
    changed = {"fingerprint": "abd", "parameters": {"C": 0.5, "max_iter": 100},
               "metrics": {"accuracy": 0.9000004, "f1": 0.79},
               "agreement": {"same_prediction_share": 0.99, "max_score_difference": 0.02}}
    result = judge_reproduction(recorded, changed)
    assert not result.verified
    assert result.differences == (
        "the training data differs (recorded abc…, now abd…)", "parameter C: 1.0 → 0.5",
        "metric f1: 0.8 → 0.79", "99.00% of holdout predictions are the same (needed 100%)",
        "max score difference 0.02 (allowed 1e-09)")


def test_the_retrain_policy_holds_back_a_flapping_monitor():
    from datetime import UTC, datetime, timedelta

    from modelledger.core.recipes import RetrainPolicy, retrain_refusal

    now = datetime(2026, 12, 7, 12, tzinfo=UTC)
    policy = RetrainPolicy(on_incident=True, cooldown_hours=12, max_per_period=2, period_days=7)
    assert retrain_refusal(policy, "drift", "critical", [], now) is None
    assert "is off" in retrain_refusal(RetrainPolicy(), "drift", "critical", [], now)
    assert "not answered by retraining" in retrain_refusal(policy, "data_quality", "critical",
                                                           [], now)
    assert "only a critical" in retrain_refusal(policy, "drift", "warning", [], now)
    assert "cooling down" in retrain_refusal(policy, "drift", "critical",
                                             [now - timedelta(hours=3)], now)
    two = [now - timedelta(days=1), now - timedelta(days=3)]
    assert "2 retrains in the last 7 days" in retrain_refusal(policy, "performance", "critical",
                                                             two, now)
    assert retrain_refusal(policy, "drift", "critical", [now - timedelta(days=8)] * 5, now) is None
    assert RetrainPolicy.from_dict(policy.to_dict()) == policy
    with pytest.raises(InvalidInputError, match="retrain policy"):
        RetrainPolicy(max_per_period=0)
