"""What the workspace records about training: a model's stored recipe and each run's outcome."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelledger.core.challenger import Comparison
from modelledger.core.monitoring import RunStatus, Schedule
from modelledger.core.promotion_gate import GateRule, GateVerdict
from modelledger.core.recipes import Recipe, RetrainPolicy


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
    schedule: Schedule | None  # retrain on this schedule; None: only when asked or on incidents
    policy: RetrainPolicy
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
    monitor_comparison: Comparison | None = None  # on the monitor's recent labelled rows

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
        if self.monitor_comparison is not None:
            recent = self.monitor_comparison
            lines.append(f"On the monitor's {recent.rows:,} recent labelled rows:")
            for difference in recent.differences:
                low, high = difference.improvement_interval
                lines.append(f"  {difference.metric}: {difference.improvement:+.4f} "
                             f"({low:+.4f} to {high:+.4f})")
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
