"""``modelledger``: the parser, built from the command groups, and the entry point.

``modelledger`` with no command (or ``--demo``) starts the desktop application.
Known errors print one line to stderr and exit non-zero; exit code 2 means bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from modelledger import __version__
from modelledger.cli import (
    audit,
    desktop,
    models,
    monitoring,
    postgres,
    promotion,
    serving,
    training,
    users,
    workspace,
)
from modelledger.cli.arguments import WORKSPACE_ENV
from modelledger.core.errors import ModelLedgerError

# In the order `modelledger --help` lists them.
COMMAND_GROUPS = (workspace, models, promotion, training, serving, audit, users, postgres,
                  monitoring, desktop)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelledger",
        description="Model inventory, lifecycle and audit log. Without a command, starts the "
        "desktop application.",
    )
    parser.add_argument("--version", action="version", version=f"ModelLedger {__version__}")
    parser.add_argument(
        "-w", "--workspace",
        help=f"workspace file or postgresql:// URL (default: ${WORKSPACE_ENV})",
    )
    parser.add_argument("-u", "--user", help="act as this user (default: $MODELLEDGER_USER or "
                        "your login name)")
    parser.add_argument("--passphrase-file", type=Path, metavar="FILE",
                        help="unlock your signing key with the passphrase in FILE (headless "
                        "use; default: $MODELLEDGER_PASSPHRASE, else you are asked)")
    parser.add_argument("--demo", action="store_true",
                        help="open the desktop application on the demo workspace (created if "
                        "absent)")
    parser.set_defaults(handler=desktop.launch_gui)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from modelledger.logs import configure_logging

    configure_logging(console=args.command is not None)
    try:
        if args.passphrase_file is not None:
            from modelledger.services.identity import keystore

            keystore.set_passphrase(keystore.read_passphrase_file(args.passphrase_file))
        return args.handler(args)
    except ModelLedgerError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
