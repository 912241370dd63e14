"""Evidence pack benchmark: prints figures, asserts nothing.

    .venv/bin/python benchmarks/audit_bench.py [--events 1000000] [--folder DIR]

1. A workspace with N audit events, built fast but genuinely chained: batched inserts whose
   hashes come from the real ``event_hash``. With --folder the workspace is kept there and
   reused by the next run (building a million events takes a while).
2. Export every event into an evidence pack (goal: under 15 s for a million).
3. ``verify_pack`` of that pack (goal: under 3 s for a million), in this process alone and with
   one process a processor (this one and workers, at most four).
4. ``read_pack``: what review mode does before it shows the pack (verify with the machine's
   processes, then pick the selected events' lines).
5. One model's events (a sparse selection over the same segment), exported, verified, read.
6. The peer: SHA-256 of the pack's bytes, which is what ``sha256sum PACK.zip`` does, and the
   ratio of verify to it. (Packs are kept uncompressed, so the peer hashes about four times the
   bytes it hashed when packs were deflated.)
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

from scratch_keys import use_scratch_keys

ACTIONS = (
    ("version.created", "version", lambda i: {"stage": "development", "version": i % 40,
                                              "metrics": {"auc": round(0.7 + i % 97 / 1000, 4)}}),
    ("version.stage_changed", "version", lambda i: {"stage": "staging"}),
    ("monitor.run_finished", "monitor", lambda i: {"health": "amber" if i % 7 else "red",
                                                   "psi_max": round(i % 53 / 100, 3)}),
    ("model.updated", "model", lambda i: {"owner": f"owner-{i % 13}",
                                          "description": "Scores réclamations \"urgent\""}),
)
MODELS = 50
INSERT_BATCH = 20_000


def build_workspace(path: Path, events: int) -> None:
    """A workspace holding ``events`` audit events (more if it already holds more)."""
    from sqlalchemy import insert

    from modelledger.core.audit_chain import canonical_json, event_hash
    from modelledger.services.workspace.opening import Workspace
    from modelledger.storage.audit_log import head_seq
    from modelledger.storage.database import Database
    from modelledger.storage.tables import audit_events

    # The events are inserted straight into the log, unsigned: a log from before signed
    # identity, as this benchmark measured packs before it (identity_bench.py measures
    # signed verification).
    creating = not path.exists()
    workspace = Workspace(Database.open(path, create=creating), user="bench")
    database = workspace.database
    if creating:
        for index in range(MODELS):
            workspace.registry.register_model(f"model-{index:02d}")
    start = time.perf_counter()
    have = database.read(head_seq)
    while have < events:
        def insert_batch(conn, first=have + 1):
            head = conn.execute(audit_events.select().where(audit_events.c.seq == first - 1)
                                ).first()
            prev_hash = head.hash if head else "0" * 64
            rows = []
            for seq in range(first, min(first + INSERT_BATCH, events + 1)):
                action, entity_type, after = ACTIONS[seq % len(ACTIONS)]
                reason = ("scheduled run\nsecond line of the note" if seq % 100 == 0
                          else f"change {seq} checked by the team")
                fields = {
                    "seq": seq, "occurred_at": f"2026-{1 + seq % 12:02d}-{1 + seq % 28:02d}T"
                                              f"{seq % 24:02d}:00:00.{seq % 999_999:06d}Z",
                    "actor": f"user-{seq % 9}", "host": "bench-host", "action": action,
                    "entity_type": entity_type, "entity_id": f"model-{seq % MODELS:02d}/v1",
                    "before": "{}", "after": canonical_json(after(seq)), "reason": reason,
                    "prev_hash": prev_hash,
                }
                prev_hash = event_hash(**fields)
                row = dict(fields, hash=prev_hash)
                row["before_json"], row["after_json"] = row.pop("before"), row.pop("after")
                rows.append(row)
            conn.execute(insert(audit_events), rows)
            return rows[-1]["seq"]

        have = database.write(insert_batch)
    if time.perf_counter() - start > 1:
        print(f"built a workspace of {have:,} audit events in "
              f"{time.perf_counter() - start:.1f} s")
    workspace.close()


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--folder", type=Path, help="keep the workspace here and reuse it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.folder or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        use_scratch_keys(folder / "keys")  # beside a kept workspace, for its next run
        from modelledger.core.evidence import EventSelection
        from modelledger.services.governance import evidence_pack
        from modelledger.services.workspace.opening import Workspace

        build_workspace(folder / f"audit-{args.events}.db", args.events)
        workspace = Workspace.open(folder / f"audit-{args.events}.db", user="bench")
        for label, selection in (("every event", EventSelection()),
                                 ("one model", EventSelection(("model-07",)))):
            pack = Path(scratch) / "pack.zip"
            summary, export_time = timed(evidence_pack.build_evidence_pack, workspace.database,
                                         workspace.actor, selection, pack)
            print(f"{label}: {summary.selected_count:,} selected of {summary.event_count:,} "
                  f"events in the segment; pack {summary.size_bytes / 1e6:.1f} MB")
            print(f"  export {export_time:.2f} s (goal < 15 s for 1M)")
            with pack.open("rb") as handle:
                _, peer_time = timed(hashlib.file_digest, handle, "sha256")
            for processes in sorted({1, evidence_pack.available_processors()}):
                verification, verify_time = timed(evidence_pack.verify_pack, pack,
                                                  processes=processes)
                assert verification.valid, verification.problems
                print(f"  verify with {processes} process(es) {verify_time:.2f} s (goal < 3 s "
                      f"for 1M); verify / peer x{verify_time / peer_time:.0f}")
            processes = evidence_pack.available_processors()
            contents, read_time = timed(evidence_pack.read_pack, pack, processes=processes)
            print(f"  read for review mode ({processes} process(es)) {read_time:.2f} s: "
                  f"{len(contents.events):,} events, parsed as the timeline shows them")
            print(f"  peer: SHA-256 of the pack's bytes (sha256sum) {peer_time:.2f} s")
        workspace.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
