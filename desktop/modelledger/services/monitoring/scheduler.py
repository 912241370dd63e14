"""The monitoring scheduler: fires monitors' slots, once across every instance sharing a database.

Schedules are rows of our own `monitors` table. Each running instance (the desktop app or
`modelledger scheduler`) builds an in-memory APScheduler 3.x `BackgroundScheduler` from them;
APScheduler's own job stores are not used (DESIGN.md: they must not be shared and they store
pickles). When a monitor's trigger fires, the instance works out which slots are due since the
last one anybody claimed, marks all but the newest as missed (coalesced catch-up) and inserts a
claim row for the newest; the unique (monitor, slot) constraint lets exactly one instance win.
The winner computes the run in a worker process while a heartbeat keeps its claim fresh; a claim
whose heartbeat stops (the instance was killed or the laptop slept) is taken over by another
instance, and a failed run is retried with backoff until the monitor pauses itself.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from modelledger.core.errors import InvalidInputError, ModelLedgerError
from modelledger.core.monitoring import (
    Monitor,
    MonitorStatus,
    RunStatus,
    SlotClaim,
)
from modelledger.services.monitoring.run_worker import RunOutcome, WorkerProcess
from modelledger.services.monitoring.service import StoredRun
from modelledger.services.scheduling.schedules import build_trigger, due_slots
from modelledger.services.training.service import RetrainClaim
from modelledger.storage import monitoring_repo as mrepo

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class SchedulerTimings:
    heartbeat_s: float = 5.0  # how often a running claim is refreshed
    stale_after_s: float = 30.0  # a claim not refreshed for this long is taken over
    retry_base_s: float = 60.0  # first retry after this; doubles per attempt, at most 1 h

    @classmethod
    def from_environment(cls) -> SchedulerTimings:
        """Defaults, overridden by MODELLEDGER_HEARTBEAT_S etc. (used by tests and servers)."""
        values = {}
        for name in ("heartbeat_s", "stale_after_s", "retry_base_s"):
            raw = os.environ.get(f"MODELLEDGER_{name.upper()}")
            if raw:
                values[name] = float(raw)
        return cls(**values)


@dataclass
class RunningJob:
    """A run in progress in this instance, as shown in the UI."""

    claim: SlotClaim
    monitor_name: str
    model_name: str
    started_at: datetime
    percent: int = 0
    message: str = "Starting"
    cancelled: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class _Computed:
    outcome: RunOutcome
    version_id: int | None  # the version the run monitored


@dataclass(frozen=True)
class SchedulerEvent:
    """What listeners (the window, the CLI) hear about; sent from scheduler threads."""

    kind: str  # "started", "progress", "finished"
    job: RunningJob
    stored: StoredRun | None = None
    outcome: RunOutcome | None = None


# A signed checkpoint at least this often, and when the scheduler stops.
CHECKPOINT_EVERY_WRITES = 500


class MonitorScheduler:
    """Runs monitors for one workspace in this process; start() and shutdown() bracket it."""

    def __init__(self, workspace, *, timings: SchedulerTimings | None = None,
                 max_parallel: int = 2, clock: Callable[[], datetime] | None = None,
                 listener: Callable[[SchedulerEvent], None] | None = None) -> None:
        self._workspace = workspace
        # What the scheduler writes is vouched for by its signed checkpoints; a run someone
        # asks for now is their decision, signed as theirs.
        self._service = workspace.scheduled_monitoring
        self._requests = workspace.monitoring
        self._db = workspace.database
        self._unvouched_writes = 0
        self.timings = timings or SchedulerTimings.from_environment()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._clock = clock or workspace.clock  # the workspace's unless a test sets one
        self._listener = listener
        self._scheduler: Any = None
        self._runs = ThreadPoolExecutor(max_parallel, thread_name_prefix="monitor-run")
        self._retrains = ThreadPoolExecutor(1, thread_name_prefix="retrain")
        self._workers = [WorkerProcess() for _ in range(max_parallel)]
        self._free_workers = list(self._workers)
        self._lock = threading.Lock()
        self._running: dict[int, RunningJob] = {}
        self._job_versions: dict[int, int] = {}
        self._stopping = threading.Event()

    # -- life cycle -----------------------------------------------------------------------------

    def start(self) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler

        # misfire_grace_time=None: a job that fires late (laptop asleep, busy machine) still
        # runs; coalesce: once. It must be set in job_defaults to take effect.
        self._scheduler = BackgroundScheduler(
            timezone=UTC, job_defaults={"coalesce": True, "misfire_grace_time": None,
                                        "max_instances": 1})
        self._scheduler.start()
        self._scheduler.add_job(self._maintain, "interval", seconds=self.timings.heartbeat_s,
                                id="maintenance", next_run_time=datetime.now(UTC))
        log.info("scheduler %s started", self.owner)

    def shutdown(self) -> None:
        """Stop firing, cancel runs in progress and hand their slots back for another try."""
        self._stopping.set()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        with self._lock:
            for job in self._running.values():
                job.cancelled.set()
        self._runs.shutdown(wait=True)
        self._retrains.shutdown(wait=True)
        for worker in self._workers:
            worker.close()
        self._checkpoint("the scheduler stopped")
        log.info("scheduler %s stopped", self.owner)

    def running_jobs(self) -> list[RunningJob]:
        with self._lock:
            return list(self._running.values())

    def cancel(self, claim_id: int) -> bool:
        with self._lock:
            job = self._running.get(claim_id)
        if job is None:
            return False
        job.cancelled.set()
        return True

    # -- firing ---------------------------------------------------------------------------------

    def _maintain(self) -> None:
        """Keep APScheduler's jobs in step with the monitors table; take over stale claims."""
        if self._stopping.is_set():
            return
        try:
            if self._unvouched_writes >= CHECKPOINT_EVERY_WRITES:
                self._checkpoint(f"{self._unvouched_writes} scheduler writes since the last "
                                 "checkpoint")
            self._end_silences_and_send_digest()
            monitors = self.sync_jobs()
            for claim in self.take_over_claims():
                self._submit(claim)
            # A safety net beside APScheduler's timers: anything due that nobody claimed
            # (a wake-up from sleep, a timer that fired a moment early) is fired now.
            for monitor_id in self._due_monitors(monitors):
                self.fire(monitor_id)
            for claim in self._workspace.training.claim_due_retrains(self.owner):
                self._retrain(claim)
        except ModelLedgerError as exc:
            log.warning("scheduler maintenance skipped: %s", exc)

    def _retrain(self, claim: RetrainClaim) -> Future:
        """Run a retrain this instance claimed, beside the monitor runs; stopping the
        scheduler cancels it (recorded as a cancelled run)."""
        return self._retrains.submit(self._workspace.training.run_claim, claim,
                                     cancelled=self._stopping)

    def sync_jobs(self) -> list[Monitor]:
        monitors = self._service.list_monitors(status=MonitorStatus.ACTIVE)
        wanted = {m.id: m for m in monitors}
        for monitor_id in list(self._job_versions):
            if monitor_id not in wanted:
                self._scheduler.remove_job(f"monitor-{monitor_id}")
                del self._job_versions[monitor_id]
        for monitor in monitors:
            if self._job_versions.get(monitor.id) == monitor.row_version:
                continue
            # Each firing catches up whatever is due; the catch-up at start is _maintain's.
            self._scheduler.add_job(self.fire, build_trigger(monitor.schedule,
                                                             monitor.schedule_anchor),
                                    args=(monitor.id,), id=f"monitor-{monitor.id}",
                                    replace_existing=True)
            self._job_versions[monitor.id] = monitor.row_version
        return monitors

    def _due_monitors(self, monitors: list[Monitor]) -> list[int]:
        now = self._clock()
        latest = self._db.read(lambda conn: {
            m.id: mrepo.latest_scheduled_slot(conn, m.id) for m in monitors})
        return [m.id for m in monitors
                if due_slots(m.schedule, m.schedule_anchor, latest[m.id], now, limit=1)[0]]

    def fire(self, monitor_id: int) -> Future | None:
        """Claim the newest due slot of a monitor and run it; None when nothing is ours."""
        if self._stopping.is_set():
            return None
        try:
            if not self._can_run_here(self._service.get_monitor(monitor_id)):
                return None
            claim = self.claim_due_slot(monitor_id)
        except ModelLedgerError as exc:
            log.warning("could not claim a slot of monitor %s: %s", monitor_id, exc)
            return None
        return self._submit(claim) if claim else None

    def _can_run_here(self, monitor: Monitor) -> bool:
        """False when this machine's keyring lacks the monitor's database password: another
        instance (the one where it was entered) runs it, instead of this one failing it."""
        credential = monitor.spec.source.credential
        if not credential:
            return True
        from modelledger.services.data.sources import source_password

        try:
            source_password(credential)
        except ModelLedgerError as exc:
            log.info("leaving %s/%s to other instances: %s", monitor.model_name, monitor.name,
                     exc)
            return False
        return True

    def claim_due_slot(self, monitor_id: int) -> SlotClaim | None:
        now = self._clock()

        def unit(conn, audit, _now):
            monitor = mrepo.get_monitor(conn, monitor_id)
            if monitor.status is not MonitorStatus.ACTIVE:
                return None
            slots, skipped = due_slots(monitor.schedule, monitor.schedule_anchor,
                                       mrepo.latest_scheduled_slot(conn, monitor_id), now)
            if not slots:
                return None
            newest = slots[-1]
            claim = mrepo.claim_slot(conn, monitor_id, newest, "scheduled", self.owner, now)
            if claim is None:
                return None
            missed = mrepo.insert_missed_slots(conn, monitor_id, slots[:-1], self.owner, now)
            if missed or skipped:
                audit.append(
                    "monitor.slots_missed", "monitor", f"{monitor.model_name}/{monitor.name}",
                    after={"missed": missed + skipped, "first": slots[0].isoformat(),
                           "last": slots[-2].isoformat() if len(slots) > 1 else None,
                           "caught_up_with": newest.isoformat()},
                    reason="no instance ran these slots (the monitor was paused, or no "
                           "instance was open, or the computer was asleep); caught up with one "
                           "run for the newest slot")
            return claim

        return self._service.write(unit)

    def run_now(self, monitor_id: int) -> Future:
        """A manual run outside the schedule (its slot is the current time)."""
        now = self._clock()

        def unit(conn, audit, _now):
            monitor = mrepo.get_monitor(conn, monitor_id)
            claim = mrepo.claim_slot(conn, monitor_id, now, "manual", self.owner, now)
            if claim is None:
                raise InvalidInputError(
                    f"A run of {monitor.name} was started at this very moment; try again.")
            audit.append("monitor.run_requested", "monitor",
                         f"{monitor.model_name}/{monitor.name}", after={"slot": now.isoformat()})
            return claim

        return self._submit(self._requests.write(unit))

    def take_over_claims(self) -> list[SlotClaim]:
        """Claims abandoned by a dead instance, and retries that are due, now ours."""
        now = self._clock()
        stale_before = now - timedelta(seconds=self.timings.stale_after_s)
        # Read first: most heartbeats find nothing, and need no write transaction.
        if not self._db.read(lambda conn: mrepo.claims_to_take_over(
                conn, stale_before=stale_before, now=now)):
            return []

        with self._lock:
            running = set(self._running)

        def unit(conn, audit, _now):
            taken = []
            for row in mrepo.claims_to_take_over(conn, stale_before=stale_before, now=now):
                if row.id in running:
                    continue  # ours, only slow to beat (e.g. after a sleep): it goes on
                claim = mrepo.take_over(conn, row, self.owner, now)
                if claim is None:
                    continue
                taken.append(claim)
                if row.state == "running":
                    monitor = mrepo.get_monitor(conn, row.monitor_id)
                    audit.append(
                        "monitor.run_taken_over", "monitor",
                        f"{monitor.model_name}/{monitor.name}",
                        after={"slot": row.slot.isoformat(), "attempt": claim.attempt,
                               "from": row.owner, "to": self.owner},
                        reason=f"no heartbeat from {row.owner} since "
                               f"{row.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC")
            return taken

        return self._service.write(unit)

    # -- running --------------------------------------------------------------------------------

    def _submit(self, claim: SlotClaim) -> Future | None:
        monitor = self._service.get_monitor(claim.monitor_id)
        job = RunningJob(claim, monitor.name, monitor.model_name, self._clock())
        with self._lock:
            if not self._stopping.is_set():
                self._running[claim.id] = job
                return self._runs.submit(self._execute, job, monitor)
        self._hand_back(claim)  # claimed while shutting down: let the next instance run it
        return None

    def _execute(self, job: RunningJob, monitor: Monitor) -> StoredRun | None:
        claim = job.claim
        beating = threading.Event()
        heart = threading.Thread(target=self._beat, args=(job, beating), daemon=True,
                                 name=f"heartbeat-{claim.id}")
        heart.start()
        self._emit(SchedulerEvent("started", job))
        version_id = None
        try:
            computed = self._compute(job)
            outcome, version_id = computed.outcome, computed.version_id
        except Exception as exc:  # a bug must end as a recorded failure, not a silent retry
            log.exception("run of %s slot %s failed unexpectedly", monitor.name, claim.slot)
            outcome = RunOutcome(RunStatus.FAILED, None,
                                 f"Unexpected error: {type(exc).__name__}: {exc}", "")
        finally:
            beating.set()
            heart.join()
        try:
            if outcome.status is RunStatus.CANCELLED and self._stopping.is_set():
                stored = self._hand_back(claim)
            else:
                stored = self._service.record_outcome(
                    claim, outcome, version_id=version_id, started_at=job.started_at,
                    retry_base_s=self.timings.retry_base_s)
            self._count_unvouched_write()
        except Exception as exc:
            # The database refused the result (locked, read-only, disk full): the claim stays
            # running, stops beating, and is retried by whichever instance takes it over.
            log.error("run of %s slot %s could not be stored: %s", monitor.name, claim.slot, exc)
            self._forget(job)
            self._emit(SchedulerEvent("finished", job, None, RunOutcome(
                RunStatus.FAILED, None, f"The result could not be stored: {exc}", "")))
            return None
        self._forget(job)
        self._emit(SchedulerEvent("finished", job, stored, outcome))
        if stored.new_alerts:
            self._email(stored)
            self._retrain_for(stored.new_alerts)
        return stored

    def _retrain_for(self, incidents) -> None:
        """A critical drift or performance incident may start a retrain, as the model's recipe
        allows (its cool-down and maximum per period hold whichever instance asks). The run
        that raised the incident was claimed once, so only this instance asks."""
        for incident in incidents:
            try:
                claim = self._workspace.training.claim_incident_retrain(
                    incident.model_name, incident.cause, incident.severity.value,
                    incident.title, self.owner)
            except ModelLedgerError as exc:
                log.warning("retrain for incident #%s not started: %s", incident.id, exc)
                continue
            if claim is not None:
                self._retrain(claim)

    def _compute(self, job: RunningJob) -> _Computed:
        if job.cancelled.is_set():
            return _Computed(RunOutcome(RunStatus.CANCELLED, None, "Cancelled.", "cancelled"),
                             None)
        try:
            run_job, version_id, timeout_s = self._service.prepare_job(job.claim)
        except ModelLedgerError as exc:
            return _Computed(RunOutcome(RunStatus.FAILED, None, str(exc), f"failed: {exc}"),
                             None)

        def progress(percent: int, message: str) -> None:
            job.percent, job.message = percent, message
            self._emit(SchedulerEvent("progress", job))

        worker = self._take_worker()
        try:
            return _Computed(worker.run(run_job, progress, cancelled=job.cancelled,
                                        timeout_s=timeout_s), version_id)
        finally:
            self._give_back(worker)

    def _checkpoint(self, reason: str) -> None:
        """Vouch for what this scheduler wrote with a signed checkpoint of the chain head
        (signed identity only); a failure is logged: the next one covers the same events."""
        if self._unvouched_writes == 0:
            return
        identity = self._workspace.identity
        try:
            if identity.signed_from_seq() is not None:
                identity.checkpoint(self._service.actor, reason)
            self._unvouched_writes = 0
        except ModelLedgerError as exc:
            log.warning("scheduler checkpoint not written: %s", exc)

    def _count_unvouched_write(self) -> None:
        with self._lock:
            self._unvouched_writes += 1

    def _forget(self, job: RunningJob) -> None:
        with self._lock:
            if self._running.get(job.claim.id) is job:
                del self._running[job.claim.id]

    def _email(self, stored: StoredRun) -> None:
        try:
            error = self._service.email_alerts(stored.new_alerts)
        except Exception:  # email is best effort: the run and its alerts are stored
            log.exception("alert email failed")
            return
        if error:
            log.warning("alert email failed: %s", error)

    def _end_silences_and_send_digest(self) -> None:
        """Incidents' housekeeping at each beat; a failure here must not stop the firing."""
        try:
            if self._service.expire_silences():
                self._count_unvouched_write()
        except ModelLedgerError as exc:
            log.warning("ended snoozes and mutes not recorded: %s", exc)
        try:
            if self._service.send_digest_if_due(self.owner):
                self._count_unvouched_write()
                log.info("daily incident digest sent")
        except ModelLedgerError as exc:
            log.warning("daily incident digest not sent: %s", exc)

    def _hand_back(self, claim: SlotClaim) -> StoredRun:
        """Shutting down mid-run: let the next instance retry the slot at once."""
        def unit(conn, audit, now):
            if mrepo.settle_claim(conn, claim, "retry", now):
                monitor = mrepo.get_monitor(conn, claim.monitor_id)
                audit.append(
                    "monitor.run_handed_back", "monitor", f"{monitor.model_name}/{monitor.name}",
                    after={"slot": claim.slot.isoformat(), "kind": claim.kind,
                           "attempt": claim.attempt, "instance": claim.owner},
                    reason="this instance shut down before the run finished; the next "
                           "instance runs the slot again")
            return StoredRun(None, None, (), False)

        return self._service.write(unit)

    def _beat(self, job: RunningJob, done: threading.Event) -> None:
        claim = job.claim
        while not done.wait(self.timings.heartbeat_s):
            try:
                ours = self._db.write(lambda conn: mrepo.beat(
                    conn, claim.id, claim.owner, claim.attempt, self._clock()))
            except ModelLedgerError as exc:
                log.warning("heartbeat of claim %s failed: %s", claim.id, exc)
                continue
            if not ours:
                log.warning("claim %s was taken over by another instance; stopping", claim.id)
                job.cancelled.set()
                return

    def _take_worker(self) -> WorkerProcess:
        with self._lock:
            return self._free_workers.pop()

    def _give_back(self, worker: WorkerProcess) -> None:
        with self._lock:
            self._free_workers.append(worker)

    def _emit(self, event: SchedulerEvent) -> None:
        if self._listener is None:
            return
        try:
            self._listener(event)
        except Exception:
            log.exception("scheduler listener failed")
