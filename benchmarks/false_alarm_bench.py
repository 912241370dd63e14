"""False alarms and detections of a monitor run, by window size, with and without noise floors.

    .venv/bin/python benchmarks/false_alarm_bench.py [--runs 40] [--reference-rows 5000]

A monitor with the default thresholds watches 30 numeric features of six shapes (normal,
log-normal, exponential, Poisson counts, uniform, Student-t) and the model's 0/1 prediction;
its reference has ``--reference-rows`` rows. For each window size (100, 200, 500, 1,000 and
5,000 rows), seeded windows are evaluated with ``modelledger.core.monitoring.evaluate``:

* undrifted windows (drawn from the reference's distribution): the share of runs that are not
  "ok" (false alarm per run) and the share of (feature, run) pairs with any warning check on
  that feature (false alarm per feature);
* three changes, each in ``--runs // 2`` windows: x00 (normal) shifted by 0.5 sd; a new region
  taking 5% of the rows (the categorical column ``region`` is watched too); 10% of x00 moved to
  5-8 sd above the mean. Detection: a drift or quality check of the changed column warns.

"before" is the same evaluation judged by the fixed thresholds alone (every metric's value
against its warn and critical limits, and the drifted share counted from PSI >= 0.25), as
monitors judged before noise floors; "after" is the evaluation's own verdict. The last column
is the mean time of one evaluation with the noise floors. Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "desktop"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from modelledger.core.drift import DRIFT_PSI, profile_column  # noqa: E402
from modelledger.core.monitoring import (  # noqa: E402
    DEFAULT_THRESHOLDS,
    DataSource,
    Health,
    MonitorSpec,
    SourceKind,
    Threshold,
    evaluate,
)

SEED = 20261207
WINDOW_SIZES = (100, 200, 500, 1_000, 5_000)
FEATURES = tuple(f"x{i:02d}" for i in range(30))
SHAPES = ("normal", "lognormal", "exponential", "poisson", "uniform", "student")
REGIONS = np.array(["north", "south", "east", "west", "centre", "coast", "hills", "islands"],
                   dtype=object)
REGION_SHARES = np.array([0.25, 0.2, 0.15, 0.12, 0.1, 0.08, 0.06, 0.04])
SOURCE = DataSource(SourceKind.FILE, path="current.csv")
_BAD = (Health.WARN.value, Health.CRITICAL.value)
_SEVERITY = {Health.OK.value: 1, Health.WARN.value: 2, Health.CRITICAL.value: 3}


def _column(rng: np.random.Generator, shape: str, rows: int) -> np.ndarray:
    if shape == "normal":
        return rng.normal(50.0, 10.0, rows)
    if shape == "lognormal":
        return rng.lognormal(3.0, 0.8, rows)
    if shape == "exponential":
        return rng.exponential(1000.0, rows)
    if shape == "poisson":
        return rng.poisson(4.0, rows).astype(np.float64)
    if shape == "uniform":
        return rng.uniform(-1.0, 1.0, rows)
    return rng.standard_t(4, rows)


def undrifted(rng: np.random.Generator, rows: int) -> pd.DataFrame:
    columns = {name: _column(rng, SHAPES[i % len(SHAPES)], rows)
               for i, name in enumerate(FEATURES)}
    columns["region"] = REGIONS[rng.choice(len(REGIONS), rows, p=REGION_SHARES)]
    score = 1.0 / (1.0 + np.exp(-(columns["x00"] - 50.0) / 10.0))
    columns["prediction"] = (rng.random(rows) < score).astype(np.int64)
    return pd.DataFrame(columns)


def shifted(rng: np.random.Generator, rows: int) -> pd.DataFrame:
    frame = undrifted(rng, rows)
    frame["x00"] += 5.0
    return frame


def new_category(rng: np.random.Generator, rows: int) -> pd.DataFrame:
    frame = undrifted(rng, rows)
    frame.loc[rng.random(rows) < 0.05, "region"] = "offshore"
    return frame


def far_tail(rng: np.random.Generator, rows: int) -> pd.DataFrame:
    frame = undrifted(rng, rows)
    moved = rng.random(rows) < 0.10
    frame.loc[moved, "x00"] = rng.uniform(100.0, 130.0, int(moved.sum()))
    return frame


CHANGES = (("0.5 sd shift", "x00", shifted), ("new 5% category", "region", new_category),
           ("10% far tail", "x00", far_tail))


def fixed_statuses(metrics) -> dict[tuple[str, str], str]:
    """Each judged metric's status by its thresholds alone, as before noise floors."""
    statuses = {}
    psis = [m.value for m in metrics if m.metric == "drift.psi" and m.value is not None]
    for m in metrics:
        if m.warn is None or m.critical is None or m.value is None or m.status not in _SEVERITY:
            continue
        value = m.value
        if m.metric == "drift.share" and psis:
            value = sum(psi >= DRIFT_PSI for psi in psis) / len(psis)
        statuses[(m.metric, m.subject)] = Threshold(m.warn, m.critical).judge(value).value
    return statuses


def bad_subjects(statuses: dict[tuple[str, str], str]) -> set[str]:
    return {subject for (_, subject), status in statuses.items() if status in _BAD and subject}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=40, help="undrifted windows per size")
    parser.add_argument("--reference-rows", type=int, default=5_000)
    args = parser.parse_args()
    rng = np.random.default_rng(SEED)
    reference = undrifted(rng, args.reference_rows)
    started = time.perf_counter()
    profiles = {name: profile_column(name, reference[name]).to_dict()
                for name in reference.columns}
    profile_s = time.perf_counter() - started
    plain = MonitorSpec(features=FEATURES, source=SOURCE, prediction="prediction")
    with_region = MonitorSpec(features=(*FEATURES, "region"), source=SOURCE,
                              prediction="prediction")
    watched = len(plain.reference_columns())
    print(f"Reference {args.reference_rows:,} rows, {len(FEATURES)} numeric features + the "
          f"prediction, default thresholds (drift.distance warns at "
          f"{DEFAULT_THRESHOLDS['drift.distance'].warn:g}); profiling took {profile_s:.2f} s.")
    print(f"{args.runs} undrifted windows per size; each change in {max(args.runs // 2, 1)}.\n")

    header = (f"{'rows':>6} | {'false alarm / run':>18} | {'/ feature':>15} | "
              + " | ".join(f"{name:>17}" for name, _, _ in CHANGES) + f" | {'run (s)':>7}")
    print(header)
    print(f"{'':>6} | {'before   after':>18} | {'before  after':>15} | "
          + " | ".join(f"{'before   after':>17}" for _ in CHANGES) + f" | {'':>7}")
    print("-" * len(header))
    for rows in WINDOW_SIZES:
        runs_before = runs_after = pairs_before = pairs_after = 0
        seconds = []
        for _ in range(args.runs):
            current = undrifted(rng, rows)
            tick = time.perf_counter()
            evaluation = evaluate(plain, profiles, reference, current, {})
            seconds.append(time.perf_counter() - tick)
            fixed = fixed_statuses(evaluation.metrics)
            runs_before += any(status in _BAD for status in fixed.values())
            runs_after += evaluation.health is not Health.OK
            pairs_before += len(bad_subjects(fixed))
            pairs_after += len({m.subject for m in evaluation.metrics
                                if m.status in _BAD and m.subject})
        detections = []
        for _, column, change in CHANGES:
            caught_before = caught_after = 0
            tries = max(args.runs // 2, 1)
            for _ in range(tries):
                evaluation = evaluate(with_region, profiles, reference, change(rng, rows), {})
                caught_before += column in bad_subjects(fixed_statuses(evaluation.metrics))
                caught_after += any(m.subject == column and m.status in _BAD
                                    for m in evaluation.metrics)
            detections.append(f"{caught_before / tries:>7.0%} {caught_after / tries:>7.0%}")
        per_feature = args.runs * watched
        print(f"{rows:>6,} | {runs_before / args.runs:>8.0%} {runs_after / args.runs:>8.0%} | "
              f"{pairs_before / per_feature:>7.1%} {pairs_after / per_feature:>6.1%} | "
              + " | ".join(f"{text:>17}" for text in detections)
              + f" | {np.mean(seconds):>7.3f}")
    print("\nfalse alarm / run: share of undrifted runs not 'ok'; / feature: share of (column, "
          "run) pairs with a warning check; detection: share of changed windows in which the "
          "changed column warns.")


if __name__ == "__main__":
    main()
