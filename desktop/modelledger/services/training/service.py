"""Training a model's next version from its recipe, judging it, and asking for promotion.

A run reads what it needs in one short read, trains in a worker process (minutes, no
transaction open), then writes everything it found in one audited transaction: the run, the
challenger version (in Development, its parent the champion it challenges), the comparison and
the gate's verdict, and, when the gate passed, the challenger's move to Staging and a promotion
request carrying the evidence. A run that fails or is cancelled writes only the failed run.
A person still approves the request, with a signed decision: the gate never promotes.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from modelledger.core.domain import Actor, ArtifactFormat, ArtifactRef, Stage
from modelledger.core.errors import InvalidInputError, NotFoundError, UntrustedModelError
from modelledger.core.identity import NotSignedInError, PermissionDeniedError
from modelledger.core.monitoring import RunStatus, Schedule
from modelledger.core.promotion_gate import GateRule, TrainingDataFacts, judge
from modelledger.core.recipes import Recipe, RecipeKind, RetrainPolicy, retrain_refusal
from modelledger.core.training import (
    Reproduction,
    StoredRecipe,
    TrainingRun,
    Trigger,
    judge_reproduction,
)
from modelledger.services.changes.events import ChangeBus, ChangeEvent
from modelledger.services.changes.unit_of_work import Clock, audited_write
from modelledger.services.registry.service import RegistryService
from modelledger.services.scheduling.schedules import due_slots, validate_schedule
from modelledger.services.training.worker import TrainingJob, TrainingOutcome, train_in_worker
from modelledger.storage import monitoring_repo as mrepo
from modelledger.storage import repositories as repo
from modelledger.storage import training_repo
from modelledger.storage.artifacts import ArtifactStore
from modelledger.storage.audit_log import AuditAppender
from modelledger.storage.database import Database
from modelledger.storage.tables import utc_now

ProgressCallback = Callable[[int, str], None]
RECIPE_ENTITY = "training_recipe"
RUN_ENTITY = "training_run"


@dataclass(frozen=True)
class RetrainClaim:
    """A scheduled or incident-started retrain that this instance won and must run."""

    id: int
    model_name: str
    slot: datetime
    trigger: Trigger
    cause: str


@dataclass(frozen=True)
class _Plan:
    """What a run needs from the workspace, read before the worker starts."""

    stored: StoredRecipe
    champion_number: int | None
    champion_id: int | None
    job_champion: dict[str, Any]  # TrainingJob's champion_* fields
    code_path: str
    expected_features: tuple[str, ...]
    monitor_spec: dict[str, Any] | None  # the monitor whose recent labelled rows are compared


class TrainingService:
    def __init__(self, database: Database, artifacts: ArtifactStore, actor: Actor,
                 bus: ChangeBus, registry: RegistryService, *, clock: Clock = utc_now) -> None:
        self._db = database
        self._artifacts = artifacts
        self.actor = actor
        self._bus = bus
        self._registry = registry
        self._clock = clock

    # -- recipes ----------------------------------------------------------------------------------

    def save_recipe(self, model_name: str, recipe: Recipe, *, gate: GateRule | None = None,
                    reason: str, code_file: Path | None = None,
                    schedule: Schedule | None = None,
                    policy: RetrainPolicy | None = None) -> StoredRecipe:
        """Store a new version of the model's recipe. A code recipe gives its ``code_file``,
        which is stored by its SHA-256 and runs only once someone trusts that hash.
        ``schedule`` retrains on that schedule; ``policy`` says whether and how often a
        critical incident may start a retrain."""
        policy = policy or RetrainPolicy()
        if schedule is not None:
            validate_schedule(schedule)
        if not reason.strip():
            raise InvalidInputError("Say why the recipe changes (the reason is audited).")
        code_ref = None
        if code_file is not None:
            code_ref = self._store_code(code_file)
            recipe = recipe.with_code(code_ref.sha256, code_file.name)
        elif recipe.kind is RecipeKind.CODE and not self._artifacts.path_for(
                recipe.code_sha256).exists():
            raise InvalidInputError("Give the recipe's Python file: the stored code it names "
                                    "is not in this workspace.")

        def unit(conn, audit: AuditAppender, now: datetime) -> StoredRecipe:
            model = repo.get_model(conn, model_name)
            if code_ref is not None and not repo.artifact_known(conn, code_ref.sha256):
                repo.insert_artifact(conn, code_ref, self.actor.user, now)
                audit.append("artifact.stored", "artifact", code_ref.sha256,
                             after={"size_bytes": code_ref.size_bytes, "format": "code",
                                    "original_filename": code_ref.original_filename})
            number = training_repo.insert_recipe(conn, model.id, recipe, gate, schedule, policy,
                                                 self.actor.user, now, reason)
            audit.append("recipe.saved", RECIPE_ENTITY, f"{model.name}/r{number}",
                         after={"model": model.name, "recipe_version": number,
                                "recipe": recipe.to_dict(),
                                "gate": gate.to_dict() if gate else None,
                                "schedule": schedule.describe() if schedule else None,
                                "on_incident": policy.to_dict()}, reason=reason)
            stored = training_repo.current_recipe(conn, model.id)
            assert stored is not None  # written just above, in this transaction
            return stored

        return audited_write(self._db, self.actor, self._bus, unit,
                             lambda r: ChangeEvent("training", r.model_name, "recipe"),
                             clock=self._clock)

    def trust_recipe_code(self, model_name: str, reason: str) -> None:
        """Vouch for the current code recipe's file (its SHA-256), so that it may run."""
        stored = self.current_recipe(model_name)
        if stored is None or stored.recipe.kind is not RecipeKind.CODE:
            raise InvalidInputError(f"{model_name}'s recipe is not a code recipe; there is no "
                                    "code to trust.")
        if not reason.strip():
            raise InvalidInputError("Say why this code can be trusted (the reason is audited).")
        sha256 = stored.recipe.code_sha256

        def unit(conn, audit: AuditAppender, now: datetime) -> None:
            if repo.artifact_trusted(conn, sha256):
                return
            repo.insert_artifact_trust(conn, sha256, self.actor.user, now, reason)
            audit.append("artifact.trusted", "artifact", sha256,
                         after={"trusted_by": self.actor.user, "model": model_name,
                                "file": stored.recipe.code_filename}, reason=reason)

        audited_write(self._db, self.actor, self._bus, unit,
                      lambda _: ChangeEvent("training", model_name, "trusted"), clock=self._clock)

    def current_recipe(self, model_name: str) -> StoredRecipe | None:
        def query(conn):
            return training_repo.current_recipe(conn, repo.get_model(conn, model_name).id)

        return self._db.read(query)

    def recipe_history(self, model_name: str) -> list[StoredRecipe]:
        return self._db.read(lambda conn: training_repo.recipe_history(
            conn, repo.get_model(conn, model_name).id))

    def list_runs(self, model_name: str, limit: int = 100) -> list[TrainingRun]:
        return self._db.read(lambda conn: training_repo.list_runs(
            conn, repo.get_model(conn, model_name).id, limit))

    def get_run(self, run_id: int) -> TrainingRun:
        run = self._db.read(lambda conn: training_repo.get_run(conn, run_id))
        if run is None:
            raise NotFoundError(f"There is no training run #{run_id}.")
        return run

    def run_of_request(self, request_id: int) -> TrainingRun | None:
        """The training run whose passed gate opened this promotion request, if any."""
        return self._db.read(lambda conn: training_repo.run_of_request(conn, request_id))

    # -- training ---------------------------------------------------------------------------------

    def train(self, model_name: str, *, trigger: Trigger = Trigger.MANUAL, cause: str = "",
              progress: ProgressCallback | None = None,
              cancelled: threading.Event | None = None) -> TrainingRun:
        """Train the model's next version from its current recipe and record the outcome.
        Returns the recorded run, failed or not; raises only when nothing could start."""
        return self._train(model_name, trigger, cause, progress, cancelled)

    def _train(self, model_name: str, trigger: Trigger, cause: str,
               progress: ProgressCallback | None, cancelled: threading.Event | None, *,
               claim_id: int | None = None) -> TrainingRun:
        started_at = self._clock()
        plan = self._db.read(lambda conn: self._plan(conn, model_name))
        recipe = plan.stored.recipe
        report = progress or (lambda percent, text: None)
        with tempfile.TemporaryDirectory(prefix="modelledger-training-") as scratch:
            job = TrainingJob(recipe.to_dict(), scratch, started_at, plan.code_path,
                              slice_column=recipe.slice_column, monitor_spec=plan.monitor_spec,
                              **plan.job_champion)
            outcome = train_in_worker(job, report, cancelled=cancelled or threading.Event(),
                                      time_limit_s=recipe.time_limit_s,
                                      memory_limit_mb=recipe.memory_limit_mb)
            report(95, "Recording the outcome")
            return self._record(plan, outcome, trigger, cause or f"{trigger.value} retrain",
                                started_at, claim_id)

    def _plan(self, conn, model_name: str) -> _Plan:
        model = repo.get_model(conn, model_name)
        stored = training_repo.current_recipe(conn, model.id)
        if stored is None:
            raise InvalidInputError(
                f"{model_name} has no training recipe yet. Add one on the model's Training tab "
                f"or with `modelledger recipe set {model_name} recipe.toml`.")
        AuditAppender(conn, self.actor, self._clock()).check_allowed(
            "training.succeeded", RUN_ENTITY, f"{model_name}/next", {"model": model_name})
        code_path = ""
        if stored.recipe.kind is RecipeKind.CODE:
            sha256 = stored.recipe.code_sha256
            if not repo.artifact_trusted(conn, sha256):
                raise UntrustedModelError(
                    f"{model_name}'s code recipe {stored.recipe.code_filename} (SHA-256 "
                    f"{sha256[:12]}…) has not been trusted. Read it, then trust it on the "
                    f"Training tab or with `modelledger recipe trust {model_name} --reason …`; "
                    "it runs only after that.")
            code_path = str(self._artifacts.verified_path(sha256))
        champion = repo.production_version(conn, model.id)
        job_champion: dict[str, Any] = {}
        expected: tuple[str, ...] = stored.recipe.features
        if champion is not None:
            expected = tuple(column["name"] for column in champion.feature_schema) or expected
            if champion.artifact is not None:
                job_champion = {
                    "champion_path": str(self._artifacts.verified_path(champion.artifact.sha256)),
                    "champion_format": champion.artifact.format.value,
                    "champion_trusted": repo.artifact_trusted(conn, champion.artifact.sha256)}
        monitor_spec = None
        if stored.recipe.evaluate_on_monitor:
            monitor = mrepo.find_monitor(conn, model.id, stored.recipe.evaluate_on_monitor)
            if monitor is None:
                raise InvalidInputError(
                    f"{model_name} has no monitor named {stored.recipe.evaluate_on_monitor!r} "
                    "to evaluate on; fix the recipe's evaluate_on_monitor.")
            monitor_spec = monitor.spec.to_dict()
        return _Plan(stored, champion.version_number if champion else None,
                     champion.id if champion else None, job_champion, code_path, expected,
                     monitor_spec)

    def _record(self, plan: _Plan, outcome: TrainingOutcome, trigger: Trigger, cause: str,
                started_at: datetime, claim_id: int | None) -> TrainingRun:
        stored = plan.stored
        prepared = None
        if outcome.status is RunStatus.SUCCEEDED:
            prepared = self._registry.prepare_version(
                stored.model_name, model_file=Path(outcome.model_path),
                metrics=outcome.metrics, parent_version=plan.champion_number,
                notes=f"trained by recipe r{stored.recipe_version} ({cause})",
                parameters={"training_rows": outcome.training_rows,
                            "holdout_rows": outcome.holdout_rows},
                training_fingerprint=(
                    {**outcome.fingerprint, "source": outcome.data_reference,
                     "recipe_sha256": _recipe_hash(stored.recipe)}, outcome.schema))
        verdict = None
        if prepared is not None and stored.gate is not None and outcome.comparison is not None:
            from modelledger.core.challenger import Comparison

            verdict = judge(stored.gate, Comparison.from_dict(outcome.comparison),
                            TrainingDataFacts(outcome.training_rows, outcome.missing_share),
                            stored.recipe.features, plan.expected_features)

        def unit(conn, audit: AuditAppender, now: datetime) -> TrainingRun:
            version = None
            request = None
            if prepared is not None:
                version = self._registry.write_version(conn, audit, now, prepared)
            values = {
                "model_id": repo.get_model(conn, stored.model_name).id,
                "recipe_id": stored.id, "trigger": trigger.value, "cause": cause,
                "status": outcome.status.value, "started_by": self.actor.user,
                "started_at": started_at, "finished_at": now, "error": outcome.error,
                "log": outcome.log, "version_id": version.id if version else None,
                "champion_version_id": plan.champion_id,
                "comparison_json": outcome.comparison,
                "monitor_comparison_json": outcome.monitor_comparison,
                "gate_json": verdict.to_dict() if verdict else None,
                "data_reference_json": outcome.data_reference,
            }
            run_id = training_repo.insert_run(conn, values)
            if claim_id is not None:
                training_repo.finish_claim(conn, claim_id, run_id)
            summary = {"model": stored.model_name, "recipe_version": stored.recipe_version,
                       "trigger": trigger.value, "cause": cause,
                       "version": version.version_number if version else None,
                       "champion": plan.champion_number,
                       "metrics": outcome.metrics, "data": outcome.data_reference}
            if outcome.status is not RunStatus.SUCCEEDED:
                summary["error"] = outcome.error
            audit.append(f"training.{outcome.status.value}", RUN_ENTITY,
                         f"{stored.model_name}/{run_id}",
                         after=summary, reason=cause)
            if verdict is not None and version is not None:
                audit.append("gate.passed" if verdict.passed else "gate.failed", "version",
                             f"{stored.model_name}/v{version.version_number}",
                             after=verdict.to_dict(), reason=cause)
                if verdict.passed:
                    self._registry.write_stage_move(
                        conn, audit, now, stored.model_name, version.version_number,
                        Stage.STAGING, "passed the promotion gate")
                    request = self._registry.write_promotion_request(
                        conn, audit, now, stored.model_name, version.version_number,
                        f"passed the promotion gate against v{plan.champion_number}",
                        evidence={"training_run": run_id, "gate": verdict.to_dict(),
                                  "comparison": outcome.comparison})
                    training_repo.set_run_request(conn, run_id, request.id)
            run = training_repo.get_run(conn, run_id)
            assert run is not None  # written just above, in this transaction
            return run

        return audited_write(self._db, self.actor, self._bus, unit,
                             lambda r: ChangeEvent("training", r.model_name, "run"),
                             clock=self._clock)

    # -- triggers: schedules and incidents --------------------------------------------------------

    def claim_due_retrains(self, owner: str) -> list[RetrainClaim]:
        """Claim the newest due slot of every scheduled recipe that no instance claimed yet
        (older due slots are caught up by this one run, as monitors do)."""
        now = self._clock()

        def scheduled_with_latest_slot(conn):
            return [(stored, training_repo.latest_claimed_slot(
                        conn, repo.get_model(conn, stored.model_name).id,
                        Trigger.SCHEDULE.value))
                    for stored in training_repo.scheduled_recipes(conn)]

        scheduled = self._db.read(scheduled_with_latest_slot)
        if not scheduled or not self._may_trigger():
            return []
        due = []
        for stored, latest in scheduled:
            slots, _ = due_slots(stored.schedule, stored.created_at, latest, now, limit=1)
            if slots:
                due.append((stored, slots[-1]))
        claims = []
        for stored, slot in due:
            claim = self._claim(stored.model_name, slot, Trigger.SCHEDULE,
                                f"scheduled retrain ({stored.schedule.describe()}), slot "
                                f"{slot:%Y-%m-%d %H:%M} UTC", owner)
            if claim is not None:
                claims.append(claim)
        return claims

    def claim_incident_retrain(self, model_name: str, cause: str, severity: str, title: str,
                               owner: str) -> RetrainClaim | None:
        """Claim a retrain for a critical incident when the model's policy allows one now;
        None when it does not (the reason is logged by the caller's audit of the incident)."""
        now = self._clock()

        def policy_refusal(conn) -> str | None:
            model = repo.get_model(conn, model_name)
            stored = training_repo.current_recipe(conn, model.id)
            if stored is None:
                return "the model has no training recipe"
            since = now - timedelta(days=stored.policy.period_days)
            earlier = training_repo.claimed_slots(conn, model.id, Trigger.ALERT.value, since)
            return retrain_refusal(stored.policy, cause, severity, earlier, now)

        if self._db.read(policy_refusal) is not None or not self._may_trigger():
            return None
        return self._claim(model_name, now, Trigger.ALERT, f"{severity} {cause} incident: {title}",
                           owner)

    def run_claim(self, claim: RetrainClaim, *,
                  cancelled: threading.Event | None = None) -> TrainingRun:
        return self._train(claim.model_name, claim.trigger, claim.cause, None, cancelled,
                           claim_id=claim.id)

    def _may_trigger(self) -> bool:
        """Whether the person (or host) this instance acts as may start retrains: an instance
        whose role may not leaves them to another, instead of failing at every beat."""
        def check(conn) -> bool:
            try:
                AuditAppender(conn, self.actor, self._clock()).check_allowed(
                    "training.triggered", RUN_ENTITY, "any/claim")
            except (PermissionDeniedError, NotSignedInError):
                return False
            return True

        return self._db.read(check)

    def _claim(self, model_name: str, slot: datetime, trigger: Trigger, cause: str,
               owner: str) -> RetrainClaim | None:
        def unit(conn, audit: AuditAppender, now: datetime) -> RetrainClaim | None:
            model = repo.get_model(conn, model_name)
            claim_id = training_repo.claim(conn, model.id, slot, trigger.value, cause, owner,
                                           now)
            if claim_id is None:
                return None
            audit.append("training.triggered", RUN_ENTITY, f"{model_name}/claim{claim_id}",
                         after={"model": model_name, "trigger": trigger.value,
                                "slot": slot.isoformat(), "instance": owner}, reason=cause)
            return RetrainClaim(claim_id, model_name, slot, trigger, cause)

        return audited_write(self._db, self.actor, self._bus, unit, clock=self._clock)

    # -- reproduce --------------------------------------------------------------------------------

    def reproduce(self, model_name: str, version_number: int, *,
                  progress: ProgressCallback | None = None,
                  cancelled: threading.Event | None = None) -> Reproduction:
        """Re-run the recipe that trained this version on its recorded data and say whether
        the same parameters, metrics (within METRIC_TOLERANCE) and holdout predictions come
        out. Stops at once when a data file's hash differs from the recorded one; records the
        verdict in the audit log. Registers nothing."""
        report = progress or (lambda percent, text: None)

        def plan(conn):
            model = repo.get_model(conn, model_name)
            version = repo.get_version(conn, model, version_number)
            run = training_repo.run_of_version(conn, version.id)
            if run is None or version.artifact is None:
                raise InvalidInputError(
                    f"{model_name} v{version_number} was not trained here from a recipe, so "
                    "there is nothing to re-run. Only versions from a training run can be "
                    "reproduced.")
            AuditAppender(conn, self.actor, self._clock()).check_allowed(
                "version.reproduction_verified", "version", f"{model_name}/v{version_number}")
            stored = training_repo.recipe_of_run(conn, run.id)
            code_path = ""
            if stored.recipe.kind is RecipeKind.CODE:
                code_path = str(self._artifacts.verified_path(stored.recipe.code_sha256))
            champion = {"champion_path": str(self._artifacts.verified_path(
                            version.artifact.sha256)),
                        "champion_format": version.artifact.format.value,
                        "champion_trusted": repo.artifact_trusted(conn,
                                                                  version.artifact.sha256)}
            return version, run, stored, code_path, champion

        version, run, stored, code_path, champion = self._db.read(plan)
        reference = run.data_reference
        changed = _data_file_change(reference)
        if changed:
            result = Reproduction(False, (changed,))
        else:
            report(2, f"Re-running recipe r{stored.recipe_version} with seed "
                      f"{stored.recipe.seed}")
            with tempfile.TemporaryDirectory(prefix="modelledger-reproduce-") as scratch:
                job = TrainingJob(stored.recipe.to_dict(), scratch, run.started_at, code_path,
                                  reproduce=True, **champion)
                outcome = train_in_worker(job, report,
                                          cancelled=cancelled or threading.Event(),
                                          time_limit_s=stored.recipe.time_limit_s,
                                          memory_limit_mb=stored.recipe.memory_limit_mb)
            if outcome.status is not RunStatus.SUCCEEDED:
                result = Reproduction(False, (f"the re-run {outcome.status.value}: "
                                              f"{outcome.error}",))
            else:
                recorded_parameters = {key: value for key, value in version.parameters.items()
                                       if key not in ("training_rows", "holdout_rows")}
                result = judge_reproduction(
                    {"fingerprint": version.training_data.get("content_sha256"),
                     "parameters": recorded_parameters, "metrics": version.metrics},
                    {"fingerprint": outcome.fingerprint.get("content_sha256"),
                     "parameters": outcome.parameters, "metrics": outcome.metrics,
                     "agreement": outcome.agreement})

        def unit(conn, audit: AuditAppender, now: datetime) -> Reproduction:
            audit.append("version.reproduction_verified" if result.verified
                         else "version.reproduction_failed", "version",
                         f"{model_name}/v{version_number}",
                         after={"training_run": run.id, "recipe_version": stored.recipe_version,
                                "differences": list(result.differences)},
                         reason=result.summary)
            return result

        return audited_write(self._db, self.actor, self._bus, unit,
                             lambda _: ChangeEvent("version", f"{model_name}/v{version_number}",
                                                   "reproduced"), clock=self._clock)

    def _store_code(self, code_file: Path) -> ArtifactRef:
        if not code_file.is_file():
            raise InvalidInputError(f"The recipe file {code_file} does not exist.")
        if code_file.suffix != ".py":
            raise InvalidInputError(f"{code_file.name} is not a Python file (.py).")
        text = code_file.read_text(encoding="utf-8", errors="replace")
        if "def train(" not in text:
            raise InvalidInputError(f"{code_file.name} has no function train(frame, params).")
        sha256, size = self._artifacts.put(code_file)
        return ArtifactRef(sha256, size, ArtifactFormat.CODE, code_file.name)


def _data_file_change(reference: dict[str, Any]) -> str:
    """Why a file the run read is not the one it read then ("" when it is, or for a query,
    whose rows are compared by their fingerprint after the re-run)."""
    if reference.get("kind") != "file":
        return ""
    from modelledger.storage.artifacts import file_sha256

    path = Path(reference["path"])
    if not path.is_file():
        return f"the training data {path} is gone"
    now = file_sha256(path)
    if now != reference["sha256"]:
        return (f"the training data {path.name} changed since the run (SHA-256 "
                f"{reference['sha256'][:12]}… then, {now[:12]}… now); nothing was re-run")
    return ""


def _recipe_hash(recipe: Recipe) -> str:
    import hashlib

    from modelledger.core.audit_chain import canonical_json

    return hashlib.sha256(canonical_json(recipe.to_dict()).encode("utf-8")).hexdigest()
