"""Monitoring commands: the headless scheduler, monitor list/run/runs/resolve-after, and
incidents (list/show/ack/assign/comment/snooze/unsnooze/mute/unmute/close/settings; `alert` is
the same command under its older name)."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta

from modelledger.cli.arguments import in_workspace
from modelledger.cli.output import print_table
from modelledger.core.errors import InvalidInputError


def add_commands(commands: argparse._SubParsersAction) -> None:
    scheduler = commands.add_parser(
        "scheduler", help="run the monitoring scheduler headless until stopped (Ctrl+C/SIGTERM)")
    scheduler.add_argument("--max-parallel", type=int, default=2,
                           help="runs computed at the same time (default 2)")
    scheduler.set_defaults(handler=_scheduler)

    monitor = commands.add_parser("monitor", help="monitors and their runs").add_subparsers(
        dest="action", required=True)
    monitor.add_parser(
        "list", help="every monitor with its latest health").set_defaults(handler=_monitor_list)
    mrun = monitor.add_parser("run", help="run a monitor now and wait for the result")
    mrun.add_argument("model")
    mrun.add_argument("name")
    mrun.set_defaults(handler=_monitor_run)
    mruns = monitor.add_parser("runs", help="a monitor's runs, newest first")
    mruns.add_argument("model")
    mruns.add_argument("name")
    mruns.add_argument("--limit", type=int, default=20)
    mruns.set_defaults(handler=_monitor_runs)
    mimportance = monitor.add_parser(
        "importance", help="measure again how much the monitored version uses each feature")
    mimportance.add_argument("model")
    mimportance.add_argument("name")
    mimportance.add_argument("--reason", default="", help="kept in the audit log")
    mimportance.set_defaults(handler=_monitor_importance)

    resolve = monitor.add_parser(
        "resolve-after", help="healthy runs in a row after which this monitor's incidents "
                              "resolve themselves")
    resolve.add_argument("model")
    resolve.add_argument("name")
    resolve.add_argument("runs", help="a number of runs, or 'workspace' for the workspace's")
    resolve.add_argument("--reason", required=True)
    resolve.set_defaults(handler=_monitor_resolve_after)

    incident = commands.add_parser(
        "incident", aliases=["alert"],
        help="monitoring incidents: one per monitor and cause while open").add_subparsers(
        dest="action", required=True)
    ilist = incident.add_parser("list", help="incidents that are not closed, newest first")
    ilist.add_argument("--all", action="store_true", help="closed ones too")
    ilist.set_defaults(handler=_incident_list)
    show = incident.add_parser("show", help="one incident: its members and its history")
    show.add_argument("id", type=int)
    show.set_defaults(handler=_incident_show)
    ack = incident.add_parser("ack", aliases=["acknowledge"], help="acknowledge an incident")
    ack.add_argument("id", type=int)
    ack.add_argument("--comment", default="")
    ack.set_defaults(handler=_incident_ack)
    assign = incident.add_parser("assign", help="assign an incident to someone")
    assign.add_argument("id", type=int)
    assign.add_argument("person")
    assign.add_argument("--comment", default="")
    assign.set_defaults(handler=_incident_assign)
    comment = incident.add_parser("comment", help="add a note to an incident")
    comment.add_argument("id", type=int)
    comment.add_argument("text")
    comment.set_defaults(handler=_incident_comment)
    snooze = incident.add_parser("snooze", help="notify nobody about an incident for a while")
    snooze.add_argument("id", type=int)
    when = snooze.add_mutually_exclusive_group(required=True)
    when.add_argument("--for", dest="duration", metavar="DURATION",
                      help="e.g. 90m, 4h, 2d or 1w")
    when.add_argument("--until", metavar="TIME", help="ISO time, UTC unless it says otherwise")
    snooze.add_argument("--comment", default="")
    snooze.set_defaults(handler=_incident_snooze)
    unsnooze = incident.add_parser("unsnooze", help="end a snooze now")
    unsnooze.add_argument("id", type=int)
    unsnooze.add_argument("--comment", default="")
    unsnooze.set_defaults(handler=_incident_unsnooze)
    mute = incident.add_parser("mute", help="notify nobody about an incident, for a reason")
    mute.add_argument("id", type=int)
    mute.add_argument("--reason", required=True)
    mute_when = mute.add_mutually_exclusive_group()
    mute_when.add_argument("--for", dest="duration", metavar="DURATION",
                           help="e.g. 4h or 2w (default: until unmuted)")
    mute_when.add_argument("--until", metavar="TIME")
    mute.set_defaults(handler=_incident_mute)
    unmute = incident.add_parser("unmute", help="end a mute now")
    unmute.add_argument("id", type=int)
    unmute.add_argument("--comment", default="")
    unmute.set_defaults(handler=_incident_unmute)
    close = incident.add_parser("close", help="close an incident with a note")
    close.add_argument("id", type=int)
    close.add_argument("--reason", required=True)
    close.set_defaults(handler=_incident_close)
    settings = incident.add_parser(
        "settings", help="show or change the workspace's incident settings (admin)")
    settings.add_argument("--resolve-after", type=int, metavar="RUNS",
                          help="healthy runs in a row that resolve an incident (default 3)")
    settings.add_argument("--digest", choices=("on", "off"), help="a daily e-mail digest")
    settings.add_argument("--digest-hour", type=int, metavar="HOUR",
                          help="the digest's hour, UTC (0-23)")
    settings.add_argument("--reason", help="needed for a change")
    settings.set_defaults(handler=_incident_settings)


@in_workspace
def _scheduler(ws, args) -> int:
    import signal
    import threading

    from modelledger.services.monitoring.scheduler import MonitorScheduler

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
    # Every run it stores is written as this instance's user: without an enrolled key it would
    # claim slots and then fail each run, so it refuses to start instead.
    standing = ws.identity.who(ws.signer)
    if not standing.may_act:
        raise InvalidInputError(
            f"The scheduler writes as {standing.user}, who cannot sign here "
            f"({standing.describe()}). Enrol this machine's key with "
            f"`modelledger -u {standing.user} user enroll --host` and ask an admin to approve "
            f"it, or run the scheduler as someone enrolled (-u NAME).")
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


@in_workspace
def _monitor_list(ws, args) -> int:
    print_table(
        ["MODEL", "MONITOR", "SCHEDULE", "STATUS", "LAST RUN", "HEALTH", "OPEN INCIDENTS"],
        [[o.monitor.model_name, o.monitor.name, o.monitor.schedule.describe(),
          o.monitor.status.value, f"{o.last_run_at:%Y-%m-%d %H:%M}" if o.last_run_at else "-",
          o.last_health.value if o.last_health else "-", str(o.open_alerts)]
         for o in ws.monitoring.overviews()])
    return 0


@in_workspace
def _monitor_run(ws, args) -> int:
    from modelledger.services.monitoring.scheduler import MonitorScheduler

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
    for incident in stored.new_alerts:
        print(f"  incident #{incident.id} ({incident.severity.value}): {incident.title}")
    return 0 if run.status.value == "succeeded" else 1


@in_workspace
def _monitor_runs(ws, args) -> int:
    monitor = _find_monitor(ws, args.model, args.name)
    print_table(
        ["RUN", "SLOT", "ATTEMPT", "STATUS", "HEALTH", "ROWS", "SUMMARY"],
        [[str(r.id), f"{r.slot:%Y-%m-%d %H:%M:%S}", str(r.attempt), r.status.value,
          r.health.value, str(r.current_rows if r.current_rows is not None else "-"),
          r.summary[:80]]
         for r in ws.monitoring.list_runs(monitor_id=monitor.id, limit=args.limit)])
    return 0


@in_workspace
def _monitor_resolve_after(ws, args) -> int:
    monitor = _find_monitor(ws, args.model, args.name)
    if args.runs == "workspace":
        runs = None
    elif args.runs.isdigit():
        runs = int(args.runs)
    else:
        raise InvalidInputError(f"'{args.runs}' is not a number of runs (or 'workspace').")
    ws.monitoring.set_resolve_after(monitor.id, runs, args.reason)
    shown = (f"after {runs} healthy run{'s' if runs != 1 else ''}" if runs is not None
             else "as the workspace says")
    print(f"Incidents of {args.model}/{args.name} resolve themselves {shown}.")
    return 0


def _status_text(incident, now: datetime) -> str:
    status = incident.status.value
    if incident.resolution:
        status = "resolved"
    if incident.silenced(now):
        status += ", muted" if incident.muted else ", snoozed"
    return status


@in_workspace
def _incident_list(ws, args) -> int:
    now = datetime.now(UTC)
    print_table(
        ["INCIDENT", "SEVERITY", "STATUS", "CAUSE", "MODEL", "RUNS", "LAST SEEN", "TITLE"],
        [[str(a.id), a.severity.value, _status_text(a, now), a.cause, a.model_name,
          str(a.occurrences), f"{a.last_seen_at:%Y-%m-%d %H:%M}",
          a.title.removeprefix(f"{a.model_name} / ")[:70]]
         for a in ws.monitoring.list_alerts(include_closed=args.all)])
    return 0


@in_workspace
def _monitor_importance(ws, args) -> int:
    from modelledger.core.importance import ranked

    monitor = _find_monitor(ws, args.model, args.name)
    spec = ws.monitoring.measure_importance(monitor.id, args.reason).spec
    print(f"Measured ({spec.importance_method}) on {args.model} v{spec.importance_version}; "
          f"runs judge the drift of the {spec.top_k} most important features.")
    print_table(["FEATURE", "IMPORTANCE"],
                [[name, f"{share:.3f}"] for name, share in ranked(spec.importance)])
    return 0


@in_workspace
def _incident_show(ws, args) -> int:
    from modelledger.core.monitoring import metric_label

    incident, notes = ws.monitoring.alert_details(args.id)
    members = ws.monitoring.incident_members(args.id)
    now = datetime.now(UTC)
    print(f"Incident #{incident.id} ({incident.severity.value}, {_status_text(incident, now)}): "
          f"{incident.title}")
    print(f"  cause {incident.cause}, monitor {incident.model_name}/{incident.monitor_name}, "
          f"{incident.occurrences} runs, first {incident.first_seen_at:%Y-%m-%d %H:%M}, last "
          f"{incident.last_seen_at:%Y-%m-%d %H:%M} UTC")
    if incident.assignee:
        print(f"  assigned to {incident.assignee}")
    if incident.snoozed_until:
        print(f"  snoozed until {incident.snoozed_until:%Y-%m-%d %H:%M} UTC")
    if incident.muted:
        until = (f" until {incident.muted_until:%Y-%m-%d %H:%M} UTC"
                 if incident.muted_until else "")
        print(f"  muted{until}: {incident.muted_reason}")
    if incident.resolution:
        print(f"  {incident.resolution}")
    print()
    print_table(["MEMBER", "NOW", "WORST", "VALUE", "WARN", "CRITICAL", "RUNS", "LAST SEEN"],
                [[metric_label(m.metric, m.subject), m.status, m.worst, _number(m.value),
                  _number(m.warn), _number(m.critical), str(m.occurrences),
                  f"{m.last_seen_at:%Y-%m-%d %H:%M}"] for m in members])
    print()
    for note in notes:
        print(f"{note.created_at:%Y-%m-%d %H:%M}  {note.author}  {note.kind}: {note.text}")
    return 0


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _current(ws, incident_id: int):
    return ws.monitoring.alert_details(incident_id)[0]


def _done(incident, what: str) -> int:
    print(f"Incident #{incident.id} {what}.")
    return 0


@in_workspace
def _incident_ack(ws, args) -> int:
    incident = _current(ws, args.id)
    return _done(ws.monitoring.acknowledge_alert(incident.id, incident.row_version,
                                                 args.comment), "acknowledged")


@in_workspace
def _incident_assign(ws, args) -> int:
    incident = _current(ws, args.id)
    done = ws.monitoring.assign_alert(incident.id, incident.row_version, args.person,
                                      args.comment)
    return _done(done, f"assigned to {done.assignee}")


@in_workspace
def _incident_comment(ws, args) -> int:
    incident = _current(ws, args.id)
    return _done(ws.monitoring.comment_alert(incident.id, incident.row_version, args.text),
                 "commented")


@in_workspace
def _incident_snooze(ws, args) -> int:
    incident = _current(ws, args.id)
    until = _moment(args.duration, args.until)
    done = ws.monitoring.snooze_alert(incident.id, incident.row_version, until, args.comment)
    return _done(done, f"snoozed until {done.snoozed_until:%Y-%m-%d %H:%M} UTC")


@in_workspace
def _incident_unsnooze(ws, args) -> int:
    incident = _current(ws, args.id)
    return _done(ws.monitoring.unsnooze_alert(incident.id, incident.row_version, args.comment),
                 "no longer snoozed")


@in_workspace
def _incident_mute(ws, args) -> int:
    incident = _current(ws, args.id)
    until = _moment(args.duration, args.until) if (args.duration or args.until) else None
    done = ws.monitoring.mute_alert(incident.id, incident.row_version, args.reason, until)
    return _done(done, "muted" + (f" until {until:%Y-%m-%d %H:%M} UTC" if until else ""))


@in_workspace
def _incident_unmute(ws, args) -> int:
    incident = _current(ws, args.id)
    return _done(ws.monitoring.unmute_alert(incident.id, incident.row_version, args.comment),
                 "unmuted")


@in_workspace
def _incident_close(ws, args) -> int:
    incident = _current(ws, args.id)
    return _done(ws.monitoring.close_alert(incident.id, incident.row_version, args.reason),
                 "closed")


@in_workspace
def _incident_settings(ws, args) -> int:
    from dataclasses import replace

    current = ws.monitoring.incident_settings()
    changes = {}
    if args.resolve_after is not None:
        changes["resolve_after_runs"] = args.resolve_after
    if args.digest is not None:
        changes["daily_digest"] = args.digest == "on"
    if args.digest_hour is not None:
        changes["digest_hour_utc"] = args.digest_hour
    if changes:
        if not args.reason:
            raise InvalidInputError("Give a --reason for the change: it is kept in the audit log.")
        current = replace(current, **changes)
        ws.monitoring.set_incident_settings(current, args.reason)
    digest = (f"daily at {current.digest_hour_utc:02d}:00 UTC" if current.daily_digest
              else "off")
    print(f"Incidents resolve themselves after {current.resolve_after_runs} healthy runs in a "
          f"row (a monitor may say otherwise); daily digest: {digest}.")
    return 0


_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _moment(duration: str | None, until: str | None) -> datetime:
    """The end of a snooze or mute: a duration from now, or a time (UTC unless it says)."""
    if duration is not None:
        match = _DURATION.match(duration)
        if match is None:
            raise InvalidInputError(
                f"'{duration}' is not a duration; write e.g. 90m, 4h, 2d or 1w.")
        amount, unit = match.groups()
        return datetime.now(UTC) + timedelta(**{_UNITS[unit]: int(amount)})
    try:
        moment = datetime.fromisoformat(until or "")
    except ValueError:
        raise InvalidInputError(
            f"'{until}' is not a time; write e.g. 2026-12-24T09:00 (UTC).") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
