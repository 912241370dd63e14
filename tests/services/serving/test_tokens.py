"""Beyond loopback the server needs bearer tokens, which an admin makes and revokes."""

from __future__ import annotations

import pytest

from modelledger.core.domain import EventFilter
from tests.conftest import run_cli, wait_until
from tests.services.serving.conftest import (
    MODEL,
    cancer_frame,
    free_port,
    start_server,
    stop_server,
)

pytestmark = pytest.mark.slow


def cli(path, *args):
    return run_cli("-w", str(path), *args)


def test_a_non_loopback_bind_needs_tokens_and_accepts_only_active_ones(serving_workspace,
                                                                       workspace_path):
    refused = cli(workspace_path, "serve", MODEL, "--host", "127.0.0.2", "--port",
                  str(free_port()))
    assert refused.returncode == 2
    assert "Refusing to listen on 127.0.0.2" in refused.stderr
    assert "Traceback" not in refused.stderr

    made = cli(workspace_path, "token", "add", "scoring-app", "--reason", "the web shop")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    assert token.startswith("mlt_")
    listing = cli(workspace_path, "token", "list")
    assert "scoring-app" in listing.stdout and "active" in listing.stdout
    assert token not in listing.stdout

    payload = {"instances": cancer_frame()[0].iloc[:1].to_numpy().tolist()}
    server = start_server(workspace_path, MODEL, host="127.0.0.2")
    try:
        with server.client() as client:
            assert client.get("/ping").status_code == 200  # probes need no token
            anonymous = client.post("/invocations", json=payload)
            assert anonymous.status_code == 401
            assert anonymous.headers["WWW-Authenticate"] == "Bearer"
            assert "bearer token" in anonymous.json()["message"]
            wrong = client.post("/invocations", json=payload,
                                headers={"Authorization": "Bearer mlt_guessed"})
            assert wrong.status_code == 401
            assert client.get("/metrics").status_code == 401
            bearer = {"Authorization": f"Bearer {token}"}
            assert client.post("/invocations", json=payload, headers=bearer).status_code == 200
            assert client.get("/health", headers=bearer).status_code == 200

            revoked = cli(workspace_path, "token", "revoke", "scoring-app", "--reason", "leaked")
            assert revoked.returncode == 0, revoked.stderr
            wait_until(lambda: client.post("/invocations", json=payload,
                                           headers=bearer).status_code == 401,
                       5, "the revoked token to be refused")
    finally:
        stop_server(server)
    actions = [event.action for event in serving_workspace.audit.list_events(
        EventFilter(search="scoring-app"))]
    assert "serving_token.added" in actions and "serving_token.revoked" in actions
    again = cli(workspace_path, "token", "revoke", "scoring-app", "--reason", "twice")
    assert again.returncode == 2 and "revoked already" in again.stderr


def test_only_an_admin_makes_tokens(serving_workspace, workspace_path):
    from modelledger.core.domain import Role
    from tests.conftest import person

    person(serving_workspace, "bob", Role.DEVELOPER)
    refused = run_cli("-w", str(workspace_path), "-u", "bob", "token", "add", "mine",
                      "--reason", "for me")
    assert refused.returncode != 0 and "admin" in refused.stderr
    assert "Traceback" not in refused.stderr
