"""Model cards: a version's facts from the registry, plus the sections only people can write.

A card is generated each time it is asked for, so it always says what the registry says:
purpose, owner and risk tier; the training data's fingerprint, the features, parameters and
metrics; the version's lineage and stage history; its approvals (who, in which role, when, on
what conditions, and whether the approver was independent of the developer); and its
monitoring set-up with the latest health. What cannot be generated is written by people in a
fixed list of free-text sections (`FREE_TEXT_SECTIONS`), stored per version; every edit is
audited with the text before and after.

A version whose section was never written shows the text of the newest earlier version that
has one, marked as carried over, so that a new version starts from its predecessor's card and
the reviewer sees what was not yet looked at again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from modelledger import __version__
from modelledger.core.domain import (
    Actor,
    EventFilter,
    ModelVersion,
    PromotionRequest,
    RegisteredModel,
    RequestStatus,
    Stage,
    StageChange,
)
from modelledger.core.errors import ConcurrentEditError, InvalidInputError
from modelledger.core.monitoring import MonitorOverview, RunStatus, metric_label
from modelledger.core.palette import HEALTH_COLOURS
from modelledger.services.changes.events import ChangeBus, ChangeEvent
from modelledger.services.changes.unit_of_work import Clock, audited_write
from modelledger.services.governance import documents as doc
from modelledger.storage import audit_log
from modelledger.storage import model_card_repo as cards
from modelledger.storage import monitoring_repo as mrepo
from modelledger.storage import repositories as repo
from modelledger.storage.database import Database
from modelledger.storage.tables import utc_now

MAX_SECTION_CHARACTERS = 20_000


@dataclass(frozen=True)
class FreeTextSection:
    key: str  # stored in model_card_texts.section
    title: str
    prompt: str  # what belongs here: the editor's placeholder, and said on a card without it


# The sections of a model card (Mitchell et al., "Model Cards for Model Reporting") that the
# registry cannot fill in; everything else on the card is generated.
FREE_TEXT_SECTIONS = (
    FreeTextSection("out_of_scope_use", "Out-of-scope use",
                    "Uses the model must not be put to, and the people, settings or data it was "
                    "not built for."),
    FreeTextSection("evaluation_data", "Evaluation data",
                    "The data the metrics were measured on: source, period, size, and how it was "
                    "kept apart from the training data."),
    FreeTextSection("limitations", "Limitations",
                    "Known weaknesses: groups or conditions where it performs worse, and "
                    "assumptions that may stop holding."),
    FreeTextSection("ethical_considerations", "Ethical considerations",
                    "Risks to the people its outputs affect: fairness, privacy, sensitive "
                    "features, and the human oversight in place."),
    FreeTextSection("caveats_and_recommendations", "Caveats and recommendations",
                    "What users and reviewers should keep in mind, and the checks or conditions "
                    "of use recommended."),
)
_SECTIONS = {section.key: section for section in FREE_TEXT_SECTIONS}


@dataclass(frozen=True)
class CardText:
    """A free-text section as the card shows it."""

    section: FreeTextSection
    text: str
    written_for: int | None  # the version the text was written for; None: never written
    updated_by: str | None
    updated_at: datetime | None
    carried_over: bool  # written for an earlier version, not yet for this one


@dataclass(frozen=True)
class Approval:
    """A promotion request of the version and its decision."""

    request: PromotionRequest
    developer: str  # who registered the version
    requester_role: str
    decider_role: str | None  # at the time of the decision when the audit log recorded it
    conditions: str

    @property
    def independent(self) -> bool | None:
        """Whether the decider is neither the developer nor the requester; None if pending."""
        if self.request.decided_by is None:
            return None
        return self.request.decided_by not in (self.developer, self.request.requested_by)

    def independence(self) -> str:
        decider = self.request.decided_by
        if decider is None:
            return "Not decided yet."
        if self.independent:
            return (f"Independent: {decider} is neither the developer ({self.developer}) nor "
                    f"the requester ({self.request.requested_by}).")
        roles = [name for name, person in (("developer", self.developer),
                                           ("requester", self.request.requested_by))
                 if person == decider]
        return f"NOT independent: {decider} is also the {' and the '.join(roles)}."


@dataclass(frozen=True)
class ThresholdInForce:
    metric: str  # e.g. "PSI"
    warn: float | None
    critical: float | None
    higher_is_worse: bool
    applies_to: str  # the columns it applies to ("" for the whole data set)


@dataclass(frozen=True)
class MonitorSetup:
    """A monitor of the model: configuration, thresholds in force and latest health."""

    overview: MonitorOverview
    thresholds: tuple[ThresholdInForce, ...]  # as the latest succeeded run applied them
    kpis: tuple[str, ...]  # "approval rate: target 0.62 ± 0.04 (higher is better)"
    latest_summary: str
    runs_on_version: int
    failed_runs_on_version: int


@dataclass(frozen=True)
class ModelCard:
    model: RegisteredModel
    version: ModelVersion
    lineage: tuple[ModelVersion, ...]  # the version, its parent, its parent's parent, ...
    stage_history: tuple[StageChange, ...]  # of this version
    approvals: tuple[Approval, ...]
    monitors: tuple[MonitorSetup, ...]
    texts: tuple[CardText, ...]  # in the order of FREE_TEXT_SECTIONS
    workspace: str
    generated_by: str
    generated_at: datetime

    def text(self, key: str) -> CardText:
        return next(text for text in self.texts if text.section.key == key)

    @property
    def title(self) -> str:
        return f"{self.model.name} v{self.version.version_number}"


class ModelCardService:
    def __init__(self, database: Database, actor: Actor, bus: ChangeBus | None = None, *,
                 clock: Clock = utc_now) -> None:
        self._db = database
        self.actor = actor
        self._bus = bus or ChangeBus()
        self._clock = clock

    def card(self, model_name: str, version_number: int) -> ModelCard:
        """The card of one version, generated from the registry as it is now."""
        return self._db.read(lambda conn: read_card(
            conn, model_name, version_number, workspace=self._db.display_name,
            generated_by=self.actor.user, generated_at=self._clock()))

    def current_version_number(self, model_name: str) -> int:
        """The version a card is about by default: the one in production, else the newest."""
        return self._db.read(lambda conn: current_version_number(conn, model_name))

    def save_section(self, model_name: str, version_number: int, section: str, text: str,
                     reason: str, *, expected_text: str | None = None) -> CardText:
        """Store a free-text section of a version's card, audited with the text before and
        after. ``expected_text`` is what the section held for this version when the editor
        opened it ("" when nothing was written for it); if someone saved another text since,
        nothing is stored. Saving the same text again records nothing."""
        spec = free_text_section(section)
        if not reason or not reason.strip():
            raise InvalidInputError("Give a reason for the change: it is kept in the audit log.")
        text = "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n")).strip()
        if len(text) > MAX_SECTION_CHARACTERS:
            raise InvalidInputError(
                f"{spec.title} is {len(text):,} characters long; a section holds at most "
                f"{MAX_SECTION_CHARACTERS:,}. Shorten it, or keep the details in a document "
                "the section refers to.")

        def unit(conn, audit, now):
            version = repo.get_version(conn, repo.get_model(conn, model_name), version_number)
            stored = cards.section_text(conn, version.id, spec.key)
            current = stored.text if stored is not None else ""
            if expected_text is not None and stored is not None and current != expected_text:
                raise ConcurrentEditError(
                    f"{stored.updated_by} changed {spec.title} of {model_name} "
                    f"v{version_number} at {doc.utc_text(stored.updated_at)} while you were "
                    "editing it. Your text was not saved: reload the card, check their "
                    "changes and make yours again.")
            if stored is not None and current == text:
                return _card_text(spec, stored, version_number)
            cards.put_section_text(conn, version.id, spec.key, text, self.actor.user, now)
            audit.append("model_card.edited", "version", f"{model_name}/v{version_number}",
                         before={"section": spec.key,
                                 "text": stored.text if stored is not None else None},
                         after={"section": spec.key, "text": text}, reason=reason.strip())
            return CardText(spec, text, version_number, self.actor.user, now, False)

        return audited_write(self._db, self.actor, self._bus, unit, lambda _: ChangeEvent(
            "model_card", f"{model_name}/v{version_number}", "edited"), clock=self._clock)


def free_text_section(key: str) -> FreeTextSection:
    section = _SECTIONS.get(key)
    if section is None:
        raise InvalidInputError(
            f"A model card has no free-text section '{key}'; the sections are "
            f"{', '.join(_SECTIONS)}.")
    return section


def current_version_number(conn: Connection, model_name: str) -> int:
    model = repo.get_model(conn, model_name)
    production = repo.production_version(conn, model.id)
    if production is not None:
        return production.version_number
    newest = repo.list_versions(conn, model, limit=1)
    if not newest:
        raise InvalidInputError(
            f"{model_name} has no versions yet, so it has no model card: register a version "
            "first.")
    return newest[0].version_number


def read_card(conn: Connection, model_name: str, version_number: int, *, workspace: str,
              generated_by: str, generated_at: datetime | None = None) -> ModelCard:
    """The card of one version, read within the caller's transaction."""
    model = repo.get_model(conn, model_name)
    version = repo.get_version(conn, model, version_number)
    versions = {v.version_number: v for v in repo.list_versions(conn, model)}
    lineage = [version]
    while lineage[-1].parent_version is not None and lineage[-1].parent_version in versions:
        lineage.append(versions[lineage[-1].parent_version])
    return ModelCard(
        model=model, version=version, lineage=tuple(lineage),
        stage_history=tuple(repo.stage_history(conn, model, version_number)),
        approvals=read_approvals(conn, model, version_number),
        monitors=tuple(_monitor_setup(conn, overview, version_number)
                       for overview in mrepo.monitor_overviews(conn, model_name=model.name)),
        texts=_texts(conn, model, version_number), workspace=workspace,
        generated_by=generated_by, generated_at=generated_at or datetime.now(UTC))


def _texts(conn: Connection, model: RegisteredModel, version_number: int) -> tuple[CardText, ...]:
    newest_first: dict[str, cards.SectionText] = {}
    for stored in cards.section_texts(conn, model.id, version_number):
        newest_first.setdefault(stored.section, stored)
    texts = []
    for spec in FREE_TEXT_SECTIONS:
        stored = newest_first.get(spec.key)
        texts.append(_card_text(spec, stored, version_number) if stored is not None
                     else CardText(spec, "", None, None, None, False))
    return tuple(texts)


def _card_text(spec: FreeTextSection, stored: cards.SectionText,
               version_number: int) -> CardText:
    return CardText(spec, stored.text, stored.version_number, stored.updated_by,
                    stored.updated_at, stored.version_number != version_number)


def read_approvals(conn: Connection, model: RegisteredModel,
                   version_number: int | None = None) -> tuple[Approval, ...]:
    """The model's promotion requests (of one version, if given) with their decisions, oldest
    first."""
    requests = [request for request in repo.list_requests(conn, None, model)
                if version_number is None or request.version_number == version_number]
    if not requests:
        return ()
    developers = {version.version_number: version.created_by
                  for version in repo.list_versions(conn, model)}
    # The decision's audit event holds the roles at the time and the approval's conditions.
    recorded: dict[str, dict[str, Any]] = {}
    for event in audit_log.list_events(
            conn, EventFilter(entity_type="promotion_request", model_name=model.name),
            limit=100_000):
        recorded.setdefault(event.entity_id, {}).update(
            {key: value for key, value in event_values(event.after).items()
             if value not in (None, "")})
    roles = {user.name: user.role.value for user in repo.list_users(conn)}
    approvals = []
    for request in sorted(requests, key=lambda r: (r.requested_at, r.id)):
        facts = recorded.get(
            f"{model.name}/v{request.version_number}/request-{request.id}", {})
        decider_role = facts.get("approver_role") or roles.get(request.decided_by or "")
        approvals.append(Approval(
            request, developers[request.version_number],
            facts.get("requester_role") or roles.get(request.requested_by, "unknown"),
            decider_role if request.decided_by else None, facts.get("conditions", "")))
    return tuple(approvals)


def _monitor_setup(conn: Connection, overview: MonitorOverview,
                   version_number: int) -> MonitorSetup:
    monitor = overview.monitor
    runs = mrepo.list_runs(conn, monitor_id=monitor.id, limit=None)
    succeeded = next((run for run in runs if run.status is RunStatus.SUCCEEDED), None)
    thresholds: dict[tuple[str, float | None, float | None], list[str]] = {}
    if succeeded is not None:
        for value in mrepo.list_run_metrics(conn, succeeded.id):
            if value.warn is not None or value.critical is not None:
                thresholds.setdefault((value.metric, value.warn, value.critical),
                                      []).append(value.subject)
    in_force = tuple(
        ThresholdInForce(metric_label(metric), warn, critical,
                         critical is None or warn is None or critical >= warn,
                         _applies_to(subjects))
        for (metric, warn, critical), subjects in thresholds.items())
    kpis = tuple(f"{kpi.name}: target {kpi.target:g} ± {kpi.tolerance:g} "
                 f"({_KPI_DIRECTIONS.get(kpi.direction, kpi.direction)})"
                 for kpi in monitor.spec.kpis)
    on_version = [run for run in runs if run.version_number == version_number]
    latest = runs[0].summary if runs else "No run yet."
    return MonitorSetup(overview, in_force, kpis, latest, len(on_version),
                        sum(run.status is RunStatus.FAILED for run in on_version))


_KPI_DIRECTIONS = {"higher": "higher is better", "lower": "lower is better",
                   "both": "both sides watched"}


def _applies_to(subjects: Sequence[str]) -> str:
    named = [subject for subject in subjects if subject]
    if not named:
        return "whole data set"
    if len(named) > 6:
        return f"{len(named)} columns"
    return ", ".join(named)


# -- The card as a document ------------------------------------------------------------------


def to_markdown(card: ModelCard) -> str:
    return doc.to_markdown(card_document(card))


def to_html(card: ModelCard) -> str:
    return doc.to_html(card_document(card))


def to_pdf(card: ModelCard) -> bytes:
    return doc.to_pdf(card_document(card))


def card_document(card: ModelCard) -> doc.Document:
    generated = doc.utc_text(card.generated_at)
    return doc.Document(
        title=f"Model card: {card.title}",
        subtitle=card_subtitle(card),
        facts=(("Workspace", card.workspace),
               ("Generated", f"{generated} by {card.generated_by} with ModelLedger "
                             f"{__version__}")),
        blocks=card_blocks(card, level=1),
        running_header=f"Model card — {card.title}",
        dated=f"Generated {generated}",
        footer=f"ModelLedger {__version__} · {card.workspace}",
        author=card.generated_by, created=card.generated_at)


def card_subtitle(card: ModelCard) -> str:
    return (f"{card.version.stage.value.capitalize()} version · risk tier "
            f"{card.model.risk_tier.value} · owner {card.model.owner}")


def card_blocks(card: ModelCard, *, level: int) -> tuple[doc.Block, ...]:
    """The card's sections, their headings at ``level`` (1 for a card on its own)."""
    model, version = card.model, card.version
    sub = level + 1

    def heading(text: str, depth: int = level) -> doc.Heading:
        return doc.Heading(text, depth)

    blocks: list[doc.Block] = [heading("Model details"), doc.Facts(_details(card))]
    blocks += [heading("Intended use"),
               doc.Facts((("Purpose", model.purpose or "Not recorded."),
                          ("Intended use", model.intended_use or "Not recorded."))),
               *_free_text(card, "out_of_scope_use", sub)]
    blocks += [heading("Training data"), doc.Facts(_training_data(version))]
    blocks += [heading("Features"), _features(version)]
    blocks += [heading("Parameters"), doc.Table(
        ("Parameter", "Value"), tuple((name, format_value(value))
                                      for name, value in sorted(version.parameters.items())),
        (0.4, 0.6), empty="No parameters were recorded.")]
    blocks += [heading("Metrics"), doc.Table(
        ("Metric", "Value"), tuple((name, format_value(value))
                                   for name, value in sorted(version.metrics.items())),
        (0.4, 0.6), empty="No metrics were recorded."),
        *_free_text(card, "evaluation_data", sub)]
    blocks += [heading("Lineage"), _lineage(card),
               heading(f"Stage history of v{version.version_number}", sub),
               _stage_history(card.stage_history)]
    blocks += [heading("Approvals"), approvals_table(card.approvals)]
    blocks += [heading("Monitoring"), *_monitoring(card, sub)]
    for key in ("limitations", "ethical_considerations", "caveats_and_recommendations"):
        blocks += _free_text(card, key, level)
    blocks += [heading("Environment"), doc.Facts(tuple(
        (name, value) for name, value in sorted(version.environment.items()))
        or (("Environment", "Not recorded."),))]
    return tuple(blocks)


def _version_label(version: ModelVersion) -> str:
    return f"v{version.version_number} ({version.stage.value})"


def _details(card: ModelCard) -> tuple[tuple[str, doc.CellValue], ...]:
    model, version = card.model, card.version
    artifact = version.artifact
    rows: list[tuple[str, doc.CellValue]] = [
        ("Model", model.name),
        ("Description", model.description or "Not recorded."),
        ("Owner", model.owner),
        ("Risk tier", model.risk_tier.value),
        ("Status", model.status.value),
        ("Tags", ", ".join(model.tags) or "None"),
        ("Registered", f"{doc.utc_text(model.created_at)} by {model.created_by}"),
        ("Version", _version_label(version)),
        ("Version registered", f"{doc.utc_text(version.created_at)} by {version.created_by}"),
        ("Framework", version.framework or "Not recorded."),
        ("Estimator", version.estimator_class or "Not recorded."),
    ]
    if artifact is None:
        rows.append(("Model file", "None: the model is scored elsewhere; ModelLedger monitors "
                                   "its logged predictions."))
    else:
        rows += [("Model file", f"{artifact.original_filename} ({artifact.format.value}, "
                                f"{artifact.size_bytes:,} bytes)"),
                 ("Model file SHA-256", doc.Cell(artifact.sha256, mono=True))]
    rows.append(("Notes", version.notes or "None"))
    return tuple(rows)


def _training_data(version: ModelVersion) -> tuple[tuple[str, doc.CellValue], ...]:
    data = version.training_data
    if not data:
        return (("Training data", "No fingerprint was recorded: the version was registered "
                                  "without its training data."),)
    rows: list[tuple[str, doc.CellValue]] = []
    if "file" in data:
        rows.append(("File", str(data["file"])))
    if "file_sha256" in data:
        rows.append(("File SHA-256", doc.Cell(str(data["file_sha256"]), mono=True)))
    if "content_sha256" in data:
        rows.append(("Content fingerprint (SHA-256)",
                     doc.Cell(str(data["content_sha256"]), mono=True)))
    for key, label in (("rows", "Rows"), ("columns", "Columns")):
        if key in data:
            rows.append((label, format_value(data[key])))
    known = {"file", "file_sha256", "content_sha256", "rows", "columns"}
    rows += [(key, format_value(value)) for key, value in sorted(data.items())
             if key not in known]
    return tuple(rows)


def _features(version: ModelVersion) -> doc.Table:
    return doc.Table(("#", "Feature", "Type"),
                     tuple((str(index), column.get("name", ""), column.get("dtype", ""))
                           for index, column in enumerate(version.feature_schema, start=1)),
                     (0.08, 0.62, 0.3), empty="No feature list was recorded.")


def _lineage(card: ModelCard) -> doc.Table:
    rows = []
    for version in card.lineage:
        marker = " (this card)" if version.id == card.version.id else ""
        artifact: doc.CellValue = (doc.Cell(version.artifact.sha256[:16] + "…", mono=True)
                                   if version.artifact else "no file")
        rows.append((f"v{version.version_number}{marker}", version.stage.value,
                     f"{doc.utc_text(version.created_at)}\n{version.created_by}", artifact,
                     version.notes))
    return doc.Table(("Version", "Stage", "Registered", "Model file", "Notes"), tuple(rows),
                     (0.14, 0.12, 0.2, 0.2, 0.34))


def _stage_history(changes: Sequence[StageChange]) -> doc.Table:
    return doc.Table(
        ("When", "Change", "Kind", "By", "Reason"),
        tuple((doc.utc_text(change.occurred_at),
               f"{change.from_stage.value if change.from_stage else 'registered'} to "
               f"{change.to_stage.value}", change.kind, change.actor, change.reason)
              for change in changes),
        (0.18, 0.22, 0.12, 0.1, 0.38), empty="No stage changes.")


def approvals_table(approvals: Sequence[Approval], *, with_version: bool = False) -> doc.Table:
    """Requests and decisions; ``with_version`` adds which model and version (for lists of
    several versions)."""
    rows = []
    for approval in approvals:
        request = approval.request
        asked = (f"#{request.id}: {request.requested_by} ({approval.requester_role})\n"
                 f"{doc.utc_text(request.requested_at)}\n{request.reason}")
        if request.status is RequestStatus.PENDING:
            decision: doc.CellValue = doc.Cell("pending", colour=HEALTH_COLOURS["warn"],
                                               bold=True)
        else:
            decision = doc.Cell(
                f"{request.status.value} by {request.decided_by} ({approval.decider_role})\n"
                f"{doc.utc_text(request.decided_at)}",
                colour=(HEALTH_COLOURS["ok"] if request.status is RequestStatus.APPROVED
                        else HEALTH_COLOURS["critical"]))
        reason = request.decision_reason or ""
        if approval.conditions:
            reason += f"\nConditions: {approval.conditions}"
        independence = doc.Cell(approval.independence(), colour=(
            HEALTH_COLOURS["critical"] if approval.independent is False else None))
        row: tuple[doc.CellValue, ...] = (asked, decision, reason.strip() or "—", independence)
        if with_version:
            row = (f"{request.model_name} v{request.version_number}\n"
                   f"to {request.target_stage.value}", *row)
        rows.append(row)
    columns = ("Request", "Decision", "Decision reason and conditions", "Independence")
    widths: tuple[float, ...] = (0.3, 0.22, 0.24, 0.24)
    if with_version:
        columns, widths = ("Version", *columns), (0.2, 0.25, 0.18, 0.18, 0.19)
    return doc.Table(columns, tuple(rows), widths, empty="No promotion was requested.")


def _monitoring(card: ModelCard, level: int) -> list[doc.Block]:
    if not card.monitors:
        note = ("This version is in production without any monitor."
                if card.version.stage is Stage.PRODUCTION else "The model has no monitors.")
        return [doc.Paragraph(note, "alert" if card.version.stage is Stage.PRODUCTION
                              else "muted")]
    blocks: list[doc.Block] = []
    for setup in card.monitors:
        monitor = setup.overview.monitor
        health = setup.overview.last_health
        latest = (doc.Cell(f"{health.value} ({doc.utc_text(setup.overview.last_run_at)})",
                           colour=HEALTH_COLOURS.get(health.value), bold=True)
                  if health is not None else "No run yet.")
        follows = (f"pinned to v{monitor.pinned_version}" if monitor.pinned_version
                   else "the production version")
        blocks += [doc.Heading(f"Monitor: {monitor.name}", level), doc.Facts((
            ("Watches", follows),
            ("Schedule", f"{monitor.schedule.describe()}, {monitor.status.value}"),
            ("Reference data", f"{monitor.reference_name}, {monitor.reference_rows:,} rows"),
            ("Reference SHA-256", doc.Cell(monitor.reference_sha256, mono=True)),
            ("Features watched", ", ".join(monitor.spec.features)),
            ("Data source", monitor.spec.source.describe()),
            ("Failures before pausing", str(monitor.max_failures)),
            ("Latest health", latest),
            ("Latest run", setup.latest_summary),
            ("Open incidents", str(setup.overview.open_alerts)),
            (f"Runs on v{card.version.version_number}",
             f"{setup.runs_on_version} ({setup.failed_runs_on_version} failed)"),
            *((("KPIs", "\n".join(setup.kpis)),) if setup.kpis else ()),
        )), doc.Table(
            ("Threshold in force", "Warn at", "Critical at", "Bad when", "Applies to"),
            tuple((threshold.metric, format_value(threshold.warn),
                   format_value(threshold.critical),
                   "higher" if threshold.higher_is_worse else "lower", threshold.applies_to)
                  for threshold in setup.thresholds),
            (0.26, 0.12, 0.12, 0.12, 0.38),
            empty="No run has succeeded yet: the thresholds in force are listed after the "
                  "first one.")]
    return blocks


def _free_text(card: ModelCard, key: str, level: int) -> list[doc.Block]:
    text = card.text(key)
    blocks: list[doc.Block] = [doc.Heading(text.section.title, level)]
    if not text.text:
        blocks.append(doc.Paragraph(f"Not written yet. {text.section.prompt}", "muted"))
        return blocks
    blocks.append(doc.Paragraph(text.text))
    written = f"{text.updated_by} on {doc.utc_text(text.updated_at)}"
    blocks.append(doc.Paragraph(
        f"Carried over from v{text.written_for} (written by {written}); not yet reviewed for "
        f"v{card.version.version_number}." if text.carried_over else f"Written by {written}.",
        "muted"))
    return blocks


def event_values(text: str) -> dict[str, Any]:
    """The values an audit event recorded before or after a change; empty when the stored
    text is not a JSON object (a log edited behind ModelLedger's back: the documents are
    still written, and the chain's verification names the broken event)."""
    try:
        values = json.loads(text)
    except ValueError:
        return {}
    return values if isinstance(values, dict) else {}


def format_value(value: Any) -> str:
    """A parameter, metric or fact as a reviewer reads it."""
    if value is None:
        return "None"
    if isinstance(value, bool | str):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.6g}"
    return json.dumps(value, ensure_ascii=False)
