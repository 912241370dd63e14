"""Four real processes writing to one SQLite file at the same time."""

import subprocess
import sys
from pathlib import Path

import pytest

from modelledger.core.domain import Role
from modelledger.services.workspace.opening import Workspace
from tests.conftest import person

WRITER = Path(__file__).with_name("concurrent_writer.py")
WORKERS, MODELS = 4, 12
EVENTS_PER_MODEL = 1 + 3 + 1 + 1  # register, 3 versions, edit, stage


@pytest.mark.slow
@pytest.mark.parametrize("shared_file", [False, True], ids=["wal", "rollback-journal"])
def test_four_processes_lose_nothing_and_keep_one_chain(workspace_path, monkeypatch, shared_file):
    if shared_file:
        monkeypatch.setenv("MODELLEDGER_ASSUME_NETWORK_SHARE", "1")
    admin = Workspace.open(workspace_path, create=True)
    for worker in range(WORKERS):  # each with their key on this (test) workstation
        person(admin, f"writer{worker}", Role.OWNER)
    admin.close()
    go = workspace_path.with_name("go")
    processes = [
        subprocess.Popen([sys.executable, str(WRITER), str(workspace_path), str(worker),
                          str(MODELS), str(go)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
        for worker in range(WORKERS)
    ]
    go.touch()
    results = [process.communicate(timeout=300) for process in processes]
    for process, (out, err) in zip(processes, results, strict=True):
        assert process.returncode == 0, err
        assert err.strip() == "", err
        assert len(out.split()) == MODELS
    workspace = Workspace.open(workspace_path)
    try:
        assert workspace.registry.count_models() == WORKERS * MODELS
        summaries = workspace.registry.list_models()
        assert all(s.version_count == 3 for s in summaries)
        report = workspace.audit.verify()
        assert report.intact, report.describe()
        # The creator's user record and the bootstrap of signed identity, then each writer's
        # enrolment and its approval.
        identity_events = 2 + 2 * WORKERS
        assert report.events_checked == WORKERS * MODELS * EVENTS_PER_MODEL + identity_events
        _, decisions = workspace.audit.verify_with_signatures()
        assert decisions.valid, decisions.describe()
    finally:
        workspace.close()
