"""Training recipes and runs. Every function takes the caller's connection, so a run, the
version it registered and the promotion request it opened commit together."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, func, insert, select, update
from sqlalchemy.orm import aliased

from modelledger.core.challenger import Comparison
from modelledger.core.monitoring import RunStatus, Schedule, ScheduleKind
from modelledger.core.promotion_gate import GateRule, GateVerdict
from modelledger.core.recipes import Recipe, RetrainPolicy
from modelledger.core.training import StoredRecipe, TrainingRun, Trigger
from modelledger.storage.tables import (
    model_versions,
    registered_models,
    training_claims,
    training_recipes,
    training_runs,
)


def current_recipe(conn: Connection, model_id: int) -> StoredRecipe | None:
    row = conn.execute(_recipe_query().where(training_recipes.c.model_id == model_id)
                       .order_by(training_recipes.c.recipe_version.desc()).limit(1)).first()
    return _recipe_from_row(row) if row else None


def recipe_history(conn: Connection, model_id: int) -> list[StoredRecipe]:
    rows = conn.execute(_recipe_query().where(training_recipes.c.model_id == model_id)
                        .order_by(training_recipes.c.recipe_version.desc()))
    return [_recipe_from_row(row) for row in rows]


def recipe_of_run(conn: Connection, run_id: int) -> StoredRecipe:
    row = conn.execute(_recipe_query().join(
        training_runs, training_runs.c.recipe_id == training_recipes.c.id)
        .where(training_runs.c.id == run_id)).first()
    return _recipe_from_row(row)


def insert_recipe(conn: Connection, model_id: int, recipe: Recipe, gate: GateRule | None,
                  schedule: Schedule | None, policy: RetrainPolicy, created_by: str,
                  now: datetime, reason: str) -> int:
    latest = conn.execute(select(func.max(training_recipes.c.recipe_version))
                          .where(training_recipes.c.model_id == model_id)).scalar()
    conn.execute(insert(training_recipes).values(
        model_id=model_id, recipe_version=(latest or 0) + 1,
        recipe_json=json.dumps(recipe.to_dict(), sort_keys=True),
        gate_json=json.dumps(gate.to_dict(), sort_keys=True) if gate else None,
        schedule_kind=schedule.kind.value if schedule else None,
        schedule_expr=schedule.expression if schedule else None,
        policy_json=json.dumps(policy.to_dict(), sort_keys=True), created_by=created_by,
        created_at=now, reason=reason))
    return (latest or 0) + 1


def insert_run(conn: Connection, values: dict[str, Any]) -> int:
    encoded = dict(values)
    for key in ("comparison_json", "monitor_comparison_json", "gate_json",
                "data_reference_json"):
        if encoded.get(key) is not None and not isinstance(encoded[key], str):
            encoded[key] = json.dumps(encoded[key], sort_keys=True)
    return int(conn.execute(insert(training_runs).values(**encoded)).inserted_primary_key[0])


def set_run_request(conn: Connection, run_id: int, request_id: int) -> None:
    conn.execute(update(training_runs).where(training_runs.c.id == run_id)
                 .values(request_id=request_id))


def get_run(conn: Connection, run_id: int) -> TrainingRun | None:
    row = conn.execute(_run_query().where(training_runs.c.id == run_id)).first()
    return _run_from_row(row) if row else None


def list_runs(conn: Connection, model_id: int, limit: int = 100) -> list[TrainingRun]:
    rows = conn.execute(_run_query().where(training_runs.c.model_id == model_id)
                        .order_by(training_runs.c.finished_at.desc(), training_runs.c.id.desc())
                        .limit(limit))
    return [_run_from_row(row) for row in rows]


def run_of_request(conn: Connection, request_id: int) -> TrainingRun | None:
    row = conn.execute(_run_query().where(training_runs.c.request_id == request_id)).first()
    return _run_from_row(row) if row else None


def run_of_version(conn: Connection, version_id: int) -> TrainingRun | None:
    row = conn.execute(_run_query().where(training_runs.c.version_id == version_id)).first()
    return _run_from_row(row) if row else None


def _recipe_query() -> Select:
    return (select(training_recipes, registered_models.c.name.label("model_name"))
            .join(registered_models, registered_models.c.id == training_recipes.c.model_id))


def _recipe_from_row(row: Any) -> StoredRecipe:
    return StoredRecipe(row.id, row.model_name, row.recipe_version,
                        Recipe.from_dict(json.loads(row.recipe_json)),
                        GateRule.from_dict(json.loads(row.gate_json)) if row.gate_json else None,
                        Schedule(ScheduleKind(row.schedule_kind), row.schedule_expr)
                        if row.schedule_kind else None,
                        RetrainPolicy.from_dict(json.loads(row.policy_json)),
                        row.created_by, row.created_at, row.reason)


_challenger = aliased(model_versions, name="challenger")
_champion = aliased(model_versions, name="champion")


def _run_query() -> Select:
    return (select(training_runs, registered_models.c.name.label("model_name"),
                   training_recipes.c.recipe_version,
                   _challenger.c.version_number.label("version_number"),
                   _champion.c.version_number.label("champion_version_number"))
            .join(registered_models, registered_models.c.id == training_runs.c.model_id)
            .join(training_recipes, training_recipes.c.id == training_runs.c.recipe_id)
            .outerjoin(_challenger, _challenger.c.id == training_runs.c.version_id)
            .outerjoin(_champion, _champion.c.id == training_runs.c.champion_version_id))


def _run_from_row(row: Any) -> TrainingRun:
    return TrainingRun(
        id=row.id, model_name=row.model_name, recipe_version=row.recipe_version,
        trigger=Trigger(row.trigger), cause=row.cause, status=RunStatus(row.status),
        started_by=row.started_by, started_at=row.started_at, finished_at=row.finished_at,
        error=row.error, log=row.log, version_number=row.version_number,
        champion_version_number=row.champion_version_number,
        comparison=(Comparison.from_dict(json.loads(row.comparison_json))
                    if row.comparison_json else None),
        monitor_comparison=(Comparison.from_dict(json.loads(row.monitor_comparison_json))
                            if row.monitor_comparison_json else None),
        gate=GateVerdict.from_dict(json.loads(row.gate_json)) if row.gate_json else None,
        request_id=row.request_id, data_reference=json.loads(row.data_reference_json))


def scheduled_recipes(conn: Connection) -> list[StoredRecipe]:
    """The current recipe of every model whose current recipe has a schedule."""
    newest = (select(training_recipes.c.model_id,
                     func.max(training_recipes.c.recipe_version).label("newest"))
              .group_by(training_recipes.c.model_id).subquery())
    rows = conn.execute(_recipe_query().join(
        newest, (newest.c.model_id == training_recipes.c.model_id)
        & (newest.c.newest == training_recipes.c.recipe_version))
        .where(training_recipes.c.schedule_kind.is_not(None)))
    return [_recipe_from_row(row) for row in rows]


def latest_claimed_slot(conn: Connection, model_id: int, trigger: str) -> datetime | None:
    return conn.execute(select(func.max(training_claims.c.slot)).where(
        training_claims.c.model_id == model_id, training_claims.c.trigger == trigger)).scalar()


def claimed_slots(conn: Connection, model_id: int, trigger: str,
                  since: datetime) -> list[datetime]:
    return list(conn.execute(select(training_claims.c.slot).where(
        training_claims.c.model_id == model_id, training_claims.c.trigger == trigger,
        training_claims.c.slot >= since)).scalars())


def claim(conn: Connection, model_id: int, slot: datetime, trigger: str, cause: str,
          owner: str, now: datetime) -> int | None:
    """The new claim's id, or None when another instance claimed this slot first (the
    insert does nothing on the unique (model, slot), as monitor claims do)."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    inserted = conn.execute(dialect.insert(training_claims).values(
        model_id=model_id, slot=slot, trigger=trigger, cause=cause, owner=owner,
        claimed_at=now).on_conflict_do_nothing(index_elements=["model_id", "slot"])
        .returning(training_claims.c.id)).scalar()
    return int(inserted) if inserted is not None else None


def finish_claim(conn: Connection, claim_id: int, run_id: int) -> None:
    conn.execute(update(training_claims).where(training_claims.c.id == claim_id)
                 .values(run_id=run_id))
