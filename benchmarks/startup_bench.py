"""Start-up benchmark: time from process start to the window showing a large workspace.

    .venv/bin/python benchmarks/startup_bench.py [--runs 5] [--folder DIR] [--rebuild]

1. Build once (cached in DIR, by default a folder in the system temp folder) a workspace with
   200 models, 5,000 versions (25 a model, with parameters and metrics, some moved to staging,
   promoted to production through approved requests, or archived) and 100,000 audit events in
   all: models and versions go through the real RegistryService, the rest of the events are
   appended with AuditAppender in a few big write transactions (SQLite's synchronous=OFF while
   building: no fsync per commit). The chain is verified once, and the result printed.
2. Start the application that many times, each in a fresh interpreter (benchmarks/
   startup_probe.py, QT_QPA_PLATFORM=offscreen, an empty config and log folder), through the real
   entry point, and time it from just before the process is started (fork/exec, interpreter
   start-up and every import included) to the Models page showing its first page of models
   (``inventory_loaded`` and the table's next paint). One warm-up run is made first and not
   counted: the figures are for warm OS file caches (the usual second start of the day).
   PYTHON* variables are not passed on (a PYTHONDONTWRITEBYTECODE=1 in the environment would
   make every start compile modules that have no .pyc yet, which an installed copy never does).
   A few runs without the status bar's audit-chain check (which verifies every event on a
   worker thread while the first page loads) are interleaved, to show what that check costs.
3. Run the probe once more with ``python -X importtime``, print the imports that cost most, and
   whether pandas, scikit-learn, SciPy or matplotlib (which must not load at start-up) were
   imported, and by whom.

Prints figures, asserts nothing; the goal is under 1.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scratch_keys import use_scratch_keys

ROOT = Path(__file__).resolve().parents[1]
PROBE = Path(__file__).resolve().with_name("startup_probe.py")
GOAL_SECONDS = 1.5
FORBIDDEN_AT_STARTUP = ("pandas", "sklearn", "scipy", "matplotlib")

# The probe's marks, in the order they happen, with what each one means.
MARKS = (
    ("process_created", "process created (kernel, /proc; 10 ms ticks)"),
    ("first_line", "interpreter up (first line of the probe)"),
    ("imports_done", "imports done (modelledger.cli.main + ui.shell.main_window)"),
    ("qapplication_ready", "QApplication created"),
    ("window_built", "MainWindow built"),
    ("window_shown", "window.show() returned"),
    ("window_painted", "window painted"),
    ("workspace_ready", "workspace opened (worker) and back on the GUI thread"),
    ("inventory_loaded", "first page of models loaded (inventory_loaded)"),
    ("inventory_painted", "inventory table painted"),
    ("workspace_opened", "every page built, one per turn (workspace_opened)"),
    ("chain_verified", "status bar: audit chain verified"),
)

OWNERS = ("alice", "bob", "carol", "dmitri", "esther", "farid", "grace")
ACTORS = ("alice", "bob", "carol", "victor", "grace")
PURPOSES = ("credit scoring", "churn prediction", "fraud detection", "demand forecasting",
            "claims triage", "marketing response", "collections prioritisation")
ESTIMATORS = {
    "LogisticRegression": lambda rng: {
        "C": round(rng.choice((0.01, 0.1, 0.5, 1.0, 2.0, 10.0)), 3), "penalty": "l2",
        "solver": rng.choice(("lbfgs", "liblinear", "saga")),
        "max_iter": rng.choice((100, 200, 500)), "class_weight": rng.choice((None, "balanced")),
        "fit_intercept": True, "tol": 0.0001, "random_state": rng.randrange(1000)},
    "GradientBoostingClassifier": lambda rng: {
        "n_estimators": rng.choice((100, 200, 400)), "learning_rate": rng.choice((0.03, 0.1)),
        "max_depth": rng.randint(2, 6), "subsample": rng.choice((0.8, 1.0)),
        "min_samples_leaf": rng.choice((1, 5, 20)), "loss": "log_loss",
        "max_features": rng.choice((None, "sqrt")), "random_state": rng.randrange(1000)},
    "RandomForestClassifier": lambda rng: {
        "n_estimators": rng.choice((200, 500)), "max_depth": rng.choice((None, 8, 16)),
        "min_samples_split": rng.choice((2, 10)), "max_features": "sqrt", "bootstrap": True,
        "criterion": rng.choice(("gini", "entropy")), "n_jobs": -1,
        "random_state": rng.randrange(1000)},
}
ENVIRONMENT = {"python": "3.11.7", "platform": "Linux-6.1-x86_64", "scikit-learn": "1.5.2",
               "numpy": "1.26.4", "scipy": "1.13.1", "pandas": "2.2.2", "skops": "0.10.0"}


# -- 1. the workspace -----------------------------------------------------------------------------


def workspace_file(folder: Path, models: int, per_model: int, events: int) -> Path:
    from modelledger.storage.schema import HEAD_REVISION

    return folder / f"startup-{models}m-{models * per_model}v-{events}e-{HEAD_REVISION}.db"


def remove_workspace(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal", ".built.json"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.rmtree(f"{path}.artifacts", ignore_errors=True)


def metrics_for(rng: random.Random, quality: float) -> dict[str, float]:
    auc = min(0.99, quality + rng.uniform(-0.01, 0.01))
    return {"auc": round(auc, 4), "gini": round(2 * auc - 1, 4),
            "accuracy": round(auc - rng.uniform(0.02, 0.06), 4),
            "precision": round(auc - rng.uniform(0.05, 0.15), 4),
            "recall": round(auc - rng.uniform(0.05, 0.2), 4),
            "f1": round(auc - rng.uniform(0.08, 0.16), 4),
            "log_loss": round(1.1 - auc, 4), "brier": round((1 - auc) / 3, 4),
            "ks": round(auc - 0.35 + rng.uniform(-0.02, 0.02), 4),
            "psi_train_vs_oot": round(rng.uniform(0.0, 0.25), 4)}


def build_workspace(path: Path, models: int, per_model: int, events: int) -> dict:
    """Models and versions through the services, then bulk events; returns the build figures."""
    from sqlalchemy import event

    from modelledger.core.domain import Actor, RiskTier, Role, Stage
    from modelledger.services.workspace.opening import Workspace
    from modelledger.storage.audit_log import AuditAppender

    rng = random.Random(20240611)
    started = time.perf_counter()
    workspace = Workspace.open(path, create=True, user="alice")
    # Building only: no fsync per commit (the file is rebuilt if the machine stops meanwhile).
    event.listen(workspace.database.engine, "connect",
                 lambda dbapi_connection, record: dbapi_connection.execute(
                     "PRAGMA synchronous = OFF"))
    workspace.database.engine.dispose()
    registry = workspace.registry
    registry.save_user("alice", "Alice Martin", Role.DEVELOPER, reason="bench set-up")
    registry.save_user("victor", "Victor Okafor", Role.VALIDATOR, reason="bench set-up")
    approver = workspace.as_user("victor").registry
    tiers = list(RiskTier)
    stage_changes = 0
    for index in range(models):
        name = f"{rng.choice(PURPOSES).replace(' ', '-')}-{index:03d}"
        registry.register_model(
            name, owner=OWNERS[index % len(OWNERS)], risk_tier=tiers[index % len(tiers)],
            description=f"Model {index} for {rng.choice(PURPOSES)}; retrained monthly.",
            purpose=rng.choice(PURPOSES), intended_use="Decision support for analysts.",
            tags=["bench", f"team-{index % 5}", rng.choice(("retail", "sme", "corporate"))])
        estimator = rng.choice(list(ESTIMATORS))
        quality = rng.uniform(0.68, 0.85)
        for number in range(1, per_model + 1):
            quality += rng.uniform(-0.004, 0.008)
            registry.add_version(
                name, metrics=metrics_for(rng, quality),
                parameters={"estimator": estimator, **ESTIMATORS[estimator](rng)},
                parent_version=number - 1 if number > 1 else None,
                notes=f"monthly retrain {number}", framework="scikit-learn 1.5.2",
                environment=ENVIRONMENT)
        # Lifecycle: most models have a production version, some replaced it, some archive.
        promotions = [10, 20] if index % 2 == 0 else [10] if index % 4 != 3 else []
        for number in promotions:
            registry.move_to_stage(name, number, Stage.STAGING, "validation passed")
            request = registry.request_promotion(name, number, "ready for production")
            approver.approve_promotion(request.id, "validated; four-eyes approval")
            stage_changes += 2
        if index % 3 == 0 and per_model >= 25:
            registry.move_to_stage(name, per_model, Stage.STAGING, "candidate for next cycle")
            stage_changes += 1
        if index % 5 == 0:
            for number in range(1, min(per_model, 4)):
                registry.move_to_stage(name, number, Stage.ARCHIVED, "superseded")
                stage_changes += 1
    service_time = time.perf_counter() - started
    service_events = workspace.audit.head_seq()

    names = [summary.model.name for summary in registry.list_models()]
    remaining = max(0, events - service_events)
    batch = max(1, -(-remaining // len(ACTORS)))  # a few big transactions, one actor each
    bulk_started = time.perf_counter()
    for number, first in enumerate(range(0, remaining, batch)):
        actor = Actor(ACTORS[number % len(ACTORS)], "analyst-pc")

        def append_batch(conn, first=first, actor=actor) -> None:
            appender = AuditAppender(conn, actor)
            for index in range(first, min(first + batch, remaining)):
                name = names[index % len(names)]
                kind = index % 4
                if kind == 0:
                    before, after = {"description": f"rev {index - 1}"}, {"description":
                                                                         f"rev {index}"}
                elif kind == 1:
                    before, after = {"tags": ["bench"]}, {"tags": ["bench", f"q{index % 8}"]}
                elif kind == 2:
                    before = {"owner": OWNERS[index % 7]}
                    after = {"owner": OWNERS[(index + 1) % 7]}
                else:
                    before, after = {"purpose": PURPOSES[index % 7]}, {
                        "purpose": PURPOSES[(index + 3) % 7]}
                appender.append("model.updated", "model", name, before=before, after=after,
                                reason=f"periodic review {index}")

        workspace.database.write(append_batch)
    bulk_time = time.perf_counter() - bulk_started
    build_time = time.perf_counter() - started

    verify_started = time.perf_counter()
    report = workspace.audit.verify()
    verify_time = time.perf_counter() - verify_started
    counts = {"models": registry.count_models(),
              "versions": sum(s.version_count for s in registry.list_models()),
              "events": workspace.audit.head_seq()}
    workspace.close()
    return {"service_time": service_time, "service_events": service_events,
            "stage_changes": stage_changes, "bulk_events": remaining, "bulk_time": bulk_time,
            "build_time": build_time, "verify_time": verify_time, "intact": report.intact,
            "verify": report.describe(), "counts": counts,
            "built_at": time.strftime("%Y-%m-%d %H:%M:%S")}


def ensure_workspace(folder: Path, models: int, per_model: int, events: int,
                     rebuild: bool) -> tuple[Path, dict, bool]:
    folder.mkdir(parents=True, exist_ok=True)
    path = workspace_file(folder, models, per_model, events)
    marker = Path(f"{path}.built.json")
    if not rebuild and path.exists() and marker.exists():
        return path, json.loads(marker.read_text()), True
    remove_workspace(path)
    built = build_workspace(path, models, per_model, events)
    if built["intact"]:
        marker.write_text(json.dumps(built, indent=1))
    return path, built, False


def print_build(path: Path, built: dict, cached: bool) -> None:
    counts = built["counts"]
    print(f"Workspace: {path}")
    print(f"  {counts['models']} models, {counts['versions']:,} versions, "
          f"{counts['events']:,} audit events"
          + (f" (cached, built {built['built_at']}; --rebuild to build again)" if cached else ""))
    print(f"  build took {built['build_time']:.1f} s: services {built['service_time']:.1f} s "
          f"({built['service_events']:,} events, {built['stage_changes']} stage moves and "
          f"promotions), bulk append of {built['bulk_events']:,} events "
          f"{built['bulk_time']:.1f} s")
    print(f"  audit verify after building: {built['verify']} ({built['verify_time']:.2f} s)")


# -- 2. start-up runs -----------------------------------------------------------------------------


def run_probe(workspace: Path, *, extra_python: tuple[str, ...] = (),
              probe_args: tuple[str, ...] = (), timeout: float = 120.0) -> dict:
    with tempfile.TemporaryDirectory(prefix="modelledger-startup-") as scratch:
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("PYTHON", "MODELLEDGER_", "QT_"))}
        env.update(QT_QPA_PLATFORM="offscreen", MODELLEDGER_CONFIG_DIR=f"{scratch}/config",
                   MODELLEDGER_LOG_DIR=f"{scratch}/logs")
        # The workspace's people sign with the benchmark's keys (benchmarks/scratch_keys.py).
        env.update({key: os.environ[key] for key in (
            "MODELLEDGER_DATA_DIR", "MODELLEDGER_KEYRING", "MODELLEDGER_PASSPHRASE")})
        command = [sys.executable, *extra_python, str(PROBE), str(workspace), *probe_args]
        started = time.monotonic()  # the same clock as the probe's marks
        result = subprocess.run(command, capture_output=True, text=True, env=env,
                                timeout=timeout, cwd=scratch)
        wall = time.monotonic() - started
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"the probe printed no result (exit {result.returncode}):\n"
                           f"{result.stderr[-3000:]}")
    outcome = json.loads(lines[-1])
    outcome["elapsed"] = {name: stamp - started for name, stamp in outcome["marks"].items()}
    outcome["wall"] = wall
    outcome["stderr"] = result.stderr
    if not outcome["ok"]:
        raise RuntimeError(f"the probe failed: {outcome['reason']}\n{result.stderr[-3000:]}")
    return outcome


def seconds(value: float | None) -> str:
    return "  -  " if value is None else f"{value:5.3f}"


def print_runs(runs: list[dict], warmup: dict) -> float:
    totals = [run["elapsed"]["inventory_painted"] for run in runs]
    median = statistics.median(totals)
    verdict = "met" if median < GOAL_SECONDS else "NOT met"
    print(f"Start-up, process start to first page of models shown ({len(runs)} runs after one "
          f"warm-up run of {warmup['elapsed']['inventory_painted']:.3f} s):")
    print(f"  median {median:.3f} s, min {min(totals):.3f} s, max {max(totals):.3f} s "
          f"(goal < {GOAL_SECONDS} s: {verdict})")
    print("  marks, seconds after the parent's clock reading just before starting the process "
          "(median / min / max):")
    for name, label in MARKS:
        values = [run["elapsed"][name] for run in runs if name in run["elapsed"]]
        if not values:
            continue
        note = "" if len(values) == len(runs) else f"  (in {len(values)} of {len(runs)} runs)"
        print(f"    {label:<56} {seconds(statistics.median(values))} / "
              f"{seconds(min(values))} / {seconds(max(values))}{note}")
    steps = []
    previous = None
    for name, label in MARKS:
        if name in ("process_created", "chain_verified", "window_painted"):
            continue
        values = [run["elapsed"][name] for run in runs if name in run["elapsed"]]
        if len(values) != len(runs):
            continue
        value = statistics.median(values)
        steps.append((label.split(" (")[0], value - (previous or 0.0)))
        previous = value
    print("  where the median time goes: " + "; ".join(
        f"{label} +{step * 1000:.0f} ms" for label, step in steps))
    print(f"  the first page showed: {runs[0]['notes'][0] if runs[0]['notes'] else '?'}")
    return median


# -- 3. what dominated ----------------------------------------------------------------------------


IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)\s*$")


def parse_importtime(stderr: str) -> list[tuple[int, int, int, str]]:
    """(self us, cumulative us, nesting level, module) in the order Python printed them."""
    rows = []
    for line in stderr.splitlines():
        match = IMPORT_LINE.match(line)
        if match:
            self_us, cumulative_us, indent, name = match.groups()
            rows.append((int(self_us), int(cumulative_us), (len(indent) - 1) // 2, name))
    return rows


def import_chain(rows: list[tuple[int, int, int, str]], position: int) -> list[str]:
    """The module at ``position`` and who imported it, up to the top level.

    Python prints a module when its import finishes, so its importer is the next line below
    with a smaller nesting level.
    """
    chain = [rows[position][3]]
    level = rows[position][2]
    for _, _, other_level, name in rows[position + 1:]:
        if other_level < level:
            chain.append(name)
            level = other_level
            if level == 0:
                break
    return list(reversed(chain))


def print_importtime(outcome: dict, top: int) -> None:
    rows = parse_importtime(outcome["stderr"])
    if not rows:
        print("  (no -X importtime output)")
        return
    total = sum(row[0] for row in rows)
    print(f"Imports, one run with -X importtime ({len(rows)} modules, {total / 1e6:.2f} s of "
          f"import time in all, inflated a little by the measuring; the run took "
          f"{outcome['elapsed']['inventory_painted']:.2f} s):")
    top_level = sorted((row for row in rows if row[2] == 0), key=lambda row: -row[1])
    print(f"  top-level imports by cumulative time (top {top}):")
    for _, cumulative_us, _, name in top_level[:top]:
        print(f"    {cumulative_us / 1000:7.1f} ms  {name}")
    packages: dict[str, int] = {}
    for self_us, _, _, name in rows:
        root = name.split(".")[0]
        packages[root] = packages.get(root, 0) + self_us
    print(f"  by package (self time summed over its modules, top {top}):")
    for root, self_us in sorted(packages.items(), key=lambda item: -item[1])[:top]:
        print(f"    {self_us / 1000:7.1f} ms  {root}")
    nested = sorted((row for row in rows if row[3].startswith("modelledger")),
                    key=lambda row: -row[1])
    print("  modelledger modules by cumulative time (top 8):")
    for _, cumulative_us, _, name in nested[:8]:
        print(f"    {cumulative_us / 1000:7.1f} ms  {name}")


# Imported at start-up although a local SQLite workspace does not need them (as of writing).
NOTABLE_IMPORTS = (
    ("sqlalchemy.dialects.postgresql", "the PostgreSQL dialect"),
    ("asyncio", "asyncio"),
    ("importlib.metadata", "importlib.metadata"),
    ("platformdirs", "platformdirs"),
    ("alembic", "Alembic"),
    ("psycopg", "psycopg"),
)


def print_notable(outcome: dict) -> None:
    rows = parse_importtime(outcome["stderr"])
    found = []
    for module, label in NOTABLE_IMPORTS:
        positions = [index for index, row in enumerate(rows) if row[3] == module]
        if positions:
            cumulative = rows[positions[0]][1] / 1000
            chain = " -> ".join(import_chain(rows, positions[0]))
            found.append(f"    {label} ({cumulative:.0f} ms cumulative): {chain}")
    if found:
        print("  imported at start-up, and by whom:")
        print("\n".join(found))


def print_heavy(outcome: dict) -> None:
    loaded = outcome["modules_loaded"]
    forbidden = [name for name in FORBIDDEN_AT_STARTUP if loaded.get(name)]
    others = [name for name, is_loaded in loaded.items()
              if is_loaded and name not in FORBIDDEN_AT_STARTUP]
    print(f"Heavy packages in sys.modules when the inventory was shown: "
          f"{', '.join(forbidden) if forbidden else 'none of ' + ', '.join(FORBIDDEN_AT_STARTUP)}"
          f"; also loaded: {', '.join(others) or 'none'} ({outcome['module_count']} modules in "
          f"all)")
    rows = parse_importtime(outcome["stderr"])
    for name in forbidden + others:
        positions = [index for index, row in enumerate(rows) if row[3] == name]
        if positions:
            print(f"  {name} imported through: {' -> '.join(import_chain(rows, positions[0]))}")
        stack = outcome["heavy_import_stacks"].get(name)
        if stack:
            ours = [frame for frame in stack if "modelledger" in frame or "benchmarks" in frame]
            print(f"  {name} first imported from: {' <- '.join(reversed(ours[-4:] or stack[-4:]))}")


def print_pages(runs: list[dict]) -> None:
    names = [name for name in runs[0]["page_build"] if all(name in r["page_build"] for r in runs)]
    print("  page constructors on the GUI thread (median): " + ", ".join(
        f"{name} {statistics.median(r['page_build'][name] for r in runs) * 1000:.0f} ms"
        for name in names))


def print_chain_comparison(with_check: list[dict], without_check: list[dict]) -> None:
    def medians(runs: list[dict]) -> tuple[float, float]:
        return (statistics.median(r["elapsed"]["inventory_painted"] for r in runs),
                statistics.median(r["elapsed"]["inventory_loaded"]
                                  - r["elapsed"]["workspace_ready"] for r in runs))

    total_with, load_with = medians(with_check)
    total_without, load_without = medians(without_check)
    print(f"The status bar's audit-chain check runs on a read worker while the first page loads; "
          f"without it ({len(without_check)} runs, interleaved with the timed ones): median "
          f"{total_without:.3f} s instead of {total_with:.3f} s; workspace open -> first page "
          f"loaded {load_without * 1000:.0f} ms instead of {load_with * 1000:.0f} ms")


def load_average() -> str:
    try:
        return "/".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="timed start-ups (default 5)")
    parser.add_argument("--runs-without-chain-check", type=int, default=3, metavar="N",
                        help="start-ups without the status bar's audit-chain check, to compare "
                        "(default 3; 0 to skip)")
    parser.add_argument("--folder", type=Path,
                        default=Path(tempfile.gettempdir()) / "modelledger-startup-bench",
                        help="where the workspace is built and kept (default: %(default)s)")
    parser.add_argument("--rebuild", action="store_true", help="build the workspace again")
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--versions-per-model", type=int, default=25)
    parser.add_argument("--events", type=int, default=100_000,
                        help="audit events in all (default 100000)")
    parser.add_argument("--top", type=int, default=12, help="imports to list (default 12)")
    parser.add_argument("--no-importtime", action="store_true",
                        help="skip the -X importtime run")
    args = parser.parse_args()
    use_scratch_keys(args.folder / "keys")  # kept with the workspace, which is reused

    path, built, cached = ensure_workspace(args.folder, args.models, args.versions_per_model,
                                           args.events, args.rebuild)
    print_build(path, built, cached)
    if not built["intact"]:
        print("The audit chain of the built workspace is broken: not measuring.")
        return 1

    load_before = load_average()
    warmup = run_probe(path)
    runs: list[dict] = []
    without_check: list[dict] = []
    for index in range(max(args.runs, args.runs_without_chain_check)):
        if index < args.runs:
            runs.append(run_probe(path))
        if index < args.runs_without_chain_check:
            without_check.append(run_probe(path, probe_args=("--skip-chain-check",)))
    print_runs(runs, warmup)
    print_pages(runs)
    if without_check:
        print_chain_comparison(runs, without_check)
    diagnostic = None
    if not args.no_importtime:
        diagnostic = run_probe(path, extra_python=("-X", "importtime"),
                               probe_args=("--trace-heavy", "--until-chain"))
        chain = diagnostic["elapsed"].get("chain_verified")
        opened = diagnostic["elapsed"].get("workspace_ready")
        if chain is not None and opened is not None:
            print(f"Audit-chain check in the status bar (diagnostic run): done "
                  f"{chain - opened:.2f} s after the workspace opened "
                  f"({diagnostic['notes'][-1] if diagnostic['notes'] else ''})")
        print_importtime(diagnostic, args.top)
        print_notable(diagnostic)
    print_heavy(diagnostic or runs[-1])
    print(f"Machine: {os.cpu_count()} CPUs, load average (1/5/15 min) {load_before} before the "
          f"runs, {load_average()} after: other work on the machine widens the spread.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
