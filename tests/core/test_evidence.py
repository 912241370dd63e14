"""The pack format's pure parts: CSV rows without parsing, and the chain checker's two paths."""

import csv
import hashlib
import io
import itertools
import tempfile
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelledger.core.audit_chain import GENESIS_HASH, canonical_json, event_hash
from modelledger.core.evidence import (
    ChainBounds,
    ChainSegmentChecker,
    CsvDigest,
    EventSelection,
    csv_header,
    csv_rows,
    event_block,
    event_line,
    vouch_for_block,
    vouch_for_range,
    vouched_blocks,
)

# Every kind of character canonical JSON escapes differently: quotes, backslashes, the letter
# escapes, other control characters (\u00XX), and text beyond ASCII.
TRICKY_CHARACTERS = ['a', 'Z', ' ', ',', '"', '\\', '\n', '\r', '\t', '\b', '\f', '\x00', '\x1f',
                     '\x7f', 'é', '€', '\u2028', '😀', '[', ']', 'u', '/']
tricky_text = st.text(alphabet=st.sampled_from(TRICKY_CHARACTERS), max_size=12)
# The same without the rare characters that make the fast path give a block up (\u00XX).
fast_text = st.text(alphabet=st.sampled_from(
    [character for character in TRICKY_CHARACTERS if character not in "\x00\x1f"]), max_size=12)


def chain_rows(texts: list[str], *, first_seq: int = 1, prev_hash: str = GENESIS_HASH):
    """A correctly chained run of events whose free-text fields hold ``texts``: changes to
    versions of models m0 and m1, and every third one an alert naming its model; every fourth
    one's time is written without fractions of a second."""
    rows = []
    for offset, text in enumerate(texts):
        alert = offset % 3 == 2
        fraction = "" if offset % 4 == 3 else ".000000"
        fields = {"seq": first_seq + offset,
                  "occurred_at": f"2026-03-{1 + offset % 28:02d}T10:00:00{fraction}Z",
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
    block = event_block(rows)
    assert block == b"".join(event_line(row) + b"\n" for row in rows)
    assert csv_rows(block) == csv_writer_bytes(rows)


def test_rows_whose_texts_hold_a_row_boundary_are_encoded_one_by_one():
    rows = chain_rows(['"],[', "],[x", "plain", '\\"],[', "]"])
    assert event_block(rows) == b"".join(event_line(row) + b"\n" for row in rows)


EVERYTHING = EventSelection()
SELECTIONS = [EVERYTHING, EventSelection(("m1",)),
              EventSelection((), "2026-03-05T00:00:00.000000Z", "2026-03-12"),
              EventSelection(("m0", "m1/v4"), "2026-03-02T10:00:00Z"),
              # What only a doctored manifest holds: a lone surrogate, a control character, a
              # name longer than a block.
              EventSelection(("m\ud800", "m1", "m" * 20_000), "2026-03-0\ud800"),
              EventSelection((), None, "2026-03-12\x00")]


def check(data: bytes, selection=EVERYTHING, **bounds):
    checker = ChainSegmentChecker(selection, ChainBounds(**bounds), on_csv_rows=ignore_csv)
    checker.feed(data)
    return checker.finish()


def ignore_csv(rows: bytes) -> None:
    """Tests about the chain alone do not look at the CSV it makes."""


@settings(max_examples=100, deadline=None)
@given(st.lists(tricky_text, min_size=2, max_size=30), st.sampled_from(SELECTIONS))
def test_a_whole_block_and_line_by_line_agree_with_csv_writer(texts, selection):
    rows = chain_rows(texts)
    data = event_block(rows)
    selected = [row for row in rows if selection.matches_row(row)]
    expected_csv = csv_header() + csv_writer_bytes(selected)
    bounds = {"first_seq": 1, "first_prev_hash": GENESIS_HASH, "last_seq": len(rows),
              "last_hash": rows[-1][-1]}
    whole, by_line = [], []
    checker = ChainSegmentChecker(selection, ChainBounds(**bounds), on_csv_rows=whole.append)
    first_line_end = data.index(b"\n") + 1
    checker.feed(data[:first_line_end])  # the first block is always checked carefully
    checker.feed(data[first_line_end:])
    # The fast path vouches for the rest, unless a text needs a \u00XX escape.
    assert (vouch_for_block(data[first_line_end:], selection) is not None
            or b"\\u" in data)
    whole_facts = checker.finish()
    checker = ChainSegmentChecker(selection, ChainBounds(**bounds), on_csv_rows=by_line.append)
    for line in data.splitlines(keepends=True):
        checker.feed(line)
    by_line_facts = checker.finish()
    for facts, csv_rows_handed_on in ((whole_facts, whole), (by_line_facts, by_line)):
        assert facts.problems == ()
        assert b"".join(csv_rows_handed_on) == expected_csv
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


def segment(data: bytes, selection: EventSelection, *, careful: bool):
    """What a checker finds in ``data`` (the first line alone, then the rest as one block), and
    the CSV it hands on; ``careful``: with the fast path turned off."""
    csv_rows_handed_on: list[bytes] = []
    checker = ChainSegmentChecker(selection, ChainBounds(1, GENESIS_HASH), {3, 7},
                                  on_csv_rows=csv_rows_handed_on.append)
    first_line_end = data.find(b"\n") + 1
    with (mock.patch("modelledger.core.evidence.vouch_for_block", return_value=None)
          if careful else nullcontext()):
        checker.feed(data[:first_line_end])
        checker.feed(data[first_line_end:])
    return checker.finish(), b"".join(csv_rows_handed_on)


# Bytes that matter to the layout of a line, and any other byte.
damage = st.one_of(st.sampled_from([bytes([byte]) for byte in b'"\\,[]\n0179afu{}: \x00\xc3']),
                   st.binary(min_size=1, max_size=1))


def resealed(data: bytes, *, relink: bool) -> bytes:
    """``data`` with each line's hash written again from its own bytes (and, ``relink``, each
    prev_hash from the line before), as someone holding the signing key could: then only the
    layout and link checks can tell a damaged line from a sound one."""
    prev_hash, lines = GENESIS_HASH.encode(), []
    for line in data.split(b"\n"):
        if len(line) > 136:
            if relink:
                line = line[:-133] + prev_hash + line[-69:]
            prev_hash = hashlib.sha256(line[:-68] + b"]").hexdigest().encode()
            line = line[:-66] + prev_hash + line[-2:]
        lines.append(line)
    return b"\n".join(lines)


@settings(max_examples=500, deadline=None)
@given(st.lists(fast_text, min_size=2, max_size=12), st.sampled_from(SELECTIONS),
       st.sampled_from(["replace", "insert", "delete"]), st.data(), damage,
       st.sampled_from(["no", "hashes", "hashes and links"]))
def test_the_fast_path_never_accepts_what_the_careful_path_finds_wrong(texts, selection, how,
                                                                       drawn, byte, reseal):
    data = event_block(chain_rows(texts))
    # After the first line, which both paths check carefully; mostly where the layout of a
    # line is decided: a break, a quote, an escape, a digit...
    after_first = data.index(b"\n")
    layout = [at for at, value in enumerate(data) if value in b'\n"\\,[]0123456789'
              and at >= after_first]
    at = drawn.draw(st.sampled_from(layout) | st.integers(after_first, len(data) - 1))
    data = data[:at] + {"replace": byte, "insert": byte + data[at:at + 1], "delete": b""}[how] \
        + data[at + 1:]
    if reseal != "no":
        data = resealed(data, relink=reseal == "hashes and links")
    assert segment(data, selection, careful=False) == segment(data, selection, careful=True)


@settings(max_examples=100, deadline=None)
@given(st.lists(tricky_text, min_size=1, max_size=12),
       st.lists(st.integers(min_value=0, max_value=6000), max_size=4), st.booleans())
def test_ranges_split_anywhere_tile_the_lines_and_vouch_as_blocks_do(texts, splits, broken_end):
    data = event_block(chain_rows(texts))
    if broken_end:
        data = data[:-1]  # the last line lacks its line break
    bounds = [0, *sorted(split % (len(data) + 1) for split in splits), len(data)]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pack.zip"
        path.write_bytes(b"zip header" + data + b"zip directory")
        stretches = [(path, len(b"zip header"), len(data), start, end, EVERYTHING,
                      frozenset({2}), 256) for start, end in itertools.pairwise(bounds)]
        parts = [part for stretch in stretches for part in vouched_blocks(*stretch)]
        sent = [part for stretch in stretches for part in vouch_for_range(*stretch)]
    assert [offset for offset, _, _ in parts] == [0, *(offset + length
                                                       for offset, length, _ in parts[:-1])]
    assert sum(length for _, length, _ in parts) == len(data)
    for offset, length, facts in parts:
        block = data[offset:offset + length]
        assert facts == (vouch_for_block(block, EVERYTHING, frozenset({2}))
                         if block.endswith(b"\n") else None)
    # A worker process sends the CSV rows as their size and SHA-256.
    assert sent == [(offset, length, facts if facts is None else replace(
        facts, csv=CsvDigest(len(facts.csv), hashlib.sha256(facts.csv).digest())))
        for offset, length, facts in parts]


# Damage to lines after the first (which both paths check carefully) that only a layout check
# can see once the lines are sealed again: (what is wrong, [(text, replacement)], seal again).
LAYOUT_DAMAGE = [
    ("a raw control character", [(b'"host"', b'"ho\rst"')], True),
    ("two lines joined by a raw control character", [(b'"]\n[4,', b'"]\x00[4,')], False),
    ("a leading zero", [(b"[3,", b"[03,")], True),
    ("a number moved to the next line", [(b"[3,", b"[,"), (b"[4,", b"[34,")], True),
    ("a sequence number that is not a number", [(b"[2,", b"[x,")], True),
    ("a space before the line", [(b"\n[3,", b"\n [3,")], True),
    ("a brace for a bracket", [(b"\n[3,", b"\n{3,")], True),
    ("a space after a comma", [(b'","host"', b'", "host"')], True),
    ("a semicolon for a comma", [(b'","host"', b'";"host"')], True),
    ("no comma after the number", [(b'[3,"', b'[3 "')], True),
    ("a brace closing the line", [(b'"]\n[4,', b'"}\n[4,')], True),
    ("an escape canonical JSON never writes", [(b'"host"', b'"h\\/ost"')], True),
    ("a \\u escape for a plain letter", [(b'"host"', b'"h\\u006fst"')], True),
    ("bytes that are not UTF-8", [(b'"host"', b'"h\xffost"')], True),
]


@pytest.mark.parametrize(("damage_done", "replacements", "seal_again"), LAYOUT_DAMAGE,
                         ids=[case[0] for case in LAYOUT_DAMAGE])
def test_each_layout_rule_keeps_the_fast_path_from_a_line_it_breaks(damage_done, replacements,
                                                                     seal_again):
    data = event_block(chain_rows(["a", "b", "c", "d"]))
    first_line, rest = data.split(b"\n", 1)
    for text, replacement in replacements:
        rest = rest.replace(text, replacement, 1)
    damaged = first_line + b"\n" + rest
    if seal_again:
        damaged = resealed(damaged, relink=True)
    careful = segment(damaged, EVERYTHING, careful=True)
    assert careful[0].problems
    assert segment(damaged, EVERYTHING, careful=False) == careful


def test_a_block_that_starts_from_a_prev_hash_not_in_lowercase_hex_is_not_vouched_for():
    second_line = event_block(chain_rows(["a", "b"])).split(b"\n")[1] + b"\n"
    prev_hash = second_line[-134:-70]
    capitals = resealed(second_line.replace(prev_hash, prev_hash.upper()), relink=False)
    assert vouch_for_block(second_line, EVERYTHING) is not None
    assert vouch_for_block(capitals, EVERYTHING) is None
