"""What the workspace records about training: a model's stored recipe and each run's outcome."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelledger.core.challenger import Comparison
from modelledger.core.monitoring import RunStatus
from modelledger.core.promotion_gate import GateRule, GateVerdict
from modelledger.core.recipes import Recipe


class Trigger(enum.StrEnum):
    MANUAL = "manual"
    SCHEDULE = "schedule"
    ALERT = "alert"


@dataclass(frozen=True)
class StoredRecipe:
    id: int
    model_name: str
    recipe_version: int
    recipe: Recipe
    gate: GateRule | None
    created_by: str
    created_at: datetime
    reason: str


@dataclass(frozen=True)
class TrainingRun:
    id: int
    model_name: str
    recipe_version: int
    trigger: Trigger
    cause: str
    status: RunStatus
    started_by: str
    started_at: datetime
    finished_at: datetime
    error: str
    log: str
    version_number: int | None  # the challenger it registered
    champion_version_number: int | None
    comparison: Comparison | None
    gate: GateVerdict | None
    request_id: int | None  # the promotion request a passed gate opened
    data_reference: dict[str, Any]

    @property
    def outcome_text(self) -> str:
        """One line for a list: what the run ended with."""
        if self.status is not RunStatus.SUCCEEDED:
            return f"{self.status.value}: {self.error}"
        text = f"v{self.version_number} registered"
        if self.gate is not None:
            text += (f"; gate passed, promotion request #{self.request_id}" if self.gate.passed
                     else "; gate failed: " + "; ".join(self.gate.reasons))
        return text

    def evidence_lines(self) -> list[str]:
        """What an approver reads: the gate's verdict and the comparison it rests on."""
        lines = [f"Training run #{self.id} (recipe r{self.recipe_version}, {self.trigger.value}: "
                 f"{self.cause}): v{self.version_number} against champion "
                 f"v{self.champion_version_number}."]
        if self.comparison is not None:
            comparison = self.comparison
            lines.append(f"On the same {comparison.rows:,} holdout rows, "
                         f"{comparison.confidence:.0%} intervals:")
            for difference in comparison.differences:
                low, high = difference.improvement_interval
                lines.append(f"  {difference.metric}: {difference.champion:.4f} → "
                             f"{difference.challenger:.4f} ({difference.improvement:+.4f}; "
                             f"{low:+.4f} to {high:+.4f})")
            lines.append(f"  {comparison.test.name}: p = {comparison.test.p_value:.3g}")
        if self.gate is not None:
            lines.append("Gate " + ("passed:" if self.gate.passed else "failed:"))
            lines.extend(f"  {'✓' if check.passed else '✗'} {check.name}"
                         for check in self.gate.checks)
        return lines


# Reproduction: the same recipe, seed and data on the same library versions give bit-identical
# models, so the tolerances only absorb printing: metrics are stored rounded to 6 decimals.
METRIC_TOLERANCE = 1e-6
SCORE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Reproduction:
    verified: bool
    differences: tuple[str, ...]  # what did not match, each with both values

    @property
    def summary(self) -> str:
        if self.verified:
            return "reproduction verified: same data, parameters, metrics and predictions"
        return "reproduction failed: " + "; ".join(self.differences)


def judge_reproduction(recorded: dict[str, Any], repeated: dict[str, Any]) -> Reproduction:
    """Compare what a version recorded with what re-running its recipe gave. Each argument
    holds "fingerprint" (the training rows' content hash), "parameters", "metrics" and, for
    ``repeated``, "agreement" (predictions on the holdout against the recorded model's)."""
    differences = []
    if recorded["fingerprint"] != repeated["fingerprint"]:
        differences.append(f"the training data differs (recorded "
                           f"{str(recorded['fingerprint'])[:12]}…, now "
                           f"{str(repeated['fingerprint'])[:12]}…)")
    for name, value in sorted(repeated["parameters"].items()):
        if name in recorded["parameters"] and recorded["parameters"][name] != value:
            differences.append(f"parameter {name}: {recorded['parameters'][name]!r} → {value!r}")
    for name, value in sorted(repeated["metrics"].items()):
        before = recorded["metrics"].get(name)
        if before is None or abs(before - value) > METRIC_TOLERANCE:
            differences.append(f"metric {name}: {before} → {value}")
    agreement = repeated.get("agreement") or {}
    share = agreement.get("same_prediction_share", 0.0)
    if share < 1.0:
        differences.append(f"{share:.2%} of holdout predictions are the same (needed 100%)")
    for key in ("max_score_difference", "max_prediction_difference"):
        if agreement.get(key, 0.0) > SCORE_TOLERANCE:
            differences.append(f"{key.replace('_', ' ')} {agreement[key]:.3g} "
                               f"(allowed {SCORE_TOLERANCE:g})")
    return Reproduction(not differences, tuple(differences))


@dataclass(frozen=True)
class RetrainPolicy:
    """When an incident may start a retrain: only critical drift or performance incidents,
    not within ``cooldown_hours`` of the last triggered retrain, and at most ``max_per_period``
    in any ``period_days``, so that a flapping monitor cannot start a storm."""

    on_incident: bool = False
    cooldown_hours: float = 24.0
    max_per_period: int = 3
    period_days: float = 7.0

    def __post_init__(self) -> None:
        if not (self.cooldown_hours >= 0 and self.period_days > 0 and self.max_per_period >= 1):
            from modelledger.core.errors import InvalidInputError

            raise InvalidInputError("A retrain policy needs a cool-down ≥ 0 hours, a period "
                                    "> 0 days and at least one retrain per period.")

    def to_dict(self) -> dict[str, Any]:
        return {"on_incident": self.on_incident, "cooldown_hours": self.cooldown_hours,
                "max_per_period": self.max_per_period, "period_days": self.period_days}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RetrainPolicy:
        return cls(bool(data.get("on_incident", False)),
                   float(data.get("cooldown_hours", 24.0)),
                   int(data.get("max_per_period", 3)), float(data.get("period_days", 7.0)))


RETRAIN_CAUSES = ("drift", "performance")  # incident causes that retraining can answer


def retrain_refusal(policy: RetrainPolicy, cause: str, severity: str,
                    earlier_triggers: list[datetime], now: datetime) -> str | None:
    """Why an incident of ``cause`` and ``severity`` may not start a retrain now (None: it
    may); ``earlier_triggers`` are the start times of retrains that incidents started."""
    from datetime import timedelta

    if not policy.on_incident:
        return "retraining on incidents is off for this model"
    if cause not in RETRAIN_CAUSES:
        return f"a {cause} incident is not answered by retraining"
    if severity != "critical":
        return "only a critical incident starts a retrain"
    latest = max(earlier_triggers, default=None)
    if latest is not None and now - latest < timedelta(hours=policy.cooldown_hours):
        return (f"cooling down: the last retrain started {latest:%Y-%m-%d %H:%M} UTC, less "
                f"than {policy.cooldown_hours:g} h ago")
    window = [t for t in earlier_triggers if now - t < timedelta(days=policy.period_days)]
    if len(window) >= policy.max_per_period:
        return (f"{len(window)} retrains in the last {policy.period_days:g} days already "
                f"(at most {policy.max_per_period})")
    return None
