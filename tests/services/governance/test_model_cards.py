"""Model cards: the registry's facts, the free-text sections and their audit trail, the exports."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime

import pytest

from modelledger.core.domain import EventFilter, Stage
from modelledger.core.errors import ConcurrentEditError, InvalidInputError, NotFoundError
from modelledger.services.governance.model_cards import (
    FREE_TEXT_SECTIONS,
    ModelCardService,
    to_html,
    to_markdown,
    to_pdf,
)
from tests.services.pdf_pages import page_count, page_texts, rendered_pages

SCREENING = "breast-cancer-screening"


@pytest.fixture
def cards(demo_workspace):
    return ModelCardService(demo_workspace.database, demo_workspace.actor,
                            demo_workspace.changes)


def test_the_card_holds_the_registry_facts(demo_workspace, cards):
    card = cards.card(SCREENING, 2)
    version = demo_workspace.registry.get_version(SCREENING, 2)
    assert (card.model.owner, card.model.risk_tier.value) == ("carol", "high")
    assert card.model.purpose == "Prioritise the second-review queue of the pathology lab."
    assert card.version.stage is Stage.PRODUCTION
    assert card.version.artifact.sha256 == version.artifact.sha256
    assert card.version.training_data["rows"] == 426
    assert card.version.training_data["columns"] == 30
    assert card.version.parameters["logisticregression__C"] == 0.5
    assert card.version.metrics == version.metrics
    assert [v.version_number for v in card.lineage] == [2, 1]
    assert [(c.from_stage, c.to_stage, c.kind) for c in card.stage_history] == [
        (None, Stage.DEVELOPMENT, "created"), (Stage.DEVELOPMENT, Stage.STAGING, "transition"),
        (Stage.STAGING, Stage.PRODUCTION, "promotion")]
    (approval,) = card.approvals
    assert (approval.request.requested_by, approval.request.decided_by) == ("alice", "bob")
    assert (approval.requester_role, approval.decider_role) == ("developer", "validator")
    assert approval.developer == "alice" and approval.independent is True
    (setup,) = card.monitors
    assert setup.overview.monitor.name == "weekly health"
    assert setup.overview.monitor.schedule.describe() == "every 7 days"
    # the screening model stays healthy: its last run's distances near 0.1 are within the noise
    # of 600 rows against a 569-row reference
    assert setup.overview.last_health.value == "ok"
    psi = next(t for t in setup.thresholds if t.metric == "PSI")
    assert (psi.warn, psi.critical, psi.higher_is_worse) == (0.1, 0.25, True)
    assert psi.applies_to == "30 columns"
    runs = demo_workspace.monitoring.list_runs(monitor_id=setup.overview.monitor.id,
                                               limit=None)
    assert setup.runs_on_version == sum(run.version_number == 2 for run in runs) > 0

    markdown = to_markdown(card)
    for fact in (version.artifact.sha256, version.training_data["content_sha256"],
                 "| Owner | carol |", "| Risk tier | high |", "| accuracy | 0.972028 |",
                 "| logisticregression__C | 0.5 |", "| 1 | mean radius | float64 |",
                 "Independent: bob is neither the developer (alice) nor the requester (alice).",
                 "| PSI | 0.1 | 0.25 | higher | 30 columns |", "approved by bob (validator)"):
        assert fact in markdown


def test_the_card_of_a_model_scored_elsewhere_says_so(cards):
    card = cards.card("vendor-credit-score", 1)
    markdown = to_markdown(card)
    assert "None: the model is scored elsewhere" in markdown
    assert "No fingerprint was recorded" in markdown
    assert "No feature list was recorded." in markdown
    assert "approval rate: target 0.62 ± 0.04 (higher is better)" in markdown
    assert cards.current_version_number("vendor-credit-score") == 1
    assert cards.current_version_number("diabetes-progression") == 1  # production, not newest


def test_an_approval_by_the_developer_is_not_independent(workspace):
    registry = workspace.registry
    registry.register_model("solo", risk_tier="high")
    registry.add_version("solo", metrics={"auc": 0.8})
    registry.move_to_stage("solo", 1, Stage.STAGING, "ready")
    request = registry.request_promotion("solo", 1, "ship it")
    registry.set_four_eyes_required(False, "one-person team")
    registry.approve_promotion(request.id, "checked it myself")
    (approval,) = ModelCardService(workspace.database, workspace.actor).card(
        "solo", 1).approvals
    assert approval.independent is False
    assert approval.independence() == ("NOT independent: alice is also the developer and the "
                                       "requester.")


def test_a_section_is_stored_and_audited_with_the_text_before_and_after(demo_workspace,
                                                                        cards):
    saved = cards.save_section(SCREENING, 2, "limitations", "  Weaker on small tumours.\r\n",
                               "first review")
    assert (saved.text, saved.written_for, saved.updated_by) == (
        "Weaker on small tumours.", 2, "alice")
    cards.save_section(SCREENING, 2, "limitations", "Weaker on tumours under 1 cm.",
                       "measured", expected_text="Weaker on small tumours.")
    text = cards.card(SCREENING, 2).text("limitations")
    assert (text.text, text.written_for, text.carried_over) == (
        "Weaker on tumours under 1 cm.", 2, False)

    events = demo_workspace.audit.list_events(EventFilter(action_prefix="model_card."))
    assert [(e.entity_type, e.entity_id, e.actor, e.reason) for e in events] == [
        ("version", f"{SCREENING}/v2", "alice", "measured"),
        ("version", f"{SCREENING}/v2", "alice", "first review")]
    assert json.loads(events[1].before) == {"section": "limitations", "text": None}
    assert json.loads(events[1].after) == {"section": "limitations",
                                           "text": "Weaker on small tumours."}
    assert json.loads(events[0].before) == {"section": "limitations",
                                            "text": "Weaker on small tumours."}
    assert json.loads(events[0].after)["text"] == "Weaker on tumours under 1 cm."
    assert demo_workspace.audit.verify().intact

    # The same text again is no change: nothing is written.
    head = demo_workspace.audit.head_seq()
    cards.save_section(SCREENING, 2, "limitations", "Weaker on tumours under 1 cm.", "again")
    assert demo_workspace.audit.head_seq() == head


def test_a_newer_version_starts_from_the_earlier_text_marked_as_carried_over(cards):
    cards.save_section(SCREENING, 2, "ethical_considerations", "A second reader always "
                       "reviews flagged samples.", "reviewed with the lab")
    text = cards.card(SCREENING, 3).text("ethical_considerations")
    assert (text.written_for, text.carried_over) == (2, True)
    assert "Carried over from v2 (written by alice on " in to_markdown(cards.card(SCREENING, 3))
    assert cards.card(SCREENING, 1).text("ethical_considerations").text == ""
    assert "Not written yet." in to_markdown(cards.card(SCREENING, 1))


def test_bad_edits_are_refused_with_a_clear_message(demo_workspace, cards):
    cards.save_section(SCREENING, 2, "out_of_scope_use", "Screening of men.", "initial")
    with pytest.raises(InvalidInputError, match="no free-text section 'notes'; the sections "
                                                "are out_of_scope_use, evaluation_data"):
        cards.save_section(SCREENING, 2, "notes", "x", "why")
    with pytest.raises(InvalidInputError, match="Give a reason"):
        cards.save_section(SCREENING, 2, "limitations", "x", "  ")
    with pytest.raises(InvalidInputError, match="at most 20,000"):
        cards.save_section(SCREENING, 2, "limitations", "x" * 20_001, "too long")
    with pytest.raises(NotFoundError, match="no model named 'nope'"):
        cards.save_section("nope", 1, "limitations", "x", "why")
    with pytest.raises(NotFoundError, match="has no version 9"):
        cards.card(SCREENING, 9)
    # Someone else saved meanwhile: the editor's text is not stored over theirs.
    carol = ModelCardService(demo_workspace.database, demo_workspace.as_user("carol").actor)
    carol.save_section(SCREENING, 2, "out_of_scope_use", "Screening of men or children.", "add")
    with pytest.raises(ConcurrentEditError, match="carol changed Out-of-scope use"):
        cards.save_section(SCREENING, 2, "out_of_scope_use", "Men.", "mine",
                           expected_text="Screening of men.")
    assert cards.card(SCREENING, 2).text("out_of_scope_use").text == (
        "Screening of men or children.")


def test_every_free_text_section_is_on_the_card(cards):
    markdown = to_markdown(cards.card(SCREENING, 2))
    for section in FREE_TEXT_SECTIONS:
        assert section.title in markdown and section.prompt in markdown


def test_html_is_self_contained_and_escapes_what_people_write(cards):
    cards.save_section(SCREENING, 2, "caveats_and_recommendations",
                       "Do not <script>alert(1)</script> trust scores & thresholds.", "review")
    html = to_html(cards.card(SCREENING, 2))
    assert html.startswith("<!DOCTYPE html>") and "<style>" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; trust scores &amp; thresholds." in html
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert '<h2 id="s12"><span class="number">12</span>Caveats and recommendations</h2>' in html
    assert 'href="#s12"' in html  # the contents link to it


def test_the_pdf_is_titled_dated_paginated_with_contents(cards, tmp_path):
    now = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    card = dataclasses.replace(cards.card(SCREENING, 2), generated_at=now)
    path = tmp_path / "card.pdf"
    path.write_bytes(to_pdf(card))
    pages = page_count(path)
    assert pages >= 3
    assert len(rendered_pages(path, tmp_path / "png")) == pages
    texts = page_texts(path)
    assert "Model card: breast-cancer-screening v2" in texts[0]
    assert "Contents" in texts[0]
    for number, text in enumerate(texts, start=1):
        assert f"Page {number} of {pages}" in text
        assert "Generated 2026-11-24 09:30 UTC" in text
    # The contents give the page each section starts on.
    (monitoring_page,) = re.findall(r"^\s*9\s+Monitoring\s+(\d+)$", texts[0], re.MULTILINE)
    assert re.search(r"^\s*9 Monitoring$", texts[int(monitoring_page) - 1], re.MULTILINE)
    assert card.version.artifact.sha256 in "".join(texts).replace("\n", "")


def test_text_outside_western_european_fonts_is_kept(cards, tmp_path):
    cards.save_section(SCREENING, 2, "limitations", "Δοκιμάστηκε μόνο σε ελληνικά δείγματα; "
                       "не проверено на детях ≠ safe.", "translated review")
    path = tmp_path / "card.pdf"
    path.write_bytes(to_pdf(cards.card(SCREENING, 2)))
    text = "".join(page_texts(path))
    assert "Δοκιμάστηκε μόνο σε ελληνικά δείγματα" in text
    assert "не проверено на детях ≠ safe." in text
