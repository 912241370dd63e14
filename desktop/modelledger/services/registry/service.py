"""The model registry: inventory, versions, artifacts and the lifecycle, all audited.

Each public method is one unit of work: the change and its audit events commit together or not
at all, and a change notification is published after the commit.
"""

from __future__ import annotations

import functools
import math
import platform
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection

from modelledger.core import lifecycle
from modelledger.core.audit_chain import canonical_json, change_set
from modelledger.core.domain import (
    EVERY_MODEL,
    Actor,
    ArtifactFormat,
    ArtifactRef,
    EstimatorDescription,
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
from modelledger.core.errors import ConcurrentEditError, InvalidInputError, LifecycleError
from modelledger.core.identity import FOUR_EYES_SETTING
from modelledger.core.introspection import describe_estimator, json_safe
from modelledger.services.changes.events import ChangeBus, ChangeEvent
from modelledger.services.changes.unit_of_work import Clock, audited_write, change_setting
from modelledger.services.data.fingerprints import fingerprint_file
from modelledger.services.registry import model_files
from modelledger.storage import repositories as repo
from modelledger.storage.artifacts import ArtifactStore, ProgressCallback
from modelledger.storage.audit_log import AuditAppender
from modelledger.storage.database import Database
from modelledger.storage.tables import utc_now

T = TypeVar("T")

MODEL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,199}$")
EDITABLE_MODEL_FIELDS = ("description", "owner", "purpose", "intended_use", "risk_tier", "tags",
                         "status")
ENVIRONMENT_PACKAGES = ("scikit-learn", "numpy", "scipy", "pandas", "skops")


@dataclass(frozen=True)
class PreparedVersion:
    """A version ready to be written: what `RegistryService.prepare_version` learned."""

    model_name: str
    info: ModelFileInfo | None
    trusted: bool
    trust_reason: str
    parent_version: int | None
    notes: str
    values: dict[str, Any]  # the version row's columns known before the write


@dataclass(frozen=True)
class ModelFileInfo:
    """What an import learned from a model file before anything is written."""

    artifact: ArtifactRef
    description: EstimatorDescription | None
    framework: str


class RegistryService:
    def __init__(self, database: Database, artifacts: ArtifactStore, actor: Actor,
                 bus: ChangeBus, *, clock: Clock = utc_now) -> None:
        self._db = database
        self._artifacts = artifacts
        self.actor = actor
        self._bus = bus
        self._clock = clock

    # -- plumbing -------------------------------------------------------------------------------

    def _write(
        self,
        unit: Callable[[Connection, AuditAppender, datetime], T],
        change: Callable[[T], ChangeEvent] | None = None,
    ) -> T:
        return audited_write(self._db, self.actor, self._bus, unit, change, clock=self._clock)

    # -- users and settings ---------------------------------------------------------------------

    def save_user(self, name: str, display_name: str, role: Role, reason: str = "") -> User:
        _require_text(name, "user name")

        def unit(conn, audit, now):
            existing = repo.get_user(conn, name)
            user = User(name, display_name or name, role)
            if existing is None:
                repo.insert_user(conn, user, now)
                audit.append("user.created", "user", name,
                             after={"display_name": user.display_name, "role": role.value},
                             reason=reason)
            elif existing != user:
                repo.update_user(conn, user)
                before, after = change_set(
                    {"display_name": existing.display_name, "role": existing.role.value},
                    {"display_name": user.display_name, "role": role.value},
                )
                audit.append("user.updated", "user", name, before=before, after=after,
                             reason=reason)
            return user

        return self._write(unit, lambda user: ChangeEvent("user", user.name, "saved"))

    def list_users(self) -> list[User]:
        return self._db.read(repo.list_users)

    def four_eyes_required(self) -> bool:
        return self._db.read(lambda conn: repo.get_setting(conn, FOUR_EYES_SETTING, True))

    def set_four_eyes_required(self, required: bool, reason: str) -> None:
        self._change_setting(FOUR_EYES_SETTING, True, required, reason)

    def shared_file(self) -> bool:
        return self._db.read(lambda conn: repo.get_setting(conn, "shared_file", False))

    def set_shared_file(self, shared: bool, reason: str) -> None:
        """Mark the workspace as a file shared by several machines (rollback journal mode)."""
        self._change_setting("shared_file", False, shared, reason)

    def _change_setting(self, key: str, default: Any, value: Any, reason: str) -> None:
        _require_text(reason, "reason")

        def unit(conn, audit, now):
            change_setting(conn, audit, self.actor, now, key, default, value, reason)

        self._write(unit, lambda _: ChangeEvent("settings", key, "changed"))

    # -- models ---------------------------------------------------------------------------------

    def register_model(
        self,
        name: str,
        *,
        owner: str | None = None,
        description: str = "",
        purpose: str = "",
        intended_use: str = "",
        risk_tier: RiskTier = RiskTier.MEDIUM,
        tags: Sequence[str] = (),
        reason: str = "",
    ) -> RegisteredModel:
        name = name.strip()
        if not MODEL_NAME_PATTERN.match(name):
            raise InvalidInputError(
                f"'{name}' is not a valid model name: use 1-200 letters, digits, spaces, dots, "
                "dashes or underscores, starting with a letter or digit."
            )
        owner = (owner or self.actor.user).strip()

        def unit(conn, audit, now):
            if repo.find_model(conn, name) is not None:
                raise InvalidInputError(
                    f"A model named '{name}' already exists; pick another name.")
            values = {
                "name": name, "description": description, "owner": owner, "purpose": purpose,
                "intended_use": intended_use, "risk_tier": RiskTier(risk_tier).value,
                "tags_json": canonical_json(sorted(set(tags))), "status": ModelStatus.ACTIVE.value,
                "created_by": self.actor.user, "created_at": now, "updated_at": now,
            }
            repo.insert_model(conn, values)
            model = repo.get_model(conn, name)
            audit.append("model.registered", "model", name, after=repo.model_record(model),
                         reason=reason)
            return model

        return self._write(unit, lambda model: ChangeEvent("model", model.name, "registered"))

    def update_model(
        self, name: str, expected_row_version: int, changes: Mapping[str, Any], reason: str = ""
    ) -> RegisteredModel:
        """Change a model's facts unless someone changed them since ``expected_row_version``."""
        unknown = set(changes) - set(EDITABLE_MODEL_FIELDS)
        if unknown:
            raise InvalidInputError(f"These model fields cannot be edited: {sorted(unknown)}.")
        values = dict(changes)
        if "risk_tier" in values:
            values["risk_tier"] = RiskTier(values["risk_tier"]).value
        if "status" in values:
            values["status"] = ModelStatus(values["status"]).value
        if "tags" in values:
            values["tags_json"] = canonical_json(sorted(set(values.pop("tags"))))

        def unit(conn, audit, now):
            current = repo.get_model(conn, name)
            if current.row_version != expected_row_version:
                raise _conflict(current)
            if not repo.update_model_if_unchanged(conn, current.id, expected_row_version,
                                                  {**values, "updated_at": now}):
                raise _conflict(repo.get_model(conn, name))
            updated = repo.get_model(conn, name)
            before, after = change_set(repo.model_record(current), repo.model_record(updated))
            audit.append("model.updated", "model", name, before=before, after=after,
                         reason=reason)
            return updated

        return self._write(unit, lambda model: ChangeEvent("model", model.name, "updated"))

    def get_model(self, name: str) -> RegisteredModel:
        return self._db.read(lambda conn: repo.get_model(conn, name))

    def list_models(self, inventory_filter: InventoryFilter = EVERY_MODEL, *,
                    sort_by: str = "name", descending: bool = False, limit: int | None = None,
                    offset: int = 0) -> list[ModelSummary]:
        return self._db.read(lambda conn: repo.list_model_summaries(
            conn, inventory_filter, sort_by=sort_by, descending=descending, limit=limit,
            offset=offset))

    def count_models(self, inventory_filter: InventoryFilter = EVERY_MODEL) -> int:
        return self._db.read(lambda conn: repo.count_models(conn, inventory_filter))

    # -- versions -------------------------------------------------------------------------------

    def inspect_model_file(self, path: Path, *, trust_reason: str | None = None,
                           progress: ProgressCallback | None = None) -> ModelFileInfo:
        """Store a model file in the artifact store and learn what it is.

        A pickle/joblib file is only unpickled when ``trust_reason`` is given.
        """
        file_format = model_files.detect_format(path)
        sha256, size = self._artifacts.put(path, progress)
        artifact = ArtifactRef(sha256, size, file_format, path.name)
        stored = self._artifacts.verified_path(sha256)
        description = None
        if file_format is ArtifactFormat.SKOPS or (
            file_format.executes_code_on_load and trust_reason
        ):
            estimator = model_files.load_model_file(stored, file_format,
                                                    trusted=bool(trust_reason))
            description = describe_estimator(estimator)
        framework = _framework_of(description)
        return ModelFileInfo(artifact, description, framework)

    def add_version(self, model_name: str, **details: Any) -> ModelVersion:
        """Register a new version; the artifact is optional (a model scored elsewhere).
        ``details`` are `prepare_version`'s."""
        prepared = self.prepare_version(model_name, **details)
        return self._write(lambda conn, audit, now: self.write_version(conn, audit, now,
                                                                       prepared),
                           lambda v: ChangeEvent("version", _version_key(v), "created"))

    def prepare_version(
        self,
        model_name: str,
        *,
        model_file: Path | None = None,
        trust_reason: str | None = None,
        training_data: Path | None = None,
        metrics: Mapping[str, float] | None = None,
        parameters: Mapping[str, Any] | None = None,
        parent_version: int | None = None,
        notes: str = "",
        framework: str = "",
        environment: Mapping[str, str] | None = None,
        estimator: Any = None,
        training_frame: Any = None,
        training_fingerprint: tuple[dict[str, Any], list[dict[str, str]]] | None = None,
        progress: ProgressCallback | None = None,
    ) -> PreparedVersion:
        """Everything about a new version that is learned before the write: the model file
        stored and introspected, the training data fingerprinted.

        ``estimator`` / ``training_frame`` let a caller that already holds the fitted object
        and its data (the demo, notebooks) skip re-reading them from files;
        ``training_fingerprint`` is (fingerprint, schema) when the caller computed it already
        (a training worker).
        """
        info = None
        if model_file is not None:
            info = self.inspect_model_file(model_file, trust_reason=trust_reason,
                                           progress=progress)
        description = info.description if info else None
        if estimator is not None:
            description = describe_estimator(estimator)
        fingerprint: dict[str, Any] = {}
        schema: list[dict[str, str]] = []
        if training_fingerprint is not None:
            fingerprint, schema = training_fingerprint
        elif training_data is not None:
            fingerprint, schema = fingerprint_file(training_data)
        elif training_frame is not None:
            from modelledger.services.data.fingerprints import fingerprint_frame

            fingerprint, schema = fingerprint_frame(training_frame)
        if not schema and description and description.feature_names:
            schema = [{"name": name, "dtype": ""} for name in description.feature_names]
        clean_metrics = _validated_metrics(metrics or {})
        all_parameters = dict(description.parameters) if description else {}
        all_parameters.update({key: json_safe(value) for key, value in (parameters or {}).items()})
        values = {
            "artifact_sha256": info.artifact.sha256 if info else None,
            "framework": framework or _framework_of(description),
            "estimator_class": description.estimator_class if description else "",
            "parameters_json": canonical_json(all_parameters),
            "metrics_json": canonical_json(clean_metrics),
            "training_data_json": canonical_json(fingerprint),
            "feature_schema_json": canonical_json(schema),
            "environment_json": canonical_json(dict(environment or current_environment())),
            "notes": notes,
        }
        return PreparedVersion(model_name, info, bool(trust_reason), trust_reason or "",
                               parent_version, notes, values)

    def write_version(self, conn: Connection, audit: AuditAppender, now: datetime,
                      prepared: PreparedVersion) -> ModelVersion:
        """The write of a prepared version, inside a caller's audited transaction."""
        model = repo.get_model(conn, prepared.model_name)
        info = prepared.info
        parent_id = None
        if prepared.parent_version is not None:
            parent_id = repo.get_version(conn, model, prepared.parent_version).id
        if info is not None and not repo.artifact_known(conn, info.artifact.sha256):
            repo.insert_artifact(conn, info.artifact, self.actor.user, now)
            audit.append("artifact.stored", "artifact", info.artifact.sha256,
                         after={"size_bytes": info.artifact.size_bytes,
                                "format": info.artifact.format.value,
                                "original_filename": info.artifact.original_filename})
        if info is not None and prepared.trusted:
            self._record_trust(conn, audit, now, info.artifact.sha256, prepared.trust_reason)
        number = repo.next_version_number(conn, model.id)
        version_id = repo.insert_version(conn, {
            **prepared.values, "model_id": model.id, "version_number": number,
            "stage": Stage.DEVELOPMENT.value, "parent_version_id": parent_id,
            "created_by": self.actor.user, "created_at": now,
        })
        repo.record_stage_change(conn, version_id=version_id, from_stage=None,
                                 to_stage=Stage.DEVELOPMENT, kind="created",
                                 actor=self.actor.user, now=now, reason="version registered")
        repo.touch_model(conn, model.id, now)
        version = repo.get_version_by_id(conn, version_id)
        audit.append("version.created", "version", f"{model.name}/v{number}",
                     after=_version_record(version), reason=prepared.notes)
        return version

    def trust_artifact(self, model_name: str, version_number: int, reason: str) -> None:
        """Record that someone vouches for a pickle/joblib artifact, so it may be unpickled."""
        _require_text(reason, "reason for trusting this file")

        def unit(conn, audit, now):
            version = repo.get_version(conn, repo.get_model(conn, model_name), version_number)
            if version.artifact is None:
                raise InvalidInputError(f"{model_name} v{version_number} has no model file.")
            self._record_trust(conn, audit, now, version.artifact.sha256, reason)
            return version

        self._write(unit, lambda v: ChangeEvent("version", _version_key(v), "trusted"))

    def _record_trust(self, conn, audit, now, sha256: str, reason: str) -> None:
        if repo.artifact_trusted(conn, sha256):
            return
        repo.insert_artifact_trust(conn, sha256, self.actor.user, now, reason)
        audit.append("artifact.trusted", "artifact", sha256,
                     after={"trusted_by": self.actor.user}, reason=reason)

    def load_model(self, model_name: str, version_number: int) -> Any:
        """The fitted model object, after verifying the artifact's hash and trust."""
        def query(conn):
            version = repo.get_version(conn, repo.get_model(conn, model_name), version_number)
            trusted = version.artifact is not None and repo.artifact_trusted(
                conn, version.artifact.sha256)
            return version, trusted

        version, trusted = self._db.read(query)
        if version.artifact is None:
            raise InvalidInputError(
                f"{model_name} v{version_number} was registered without a model file (it is "
                "scored elsewhere); there is nothing to load."
            )
        path = self._artifacts.verified_path(version.artifact.sha256)
        return model_files.load_model_file(path, version.artifact.format, trusted=trusted)

    def get_version(self, model_name: str, version_number: int) -> ModelVersion:
        return self._db.read(
            lambda conn: repo.get_version(conn, repo.get_model(conn, model_name), version_number))

    def list_versions(self, model_name: str, *, limit: int | None = None,
                      offset: int = 0) -> list[ModelVersion]:
        return self._db.read(lambda conn: repo.list_versions(
            conn, repo.get_model(conn, model_name), limit=limit, offset=offset))

    def stage_history(self, model_name: str,
                      version_number: int | None = None) -> list[StageChange]:
        return self._db.read(lambda conn: repo.stage_history(
            conn, repo.get_model(conn, model_name), version_number))

    # -- lifecycle ------------------------------------------------------------------------------

    def move_to_stage(self, model_name: str, version_number: int, target: Stage,
                      reason: str) -> ModelVersion:
        """Development, Staging or Archived; Production needs an approved request."""
        _require_text(reason, "reason")
        target = Stage(target)

        return self._write(
            lambda conn, audit, now: self.write_stage_move(conn, audit, now, model_name,
                                                           version_number, target, reason),
            lambda v: ChangeEvent("version", _version_key(v), "stage"))

    def write_stage_move(self, conn: Connection, audit: AuditAppender, now: datetime,
                         model_name: str, version_number: int, target: Stage,
                         reason: str) -> ModelVersion:
        """`move_to_stage` inside a caller's audited transaction."""
        version = repo.get_version(conn, repo.get_model(conn, model_name), version_number)
        lifecycle.check_direct_move(version.stage, target)
        return self._change_stage(conn, audit, now, version, target, "transition", reason)

    def request_promotion(self, model_name: str, version_number: int,
                          reason: str) -> PromotionRequest:
        _require_text(reason, "reason")
        return self._write(
            lambda conn, audit, now: self.write_promotion_request(conn, audit, now, model_name,
                                                                  version_number, reason),
            lambda r: ChangeEvent("promotion", str(r.id), "requested"))

    def write_promotion_request(self, conn: Connection, audit: AuditAppender, now: datetime,
                                model_name: str, version_number: int, reason: str, *,
                                evidence: Mapping[str, Any] | None = None) -> PromotionRequest:
        """`request_promotion` inside a caller's audited transaction; ``evidence`` (what a
        training run found) goes into the request's audit event."""
        version = repo.get_version(conn, repo.get_model(conn, model_name), version_number)
        lifecycle.check_promotion_request(version.stage,
                                          repo.has_pending_request(conn, version.id))
        request_id = repo.insert_request(conn, {
            "version_id": version.id, "target_stage": Stage.PRODUCTION.value,
            "requested_by": self.actor.user, "requested_at": now, "reason": reason,
            "status": RequestStatus.PENDING.value,
        })
        request = repo.get_request(conn, request_id)[0]
        after = {"model": model_name, "version": version_number,
                 "target_stage": Stage.PRODUCTION.value,
                 "requester_role": _role_of(conn, self.actor.user),
                 "developer": version.created_by}
        if evidence:
            after["evidence"] = dict(evidence)
        audit.append("promotion.requested", "promotion_request", _request_key(request),
                     after=after, reason=reason)
        return request

    def approve_promotion(self, request_id: int, reason: str,
                          conditions: str = "") -> ModelVersion:
        """Approve and carry out: the version goes to Production, the previous one is archived.

        ``conditions`` are what the approval depends on (e.g. "quarterly backtest"); they are
        kept in the approval's audit event."""
        _require_text(reason, "reason")

        def unit(conn, audit, now):
            request, version_id = repo.get_request(conn, request_id)
            four_eyes = repo.get_setting(conn, FOUR_EYES_SETTING, True)
            lifecycle.check_decision(request, self.actor.user, four_eyes)
            version = repo.get_version_by_id(conn, version_id)
            lifecycle.check_approved_version_still_staged(version.stage)
            repo.decide_request(conn, request_id, RequestStatus.APPROVED, self.actor.user, now,
                                reason)
            audit.append(
                "promotion.approved", "promotion_request", _request_key(request),
                before={"status": RequestStatus.PENDING.value},
                after={"status": RequestStatus.APPROVED.value, "model": request.model_name,
                       "version": request.version_number,
                       **self._decision_roles(conn, request, version),
                       "four_eyes_required": four_eyes, "conditions": conditions.strip()},
                reason=reason)
            replaced = self._archive_current_production(conn, audit, now, version.model_id,
                                                        f"replaced by v{version.version_number}")
            return self._change_stage(conn, audit, now, version, Stage.PRODUCTION, "promotion",
                                      reason, promotion_request_id=request_id,
                                      details={"promotion_request": request_id,
                                               "replaced_version": replaced})

        return self._write(unit, lambda v: ChangeEvent("version", _version_key(v), "promoted"))

    def reject_promotion(self, request_id: int, reason: str) -> PromotionRequest:
        _require_text(reason, "reason")

        def unit(conn, audit, now):
            request, version_id = repo.get_request(conn, request_id)
            lifecycle.check_decision(request, self.actor.user,
                                     repo.get_setting(conn, FOUR_EYES_SETTING, True))
            repo.decide_request(conn, request_id, RequestStatus.REJECTED, self.actor.user, now,
                                reason)
            version = repo.get_version_by_id(conn, version_id)
            audit.append("promotion.rejected", "promotion_request", _request_key(request),
                         before={"status": RequestStatus.PENDING.value},
                         after={"status": RequestStatus.REJECTED.value,
                                "model": request.model_name, "version": request.version_number,
                                **self._decision_roles(conn, request, version)},
                         reason=reason)
            return repo.get_request(conn, request_id)[0]

        return self._write(unit, lambda r: ChangeEvent("promotion", str(r.id), "rejected"))

    def _decision_roles(self, conn, request: PromotionRequest,
                        version: ModelVersion) -> dict[str, Any]:
        """Who asked, who developed and who decides, with their roles: a reviewer checks that
        the decider is independent of both."""
        is_requester = self.actor.user == request.requested_by
        is_developer = self.actor.user == version.created_by
        return {
            "requested_by": request.requested_by,
            "requester_role": _role_of(conn, request.requested_by),
            "developer": version.created_by,
            "developer_role": _role_of(conn, version.created_by),
            "approver_role": _role_of(conn, self.actor.user),
            "approver_is_requester": is_requester,
            "approver_is_developer": is_developer,
            "approver_is_independent": not (is_requester or is_developer),
        }

    def list_promotion_requests(self, status: RequestStatus | None = None,
                                model_name: str | None = None) -> list[PromotionRequest]:
        def query(conn):
            model = repo.get_model(conn, model_name) if model_name else None
            return repo.list_requests(conn, status, model)

        return self._db.read(query)

    def rollback(self, model_name: str, to_version: int, reason: str) -> ModelVersion:
        """Put a version that was in production before back into production, in one step."""
        _require_text(reason, "reason")

        def unit(conn, audit, now):
            model = repo.get_model(conn, model_name)
            target = repo.get_version(conn, model, to_version)
            lifecycle.check_rollback(target.stage, repo.was_ever_in_production(conn, target.id))
            replaced = self._archive_current_production(
                conn, audit, now, model.id, f"rolled back to v{to_version}: {reason}")
            return self._change_stage(conn, audit, now, target, Stage.PRODUCTION, "rollback",
                                      reason, details={"replaced_version": replaced})

        return self._write(unit, lambda v: ChangeEvent("version", _version_key(v), "rollback"))

    def _archive_current_production(self, conn, audit, now, model_id: int,
                                    reason: str) -> int | None:
        """Archive the model's production version; returns its number (None when none was)."""
        current = repo.production_version(conn, model_id)
        if current is None:
            return None
        self._change_stage(conn, audit, now, current, Stage.ARCHIVED, "auto-archive", reason)
        return current.version_number

    def _change_stage(self, conn, audit, now, version: ModelVersion, target: Stage, kind: str,
                      reason: str, promotion_request_id: int | None = None,
                      details: Mapping[str, Any] | None = None) -> ModelVersion:
        if version.stage is target:
            raise LifecycleError(f"v{version.version_number} is already in {target.value}.")
        repo.set_version_stage(conn, version.id, target)
        repo.record_stage_change(conn, version_id=version.id, from_stage=version.stage,
                                 to_stage=target, kind=kind, actor=self.actor.user, now=now,
                                 reason=reason, promotion_request_id=promotion_request_id)
        repo.touch_model(conn, version.model_id, now)
        audit.append(f"stage.{kind}", "version", _version_key(version),
                     before={"stage": version.stage.value},
                     after={"stage": target.value, **(details or {})}, reason=reason)
        return repo.get_version_by_id(conn, version.id)


def _conflict(current: RegisteredModel) -> ConcurrentEditError:
    return ConcurrentEditError(
        f"'{current.name}' was changed by someone else at "
        f"{current.updated_at:%Y-%m-%d %H:%M:%S} UTC while you were editing it. Reload it, "
        "check their changes and apply yours again."
    )


def _role_of(conn: Connection, user_name: str) -> str:
    """The user's role at this moment ("unknown" for a name the users table lacks)."""
    user = repo.get_user(conn, user_name)
    return user.role.value if user is not None else "unknown"


def _require_text(value: str | None, what: str) -> None:
    if not value or not value.strip():
        raise InvalidInputError(f"A {what} is required.")


def _validated_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    clean = {}
    for key, value in metrics.items():
        try:
            number = float(value)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"Metric '{key}' must be a number, not {value!r}.") from exc
        if not math.isfinite(number):
            raise InvalidInputError(f"Metric '{key}' must be a finite number, not {value!r}.")
        clean[str(key)] = number
    return clean


def _framework_of(description: EstimatorDescription | None) -> str:
    if description is None:
        return ""
    if description.estimator_class.startswith("sklearn."):
        return f"scikit-learn {_installed_version('scikit-learn')}"
    return description.estimator_class.split(".", 1)[0]


def _installed_version(package: str) -> str:
    try:
        return package_metadata.version(package)
    except package_metadata.PackageNotFoundError:
        return "not installed"


@functools.cache
def _environment_of_this_process() -> tuple[tuple[str, str], ...]:
    # Reading package metadata costs ~3 ms a package; it cannot change while we run.
    environment = {"python": platform.python_version(), "platform": platform.platform()}
    environment.update({package: _installed_version(package) for package in ENVIRONMENT_PACKAGES})
    return tuple(environment.items())


def current_environment() -> dict[str, str]:
    """Python, platform and library versions of this process (recorded with a new version)."""
    return dict(_environment_of_this_process())


def _version_key(version: ModelVersion) -> str:
    return f"{version.model_name}/v{version.version_number}"


def _request_key(request: PromotionRequest) -> str:
    return f"{request.model_name}/v{request.version_number}/request-{request.id}"


def _version_record(version: ModelVersion) -> dict[str, Any]:
    return {
        "version": version.version_number,
        "stage": version.stage.value,
        "artifact_sha256": version.artifact.sha256 if version.artifact else None,
        "framework": version.framework,
        "estimator_class": version.estimator_class,
        "parameters": version.parameters,
        "metrics": version.metrics,
        "training_data": version.training_data,
        "features": [column["name"] for column in version.feature_schema],
        "environment": version.environment,
        "parent_version": version.parent_version,
    }
