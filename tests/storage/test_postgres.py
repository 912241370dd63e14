"""The same registry code on a real PostgreSQL server (started by the test session)."""

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from modelledger.core.domain import InventoryFilter, Role, Stage
from modelledger.core.errors import FourEyesError, NewerSchemaError, NotFoundError
from modelledger.services.identity import keystore
from modelledger.services.workspace.opening import Workspace
from modelledger.storage.database import SharingMode
from tests.conftest import person

pytestmark = pytest.mark.postgres
WRITER = Path(__file__).parents[1] / "services" / "concurrent_writer.py"


@pytest.fixture
def pg_workspace(postgres_url, tmp_path):
    ws = Workspace.open(postgres_url, create=True, user="alice",
                        artifact_root=tmp_path / "artifacts")
    yield ws
    ws.close()


def test_lifecycle_and_chain_on_postgresql(pg_workspace):
    ws = pg_workspace
    assert ws.database.sharing_mode is SharingMode.POSTGRESQL
    ws.registry.register_model("credit-risk", tags=["credit"])
    ws.registry.add_version("credit-risk", metrics={"auc": 0.8})
    ws.registry.add_version("credit-risk", metrics={"auc": 0.82})
    for number in (1, 2):
        ws.registry.move_to_stage("credit-risk", number, Stage.STAGING, "ready")
    bob = person(ws, "bob", Role.VALIDATOR).registry
    for number in (1, 2):
        request = ws.registry.request_promotion("credit-risk", number, "ready")
        with pytest.raises(FourEyesError):
            ws.registry.approve_promotion(request.id, "self")
        bob.approve_promotion(request.id, "ok")
    ws.registry.rollback("credit-risk", 1, "v2 regressed")
    stages = {v.version_number: v.stage for v in ws.registry.list_versions("credit-risk")}
    assert stages == {1: Stage.PRODUCTION, 2: Stage.ARCHIVED}
    found = ws.registry.list_models(InventoryFilter(search="CREDIT"))
    assert [s.model.name for s in found] == ["credit-risk"]
    report = ws.audit.verify()
    assert report.intact and report.events_checked > 10


def test_audit_rows_cannot_be_changed_on_postgresql(pg_workspace):
    pg_workspace.registry.register_model("m")
    with pg_workspace.database.engine.connect() as conn:
        for statement in ("UPDATE audit_events SET reason = 'x'", "DELETE FROM audit_events",
                          "TRUNCATE audit_events"):
            with pytest.raises(Exception, match="append-only"):
                conn.execute(text(statement))
            conn.rollback()


def test_postgresql_database_without_workspace_and_newer_schema(postgres_url, pg_workspace):
    pg_workspace.close()
    with pg_workspace.database.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))
    with pytest.raises(NewerSchemaError):
        Workspace.open(postgres_url)


def test_empty_postgresql_database_is_not_a_workspace(postgres_url):
    with pytest.raises(NotFoundError, match="modelledger init"):
        Workspace.open(postgres_url)


@pytest.mark.slow
def test_concurrent_processes_on_postgresql(postgres_url, pg_workspace, tmp_path):
    for worker in range(3):  # each with their key on this (test) workstation
        person(pg_workspace, f"writer{worker}", Role.OWNER)
    go = tmp_path / "go"
    processes = [
        subprocess.Popen([sys.executable, str(WRITER), postgres_url, str(worker), "6", str(go)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for worker in range(3)
    ]
    go.touch()
    for process in processes:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    assert pg_workspace.registry.count_models() == 18
    report = pg_workspace.audit.verify()
    assert report.intact, report.describe()


def test_copy_sqlite_workspace_to_postgresql(tmp_path, postgres_url):
    from modelledger.services.demo.build import create_demo_workspace
    from tests.conftest import run_cli

    demo = create_demo_workspace(tmp_path / "demo.db")
    result = run_cli("-w", str(demo), "copy-to", postgres_url, "--artifacts",
                     str(tmp_path / "server-artifacts"))
    assert result.returncode == 0, result.stderr
    assert "Audit chain intact" in result.stdout
    # The demo's keys work only beside its file: on the server, dave (its admin) signs with
    # his own copy of his key.
    dave_key = keystore.load_plain_key(demo.with_name("demo.db.keys"), "dave")
    keystore.save_key("dave", dave_key.private_key)
    source = Workspace.open(demo)
    target = Workspace.open(postgres_url, artifact_root=tmp_path / "server-artifacts",
                            user="dave")
    try:
        assert target.audit.verify().head_hash == source.audit.verify().head_hash
        assert ([s.model.name for s in target.registry.list_models()]
                == [s.model.name for s in source.registry.list_models()])
        assert target.registry.load_model("wine-cultivar", 1).n_features_in_ == 13
        target.registry.register_model("new-after-copy")
        target.registry.add_version("wine-cultivar")
        assert ([o.last_health for o in target.monitoring.overviews()]
                == [o.last_health for o in source.monitoring.overviews()])
        check_monitoring_on(target)
        assert target.audit.verify().intact
        again = run_cli("-w", str(demo), "copy-to", postgres_url)
        assert again.returncode != 0 and "already holds data" in again.stderr
    finally:
        source.close()
        target.close()


def check_monitoring_on(workspace):
    """A run on the copied server: new claims, runs, metrics and alerts get fresh ids."""
    from modelledger.services.monitoring.scheduler import MonitorScheduler

    credit = next(m for m in workspace.monitoring.list_monitors()
                  if m.model_name == "vendor-credit-score")
    runs_before = len(workspace.monitoring.list_runs(monitor_id=credit.id, limit=500))
    scheduler = MonitorScheduler(workspace, max_parallel=1)
    try:
        stored = scheduler.run_now(credit.id).result(timeout=120)
    finally:
        scheduler.shutdown()
    assert stored.run_id is not None
    assert len(workspace.monitoring.list_runs(monitor_id=credit.id, limit=500)) == runs_before + 1
    alert = workspace.monitoring.list_alerts()[0]
    workspace.monitoring.acknowledge_alert(alert.id, alert.row_version, "seen on the server")
