"""Signed identity benchmark: prints figures, asserts nothing.

    .venv/bin/python benchmarks/identity_bench.py [--events 1000000] [--decisions 10000]

1. The time signed identity adds to one decision: the same model edits, each its own write
   transaction, in a workspace with signed identity and in one from before it (the peer).
   Goal: under 2 ms.
2. ``audit verify`` of a log of N events of which D are signed decisions and the rest are
   scheduler events under a signed checkpoint every 500: the chain alone (what verify did
   before signed identity, the peer) and the chain with every signature, key and role.
   Goal: under 5 s for 1M events with 10,000 decisions, within 2x of the chain alone.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from scratch_keys import use_scratch_keys

CHECKPOINT_EVERY = 500
INSERT_BATCH = 20_000


def time_edits(workspace, count: int) -> list[float]:
    registry = workspace.registry
    if registry.count_models() == 0:
        registry.register_model("edited")
    times = []
    for index in range(count):
        model = registry.get_model("edited")
        start = time.perf_counter()
        registry.update_model("edited", model.row_version, {"description": f"edit {index}"},
                              "benchmark")
        times.append(time.perf_counter() - start)
    return times


def build_log(workspace, events: int, decisions: int) -> None:
    """Append ``events`` genuinely chained events: ``decisions`` signed model edits by the
    workspace's admin spread evenly, scheduler runs between them, and a signed checkpoint
    every CHECKPOINT_EVERY scheduler events."""
    from sqlalchemy import insert

    from modelledger.core.audit_chain import canonical_json, event_hash
    from modelledger.core.identity import CHECKPOINT, signed_message
    from modelledger.storage.audit_log import head_seq
    from modelledger.storage.tables import audit_events

    key = workspace.signer.key()
    every = max(1, events // max(decisions, 1))
    database = workspace.database
    have = database.read(head_seq)
    target = have + events
    unvouched = 0
    while have < target:
        def insert_batch(conn, first=have + 1):
            nonlocal unvouched
            prev_hash = conn.execute(audit_events.select().where(
                audit_events.c.seq == first - 1)).first().hash
            rows = []
            for seq in range(first, min(first + INSERT_BATCH, target + 1)):
                signed = False
                if seq % every == 0:
                    action, entity_type, entity_id = "model.updated", "model", "edited"
                    after, signed = {"description": f"edit {seq}"}, True
                elif unvouched >= CHECKPOINT_EVERY:
                    action, entity_type, entity_id = CHECKPOINT, "audit_log", "checkpoint"
                    after, signed, unvouched = {"covers_to_seq": seq - 1}, True, 0
                else:
                    action, entity_type, entity_id = ("monitor.run_succeeded", "monitor",
                                                      "edited/drift")
                    after = {"health": "ok", "run_id": seq}
                    unvouched += 1
                fields = {"seq": seq, "occurred_at": f"2026-12-07T00:00:00.{seq % 999_999:06d}Z",
                          "actor": key.user, "host": "bench-host", "action": action,
                          "entity_type": entity_type, "entity_id": entity_id, "before": "{}",
                          "after": canonical_json(after), "reason": "benchmark",
                          "prev_hash": prev_hash}
                prev_hash = event_hash(**fields)
                row = dict(fields, hash=prev_hash, signer=None, signature=None)
                if signed:
                    row["signer"] = key.fingerprint
                    row["signature"] = key.sign(signed_message(prev_hash)).hex()
                row["before_json"], row["after_json"] = row.pop("before"), row.pop("after")
                rows.append(row)
            conn.execute(insert(audit_events), rows)
            return rows[-1]["seq"]

        have = database.write(insert_batch)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--decisions", type=int, default=10_000)
    parser.add_argument("--edits", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        use_scratch_keys(folder)
        from modelledger.services.workspace.opening import Workspace
        from modelledger.storage.database import Database

        signed = Workspace.open(folder / "signed.db", create=True, user="bench")
        legacy = Workspace(Database.open(folder / "legacy.db", create=True), user="bench")
        time_edits(signed, 20), time_edits(legacy, 20)  # warm caches and the key
        signed_times, legacy_times = time_edits(signed, args.edits), time_edits(legacy,
                                                                                args.edits)
        signed_ms = statistics.median(signed_times) * 1000
        legacy_ms = statistics.median(legacy_times) * 1000
        print(f"one decision (model edit, its own transaction), median of {args.edits}:")
        print(f"  signed identity {signed_ms:.2f} ms, before signed identity {legacy_ms:.2f} ms:"
              f" +{signed_ms - legacy_ms:.2f} ms (goal < 2 ms)")
        legacy.close()

        start = time.perf_counter()
        build_log(signed, args.events, args.decisions)
        print(f"built {args.events:,} events ({args.decisions:,} signed decisions) in "
              f"{time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        chain = signed.audit.verify()
        chain_s = time.perf_counter() - start
        start = time.perf_counter()
        chain, decisions = signed.audit.verify_with_signatures()
        full_s = time.perf_counter() - start
        print(f"verify {chain.events_checked:,} events:")
        print(f"  chain alone (peer) {chain_s:.2f} s")
        print(f"  chain + signatures, keys and roles {full_s:.2f} s "
              f"({full_s / chain_s:.2f}x the chain alone; goal < 5 s and < 2x)")
        print(f"  {decisions.signed:,} signed events, {decisions.checkpointed:,} under "
              f"checkpoints, {len(decisions.problems)} problems")
        signed.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
