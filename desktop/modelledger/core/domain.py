"""Domain objects of the registry. Plain, immutable values: no database, no Qt."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Stage(enum.StrEnum):
    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"
    ARCHIVED = "archived"


class RiskTier(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Role(enum.StrEnum):
    DEVELOPER = "developer"
    VALIDATOR = "validator"
    OWNER = "owner"
    ADMIN = "admin"
    VIEWER = "viewer"


class ModelStatus(enum.StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"


class RequestStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class ArtifactFormat(enum.StrEnum):
    SKOPS = "skops"
    PICKLE = "pickle"
    JOBLIB = "joblib"
    ONNX = "onnx"
    OTHER = "other"
    DATASET = "dataset"  # a monitor's reference data, stored as Parquet

    @property
    def executes_code_on_load(self) -> bool:
        return self in (ArtifactFormat.PICKLE, ArtifactFormat.JOBLIB)


@dataclass(frozen=True)
class Actor:
    """Who did something, and from which machine."""

    user: str
    host: str


@dataclass(frozen=True)
class User:
    name: str
    display_name: str
    role: Role


@dataclass(frozen=True)
class RegisteredModel:
    id: int
    name: str
    description: str
    owner: str
    purpose: str
    intended_use: str
    risk_tier: RiskTier
    tags: tuple[str, ...]
    status: ModelStatus
    created_by: str
    created_at: datetime
    updated_at: datetime
    row_version: int


@dataclass(frozen=True)
class ModelSummary:
    """One row of the inventory: a model and the state of its versions."""

    model: RegisteredModel
    version_count: int
    production_version: int | None
    latest_version: int | None
    current_stage: Stage | None = None  # of the production version, else of the newest one
    monitor_count: int = 0
    health: str | None = None  # worst health of its monitors' latest runs; None before any run


@dataclass(frozen=True)
class InventoryFilter:
    """What the inventory shows: a free-text search and exact filters, all applied in SQL."""

    search: str | None = None
    risk_tier: RiskTier | None = None
    current_stage: Stage | None = None
    status: ModelStatus | None = None


EVERY_MODEL = InventoryFilter()


@dataclass(frozen=True)
class EventFilter:
    """Which audit events to read: every field set narrows them, all applied in SQL."""

    entity_type: str | None = None
    entity_id: str | None = None
    # The model and everything under it: its versions and requests, whose ids are "model/...".
    model_name: str | None = None
    action_prefix: str | None = None
    actor: str | None = None
    search: str | None = None  # text anywhere in the reason, in any case


EVERY_EVENT = EventFilter()


@dataclass(frozen=True)
class ArtifactRef:
    sha256: str
    size_bytes: int
    format: ArtifactFormat
    original_filename: str


@dataclass(frozen=True)
class ModelVersion:
    id: int
    model_id: int
    model_name: str
    version_number: int
    stage: Stage
    artifact: ArtifactRef | None
    framework: str
    estimator_class: str
    parameters: dict[str, Any]
    metrics: dict[str, float]
    training_data: dict[str, Any]
    feature_schema: list[dict[str, str]]
    environment: dict[str, str]
    parent_version: int | None
    notes: str
    created_by: str
    created_at: datetime
    row_version: int


@dataclass(frozen=True)
class StageChange:
    model_name: str
    version_number: int
    from_stage: Stage | None
    to_stage: Stage
    actor: str
    occurred_at: datetime
    reason: str
    kind: str


@dataclass(frozen=True)
class PromotionRequest:
    id: int
    model_name: str
    version_number: int
    target_stage: Stage
    requested_by: str
    requested_at: datetime
    reason: str
    status: RequestStatus
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None


@dataclass(frozen=True)
class AuditEvent:
    """One link of the audit chain, exactly as stored (the hashed fields are strings)."""

    seq: int
    occurred_at: str
    actor: str
    host: str
    action: str
    entity_type: str
    entity_id: str
    before: str
    after: str
    reason: str
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class EstimatorDescription:
    """What the registry learns from a fitted estimator."""

    estimator_class: str
    parameters: dict[str, Any] = field(default_factory=dict)
    feature_names: tuple[str, ...] = ()
    n_features: int | None = None
