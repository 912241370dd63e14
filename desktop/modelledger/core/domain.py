"""Domain objects of the registry. Plain, immutable values: no database, no Qt."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from modelledger.core.errors import InvalidInputError


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
    CODE = "code"  # a training recipe's Python file

    @property
    def executes_code_on_load(self) -> bool:
        return self in (ArtifactFormat.PICKLE, ArtifactFormat.JOBLIB, ArtifactFormat.CODE)


class EventSigner(Protocol):
    """A person's (or a headless instance's) unlocked private key."""

    @property
    def fingerprint(self) -> str: ...

    def sign(self, data: bytes) -> bytes: ...


@dataclass(frozen=True)
class Actor:
    """Who did something, and from which machine. ``signer`` signs their events once the
    workspace has signed identity; a ``scheduler`` actor writes what a running scheduler writes
    (unsigned, vouched for by its signed checkpoints)."""

    user: str
    host: str
    signer: EventSigner | None = field(default=None, compare=False, repr=False)
    scheduler: bool = False

    @property
    def author(self) -> str:
        """Who an unsigned event names as its author: the scheduler instance for what a running
        scheduler writes (it acts on its own timetable, not for the person whose window runs
        it), else the person."""
        return f"scheduler on {self.host}" if self.scheduler else self.user


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
    # The model and everything under it: its versions, requests and monitors, whose ids are
    # "model/...", and the alerts its monitors raised.
    model_name: str | None = None
    # One version of ``model_name`` and its promotion requests ("model/v3", "model/v3/...").
    version_number: int | None = None
    action_prefix: str | None = None
    actor: str | None = None
    # In any case: the reason, or any text recorded in the values before and after (alert
    # titles, notes, summaries, errors, descriptions), never the names of the fields.
    search: str | None = None
    occurred_from: datetime | None = None  # inclusive; timezone-aware
    occurred_before: datetime | None = None  # exclusive; timezone-aware

    def __post_init__(self) -> None:
        if self.version_number is not None and self.model_name is None:
            raise InvalidInputError("Choose a model to see the events of one of its versions.")
        for moment in (self.occurred_from, self.occurred_before):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("event filter times must be timezone-aware")
        if (self.occurred_from is not None and self.occurred_before is not None
                and self.occurred_from >= self.occurred_before):
            raise InvalidInputError("The start of the period must come before its end.")


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
    # Outside the hashed fields: the signer's key fingerprint and the signature over the hash
    # (core.identity); None before signed identity and for scheduler events.
    signer: str | None = None
    signature: str | None = None
    # Not stored: what the event is about as a reader would name it ("Incident #12 · ..."), when a
    # reader of the log labelled it (AuditService.subject_labels); empty otherwise.
    about: str = field(default="", compare=False)

    def chain_row(self) -> tuple:
        """The hashed fields and the hash, in their order: an event as a pack's line holds it."""
        return (self.seq, self.occurred_at, self.actor, self.host, self.action,
                self.entity_type, self.entity_id, self.before, self.after, self.reason,
                self.prev_hash, self.hash)


@dataclass(frozen=True)
class EstimatorDescription:
    """What the registry learns from a fitted estimator."""

    estimator_class: str
    parameters: dict[str, Any] = field(default_factory=dict)
    feature_names: tuple[str, ...] = ()
    n_features: int | None = None
