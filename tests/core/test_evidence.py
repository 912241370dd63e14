"""The pack format's pure parts: CSV rows without parsing, and the chain checker's two paths."""

import csv
import hashlib
import io

from hypothesis import given, settings
from hypothesis import strategies as st

from modelledger.core.audit_chain import GENESIS_HASH, canonical_json, event_hash
from modelledger.core.evidence import (
    ChainBounds,
    ChainSegmentChecker,
    EventSelection,
    csv_header,
    csv_rows,
    event_block,
    event_line,
)

# Every kind of character canonical JSON escapes differently: quotes, backslashes, the letter
# escapes, other control characters (\u00XX), and text beyond ASCII.
tricky_text = st.text(alphabet=st.sampled_from(
    ['a', 'Z', ' ', ',', '"', '\\', '\n', '\r', '\t', '\b', '\f', '\x00', '\x1f', '\x7f',
     'é', '€', '\u2028', '😀', '[', ']', 'u', '/']), max_size=12)


def chain_rows(texts: list[str], *, first_seq: int = 1, prev_hash: str = GENESIS_HASH):
    """A correctly chained run of events whose free-text fields hold ``texts``: changes to
    versions of models m0 and m1, and every third one an alert naming its model."""
    rows = []
    for offset, text in enumerate(texts):
        alert = offset % 3 == 2
        fields = {"seq": first_seq + offset,
                  "occurred_at": f"2026-03-{1 + offset % 28:02d}T10:00:00.000000Z",
                  "actor": text[:3] or "alice", "host": "host",
                  "action": "alert.raised" if alert else "version.updated",
                  "entity_type": "alert" if alert else "version",
                  "entity_id": str(offset) if alert else f"m{offset % 2}/v{offset}",
                  "before": canonical_json({"note": text}),
                  "after": canonical_json({"model": f"m{offset % 2}", "title": text}),
                  "reason": text, "prev_hash": prev_hash}
        prev_hash = event_hash(**fields)
        rows.append([*fields.values(), prev_hash])
    return rows


def csv_writer_bytes(rows) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode()


@settings(max_examples=200, deadline=None)
@given(st.lists(tricky_text, min_size=1, max_size=8))
def test_csv_rows_made_from_bytes_are_what_csv_writer_writes(texts):
    rows = chain_rows(texts)
    assert csv_rows(event_block(rows)) == csv_writer_bytes(rows)


EVERYTHING = EventSelection()


def check(data: bytes, selection=EVERYTHING, **bounds):
    checker = ChainSegmentChecker(selection, ChainBounds(**bounds))
    checker.feed(data)
    return checker.finish()


@settings(max_examples=100, deadline=None)
@given(st.lists(tricky_text, min_size=2, max_size=30), st.booleans())
def test_a_whole_block_and_line_by_line_agree_with_csv_writer(texts, one_model):
    rows = chain_rows(texts)
    data = event_block(rows)
    selection = EventSelection(("m1",)) if one_model else EventSelection()
    selected = [row for row in rows if selection.matches_row(row)]
    expected_csv = hashlib.sha256(csv_header() + csv_writer_bytes(selected)).hexdigest()
    bounds = {"first_seq": 1, "first_prev_hash": GENESIS_HASH, "last_seq": len(rows),
              "last_hash": rows[-1][-1]}
    whole = check(data, selection, **bounds)  # the first line carefully, the rest as one block
    checker = ChainSegmentChecker(selection, ChainBounds(**bounds))
    for line in data.splitlines(keepends=True):
        checker.feed(line)
    by_line = checker.finish()
    for facts in (whole, by_line):
        assert facts.problems == ()
        assert facts.csv_sha256 == expected_csv
        assert facts.selected_count == len(selected) and facts.event_count == len(rows)


def test_a_line_the_fast_path_cannot_vouch_for_is_named():
    rows = chain_rows([f"event {index}" for index in range(50)])
    lines = [event_line(row) for row in rows]
    lines[30] = lines[30].replace(b'"event 30"', b'"event 3\\u0030"')  # same text, other bytes
    facts = check(b"".join(line + b"\n" for line in lines), first_seq=1,
                  first_prev_hash=GENESIS_HASH)
    assert facts.problems == (
        "events.jsonl: event 31 is not written in the canonical form (it was re-encoded after "
        "export)",)


def test_a_missing_event_a_reordering_and_a_broken_link_are_told_apart():
    rows = chain_rows([f"event {index}" for index in range(20)])
    lines = [event_line(row) + b"\n" for row in rows]
    bounds = {"first_seq": 1, "first_prev_hash": GENESIS_HASH, "last_seq": 20,
              "last_hash": rows[-1][-1]}
    missing = check(b"".join(lines[:9] + lines[10:]), **bounds)
    assert missing.problems == (
        "events.jsonl: event 10 is missing (the chain goes from 9 to 11)",)
    swapped = check(b"".join([*lines[:9], lines[10], lines[9], *lines[11:]]), **bounds)
    assert swapped.problems == (
        "events.jsonl: events are out of order at seq 10 (it comes after event 11)",)
    forged = rows[12].copy()
    forged[9] = "nothing to see"
    forged[11] = event_hash(**dict(zip(("seq", "occurred_at", "actor", "host", "action",
                                        "entity_type", "entity_id", "before", "after",
                                        "reason", "prev_hash"), forged[:11], strict=True)))
    relinked = check(b"".join([*lines[:12], event_line(forged) + b"\n", *lines[13:]]), **bounds)
    assert relinked.problems == (
        "events.jsonl: event 14 does not link to event 13: its prev_hash is not event 13's "
        "hash (an event was changed, removed or inserted here)",)
    truncated = check(b"".join(lines[:-1]), **bounds)
    assert truncated.problems == (
        "events.jsonl: event 20 is missing (the chain ends at 19; the manifest says it ends "
        "at 20)",)
