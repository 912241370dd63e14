"""Promotions from another process reach a running server: within seconds, under load, with
no failed request and no version but the old or the new one."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.conftest import wait_until
from tests.services.serving.conftest import MODEL, cancer_frame, promote

pytestmark = pytest.mark.slow


def one_row():
    return {"instances": cancer_frame()[0].iloc[:1].to_numpy().tolist()}


def test_a_promotion_by_another_process_is_served_within_five_seconds(serving_workspace,
                                                                        server):
    payload = one_row()
    with server.client() as client:
        assert client.post("/invocations", json=payload).headers["X-Model-Version"] == \
            f"{MODEL}/1"
        promote(serving_workspace, 2)  # this test's process, not the server's
        promoted_at = time.monotonic()
        wait_until(lambda: client.post("/invocations", json=payload)
                   .headers["X-Model-Version"] == f"{MODEL}/2", 5, "v2 to be served")
        assert time.monotonic() - promoted_at < 5
        health = client.get("/health").json()["models"][f"{MODEL}@production"]
        assert health["version"] == 2
        assert health["sha256"] == serving_workspace.registry.get_version(
            MODEL, 2).artifact.sha256
        serving_workspace.registry.rollback(MODEL, 1, "v2 misbehaves")
        wait_until(lambda: client.post("/invocations", json=payload)
                   .headers["X-Model-Version"] == f"{MODEL}/1", 5, "the rollback to be served")


def test_hot_swap_under_continuous_load_fails_no_request(serving_workspace, server):
    payload = one_row()
    stop = threading.Event()
    answers: list[tuple[int, str]] = []
    failures: list[str] = []
    lock = threading.Lock()

    def client_loop():
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            while not stop.is_set():
                try:
                    answer = client.post("/invocations", json=payload)
                    seen = (answer.status_code, answer.headers.get("X-Model-Version", ""))
                except httpx.HTTPError as error:
                    with lock:
                        failures.append(repr(error))
                    continue
                with lock:
                    answers.append(seen)

    clients = [threading.Thread(target=client_loop) for _ in range(8)]
    started = time.monotonic()
    for thread in clients:
        thread.start()
    try:
        wait_until(lambda: len(answers) > 200, 10, "the load to get going")
        promote(serving_workspace, 2)
        wait_until(lambda: (200, f"{MODEL}/2") in answers[-50:], 5, "v2 under load")
        # The load goes on for ten seconds in all, as a busy server's would.
        stop.wait(max(0.0, started + 10 - time.monotonic()))
    finally:
        stop.set()
        for thread in clients:
            thread.join(timeout=20)
    assert failures == []
    assert {status for status, _ in answers} == {200}
    assert {version for _, version in answers} == {f"{MODEL}/1", f"{MODEL}/2"}
    assert len(answers) > 1000
    # Requests that started before the swap may answer v1 a little after the first v2; the
    # last ones must all be v2.
    assert {version for _, version in answers[-100:]} == {f"{MODEL}/2"}
