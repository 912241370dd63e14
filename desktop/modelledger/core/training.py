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
