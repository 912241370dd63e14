"""The governance report of the demo workspace: its files, what they say, and how they print."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from modelledger.core.errors import InvalidInputError, NotFoundError
from modelledger.core.monitoring import RunStatus
from modelledger.services.governance import report as governance_report
from modelledger.services.governance.model_cards import ModelCardService
from modelledger.services.governance.report import GovernanceReportService, ReportScope
from modelledger.services.monitoring.run_worker import RunOutcome
from modelledger.services.monitoring.scheduler import MonitorScheduler
from modelledger.services.workspace.opening import Workspace
from tests.services.pdf_pages import page_count, page_texts, rendered_pages

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
CREDIT = "vendor-credit-score"
CHAPTERS = ("Summary", "Models", "Approvals and deployments", "Open findings", "Audit timeline")


@pytest.fixture(scope="module")
def demo_report(demo_template, tmp_path_factory):
    """The whole demo's report, built once for the tests that only read it."""
    import shutil

    folder = tmp_path_factory.mktemp("report")
    shutil.copyfile(demo_template, folder / "demo.db")
    for companion in ("demo.db.artifacts", "demo.db.keys"):
        shutil.copytree(demo_template.with_name(companion), folder / companion)
    workspace = Workspace.open(folder / "demo.db", user="alice")
    steps = []
    try:
        files = GovernanceReportService(workspace.database, workspace.actor).build(
            ReportScope(), lambda done, total, text: steps.append((done, total, text)), now=NOW)
        models = [summary.model.name for summary in workspace.registry.list_models()]
        monitors = workspace.monitoring.list_monitors()
        events = workspace.audit.count_events()
    finally:
        workspace.close()
    (folder / "report.pdf").write_bytes(files["report.pdf"])
    return {"files": files, "steps": steps, "folder": folder, "models": models,
            "monitors": monitors, "events": events}


def test_the_report_is_a_set_of_files_for_the_evidence_pack(demo_report):
    files = demo_report["files"]
    assert {"report.html", "report.pdf"} <= set(files)
    for name in demo_report["models"]:
        number = 2 if name == "breast-cancer-screening" else 1
        for suffix in ("md", "html", "pdf"):
            assert f"model-cards/{name}-v{number}.{suffix}" in files
    charts = sorted(name for name in files if name.startswith("charts/"))
    weekly = [f"charts/{model}/weekly-health-{chart}.png"
              for model in ("breast-cancer-screening", "diabetes-progression",
                            "digits-recognizer")
              for chart in ("drifted-share", "performance", "psi-per-feature-and-run")]
    assert charts == weekly + [
        "charts/vendor-credit-score/daily-drift-and-approvals-drifted-share.png",
        "charts/vendor-credit-score/daily-drift-and-approvals-kpi-approval-rate.png",
        "charts/vendor-credit-score/daily-drift-and-approvals-kpi-expected-margin-per-"
        "application.png",
        "charts/vendor-credit-score/daily-drift-and-approvals-performance.png",
        "charts/vendor-credit-score/daily-drift-and-approvals-psi-per-feature-and-run.png",
    ] + [f"charts/wine-cultivar/weekly-health-{chart}.png"
         for chart in ("drifted-share", "performance", "psi-per-feature-and-run")]
    assert all(files[name].startswith(b"\x89PNG\r\n\x1a\n") for name in charts)
    assert files["report.pdf"].startswith(b"%PDF-")
    steps = demo_report["steps"]
    assert [done for done, _, _ in steps] == sorted(done for done, _, _ in steps)
    assert steps[-1][0] == steps[-1][1] == len(demo_report["monitors"]) + 5 + 3


def test_the_pdf_prints_with_title_date_contents_and_page_numbers(demo_report):
    path = demo_report["folder"] / "report.pdf"
    pages = page_count(path)
    assert len(rendered_pages(path, demo_report["folder"] / "png")) == pages
    texts = page_texts(path)
    assert "Model governance report" in texts[0]
    assert "All 5 models · Whole history" in texts[0]
    assert "Alice Martin (alice, developer)" in texts[0]
    assert "ModelLedger 0.1.0" in texts[0]
    assert "Audit chain intact" in texts[0]
    assert "Generated 2026-11-24 09:30 UTC" in texts[1]  # the title page has no header
    for number, text in enumerate(texts, start=1):
        assert f"Page {number} of {pages}" in text
    contents = texts[1]
    assert "Contents" in contents
    for number, chapter in enumerate(CHAPTERS, start=1):
        (page,) = re.findall(rf"^\s*{number}\s+{chapter}\s+(\d+)$", contents, re.MULTILINE)
        assert re.search(rf"^\s*{number} {chapter}$", texts[int(page) - 1], re.MULTILINE), (
            f"{chapter} is not on page {page}")
    for name in demo_report["models"]:
        assert re.search(rf"^\s*2\.\d\s+{name} v\d \(production\)\s+\d+$", contents,
                         re.MULTILINE)


def test_the_html_holds_every_section_and_renders_offline(demo_report):
    html = demo_report["files"]["report.html"].decode("utf-8")
    for number, chapter in enumerate(CHAPTERS, start=1):
        assert (f'<h2 id="s{number}" class="new-page"><span class="number">{number}</span>'
                f"{chapter}</h2>") in html
    for name in demo_report["models"]:
        assert re.search(rf'<h3 id="s2-\d"( class="new-page")?><span class="number">2\.\d'
                         rf"</span>{name} v\d \(production\)</h3>", html)
    charts = [name for name in demo_report["files"] if name.startswith("charts/")]
    assert html.count('<img src="data:image/png;base64,') == len(charts)
    assert not re.search(r'(src|href)="(https?:|//|[^"#d])', html)  # nothing to fetch
    assert "<link" not in html and "<script" not in html


def test_the_report_says_what_the_workspace_holds(demo_report):
    html = demo_report["files"]["report.html"].decode("utf-8")
    # Summary: the demo's monitors (one per model), every event, the one rollback.
    assert "All 5 models, 5 monitors." in html
    assert f"{demo_report['events']:,} audit events" in html
    assert "1 rollback" in html
    # Approvals: who decided, in which role, independently of the developer.
    assert "approved by bob (validator)" in html
    assert "rejected by bob (validator)" in html
    assert "gain within noise; residuals not checked by subgroup yet" in html
    # Findings: unclosed incidents, the pending request, the rejection; every model monitored.
    assert re.search(r"Incident #\d+: KPI approval rate", html)
    assert "Promotion request #9 of v3 awaits a decision" in html
    assert "Promotion of v2 rejected by bob" in html
    assert "without any monitor" not in html
    # Timeline: runs and rollbacks with their reasons.
    assert "monitor.run_succeeded" in html and "stage.rollback" in html
    assert "v2 misread two supplier batches in the first week" in html


def test_a_selection_and_a_period_narrow_the_report(demo_workspace):
    # The last 30 days: the demo's history was recorded (its events) just now, its daily runs
    # are replayed over the 90 days before.
    end = datetime.now(UTC) + timedelta(hours=1)
    start = end - timedelta(days=30)
    runs = demo_workspace.monitoring.list_runs(model_name=CREDIT, limit=None)
    ModelCardService(demo_workspace.database, demo_workspace.actor).save_section(
        CREDIT, 1, "limitations", "Vendor score; no access to its features.", "from the report")
    files = GovernanceReportService(demo_workspace.database, demo_workspace.actor).build(
        ReportScope((CREDIT,), start, end), now=NOW)
    assert sorted(name for name in files if name.startswith("model-cards/")) == [
        f"model-cards/{CREDIT}-v1.{suffix}" for suffix in ("html", "md", "pdf")]
    html = files["report.html"].decode("utf-8")
    in_period = sum(start <= run.slot < end for run in runs)
    assert 29 <= in_period <= 30 < len(runs)
    assert f"<td>{in_period} (0 failed, 0 missed)</td>" in html
    assert "breast-cancer-screening" not in html
    assert "Vendor score; no access to its features." in html
    assert "model_card.edited" in html  # an event of the selection, inside the period
    assert f"{CREDIT} · {governance_report.doc.utc_text(start)} to" in html


def test_failed_and_missed_runs_are_findings(demo_workspace):
    monitor = demo_workspace.monitoring.list_monitors(model_name=CREDIT)[0]
    runs = demo_workspace.monitoring.list_runs(monitor_id=monitor.id, limit=1)
    # Three days later: two daily slots went by unrun, and the third one's data was missing.
    clock = runs[0].slot + timedelta(days=3, minutes=1)
    scheduler = MonitorScheduler(demo_workspace, max_parallel=1, clock=lambda: clock)
    try:
        claim = scheduler.claim_due_slot(monitor.id)
    finally:
        scheduler.shutdown()
    finished = Workspace(demo_workspace.database, user="alice",
                         artifact_root=demo_workspace.artifacts.root,
                         clock=lambda: clock + timedelta(seconds=5))
    finished.monitoring.record_outcome(
        claim, RunOutcome(RunStatus.FAILED, None, "The data file applications.parquet is "
                          "missing.", "log"), version_id=None, started_at=clock,
        retry_base_s=60)
    html = GovernanceReportService(demo_workspace.database, demo_workspace.actor).build(
        ReportScope((CREDIT,)), now=NOW)["report.html"].decode("utf-8")
    missed = [runs[0].slot + timedelta(days=day) for day in (1, 2)]
    assert (f"daily drift and approvals: 2 scheduled runs missed, "
            f"{governance_report.doc.utc_text(missed[0])} to "
            f"{governance_report.doc.utc_text(missed[1])}") in html
    assert ("daily drift and approvals: 1 failed run in the period; the latest "
            f"({governance_report.doc.utc_text(claim.slot)}): The data file "
            "applications.parquet is missing.") in html
    assert "(1 failed, 2 missed)" in html


def test_the_timeline_is_capped_and_says_so(workspace, monkeypatch):
    monkeypatch.setattr(governance_report, "TIMELINE_LIMIT", 4)
    workspace.registry.register_model("m")
    for index in range(5):
        workspace.registry.add_version("m", notes=f"candidate {index}")
    total = workspace.audit.count_events()
    html = GovernanceReportService(workspace.database, workspace.actor).build(
        now=NOW)["report.html"].decode("utf-8")
    assert (f"The period holds {total} events for this selection; the newest 4 (events "
            f"{total - 3} to {total}) are listed") in html
    assert html.count("<td>version.created</td>") == 4


def test_a_broken_audit_chain_is_a_finding(workspace, workspace_path):
    workspace.registry.register_model("m")
    workspace.registry.add_version("m", notes="first")
    with sqlite3.connect(workspace_path) as conn:
        conn.execute("DROP TRIGGER audit_events_no_update")
        conn.execute("UPDATE audit_events SET after_json = 'not json' WHERE seq = 2")
    html = GovernanceReportService(workspace.database, workspace.actor).build(
        now=NOW)["report.html"].decode("utf-8")
    assert "Audit chain BROKEN at event 2: its content does not match its hash" in html
    assert '<td style="color: #b00020; font-weight: bold">critical</td><td>workspace</td>' in html


def test_unknown_models_empty_workspaces_and_reversed_periods_are_refused(workspace):
    service = GovernanceReportService(workspace.database, workspace.actor)
    with pytest.raises(InvalidInputError, match="no models yet: there is nothing to report on"):
        service.build()
    workspace.registry.register_model("m")
    with pytest.raises(NotFoundError, match="There is no model named 'nope'"):
        service.build(ReportScope(("m", "nope")))
    with pytest.raises(InvalidInputError, match="choose a start before the end"):
        ReportScope(start=NOW, end=NOW - timedelta(days=1))
    files = service.build(ReportScope((" m ", "m")), now=NOW)
    assert not any(name.startswith("model-cards/") for name in files)  # no version, no card
    assert "No version is registered, so there is no model card." in files[
        "report.html"].decode("utf-8")
