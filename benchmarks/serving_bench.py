"""Serving benchmark: `modelledger serve` against `mlflow models serve`, and `modelledger score`
against plain pandas, on the demo's breast-cancer pipeline (StandardScaler + LogisticRegression).

    .venv/bin/python benchmarks/serving_bench.py [--seconds 5] [--rows 10000000]
                                                [--skip-mlflow] [--skip-batch]

1. A workspace in a temporary folder with the pipeline as cancer v1 in production; our server
   in its own process (`modelledger serve cancer`, one process).
2. MLflow 3.17.2 in its own virtual environment (benchmarks/.venv-mlflow, created here with
   ``python -m venv`` and pip if missing): the same pipeline fitted on the same data there,
   saved with ``mlflow.sklearn.save_model`` and a signature, served by ``mlflow models serve
   --env-manager local -w 1``.
3. One load generator for both (here, in this process: asyncio over keep-alive connections,
   each sending a prepared request and reading the answer, so the client costs little): for a
   1-row and a 100-row ``dataframe_split`` body, at concurrency 1 and 16, ``--seconds`` each
   after a one-second warm-up; requests per second, p50 and p99 latency, failed requests.
4. Batch: ``--rows`` rows (breast-cancer rows with noise, 30 float64 columns) written once to
   Parquet; `modelledger score` (prediction and both class probabilities) against pandas
   ``read_parquet`` + ``predict`` + ``to_parquet`` (prediction only), each in a fresh process:
   wall time and peak RSS (ru_maxrss, read by a small wrapper process).

Goals (issue 20): 10x MLflow's 1-row throughput, p99 under 5 ms for one row at concurrency 1
and under 50 ms at 16; batch no slower than pandas and under 1 GiB. Prints figures, asserts
nothing. The machine has 2 cores: the load generator takes one, the server the other.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MLFLOW_VENV = ROOT / "benchmarks" / ".venv-mlflow"
MLFLOW_REQUIREMENTS = ("mlflow==3.17.2", "scikit-learn", "pandas", "pyarrow")
MODEL = "cancer"
SEED = 20261207

FIT_SNIPPET = """
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

data = load_breast_cancer(as_frame=True)
features = data.data
features.columns = [name.replace(" ", "_") for name in features.columns]
pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000))
pipeline.fit(features, data.target)
"""


def _fitted():
    scope: dict = {}
    exec(FIT_SNIPPET, scope)
    return scope["pipeline"], scope["features"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_ping(port: int, process: subprocess.Popen, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited: {process.stderr.read()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer /ping within {timeout} s")


def _stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


# -- our side -------------------------------------------------------------------------------------

def make_workspace(folder: Path) -> Path:
    import skops.io

    from modelledger.core.domain import Stage
    from modelledger.services.workspace.opening import Workspace

    pipeline, features = _fitted()
    model_file = folder / "cancer.skops"
    skops.io.dump(pipeline, model_file)
    path = folder / "bench.db"
    workspace = Workspace.open(path, create=True, user="bench")
    try:
        registry = workspace.registry
        registry.set_four_eyes_required(False, "benchmark")
        registry.register_model(MODEL)
        registry.add_version(MODEL, model_file=model_file, training_frame=features)
        registry.move_to_stage(MODEL, 1, Stage.STAGING, "benchmark")
        request = registry.request_promotion(MODEL, 1, "benchmark")
        registry.approve_promotion(request.id, "benchmark")
    finally:
        workspace.close()
    return path


def start_ours(workspace: Path) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "modelledger", "-w", str(workspace), "serve", MODEL, "--port",
         str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    _wait_for_ping(port, process, "modelledger serve", 60)
    return process, port


# -- MLflow's side --------------------------------------------------------------------------------

def mlflow_python() -> Path | None:
    """The MLflow venv's interpreter, created and filled if missing; None if that fails."""
    python = MLFLOW_VENV / "bin" / "python"
    wanted = MLFLOW_REQUIREMENTS[0].split("==")[1]
    probe = [str(python), "-c", f"import mlflow; assert mlflow.__version__ == '{wanted}'"]
    if python.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return python
    print(f"Setting up {MLFLOW_VENV.relative_to(ROOT)} ({', '.join(MLFLOW_REQUIREMENTS)}) ...",
          flush=True)
    steps = ([sys.executable, "-m", "venv", str(MLFLOW_VENV)],
             [str(python), "-m", "pip", "install", "--quiet", *MLFLOW_REQUIREMENTS])
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print("!! Could not install MLflow (no network?); only our figures follow. "
                  f"`{' '.join(step)}` said:\n{(done.stderr or done.stdout)[-2000:]}")
            return None
    if subprocess.run(probe, capture_output=True, check=False).returncode != 0:
        print("!! MLflow was installed but does not import; only our figures follow.")
        return None
    return python


def start_mlflow(python: Path, folder: Path) -> tuple[subprocess.Popen, int]:
    model_path = folder / "mlflow-model"
    save = FIT_SNIPPET + textwrap.dedent(f"""
        import mlflow.sklearn
        from mlflow.models import infer_signature
        signature = infer_signature(features, pipeline.predict(features))
        mlflow.sklearn.save_model(pipeline, {str(model_path)!r}, signature=signature)
        """)
    subprocess.run([str(python), "-c", save], check=True, capture_output=True)
    port = _free_port()
    # mlflow starts `uvicorn` by name: the venv's must come first on PATH.
    environment = {**os.environ, "MLFLOW_TRACKING_URI": f"file://{folder / 'mlruns'}",
                   "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    process = subprocess.Popen(
        [str(python.parent / "mlflow"), "models", "serve", "-m", str(model_path), "-p", str(port),
         "--host", "127.0.0.1", "--env-manager", "local", "-w", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=environment,
        start_new_session=True)
    _wait_for_ping(port, process, "mlflow models serve", 180)
    return process, port


# -- the load generator ---------------------------------------------------------------------------

def _request(port: int, rows: int) -> bytes:
    _, features = _fitted()
    sample = features.iloc[:rows]
    body = json.dumps({"dataframe_split": {"columns": list(sample.columns),
                                           "data": sample.to_numpy().tolist()}}).encode()
    head = (f"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


async def _one_connection(port: int, request: bytes, measure_from: float, until: float,
                          latencies: list[float], failures: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            started = time.perf_counter()
            if started >= until:
                return
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            lowered = head.lower()
            at = lowered.index(b"content-length:") + 15
            length = int(lowered[at:lowered.index(b"\r\n", at)])
            await reader.readexactly(length)
            if started >= measure_from:
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    failures.append(status)
    finally:
        writer.close()


def load(port: int, rows: int, concurrency: int, seconds: float) -> dict:
    request = _request(port, rows)
    latencies: list[float] = []
    failures: list[int] = []

    async def run() -> None:
        measure_from = time.perf_counter() + 1.0
        until = measure_from + seconds
        await asyncio.gather(*(_one_connection(port, request, measure_from, until, latencies,
                                               failures) for _ in range(concurrency)))

    try:
        import uvloop

        uvloop.run(run())
    except ImportError:
        asyncio.run(run())
    values = np.array(latencies) * 1000
    return {"rps": len(latencies) / seconds, "p50": float(np.percentile(values, 50)),
            "p99": float(np.percentile(values, 99)), "failed": len(failures)}


# -- batch ----------------------------------------------------------------------------------------

def write_rows(path: Path, rows: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    _, features = _fitted()
    base = features.to_numpy()
    spread = base.std(axis=0) * 0.05
    rng = np.random.default_rng(SEED)
    writer = None
    for start in range(0, rows, 1_000_000):
        count = min(1_000_000, rows - start)
        picked = base[rng.integers(0, len(base), count)] + rng.normal(0, 1, (count,
                                                                            base.shape[1])) * spread
        table = pa.table({name: picked[:, index] for index, name in enumerate(features.columns)})
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=262_144)
    writer.close()


PANDAS_SCORE = """
import sys, pandas as pd, skops.io
model_file, source, target = sys.argv[1:4]
model = skops.io.load(model_file, trusted=skops.io.get_untrusted_types(file=model_file))
frame = pd.read_parquet(source)
pd.DataFrame({"prediction": model.predict(frame)}).to_parquet(target)
"""


# Peak memory is read by a small wrapper process: a child forked from this (large) process
# would report this process's resident size as its own peak.
MEASURED_RUN = """
import resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
elapsed = time.perf_counter() - started
if done.returncode != 0:
    sys.exit(done.stderr[-2000:])
print(elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
"""


def _timed(command: list[str]) -> tuple[float, int]:
    done = subprocess.run([sys.executable, "-c", MEASURED_RUN, *command], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{command[:4]} failed: {done.stderr}")
    elapsed, peak = done.stdout.split()
    return float(elapsed), int(peak)


def batch(folder: Path, workspace: Path, rows: int) -> dict:
    source = folder / "rows.parquet"
    print(f"Writing {rows:,} rows to Parquet ...", flush=True)
    write_rows(source, rows)
    size = source.stat().st_size
    ours = _timed([sys.executable, "-m", "modelledger", "-w", str(workspace), "score", MODEL,
                   "--input", str(source), "--output", str(folder / "ours.parquet")])
    pandas = _timed([sys.executable, "-c", PANDAS_SCORE, str(folder / "cancer.skops"),
                     str(source), str(folder / "pandas.parquet")])
    return {"rows": rows, "file_bytes": size, "ours": ours, "pandas": pandas}


# -- report ---------------------------------------------------------------------------------------

CONFIGURATIONS = [(1, 1), (100, 1), (1, 16), (100, 16)]


def _line(label: str, figures: dict) -> str:
    return (f"  {label:<28} {figures['rps']:>9.0f} req/s   p50 {figures['p50']:>7.2f} ms   "
            f"p99 {figures['p99']:>7.2f} ms   failed {figures['failed']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--skip-batch", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    for variable, sub in (("MODELLEDGER_DATA_DIR", "data"), ("MODELLEDGER_CONFIG_DIR", "config"),
                          ("MODELLEDGER_LOG_DIR", "logs")):
        os.environ[variable] = str(folder / sub)
    os.environ.update(MODELLEDGER_KEYRING="off", MODELLEDGER_PASSPHRASE="benchmark",
                      MODELLEDGER_USER="bench")
    try:
        workspace = make_workspace(folder)
        results: dict[str, dict] = {}
        servers = [("ModelLedger", lambda: start_ours(workspace))]
        python = None if args.skip_mlflow else mlflow_python()
        if python is not None:
            servers.append(("MLflow 3.17.2", lambda: start_mlflow(python, folder)))
        for name, start in servers:
            process, port = start()
            try:
                for rows, concurrency in CONFIGURATIONS:
                    key = f"{name}|{rows}|{concurrency}"
                    results[key] = load(port, rows, concurrency, args.seconds)
                    print(_line(f"{name}, {rows} row(s), c={concurrency}", results[key]),
                          flush=True)
            finally:
                _stop(process)
        print("\nServing (dataframe_split, one server process each):")
        for rows, concurrency in CONFIGURATIONS:
            ours = results[f"ModelLedger|{rows}|{concurrency}"]
            theirs = results.get(f"MLflow 3.17.2|{rows}|{concurrency}")
            ratio = (f"   {ours['rps'] / theirs['rps']:.1f}x MLflow's throughput, p99 "
                     f"{theirs['p99'] / ours['p99']:.1f}x lower") if theirs else ""
            print(f"  {rows:>3} row(s), concurrency {concurrency:>2}: ours {ours['rps']:.0f} "
                  f"req/s p50 {ours['p50']:.2f} ms p99 {ours['p99']:.2f} ms{ratio}")
        if not args.skip_batch:
            figures = batch(folder, workspace, args.rows)
            (ours_time, ours_peak), (pandas_time, pandas_peak) = figures["ours"], figures["pandas"]
            gib = 1024 ** 3
            print(f"\nBatch, {figures['rows']:,} rows Parquet -> Parquet "
                  f"({figures['file_bytes'] / gib:.2f} GiB in):")
            print(f"  modelledger score: {ours_time:6.1f} s, peak {ours_peak / gib:.2f} GiB "
                  "(prediction + 2 probabilities + version + time)")
            print(f"  pandas:            {pandas_time:6.1f} s, peak {pandas_peak / gib:.2f} GiB "
                  "(prediction only)")
            print(f"  ratio: {pandas_time / ours_time:.2f}x pandas' speed, "
                  f"{pandas_peak / ours_peak:.1f}x less memory")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
