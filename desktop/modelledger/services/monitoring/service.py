"""Monitors and their runs: configuration, storing a run's outcome, alerts and their handling.

Scheduling (which instance runs which slot) lives in `services.scheduler`; computing a run
lives in `services.run_worker`. This service owns every write: a run's results, its claim's
settlement, the monitor's failure count, the alerts it raises and the audit events all commit
in one transaction, so a run either stores everything or nothing.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from modelledger.core.audit_chain import canonical_json
from modelledger.core.domain import Actor, ArtifactFormat, ArtifactRef, Stage
from modelledger.core.errors import ConcurrentEditError, InvalidInputError, ModelLedgerError
from modelledger.core.incidents import (
    SETTING_KEY as INCIDENT_SETTING_KEY,
)
from modelledger.core.incidents import (
    Cause,
    IncidentMember,
    IncidentSettings,
    cause_of,
    check_resolve_after,
    incident_title,
    rose,
)
from modelledger.core.monitoring import (
    Alert,
    AlertNote,
    AlertStatus,
    Health,
    MetricValue,
    Monitor,
    MonitorOverview,
    MonitorRun,
    MonitorSpec,
    MonitorStatus,
    RunStatus,
    Schedule,
    SlotClaim,
    metric_label,
)
from modelledger.services.changes.events import ChangeBus, ChangeEvent
from modelledger.services.changes.unit_of_work import Clock, audited_write, change_setting
from modelledger.services.monitoring.run_worker import RunJob, RunOutcome, compute_importance
from modelledger.services.scheduling.schedules import validate_schedule
from modelledger.storage import monitoring_repo as mrepo
from modelledger.storage import repositories as repo
from modelledger.storage.artifacts import ArtifactStore
from modelledger.storage.database import Database
from modelledger.storage.tables import utc_now

DEFAULT_MAX_FAILURES = 3
DEFAULT_TIMEOUT_S = 15 * 60


@dataclass(frozen=True)
class StoredRun:
    """What storing a run produced: the run and the alerts it raised or repeated."""

    run_id: int | None  # None when the claim had been taken over and nothing was stored
    health: Health | None
    new_alerts: tuple[Alert, ...]
    paused: bool


def retry_delay(attempt: int, base_s: float) -> timedelta:
    """Exponential backoff after the ``attempt``-th failure, capped at one hour."""
    return timedelta(seconds=min(base_s * 2 ** max(attempt - 1, 0), 3600.0))


class MonitoringService:
    def __init__(self, database: Database, artifacts: ArtifactStore, actor: Actor,
                 bus: ChangeBus, *, clock: Clock = utc_now) -> None:
        self._db = database
        self._artifacts = artifacts
        self.actor = actor
        self._bus = bus
        self._clock = clock

    def write(self, unit, change=None):
        """Run ``unit(conn, audit, now)`` as one audited transaction (also the scheduler's)."""
        return audited_write(self._db, self.actor, self._bus, unit, change, clock=self._clock)

    # -- monitors -------------------------------------------------------------------------------

    def create_monitor(
        self,
        model_name: str,
        name: str,
        reference_file: Path,
        spec: MonitorSpec,
        schedule: Schedule,
        *,
        pinned_version: int | None = None,
        max_failures: int = DEFAULT_MAX_FAILURES,
        timeout_s: int = DEFAULT_TIMEOUT_S,
        reason: str = "",
        anchor: datetime | None = None,
    ) -> Monitor:
        """Read the reference data, profile it once, store it by hash, and add the monitor."""
        from modelledger.services.data.sources import read_table, require_columns

        name = name.strip()
        if not name:
            raise InvalidInputError("Give the monitor a name, e.g. 'weekly drift'.")
        validate_schedule(schedule)
        if max_failures < 1 or timeout_s < 1:
            raise InvalidInputError("Failures before pausing and the time limit must be >= 1.")
        reference = read_table(Path(reference_file), "Reference data")
        if reference.empty:
            raise InvalidInputError(f"The reference data {Path(reference_file).name} has no rows.")
        require_columns(reference, list(spec.reference_columns()), "reference data")
        profiles = self._profiles(spec, reference)
        measured, _why = self._measure(model_name, pinned_version, reference, spec.features)
        if measured is not None:
            spec = _with_importance(spec, *measured)
        ref = self._store_reference(reference, Path(reference_file).name)

        def unit(conn, audit, now):
            model = repo.get_model(conn, model_name)
            if mrepo.find_monitor(conn, model.id, name) is not None:
                raise InvalidInputError(
                    f"{model_name} already has a monitor named '{name}'; pick another name.")
            pinned_id = None
            if pinned_version is not None:
                pinned_id = repo.get_version(conn, model, pinned_version).id
            if not repo.artifact_known(conn, ref.sha256):
                repo.insert_artifact(conn, ref, self.actor.user, now)
            monitor_id = mrepo.insert_monitor(conn, {
                "model_id": model.id, "name": name, "pinned_version_id": pinned_id,
                "reference_sha256": ref.sha256, "reference_name": Path(reference_file).name,
                "reference_rows": len(reference), "profiles_json": canonical_json(profiles),
                "spec_json": canonical_json(spec.to_dict()), "schedule_kind": schedule.kind.value,
                "schedule_expr": schedule.expression, "schedule_anchor": anchor or now,
                "status": MonitorStatus.ACTIVE.value, "max_failures": max_failures,
                "timeout_s": timeout_s, "created_by": self.actor.user, "created_at": now,
                "updated_at": now,
            })
            monitor = mrepo.get_monitor(conn, monitor_id)
            audit.append("monitor.created", "monitor", _monitor_key(monitor),
                         after=mrepo.monitor_record(monitor), reason=reason)
            if measured is not None:
                audit.append("monitor.importance_measured", "monitor", _monitor_key(monitor),
                             after=_importance_record(monitor.spec),
                             reason="measured when the monitor was created")
            return monitor

        return self.write(unit, lambda m: ChangeEvent("monitor", _monitor_key(m), "created"))

    def measure_importance(self, monitor_id: int, reason: str = "") -> Monitor:
        """Measure again how much the monitored version uses each feature, and store it."""
        return self.store_importance(monitor_id, self.importance_for(monitor_id), reason)

    def importance_for(self, monitor_id: int):
        """(importance, version number) of the monitored version, measured now; reads only,
        and is slow (the model is loaded and, without importances of its own, permuted on the
        reference data), so the window runs it on its read lane, not in a write."""
        import pandas as pd

        monitor = self.get_monitor(monitor_id)
        reference = pd.read_parquet(self._artifacts.verified_path(monitor.reference_sha256))
        measured, why = self._measure(monitor.model_name, monitor.pinned_version, reference,
                                      monitor.spec.features)
        if measured is None:
            raise InvalidInputError(
                f"The importance of {monitor.model_name} / {monitor.name} cannot be measured: "
                f"{why}.")
        return measured

    def store_importance(self, monitor_id: int, measured, reason: str = "") -> Monitor:
        """Keep an importance from `importance_for` with the monitor (audited)."""
        def unit(conn, audit, now):
            before = mrepo.get_monitor(conn, monitor_id)
            spec = _with_importance(before.spec, *measured)
            mrepo.update_monitor_if_unchanged(conn, monitor_id, before.row_version, {
                "spec_json": canonical_json(spec.to_dict()), "updated_at": now})
            after = mrepo.get_monitor(conn, monitor_id)
            audit.append("monitor.importance_measured", "monitor", _monitor_key(after),
                         before=_importance_record(before.spec),
                         after=_importance_record(after.spec), reason=reason)
            return after

        return self.write(unit, lambda m: ChangeEvent("monitor", _monitor_key(m), "updated"))

    def _measure(self, model_name: str, pinned_version: int | None, reference: Any,
                 features: Sequence[str]):
        """((importance, version number), "") or (None, why not): the pinned version, else the
        production one, else the newest with a model file."""
        def query(conn):
            model = repo.get_model(conn, model_name)
            if pinned_version is not None:
                version = repo.get_version(conn, model, pinned_version)
            else:
                version = repo.production_version(conn, model.id) or next(
                    (v for v in repo.list_versions(conn, model) if v.artifact is not None), None)
            trusted = bool(version and version.artifact
                           and repo.artifact_trusted(conn, version.artifact.sha256))
            return version, trusted

        version, trusted = self._db.read(query)
        if version is None:
            return None, f"{model_name} has no version with a model file"
        if version.artifact is None:
            return None, (f"{model_name} v{version.version_number} was registered without a "
                          "model file")
        try:
            importance = compute_importance(
                str(self._artifacts.verified_path(version.artifact.sha256)),
                version.artifact.format.value, trusted, reference, tuple(features))
        except ModelLedgerError as exc:
            return None, str(exc).rstrip(".")
        return (importance, version.version_number), ""

    @staticmethod
    def _profiles(spec: MonitorSpec, reference: Any) -> dict[str, Any]:
        from modelledger.core.drift import profile_column

        return {column: profile_column(column, reference[column]).to_dict()
                for column in spec.reference_columns()}

    def _store_reference(self, reference: Any, original_name: str) -> ArtifactRef:
        """The reference frame as Parquet in the content-addressed store (read once per run)."""
        with tempfile.TemporaryDirectory(prefix="modelledger-reference-") as folder:
            path = Path(folder) / "reference.parquet"
            reference.to_parquet(path, index=False)
            sha256, size = self._artifacts.put(path)
        return ArtifactRef(sha256, size, ArtifactFormat.DATASET, f"{original_name} (reference)")

    def update_monitor(self, monitor_id: int, row_version: int, *, spec: MonitorSpec | None = None,
                       schedule: Schedule | None = None, max_failures: int | None = None,
                       timeout_s: int | None = None, reason: str) -> Monitor:
        """Change thresholds, columns, source, KPIs or schedule (the reference stays)."""
        _require_reason(reason)
        if schedule is not None:
            validate_schedule(schedule)

        def unit(conn, audit, now):
            before = mrepo.get_monitor(conn, monitor_id)
            values: dict[str, Any] = {"updated_at": now}
            if spec is not None:
                profiled = mrepo.monitor_profiles(conn, monitor_id)
                missing = [c for c in spec.reference_columns() if c not in profiled]
                if missing:
                    raise InvalidInputError(
                        f"The reference data was profiled without {', '.join(missing)}; create "
                        "a new monitor to watch other columns.")
                kept = spec if spec.importance else replace(
                    spec, importance=before.spec.importance,
                    importance_method=before.spec.importance_method,
                    importance_version=before.spec.importance_version)
                values["spec_json"] = canonical_json(kept.to_dict())
            if schedule is not None:
                values["schedule_kind"] = schedule.kind.value
                values["schedule_expr"] = schedule.expression
            if max_failures is not None:
                values["max_failures"] = max_failures
            if timeout_s is not None:
                values["timeout_s"] = timeout_s
            if not mrepo.update_monitor_if_unchanged(conn, monitor_id, row_version, values):
                raise ConcurrentEditError(
                    f"Someone else changed the monitor '{before.name}' while you were editing "
                    "it. Your changes were not saved: reload it and make them again.")
            after = mrepo.get_monitor(conn, monitor_id)
            audit.append("monitor.updated", "monitor", _monitor_key(after),
                         before=mrepo.monitor_record(before), after=mrepo.monitor_record(after),
                         reason=reason)
            return after

        return self.write(unit, lambda m: ChangeEvent("monitor", _monitor_key(m), "updated"))

    def pause_monitor(self, monitor_id: int, reason: str) -> Monitor:
        return self._set_status(monitor_id, MonitorStatus.PAUSED, reason)

    def resume_monitor(self, monitor_id: int, reason: str) -> Monitor:
        return self._set_status(monitor_id, MonitorStatus.ACTIVE, reason)

    def _set_status(self, monitor_id: int, status: MonitorStatus, reason: str) -> Monitor:
        _require_reason(reason)

        def unit(conn, audit, now):
            before = mrepo.get_monitor(conn, monitor_id)
            if before.status is status:
                return before
            mrepo.record_failure_count(conn, monitor_id, 0, now, status)
            after = mrepo.get_monitor(conn, monitor_id)
            action = "monitor.resumed" if status is MonitorStatus.ACTIVE else "monitor.paused"
            audit.append(action, "monitor", _monitor_key(after),
                         before={"status": before.status.value},
                         after={"status": status.value}, reason=reason)
            return after

        return self.write(unit, lambda m: ChangeEvent("monitor", _monitor_key(m), status.value))

    def get_monitor(self, monitor_id: int) -> Monitor:
        return self._db.read(lambda conn: mrepo.get_monitor(conn, monitor_id))

    def list_monitors(self, *, model_name: str | None = None,
                      status: MonitorStatus | None = None) -> list[Monitor]:
        return self._db.read(lambda conn: mrepo.list_monitors(
            conn, model_name=model_name, status=status))

    def overviews(self, *, model_name: str | None = None) -> list[MonitorOverview]:
        return self._db.read(lambda conn: mrepo.monitor_overviews(conn, model_name=model_name))

    # -- runs -----------------------------------------------------------------------------------

    def prepare_job(self, claim: SlotClaim) -> tuple[RunJob, int | None, int]:
        """The worker's job for a claim, the version it monitors, and the monitor's time limit."""
        def query(conn):
            monitor = mrepo.get_monitor(conn, claim.monitor_id)
            model = repo.get_model(conn, monitor.model_name)
            if monitor.pinned_version is not None:
                version = repo.get_version(conn, model, monitor.pinned_version)
            else:
                version = repo.production_version(conn, model.id)
            trusted = bool(version and version.artifact
                           and repo.artifact_trusted(conn, version.artifact.sha256))
            # A monitor that follows production also scores the newest staging challenger
            # with a model file beside it (a shadow run).
            shadow = None
            if monitor.pinned_version is None and version is not None:
                shadow = next((v for v in repo.list_versions(conn, model)
                               if v.stage is Stage.STAGING and v.artifact is not None), None)
            shadow_trusted = bool(shadow and repo.artifact_trusted(conn, shadow.artifact.sha256))
            return (monitor, mrepo.monitor_profiles(conn, monitor.id), version, trusted, shadow,
                    shadow_trusted)

        monitor, profiles, version, trusted, shadow, shadow_trusted = self._db.read(query)
        model_path = model_format = None
        if monitor.spec.scored_by_model and version is not None and version.artifact is not None:
            model_path = str(self._artifacts.verified_path(version.artifact.sha256))
            model_format = version.artifact.format.value
        job = RunJob(
            monitor_id=monitor.id, spec=monitor.spec.to_dict(), profiles=profiles,
            reference_path=str(self._artifacts.verified_path(monitor.reference_sha256)),
            slot=claim.slot, baseline=dict(version.metrics) if version else {},
            model_path=model_path, model_format=model_format, model_trusted=trusted,
            shadow_path=(str(self._artifacts.verified_path(shadow.artifact.sha256))
                         if shadow else None),
            shadow_format=shadow.artifact.format.value if shadow else None,
            shadow_trusted=shadow_trusted,
            shadow_version=shadow.version_number if shadow else None,
        )
        return job, (version.id if version else None), monitor.timeout_s

    def record_outcome(self, claim: SlotClaim, outcome: RunOutcome, *, version_id: int | None,
                       started_at: datetime, retry_base_s: float) -> StoredRun:
        """Store a run, settle its claim, count failures, raise alerts: all or nothing.

        The run finishes at the service clock's moment (the simulated one for the demo's
        replayed history)."""
        def unit(conn, audit, now):
            monitor = mrepo.get_monitor(conn, claim.monitor_id)
            failed = outcome.status is RunStatus.FAILED
            failures = monitor.consecutive_failures + 1 if failed else 0
            # Only a monitor that runs on its schedule pauses itself (a manual run of a paused
            # monitor leaves it as the user set it).
            pause = (failed and failures >= monitor.max_failures
                     and monitor.status is MonitorStatus.ACTIVE)
            # A slot is given up after as many attempts as the monitor tolerates failures, even
            # when later slots succeed in between (and so reset the failure count).
            give_up = failed and claim.attempt >= monitor.max_failures
            if outcome.status is RunStatus.CANCELLED:
                state, retry_at = "cancelled", None
            elif not failed:
                state, retry_at = "done", None
            elif pause or give_up or claim.kind == "manual":
                state, retry_at = "failed", None
            else:
                state, retry_at = "retry", now + retry_delay(claim.attempt, retry_base_s)
            if not mrepo.settle_claim(conn, claim, state, retry_at):
                # Another instance took this slot over (we were presumed dead): its result
                # counts, ours is dropped so the slot is stored once.
                return StoredRun(None, None, (), False)
            if outcome.status is RunStatus.CANCELLED:
                audit.append("monitor.run_cancelled", "monitor", _monitor_key(monitor),
                             after={"slot": claim.slot.isoformat(), "attempt": claim.attempt},
                             reason="cancelled by the user")
                return StoredRun(None, None, (), False)
            evaluation = outcome.evaluation
            health = evaluation.health if evaluation else Health.FAILED
            metrics = evaluation.metrics if evaluation else ()
            thresholds = {_metric_key(m): {"warn": m.warn, "critical": m.critical}
                          for m in metrics if m.warn is not None}
            summary = evaluation.summary if evaluation else outcome.error
            run_id = mrepo.insert_run(conn, {
                "monitor_id": monitor.id, "claim_id": claim.id, "attempt": claim.attempt,
                "version_id": version_id, "slot": claim.slot, "started_at": started_at,
                "finished_at": now, "status": outcome.status.value, "health": health.value,
                "window_start": outcome.window_start, "window_end": outcome.window_end,
                "current_rows": evaluation.current_rows if evaluation else None,
                "reference_rows": evaluation.reference_rows if evaluation else None,
                "data_description": outcome.data_description, "summary": summary,
                "thresholds_json": canonical_json(thresholds), "error": outcome.error,
                "log": outcome.log, "instance": claim.owner,
            }, metrics, evaluation.distributions if evaluation else {})
            mrepo.record_failure_count(conn, monitor.id, failures, now,
                                       MonitorStatus.PAUSED if pause else None)
            action = "monitor.run_failed" if failed else "monitor.run_succeeded"
            monitored = repo.get_version_by_id(conn, version_id) if version_id else None
            audit.append(action, "monitor", _monitor_key(monitor), after={
                "run_id": run_id, "slot": claim.slot.isoformat(), "kind": claim.kind,
                "attempt": claim.attempt, "health": health.value, "summary": summary,
                "version": monitored.version_number if monitored else None,
                "data": outcome.data_description,
                "window": [_iso(outcome.window_start), _iso(outcome.window_end)],
                "rows": evaluation.current_rows if evaluation else None,
                "reference_rows": evaluation.reference_rows if evaluation else None,
                "thresholds": thresholds, "error": outcome.error,
                "next_retry": _iso(retry_at), "instance": claim.owner,
                "results": {_metric_key(m): {"value": m.value, "status": m.status}
                            for m in metrics},
            })
            raised = self._update_incidents(conn, audit, now, monitor, run_id, evaluation)
            self._expire_silences(conn, audit, now, monitor.id)
            run_failures = []
            if give_up and not pause and claim.kind != "manual":
                run_failures.append(MetricValue(
                    "run.gave_up", claim.slot.isoformat(), float(claim.attempt),
                    Health.CRITICAL.value, note=f"failed {claim.attempt} times; not retried any "
                                                f"more. Last error: {outcome.error}"))
            if pause:
                audit.append("monitor.paused", "monitor", _monitor_key(monitor),
                             before={"status": MonitorStatus.ACTIVE.value},
                             after={"status": MonitorStatus.PAUSED.value},
                             reason=f"paused itself after {failures} consecutive failed runs")
                run_failures.append(MetricValue(
                    "monitor.paused", "", float(failures), Health.CRITICAL.value,
                    note=f"paused after {failures} failed runs. Last error: {outcome.error}. "
                         "Fix the cause, then resume the monitor."))
            if run_failures:
                raised += self._record_cause(
                    conn, audit, now, monitor, run_id, Cause.RUN_FAILURE, run_failures,
                    "paused" if pause else "failed")
            return StoredRun(run_id, health, tuple(raised), pause)

        return self.write(unit, lambda stored: ChangeEvent(
            "monitor", str(claim.monitor_id), "run") if stored.run_id else None)

    def _update_incidents(self, conn, audit, now, monitor: Monitor, run_id: int,
                          evaluation) -> list[Alert]:
        """Open or update one incident per cause that fired; count a healthy run for each
        open incident whose cause this run found healthy, and resolve those healthy long
        enough. A failed run (no evaluation) says nothing about drift or data, so it only
        keeps run-failure incidents open."""
        raised: list[Alert] = []
        firing: dict[Cause, list[MetricValue]] = {}
        if evaluation is not None:
            for metric in evaluation.metrics:
                if metric.status in (Health.WARN, Health.CRITICAL):
                    firing.setdefault(cause_of(metric.metric), []).append(metric)
        judged = {(m.metric, m.subject): m for m in evaluation.metrics} if evaluation else {}
        for cause, metrics in firing.items():
            raised += self._record_cause(conn, audit, now, monitor, run_id, cause, metrics,
                                         "threshold", judged)
        if evaluation is None or evaluation.health is Health.INSUFFICIENT:
            return raised
        # A cause is healthy in a run that judged it and found it within thresholds; a run
        # without labels says nothing about performance, so it neither counts nor resets.
        healthy_causes = {cause_of(m.metric) for m in evaluation.metrics
                          if m.status == Health.OK} | {Cause.RUN_FAILURE}
        resolve_after = self._resolve_after(conn, monitor)
        for incident in mrepo.unclosed_alerts_of_monitor(conn, monitor.id):
            cause = Cause(incident.cause)
            if cause in firing or cause not in healthy_causes:
                continue
            for member in mrepo.list_members(conn, incident.id):
                if (member.metric, member.subject) in judged:
                    mrepo.upsert_member(conn, incident.id,
                                        judged[(member.metric, member.subject)], now, member)
            healthy = incident.healthy_runs + 1
            mrepo.record_alert_repeat(conn, incident.id, {"healthy_runs": healthy})
            if healthy < resolve_after:
                continue
            resolution = (f"resolved itself: run #{run_id} was the {healthy}"
                          f"{_ordinal(healthy)} healthy run in a row")
            mrepo.record_alert_repeat(conn, incident.id, {
                "status": AlertStatus.CLOSED.value, "closed_at": now, "resolution": resolution,
                "snoozed_until": None, "row_version": incident.row_version + 1})
            mrepo.insert_note(conn, incident.id, self.actor.author, now, "resolved", resolution)
            after = mrepo.get_alert(conn, incident.id)
            audit.append("alert.resolved", "alert", str(incident.id),
                         before=mrepo.alert_record(incident), after=mrepo.alert_record(after),
                         reason=resolution)
        return raised

    def _resolve_after(self, conn, monitor: Monitor) -> int:
        if monitor.resolve_after_runs is not None:
            return monitor.resolve_after_runs
        return IncidentSettings.from_dict(
            repo.get_setting(conn, INCIDENT_SETTING_KEY, None)).resolve_after_runs

    def _record_cause(self, conn, audit, now, monitor: Monitor, run_id: int, cause: Cause,
                      metrics: Sequence[MetricValue], kind: str,
                      judged: Mapping[tuple[str, str], MetricValue] | None = None
                      ) -> list[Alert]:
        """Open the monitor's incident for ``cause``, or update the open one with this run's
        members. Returns it when someone is to be told: it is new, or its severity rose above
        what was told before, and it is neither snoozed nor muted."""
        key = f"{monitor.id}:{cause.value}"
        severity = max((Health(m.status) for m in metrics), key=_SEVERITY_ORDER.index)
        existing = mrepo.find_unclosed_alert(conn, key)
        if existing is None:
            earlier = mrepo.latest_closed_alert(conn, key)
            title = incident_title(monitor.model_name, monitor.name, cause,
                                   [(m.metric, m.subject) for m in metrics])
            detail = _incident_detail(metrics)
            if earlier is not None:
                detail += f"\nThe cause came back: incident #{earlier.id} was closed before."
            incident = mrepo.insert_alert(conn, {
                "monitor_id": monitor.id, "model_id": monitor.model_id, "run_id": run_id,
                "severity": severity.value, "kind": kind, "cause": cause.value,
                "dedupe_key": key, "title": title, "detail": detail,
                "status": AlertStatus.OPEN.value, "first_seen_at": now, "last_seen_at": now,
                "notified_severity": severity.value,
            })
            for metric in metrics:
                mrepo.upsert_member(conn, incident.id, metric, now, None)
            mrepo.insert_note(conn, incident.id, self.actor.author, now, "raised", title)
            audit.append("alert.raised", "alert", str(incident.id), after={
                **mrepo.alert_record(incident), "detail": detail,
                "members": [_metric_key(m) for m in metrics]})
            return [incident]
        members = {(m.metric, m.subject): m for m in mrepo.list_members(conn, existing.id)}
        fired = {(m.metric, m.subject) for m in metrics}
        for metric in metrics:
            mrepo.upsert_member(conn, existing.id, metric, now,
                                members.get((metric.metric, metric.subject)))
        for key_, member in members.items():  # members back within thresholds: their value
            if key_ not in fired and judged and key_ in judged:
                mrepo.upsert_member(conn, existing.id, judged[key_], now, member)
        title = incident_title(monitor.model_name, monitor.name, cause,
                               [(m.metric, m.subject) for m in metrics])
        notified = mrepo.notified_severity(conn, existing.id)
        escalated = rose(notified, severity.value)
        values: dict[str, Any] = {"occurrences": existing.occurrences + 1,
                                  "last_seen_at": now, "run_id": run_id, "title": title,
                                  "severity": severity.value, "healthy_runs": 0,
                                  "detail": _incident_detail(metrics)}
        silenced = existing.silenced(now)
        if escalated and not silenced:
            values["notified_severity"] = severity.value
        mrepo.record_alert_repeat(conn, existing.id, values)
        joined = sorted(fired - set(members))
        if joined or severity is not existing.severity:
            # Not every run: the history keeps what changed, the members keep the values.
            mrepo.insert_note(conn, existing.id, self.actor.author, now, "repeated",
                              f"Run #{run_id}: {severity.value}"
                              + (f"; now also {', '.join(_key_text(k) for k in joined)}"
                                 if joined else ""))
        if not rose(existing.severity.value, severity.value) and not escalated:
            return []
        incident = mrepo.get_alert(conn, existing.id)
        if rose(existing.severity.value, severity.value):
            audit.append("alert.escalated", "alert", str(incident.id),
                         before={"severity": existing.severity.value},
                         after=mrepo.alert_record(incident))
        return [incident] if escalated and not silenced else []

    def list_runs(self, *, monitor_id: int | None = None, model_name: str | None = None,
                  limit: int = 200) -> list[MonitorRun]:
        return self._db.read(lambda conn: mrepo.list_runs(
            conn, monitor_id=monitor_id, model_name=model_name, limit=limit))

    def get_run(self, run_id: int) -> tuple[MonitorRun, list[MetricValue]]:
        return self._db.read(lambda conn: (mrepo.get_run(conn, run_id),
                                           mrepo.list_run_metrics(conn, run_id)))

    def metric_series(self, monitor_id: int, metric: str,
                      subject: str = "") -> list[tuple[datetime, float | None, str, int]]:
        return self._db.read(lambda conn: mrepo.metric_series(conn, monitor_id, metric, subject))

    def claim_states(self, monitor_id: int) -> list[tuple[datetime, str, int, str]]:
        return self._db.read(lambda conn: mrepo.claim_states(conn, monitor_id))

    # -- alert email ----------------------------------------------------------------------------

    def email_settings(self):
        from modelledger.services.monitoring.alert_email import SETTING_KEY, EmailSettings

        return EmailSettings.from_dict(self._db.read(
            lambda conn: repo.get_setting(conn, SETTING_KEY, None)))

    def set_email_settings(self, settings, reason: str, password: str | None = None) -> None:
        """Save the SMTP settings (audited); a password goes to this machine's keyring."""
        from modelledger.services.data.sources import store_source_password
        from modelledger.services.monitoring.alert_email import SETTING_KEY

        _require_reason(reason)
        if password:
            store_source_password(settings.credential, password)

        def unit(conn, audit, now):
            change_setting(conn, audit, self.actor, now, SETTING_KEY, None, settings.to_dict(),
                           reason)

        self.write(unit, lambda _: ChangeEvent("settings", SETTING_KEY, "changed"))

    def send_test_email(self, settings, password: str | None = None) -> None:
        """Send a test message with these settings (the keyring's password when none given)."""
        from modelledger.services.data.sources import source_password
        from modelledger.services.monitoring import alert_email

        if settings.username and not password:
            password = source_password(settings.credential)
        alert_email.send(settings, alert_email.compose_test(settings, self._db.display_name),
                         password)

    def send_digest_if_due(self, instance: str) -> bool:
        """Once a day across instances (the first to claim the day sends): e-mail the open
        incidents that are neither snoozed nor muted, when the workspace asks for a digest.
        True when this call sent it."""
        from modelledger.services.data.sources import source_password
        from modelledger.services.monitoring import alert_email

        now = self._clock()
        incident_settings = self.incident_settings()
        settings = self.email_settings()
        if not (incident_settings.daily_digest and settings.enabled) \
                or now.hour < incident_settings.digest_hour_utc:
            return False
        day = now.date().isoformat()

        def claim(conn, audit, now):
            if not mrepo.claim_digest_day(conn, day, instance, now):
                return None
            return [a for a in mrepo.list_alerts(conn) if not a.silenced(now)]

        incidents = self.write(claim)
        if incidents is None:
            return False
        error = None
        try:
            password = source_password(settings.credential) if settings.username else None
            alert_email.send(settings, alert_email.compose_digest(settings, incidents, day),
                             password)
        except InvalidInputError as exc:
            error = str(exc)

        def record(conn, audit, now):
            audit.append("alert.digest_emailed" if error is None else "alert.digest_failed",
                         "alert_digest", day,
                         after={"recipients": list(settings.recipients),
                                "incidents": [a.id for a in incidents]},
                         reason=error or f"daily digest of {len(incidents)} open incidents")

        self.write(record)
        return error is None

    def email_alerts(self, alerts: Sequence[Alert], *, settings=None) -> str | None:
        """Email the incidents the settings ask for (never snoozed or muted ones); notes the
        outcome on each. Returns the error
        when sending failed, None when it was sent or nothing was to be sent."""
        from modelledger.services.data.sources import source_password
        from modelledger.services.monitoring import alert_email

        settings = settings or self.email_settings()
        now = self._clock()
        wanted = [alert for alert in alerts if settings.wants(alert) and not alert.silenced(now)]
        if not wanted:
            return None
        error = None
        try:
            password = source_password(settings.credential) if settings.username else None
            alert_email.send(settings, alert_email.compose(settings, wanted), password)
        except InvalidInputError as exc:
            error = str(exc)
        note = (f"emailed to {', '.join(settings.recipients)}" if error is None
                else f"email not sent: {error}")

        def unit(conn, audit, now):
            for alert in wanted:
                mrepo.insert_note(conn, alert.id, self.actor.author, now, "email", note)
                audit.append("alert.emailed" if error is None else "alert.email_failed",
                             "alert", str(alert.id), after={"recipients": settings.recipients},
                             reason=note)

        self.write(unit)
        return error

    # -- alerts ---------------------------------------------------------------------------------

    def list_alerts(self, *, include_closed: bool = False,
                    model_name: str | None = None) -> list[Alert]:
        return self._db.read(lambda conn: mrepo.list_alerts(
            conn, include_closed=include_closed, model_name=model_name))

    def alert_details(self, alert_id: int) -> tuple[Alert, list[AlertNote]]:
        return self._db.read(lambda conn: (mrepo.get_alert(conn, alert_id),
                                           mrepo.list_notes(conn, alert_id)))

    def incident_members(self, alert_id: int) -> list[IncidentMember]:
        """The features and metrics of an incident, worst first."""
        return self._db.read(lambda conn: mrepo.list_members(conn, alert_id))

    def incident_settings(self) -> IncidentSettings:
        return IncidentSettings.from_dict(self._db.read(
            lambda conn: repo.get_setting(conn, INCIDENT_SETTING_KEY, None)))

    def set_incident_settings(self, settings: IncidentSettings, reason: str) -> None:
        _require_reason(reason)

        def unit(conn, audit, now):
            change_setting(conn, audit, self.actor, now, INCIDENT_SETTING_KEY, None,
                           settings.to_dict(), reason)

        self.write(unit, lambda _: ChangeEvent("settings", INCIDENT_SETTING_KEY, "changed"))

    def set_resolve_after(self, monitor_id: int, runs: int | None, reason: str) -> Monitor:
        """How many healthy runs resolve this monitor's incidents; None: the workspace's."""
        _require_reason(reason)
        if runs is not None:
            check_resolve_after(runs)

        def unit(conn, audit, now):
            before = mrepo.get_monitor(conn, monitor_id)
            mrepo.update_monitor_if_unchanged(conn, monitor_id, before.row_version, {
                "resolve_after_runs": runs, "updated_at": now})
            after = mrepo.get_monitor(conn, monitor_id)
            audit.append("monitor.updated", "monitor", _monitor_key(after),
                         before=mrepo.monitor_record(before), after=mrepo.monitor_record(after),
                         reason=reason)
            return after

        return self.write(unit, lambda m: ChangeEvent("monitor", _monitor_key(m), "updated"))

    def newest_alert_id(self) -> int:
        return self._db.read(mrepo.newest_alert_id)

    def alerts_after(self, alert_id: int) -> list[Alert]:
        """Alerts not closed that were raised after ``alert_id`` (for desktop notifications)."""
        return self._db.read(lambda conn: mrepo.list_alerts(conn, after_id=alert_id))

    def count_unclosed_alerts(self) -> int:
        return self._db.read(mrepo.count_unclosed_alerts)

    def acknowledge_alert(self, alert_id: int, row_version: int, comment: str = "") -> Alert:
        return self._handle(alert_id, row_version, "acknowledged", comment,
                            {"status": AlertStatus.ACKNOWLEDGED.value},
                            allowed=(AlertStatus.OPEN,))

    def assign_alert(self, alert_id: int, row_version: int, assignee: str,
                     comment: str = "") -> Alert:
        assignee = assignee.strip()
        if not assignee:
            raise InvalidInputError("Choose who the incident is assigned to.")
        return self._handle(alert_id, row_version, "assigned", comment or f"to {assignee}",
                            {"assignee": assignee},
                            allowed=(AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED))

    def comment_alert(self, alert_id: int, row_version: int, comment: str) -> Alert:
        _require_reason(comment, "comment")
        return self._handle(alert_id, row_version, "comment", comment, {},
                            allowed=tuple(AlertStatus))

    def close_alert(self, alert_id: int, row_version: int, comment: str) -> Alert:
        _require_reason(comment, "closing note")
        return self._handle(alert_id, row_version, "closed", comment,
                            {"status": AlertStatus.CLOSED.value, "closed_at": None},
                            allowed=(AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED))

    def snooze_alert(self, alert_id: int, row_version: int, until: datetime,
                     comment: str = "") -> Alert:
        """Tell nobody about the incident until ``until`` (it keeps being updated)."""
        if until.tzinfo is None:
            raise InvalidInputError("Give the snooze's end with its time zone (e.g. UTC).")
        if until <= self._clock():
            raise InvalidInputError("A snooze must end in the future.")
        return self._handle(alert_id, row_version, "snoozed",
                            comment or f"until {until:%Y-%m-%d %H:%M} UTC",
                            {"snoozed_until": until},
                            allowed=(AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED))

    def unsnooze_alert(self, alert_id: int, row_version: int, comment: str = "") -> Alert:
        return self._handle(alert_id, row_version, "unsnoozed", comment or "snooze ended early",
                            {"snoozed_until": None}, allowed=tuple(AlertStatus),
                            require=lambda a: a.snoozed_until is not None, what="snoozed")

    def mute_alert(self, alert_id: int, row_version: int, reason: str,
                   until: datetime | None = None) -> Alert:
        """Tell nobody about the incident, for a reason, until unmuted (or ``until``)."""
        _require_reason(reason)
        if until is not None and until <= self._clock():
            raise InvalidInputError("A mute must end in the future (or give no end).")
        return self._handle(alert_id, row_version, "muted", reason,
                            {"muted_reason": reason.strip(), "muted_until": until},
                            allowed=(AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED))

    def unmute_alert(self, alert_id: int, row_version: int, comment: str = "") -> Alert:
        return self._handle(alert_id, row_version, "unmuted", comment or "unmuted",
                            {"muted_reason": "", "muted_until": None}, allowed=tuple(AlertStatus),
                            require=lambda a: a.muted, what="muted")

    def expire_silences(self) -> list[Alert]:
        """End every snooze and timed mute that is over (the scheduler's beat calls this);
        each end is audited. Returns the incidents that woke up."""
        def unit(conn, audit, now):
            return self._expire_silences(conn, audit, now, None)

        # A read first: most beats find nothing and need no write transaction.
        if not self._db.read(lambda conn: mrepo.alerts_whose_silence_ended(conn, self._clock())):
            return []
        return self.write(unit, lambda woke: ChangeEvent("alert", "*", "woke") if woke else None)

    def _expire_silences(self, conn, audit, now, monitor_id: int | None) -> list[Alert]:
        woke = []
        for incident in mrepo.alerts_whose_silence_ended(conn, now):
            if monitor_id is not None and incident.monitor_id != monitor_id:
                continue
            values: dict[str, Any] = {"row_version": incident.row_version + 1}
            ended = []
            if incident.snoozed_until is not None and incident.snoozed_until <= now:
                values["snoozed_until"] = None
                ended.append(("snooze expired", "alert.snooze_expired",
                              f"snoozed until {incident.snoozed_until:%Y-%m-%d %H:%M} UTC"))
            if incident.muted and incident.muted_until is not None \
                    and incident.muted_until <= now:
                values.update(muted_reason="", muted_until=None)
                ended.append(("mute expired", "alert.mute_expired",
                              f"muted until {incident.muted_until:%Y-%m-%d %H:%M} UTC "
                              f"({incident.muted_reason})"))
            mrepo.record_alert_repeat(conn, incident.id, values)
            after = mrepo.get_alert(conn, incident.id)
            for kind, action, text in ended:
                mrepo.insert_note(conn, incident.id, self.actor.author, now, kind, text)
                audit.append(action, "alert", str(incident.id),
                             before=mrepo.alert_record(incident),
                             after=mrepo.alert_record(after), reason=text)
            woke.append(after)
        return woke

    def _handle(self, alert_id: int, row_version: int, kind: str, comment: str,
                values: dict[str, Any], *, allowed: Sequence[AlertStatus],
                require=None, what: str = "") -> Alert:
        def unit(conn, audit, now):
            before = mrepo.get_alert(conn, alert_id)
            if before.status not in allowed:
                raise InvalidInputError(
                    f"Incident #{alert_id} is {before.status.value}; it cannot be {kind} now.")
            if require is not None and not require(before):
                raise InvalidInputError(f"Incident #{alert_id} is not {what}.")
            changes = dict(values)
            if "closed_at" in changes:
                changes["closed_at"] = now
            if not mrepo.update_alert_if_unchanged(conn, alert_id, row_version, changes):
                raise ConcurrentEditError(
                    f"Someone else changed incident #{alert_id} while you were "
                    "looking at it. Nothing was saved: look at it again and retry.")
            mrepo.insert_note(conn, alert_id, self.actor.user, now, kind, comment)
            after = mrepo.get_alert(conn, alert_id)
            audit.append(f"alert.{kind}", "alert", str(alert_id),
                         before=mrepo.alert_record(before), after=mrepo.alert_record(after),
                         reason=comment)
            return after

        return self.write(unit, lambda a: ChangeEvent("alert", str(a.id), kind))


def _with_importance(spec: MonitorSpec, importance, version_number: int) -> MonitorSpec:
    return replace(spec, importance=dict(importance.values),
                   importance_method=importance.method.value, importance_version=version_number)


def _importance_record(spec: MonitorSpec) -> dict[str, Any]:
    return {"importance": dict(spec.importance), "method": spec.importance_method,
            "version": spec.importance_version, "top_k": spec.top_k}


def _monitor_key(monitor: Monitor) -> str:
    return f"{monitor.model_name}/{monitor.name}"


def _metric_key(metric: MetricValue) -> str:
    """How a run's audit event names a metric, e.g. ``drift.psi@income``."""
    return f"{metric.metric}@{metric.subject}" if metric.subject else metric.metric


def _threshold_text(metric: MetricValue) -> str:
    parts = [f"Value {metric.value:.4g}" if metric.value is not None else "No value"]
    if metric.warn is not None:
        parts.append(f"warn at {metric.warn:.4g}, critical at {metric.critical:.4g}")
    if metric.note:
        parts.append(metric.note)
    return "; ".join(parts)


_SEVERITY_ORDER = [Health.WARN, Health.CRITICAL]


def _key_text(key: tuple[str, str]) -> str:
    metric, subject = key
    return metric_label(metric, subject)


def _incident_detail(metrics: Sequence[MetricValue]) -> str:
    """What the latest run found, one line per member that fired."""
    return "\n".join(f"{metric_label(m.metric, m.subject)}: {_threshold_text(m)}"
                      for m in metrics)


def _ordinal(number: int) -> str:
    if 10 <= number % 100 <= 20:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _require_reason(text: str | None, what: str = "reason") -> None:
    if not text or not text.strip():
        raise InvalidInputError(f"Give a {what}: it is kept in the audit log.")
