"""User and settings commands: user add/list, settings four-eyes/shared-file."""

from __future__ import annotations

import argparse

from modelledger.cli.arguments import in_workspace
from modelledger.cli.output import print_table
from modelledger.core.domain import Role
from modelledger.core.errors import InvalidInputError


def add_commands(commands: argparse._SubParsersAction) -> None:
    user = commands.add_parser("user", help="workspace users").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    uadd = user.add_parser("add", help="add or change a user")
    uadd.add_argument("name")
    uadd.add_argument("--display-name", default="")
    uadd.add_argument("--role", choices=[r.value for r in Role], default=Role.DEVELOPER.value)
    uadd.set_defaults(handler=_user_add)
    user.add_parser("list", help="list users").set_defaults(handler=_user_list)

    settings = commands.add_parser("settings", help="workspace settings").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    for name, text, handler in (
            ("four-eyes", "require approval by a second person",
             _setting("four_eyes_required", "set_four_eyes_required", "Four-eyes approval")),
            ("shared-file", "the file is shared by several machines",
             _setting("shared_file", "set_shared_file", "Shared file"))):
        setting = settings.add_parser(name, help=text)
        setting.add_argument("value", choices=["on", "off", "show"])
        setting.add_argument("--reason", default="")
        setting.set_defaults(handler=handler)


@in_workspace
def _user_add(ws, args) -> int:
    user = ws.registry.save_user(args.name, args.display_name, Role(args.role))
    print(f"User {user.name} ({user.display_name}, {user.role.value}) saved.")
    return 0


@in_workspace
def _user_list(ws, args) -> int:
    rows = [(u.name, u.display_name, u.role.value) for u in ws.registry.list_users()]
    print_table(("USER", "NAME", "ROLE"), rows)
    return 0


def _setting(getter: str, setter: str, label: str):
    @in_workspace
    def handler(ws, args) -> int:
        if args.value == "show":
            print(f"{label}: {'on' if getattr(ws.registry, getter)() else 'off'}")
            return 0
        if not args.reason:
            raise InvalidInputError("Changing a setting needs --reason (it is audited).")
        getattr(ws.registry, setter)(args.value == "on", args.reason)
        print(f"{label} is now {args.value}.")
        return 0

    return handler
