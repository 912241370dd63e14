import hashlib
import json
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from modelledger.core.audit_chain import (
    GENESIS_HASH,
    canonical_json,
    change_set,
    event_hash,
    verify_chain,
)
from modelledger.core.domain import AuditEvent


def make_chain(count: int) -> list[AuditEvent]:
    events, prev = [], GENESIS_HASH
    for seq in range(1, count + 1):
        fields = dict(seq=seq, occurred_at=f"2026-01-01T00:00:{seq % 60:02d}.000000Z",
                      actor="alice", host="pc1", action="model.updated", entity_type="model",
                      entity_id="m", before=canonical_json({"v": seq - 1}),
                      after=canonical_json({"v": seq}), reason="r", prev_hash=prev)
        digest = event_hash(**fields)
        events.append(AuditEvent(**fields, hash=digest))
        prev = digest
    return events


def test_hash_is_sha256_of_the_documented_json_array():
    event = make_chain(1)[0]
    document = json.dumps([1, event.occurred_at, "alice", "pc1", "model.updated", "model", "m",
                           event.before, event.after, "r", GENESIS_HASH],
                          separators=(",", ":"), ensure_ascii=False)
    assert event.hash == hashlib.sha256(document.encode()).hexdigest()


def test_intact_chain_verifies():
    report = verify_chain(make_chain(50))
    assert report.intact and report.events_checked == 50 and report.last_seq == 50


def test_altered_event_is_named():
    events = make_chain(10)
    events[6] = replace(events[6], reason="edited later")
    report = verify_chain(events)
    assert report.first_break.seq == 7 and "altered" in report.first_break.problem


def test_removed_event_is_named():
    events = make_chain(10)
    del events[3]
    report = verify_chain(events)
    assert report.first_break.seq == 4 and "missing" in report.first_break.problem


def test_reordered_events_are_detected():
    events = make_chain(10)
    events[4], events[5] = events[5], events[4]
    report = verify_chain(events)
    assert not report.intact and report.first_break.seq == 5


def test_forged_link_with_correct_own_hash_breaks_next_link():
    events = make_chain(5)
    forged = replace(events[2], reason="rewritten")
    unhashed = ("hash", "signer", "signature", "about")
    forged = replace(forged, hash=event_hash(**{k: v for k, v in forged.__dict__.items()
                                                if k not in unhashed}))
    events[2] = forged
    report = verify_chain(events)
    assert report.first_break.seq == 4 and "previous-hash" in report.first_break.problem


def test_segment_verifies_from_its_starting_point():
    events = make_chain(20)
    segment = events[10:]
    assert not verify_chain(segment).intact
    report = verify_chain(segment, expected_first_seq=11, expected_prev_hash=events[9].hash)
    assert report.intact and report.first_seq == 11


@given(st.dictionaries(st.text(), st.one_of(st.integers(), st.text(), st.booleans(),
                                            st.none())))
def test_canonical_json_is_independent_of_key_order(mapping):
    reordered = dict(reversed(list(mapping.items())))
    assert canonical_json(mapping) == canonical_json(reordered)


def test_change_set_keeps_only_differences():
    before, after = change_set({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4})
    assert before == {"b": 2} and after == {"b": 3, "c": 4}
