"""The governance report: what a reviewer asks about a set of models over a period, as files.

For a selection of models (all of them by default) and an optional period, the report holds a
title page (workspace, selection, period, who generated it, when, with which version, and
whether the audit chain is intact), the contents, a summary, each model's card (its production
version, else its newest) with the health charts of its monitors, the promotion requests and
their decisions, the open findings (incidents not closed, pending and rejected promotions, failed
and missed runs, paused monitors, unmonitored production models, approvals that were not
independent, chain problems) and the audit timeline.

`GovernanceReportService.build` returns the files by relative name, for the evidence pack to
sign and zip: ``report.html`` (self-contained, the charts inside it) and ``report.pdf`` with
the same content, each model card as Markdown, HTML and PDF, and each chart as a PNG. It reads
everything in one transaction, so the report is a consistent snapshot, and reports progress
through a callback that may also cancel it (by raising).
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from modelledger import __version__
from modelledger.core.audit_chain import ChainReport, verify_chain
from modelledger.core.domain import (
    Actor,
    AuditEvent,
    ModelSummary,
    RequestStatus,
    RiskTier,
    Stage,
    StageChange,
)
from modelledger.core.errors import InvalidInputError
from modelledger.core.identity import MODEL_SCOPED_ENTITIES
from modelledger.core.monitoring import (
    Alert,
    AlertStatus,
    Monitor,
    MonitorRun,
    MonitorStatus,
    RunStatus,
)
from modelledger.core.palette import HEALTH_COLOURS, MUTED
from modelledger.services.governance import documents as doc
from modelledger.services.governance import model_cards
from modelledger.services.governance.model_cards import Approval, ModelCard
from modelledger.services.health.chart_data import HealthChartsService, MonitorHealth
from modelledger.storage import audit_log
from modelledger.storage import monitoring_repo as mrepo
from modelledger.storage import repositories as repo
from modelledger.storage.database import Database

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# (steps done, steps in all, what is being done); the GUI's TaskControl.report fits, and
# cancels the build by raising.
ReportProgress = Callable[[int, int, str], None]

# The timeline lists at most this many events (the newest in the period): a longer table
# helps nobody on paper, and the full log travels in the evidence pack's audit export.
TIMELINE_LIMIT = 1_000
# Entities that belong to a model: their ids start with the model's name ("model/v3", ...).
MODEL_ENTITIES = ("model", *MODEL_SCOPED_ENTITIES)
SEVERITY_ORDER = {"critical": 0, "warn": 1, "info": 2}


@dataclass(frozen=True)
class ReportScope:
    """What the report covers: models by name (none: every model) and a period.

    The period holds events, runs and decisions from ``start`` (inclusive) to ``end``
    (exclusive); either may be open. A time without a time zone is local time."""

    model_names: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        names = tuple(dict.fromkeys(name.strip() for name in self.model_names if name.strip()))
        object.__setattr__(self, "model_names", names)
        for side in ("start", "end"):
            moment = getattr(self, side)
            if moment is not None:
                object.__setattr__(self, side, moment.astimezone(UTC))
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise InvalidInputError(
                f"The period starts ({doc.utc_text(self.start)}) after it ends "
                f"({doc.utc_text(self.end)}): choose a start before the end.")

    def contains(self, moment: datetime | None) -> bool:
        if moment is None:
            return False
        return ((self.start is None or moment >= self.start)
                and (self.end is None or moment < self.end))

    def describe_period(self) -> str:
        if self.start is None and self.end is None:
            return "Whole history, up to the time of generation"
        if self.end is None:
            return f"From {doc.utc_text(self.start)}"
        if self.start is None:
            return f"Until {doc.utc_text(self.end)}"
        return f"{doc.utc_text(self.start)} to {doc.utc_text(self.end)}"


@dataclass(frozen=True)
class Finding:
    severity: str  # "critical", "warn" or "info"
    model: str  # "" for the workspace
    what: str
    since: datetime | None
    status: str


@dataclass
class _Facts:
    """Everything the report says, read in one transaction."""

    scope: ReportScope
    summaries: list[ModelSummary]
    cards: dict[str, ModelCard]  # by model name; models without versions have none
    monitors: list[Monitor]
    runs: list[MonitorRun]  # in the period
    missed: dict[int, list[datetime]]  # monitor id -> slots nobody ran, in the period
    alerts: list[Alert]  # every alert of the selected models
    approvals: list[Approval]  # every request of the selected models
    stage_changes: list[StageChange]  # in the period
    events: list[AuditEvent]  # in the period and selection, the newest TIMELINE_LIMIT
    event_counts: Counter  # by kind, every event in the period and selection
    chain: ChainReport
    generated_by: str

    def approvals_in_period(self) -> list[Approval]:
        """The promotion requests made or decided in the period."""
        return [approval for approval in self.approvals
                if self.scope.contains(approval.request.requested_at)
                or self.scope.contains(approval.request.decided_at)]


class GovernanceReportService:
    def __init__(self, database: Database, actor: Actor) -> None:
        self._db = database
        self.actor = actor

    def build(self, scope: ReportScope = ReportScope(), progress: ReportProgress | None = None,
              *, now: datetime | None = None) -> dict[str, bytes]:
        """The report's files by relative name: ``report.html``, ``report.pdf``,
        ``model-cards/<model>-v<N>.md|html|pdf`` and ``charts/<model>/<chart>.png``."""
        report = progress or (lambda _done, _total, _text: None)
        now = (now or datetime.now(UTC)).astimezone(UTC)
        report(0, 1, "Reading the registry, the monitoring history and the audit log")
        facts = self._db.read(lambda conn: _read_facts(conn, scope, self.actor, now,
                                                       self._db.display_name))
        total = 1 + len(facts.monitors) + len(facts.cards) + 2
        done = 1
        files: dict[str, bytes] = {}
        charts: dict[int, list[tuple[str, bytes]]] = {}
        health = HealthChartsService(self._db)
        used_names: set[str] = set()
        for monitor in facts.monitors:
            report(done, total, f"Drawing the health charts of {monitor.model_name} / "
                                f"{monitor.name}")
            drawn = _charts(health.monitor_health(monitor.id), _time_range(scope, facts, monitor))
            charts[monitor.id] = drawn
            folder = f"charts/{_file_name(monitor.model_name)}"
            for caption, png in drawn:
                name = _unused(f"{folder}/{_file_name(monitor.name)}-{_file_name(caption)}.png",
                               used_names)
                files[name] = png
            done += 1
        for name, card in facts.cards.items():
            report(done, total, f"Writing the model card of {name}")
            stem = f"model-cards/{_file_name(name)}-v{card.version.version_number}"
            files[f"{stem}.md"] = model_cards.to_markdown(card).encode("utf-8")
            files[f"{stem}.html"] = model_cards.to_html(card).encode("utf-8")
            files[f"{stem}.pdf"] = model_cards.to_pdf(card)
            done += 1
        document = _document(facts, charts, self._db.display_name, now)
        report(done, total, "Writing report.html")
        files["report.html"] = doc.to_html(document).encode("utf-8")
        report(done + 1, total, "Writing report.pdf")
        files["report.pdf"] = doc.to_pdf(document)
        report(total, total, "Report written")
        return dict(sorted(files.items()))


# -- Reading --------------------------------------------------------------------------------


def _read_facts(conn: Connection, scope: ReportScope, actor: Actor, now: datetime,
                workspace: str) -> _Facts:
    summaries = _selected_models(conn, scope)
    names = {summary.model.name for summary in summaries}
    user = repo.get_user(conn, actor.user)
    generated_by = (f"{user.display_name} ({user.name}, {user.role.value}) on {actor.host}"
                    if user else f"{actor.user} on {actor.host}")
    cards: dict[str, ModelCard] = {}
    approvals: list[Approval] = []
    stage_changes: list[StageChange] = []
    for summary in summaries:
        model = summary.model
        if summary.latest_version is not None:
            number = summary.production_version or summary.latest_version
            cards[model.name] = model_cards.read_card(
                conn, model.name, number, workspace=workspace, generated_by=actor.user,
                generated_at=now)
        approvals += model_cards.read_approvals(conn, model)
        stage_changes += [change for change in repo.stage_history(conn, model)
                          if scope.contains(change.occurred_at)]
    monitors = [monitor for monitor in mrepo.list_monitors(conn) if monitor.model_name in names]
    runs = [run for monitor in monitors
            for run in mrepo.list_runs(conn, monitor_id=monitor.id, limit=None)
            if scope.contains(run.slot)]
    missed = {monitor.id: [slot for slot, state, _, _ in mrepo.claim_states(conn, monitor.id)
                           if state == "missed" and scope.contains(slot)]
              for monitor in monitors}
    alerts = [alert for name in sorted(names)
              for alert in mrepo.list_alerts(conn, include_closed=True, model_name=name,
                                             limit=None)]
    timeline = _Timeline(scope, names, _artifact_owners(conn))
    chain = verify_chain(timeline.collect(audit_log.iter_events(conn)))
    return _Facts(scope, summaries, cards, monitors, runs, missed, alerts, approvals,
                  sorted(stage_changes, key=lambda change: change.occurred_at),
                  list(timeline.kept), timeline.counts, chain, generated_by)


def _artifact_owners(conn: Connection) -> dict[str, str]:
    """Stored file (SHA-256) -> the model it belongs to: a version's model file or a monitor's
    reference data. Every model's, so that a report on some models leaves the others' out."""
    owners = {monitor.reference_sha256: monitor.model_name
              for monitor in mrepo.list_monitors(conn)}
    for summary in repo.list_model_summaries(conn):
        owners.update({version.artifact.sha256: summary.model.name
                       for version in repo.list_versions(conn, summary.model)
                       if version.artifact is not None})
    return owners


def _selected_models(conn: Connection, scope: ReportScope) -> list[ModelSummary]:
    summaries = repo.list_model_summaries(conn)
    if not scope.model_names:
        if not summaries:
            raise InvalidInputError("The workspace has no models yet: there is nothing to "
                                    "report on. Register a model first.")
        return summaries
    by_name = {summary.model.name: summary for summary in summaries}
    for name in scope.model_names:
        if name not in by_name:
            repo.get_model(conn, name)  # raises the registry's own "no such model" message
    return [by_name[name] for name in scope.model_names]


class _Timeline:
    """Picks the period's events of the selected models (and the workspace's own, e.g. users
    and settings) out of the whole chain while it is verified: one pass over the log."""

    def __init__(self, scope: ReportScope, names: set[str],
                 artifact_models: dict[str, str]) -> None:
        self._names = names
        self._artifact_models = artifact_models
        self._from = audit_log.utc_timestamp(scope.start) if scope.start else None
        self._before = audit_log.utc_timestamp(scope.end) if scope.end else None
        self.kept: list[AuditEvent] = []
        self.counts: Counter = Counter()

    def collect(self, events: Iterable[AuditEvent]) -> Iterator[AuditEvent]:
        for event in events:
            if self._wanted(event):
                self.counts[_event_kind(event.action)] += 1
                self.kept.append(event)
                if len(self.kept) > 2 * TIMELINE_LIMIT:
                    del self.kept[:-TIMELINE_LIMIT]
            yield event
        del self.kept[:-TIMELINE_LIMIT]

    def _wanted(self, event: AuditEvent) -> bool:
        if self._from is not None and event.occurred_at < self._from:
            return False
        if self._before is not None and event.occurred_at >= self._before:
            return False
        model = self._model_of(event)
        return model is None or model in self._names

    def _model_of(self, event: AuditEvent) -> str | None:
        """The model an event is about; None for the workspace's own events."""
        if event.entity_type in MODEL_ENTITIES:
            return event.entity_id.split("/", 1)[0]
        if event.entity_type == "alert":
            for values in (event.after, event.before):
                model = model_cards.event_values(values).get("model")
                if model:
                    return model
        if event.entity_type == "artifact":
            return self._artifact_models.get(event.entity_id)
        return None


def _event_kind(action: str) -> str:
    group = action.split(".", 1)[0]
    return {"monitor": "monitoring", "alert": "alerts", "promotion": "promotions",
            "stage": "stage changes", "model": "registry", "version": "registry",
            "artifact": "registry", "model_card": "model cards", "user": "users and settings",
            "settings": "users and settings"}.get(group, "other")


# -- Charts ---------------------------------------------------------------------------------


def _time_range(scope: ReportScope, facts: _Facts,
                monitor: Monitor) -> tuple[float, float] | None:
    """The charts' time axis: the period, closed on an open side by the monitor's runs."""
    if scope.start is None and scope.end is None:
        return None
    slots = [run.slot for run in facts.runs if run.monitor_id == monitor.id]
    start = scope.start or min(slots, default=scope.end)
    end = scope.end or max(slots, default=scope.start)
    if start is None or end is None or start >= end:
        return None
    return start.timestamp(), end.timestamp()


def _charts(health: MonitorHealth,
            time_range: tuple[float, float] | None) -> list[tuple[str, bytes]]:
    """(caption, PNG) of each chart the monitor has data for."""
    from modelledger.services.health import figures

    drawn: list[tuple[str, Figure]] = []
    share = health.get("drift.share")
    if share is not None:
        drawn.append(("Drifted share", figures.series_figure(share, health.markers,
                                                             time_range=time_range)))
    heatmap = health.heatmap("drift.psi")
    if heatmap.features:
        drawn.append(("PSI per feature and run",
                      figures.heatmap_figure(heatmap, time_range=time_range)))
    if health.performance_metrics():
        drawn.append(("Performance", figures.performance_figure(health, time_range=time_range)))
    for band in health.kpis:
        series = health.get(f"kpi.{band.name}")
        if series is not None:
            drawn.append((f"KPI {band.name}", figures.kpi_figure(
                series, band, health.markers, time_range=time_range)))
    return [(caption, _png(figure, figures.PNG_DPI)) for caption, figure in drawn]


def _png(figure: Figure, dpi: int) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    return buffer.getvalue()


def _file_name(name: str) -> str:
    """A name safe in a zip file on every system: letters, digits, dots and dashes, short
    enough for the evidence pack's 200 characters with its folder and suffix."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name)[:60].strip("-.").lower() or "unnamed"


def _unused(name: str, used: set[str]) -> str:
    """``name``, or ``name`` with a number when two monitors' names make the same file."""
    stem, dot, suffix = name.rpartition(".")
    candidate, number = name, 1
    while candidate in used:
        number += 1
        candidate = f"{stem}-{number}{dot}{suffix}"
    used.add(candidate)
    return candidate


# -- The document ---------------------------------------------------------------------------


def _document(facts: _Facts, charts: dict[int, list[tuple[str, bytes]]], workspace: str,
              now: datetime) -> doc.Document:
    scope = facts.scope
    generated = doc.utc_text(now)
    findings = _findings(facts)
    chain = facts.chain
    chain_text: doc.CellValue = (
        chain.describe() if chain.intact
        else doc.Cell(chain.describe(), colour=HEALTH_COLOURS["critical"], bold=True))
    blocks: list[doc.Block] = []
    blocks += _summary(facts, findings)
    blocks += _models_chapter(facts, charts)
    blocks += _approvals_chapter(facts)
    blocks += _findings_chapter(findings)
    blocks += _timeline_chapter(facts)
    selection = _selection_text(facts)
    return doc.Document(
        title="Model governance report",
        subtitle=f"{selection} · {scope.describe_period()}",
        facts=(("Workspace", workspace), ("Models", selection),
               ("Period", scope.describe_period()), ("Generated", generated),
               ("Generated by", facts.generated_by),
               ("Application", f"ModelLedger {__version__}"), ("Audit chain", chain_text),
               ("Audit chain head", doc.Cell(chain.head_hash, mono=True)),
               ("Enclosed", "report.pdf and report.html hold the same report; the model "
                            "cards and the charts are also enclosed as files of their own.")),
        blocks=tuple(blocks),
        running_header=f"Model governance report — {selection}",
        dated=f"Generated {generated}",
        footer=f"ModelLedger {__version__} · {workspace}",
        author=facts.generated_by, created=now, title_page=True)


def _selection_text(facts: _Facts) -> str:
    if not facts.scope.model_names:
        return f"All {_count(len(facts.summaries), 'model')}"
    return ", ".join(facts.scope.model_names)


def _summary(facts: _Facts, findings: Sequence[Finding]) -> list[doc.Block]:
    runs = facts.runs
    failed = sum(run.status is RunStatus.FAILED for run in runs)
    missed = sum(len(slots) for slots in facts.missed.values())
    raised = [alert for alert in facts.alerts if facts.scope.contains(alert.first_seen_at)]
    unclosed = [alert for alert in facts.alerts if alert.status is not AlertStatus.CLOSED]
    requests = [approval.request for approval in facts.approvals_in_period()]
    decided = Counter(request.status.value for request in requests)
    rollbacks = sum(change.kind == "rollback" for change in facts.stage_changes)
    promotions = sum(change.kind == "promotion" for change in facts.stage_changes)
    severities = Counter(finding.severity for finding in findings)
    kinds = ", ".join(f"{kind}: {count:,}" for kind, count in facts.event_counts.most_common())
    events = sum(facts.event_counts.values())
    period = facts.scope.describe_period()
    overview = (
        f"{_selection_text(facts)}, {_count(len(facts.monitors), 'monitor')}. "
        f"In the period ({period[0].lower()}{period[1:]}): {_count(events, 'audit event')}, "
        f"{_count(len(runs), 'monitoring run')} ({failed} failed, {missed} missed), "
        f"{_count(len(raised), 'incident')} opened, {_count(len(requests), 'promotion request')}. "
        f"{_count(len(findings), 'open finding')}: {severities['critical']} critical, "
        f"{_count(severities['warn'], 'warning')}, {severities['info']} for information "
        "(section 4).")
    model_rows = []
    for summary in facts.summaries:
        card = facts.cards.get(summary.model.name)
        shown = (f"v{card.version.version_number} ({card.version.stage.value})" if card
                 else "no versions")
        unclosed_here = sum(alert.model_name == summary.model.name for alert in unclosed)
        model_rows.append((
            summary.model.name, _risk_cell(summary.model.risk_tier), summary.model.owner,
            shown, str(summary.monitor_count),
            _health_cell(summary.health) if summary.monitor_count
            else doc.Cell("not monitored", colour=MUTED),
            doc.Cell(str(unclosed_here), bold=bool(unclosed_here))))
    activity = (
        ("Audit events", f"{events:,}", kinds or "None"),
        ("Monitoring runs", f"{len(runs):,}",
         f"{len(runs) - failed:,} succeeded, {failed} failed; {missed} scheduled runs missed"),
        ("Incidents opened", str(len(raised)), f"{len(unclosed)} not closed today"),
        ("Promotion requests", str(len(requests)),
         ", ".join(f"{count} {status}" for status, count in sorted(decided.items()))
         or "None"),
        ("Deployments", str(promotions + rollbacks),
         f"{_count(promotions, 'promotion')} to production, {_count(rollbacks, 'rollback')}"),
        ("Audit chain", "intact" if facts.chain.intact else "BROKEN", facts.chain.describe()),
    )
    return [
        doc.Heading("Summary", 1, new_page=True), doc.Paragraph(overview),
        doc.Heading("Models", 2),
        doc.Table(("Model", "Risk tier", "Owner", "Card of", "Monitors", "Latest health",
                   "Unclosed incidents"), tuple(model_rows),
                  (0.25, 0.1, 0.1, 0.16, 0.1, 0.15, 0.14)),
        doc.Heading("Activity in the period", 2),
        doc.Table(("What", "Count", "Details"), activity, (0.2, 0.1, 0.7)),
    ]


def _models_chapter(facts: _Facts, charts: dict[int, list[tuple[str, bytes]]]
                    ) -> list[doc.Block]:
    blocks: list[doc.Block] = [
        doc.Heading("Models", 1, new_page=True),
        doc.Paragraph("Each model's card is that of its production version, or of its newest "
                      "version when none is in production. The health charts cover the "
                      "report's period; their dates are in the local time of the computer "
                      f"that generated the report ({datetime.now().astimezone():%Z, UTC%z})."),
    ]
    for index, summary in enumerate(facts.summaries):
        name = summary.model.name
        card = facts.cards.get(name)
        # Each model on a page of its own; the first right under the chapter's introduction.
        new_page = index > 0
        if card is None:
            blocks += [doc.Heading(name, 2, new_page=new_page),
                       doc.Paragraph("No version is registered, so there is no model card.",
                                     "muted")]
        else:
            blocks += [doc.Heading(f"{card.title} ({card.version.stage.value})", 2,
                                   new_page=new_page),
                       doc.Paragraph(model_cards.card_subtitle(card), "muted"),
                       *model_cards.card_blocks(card, level=3)]
        for monitor in (m for m in facts.monitors if m.model_name == name):
            blocks += _monitor_health(facts, monitor, charts.get(monitor.id, []))
    return blocks


def _monitor_health(facts: _Facts, monitor: Monitor,
                    charts: Sequence[tuple[str, bytes]]) -> list[doc.Block]:
    runs = [run for run in facts.runs if run.monitor_id == monitor.id]
    failed = [run for run in runs if run.status is RunStatus.FAILED]
    health = Counter(run.health.value for run in runs if run.status is RunStatus.SUCCEEDED)
    blocks: list[doc.Block] = [
        doc.Heading(f"Health: {monitor.name}", 3),
        doc.Facts((
            ("Runs in the period", f"{len(runs):,} ({len(failed)} failed, "
                                   f"{len(facts.missed.get(monitor.id, []))} missed)"),
            ("Health of the runs", ", ".join(f"{count} {name}" for name, count in
                                             health.most_common()) or "No run succeeded."),
            ("Latest run", f"{doc.utc_text(runs[0].slot)}: {runs[0].summary}" if runs
             else "No run in the period."),
        )),
    ]
    blocks += [doc.Image(png, f"{monitor.model_name} / {monitor.name}: {caption}")
               for caption, png in charts]
    if not charts:
        blocks.append(doc.Paragraph("No run has measured anything to chart yet.", "muted"))
    return blocks


def _approvals_chapter(facts: _Facts) -> list[doc.Block]:
    deployments = [change for change in facts.stage_changes
                   if change.to_stage is Stage.PRODUCTION or change.kind == "auto-archive"]
    return [
        doc.Heading("Approvals and deployments", 1, new_page=True),
        doc.Paragraph("Promotion requests made or decided in the period. The decider's role "
                      "is the one the audit log recorded with the decision. A decision is "
                      "independent when the decider neither developed the version nor asked "
                      "for its promotion."),
        doc.Heading("Promotion requests", 2),
        model_cards.approvals_table(facts.approvals_in_period(), with_version=True),
        doc.Heading("Deployments and rollbacks", 2),
        doc.Table(("When", "Version", "Change", "By", "Reason"), tuple(
            (doc.utc_text(change.occurred_at),
             f"{change.model_name} v{change.version_number}",
             doc.Cell(f"{change.kind}: {change.from_stage.value if change.from_stage else 'new'}"
                      f" to {change.to_stage.value}", colour=(
                          HEALTH_COLOURS["warn"] if change.kind == "rollback" else None)),
             change.actor, change.reason) for change in deployments),
            (0.19, 0.22, 0.22, 0.07, 0.3), empty="No deployment in the period."),
    ]


def _findings(facts: _Facts) -> list[Finding]:
    findings: list[Finding] = []
    if not facts.chain.intact:
        findings.append(Finding("critical", "", facts.chain.describe(), None,
                                "The log was changed outside ModelLedger: investigate and "
                                "compare with an earlier export."))
    for alert in facts.alerts:
        if alert.status is AlertStatus.CLOSED:
            continue
        handling = alert.status.value + (f", assigned to {alert.assignee}" if alert.assignee
                                         else "")
        findings.append(Finding(
            alert.severity.value, alert.model_name,
            f"Incident #{alert.id}: {alert.title.split(': ', 1)[-1]} ({alert.monitor_name}; "
            f"seen {_count(alert.occurrences, 'time')}, last "
            f"{doc.utc_text(alert.last_seen_at)})", alert.first_seen_at, handling))
    for approval in facts.approvals:
        request = approval.request
        where = f"{request.model_name} v{request.version_number}"
        if request.status is RequestStatus.PENDING:
            findings.append(Finding(
                "info", request.model_name,
                f"Promotion request #{request.id} of v{request.version_number} awaits a "
                f"decision: {request.reason}", request.requested_at,
                f"pending, asked by {request.requested_by}"))
        elif (request.status is RequestStatus.REJECTED
              and facts.scope.contains(request.decided_at)):
            findings.append(Finding(
                "info", request.model_name,
                f"Promotion of v{request.version_number} rejected by {request.decided_by}: "
                f"{request.decision_reason}", request.decided_at, "rejected"))
        elif approval.independent is False:
            findings.append(Finding("warn", request.model_name,
                                    f"Approval of {where} was not independent: "
                                    f"{approval.independence()}", request.decided_at,
                                    "approved"))
    for monitor in facts.monitors:
        failed = [run for run in facts.runs
                  if run.monitor_id == monitor.id and run.status is RunStatus.FAILED]
        if failed:
            findings.append(Finding(
                "warn", monitor.model_name,
                f"{monitor.name}: {_count(len(failed), 'failed run')} in the period; the "
                f"latest ({doc.utc_text(failed[0].slot)}): "
                f"{failed[0].error or failed[0].summary}", failed[-1].slot, "see the run log"))
        missed = facts.missed.get(monitor.id, [])
        if missed:
            findings.append(Finding(
                "warn", monitor.model_name,
                f"{monitor.name}: {_count(len(missed), 'scheduled run')} missed, "
                f"{doc.utc_text(min(missed))} to {doc.utc_text(max(missed))}",
                min(missed), "not run"))
        if monitor.status is MonitorStatus.PAUSED:
            findings.append(Finding("warn", monitor.model_name, f"{monitor.name} is paused: "
                                    "it does not run on its schedule.", None, "paused"))
    for summary in facts.summaries:
        if summary.production_version is not None and summary.monitor_count == 0:
            risky = summary.model.risk_tier in (RiskTier.HIGH, RiskTier.CRITICAL)
            findings.append(Finding(
                "warn" if risky else "info", summary.model.name,
                f"v{summary.production_version} is in production without any monitor "
                f"(risk tier {summary.model.risk_tier.value}).", None, "not monitored"))
    findings.sort(key=lambda finding: (SEVERITY_ORDER[finding.severity], finding.model,
                                       finding.since or datetime.min.replace(tzinfo=UTC)))
    return findings


def _findings_chapter(findings: Sequence[Finding]) -> list[doc.Block]:
    return [
        doc.Heading("Open findings", 1, new_page=True),
        doc.Paragraph("What is still open today, whatever the period: alerts not closed, "
                      "promotion requests awaiting a decision, and production models without "
                      "monitoring; and what happened in the period that needs a look: "
                      "rejected promotions, failed and missed monitoring runs, approvals that "
                      "were not independent and any break in the audit chain."),
        doc.Table(("Severity", "Model", "Finding", "Since", "Status"), tuple(
            (_severity_cell(finding.severity), finding.model or "workspace", finding.what,
             doc.utc_text(finding.since), finding.status) for finding in findings),
            (0.08, 0.19, 0.43, 0.16, 0.14), empty="No open findings."),
    ]


def _timeline_chapter(facts: _Facts) -> list[doc.Block]:
    total = sum(facts.event_counts.values())
    shown = facts.events
    note = (f"All {total:,} events recorded in the period for this selection, including the "
            "workspace's own (users and settings), oldest first.")
    if total > len(shown):
        note = (f"The period holds {total:,} events for this selection; the newest "
                f"{len(shown):,} (events {shown[0].seq:,} to {shown[-1].seq:,}) are listed, "
                "oldest first. Narrow the period to see earlier ones; the complete log is in "
                "the workspace's audit page and in the evidence pack's audit export.")
    note += (" An event is in the period when it was recorded in it; a monitoring run's "
             "details name the slot it ran for.")
    return [
        doc.Heading("Audit timeline", 1, new_page=True), doc.Paragraph(note),
        doc.Table(("#", "Time (UTC)", "Actor", "Action", "Entity", "Details"), tuple(
            (str(event.seq), event.occurred_at[:19].replace("T", "\n"), event.actor,
             event.action, _entity(event), _event_details(event)) for event in shown),
            (0.05, 0.11, 0.07, 0.2, 0.2, 0.37), empty="No events in the period."),
    ]


def _entity(event: AuditEvent) -> str:
    if event.entity_type == "alert":
        return f"alert #{event.entity_id}"
    if event.entity_type == "artifact":  # a SHA-256: its start identifies it in a list
        return f"file {_short(event.entity_id, 17)}"
    return event.entity_id


def _event_details(event: AuditEvent) -> str:
    """The reason and what changed, in a line or two."""
    before = model_cards.event_values(event.before)
    after = model_cards.event_values(event.after)
    parts = [event.reason] if event.reason else []
    if event.action.startswith("monitor.run") and "health" in after:
        slot = str(after.get("slot", ""))[:16].replace("T", " ")
        parts.append(f"run of {slot}, {after['health']}: "
                     f"{after.get('summary') or after.get('error')}")
    elif event.entity_type == "alert":
        parts.append(str(after.get("title") or after.get("status", "")))
    elif event.action == "model_card.edited":
        parts.append(f"{after.get('section')}: {len(before.get('text') or ''):,} to "
                     f"{len(after.get('text') or ''):,} characters")
    elif before:
        parts += [f"{key}: {_short(before[key])} to {_short(after.get(key))}"
                  for key in before if key in after][:3]
    elif not parts:
        # A creation without a reason: a few of its values say what was created.
        parts += [f"{key}: {_short(value)}" for key, value in after.items()
                  if not isinstance(value, dict | list)][:3]
    return _short(" — ".join(part for part in parts if part), 300)


def _short(value: Any, length: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= length else text[:length - 1] + "…"


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _health_cell(health: str | None) -> doc.CellValue:
    if health is None:
        return doc.Cell("no runs yet", colour=MUTED)
    return doc.Cell(health, colour=HEALTH_COLOURS.get(health), bold=True)


def _severity_cell(severity: str) -> doc.Cell:
    return doc.Cell(severity, colour=HEALTH_COLOURS.get(severity, MUTED), bold=True)


def _risk_cell(tier: RiskTier) -> doc.CellValue:
    if tier in (RiskTier.HIGH, RiskTier.CRITICAL):
        return doc.Cell(tier.value, bold=True)
    return tier.value
