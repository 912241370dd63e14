"""Audit commands: audit verify/list/export (signed evidence packs), and verify, which checks a
pack with nothing but the pack."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from modelledger.cli.arguments import day, in_workspace
from modelledger.cli.output import print_table
from modelledger.core.domain import EventFilter
from modelledger.core.errors import InvalidInputError


def add_commands(commands: argparse._SubParsersAction) -> None:
    audit = commands.add_parser("audit", help="the audit log").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    audit.add_parser(
        "verify", help="check the hash chain; names the first broken event",
    ).set_defaults(handler=_audit_verify)
    alist = audit.add_parser("list", help="newest events first")
    alist.add_argument("--limit", type=int, default=50)
    alist.add_argument("--model", help="only events about this model and its versions")
    alist.add_argument("--json", action="store_true", help="one JSON object per line")
    alist.set_defaults(handler=_audit_list)
    export = audit.add_parser("export", help="write a signed evidence pack (zip) of audit events")
    export.add_argument("--model", action="append", default=[], metavar="NAME",
                        help="only this model's events (repeat for several; default: all events)")
    export.add_argument("--from", dest="first_day", metavar="DATE",
                        help="first day, YYYY-MM-DD in UTC (default: the beginning)")
    export.add_argument("--to", dest="last_day", metavar="DATE",
                        help="last day, YYYY-MM-DD in UTC, included (default: up to now)")
    export.add_argument("--out", required=True, type=Path, metavar="PACK.zip",
                        help="the pack to write")
    export.set_defaults(handler=_audit_export)

    verify = commands.add_parser("verify", help="check an evidence pack or a review reply pack "
                                 "(needs nothing but the pack)")
    verify.add_argument("pack", type=Path, metavar="PACK.zip")
    verify.set_defaults(handler=_verify)


@in_workspace
def _audit_verify(ws, args) -> int:
    chain, decisions = ws.audit.verify_with_signatures()
    print(chain.describe())
    print(decisions.describe())
    return 0 if chain.intact and decisions.valid else 3


@in_workspace
def _audit_list(ws, args) -> int:
    events = ws.audit.list_events(EventFilter(model_name=args.model), limit=args.limit)
    if args.json:
        labels = ws.audit.subject_labels(events)
        for event in events:
            about = labels.get((event.entity_type, event.entity_id), event.entity_id)
            print(json.dumps({**event.__dict__, "about": about}, ensure_ascii=False))
        return 0
    labels = ws.audit.subject_labels(events)
    rows = [(str(e.seq), e.occurred_at[:19].replace("T", " "), e.actor, e.action,
             labels.get((e.entity_type, e.entity_id), e.entity_id)[:70], e.reason[:60])
            for e in events]
    print_table(("SEQ", "UTC", "ACTOR", "ACTION", "ABOUT", "REASON"), rows)
    return 0


@in_workspace
def _audit_export(ws, args) -> int:
    from modelledger.core.evidence import EventSelection
    from modelledger.services.governance.evidence_pack import build_evidence_pack

    first_day, last_day = day(args.first_day, "--from"), day(args.last_day, "--to")
    if first_day and last_day and first_day > last_day:
        raise InvalidInputError(f"--from {first_day} is after --to {last_day}; swap them.")
    selection = EventSelection.for_days(args.model, first_day, last_day)
    summary = build_evidence_pack(ws.database, ws.actor, selection, args.out)
    print(f"Wrote {summary.path} ({summary.size_bytes} bytes): events "
          f"{summary.first_seq}..{summary.last_seq}, {summary.selected_count} of the "
          f"{summary.event_count} in the chain segment selected ({selection.describe()}).")
    print(f"  signed by {ws.actor.user} with key {summary.signer_fingerprint}")
    print(f"  manifest SHA-256 {summary.manifest_sha256}; recorded as audit event "
          f"{summary.audit_seq}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from modelledger.services.governance.evidence_pack import available_processors, verify_pack

    verification = verify_pack(args.pack, processes=available_processors())
    print(verification.describe())
    return 0 if verification.valid else 1
