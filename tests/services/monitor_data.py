"""Small monitoring data for tests: a scored model's reference and current data."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from modelledger.core.kpi import KpiDefinition
from modelledger.core.monitoring import DataSource, MonitorSpec, Schedule, ScheduleKind, SourceKind

FEATURES = ("income", "age", "region")


def scored_frame(rows: int, *, seed: int, income_shift: float = 0.0,
                 one_class: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.normal(50_000 + income_shift, 12_000, rows)
    age = rng.integers(18, 80, rows).astype(float)
    region = rng.choice(["north", "south", "east", "west"], rows, p=[0.4, 0.3, 0.2, 0.1])
    score = 1 / (1 + np.exp(-(income - 50_000) / 10_000))
    prediction = (score > 0.5).astype(int)
    label = np.zeros(rows, dtype=int) if one_class else (rng.random(rows) < score).astype(int)
    return pd.DataFrame({"income": income, "age": age, "region": region, "score": score,
                         "prediction": prediction, "label": label})


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def file_spec(current: Path, **changes) -> MonitorSpec:
    values = dict(
        features=FEATURES, source=DataSource(SourceKind.FILE, path=str(current)),
        prediction="prediction", score="score", label="label",
        kpis=(KpiDefinition("approval rate", "share(prediction == 1)", 0.5, 0.05),),
        min_sample=100,
    )
    values.update(changes)
    return MonitorSpec(**values)


def add_monitor(workspace, tmp_path: Path, *, name: str = "drift", current: Path | None = None,
                every_s: int = 3600, anchor: datetime | None = None, max_failures: int = 3,
                model: str = "credit-risk", **spec_changes):
    """A model (registered if needed) with a file-sourced monitor; returns the monitor."""
    if model not in {s.model.name for s in workspace.registry.list_models()}:
        workspace.registry.register_model(model)
    reference = write_csv(scored_frame(2_000, seed=1), tmp_path / f"{name}-reference.csv")
    if current is None:
        current = write_csv(scored_frame(1_000, seed=2, income_shift=15_000),
                            tmp_path / f"{name}-current.csv")
    return workspace.monitoring.create_monitor(
        model, name, reference, file_spec(current, **spec_changes),
        Schedule(ScheduleKind.INTERVAL, str(every_s)), max_failures=max_failures, anchor=anchor)
