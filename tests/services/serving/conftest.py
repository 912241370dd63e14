"""A workspace with a model to serve, and a real scoring server in a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import skops.io
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from modelledger.core.domain import Stage
from modelledger.services.workspace.opening import Workspace
from tests.conftest import wait_until

MODEL = "cancer"


def cancer_frame():
    data = load_breast_cancer(as_frame=True)
    features = data.data
    features.columns = [name.replace(" ", "_") for name in features.columns]
    return features, data.target


def add_version(ws: Workspace, estimator, folder: Path, name: str) -> int:
    features, target = cancer_frame()
    estimator.fit(features, target)
    path = folder / f"{name}.skops"
    skops.io.dump(estimator, path)
    version = ws.registry.add_version(MODEL, model_file=path, training_frame=features)
    return version.version_number


def promote(ws: Workspace, number: int) -> None:
    if ws.registry.get_version(MODEL, number).stage is not Stage.STAGING:
        ws.registry.move_to_stage(MODEL, number, Stage.STAGING, "candidate")
    request = ws.registry.request_promotion(MODEL, number, "better")
    ws.registry.approve_promotion(request.id, "checked")


@pytest.fixture
def serving_workspace(workspace_path, tmp_path):
    """cancer v1 (a scaled logistic regression) in production, v2 (a tree) in staging."""
    ws = Workspace.open(workspace_path, create=True, user="alice")
    ws.registry.set_four_eyes_required(False, "a team of one in tests")
    ws.registry.register_model(MODEL)
    first = add_version(ws, make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
                        tmp_path, "v1")
    promote(ws, first)
    second = add_version(ws, DecisionTreeClassifier(max_depth=2, random_state=0), tmp_path, "v2")
    ws.registry.move_to_stage(MODEL, second, Stage.STAGING, "challenger")
    yield ws
    ws.close()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class RunningServer:
    def __init__(self, process: subprocess.Popen, base_url: str) -> None:
        self.process = process
        self.base_url = base_url

    def client(self, **options) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=10, **options)


def start_server(workspace_path: Path, *args: str, host: str = "127.0.0.1",
                 headers: dict | None = None) -> RunningServer:
    port = free_port(host)
    process = subprocess.Popen(
        [sys.executable, "-m", "modelledger", "-w", str(workspace_path), "serve", *args,
         "--host", host, "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    server = RunningServer(process, f"http://{host}:{port}")

    def answering():
        if process.poll() is not None:
            raise AssertionError(f"the server exited: {process.stderr.read()}")
        try:
            return httpx.get(f"{server.base_url}/ping", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(answering, 60, "the scoring server to answer /ping")
    except BaseException:
        stop_server(server)
        raise
    return server


def stop_server(server: RunningServer) -> str:
    server.process.terminate()
    try:
        _, stderr = server.process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        _, stderr = server.process.communicate()
    return stderr


@pytest.fixture
def server(serving_workspace, workspace_path):
    running = start_server(workspace_path, MODEL)
    yield running
    stop_server(running)
