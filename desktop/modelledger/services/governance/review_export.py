"""One export for a compliance review: the governance report, the model cards and the health
charts of a selection, inside a signed evidence pack with the audit events they rest on."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from modelledger.core.domain import Actor
from modelledger.core.evidence import EventSelection
from modelledger.services.governance.evidence_pack import PackSummary, build_evidence_pack
from modelledger.services.governance.report import GovernanceReportService, ReportScope
from modelledger.storage.database import Database

Progress = Callable[[int, int, str], None]

# Share of the progress bar for the reports; the pack (events, hashing, signing) takes the rest.
REPORT_SHARE = 60


def export_for_review(database: Database, actor: Actor, selection: EventSelection,
                      out_path: Path, *, with_reports: bool = True,
                      progress: Progress | None = None) -> PackSummary:
    """Write the evidence pack for ``selection`` to ``out_path``; with ``with_reports`` it
    holds report.html, report.pdf, a model card per model and the health charts too.
    ``progress`` may raise to cancel (before anything is written)."""
    report = progress or (lambda done, total, text: None)
    extra_files: dict[str, bytes] = {}
    if with_reports:
        scope = ReportScope(selection.models, _moment(selection.occurred_from),
                            _moment(selection.occurred_before))
        extra_files = GovernanceReportService(database, actor).build(
            scope, progress=_scaled(report, 0, REPORT_SHARE))
    pack_start = REPORT_SHARE if with_reports else 0
    return build_evidence_pack(database, actor, selection, out_path, extra_files=extra_files,
                               progress=_scaled(report, pack_start, 100))


def _moment(timestamp: str | None) -> datetime | None:
    return datetime.fromisoformat(timestamp) if timestamp else None


def _scaled(report: Progress, start: int, end: int) -> Progress:
    """A stage's progress as its stretch [start, end] of one 0..100 bar."""
    def scaled(done: int, total: int, text: str) -> None:
        fraction = done / total if total else 0.0
        report(start + round((end - start) * fraction), 100, text)
    return scaled
