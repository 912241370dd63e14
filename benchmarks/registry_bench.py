"""Registry benchmark: prints figures, asserts nothing.

    .venv/bin/python benchmarks/registry_bench.py [--versions 1000] [--events 100000]

1. Register one model with N versions (parameters, metrics, audit event each), timing every
   write, and compare the first and last hundred writes: the cost of a write must not grow
   with the number of versions.
2. List the N versions and search the inventory.
3. Verify an audit chain of E events.
4. The same registration with MLflow 3.x on SQLite, the peer named in the issue, if
   benchmarks/setup_peer.sh has installed it in .venv-peer; the ratio is printed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scratch_keys import use_scratch_keys

ROOT = Path(__file__).resolve().parents[1]
PEER_PYTHON = ROOT / ".venv-peer" / "bin" / "python"

PEER_SCRIPT = r"""
import json, sys, time, logging
logging.disable(logging.WARNING)
import mlflow
from mlflow import MlflowClient
folder, count = sys.argv[1], int(sys.argv[2])
uri = f"sqlite:///{folder}/mlflow.db"
mlflow.set_tracking_uri(uri); mlflow.set_registry_uri(uri)
client = MlflowClient()
client.create_registered_model("bench-model")
times = []
start = time.perf_counter()
for index in range(count):
    t = time.perf_counter()
    client.create_model_version("bench-model", source=f"{folder}/artifact-{index}",
                                tags={"auc": str(0.7 + index / 1e5), "C": "1.0"},
                                description=f"version {index}")
    times.append(time.perf_counter() - t)
total = time.perf_counter() - start
t = time.perf_counter()
found = client.search_model_versions("name='bench-model'", max_results=count + 10)
listing = time.perf_counter() - t
print(json.dumps({"total": total, "times": times, "list": listing, "found": len(found),
                  "version": mlflow.__version__}))
"""


def bench_modelledger(folder: Path, versions: int) -> dict:
    from modelledger.core.domain import InventoryFilter
    from modelledger.services.workspace.opening import Workspace

    started = time.perf_counter()
    workspace = Workspace.open(folder / "bench.db", create=True, user="bench")
    open_time = time.perf_counter() - started
    registry = workspace.registry
    for index in range(199):
        registry.register_model(f"other-model-{index:03d}", owner=f"owner{index % 7}",
                                tags=["bench", f"group{index % 5}"])
    registry.register_model("bench-model", owner="bench", tags=["bench"])
    times = []
    start = time.perf_counter()
    for index in range(versions):
        t = time.perf_counter()
        registry.add_version("bench-model", metrics={"auc": 0.7 + index / 1e5},
                             parameters={"C": 1.0, "max_iter": 200}, notes=f"version {index}")
        times.append(time.perf_counter() - t)
    total = time.perf_counter() - start
    t = time.perf_counter()
    listed = registry.list_versions("bench-model")
    list_time = time.perf_counter() - t
    t = time.perf_counter()
    page = registry.list_versions("bench-model", limit=50)
    page_time = time.perf_counter() - t
    t = time.perf_counter()
    found = registry.list_models(InventoryFilter(search="group3"))
    search_time = time.perf_counter() - t
    workspace.close()
    assert len(listed) == versions and len(page) == 50 and len(found) == 40
    return {"open": open_time, "total": total, "times": times, "list": list_time,
            "page": page_time, "search": search_time}


def bench_verify(folder: Path, events: int) -> dict:
    from modelledger.core.domain import Actor
    from modelledger.services.workspace.opening import Workspace
    from modelledger.storage.audit_log import AuditAppender
    from modelledger.storage.database import Database

    # Events appended straight to the log, unsigned: a log from before signed identity, as
    # this benchmark measured it before (identity_bench.py measures signed verification).
    workspace = Workspace(Database.open(folder / "audit.db", create=True), user="bench")
    actor = Actor("bench", "bench-host")
    batch = 10_000
    start = time.perf_counter()
    for first in range(0, events, batch):
        def append_batch(conn, first=first):
            appender = AuditAppender(conn, actor)
            for index in range(first, min(first + batch, events)):
                appender.append("version.created", "version", f"m/v{index}",
                                after={"version": index, "metrics": {"auc": 0.8}},
                                reason="benchmark")

        workspace.database.write(append_batch)
    append_time = time.perf_counter() - start
    start = time.perf_counter()
    report = workspace.audit.verify()
    verify_time = time.perf_counter() - start
    workspace.close()
    assert report.intact and report.events_checked == events
    return {"append": append_time, "verify": verify_time}


def bench_peer(folder: Path, versions: int) -> dict | None:
    if not PEER_PYTHON.exists():
        return None
    result = subprocess.run([str(PEER_PYTHON), "-c", PEER_SCRIPT, str(folder), str(versions)],
                            capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        print(f"peer failed: {result.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def growth(times: list[float]) -> tuple[float, float]:
    first = statistics.median(times[:100]) * 1000
    last = statistics.median(times[-100:]) * 1000
    return first, last


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        use_scratch_keys(folder)
        ours = bench_modelledger(folder, args.versions)
        first, last = growth(ours["times"])
        print(f"ModelLedger: register 1 model with {args.versions} versions: "
              f"{ours['total']:.2f} s ({ours['total'] / args.versions * 1000:.2f} ms/version)")
        print(f"  median write, first 100: {first:.2f} ms; last 100: {last:.2f} ms "
              f"(growth x{last / first:.2f})")
        print(f"  list all {args.versions} versions: {ours['list'] * 1000:.1f} ms; first page of "
              f"50: {ours['page'] * 1000:.1f} ms; search 200 models: "
              f"{ours['search'] * 1000:.1f} ms")
        audit = bench_verify(folder, args.events)
        print(f"ModelLedger: audit verify of {args.events} events: {audit['verify']:.2f} s "
              f"({args.events / audit['verify']:,.0f} events/s; appending them took "
              f"{audit['append']:.2f} s)")
        peer = bench_peer(folder, args.versions)
        if peer is None:
            print("Peer not measured: run benchmarks/setup_peer.sh to install MLflow in "
                  ".venv-peer, then run this again.")
            return 0
        peer_first, peer_last = growth(peer["times"])
        print(f"MLflow {peer['version']} (SQLite): register 1 model with {args.versions} "
              f"versions: {peer['total']:.2f} s; median write first 100: {peer_first:.2f} ms, "
              f"last 100: {peer_last:.2f} ms (growth x{peer_last / peer_first:.2f}); "
              f"search versions: {peer['list'] * 1000:.1f} ms")
        print(f"Ratio MLflow / ModelLedger, registration: x{peer['total'] / ours['total']:.1f}; "
              f"listing: x{peer['list'] / ours['list']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
