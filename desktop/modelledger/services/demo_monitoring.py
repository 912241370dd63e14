"""The demo's monitoring history: 90 days of real runs over generated, logged production data.

The vendor credit score drifts: from day 40 on, applicants' incomes fall and the sector mix
moves towards hospitality, so the score and the approval rate decline and the drift and KPI
alerts fire. The breast-cancer screening model is scored by its stored model every week and
stays healthy. Each day's run goes through the same claim, computation and storage as a
scheduled run (computed in this process, to keep the demo build quick).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
from modelledger.services.run_worker import compute_run
from modelledger.services.scheduler import MonitorScheduler

HISTORY_DAYS = 90
DRIFT_STARTS_DAY = 40
LABEL_DELAY_DAYS = 30  # whether a loan was repaid is known a month later
SECTORS = ("retail", "services", "manufacturing", "hospitality", "construction")
CREDIT_FEATURES = ("income", "debt_ratio", "age", "requested_amount", "sector")


def add_demo_monitors(workspace, data_folder: Path, report) -> None:
    data_folder.mkdir(parents=True, exist_ok=True)
    first_slot = (datetime.now(UTC).replace(hour=6, minute=0, second=0, microsecond=0)
                  - timedelta(days=HISTORY_DAYS - 1))
    carol = workspace.as_user("carol")
    report("generating 90 days of logged credit applications")
    reference = data_folder / "vendor-credit-reference.csv"
    _credit_applications(6_000, seed=11, drift=0.0).drop(columns=["timestamp"]).to_csv(
        reference, index=False)
    logged = data_folder / "vendor-credit-applications.parquet"
    _credit_history(first_slot).to_parquet(logged, index=False)
    credit = carol.monitoring.create_monitor(
        "vendor-credit-score", "daily drift and approvals", reference,
        MonitorSpec(
            features=CREDIT_FEATURES, source=DataSource(SourceKind.FILE, path=str(logged)),
            task=Task.CLASSIFICATION, prediction="approved", score="score", label="repaid",
            timestamp="timestamp", window_days=1, min_sample=100,
            kpis=(KpiDefinition("approval rate", "share(approved == 1)", 0.62, 0.04),
                  KpiDefinition("expected margin per application",
                                "mean(where(approved == 1, requested_amount * 0.03 * score, 0))",
                                300.0, 30.0)),
            # Set by the validator for this vendor score: its report gives no accuracy baseline.
            thresholds={"performance.accuracy": Threshold(0.62, 0.55, higher_is_worse=False)},
        ),
        Schedule(ScheduleKind.INTERVAL, str(24 * 3600)), anchor=first_slot,
        reason="monitor the vendor score on our own applications (validation condition)")
    report("running 90 days of credit monitoring")
    _replay(carol, credit.id, first_slot, HISTORY_DAYS, timedelta(days=1))

    alice = workspace.as_user("alice")
    screening_reference = data_folder / "screening-reference.csv"
    screening_logged = data_folder / "screening-samples.parquet"
    features = _screening_data(screening_reference, screening_logged, first_slot)
    screening = alice.monitoring.create_monitor(
        "breast-cancer-screening", "weekly health", screening_reference,
        MonitorSpec(
            features=features, source=DataSource(SourceKind.FILE, path=str(screening_logged)),
            task=Task.CLASSIFICATION, label="diagnosis", timestamp="timestamp", window_days=7,
            min_sample=50),
        Schedule(ScheduleKind.INTERVAL, str(7 * 24 * 3600)), anchor=first_slot,
        reason="weekly check of the production screening model, scored by ModelLedger")
    report("running 13 weeks of screening monitoring")
    _replay(alice, screening.id, first_slot, HISTORY_DAYS // 7 + 1, timedelta(days=7))


def _replay(workspace, monitor_id: int, first_slot: datetime, count: int,
            step: timedelta) -> None:
    clock = [first_slot]
    scheduler = MonitorScheduler(workspace, max_parallel=1, clock=lambda: clock[0])
    try:
        for index in range(count):
            clock[0] = first_slot + index * step + timedelta(minutes=1)
            claim = scheduler.claim_due_slot(monitor_id)
            if claim is None:
                continue
            job, version_id, _ = workspace.monitoring.prepare_job(claim)
            outcome = compute_run(job, lambda _percent, _message: None)
            workspace.monitoring.record_outcome(claim, outcome, version_id=version_id,
                                                started_at=clock[0], retry_base_s=60,
                                                finished_at=clock[0] + timedelta(seconds=40))
    finally:
        scheduler.shutdown()


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


def _screening_data(reference_path: Path, logged_path: Path, first_slot: datetime) -> tuple:
    import numpy as np
    import pandas as pd
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    features = tuple(bunch.data.columns)
    data = bunch.data.assign(diagnosis=bunch.target)
    data.to_csv(reference_path, index=False)
    rng = np.random.default_rng(5)
    weeks = []
    for week in range(HISTORY_DAYS // 7 + 1):
        sample = data.sample(600, replace=True, random_state=week).reset_index(drop=True)
        start = first_slot - timedelta(days=7) + timedelta(days=7 * week)
        offsets = np.sort(rng.uniform(0, 7 * 86_400, len(sample)))
        sample["timestamp"] = pd.Timestamp(start) + pd.to_timedelta(offsets, unit="s")
        weeks.append(sample)
    pd.concat(weeks, ignore_index=True).to_parquet(logged_path, index=False)
    return features
