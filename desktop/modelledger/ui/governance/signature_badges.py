"""Who signed each event, as the audit timeline and review mode show it.

Both judge events with a ``DecisionReport`` (core.identity): the live timeline from its last
chain check, review mode from the pack's own verification. Until a check has run, the timeline
shows only which key an event names, marked as not checked.
"""

from __future__ import annotations

import html
from collections.abc import Callable

from modelledger.core.domain import AuditEvent
from modelledger.core.identity import (
    BEFORE_IDENTITY,
    NOT_VALID,
    SCHEDULER_CHECKPOINTED,
    SCHEDULER_PENDING,
    UNCHECKED,
    VALID,
    DecisionReport,
    short_fingerprint,
)
from modelledger.ui.widgets.table_models import Column

VALID_COLOUR = "#1b5e20"
NOT_VALID_COLOUR = "#b00020"
QUIET_COLOUR = "#757575"

_SHORT_TEXT = {
    BEFORE_IDENTITY: "before identity",
    SCHEDULER_CHECKPOINTED: "scheduler · checkpoint",
    SCHEDULER_PENDING: "scheduler · no checkpoint yet",
}


def signature_text(event: AuditEvent, report: DecisionReport | None) -> str:
    """A few words for the table: the signer's name, or why there is none."""
    verdict = _verdict(event, report)
    if verdict is None or verdict.kind == UNCHECKED:
        return f"key {short_fingerprint(event.signer)} · not checked" if event.signer else ""
    if verdict.kind == VALID:
        return f"✔ {verdict.signer_name}"
    if verdict.kind == NOT_VALID:
        return "✖ NOT VALID"
    return _SHORT_TEXT[verdict.kind]


def signature_detail(event: AuditEvent, report: DecisionReport | None) -> str:
    """The whole verdict, for a tooltip and the event's details."""
    verdict = _verdict(event, report)
    if verdict is not None and verdict.kind != UNCHECKED:
        return verdict.text
    if event.signer:
        return (f"signed with key {short_fingerprint(event.signer)}; verify the chain to check "
                "the signature")
    return "not checked yet: verify the chain to check who signed it"


def signature_colour(event: AuditEvent, report: DecisionReport | None) -> str | None:
    verdict = _verdict(event, report)
    if verdict is None or verdict.kind == UNCHECKED:
        return QUIET_COLOUR
    return {VALID: VALID_COLOUR, NOT_VALID: NOT_VALID_COLOUR}.get(verdict.kind, QUIET_COLOUR)


def signature_column(report: Callable[[], DecisionReport | None]) -> Column:
    """The "Signed" column of an event table, judged by whatever ``report()`` holds now."""
    return Column("Signed", lambda event: signature_text(event, report()),
                  tooltip=lambda event: signature_detail(event, report()),
                  foreground=lambda event: signature_colour(event, report()))


def signature_html(event: AuditEvent, report: DecisionReport | None) -> str:
    """The verdict as a row value of the event's details."""
    colour = signature_colour(event, report) or QUIET_COLOUR
    weight = "bold" if colour == NOT_VALID_COLOUR else "normal"
    return (f"<span style='color:{colour}; font-weight:{weight}'>"
            f"{html.escape(signature_detail(event, report))}</span>")


def _verdict(event: AuditEvent, report: DecisionReport | None):
    return None if report is None else report.verdict(event.seq)
