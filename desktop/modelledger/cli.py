"""Command line: the same services as the desktop application, without a window.

``modelledger`` with no command (or ``--demo``) starts the desktop application.
Known errors print one line to stderr and exit non-zero; exit code 2 means bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from modelledger import __version__
from modelledger.core.domain import (
    EventFilter,
    InventoryFilter,
    RequestStatus,
    RiskTier,
    Role,
    Stage,
)
from modelledger.core.errors import InvalidInputError, ModelLedgerError

WORKSPACE_ENV = "MODELLEDGER_WORKSPACE"


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
    parser.add_argument("--demo", action="store_true",
                        help="open the desktop application on the demo workspace (created if "
                        "absent)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    init = commands.add_parser("init", help="create a new workspace")
    init.add_argument("target", help="new .db file path or postgresql:// URL")
    init.add_argument("--shared", action="store_true",
                      help="the file will be shared by several machines (rollback journal)")
    init.add_argument("--single-user", action="store_true",
                      help="turn off the four-eyes rule for approvals (audited)")

    model = commands.add_parser("model", help="registered models").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    register = model.add_parser("register", help="register a new model")
    register.add_argument("name")
    _model_fields(register)
    update = model.add_parser("update", help="change a model's facts")
    update.add_argument("name")
    _model_fields(update, for_update=True)
    update.add_argument("--reason", default="")
    listing = model.add_parser("list", help="list models")
    listing.add_argument("--search", help="filter by name, owner, description or tag")
    show = model.add_parser("show", help="a model with its versions and stage history")
    show.add_argument("name")

    version = commands.add_parser("version", help="model versions").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    add = version.add_parser("add", help="add a version, from a model file or without one")
    add.add_argument("model")
    add.add_argument("file", nargs="?", type=Path,
                     help="model file (.skops preferred; .pkl/.joblib need --trust-pickle to be "
                     "read). Omit for a model scored elsewhere.")
    add.add_argument("--training-data", type=Path, help="CSV/Parquet/Excel used for training")
    add.add_argument("--metric", action="append", default=[], metavar="NAME=VALUE")
    add.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    add.add_argument("--parent", type=int, help="version this one was derived from")
    add.add_argument("--notes", default="")
    add.add_argument("--trust-pickle", metavar="REASON",
                     help="you trust this pickle/joblib file's source; it will be unpickled to "
                     "read its parameters (recorded in the audit log)")
    vshow = version.add_parser("show", help="one version in full")
    vshow.add_argument("model")
    vshow.add_argument("number", type=int)
    trust = version.add_parser("trust", help="record that a pickle/joblib artifact is trusted")
    trust.add_argument("model")
    trust.add_argument("number", type=int)
    trust.add_argument("--reason", required=True)

    stage = commands.add_parser("stage", help="move a version to development, staging or "
                                "archived")
    stage.add_argument("model")
    stage.add_argument("number", type=int)
    stage.add_argument("stage", choices=[s.value for s in Stage if s is not Stage.PRODUCTION])
    stage.add_argument("--reason", required=True)

    promote = commands.add_parser("promote", help="promotion to production").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    request = promote.add_parser("request", help="ask for a staging version to go to production")
    request.add_argument("model")
    request.add_argument("number", type=int)
    request.add_argument("--reason", required=True)
    for name in ("approve", "reject"):
        decide = promote.add_parser(name, help=f"{name} a pending request")
        decide.add_argument("request_id", type=int)
        decide.add_argument("--reason", required=True)
        if name == "approve":
            decide.add_argument("--conditions", default="", metavar="TEXT",
                                help="what the approval depends on (e.g. 'quarterly "
                                "backtest'); recorded with it and shown on the model card")
    plist = promote.add_parser("list", help="promotion requests")
    plist.add_argument("--status", choices=[s.value for s in RequestStatus])

    rollback = commands.add_parser("rollback", help="put an earlier production version back")
    rollback.add_argument("model")
    rollback.add_argument("number", type=int)
    rollback.add_argument("--reason", required=True)

    audit = commands.add_parser("audit", help="the audit log").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    audit.add_parser("verify", help="check the hash chain; names the first broken event")
    alist = audit.add_parser("list", help="newest events first")
    alist.add_argument("--limit", type=int, default=50)
    alist.add_argument("--model", help="only events about this model and its versions")
    alist.add_argument("--json", action="store_true", help="one JSON object per line")
    export = audit.add_parser("export", help="write a signed evidence pack (zip) of audit events")
    export.add_argument("--model", action="append", default=[], metavar="NAME",
                        help="only this model's events (repeat for several; default: all events)")
    export.add_argument("--from", dest="first_day", metavar="DATE",
                        help="first day, YYYY-MM-DD in UTC (default: the beginning)")
    export.add_argument("--to", dest="last_day", metavar="DATE",
                        help="last day, YYYY-MM-DD in UTC, included (default: up to now)")
    export.add_argument("--out", required=True, type=Path, metavar="PACK.zip",
                        help="the pack to write")

    verify = commands.add_parser("verify", help="check an evidence pack or a review reply pack "
                                 "(needs nothing but the pack)")
    verify.add_argument("pack", type=Path, metavar="PACK.zip")

    user = commands.add_parser("user", help="workspace users").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    uadd = user.add_parser("add", help="add or change a user")
    uadd.add_argument("name")
    uadd.add_argument("--display-name", default="")
    uadd.add_argument("--role", choices=[r.value for r in Role], default=Role.DEVELOPER.value)
    user.add_parser("list", help="list users")

    settings = commands.add_parser("settings", help="workspace settings").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    for name, text in (("four-eyes", "require approval by a second person"),
                       ("shared-file", "the file is shared by several machines")):
        setting = settings.add_parser(name, help=text)
        setting.add_argument("value", choices=["on", "off", "show"])
        setting.add_argument("--reason", default="")

    copy = commands.add_parser("copy-to", help="copy this workspace into a new, empty one "
                               "(e.g. a PostgreSQL database)")
    copy.add_argument("target", help="postgresql:// URL or new .db file, created if needed")
    copy.add_argument("--artifacts", type=Path,
                      help="artifact folder for the target (default: beside a file target, or "
                      "$MODELLEDGER_ARTIFACTS for a server)")

    demo = commands.add_parser("demo", help="create the demo workspace (without opening it)")
    demo.add_argument("target", nargs="?", type=Path, help="where (default: your data folder)")

    scheduler = commands.add_parser(
        "scheduler", help="run the monitoring scheduler headless until stopped (Ctrl+C/SIGTERM)")
    scheduler.add_argument("--max-parallel", type=int, default=2,
                           help="runs computed at the same time (default 2)")

    monitor = commands.add_parser("monitor", help="monitors and their runs").add_subparsers(
        dest="action", required=True)
    monitor.add_parser("list", help="every monitor with its latest health")
    mrun = monitor.add_parser("run", help="run a monitor now and wait for the result")
    mrun.add_argument("model")
    mrun.add_argument("name")
    mruns = monitor.add_parser("runs", help="a monitor's runs, newest first")
    mruns.add_argument("model")
    mruns.add_argument("name")
    mruns.add_argument("--limit", type=int, default=20)

    alert = commands.add_parser("alert", help="monitoring alerts").add_subparsers(
        dest="action", required=True)
    alist = alert.add_parser("list", help="alerts that are not closed, newest first")
    alist.add_argument("--all", action="store_true", help="closed ones too")

    self_test = commands.add_parser(
        "self-test", help="check this installation: build the demo workspace in a folder of its "
        "own, open it in the window, run a monitor, export an evidence pack and verify it in "
        "review mode (needs a display, or QT_QPA_PLATFORM=offscreen)")
    self_test.add_argument("--keep", type=Path, metavar="FOLDER",
                           help="work in FOLDER and keep it (default: a temporary folder)")
    self_test.add_argument("--timeout", type=float, default=600, metavar="SECONDS",
                           help="give up after this long (default 600)")

    gui = commands.add_parser("gui", help="start the desktop application")
    gui.add_argument("target", nargs="?", help="workspace to open")
    return parser


def _model_fields(parser: argparse.ArgumentParser, for_update: bool = False) -> None:
    default = None if for_update else ""
    parser.add_argument("--owner")
    parser.add_argument("--description", default=default)
    parser.add_argument("--purpose", default=default)
    parser.add_argument("--intended-use", default=default)
    parser.add_argument("--risk-tier", choices=[t.value for t in RiskTier],
                        default=None if for_update else RiskTier.MEDIUM.value)
    parser.add_argument("--tag", action="append", default=None if for_update else [],
                        help="repeat for several tags")
    if for_update:
        parser.add_argument("--status", choices=["active", "retired"])


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from modelledger.logs import configure_logging

    configure_logging(console=args.command is not None)
    try:
        if args.command is None or args.command == "gui":
            return _launch_gui(args)
        if args.command == "self-test":
            from modelledger.app import run_self_test

            return run_self_test(args.keep, timeout_s=args.timeout)
        return _run_command(args)
    except ModelLedgerError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _launch_gui(args: argparse.Namespace) -> int:
    from modelledger.app import run_application

    target = getattr(args, "target", None) or args.workspace or os.environ.get(WORKSPACE_ENV)
    return run_application(target, demo=args.demo, user=args.user)


def _run_command(args: argparse.Namespace) -> int:
    from modelledger.services.workspace import Workspace

    if args.command == "init":
        return _init(args)
    if args.command == "verify":
        return _verify(args)
    if args.command == "demo":
        from modelledger.services.demo import create_demo_workspace, default_demo_path

        path = create_demo_workspace(args.target or default_demo_path(), progress=_print_step)
        print(f"Demo workspace ready: {path}")
        return 0
    target = args.workspace or os.environ.get(WORKSPACE_ENV)
    if not target:
        raise InvalidInputError(
            f"Which workspace? Give --workspace PATH (or set {WORKSPACE_ENV}). Create one with "
            "`modelledger init PATH`."
        )
    workspace = Workspace.open(target, user=args.user)
    try:
        handler = _HANDLERS[(args.command, getattr(args, "action", None))]
        return handler(workspace, args)
    finally:
        workspace.close()


def _print_step(message: str) -> None:
    print(f"  {message}")


def _init(args: argparse.Namespace) -> int:
    from modelledger.services.workspace import Workspace

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


def _key_values(pairs: Sequence[str], what: str, numeric: bool) -> dict:
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInputError(f"{what} '{pair}' must look like NAME=VALUE.")
        if numeric:
            values[key] = value
        else:
            try:
                values[key] = json.loads(value)
            except json.JSONDecodeError:
                values[key] = value
    return values


def _model_register(ws, args) -> int:
    model = ws.registry.register_model(
        args.name, owner=args.owner, description=args.description, purpose=args.purpose,
        intended_use=args.intended_use, risk_tier=RiskTier(args.risk_tier), tags=args.tag)
    print(f"Registered model '{model.name}' (owner {model.owner}, risk {model.risk_tier}).")
    return 0


def _model_update(ws, args) -> int:
    fields = {"owner": args.owner, "description": args.description, "purpose": args.purpose,
              "intended_use": args.intended_use, "risk_tier": args.risk_tier,
              "tags": args.tag, "status": args.status}
    changes = {key: value for key, value in fields.items() if value is not None}
    if not changes:
        raise InvalidInputError("Nothing to change: give at least one field, e.g. --owner.")
    current = ws.registry.get_model(args.name)
    model = ws.registry.update_model(args.name, current.row_version, changes, args.reason)
    print(f"Updated '{model.name}' (revision {model.row_version}).")
    return 0


def _model_list(ws, args) -> int:
    rows = [
        (s.model.name, s.model.owner, s.model.risk_tier.value, str(s.version_count),
         f"v{s.production_version}" if s.production_version else "-",
         f"{s.model.updated_at:%Y-%m-%d %H:%M}")
        for s in ws.registry.list_models(InventoryFilter(search=args.search))
    ]
    _print_table(("MODEL", "OWNER", "RISK", "VERSIONS", "PRODUCTION", "CHANGED"), rows)
    return 0


def _model_show(ws, args) -> int:
    model = ws.registry.get_model(args.name)
    print(f"{model.name}  (owner {model.owner}, risk {model.risk_tier}, {model.status})")
    for label, value in (("description", model.description), ("purpose", model.purpose),
                         ("intended use", model.intended_use),
                         ("tags", ", ".join(model.tags))):
        if value:
            print(f"  {label}: {value}")
    print()
    rows = [
        (f"v{v.version_number}", v.stage.value, v.estimator_class.rsplit(".", 1)[-1] or "-",
         _metrics_text(v.metrics), v.artifact.sha256[:12] if v.artifact else "(none)",
         v.created_by, f"{v.created_at:%Y-%m-%d %H:%M}")
        for v in ws.registry.list_versions(args.name)
    ]
    _print_table(("VERSION", "STAGE", "ESTIMATOR", "METRICS", "ARTIFACT", "BY", "CREATED"), rows)
    print("\nStage history:")
    for change in ws.registry.stage_history(args.name):
        origin = change.from_stage.value if change.from_stage else "-"
        print(f"  {change.occurred_at:%Y-%m-%d %H:%M}  v{change.version_number}  {origin} -> "
              f"{change.to_stage.value}  by {change.actor} ({change.kind}): {change.reason}")
    return 0


def _version_add(ws, args) -> int:
    version = ws.registry.add_version(
        args.model, model_file=args.file, trust_reason=args.trust_pickle,
        training_data=args.training_data, metrics=_key_values(args.metric, "Metric", True),
        parameters=_key_values(args.param, "Parameter", False), parent_version=args.parent,
        notes=args.notes)
    print(f"Added {version.model_name} v{version.version_number} ({version.stage.value}).")
    if version.artifact:
        print(f"  artifact sha256 {version.artifact.sha256} ({version.artifact.size_bytes} bytes,"
              f" {version.artifact.format.value})")
        if version.artifact.format.executes_code_on_load and not args.trust_pickle:
            print("  note: this pickle/joblib file was stored but not opened; its parameters "
                  "were not read. Use `version trust` if you trust its source.")
    if version.estimator_class:
        print(f"  estimator {version.estimator_class}, {len(version.parameters)} parameters, "
              f"{len(version.feature_schema)} features")
    return 0


def _version_show(ws, args) -> int:
    version = ws.registry.get_version(args.model, args.number)
    document = {
        "model": version.model_name, "version": version.version_number,
        "stage": version.stage.value, "created_by": version.created_by,
        "created_at": version.created_at.isoformat(),
        "artifact": None if version.artifact is None else {
            "sha256": version.artifact.sha256, "size_bytes": version.artifact.size_bytes,
            "format": version.artifact.format.value,
            "original_filename": version.artifact.original_filename},
        "framework": version.framework, "estimator_class": version.estimator_class,
        "parent_version": version.parent_version, "parameters": version.parameters,
        "metrics": version.metrics, "training_data": version.training_data,
        "feature_schema": version.feature_schema, "environment": version.environment,
        "notes": version.notes,
    }
    print(json.dumps(document, indent=2, ensure_ascii=False))
    return 0


def _version_trust(ws, args) -> int:
    ws.registry.trust_artifact(args.model, args.number, args.reason)
    print(f"Recorded that {ws.actor.user} trusts the file of {args.model} v{args.number}.")
    return 0


def _stage(ws, args) -> int:
    version = ws.registry.move_to_stage(args.model, args.number, Stage(args.stage), args.reason)
    print(f"{version.model_name} v{version.version_number} is now in {version.stage.value}.")
    return 0


def _promote_request(ws, args) -> int:
    request = ws.registry.request_promotion(args.model, args.number, args.reason)
    print(f"Promotion request #{request.id}: {request.model_name} v{request.version_number} -> "
          "production, waiting for approval.")
    return 0


def _promote_approve(ws, args) -> int:
    version = ws.registry.approve_promotion(args.request_id, args.reason, args.conditions)
    print(f"Approved: {version.model_name} v{version.version_number} is now in production.")
    return 0


def _promote_reject(ws, args) -> int:
    request = ws.registry.reject_promotion(args.request_id, args.reason)
    print(f"Rejected request #{request.id} ({request.model_name} v{request.version_number}).")
    return 0


def _promote_list(ws, args) -> int:
    status = RequestStatus(args.status) if args.status else None
    rows = [
        (f"#{r.id}", r.model_name, f"v{r.version_number}", r.status.value, r.requested_by,
         f"{r.requested_at:%Y-%m-%d %H:%M}", r.decided_by or "-", r.reason)
        for r in ws.registry.list_promotion_requests(status)
    ]
    _print_table(("ID", "MODEL", "VERSION", "STATUS", "BY", "AT", "DECIDED BY", "REASON"), rows)
    return 0


def _rollback(ws, args) -> int:
    version = ws.registry.rollback(args.model, args.number, args.reason)
    print(f"Rolled back: {version.model_name} v{version.version_number} is in production again.")
    return 0


def _audit_verify(ws, args) -> int:
    report = ws.audit.verify()
    print(report.describe())
    return 0 if report.intact else 3


def _audit_list(ws, args) -> int:
    events = ws.audit.list_events(EventFilter(model_name=args.model), limit=args.limit)
    if args.json:
        for event in events:
            print(json.dumps(event.__dict__, ensure_ascii=False))
        return 0
    rows = [(str(e.seq), e.occurred_at[:19].replace("T", " "), e.actor, e.action, e.entity_id,
             e.reason[:60]) for e in events]
    _print_table(("SEQ", "UTC", "ACTOR", "ACTION", "ENTITY", "REASON"), rows)
    return 0


def _audit_export(ws, args) -> int:
    from modelledger.core.evidence import EventSelection
    from modelledger.services.evidence_pack import build_evidence_pack

    first_day, last_day = _day(args.first_day, "--from"), _day(args.last_day, "--to")
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


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    raise InvalidInputError(f"{option} {text!r} is not a date: write it as YYYY-MM-DD.")


def _verify(args: argparse.Namespace) -> int:
    from modelledger.services.evidence_pack import available_processors, verify_pack

    verification = verify_pack(args.pack, processes=available_processors())
    print(verification.describe())
    return 0 if verification.valid else 1


def _copy_to(ws, args) -> int:
    from modelledger.services.transfer import copy_workspace
    from modelledger.services.workspace import Workspace
    from modelledger.storage.database import Database

    try:
        database = Database.open(args.target, create=True)
    except ModelLedgerError:
        database = Database.open(args.target)
    target = Workspace(database, user=ws.actor.user, artifact_root=args.artifacts)
    try:
        rows = copy_workspace(ws, target, progress=_print_step)
        report = target.audit.verify()
        print(f"Copied {rows} rows to {database.display_name}; artifacts in "
              f"{target.artifacts.root}.")
        print(report.describe())
        return 0 if report.intact else 3
    finally:
        target.close()


def _user_add(ws, args) -> int:
    user = ws.registry.save_user(args.name, args.display_name, Role(args.role))
    print(f"User {user.name} ({user.display_name}, {user.role.value}) saved.")
    return 0


def _user_list(ws, args) -> int:
    rows = [(u.name, u.display_name, u.role.value) for u in ws.registry.list_users()]
    _print_table(("USER", "NAME", "ROLE"), rows)
    return 0


def _setting(getter: str, setter: str, label: str):
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


def _scheduler(ws, args) -> int:
    import signal
    import threading

    from modelledger.services.scheduler import MonitorScheduler

    stop = threading.Event()

    def report(event) -> None:
        job = event.job
        where = f"{job.model_name}/{job.monitor_name} slot {job.claim.slot.isoformat()}"
        if event.kind == "started":
            print(f"started  {where} (attempt {job.claim.attempt})", flush=True)
        elif event.kind == "finished":
            outcome = event.outcome
            result = event.stored.health.value if event.stored and event.stored.health else (
                outcome.status.value if outcome else "not stored")
            detail = outcome.error if outcome and outcome.error else ""
            print(f"finished {where}: {result} {detail}".rstrip(), flush=True)

    if args.max_parallel < 1:
        raise InvalidInputError("--max-parallel must be at least 1.")
    if ws.database.read_only:
        raise InvalidInputError(
            f"{ws.database.display_name} is open read-only, so its monitors cannot be run from "
            "here. Run the scheduler where the workspace can be written.")
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    scheduler = MonitorScheduler(ws, max_parallel=args.max_parallel, listener=report)
    scheduler.start()
    print(f"Scheduler {scheduler.owner} running on {ws.database.display_name}; "
          "Ctrl+C stops it.", flush=True)
    try:
        stop.wait()
    finally:
        scheduler.shutdown()
    print("Scheduler stopped.", flush=True)
    return 0


def _find_monitor(ws, model: str, name: str):
    for monitor in ws.monitoring.list_monitors(model_name=model):
        if monitor.name == name:
            return monitor
    raise InvalidInputError(f"{model} has no monitor named '{name}' (see `monitor list`).")


def _monitor_list(ws, args) -> int:
    _print_table(
        ["MODEL", "MONITOR", "SCHEDULE", "STATUS", "LAST RUN", "HEALTH", "OPEN ALERTS"],
        [[o.monitor.model_name, o.monitor.name, o.monitor.schedule.describe(),
          o.monitor.status.value, f"{o.last_run_at:%Y-%m-%d %H:%M}" if o.last_run_at else "-",
          o.last_health.value if o.last_health else "-", str(o.open_alerts)]
         for o in ws.monitoring.overviews()])
    return 0


def _monitor_run(ws, args) -> int:
    from modelledger.services.scheduler import MonitorScheduler

    monitor = _find_monitor(ws, args.model, args.name)
    scheduler = MonitorScheduler(ws, max_parallel=1)
    try:
        stored = scheduler.run_now(monitor.id).result()
    finally:
        scheduler.shutdown()
    if stored.run_id is None:
        print(f"The run of {args.model}/{args.name} was not stored (cancelled or taken over).")
        return 1
    run, _metrics = ws.monitoring.get_run(stored.run_id)
    print(f"Run #{run.id} of {args.model}/{args.name}: {run.health.value}. {run.summary}")
    for alert in stored.new_alerts:
        print(f"  alert #{alert.id} ({alert.severity.value}): {alert.title}")
    return 0 if run.status.value == "succeeded" else 1


def _monitor_runs(ws, args) -> int:
    monitor = _find_monitor(ws, args.model, args.name)
    _print_table(
        ["RUN", "SLOT", "ATTEMPT", "STATUS", "HEALTH", "ROWS", "SUMMARY"],
        [[str(r.id), f"{r.slot:%Y-%m-%d %H:%M:%S}", str(r.attempt), r.status.value,
          r.health.value, str(r.current_rows if r.current_rows is not None else "-"),
          r.summary[:80]]
         for r in ws.monitoring.list_runs(monitor_id=monitor.id, limit=args.limit)])
    return 0


def _alert_list(ws, args) -> int:
    _print_table(
        ["ALERT", "SEVERITY", "STATUS", "MODEL", "TITLE", "LAST SEEN"],
        [[str(a.id), a.severity.value, a.status.value, a.model_name, a.title[:70],
          f"{a.last_seen_at:%Y-%m-%d %H:%M}"]
         for a in ws.monitoring.list_alerts(include_closed=args.all)])
    return 0


_HANDLERS = {
    ("model", "register"): _model_register,
    ("model", "update"): _model_update,
    ("model", "list"): _model_list,
    ("model", "show"): _model_show,
    ("version", "add"): _version_add,
    ("version", "show"): _version_show,
    ("version", "trust"): _version_trust,
    ("stage", None): _stage,
    ("promote", "request"): _promote_request,
    ("promote", "approve"): _promote_approve,
    ("promote", "reject"): _promote_reject,
    ("promote", "list"): _promote_list,
    ("rollback", None): _rollback,
    ("audit", "verify"): _audit_verify,
    ("audit", "list"): _audit_list,
    ("audit", "export"): _audit_export,
    ("copy-to", None): _copy_to,
    ("scheduler", None): _scheduler,
    ("monitor", "list"): _monitor_list,
    ("monitor", "run"): _monitor_run,
    ("monitor", "runs"): _monitor_runs,
    ("alert", "list"): _alert_list,
    ("user", "add"): _user_add,
    ("user", "list"): _user_list,
    ("settings", "four-eyes"): _setting("four_eyes_required", "set_four_eyes_required",
                                        "Four-eyes approval"),
    ("settings", "shared-file"): _setting("shared_file", "set_shared_file", "Shared file"),
}


def _metrics_text(metrics: dict) -> str:
    return ", ".join(f"{key}={value:.4g}" for key, value in list(metrics.items())[:3]) or "-"


def _print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    if not rows:
        print("(none)")
        return
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows,
                                                                          strict=False)]
    for row in (headers, *rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths,
                                                                       strict=True)).rstrip())
