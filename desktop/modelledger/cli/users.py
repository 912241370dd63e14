"""People, their keys and the workspace settings: user add/list, user enroll/approve/revoke/
rotate/keys/whoami/migrate (signed identity), settings four-eyes/shared-file."""

from __future__ import annotations

import argparse

from modelledger.cli.arguments import in_workspace
from modelledger.cli.output import print_table
from modelledger.core.domain import Role
from modelledger.core.errors import InvalidInputError
from modelledger.services.identity import keystore, postgres_grants


def add_commands(commands: argparse._SubParsersAction) -> None:
    user = commands.add_parser("user", help="workspace users").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    uadd = user.add_parser("add", help="add or change a user")
    uadd.add_argument("name")
    uadd.add_argument("--display-name", default="")
    uadd.add_argument("--role", choices=[r.value for r in Role], default=Role.DEVELOPER.value)
    uadd.set_defaults(handler=_user_add)
    user.add_parser("list", help="list users").set_defaults(handler=_user_list)

    enroll = user.add_parser("enroll", help="make your key on this workstation (if you have "
                             "none) and ask to be enrolled with it; an admin approves")
    enroll.add_argument("--display-name", default="")
    enroll.add_argument("--host", action="store_true",
                        help="the key of a headless instance (scheduler, scoring server, CI), "
                        "not of a person")
    enroll.add_argument("--reason", default="")
    enroll.set_defaults(handler=_user_enroll)
    approve = user.add_parser("approve", help="approve a person's pending enrolment (admin)")
    approve.add_argument("name")
    approve.add_argument("--role", choices=[r.value for r in Role],
                         help="their role (default: the one they have, developer for someone new)")
    approve.add_argument("--fingerprint", help="which pending key, when they have several")
    approve.add_argument("--reason", default="")
    approve.set_defaults(handler=_user_approve)
    revoke = user.add_parser("revoke", help="revoke a key (admin): what it signed before stays "
                             "valid, anything after is refused")
    revoke.add_argument("fingerprint", help="the key's fingerprint, or its first characters")
    revoke.add_argument("--reason", required=True)
    revoke.set_defaults(handler=_user_revoke)
    rotate = user.add_parser("rotate", help="replace your key with a new one, signed over by "
                             "the old")
    rotate.add_argument("--reason", default="")
    rotate.set_defaults(handler=_user_rotate)
    keys = user.add_parser("keys", help="enrolled keys with their status")
    keys.add_argument("--name", help="only this person's")
    keys.set_defaults(handler=_user_keys)
    user.add_parser("whoami", help="who you act as here, with your key").set_defaults(
        handler=_user_whoami)
    migrate = user.add_parser("migrate", help="set up signed identity on a workspace from "
                              "before it: you become its first admin with your key, and a "
                              "signed checkpoint vouches for every older event")
    migrate.add_argument("--display-name", default="")
    migrate.set_defaults(handler=_user_migrate)

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


def _own_key(ws) -> keystore.SigningKey:
    signer = ws.signer
    return signer.key() if signer.present() else keystore.create_key(signer.user)


@in_workspace
def _user_enroll(ws, args) -> int:
    if ws.identity.signed_from_seq() is None:
        raise InvalidInputError(
            f"{ws.database.display_name} is from before signed identity; an admin sets it up "
            "first with `modelledger user migrate`.")
    key = _own_key(ws)
    ws.identity.request_enrolment(key, kind="host" if args.host else "person",
                                  display_name=args.display_name, reason=args.reason)
    print(f"Asked to enrol {key.user}'s key {key.fingerprint[:16]}… ({key.path}); an admin "
          f"approves it with `modelledger user approve {key.user}`.")
    return 0


@in_workspace
def _user_approve(ws, args) -> int:
    key = ws.identity.approve(args.name, role=Role(args.role) if args.role else None,
                              fingerprint=args.fingerprint, reason=args.reason)
    role = next(u.role.value for u in ws.registry.list_users() if u.name == args.name)
    print(f"Approved {key.user}'s key {key.fingerprint[:16]}… ({key.kind} on {key.host}); "
          f"role {role}.")
    standing = postgres_grants.login_standing(ws.database, ws.actor.user)
    if standing is not None and standing.mapping_in_force:
        print(f"  The database grants follow roles: run `modelledger postgres grant --apply` "
              f"(with --map {key.user}=LOGIN if they have no login yet) so that their login "
              f"gets a {role}'s.")
    return 0


@in_workspace
def _user_revoke(ws, args) -> int:
    ws.identity.revoke(args.fingerprint, args.reason)
    print(f"Revoked key {args.fingerprint[:16]}…: what it signs from now on is refused.")
    return 0


@in_workspace
def _user_rotate(ws, args) -> int:
    current = ws.signer.key()
    new = keystore.new_key(current.user)
    ws.identity.rotate(current, new, args.reason)
    print(f"{current.user}'s key {current.fingerprint[:16]}… handed over to "
          f"{new.fingerprint[:16]}…; events signed before stay valid.")
    return 0


@in_workspace
def _user_keys(ws, args) -> int:
    print_table(("USER", "FINGERPRINT", "KIND", "HOST", "STATUS", "DECIDED BY", "SINCE"),
                [(k.user, k.fingerprint[:16], k.kind, k.host, k.status, k.decided_by or "-",
                  f"{(k.decided_at or k.requested_at):%Y-%m-%d %H:%M}")
                 for k in ws.identity.keys(user=args.name)])
    return 0


@in_workspace
def _user_whoami(ws, args) -> int:
    user = ws.actor.user
    if ws.identity.signed_from_seq() is None:
        print(f"{user} (this workspace is from before signed identity: anyone can act as "
              "anyone; an admin sets it up with `modelledger user migrate`)")
        return 0
    if not ws.signer.present():
        print(f"{user}: no key on this workstation; enrol with `modelledger user enroll`")
        return 1
    key = ws.signer.key()
    enrolled = ws.identity.key(key.fingerprint)
    status = enrolled.status if enrolled else "not enrolled"
    roles = {known.name: known.role.value for known in ws.registry.list_users()}
    role = roles.get(user, "no role")
    print(f"{user}, {role}; key {key.fingerprint} ({status})")
    standing = postgres_grants.login_standing(ws.database, user)
    if standing is not None:
        print(f"database login {standing.describe()}")
    return 0 if status == "active" and (standing is None or standing.may_write) else 1


@in_workspace
def _user_migrate(ws, args) -> int:
    ws.identity.bootstrap(_own_key(ws), display_name=args.display_name, migrated=True)
    print(f"Signed identity set up by {ws.actor.user}, its first admin; a signed checkpoint "
          "vouches for every event before it.")
    return 0
