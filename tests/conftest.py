"""Shared fixtures: real SQLite workspaces in temporary folders, a real PostgreSQL server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from modelledger.core.domain import Role
from modelledger.services.identity import keystore
from modelledger.services.identity.service import HOST, PERSON
from modelledger.services.workspace.opening import Workspace
from modelledger.ui.base.gui_thread import paint_on_gui_thread_only

paint_on_gui_thread_only()  # Qt as the application sets it up, before pytest-qt's QApplication

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST_PASSPHRASE = "correct horse battery staple"


def _isolate_user_folders(monkeypatch: pytest.MonkeyPatch, make_folder) -> None:
    monkeypatch.setenv("MODELLEDGER_LOG_DIR", str(make_folder("logs")))
    monkeypatch.setenv("MODELLEDGER_DATA_DIR", str(make_folder("data")))
    monkeypatch.setenv("MODELLEDGER_CONFIG_DIR", str(make_folder("config")))
    monkeypatch.setenv("MODELLEDGER_USER", "alice")
    # Each person's signing key is kept in a passphrase-protected file (no keyring on CI).
    monkeypatch.setenv("MODELLEDGER_PASSPHRASE", TEST_PASSPHRASE)
    monkeypatch.setenv("MODELLEDGER_KEYRING", "off")
    monkeypatch.delenv("MODELLEDGER_WORKSPACE", raising=False)
    monkeypatch.delenv("MODELLEDGER_ASSUME_NETWORK_SHARE", raising=False)


@pytest.fixture(scope="session", autouse=True)
def _session_user_folders(tmp_path_factory):
    """Fixtures that outlive one test (module and session scope) run before any test's own
    folders exist: they get folders of the session's, never the real home's."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        _isolate_user_folders(monkeypatch, tmp_path_factory.mktemp)
        yield


@pytest.fixture(autouse=True)
def _isolated_user_folders(tmp_path_factory, monkeypatch):
    """Each test gets its own log, config and data folders (signing keys live there) and user
    name; nothing touches the real home."""
    _isolate_user_folders(monkeypatch, tmp_path_factory.mktemp)


@pytest.fixture(autouse=True)
def _no_thread_left_running():
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()
              and not t.daemon]
    assert not leaked, f"test left threads running: {leaked}"


def plain_keys_beside(workspace_file: Path, *users: str) -> None:
    """Keys for ``users`` kept unencrypted beside ``workspace_file`` (as the demo's are): for a
    template workspace built once and copied into tests that each have their own key store."""
    folder = workspace_file.with_name(workspace_file.name + ".keys")
    folder.mkdir(mode=0o700, exist_ok=True)
    for user in users:
        keystore.save_plain_key(folder, user)


def person(admin: Workspace, name: str, role: Role = Role.DEVELOPER,
           display_name: str = "", *, host: bool = False) -> Workspace:
    """``name`` acting in ``admin``'s workspace: their key (the plain one beside the workspace
    when it has one, else one made on this test workstation), their enrolment signed by it and
    approved by ``admin`` with ``role``."""
    joining = admin.as_user(name)
    folder = joining.signer.plain_folder
    key = ((folder and keystore.load_plain_key(folder, name)) or keystore.load_key(name)
           or keystore.create_key(name))
    joining.identity.request_enrolment(key, display_name=display_name or name,
                                       kind=HOST if host else PERSON)
    admin.identity.approve(name, role=role, reason="joins the team")
    return joining


@pytest.fixture
def workspace_path(tmp_path) -> Path:
    return tmp_path / "team.db"


@pytest.fixture
def workspace(workspace_path):
    ws = Workspace.open(workspace_path, create=True, user="alice")
    yield ws
    ws.close()


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    """The demo workspace, built once per test session (it takes about 15 s)."""
    from modelledger.services.demo.build import create_demo_workspace

    return create_demo_workspace(tmp_path_factory.mktemp("demo-template") / "demo.db")


@pytest.fixture
def demo_workspace(demo_template, tmp_path):
    """A private copy of the demo workspace, opened as alice. Its monitors still read their
    current data from the template's data folder."""
    copy = tmp_path / "demo.db"
    shutil.copyfile(demo_template, copy)
    for companion in ("demo.db.artifacts", "demo.db.keys"):
        shutil.copytree(demo_template.with_name(companion), tmp_path / companion)
    ws = Workspace.open(copy, user="alice")
    yield ws
    ws.close()


def run_cli(*args: str, env: dict | None = None, check: bool = False,
            obey_file_permissions: bool = False) -> subprocess.CompletedProcess:
    """Run the real command line in a subprocess.

    With ``obey_file_permissions``, a root test run drops the capabilities that let root ignore
    file modes, so a read-only file is read-only for the command as for any user.
    """
    full_env = {**os.environ, **(env or {})}
    prefix = []
    if obey_file_permissions and os.geteuid() == 0:
        prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"]
    return subprocess.run(
        [*prefix, sys.executable, "-m", "modelledger", *args],
        capture_output=True, text=True, env=full_env, check=check, timeout=120,
    )


# -- PostgreSQL ------------------------------------------------------------------------------------


def _postgres_bin() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@pytest.fixture(scope="session")
def postgres_server():
    """A throw-away PostgreSQL cluster on 127.0.0.1, started for this test session."""
    bindir = _postgres_bin()
    if bindir is None:
        pytest.fail("PostgreSQL server binaries not found: run the tests with scripts/test.sh, "
                    "which installs the Debian package 'postgresql'.")
    # PostgreSQL refuses to run as root: under root the server runs as the 'postgres' user, in
    # a folder of its own outside pytest's root-only temporary tree.
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="modelledger-pg-"))
    run_as = []
    if os.geteuid() == 0:
        run_as = ["runuser", "-u", "postgres", "--"]
        shutil.chown(base, "postgres", "postgres")
    data, sockets = base / "data", base / "sock"
    subprocess.run([*run_as, "mkdir", str(sockets)], check=True)
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    subprocess.run([*run_as, str(bindir / "initdb"), "-D", str(data), "-A", "trust",
                    "-U", "ledger", "--no-sync"], check=True, capture_output=True)
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-w",
                    "-l", str(base / "server.log"), "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://ledger@127.0.0.1:{port}"
    finally:
        subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server, request):
    """A fresh, empty database on the session's server for one test."""
    import psycopg

    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    with psycopg.connect(f"{postgres_server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{postgres_server}/{name}"


def wait_until(condition, timeout: float, what: str):
    """Poll ``condition`` until it returns something true (returned), or fail after
    ``timeout`` seconds naming ``what`` was awaited (for other processes' effects)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
