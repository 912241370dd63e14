"""Commands that start the desktop application: gui (also what no command at all does) and
self-test."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from modelledger.cli.arguments import WORKSPACE_ENV


def add_commands(commands: argparse._SubParsersAction) -> None:
    self_test = commands.add_parser(
        "self-test", help="check this installation: build the demo workspace in a folder of its "
        "own, open it in the window, run a monitor, export an evidence pack and verify it in "
        "review mode (needs a display, or QT_QPA_PLATFORM=offscreen)")
    self_test.add_argument("--keep", type=Path, metavar="FOLDER",
                           help="work in FOLDER and keep it (default: a temporary folder)")
    self_test.add_argument("--timeout", type=float, default=600, metavar="SECONDS",
                           help="give up after this long (default 600)")
    self_test.set_defaults(handler=_self_test)

    gui = commands.add_parser("gui", help="start the desktop application")
    gui.add_argument("target", nargs="?", help="workspace to open")
    gui.set_defaults(handler=launch_gui)


def launch_gui(args: argparse.Namespace) -> int:
    from modelledger.app import run_application

    target = getattr(args, "target", None) or args.workspace or os.environ.get(WORKSPACE_ENV)
    return run_application(target, demo=args.demo, user=args.user)


def _self_test(args: argparse.Namespace) -> int:
    from modelledger.app import run_self_test

    return run_self_test(args.keep, timeout_s=args.timeout)
