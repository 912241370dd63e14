"""`modelledger audit export` and `modelledger verify`, run as a reviewer runs them: real
subprocesses on real files."""

import zipfile
from datetime import UTC, datetime

import pytest

from tests.conftest import run_cli


@pytest.fixture
def env(tmp_path):
    return {"MODELLEDGER_CONFIG_DIR": str(tmp_path / "config")}


@pytest.fixture
def exported(tmp_path, env):
    workspace = tmp_path / "team.db"
    run_cli("init", str(workspace), check=True, env=env)
    for model in ("churn", "fraud"):
        run_cli("-w", str(workspace), "model", "register", model, check=True, env=env)
    pack = tmp_path / "churn.zip"
    today = datetime.now(UTC).date().isoformat()
    result = run_cli("-w", str(workspace), "audit", "export", "--model", "churn", "--from",
                     today, "--to", today, "--out", str(pack), env=env)
    assert result.returncode == 0, result.stderr
    assert "Wrote" in result.stdout and "recorded as audit event" in result.stdout
    return pack


def test_verify_says_what_it_checked(exported, env):
    result = run_cli("verify", str(exported), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    for expected in ("churn.zip: evidence pack, VALID", "signed by alice with key",
                     "chain segment: 1 event (events 3..3)", "selected: 1 event (churn",
                     "events.jsonl", "events.csv", "signing_keys.json"):
        assert expected in result.stdout


def test_verify_prints_each_problem_and_exits_1(exported, tmp_path, env):
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(exported) as source, zipfile.ZipFile(tampered, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            target.writestr(name, data.replace(b"churn", b"churm") if name == "events.csv"
                            else data)
    result = run_cli("verify", str(tampered), env=env)
    assert result.returncode == 1
    assert "NOT VALID" in result.stdout
    assert "  - events.csv: SHA-256 does not match the manifest" in result.stdout


def test_verify_refuses_what_is_not_a_pack_with_exit_2(tmp_path, env):
    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"\x00" * 100)
    result = run_cli("verify", str(garbage), env=env)
    assert result.returncode == 2
    assert "garbage.zip is not an evidence pack: it is not a readable zip file" in result.stderr
    assert "Traceback" not in result.stderr


def test_export_refuses_a_bad_date_with_exit_2(tmp_path, env):
    workspace = tmp_path / "team.db"
    run_cli("init", str(workspace), check=True, env=env)
    result = run_cli("-w", str(workspace), "audit", "export", "--from", "31/01/2026", "--out",
                     str(tmp_path / "p.zip"), env=env)
    assert result.returncode == 2
    assert "--from '31/01/2026' is not a date: write it as YYYY-MM-DD." in result.stderr
