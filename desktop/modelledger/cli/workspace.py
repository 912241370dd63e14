"""Workspace commands: init, copy-to (e.g. into PostgreSQL), demo."""

from __future__ import annotations

import argparse
from pathlib import Path

from modelledger.cli.arguments import in_workspace
from modelledger.cli.output import print_step
from modelledger.core.errors import ModelLedgerError


def add_commands(commands: argparse._SubParsersAction) -> None:
    init = commands.add_parser("init", help="create a new workspace")
    init.add_argument("target", help="new .db file path or postgresql:// URL")
    init.add_argument("--shared", action="store_true",
                      help="the file will be shared by several machines (rollback journal)")
    init.add_argument("--single-user", action="store_true",
                      help="turn off the four-eyes rule for approvals (audited)")
    init.set_defaults(handler=_init)

    copy = commands.add_parser("copy-to", help="copy this workspace into a new, empty one "
                               "(e.g. a PostgreSQL database)")
    copy.add_argument("target", help="postgresql:// URL or new .db file, created if needed")
    copy.add_argument("--artifacts", type=Path,
                      help="artifact folder for the target (default: beside a file target, or "
                      "$MODELLEDGER_ARTIFACTS for a server)")
    copy.set_defaults(handler=_copy_to)

    demo = commands.add_parser("demo", help="create the demo workspace (without opening it)")
    demo.add_argument("target", nargs="?", type=Path, help="where (default: your data folder)")
    demo.set_defaults(handler=_demo)


def _init(args: argparse.Namespace) -> int:
    from modelledger.services.workspace.opening import Workspace

    workspace = Workspace.open(args.target, create=True, user=args.user)
    try:
        if args.shared:
            workspace.registry.set_shared_file(True, "created as a shared file (init --shared)")
        if args.single_user:
            workspace.registry.set_four_eyes_required(False, "single-user workspace (init)")
        print(f"Created workspace {workspace.database.display_name} "
              f"({workspace.database.sharing_mode.value}).")
    finally:
        workspace.close()
    return 0


@in_workspace
def _copy_to(ws, args) -> int:
    from modelledger.services.workspace.opening import Workspace
    from modelledger.services.workspace.transfer import copy_workspace
    from modelledger.storage.database import Database

    try:
        database = Database.open(args.target, create=True)
    except ModelLedgerError:
        database = Database.open(args.target)
    target = Workspace(database, user=ws.actor.user, artifact_root=args.artifacts)
    try:
        rows = copy_workspace(ws, target, progress=print_step)
        report = target.audit.verify()
        print(f"Copied {rows} rows to {database.display_name}; artifacts in "
              f"{target.artifacts.root}.")
        print(report.describe())
        return 0 if report.intact else 3
    finally:
        target.close()


def _demo(args: argparse.Namespace) -> int:
    from modelledger.services.demo.build import create_demo_workspace, default_demo_path

    path = create_demo_workspace(args.target or default_demo_path(), progress=print_step)
    print(f"Demo workspace ready: {path}")
    return 0
