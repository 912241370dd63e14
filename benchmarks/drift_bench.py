"""Drift benchmark: modelledger.core.drift against Evidently 0.7.23's DataDriftPreset.

    .venv/bin/python benchmarks/drift_bench.py [--rows 1000000] [--skip-evidently]

1. Generate (seeded, so every run has the same data) a reference and a current frame of
   ``--rows`` rows each: 20 numeric float64 columns (normal, log-normal, exponential, Poisson
   counts with many ties, uniform, Student-t, a two-peak mixture; 1% missing in every fourth
   one) and 5 string columns with 20 to 50 categories. 7 of the 25 columns are shifted in the
   current frame, from obvious to subtle (see SHIFTED). Both are written once to Parquet in a
   temporary folder, which is removed at the end.
2. ModelLedger, in a fresh interpreter: read both Parquet files, ``profile_column`` for every
   column, ``dataset_drift`` (3 times: the first run is compared with Evidently's single run;
   the best one shows what a busy machine took away).
3. Evidently 0.7.23, in a fresh interpreter of its own virtual environment
   (benchmarks/.venv-evidently, created here with ``python -m venv`` and pip if missing, since
   Evidently 0.7.23 needs pandas < 3): read the same files, run a Report with DataDriftPreset
   (column types given explicitly, as ours).

Each side reports the wall time of the drift computation, the data's size in memory
(``DataFrame.memory_usage(deep=True)`` of both frames) and the peak memory it needed beyond the
loaded data: the peak RSS (``resource.getrusage``) during the computation minus the RSS just
after loading (once Arrow has handed back the memory it freed). The kernel's peak counter is
reset after loading (/proc/self/clear_refs), so what Parquet reading briefly needs is not
counted; where that is not possible the peak is the process's whole peak. Goals: ModelLedger's
drift at least 20x faster than Evidently, and its peak extra memory at most 1.5x the data.
Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVIDENTLY_VENV = ROOT / "benchmarks" / ".venv-evidently"
EVIDENTLY_REQUIREMENTS = ("evidently==0.7.23", "pandas<3", "pyarrow")
SPEED_GOAL = 20.0  # Evidently's time / ours
MEMORY_GOAL = 1.5  # our peak extra memory / the data's size
SEED = 20240611
REPEATS = 3  # runs of our dataset_drift (Evidently runs once: it takes minutes)
N_NUMERIC = 20
CATEGORY_COUNTS = (20, 30, 40, 50, 25)

# The 7 shifted columns and what changes in the current data.
SHIFTED = {
    "num_00": "normal: mean + 1 sd",
    "num_02": "exponential: scale x 1.3",
    "num_03": "Poisson counts: rate + 15%",
    "num_05": "Student-t: 3% of values moved to the far right tail",
    "num_07": "normal: mean + 0.1 sd (subtle)",
    "cat_0": "shares re-drawn (obvious)",
    "cat_3": "a new category takes 8% of the rows",
}
# Column num_XX has kind KINDS[XX % 7].
KINDS = ("normal", "lognormal", "exponential", "poisson", "uniform", "student", "mixture")


# --------------------------------------------------------------------------- data


def _numeric(rng, kind: str, rows: int, column: str, shifted: bool):
    import numpy as np

    if kind == "normal":
        shift = {"num_00": 1.0, "num_07": 0.1}.get(column, 0.0) if shifted else 0.0
        return rng.normal(50.0 + shift * 10.0, 10.0, rows)
    if kind == "lognormal":
        return rng.lognormal(3.0, 0.8, rows)
    if kind == "exponential":
        return rng.exponential(1300.0 if shifted else 1000.0, rows)
    if kind == "poisson":
        return rng.poisson(4.6 if shifted else 4.0, rows).astype(np.float64)
    if kind == "uniform":
        return rng.uniform(-1.0, 1.0, rows)
    if kind == "student":
        values = rng.standard_t(4, rows)
        if shifted:
            moved = rng.random(rows) < 0.03
            values[moved] = rng.uniform(8.0, 20.0, int(moved.sum()))
        return values
    peak = rng.random(rows) < 0.3
    return np.where(peak, rng.normal(5.0, 1.0, rows), rng.normal(-2.0, 2.0, rows))


def _frame(rows: int, seed: int, current: bool):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    shares_rng = np.random.default_rng(SEED)  # the same category shares on both sides
    columns = {}
    for i in range(N_NUMERIC):
        name = f"num_{i:02d}"
        values = _numeric(rng, KINDS[i % len(KINDS)], rows, name, current and name in SHIFTED)
        if i % 4 == 1:
            values[rng.random(rows) < 0.01] = np.nan
        columns[name] = values
    for i, count in enumerate(CATEGORY_COUNTS):
        name = f"cat_{i}"
        labels = np.array([f"{name}_value_{j:02d}" for j in range(count)] + [f"{name}_new"],
                          dtype=object)
        shares = shares_rng.dirichlet(np.full(count, 2.0))
        if current and name == "cat_0":
            shares = rng.dirichlet(np.full(count, 2.0))
        shares = np.append(shares, 0.0)
        if current and name == "cat_3":
            shares = np.append(shares[:-1] * 0.92, 0.08)
        codes = rng.choice(count + 1, size=rows, p=shares)
        columns[name] = pd.array(labels[codes], dtype="str")
    return pd.DataFrame(columns)


def generate(rows: int, folder: Path) -> tuple[Path, Path]:
    paths = folder / "reference.parquet", folder / "current.parquet"
    for path, current, seed in ((paths[0], False, SEED + 1), (paths[1], True, SEED + 2)):
        _frame(rows, seed, current).to_parquet(path, index=False)
    return paths


# --------------------------------------------------------------------------- children


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        return True
    except OSError:
        return False


def _peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _load(reference_path: str, current_path: str):
    import pandas as pd
    import pyarrow

    started = time.perf_counter()
    reference = pd.read_parquet(reference_path)
    current = pd.read_parquet(current_path)
    load_s = time.perf_counter() - started
    data_bytes = int(reference.memory_usage(deep=True).sum()
                     + current.memory_usage(deep=True).sum())
    # Arrow's allocator keeps the pages of the Parquet buffers it has freed for a while and
    # gives them back later; hand them back now so the RSS after loading holds just the data.
    gc.collect()
    pyarrow.default_memory_pool().release_unused()
    return reference, current, load_s, data_bytes


def child_ours(reference_path: str, current_path: str) -> dict:
    sys.path.insert(0, str(ROOT / "desktop"))
    from modelledger.core.drift import dataset_drift, profile_column

    reference, current, load_s, data_bytes = _load(reference_path, current_path)
    loaded = _rss_bytes()
    reset = _reset_peak()
    started = time.perf_counter()
    profiles = {name: profile_column(name, reference[name]) for name in reference.columns}
    profile_s = time.perf_counter() - started
    profile_peak = _peak_bytes()
    reset = _reset_peak() and reset
    times = []
    for _ in range(REPEATS):  # the machine may be shared: the first run, and the best one
        started = time.perf_counter()
        report = dataset_drift(profiles, reference, current)
        times.append(time.perf_counter() - started)
    drift_peak = _peak_bytes()
    return {
        "load_s": load_s, "data_bytes": data_bytes, "rss_loaded": loaded,
        "profile_s": profile_s, "profile_extra": profile_peak - loaded,
        "drift_s": times[0], "drift_best_s": min(times), "drift_extra": drift_peak - loaded,
        "peak_reset": reset,
        "threads": os.cpu_count(), "drift_share": report.drift_share,
        "features": [{"column": f.column, "psi": f.psi, "distance": f.distance,
                      "psi_floor": f.psi_floor, "distance_floor": f.distance_floor,
                      "p": f.p_value_adjusted, "drifted": f.drifted, "note": f.note}
                     for f in report.features],
    }


def child_evidently(reference_path: str, current_path: str) -> dict:
    import evidently
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    reference, current, load_s, data_bytes = _load(reference_path, current_path)
    numeric = [c for c in reference.columns if c.startswith("num_")]
    categorical = [c for c in reference.columns if c.startswith("cat_")]
    loaded = _rss_bytes()
    reset = _reset_peak()
    started = time.perf_counter()
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    snapshot = Report([DataDriftPreset()]).run(
        current_data=Dataset.from_pandas(current, data_definition=definition),
        reference_data=Dataset.from_pandas(reference, data_definition=definition))
    drift_s = time.perf_counter() - started
    peak = _peak_bytes()
    drifted = []
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").endswith("ValueDrift"):
            method, value = config.get("method", ""), float(metric["value"])
            is_p_value = "p_value" in method.lower() or "test" in method.lower()
            if (value < config["threshold"]) if is_p_value else (value >= config["threshold"]):
                drifted.append(config["column"])
    return {"version": evidently.__version__, "load_s": load_s, "data_bytes": data_bytes,
            "rss_loaded": loaded, "drift_s": drift_s, "drift_extra": peak - loaded,
            "peak_reset": reset, "drifted": drifted}


def run_child(python: Path, side: str, paths: tuple[Path, Path]) -> dict | None:
    command = [str(python), str(Path(__file__).resolve()), "--child", side, *map(str, paths)]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    done = subprocess.run(command, capture_output=True, text=True, env=environment,
                          cwd=ROOT, check=False)
    if done.returncode != 0:
        print(f"  {side} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- set-up, report


def evidently_python() -> Path | None:
    """The Evidently venv's interpreter, created and filled if missing; None if that fails."""
    python = EVIDENTLY_VENV / "bin" / "python"
    probe = [str(python), "-c", "import evidently, pyarrow; assert evidently.__version__ == "
             f"'{EVIDENTLY_REQUIREMENTS[0].split('==')[1]}'"]
    if python.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return python
    print(f"Setting up {EVIDENTLY_VENV.relative_to(ROOT)} "
          f"({', '.join(EVIDENTLY_REQUIREMENTS)}) ...", flush=True)
    steps = ([sys.executable, "-m", "venv", str(EVIDENTLY_VENV)],
             [str(python), "-m", "pip", "install", "--quiet", *EVIDENTLY_REQUIREMENTS])
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print("!! Could not install Evidently (no network?), so there is nothing to compare "
                  f"with. `{' '.join(step)}` said:\n{(done.stderr or done.stdout)[-2000:]}")
            return None
    if subprocess.run(probe, capture_output=True, check=False).returncode != 0:
        print("!! Evidently was installed but does not import; skipping it.")
        return None
    return python


def _level(feature: dict) -> str:
    """How a monitor with the default thresholds judges this column: a value must be over its
    threshold and over its noise floor."""
    from modelledger.core.monitoring import DEFAULT_THRESHOLDS

    statuses = {DEFAULT_THRESHOLDS[f"drift.{name}"].judge(feature[name]).value
                for name in ("psi", "distance") if feature[name] is not None
                and feature[name] > (feature[f"{name}_floor"] or 0.0)}
    return "CRITICAL" if "critical" in statuses else "WARN" if "warn" in statuses else ""


def _mib(value: float) -> str:
    return f"{value / 2**20:,.0f}"


def report(rows: int, ours: dict | None, theirs: dict | None) -> None:
    print()
    print(f"{rows:,} reference + {rows:,} current rows, {N_NUMERIC} numeric + "
          f"{len(CATEGORY_COUNTS)} categorical columns, {len(SHIFTED)} shifted; "
          f"{os.cpu_count()} cores")
    if ours is None:
        print("ModelLedger did not finish; no figures.")
        return
    label = f"Evidently {theirs['version']}" if theirs else "Evidently"
    table = [
        ("read Parquet (s)", f"{ours['load_s']:.2f}",
         f"{theirs['load_s']:.2f}" if theirs else "-"),
        ("profile reference (s)", f"{ours['profile_s']:.2f}", "-"),
        ("drift, first run (s)", f"{ours['drift_s']:.2f}",
         f"{theirs['drift_s']:.1f}" if theirs else "-"),
        (f"drift, best of {REPEATS} (s)", f"{ours['drift_best_s']:.2f}", "-"),
        ("data in memory (MiB)", _mib(ours["data_bytes"]),
         _mib(theirs["data_bytes"]) if theirs else "-"),
        ("RSS after loading (MiB)", _mib(ours["rss_loaded"]),
         _mib(theirs["rss_loaded"]) if theirs else "-"),
        ("peak extra, profiling (MiB)", _mib(ours["profile_extra"]), "-"),
        ("peak extra, drift (MiB)", _mib(ours["drift_extra"]),
         _mib(theirs["drift_extra"]) if theirs else "-"),
        ("peak extra / data", f"{ours['drift_extra'] / ours['data_bytes']:.2f}",
         f"{theirs['drift_extra'] / theirs['data_bytes']:.2f}" if theirs else "-"),
        ("columns flagged", f"{sum(_level(f) != '' for f in ours['features'])} "
         f"({sum(_level(f) == 'CRITICAL' for f in ours['features'])} critical)",
         str(len(theirs["drifted"])) if theirs else "-"),
    ]
    print()
    print(f"{'':30}{'ModelLedger':>14}{label:>20}")
    for name, mine, other in table:
        print(f"{name:30}{mine:>14}{other:>20}")
    if not (ours["peak_reset"] and (theirs is None or theirs["peak_reset"])):
        print("(peak counters could not be reset after loading: peaks include reading Parquet)")

    print("\nModelLedger per column, judged by the monitors' default thresholds (PSI or distance "
          ">= 0.10 warns, >= 0.25 is critical, when over its noise floor); p: KS or chi-square, "
          "BH-adjusted, shown only:")
    for feature in ours["features"]:
        mark = _level(feature)
        distance = "-" if feature["distance"] is None else f"{feature['distance']:.4f}"
        p_value = "-" if feature["p"] is None else f"{feature['p']:.1e}"
        shift = SHIFTED.get(feature["column"], "")
        floors = f"{feature['psi_floor'] or 0.0:.4f}/{feature['distance_floor'] or 0.0:.4f}"
        print(f"  {feature['column']:8} psi {feature['psi']:8.4f}  distance {distance:>7}  "
              f"floors {floors}  p {p_value:>8}  {mark:8} {shift}")
    if theirs:
        print(f"Evidently flagged: {', '.join(theirs['drifted']) or 'nothing'}")

    memory_ratio = ours["drift_extra"] / ours["data_bytes"]
    print()
    print(f"Memory: peak extra {_mib(ours['drift_extra'])} MiB = {memory_ratio:.2f}x the data "
          f"(goal <= {MEMORY_GOAL}x): {'met' if memory_ratio <= MEMORY_GOAL else 'NOT met'}")
    if theirs is None:
        print("Speed: no Evidently figures to compare with.")
        return
    speed = theirs["drift_s"] / ours["drift_s"]
    best = theirs["drift_s"] / ours["drift_best_s"]
    with_profiles = theirs["drift_s"] / (ours["drift_s"] + ours["profile_s"])
    print(f"Speed: {speed:.0f}x faster than Evidently on our first run ({best:.0f}x on our best; "
          f"goal >= {SPEED_GOAL:.0f}x): {'met' if speed >= SPEED_GOAL else 'NOT met'}; "
          f"{with_profiles:.0f}x counting the one-off profiling of the reference as well")
    if ours["drift_extra"] > 0:
        print(f"Evidently needed {theirs['drift_extra'] / ours['drift_extra']:.1f}x our peak "
              "extra memory")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows on each side")
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--child", choices=("ours", "evidently"), help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run = child_ours if args.child == "ours" else child_evidently
        print(json.dumps(run(*args.paths)))
        return

    python = None if args.skip_evidently else evidently_python()
    folder = Path(tempfile.mkdtemp(prefix="drift-bench-"))
    try:
        print(f"Writing {args.rows:,} + {args.rows:,} rows to Parquet ...", flush=True)
        paths = generate(args.rows, folder)
        print("ModelLedger ...", flush=True)
        ours = run_child(Path(sys.executable), "ours", paths)
        theirs = None
        if python is not None:
            print("Evidently (this takes a while) ...", flush=True)
            theirs = run_child(python, "evidently", paths)
        report(args.rows, ours, theirs)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
