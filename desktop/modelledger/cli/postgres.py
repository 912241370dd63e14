"""PostgreSQL identity: postgres grant (print or apply the GRANTs, map people to logins)."""

from __future__ import annotations

import argparse

from modelledger.cli.arguments import in_workspace, key_values
from modelledger.services.identity import postgres_grants


def add_commands(commands: argparse._SubParsersAction) -> None:
    postgres = commands.add_parser("postgres", help="PostgreSQL workspaces: database logins "
                                   "and grants").add_subparsers(dest="action", metavar="ACTION",
                                                                required=True)
    grant = postgres.add_parser(
        "grant", help="print (or with --apply run) the GRANTs that let each person's database "
        "login do only what their role allows: viewers SELECT, nobody UPDATE, DELETE or "
        "TRUNCATE on the audit log")
    grant.add_argument("--map", action="append", default=[], metavar="PERSON=LOGIN",
                       help="PERSON connects as the database login LOGIN (repeatable; recorded "
                       "as a signed event with --apply). You are mapped to the login you are "
                       "connected as unless you say otherwise")
    grant.add_argument("--apply", action="store_true",
                       help="run the statements and record the mapping (an admin, connected as "
                       "the tables' owner or a superuser)")
    grant.add_argument("--reason", default="")
    grant.set_defaults(handler=_grant)


@in_workspace
def _grant(ws, args) -> int:
    # Logins are names, never JSON values: key_values' "numeric" keeps them as text.
    changes = key_values(args.map, "--map", numeric=True)
    if not args.apply:
        plan = postgres_grants.plan_grants(ws.database, ws.actor.user, changes)
        # Notes as SQL comments: the output can go straight to psql.
        print(plan.sql(), end="")
        for note in _notes(plan):
            print(f"-- {note}")
        if plan.changes or plan.out_of_date:
            print("-- Not applied and not recorded: run again with --apply to record the "
                  "mapping and apply these grants.")
        return 0
    plan = postgres_grants.apply_grants(ws.database, ws.actor, ws.changes, changes,
                                        reason=args.reason, clock=ws.clock)
    print(f"Applied the grants on {plan.database} (connected as {plan.connected_as}):")
    for person, login in sorted(plan.logins.items()):
        role = plan.roles[person]
        group = plan.group_of(person)
        print(f"  {person} ({role.value if role else 'not approved yet'}) connects as {login}: "
              f"{group}, {plan.groups.access(group)}")
    for note in _notes(plan):
        print(f"  note: {note}")
    print("  Each person now writes only when connected as the login mapped to them.")
    return 0


def _notes(plan: postgres_grants.GrantPlan) -> list[str]:
    notes = [f"{login} owns the tables or is a superuser: no grant limits it (only the "
             "audit log's triggers do); map people who are not administrators to ordinary "
             "logins." for login in plan.unlimited]
    notes += [f"The server has no login {login} yet: CREATE ROLE {login} LOGIN PASSWORD '...' "
              "first." for login in plan.missing_logins]
    notes += [f"{person} has no role yet: their login may only ask to be enrolled; once an "
              "admin approves them, apply the grants again." for person, role in
              sorted(plan.roles.items()) if role is None]
    return notes
