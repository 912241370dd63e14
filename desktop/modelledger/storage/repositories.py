"""Queries and statements over the registry tables; they return core domain objects.

Every function takes the caller's connection, so a service composes several of them (and the
audit append) into one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, func, insert, or_, select, update
from sqlalchemy.sql import Select

from modelledger.core.audit_chain import canonical_json
from modelledger.core.domain import (
    EVERY_MODEL,
    ArtifactFormat,
    ArtifactRef,
    InventoryFilter,
    ModelStatus,
    ModelSummary,
    ModelVersion,
    PromotionRequest,
    RegisteredModel,
    RequestStatus,
    RiskTier,
    Role,
    Stage,
    StageChange,
    User,
)
from modelledger.core.errors import NotFoundError
from modelledger.storage.tables import (
    artifact_trust,
    artifacts,
    model_versions,
    monitor_runs,
    monitors,
    promotion_requests,
    registered_models,
    stage_changes,
    users,
    workspace_settings,
)

MODEL_SORT_COLUMNS = {
    "name": registered_models.c.name,
    "owner": registered_models.c.owner,
    "risk_tier": registered_models.c.risk_tier,
    "updated_at": registered_models.c.updated_at,
    "created_at": registered_models.c.created_at,
}

# -- users and settings ---------------------------------------------------------------------------


def get_user(conn: Connection, name: str) -> User | None:
    row = conn.execute(select(users).where(users.c.name == name)).first()
    return User(row.name, row.display_name, Role(row.role)) if row else None


def list_users(conn: Connection) -> list[User]:
    rows = conn.execute(select(users).order_by(users.c.name))
    return [User(row.name, row.display_name, Role(row.role)) for row in rows]


def insert_user(conn: Connection, user: User, now: datetime) -> None:
    conn.execute(
        insert(users).values(
            name=user.name, display_name=user.display_name, role=user.role.value, created_at=now
        )
    )


def update_user(conn: Connection, user: User) -> None:
    conn.execute(
        update(users)
        .where(users.c.name == user.name)
        .values(display_name=user.display_name, role=user.role.value)
    )


def get_setting(conn: Connection, key: str, default: Any) -> Any:
    value = conn.execute(
        select(workspace_settings.c.value_json).where(workspace_settings.c.key == key)
    ).scalar()
    return json.loads(value) if value is not None else default


def put_setting(conn: Connection, key: str, value: Any, actor: str, now: datetime) -> None:
    values = {"value_json": canonical_json(value), "updated_by": actor, "updated_at": now}
    changed = conn.execute(
        update(workspace_settings).where(workspace_settings.c.key == key).values(**values)
    ).rowcount
    if not changed:
        conn.execute(insert(workspace_settings).values(key=key, **values))


# -- models ---------------------------------------------------------------------------------------


def _model_from_row(row) -> RegisteredModel:
    return RegisteredModel(
        id=row.id,
        name=row.name,
        description=row.description,
        owner=row.owner,
        purpose=row.purpose,
        intended_use=row.intended_use,
        risk_tier=RiskTier(row.risk_tier),
        tags=tuple(json.loads(row.tags_json)),
        status=ModelStatus(row.status),
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        row_version=row.row_version,
    )


def model_record(model: RegisteredModel) -> dict[str, Any]:
    """The user-editable facts of a model, as they appear in audit events."""
    return {
        "name": model.name,
        "description": model.description,
        "owner": model.owner,
        "purpose": model.purpose,
        "intended_use": model.intended_use,
        "risk_tier": model.risk_tier.value,
        "tags": list(model.tags),
        "status": model.status.value,
    }


def find_model(conn: Connection, name: str) -> RegisteredModel | None:
    row = conn.execute(select(registered_models).where(registered_models.c.name == name)).first()
    return _model_from_row(row) if row else None


def get_model(conn: Connection, name: str) -> RegisteredModel:
    model = find_model(conn, name)
    if model is None:
        raise NotFoundError(f"There is no model named '{name}'. `modelledger model list` shows "
                            "the registered models.")
    return model


def insert_model(conn: Connection, values: Mapping[str, Any]) -> int:
    return conn.execute(insert(registered_models).values(**values)).inserted_primary_key[0]


def update_model_if_unchanged(
    conn: Connection, model_id: int, expected_row_version: int, values: Mapping[str, Any]
) -> bool:
    """Optimistic concurrency: the update happens only if nobody else changed the row."""
    result = conn.execute(
        update(registered_models)
        .where(
            registered_models.c.id == model_id,
            registered_models.c.row_version == expected_row_version,
        )
        .values(**values, row_version=registered_models.c.row_version + 1)
    )
    return result.rowcount == 1


def touch_model(conn: Connection, model_id: int, now: datetime) -> None:
    conn.execute(
        update(registered_models).where(registered_models.c.id == model_id).values(updated_at=now)
    )


def _search_filter(search: str | None):
    if not search:
        return None
    pattern = f"%{search.lower()}%"
    return or_(
        func.lower(registered_models.c.name).like(pattern),
        func.lower(registered_models.c.owner).like(pattern),
        func.lower(registered_models.c.description).like(pattern),
        func.lower(registered_models.c.tags_json).like(pattern),
    )


def _inventory_query(inventory_filter: InventoryFilter) -> tuple[Select, Any]:
    """The inventory's rows and the expression for each model's current stage.

    The current version is the one in production, or else the newest one.
    """
    version_stats = (
        select(
            model_versions.c.model_id,
            func.count().label("version_count"),
            func.max(model_versions.c.version_number).label("latest_version"),
        )
        .group_by(model_versions.c.model_id)
        .subquery()
    )
    production = (
        select(model_versions.c.model_id, model_versions.c.version_number)
        .where(model_versions.c.stage == Stage.PRODUCTION.value)
        .subquery()
    )
    latest = model_versions.alias("latest")
    current_stage = case(
        (production.c.version_number.is_not(None), Stage.PRODUCTION.value),
        else_=latest.c.stage,
    ).label("current_stage")
    health = _model_health()
    query: Select = (
        select(
            registered_models,
            func.coalesce(version_stats.c.version_count, 0).label("version_count"),
            version_stats.c.latest_version,
            production.c.version_number.label("production_version"),
            current_stage,
            func.coalesce(health.c.monitor_count, 0).label("monitor_count"),
            health.c.health_rank,
        )
        .outerjoin(version_stats, version_stats.c.model_id == registered_models.c.id)
        .outerjoin(health, health.c.model_id == registered_models.c.id)
        .outerjoin(production, production.c.model_id == registered_models.c.id)
        .outerjoin(latest, and_(latest.c.model_id == registered_models.c.id,
                                latest.c.version_number == version_stats.c.latest_version))
    )
    search = _search_filter(inventory_filter.search)
    if search is not None:
        query = query.where(search)
    if inventory_filter.risk_tier is not None:
        risk_tier = RiskTier(inventory_filter.risk_tier).value
        query = query.where(registered_models.c.risk_tier == risk_tier)
    if inventory_filter.status is not None:
        status = ModelStatus(inventory_filter.status).value
        query = query.where(registered_models.c.status == status)
    if inventory_filter.current_stage is not None:
        query = query.where(current_stage == Stage(inventory_filter.current_stage).value)
    return query, current_stage


# Worst first: a model is as healthy as its least healthy monitor's latest run.
HEALTH_RANK = ("ok", "insufficient data", "warn", "failed", "critical")


def _model_health():
    """Per model: how many monitors it has and the worst health of their latest runs."""
    latest = (select(monitor_runs.c.monitor_id, func.max(monitor_runs.c.id).label("run_id"))
              .group_by(monitor_runs.c.monitor_id).subquery())
    rank = case(*((monitor_runs.c.health == name, index)
                  for index, name in enumerate(HEALTH_RANK)), else_=None)
    return (
        select(monitors.c.model_id, func.count(monitors.c.id).label("monitor_count"),
               func.max(rank).label("health_rank"))
        .select_from(monitors.outerjoin(latest, latest.c.monitor_id == monitors.c.id)
                     .outerjoin(monitor_runs, monitor_runs.c.id == latest.c.run_id))
        .group_by(monitors.c.model_id).subquery()
    )


def list_model_summaries(
    conn: Connection,
    inventory_filter: InventoryFilter = EVERY_MODEL,
    *,
    sort_by: str = "name",
    descending: bool = False,
    limit: int | None = None,
    offset: int = 0,
) -> list[ModelSummary]:
    """Inventory rows with version counts, filtered, sorted and paged in SQL."""
    query, current_stage = _inventory_query(inventory_filter)
    sort_column = (current_stage if sort_by == "current_stage"
                   else MODEL_SORT_COLUMNS.get(sort_by, registered_models.c.name))
    ordering = sort_column.desc() if descending else sort_column
    query = query.order_by(ordering, registered_models.c.id)
    if limit is not None:
        query = query.limit(limit).offset(offset)
    return [
        ModelSummary(
            model=_model_from_row(row),
            version_count=row.version_count,
            production_version=row.production_version,
            latest_version=row.latest_version,
            current_stage=Stage(row.current_stage) if row.current_stage else None,
            monitor_count=row.monitor_count,
            health=HEALTH_RANK[row.health_rank] if row.health_rank is not None else None,
        )
        for row in conn.execute(query)
    ]


def count_models(conn: Connection, inventory_filter: InventoryFilter = EVERY_MODEL) -> int:
    query, _ = _inventory_query(inventory_filter)
    return conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()


def _version_query() -> Select:
    parent = model_versions.alias("parent")
    return (
        select(
            model_versions,
            registered_models.c.name.label("model_name"),
            artifacts.c.size_bytes,
            artifacts.c.format,
            artifacts.c.original_filename,
            parent.c.version_number.label("parent_number"),
        )
        .join(registered_models, registered_models.c.id == model_versions.c.model_id)
        .outerjoin(artifacts, artifacts.c.sha256 == model_versions.c.artifact_sha256)
        .outerjoin(parent, parent.c.id == model_versions.c.parent_version_id)
    )


def _version_from_row(row) -> ModelVersion:
    artifact = None
    if row.artifact_sha256 is not None:
        artifact = ArtifactRef(
            sha256=row.artifact_sha256,
            size_bytes=row.size_bytes,
            format=ArtifactFormat(row.format),
            original_filename=row.original_filename,
        )
    return ModelVersion(
        id=row.id,
        model_id=row.model_id,
        model_name=row.model_name,
        version_number=row.version_number,
        stage=Stage(row.stage),
        artifact=artifact,
        framework=row.framework,
        estimator_class=row.estimator_class,
        parameters=json.loads(row.parameters_json),
        metrics=json.loads(row.metrics_json),
        training_data=json.loads(row.training_data_json),
        feature_schema=json.loads(row.feature_schema_json),
        environment=json.loads(row.environment_json),
        parent_version=row.parent_number,
        notes=row.notes,
        created_by=row.created_by,
        created_at=row.created_at,
        row_version=row.row_version,
    )


def get_version(conn: Connection, model: RegisteredModel, number: int) -> ModelVersion:
    row = conn.execute(
        _version_query().where(
            model_versions.c.model_id == model.id, model_versions.c.version_number == number
        )
    ).first()
    if row is None:
        raise NotFoundError(f"Model '{model.name}' has no version {number}.")
    return _version_from_row(row)


def get_version_by_id(conn: Connection, version_id: int) -> ModelVersion:
    row = conn.execute(_version_query().where(model_versions.c.id == version_id)).one()
    return _version_from_row(row)


def list_versions(
    conn: Connection, model: RegisteredModel, *, limit: int | None = None, offset: int = 0
) -> list[ModelVersion]:
    query = (
        _version_query()
        .where(model_versions.c.model_id == model.id)
        .order_by(model_versions.c.version_number.desc())
    )
    if limit is not None:
        query = query.limit(limit).offset(offset)
    return [_version_from_row(row) for row in conn.execute(query)]


def next_version_number(conn: Connection, model_id: int) -> int:
    # Served by the (model_id, version_number) unique index: O(log n), not a scan of versions.
    latest = conn.execute(
        select(func.max(model_versions.c.version_number)).where(
            model_versions.c.model_id == model_id
        )
    ).scalar()
    return (latest or 0) + 1


def insert_version(conn: Connection, values: Mapping[str, Any]) -> int:
    return conn.execute(insert(model_versions).values(**values)).inserted_primary_key[0]


def production_version(conn: Connection, model_id: int) -> ModelVersion | None:
    row = conn.execute(
        _version_query().where(
            model_versions.c.model_id == model_id,
            model_versions.c.stage == Stage.PRODUCTION.value,
        )
    ).first()
    return _version_from_row(row) if row else None


def set_version_stage(conn: Connection, version_id: int, stage: Stage) -> None:
    conn.execute(
        update(model_versions)
        .where(model_versions.c.id == version_id)
        .values(stage=stage.value, row_version=model_versions.c.row_version + 1)
    )


def record_stage_change(
    conn: Connection,
    *,
    version_id: int,
    from_stage: Stage | None,
    to_stage: Stage,
    kind: str,
    actor: str,
    now: datetime,
    reason: str,
    promotion_request_id: int | None = None,
) -> None:
    conn.execute(
        insert(stage_changes).values(
            version_id=version_id,
            from_stage=from_stage.value if from_stage else None,
            to_stage=to_stage.value,
            kind=kind,
            actor=actor,
            occurred_at=now,
            reason=reason,
            promotion_request_id=promotion_request_id,
        )
    )


def was_ever_in_production(conn: Connection, version_id: int) -> bool:
    return (
        conn.execute(
            select(stage_changes.c.id)
            .where(
                stage_changes.c.version_id == version_id,
                stage_changes.c.to_stage == Stage.PRODUCTION.value,
            )
            .limit(1)
        ).first()
        is not None
    )


def stage_history(
    conn: Connection, model: RegisteredModel, version_number: int | None = None
) -> list[StageChange]:
    query = (
        select(stage_changes, model_versions.c.version_number)
        .join(model_versions, model_versions.c.id == stage_changes.c.version_id)
        .where(model_versions.c.model_id == model.id)
        .order_by(stage_changes.c.occurred_at, stage_changes.c.id)
    )
    if version_number is not None:
        query = query.where(model_versions.c.version_number == version_number)
    return [
        StageChange(
            model_name=model.name,
            version_number=row.version_number,
            from_stage=Stage(row.from_stage) if row.from_stage else None,
            to_stage=Stage(row.to_stage),
            actor=row.actor,
            occurred_at=row.occurred_at,
            reason=row.reason,
            kind=row.kind,
        )
        for row in conn.execute(query)
    ]


# -- artifacts ------------------------------------------------------------------------------------


def artifact_known(conn: Connection, sha256: str) -> bool:
    query = select(artifacts.c.sha256).where(artifacts.c.sha256 == sha256)
    return conn.execute(query).first() is not None


def insert_artifact(conn: Connection, ref: ArtifactRef, stored_by: str, now: datetime) -> None:
    conn.execute(
        insert(artifacts).values(
            sha256=ref.sha256,
            size_bytes=ref.size_bytes,
            format=ref.format.value,
            original_filename=ref.original_filename,
            stored_by=stored_by,
            stored_at=now,
        )
    )


def artifact_trusted(conn: Connection, sha256: str) -> bool:
    query = select(artifact_trust.c.sha256).where(artifact_trust.c.sha256 == sha256)
    return conn.execute(query).first() is not None


def insert_artifact_trust(
    conn: Connection, sha256: str, trusted_by: str, now: datetime, reason: str
) -> None:
    conn.execute(
        insert(artifact_trust).values(
            sha256=sha256, trusted_by=trusted_by, trusted_at=now, reason=reason
        )
    )


# -- promotion requests ---------------------------------------------------------------------------


def _request_query() -> Select:
    return (
        select(
            promotion_requests,
            model_versions.c.version_number,
            registered_models.c.name.label("model_name"),
        )
        .join(model_versions, model_versions.c.id == promotion_requests.c.version_id)
        .join(registered_models, registered_models.c.id == model_versions.c.model_id)
    )


def _request_from_row(row) -> PromotionRequest:
    return PromotionRequest(
        id=row.id,
        model_name=row.model_name,
        version_number=row.version_number,
        target_stage=Stage(row.target_stage),
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        reason=row.reason,
        status=RequestStatus(row.status),
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        decision_reason=row.decision_reason,
    )


def get_request(conn: Connection, request_id: int) -> tuple[PromotionRequest, int]:
    """The request and the id of the version it is about."""
    row = conn.execute(_request_query().where(promotion_requests.c.id == request_id)).first()
    if row is None:
        raise NotFoundError(
            f"There is no promotion request #{request_id}. `modelledger promote list` shows them."
        )
    return _request_from_row(row), row.version_id


def has_pending_request(conn: Connection, version_id: int) -> bool:
    query = select(promotion_requests.c.id).where(
        and_(
            promotion_requests.c.version_id == version_id,
            promotion_requests.c.status == RequestStatus.PENDING.value,
        )
    )
    return conn.execute(query.limit(1)).first() is not None


def insert_request(conn: Connection, values: Mapping[str, Any]) -> int:
    return conn.execute(insert(promotion_requests).values(**values)).inserted_primary_key[0]


def decide_request(
    conn: Connection,
    request_id: int,
    status: RequestStatus,
    decided_by: str,
    now: datetime,
    reason: str,
) -> None:
    conn.execute(
        update(promotion_requests)
        .where(promotion_requests.c.id == request_id)
        .values(status=status.value, decided_by=decided_by, decided_at=now, decision_reason=reason)
    )


def list_requests(
    conn: Connection, status: RequestStatus | None = None, model: RegisteredModel | None = None
) -> list[PromotionRequest]:
    query = _request_query().order_by(promotion_requests.c.id.desc())
    if status is not None:
        query = query.where(promotion_requests.c.status == status.value)
    if model is not None:
        query = query.where(model_versions.c.model_id == model.id)
    return [_request_from_row(row) for row in conn.execute(query)]
