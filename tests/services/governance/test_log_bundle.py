"""The support bundle: application logs and the period's monitoring run logs in one zip."""

from __future__ import annotations

import csv
import io
import os
import zipfile
from datetime import UTC, datetime, timedelta

import pytest

from modelledger.core.errors import InvalidInputError
from modelledger.services.governance.log_bundle import write_log_bundle
from tests.services.governance.test_as_of import run_in_process
from tests.services.monitor_data import add_monitor


class Stop(Exception):
    pass


@pytest.fixture
def log_dir(tmp_path):
    """The current log file, and a rotated one last written 40 days ago."""
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "modelledger.log").write_text("2026-01-01 INFO started\n")
    old = folder / "modelledger.log.3"
    old.write_text("old lines\n")
    forty_days_ago = (datetime.now(UTC) - timedelta(days=40)).timestamp()
    os.utime(old, (forty_days_ago, forty_days_ago))
    return folder


@pytest.fixture
def runs(workspace, tmp_path):
    """A succeeded and a failed run now, and a succeeded run ten days ago."""
    drift = add_monitor(workspace, tmp_path)
    broken = add_monitor(workspace, tmp_path, name="weekly: quality?",
                         current=tmp_path / "absent.csv")
    old = run_in_process(workspace, drift.id,
                         finished_at=datetime.now(UTC) - timedelta(days=10))
    return old, run_in_process(workspace, drift.id), run_in_process(workspace, broken.id)


def last_week():
    end = datetime.now(UTC)
    return end - timedelta(days=7), end


def test_the_bundle_holds_the_period_s_logs_and_runs(workspace, runs, log_dir, tmp_path):
    _ten_days_old, succeeded, failed = runs
    destination = tmp_path / "support.zip"
    progress = []
    bundle = write_log_bundle(destination, *last_week(), log_dir=log_dir,
                              database=workspace.database,
                              progress=lambda done, total, text: progress.append((done, total)))
    assert bundle.application_logs == 1 and bundle.job_runs == 2
    assert bundle.size_bytes == destination.stat().st_size
    with zipfile.ZipFile(destination) as archive:
        names = set(archive.namelist())
        assert names == {
            "README.txt", "job-runs.csv", "application-logs/modelledger.log",
            f"job-logs/credit-risk/drift/run-{succeeded.id}.log",
            f"job-logs/credit-risk/weekly_ quality_/run-{failed.id}.log"}
        failed_log = archive.read(
            f"job-logs/credit-risk/weekly_ quality_/run-{failed.id}.log").decode()
        index = list(csv.DictReader(io.StringIO(archive.read("job-runs.csv").decode())))
        readme = archive.read("README.txt").decode()
        assert archive.read("application-logs/modelledger.log") == b"2026-01-01 INFO started\n"
    assert f"Monitoring run #{failed.id}" in failed_log
    assert "Status:      failed" in failed_log and failed.error in failed_log
    assert failed.log.strip().splitlines()[-1] in failed_log
    assert [(row["run_id"], row["status"]) for row in index] == [
        (str(succeeded.id), "succeeded"), (str(failed.id), "failed")]
    assert str(workspace.database.display_name) in readme and "(2)" in readme
    assert progress[-1] == (4, 4) and all(done <= total for done, total in progress)
    assert list(tmp_path.glob(".support.zip.*")) == []


def test_without_a_workspace_or_a_log_file_the_recent_lines_stand_in(tmp_path):
    destination = tmp_path / "support.zip"
    write_log_bundle(destination, *last_week(), log_dir=tmp_path / "never-created",
                     database=None, recent_lines=["line one", "line two"])
    with zipfile.ZipFile(destination) as archive:
        assert archive.read("application-logs/recent-lines.log") == b"line one\nline two\n"
        readme = archive.read("README.txt").decode()
        assert len(archive.read("job-runs.csv").decode().splitlines()) == 1
    assert "none open: application logs only" in readme
    assert "No log file was written during the period" in readme


def test_a_folder_that_cannot_be_written_is_a_clear_error(log_dir, tmp_path):
    missing = tmp_path / "no such folder" / "support.zip"
    with pytest.raises(InvalidInputError, match=r"Cannot write the log bundle to .*no such "
                                                r"folder: No such file or directory"):
        write_log_bundle(missing, *last_week(), log_dir=log_dir, database=None)


def test_a_cancelled_bundle_leaves_nothing_behind(workspace, runs, log_dir, tmp_path):
    destination = tmp_path / "support.zip"
    destination.write_bytes(b"an earlier bundle")
    calls = []

    def cancel_on_the_second_check():
        calls.append(1)
        if len(calls) == 2:
            raise Stop

    with pytest.raises(Stop):
        write_log_bundle(destination, *last_week(), log_dir=log_dir,
                         database=workspace.database, check_cancelled=cancel_on_the_second_check)
    assert destination.read_bytes() == b"an earlier bundle"
    assert list(tmp_path.glob(".support.zip.*")) == []


def test_the_period_must_have_a_start_before_its_end(log_dir, tmp_path):
    start, end = last_week()
    with pytest.raises(InvalidInputError, match="start of the period"):
        write_log_bundle(tmp_path / "x.zip", end, start, log_dir=log_dir, database=None)
