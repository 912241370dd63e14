"""What a running scheduler writes names the scheduler instance, not the person at the window."""

from __future__ import annotations

import socket

from modelledger.services.monitoring.scheduler import MonitorScheduler
from tests.services.monitor_data import add_monitor


def test_scheduler_events_are_attributed_to_the_scheduler_on_its_host(workspace, tmp_path):
    healthy = add_monitor(workspace, tmp_path)
    broken = add_monitor(workspace, tmp_path, name="broken", current=tmp_path / "missing.csv",
                         max_failures=1)
    scheduler = MonitorScheduler(workspace, max_parallel=1)
    try:
        scheduler.run_now(healthy.id).result(timeout=120)
        scheduler.run_now(broken.id).result(timeout=120)
    finally:
        scheduler.shutdown()
    events = workspace.audit.list_events(limit=200)
    scheduler_name = f"scheduler on {socket.gethostname()}"
    by_action: dict[str, list] = {}
    for event in events:
        by_action.setdefault(event.action, []).append(event)

    # Asking for a run is alice's decision, signed as hers.
    assert {e.actor for e in by_action["monitor.run_requested"]} == {"alice"}
    assert all(e.signature is not None for e in by_action["monitor.run_requested"])
    # The runs, the self-pause and the alerts are the scheduler's.
    for action in ("monitor.run_succeeded", "monitor.run_failed", "monitor.paused",
                   "alert.raised"):
        assert {e.actor for e in by_action[action]} == {scheduler_name}, action
        assert all(e.signature is None for e in by_action[action])
    # The checkpoint that vouches for them is signed with alice's key, in her name.
    checkpoint = by_action["identity.checkpoint"][0]
    assert checkpoint.actor == "alice" and checkpoint.signature is not None
    chain, decisions = workspace.audit.verify_with_signatures()
    assert chain.intact and decisions.valid, decisions.describe()
    assert decisions.checkpointed >= 4 and not decisions.uncovered
    assert scheduler_name in workspace.audit.actors()
