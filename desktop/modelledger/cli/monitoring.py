"""Monitoring commands: the headless scheduler, monitor list/run/runs, alert list."""

from __future__ import annotations

import argparse

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

    alert = commands.add_parser("alert", help="monitoring alerts").add_subparsers(
        dest="action", required=True)
    alist = alert.add_parser("list", help="alerts that are not closed, newest first")
    alist.add_argument("--all", action="store_true", help="closed ones too")
    alist.set_defaults(handler=_alert_list)


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
        ["MODEL", "MONITOR", "SCHEDULE", "STATUS", "LAST RUN", "HEALTH", "OPEN ALERTS"],
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
    for alert in stored.new_alerts:
        print(f"  alert #{alert.id} ({alert.severity.value}): {alert.title}")
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
def _alert_list(ws, args) -> int:
    print_table(
        ["ALERT", "SEVERITY", "STATUS", "MODEL", "TITLE", "LAST SEEN"],
        [[str(a.id), a.severity.value, a.status.value, a.model_name, a.title[:70],
          f"{a.last_seen_at:%Y-%m-%d %H:%M}"]
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
