"""The demo's monitoring history: 90 days of real runs over generated, logged production data.

Every demo model has a monitor, and the history leaves a handful of incidents a team would
believe, not a storm of alerts:

- the vendor credit score drifts: from day 40 on, applicants' incomes fall and the sector mix
  moves towards hospitality, so one drift incident grows from a warning to critical over the
  following weeks and the approval rate declines. The approval rate is at the edge of its
  target from the first days (the vendor's cut-off suits its national book, not these
  applicants): the owner acknowledges the first KPI incident the morning after it opens (it
  resolves itself when approvals recover for a few days), and snoozes the one open near the
  end while the vendor recalibrates;
- the wine lab's new intake instrument stops reporting magnesium for part of the samples in
  the last weeks: one data-quality incident, assigned to the model's developer;
- a batch of faded scans reaches the digit reader for two weeks: a drift incident that
  resolves itself after three healthy weekly runs;
- the screening and diabetes models are scored every week by the version in production at the
  time and stay healthy.

Each run goes through the same claim, computation and storage as a scheduled run (computed in
this process, to keep the demo build quick), at its moment of the demo's timeline, between the
registry actions of the days around it.
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from modelledger.core.incidents import Cause
from modelledger.core.kpi import KpiDefinition
from modelledger.core.monitoring import (
    DataSource,
    MonitorSpec,
    Schedule,
    ScheduleKind,
    SourceKind,
    Task,
    Threshold,
)
from modelledger.services.demo.timeline import Timeline
from modelledger.services.monitoring.run_worker import compute_run
from modelledger.services.monitoring.scheduler import MonitorScheduler

HISTORY_DAYS = 90
DRIFT_STARTS_DAY = 40
LABEL_DELAY_DAYS = 30  # whether a loan was repaid is known a month later
SECTORS = ("retail", "services", "manufacturing", "hospitality", "construction")
CREDIT_FEATURES = ("income", "debt_ratio", "age", "requested_amount", "sector")
MONITORS_CREATED_DAY = -2  # after the vendor score's approval, before the first slot
APPROVAL_ALERT_ACKNOWLEDGED_DAY = 2
DRIFT_ASSIGNED_DAY = 62
APPROVAL_SNOOZED_DAY = 85
WEEKS = HISTORY_DAYS // 7 + 1
FADED_SCAN_WEEKS = (3, 4)  # the digit reader's scanner problem: two weekly runs
MAGNESIUM_MISSING_FROM_WEEK = 10  # the wine lab's new instrument
# Set by the validator for the weekly samples of about 600 rows: the default 0.10 warns on
# sampling noise alone at that size.
WEEKLY_DRIFT_THRESHOLDS = {"drift.psi": Threshold(0.20, 0.40),
                           "drift.distance": Threshold(0.20, 0.40)}
RUN_SECONDS = 40  # how long a replayed run takes, from its claim to its stored outcome


def first_monitoring_slot(now: datetime) -> datetime:
    """The first daily slot (06:00 UTC) of the history, whose last slot is the newest one at
    least an hour before ``now``: the whole replayed history lies in the past."""
    newest = (now - timedelta(hours=1)).replace(hour=6, minute=0, second=0, microsecond=0)
    if newest > now - timedelta(hours=1):
        newest -= timedelta(days=1)
    return newest - timedelta(days=HISTORY_DAYS - 1)


def add_demo_monitors(workspace, data_folder: Path, report, timeline: Timeline,
                      replays: ExitStack) -> None:
    """Write the monitors' data now; plan their creation and their runs on the timeline.
    The runs' schedulers are shut down when ``replays`` closes."""
    data_folder.mkdir(parents=True, exist_ok=True)
    first_slot = timeline.first_slot
    carol = workspace.as_user("carol")
    report("generating 90 days of logged credit applications")
    reference = data_folder / "vendor-credit-reference.csv"
    _credit_applications(6_000, seed=11, drift=0.0).drop(columns=["timestamp"]).to_csv(
        reference, index=False)
    logged = data_folder / "vendor-credit-applications.parquet"
    _credit_history(first_slot).to_parquet(logged, index=False)
    monitor_ids: dict[str, int] = {}

    def create_credit_monitor() -> None:
        monitor_ids["credit"] = carol.monitoring.create_monitor(
            "vendor-credit-score", "daily drift and approvals", reference,
            MonitorSpec(
                features=CREDIT_FEATURES, source=DataSource(SourceKind.FILE, path=str(logged)),
                task=Task.CLASSIFICATION, prediction="approved", score="score",
                label="repaid", timestamp="timestamp", window_days=1, min_sample=100,
                kpis=(KpiDefinition("approval rate", "share(approved == 1)", 0.62, 0.04),
                      KpiDefinition("expected margin per application",
                                    "mean(where(approved == 1, "
                                    "requested_amount * 0.03 * score, 0))",
                                    300.0, 30.0)),
                # Set by the validator for this vendor score: its report gives no accuracy
                # baseline, and a day's 400 applications put distances of 0.10 within noise.
                thresholds={"performance.accuracy": Threshold(0.62, 0.55,
                                                              higher_is_worse=False),
                            "performance.recall": Threshold(0.50, 0.40, higher_is_worse=False),
                            "drift.distance": Threshold(0.15, 0.30)},
            ),
            Schedule(ScheduleKind.INTERVAL, str(24 * 3600)), anchor=first_slot,
            reason="monitor the vendor score on our own applications (validation condition)",
        ).id

    timeline.on(MONITORS_CREATED_DAY, "10:00", create_credit_monitor)
    timeline.on(0, "05:00", partial(
        report, f"running {HISTORY_DAYS} days of credit monitoring and "
                f"{WEEKS} weeks of weekly monitoring of the other models"))
    _plan_runs(timeline, replays, carol, lambda: monitor_ids["credit"], HISTORY_DAYS,
               timedelta(days=1), after_slot=timedelta(minutes=1))
    timeline.on(APPROVAL_ALERT_ACKNOWLEDGED_DAY, "09:30",
                partial(_acknowledge_approval_alert, carol))
    timeline.on(DRIFT_ASSIGNED_DAY, "09:15", partial(_assign_drift_incident, carol))
    timeline.on(APPROVAL_SNOOZED_DAY, "16:40", partial(_snooze_approval_incident, carol))

    # The weekly monitors run a few minutes after the credit run of the same morning, which
    # has finished by then, one after the other.
    for index, weekly in enumerate(WEEKLY_MONITORS):
        _add_weekly_monitor(workspace.as_user(weekly.owner), weekly, data_folder, timeline,
                            replays, monitor_ids, after_slot=timedelta(minutes=3 + 2 * index))
    timeline.on(80, "10:05", partial(_assign_quality_incident, workspace.as_user("dave")))


class _Weekly:
    """A scikit-learn data set's model, monitored weekly on samples of its own data."""

    def __init__(self, model: str, dataset: str, label: str, task: Task, owner: str,
                 reason: str, change=None, thresholds=WEEKLY_DRIFT_THRESHOLDS) -> None:
        self.model, self.dataset, self.label, self.task = model, dataset, label, task
        self.owner, self.reason = owner, reason
        self.change = change  # (week, frame) -> frame: what goes wrong in the logged data
        self.thresholds = thresholds


def _faded_scans(week: int, frame: Any) -> Any:
    if week not in FADED_SCAN_WEEKS:
        return frame
    pixels = [c for c in frame.columns if c.startswith("pixel_")]
    frame[pixels] = (frame[pixels] * 0.55).round()
    return frame


def _magnesium_missing(week: int, frame: Any) -> Any:
    import numpy as np

    if week < MAGNESIUM_MISSING_FROM_WEEK:
        return frame
    share = 0.12 if week < WEEKS - 1 else 0.28
    rng = np.random.default_rng(week)
    frame.loc[rng.random(len(frame)) < share, "magnesium"] = np.nan
    return frame


WEEKLY_MONITORS = (
    # The first weekly monitor, set up before the validator's thresholds for weekly samples.
    _Weekly("breast-cancer-screening", "breast_cancer", "diagnosis", Task.CLASSIFICATION,
            "carol", "weekly check of the production screening model, scored by ModelLedger",
            thresholds={}),
    # Alice develops these two; she is no owner, so the admin sets up their monitors.
    _Weekly("wine-cultivar", "wine", "cultivar", Task.CLASSIFICATION, "dave",
            "weekly check of the intake samples", _magnesium_missing),
    _Weekly("diabetes-progression", "diabetes", "progression", Task.REGRESSION, "carol",
            "weekly check of the clinic's new patients"),
    _Weekly("digits-recognizer", "digits", "digit", Task.CLASSIFICATION, "dave",
            "weekly check of the scanned forms", _faded_scans),
)


def _add_weekly_monitor(owner, weekly: _Weekly, data_folder: Path, timeline: Timeline,
                        replays: ExitStack, monitor_ids: dict[str, int], *,
                        after_slot: timedelta) -> None:
    reference = data_folder / f"{weekly.dataset}-reference.csv"
    logged = data_folder / f"{weekly.dataset}-samples.parquet"
    features = _weekly_data(weekly, reference, logged, timeline.first_slot)

    def create() -> None:
        monitor_ids[weekly.model] = owner.monitoring.create_monitor(
            weekly.model, "weekly health", reference,
            MonitorSpec(
                features=features, source=DataSource(SourceKind.FILE, path=str(logged)),
                task=weekly.task, label=weekly.label, timestamp="timestamp", window_days=7,
                min_sample=50, thresholds=weekly.thresholds),
            Schedule(ScheduleKind.INTERVAL, str(7 * 24 * 3600)), anchor=timeline.first_slot,
            reason=weekly.reason,
        ).id

    timeline.on(MONITORS_CREATED_DAY, "15:00", create)
    _plan_runs(timeline, replays, owner, lambda: monitor_ids[weekly.model], WEEKS,
               timedelta(days=7), after_slot=after_slot)


def _plan_runs(timeline: Timeline, replays: ExitStack, workspace, monitor_id, count: int,
               step: timedelta, *, after_slot: timedelta) -> None:
    """``count`` scheduled runs, each claimed ``after_slot`` after its slot: ``monitor_id()``
    is read when the runs are played, after the monitor was created."""
    scheduler = MonitorScheduler(workspace, max_parallel=1)  # on the workspace's clock
    replays.callback(scheduler.shutdown)
    for index in range(count):
        timeline.at(timeline.first_slot + index * step + after_slot,
                    lambda: _run_due_slot(timeline, scheduler, workspace, monitor_id()))


def _run_due_slot(timeline: Timeline, scheduler: MonitorScheduler, workspace,
                  monitor_id: int) -> None:
    """Claim the slot due now and store its outcome RUN_SECONDS later. The version scored is
    the one in production at the time (prepare_job reads it from the registry as it is)."""
    claim = scheduler.claim_due_slot(monitor_id)
    if claim is None:
        return
    started_at = timeline.clock()
    job, version_id, _ = workspace.monitoring.prepare_job(claim)
    outcome = compute_run(job, lambda _percent, _message: None)
    timeline.clock.advance_to(started_at + timedelta(seconds=RUN_SECONDS))
    workspace.scheduled_monitoring.record_outcome(claim, outcome, version_id=version_id,
                                                  started_at=started_at, retry_base_s=60)


def _credit_incident(owner, cause: Cause):
    (incident,) = [incident for incident in owner.monitoring.list_alerts(
        model_name="vendor-credit-score") if incident.cause == cause.value]
    return incident


def _acknowledge_approval_alert(owner) -> None:
    alert = _credit_incident(owner, Cause.KPI)
    owner.monitoring.acknowledge_alert(
        alert.id, alert.row_version,
        "Approvals below the 62% target since the first days: asked the vendor whether release "
        "2026.2 moved the cut-off; the quarterly backtest will check it on our applicants.")


def _assign_drift_incident(owner) -> None:
    incident = _credit_incident(owner, Cause.DRIFT)
    owner.monitoring.assign_alert(
        incident.id, incident.row_version, "alice",
        "Incomes and the sector mix have moved for three weeks: prepare a retraining on the "
        "applications since day 40 and compare it with the vendor's score.")


def _snooze_approval_incident(owner) -> None:
    incident = _credit_incident(owner, Cause.KPI)
    until = owner.monitoring._clock() + timedelta(days=14)
    owner.monitoring.snooze_alert(
        incident.id, incident.row_version, until,
        "The vendor ships a recalibrated cut-off in two weeks; no new notifications until "
        "then (the drift incident stays on).")


def _assign_quality_incident(admin) -> None:
    (incident,) = [incident for incident in admin.monitoring.list_alerts(
        model_name="wine-cultivar") if incident.cause == Cause.DATA_QUALITY.value]
    admin.monitoring.assign_alert(
        incident.id, incident.row_version, "alice",
        "Magnesium is empty for part of the samples since the lab's new analyser; asked the "
        "lab to fix its export.")


def _credit_applications(rows: int, *, seed: int, drift: float) -> Any:
    """Applications and the vendor's decision; ``drift`` 0..1 is how far the mix has moved."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    income = rng.lognormal(np.log(52_000 * (1 - 0.3 * drift)), 0.35, rows)
    debt_ratio = np.clip(rng.beta(2, 5, rows) + 0.12 * drift, 0, 1)
    age = rng.integers(21, 70, rows).astype(float)
    amount = np.round(rng.lognormal(np.log(18_000), 0.5, rows), -2)
    weights = np.array([0.30, 0.28, 0.20, 0.12, 0.10])
    weights = weights + drift * np.array([-0.10, -0.05, -0.05, 0.25, -0.05])
    sector = rng.choice(SECTORS, rows, p=weights / weights.sum())
    logit = (1.3 + 1.6 * np.log(income / 52_000) - 3.0 * (debt_ratio - 0.28)
             - 0.6 * (sector == "hospitality") + rng.normal(0, 0.5, rows))
    score = 1 / (1 + np.exp(-logit))
    approved = (score > 0.74).astype(int)
    repaid = (rng.random(rows) < np.clip(score + 0.1, 0, 1)).astype(float)
    return pd.DataFrame({"income": income.round(0), "debt_ratio": debt_ratio.round(3),
                         "age": age, "requested_amount": amount, "sector": sector,
                         "score": score.round(4), "approved": approved, "repaid": repaid,
                         "timestamp": pd.NaT})


def _credit_history(first_slot: datetime) -> Any:
    import numpy as np
    import pandas as pd

    days = []
    for day in range(HISTORY_DAYS):
        drift = max(0.0, (day - DRIFT_STARTS_DAY) / (HISTORY_DAYS - DRIFT_STARTS_DAY))
        frame = _credit_applications(400, seed=100 + day, drift=drift)
        start = first_slot - timedelta(days=1) + timedelta(days=day)
        offsets = np.sort(np.random.default_rng(day).uniform(0, 86_400, len(frame)))
        frame["timestamp"] = pd.Timestamp(start) + pd.to_timedelta(offsets, unit="s")
        if day >= HISTORY_DAYS - LABEL_DELAY_DAYS:
            frame["repaid"] = np.nan
        days.append(frame)
    return pd.concat(days, ignore_index=True)


def _weekly_data(weekly: _Weekly, reference_path: Path, logged_path: Path,
                 first_slot: datetime) -> tuple:
    """The data set as reference (with its label), and a sample of 600 rows a week, as
    logged, with what goes wrong in which week."""
    import numpy as np
    import pandas as pd
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{weekly.dataset}")(as_frame=True)
    features = tuple(bunch.data.columns)
    data = bunch.data.assign(**{weekly.label: bunch.target})
    data.to_csv(reference_path, index=False)
    rng = np.random.default_rng(5)
    weeks = []
    for week in range(WEEKS):
        sample = data.sample(600, replace=True, random_state=week).reset_index(drop=True)
        if weekly.change is not None:
            sample = weekly.change(week, sample)
        start = first_slot - timedelta(days=7) + timedelta(days=7 * week)
        offsets = np.sort(rng.uniform(0, 7 * 86_400, len(sample)))
        sample["timestamp"] = pd.Timestamp(start) + pd.to_timedelta(offsets, unit="s")
        weeks.append(sample)
    pd.concat(weeks, ignore_index=True).to_parquet(logged_path, index=False)
    return features
