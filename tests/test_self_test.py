"""`modelledger self-test` from a checkout: the same check the installer's smoke test runs in the
frozen build (installer/smoke_test.py)."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def run_cli(*args, env, timeout=300):
    return subprocess.run([sys.executable, "-m", "modelledger", *args], capture_output=True,
                          text=True, env=env, timeout=timeout)


def test_self_test_runs_every_step_and_leaves_a_pack_that_verifies(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = run_cli("self-test", "--keep", str(tmp_path / "check"), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    for step in ("ok: opened", "ok: scheduler running", "ok: run #", "ok: self-test-evidence.zip",
                 "ok: verified", "self-test passed"):
        assert step in result.stdout
    # Its own settings, keys and demo: nothing in the folders the user's environment names.
    assert not any(os.scandir(os.environ["MODELLEDGER_DATA_DIR"]))
    assert not any(os.scandir(os.environ["MODELLEDGER_CONFIG_DIR"]))
    pack = tmp_path / "check" / "self-test-evidence.zip"
    verified = run_cli("verify", str(pack), env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "VALID" in verified.stdout


def test_self_test_says_what_failed_and_exits_1_when_a_step_cannot_finish(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = run_cli("self-test", "--keep", str(tmp_path), "--timeout", "0.5", env=env)
    assert result.returncode == 1
    assert "FAILED while building and opening the demo workspace: no answer within" \
        in result.stdout
