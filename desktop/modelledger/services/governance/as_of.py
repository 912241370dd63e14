"""What a model looked like at a past moment: its facts, versions and their stages, its monitors
with the thresholds in force, and its health as the latest runs then reported it.

Each part comes from the record that keeps its history: facts and monitor configurations from
the audit log (every change writes its before and after there), stages from the stage changes,
health from the stored runs. Nothing is inferred from the current state, so the picture of a
date is the same whenever it is asked for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from modelledger.core.domain import AuditEvent, EventFilter, RegisteredModel, Stage, StageChange
from modelledger.core.monitoring import Health, MonitorStatus, RunStatus, Threshold
from modelledger.storage import audit_log
from modelledger.storage import monitoring_repo as mrepo
from modelledger.storage import repositories as repo
from modelledger.storage.database import Database
from modelledger.storage.tables import model_versions, monitor_runs

MODEL_FACT_ACTIONS = ("model.registered", "model.updated")
MONITOR_CONFIGURATION_ACTIONS = ("monitor.created", "monitor.updated")
MONITOR_STATUS_ACTIONS = ("monitor.paused", "monitor.resumed")


@dataclass(frozen=True)
class VersionAsOf:
    number: int
    stage: Stage
    stage_since: datetime
    created_at: datetime
    created_by: str


@dataclass(frozen=True)
class RunAsOf:
    run_id: int
    finished_at: datetime
    status: RunStatus
    health: Health
    summary: str
    version_number: int | None  # the version the run watched


@dataclass(frozen=True)
class MonitorAsOf:
    name: str
    status: MonitorStatus
    schedule: str  # as described when it was configured, e.g. "every day"
    pinned_version: int | None  # None: followed the production version
    thresholds: dict[str, Threshold]  # set on the monitor; other metrics used the defaults
    configured_at: datetime  # this configuration was in force from then
    configured_by: str
    latest_run: RunAsOf | None  # the newest run finished by then


@dataclass(frozen=True)
class ModelAsOf:
    model_name: str
    moment: datetime
    registered_at: datetime
    facts: dict[str, Any]  # owner, risk tier, status, ... as last recorded by then
    versions: tuple[VersionAsOf, ...]  # newest first
    monitors: tuple[MonitorAsOf, ...]  # by name

    @property
    def existed(self) -> bool:
        return self.registered_at <= self.moment

    @property
    def health(self) -> Health | None:
        """The worst health among the monitors' latest runs; None when none had run."""
        reported = [m.latest_run.health for m in self.monitors if m.latest_run is not None]
        if not reported:
            return None
        return max(reported, key=lambda health: repo.HEALTH_RANK.index(health.value))


def event_moment(event: AuditEvent) -> datetime:
    """When an event happened, to the microsecond (as stored, in UTC)."""
    return datetime.fromisoformat(event.occurred_at)


def model_as_of(database: Database, model_name: str, moment: datetime) -> ModelAsOf:
    """The model as it stood at ``moment`` (timezone-aware), read in one transaction."""
    if moment.tzinfo is None:
        raise ValueError("the moment must be timezone-aware")
    return database.read(lambda conn: _model_as_of(conn, model_name, moment))


def _model_as_of(conn: Connection, model_name: str, moment: datetime) -> ModelAsOf:
    model = repo.get_model(conn, model_name)
    if model.created_at > moment:
        return ModelAsOf(model.name, moment, model.created_at, {}, (), ())
    return ModelAsOf(model.name, moment, model.created_at, _facts(conn, model.name, moment),
                     _versions(conn, model, moment), _monitors(conn, model.name, moment))


def _facts(conn: Connection, model_name: str, moment: datetime) -> dict[str, Any]:
    # The registration records every fact; each update records the facts it changed.
    facts: dict[str, Any] = {}
    for event in audit_log.events_up_to(
            conn, EventFilter(entity_type="model", entity_id=model_name), MODEL_FACT_ACTIONS,
            moment):
        facts.update(_record(event.after))
    return facts


def _versions(conn: Connection, model: RegisteredModel,
              moment: datetime) -> tuple[VersionAsOf, ...]:
    last_change: dict[int, StageChange] = {}
    for change in repo.stage_history(conn, model):  # oldest first
        if change.occurred_at <= moment:
            last_change[change.version_number] = change
    return tuple(
        VersionAsOf(version.version_number, last_change[version.version_number].to_stage,
                    last_change[version.version_number].occurred_at, version.created_at,
                    version.created_by)
        for version in repo.list_versions(conn, model)
        if version.created_at <= moment and version.version_number in last_change
    )


def _monitors(conn: Connection, model_name: str, moment: datetime) -> tuple[MonitorAsOf, ...]:
    configured: dict[str, AuditEvent] = {}
    status: dict[str, MonitorStatus] = {}
    for event in audit_log.events_up_to(
            conn, EventFilter(entity_type="monitor", model_name=model_name),
            MONITOR_CONFIGURATION_ACTIONS + MONITOR_STATUS_ACTIONS, moment):
        record = _record(event.after)
        if event.action in MONITOR_CONFIGURATION_ACTIONS:
            configured[event.entity_id] = event
        if "status" in record:
            status[event.entity_id] = MonitorStatus(record["status"])
    ids = {monitor.name: monitor.id
           for monitor in mrepo.list_monitors(conn, model_name=model_name)}
    found = []
    for key, event in configured.items():
        record = _record(event.after)
        monitor_id = ids.get(record["name"])
        thresholds = record.get("spec", {}).get("thresholds", {})
        found.append(MonitorAsOf(
            name=record["name"], status=status[key], schedule=record.get("schedule", ""),
            pinned_version=record.get("pinned_version"),
            thresholds={metric: Threshold.from_dict(limits)
                        for metric, limits in sorted(thresholds.items())},
            configured_at=event_moment(event), configured_by=event.actor,
            latest_run=(_latest_run(conn, monitor_id, moment) if monitor_id is not None
                        else None)))
    return tuple(sorted(found, key=lambda monitor: monitor.name))


def _record(text: str) -> dict[str, Any]:
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def _latest_run(conn: Connection, monitor_id: int, moment: datetime) -> RunAsOf | None:
    row = conn.execute(
        select(monitor_runs.c.id, monitor_runs.c.finished_at, monitor_runs.c.status,
               monitor_runs.c.health, monitor_runs.c.summary, model_versions.c.version_number)
        .outerjoin(model_versions, model_versions.c.id == monitor_runs.c.version_id)
        .where(monitor_runs.c.monitor_id == monitor_id, monitor_runs.c.finished_at <= moment)
        .order_by(monitor_runs.c.finished_at.desc(), monitor_runs.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return RunAsOf(row.id, row.finished_at, RunStatus(row.status), Health(row.health),
                   row.summary, row.version_number)
