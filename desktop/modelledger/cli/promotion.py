"""Promotion commands: promote request/approve/reject/list (four-eyes), rollback."""

from __future__ import annotations

import argparse

from modelledger.cli.arguments import in_workspace
from modelledger.cli.output import print_table
from modelledger.core.domain import RequestStatus


def add_commands(commands: argparse._SubParsersAction) -> None:
    promote = commands.add_parser("promote", help="promotion to production").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    request = promote.add_parser("request", help="ask for a staging version to go to production")
    request.add_argument("model")
    request.add_argument("number", type=int)
    request.add_argument("--reason", required=True)
    request.set_defaults(handler=_promote_request)
    for name in ("approve", "reject"):
        decide = promote.add_parser(name, help=f"{name} a pending request")
        decide.add_argument("request_id", type=int)
        decide.add_argument("--reason", required=True)
        decide.set_defaults(handler=_promote_approve if name == "approve" else _promote_reject)
        if name == "approve":
            decide.add_argument("--conditions", default="", metavar="TEXT",
                                help="what the approval depends on (e.g. 'quarterly "
                                "backtest'); recorded with it and shown on the model card")
    plist = promote.add_parser("list", help="promotion requests")
    plist.add_argument("--status", choices=[s.value for s in RequestStatus])
    plist.set_defaults(handler=_promote_list)

    rollback = commands.add_parser("rollback", help="put an earlier production version back")
    rollback.add_argument("model")
    rollback.add_argument("number", type=int)
    rollback.add_argument("--reason", required=True)
    rollback.set_defaults(handler=_rollback)


@in_workspace
def _promote_request(ws, args) -> int:
    request = ws.registry.request_promotion(args.model, args.number, args.reason)
    print(f"Promotion request #{request.id}: {request.model_name} v{request.version_number} -> "
          "production, waiting for approval.")
    return 0


@in_workspace
def _promote_approve(ws, args) -> int:
    version = ws.registry.approve_promotion(args.request_id, args.reason, args.conditions)
    print(f"Approved: {version.model_name} v{version.version_number} is now in production.")
    return 0


@in_workspace
def _promote_reject(ws, args) -> int:
    request = ws.registry.reject_promotion(args.request_id, args.reason)
    print(f"Rejected request #{request.id} ({request.model_name} v{request.version_number}).")
    return 0


@in_workspace
def _promote_list(ws, args) -> int:
    status = RequestStatus(args.status) if args.status else None
    rows = [
        (f"#{r.id}", r.model_name, f"v{r.version_number}", r.status.value, r.requested_by,
         f"{r.requested_at:%Y-%m-%d %H:%M}", r.decided_by or "-", r.reason)
        for r in ws.registry.list_promotion_requests(status)
    ]
    print_table(("ID", "MODEL", "VERSION", "STATUS", "BY", "AT", "DECIDED BY", "REASON"), rows)
    return 0


@in_workspace
def _rollback(ws, args) -> int:
    version = ws.registry.rollback(args.model, args.number, args.reason)
    print(f"Rolled back: {version.model_name} v{version.version_number} is in production again.")
    return 0
