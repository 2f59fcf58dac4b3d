"""cds-feedback-report: per card topic, what clinicians accepted, overrode, and why."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from cds_service.cdshooks.feedback import EPIC_REASON_CATEGORY
from cds_service.cdshooks.response import (
    Action,
    ActionType,
    Card,
    Coding,
    SelectionBehavior,
    Source,
    Suggestion,
)
from cds_service.db import (
    card_issued_table,
    create_database_engine,
    feedback_override_reason_table,
    feedback_table,
    suggestion_issued_table,
)
from cds_service.feedback.issued_cards import record_issued_cards
from cds_service.feedback.report import (
    COMMENT_ONLY,
    NOT_RECORDED,
    SUGGESTION_NOT_RECORDED,
    build_report,
    main,
    reason_labels_from_knowledge,
    render_text,
)
from cds_service.feedback.report_html import render_html
from cds_service.feedback.store import FeedbackStore
from cds_service.render import Renderer
from cds_service.settings import DEFAULT_KNOWLEDGE_DIR

from ..conftest import load_feedback_sample

SIGN = "vcf-imaging-order-sign"
TOPICS = "https://example.org/vcf-imaging-cds/card-topic"
REASONS = "https://example.org/vcf-imaging-cds/override-reason"
ISSUED = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def card(uuid: str, topic: str, indicator: str = "warning") -> Card:
    return Card(
        uuid=uuid,
        summary="Contrast is not indicated for this study",
        indicator=indicator,
        source=Source(label="ACR Appropriateness Criteria", topic=Coding(TOPICS, topic)),
    )


def accepted(card_uuid: str, at: str = "2026-03-02T09:31:00Z") -> dict:
    return {
        "card": card_uuid,
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": f"{card_uuid}-suggestion"}],
        "outcomeTimestamp": at,
    }


def overridden(card_uuid: str, reason: str | None = None, comment: str | None = None) -> dict:
    override: dict = {}
    if reason:
        override["reason"] = {"system": REASONS, "code": reason}
    if comment:
        override["userComment"] = comment
    entry = {"card": card_uuid, "outcome": "overridden", "outcomeTimestamp": "2026-03-02T09:32Z"}
    if override:
        entry["overrideReason"] = override
    return entry


@pytest.fixture
def engine(tmp_path: Path):
    engine = create_database_engine(f"sqlite:///{tmp_path / 'feedback.sqlite3'}")
    yield engine
    engine.dispose()


@pytest.fixture
def ward_month(engine):
    """Five contrast cards and one MRI card issued; clinicians answered some of them."""
    contrast = [card(f"c{i}", "ContrastNotIndicated") for i in range(1, 6)]
    record_issued_cards(engine, SIGN, [*contrast, card("m1", "MriBeforeAugmentation")], ISSUED)
    store = FeedbackStore(engine)
    store.store(SIGN, [accepted("c1"), accepted("c2")])
    store.store(SIGN, [overridden("c3", reason="prior-outside-imaging")])
    store.store(SIGN, [overridden("c4", reason="prior-outside-imaging")])
    # c5 was accepted, then the clinician changed their mind: the last answer counts.
    store.store(SIGN, [accepted("c5")])
    store.store(SIGN, [overridden("c5", comment="Patient Jane Doe refuses MRI")])
    store.store(SIGN, [overridden("unknown-card", reason="other")])
    return engine


def topics_by_code(report) -> dict:
    return {topic.topic: topic for topic in report.topics}


def test_counts_per_topic_with_the_last_answer_of_each_card(ward_month):
    labels = {(REASONS, "prior-outside-imaging"): "Recent imaging done elsewhere"}
    report = build_report(ward_month, labels)

    contrast = topics_by_code(report)["ContrastNotIndicated"]
    assert (contrast.issued, contrast.accepted, contrast.overridden) == (5, 2, 3)
    assert contrast.without_feedback == 0
    assert contrast.reasons == {"Recent imaging done elsewhere": 2, COMMENT_ONLY: 1}
    mri = topics_by_code(report)["MriBeforeAugmentation"]
    assert (mri.issued, mri.answered, mri.without_feedback) == (1, 0, 1)


def test_feedback_on_a_card_never_recorded_is_counted_apart(ward_month):
    report = build_report(ward_month)

    unknown = topics_by_code(report)[NOT_RECORDED]
    assert (unknown.issued, unknown.overridden) == (0, 1)
    assert report.topics[-1] is unknown
    assert unknown.reasons == {"other": 1}  # no display known: the code itself


def test_repeated_issue_of_the_same_card_is_recorded_once(engine):
    assert record_issued_cards(engine, SIGN, [card("c1", "UsuallyAppropriate")], ISSUED) == 1
    assert record_issued_cards(engine, SIGN, [card("c1", "UsuallyAppropriate")], ISSUED) == 0

    with engine.connect() as connection:
        rows = connection.execute(sa.select(card_issued_table)).all()
    assert [(r.card_uuid, r.service_id, r.topic, r.indicator) for r in rows] == [
        ("c1", SIGN, "UsuallyAppropriate", "warning")
    ]


def test_since_leaves_out_older_cards_and_feedback(ward_month):
    report = build_report(ward_month, since=datetime(2099, 1, 1, tzinfo=UTC))

    assert report.topics == ()
    assert "no cards issued and no feedback" in render_text(report)


def test_free_text_comments_never_reach_the_report(ward_month):
    FeedbackStore(ward_month).store(SIGN, load_feedback_sample("epic-batch.json")["feedback"])
    report = build_report(ward_month)

    for page in (render_text(report), render_html(report)):
        assert "Jane Doe" not in page and "User Entered Free Text" not in page


def test_every_shape_epic_sends_is_counted_with_its_reason(engine):
    record_issued_cards(
        engine,
        SIGN,
        [card(uuid, "ContrastNotIndicated") for uuid in ("123456", "123457", "123458")],
    )
    FeedbackStore(engine).store(SIGN, load_feedback_sample("epic-batch.json")["feedback"])

    (contrast,) = build_report(engine).topics
    assert (contrast.issued, contrast.accepted, contrast.overridden) == (3, 1, 2)
    # Epic's own displays: a reason built in Epic (the extension) and one sent as a Coding
    assert contrast.reasons == {"Does not meet criteria": 1, "bad": 1}


def test_an_entry_with_several_reasons_counts_under_each(engine):
    record_issued_cards(engine, SIGN, [card("c1", "ContrastNotIndicated")], ISSUED)
    entry = overridden("c1", reason="prior-outside-imaging", comment="Jane Doe, see letter")
    entry["overrideReasons"] = [
        {"extension": {EPIC_REASON_CATEGORY: "45"}},
        {"userComment": "Jane Doe again"},
    ]
    FeedbackStore(engine).store(SIGN, [entry])

    labels = {(REASONS, "prior-outside-imaging"): "Recent imaging done elsewhere"}
    (contrast,) = build_report(engine, labels).topics
    assert contrast.overridden == 1
    assert contrast.reasons == {"Recent imaging done elsewhere": 1, "45": 1, COMMENT_ONLY: 1}


def test_an_entry_stored_by_the_previous_release_counts_with_the_reason_it_kept(engine):
    record_issued_cards(engine, SIGN, [card("c1", "ContrastNotIndicated")], ISSUED)
    FeedbackStore(engine).store(SIGN, [overridden("c1", reason="prior-outside-imaging")])
    with engine.begin() as connection:  # as a worker of the previous release wrote it
        connection.execute(feedback_override_reason_table.delete())
        assert connection.execute(sa.select(feedback_table.c.override_reason_code)).scalar() == (
            "prior-outside-imaging"
        )

    (contrast,) = build_report(engine).topics
    assert contrast.reasons == {"prior-outside-imaging": 1}


def test_html_page_charts_every_topic_and_escapes_what_the_ehr_sent(engine):
    record_issued_cards(engine, SIGN, [card("x1", "ContrastNotIndicated")], ISSUED)
    FeedbackStore(engine).store(SIGN, [overridden("x1", reason="<script>alert(1)</script>")])

    page = render_html(build_report(engine))

    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 2
    assert "Contrast not indicated" in page
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_the_text_table_shows_what_the_ehr_sent_with_its_control_characters_escaped(engine):
    record_issued_cards(engine, SIGN, [card("x1", "ContrastNotIndicated")], ISSUED)
    sent = "\x1b[2J\x1b[32mall fine\nContrastNotIndicated 0 0 0 0 0"
    FeedbackStore(engine).store(SIGN, [overridden("x1", reason=sent)])

    table = render_text(build_report(engine))

    assert "\x1b" not in table
    assert "\\x1b[2J\\x1b[32mall fine\\nContrastNotIndicated 0 0 0 0 0" in table
    assert not any(line.startswith("ContrastNotIndicated 0") for line in table.splitlines())


def test_command_prints_the_table_and_writes_the_page(ward_month, tmp_path, capsys):
    url = ward_month.url.render_as_string(hide_password=False)
    page = tmp_path / "report.html"

    assert main(["--database-url", url, "--html", str(page)]) == 0

    out = capsys.readouterr().out
    assert "ContrastNotIndicated" in out and "MriBeforeAugmentation" in out
    assert "<svg" in page.read_text()


def test_command_refuses_a_database_that_is_not_the_services(tmp_path, capsys):
    missing = tmp_path / "typo.sqlite3"

    assert main(["--database-url", f"sqlite:///{missing}"]) == 1

    assert "no feedback, card_issued, feedback_override_reason, suggestion_issued table" in (
        capsys.readouterr().err
    )
    assert not missing.exists()


def test_command_asks_for_a_start_of_the_service_on_a_database_not_yet_upgraded(engine, capsys):
    with engine.begin() as connection:  # as the previous release left it
        suggestion_issued_table.drop(connection)
        feedback_override_reason_table.drop(connection)
    url = engine.url.render_as_string(hide_password=False)

    assert main(["--database-url", url]) == 1

    error = capsys.readouterr().err
    assert "no feedback_override_reason, suggestion_issued table" in error
    assert "has the service started on it once" in error


def test_override_reasons_are_labelled_as_the_cards_offered_them(knowledge):
    labels = reason_labels_from_knowledge(DEFAULT_KNOWLEDGE_DIR)

    offered = {
        (Renderer(knowledge).override_system, reason.code): reason.display
        for text in knowledge.wording.card_texts.values()
        for reason in text.override_reasons
    }
    assert offered and labels == offered


def test_cards_stored_with_the_old_hyphenated_codes_count_under_the_new_ones(engine):
    record_issued_cards(engine, SIGN, [card("old", "contrast-not-indicated")], ISSUED)
    record_issued_cards(engine, SIGN, [card("new", "ContrastNotIndicated")], ISSUED)
    store = FeedbackStore(engine)
    store.store(SIGN, [overridden("old", "contrast-needed"), accepted("new")])

    report = build_report(engine)

    (contrast,) = report.topics
    assert (contrast.topic, contrast.label) == ("ContrastNotIndicated", "Contrast not indicated")
    assert (contrast.issued, contrast.accepted, contrast.overridden) == (2, 1, 1)


CT = "CT thoracic spine without IV contrast"
MRI = "MRI thoracic spine without IV contrast"


def order(study: str, order_id: str | None = None) -> dict:
    resource = {"resourceType": "ServiceRequest", "status": "draft", "code": {"text": study}}
    return {**resource, "id": order_id} if order_id else resource


def card_suggesting(uuid: str, *suggestions: Suggestion) -> Card:
    return Card(
        uuid=uuid,
        summary="IV contrast not indicated",
        indicator="warning",
        source=Source("ACR", topic=Coding(TOPICS, "ContrastNotIndicated")),
        suggestions=suggestions,
        selection_behavior=SelectionBehavior.ANY,
    )


def accepting(card_uuid: str, *suggestion_ids: str) -> dict:
    return {**accepted(card_uuid), "acceptedSuggestions": [{"id": s} for s in suggestion_ids]}


def test_accepted_suggestions_count_as_changes_of_the_order_in_either_action_shape(engine):
    update = Action(ActionType.UPDATE, "Change to CT", order(CT, "ct-t-w"))
    delete = Action(ActionType.DELETE, "Remove the draft", resource_id="ServiceRequest/ct-t-w")
    create_ct = Action(ActionType.CREATE, "Order CT", order(CT))
    add_mri = Action(ActionType.CREATE, "Order MRI", order(MRI))
    cards = [
        card_suggesting("new-shape", Suggestion("CT", "u-ct", (update,))),
        card_suggesting("old-shape", Suggestion("CT", "d-ct", (delete, create_ct))),
        card_suggesting(
            "both", Suggestion("CT", "b-ct", (update,)), Suggestion("MRI", "b-mri", (add_mri,))
        ),
        card_suggesting("ignored", Suggestion("CT", "i-ct", (update,))),
    ]
    record_issued_cards(engine, SIGN, cards, ISSUED)
    FeedbackStore(engine).store(
        SIGN,
        [
            accepting("new-shape", "u-ct"),
            accepting("old-shape", "d-ct"),
            accepting("both", "b-ct", "b-mri"),
            accepting("ignored", "from-another-service"),
            overridden("ignored", reason="contrast-needed"),  # the last answer counts
        ],
    )

    (contrast,) = build_report(engine).topics
    assert (contrast.issued, contrast.accepted, contrast.overridden) == (4, 3, 1)
    assert contrast.changes == {f"changed to {CT}": 3, f"added {MRI}": 1}
    text, page = render_text(build_report(engine)), render_html(build_report(engine))
    assert f"    changed to {CT}: 3" in text and f"    added {MRI}: 1" in text
    assert "<h3>Accepted changes</h3>" in page and f"added {MRI}" in page


def test_accepting_a_suggestion_that_was_never_recorded_is_said_so(ward_month):
    contrast = topics_by_code(build_report(ward_month))["ContrastNotIndicated"]
    assert contrast.changes == {SUGGESTION_NOT_RECORDED: 2}


def test_cards_computed_silently_are_not_issued_and_show_as_would_have_fired(engine):
    store = FeedbackStore(engine, clock=lambda: ISSUED)
    store.record_issued(SIGN, [card("shown", "ContrastNotIndicated")])
    quiet = [card(f"quiet-{n}", "ContrastNotIndicated") for n in range(3)]
    store.record_issued(SIGN, quiet, silent=True)
    store.record_issued(SIGN, [card("quiet-mri", "MriBeforeAugmentation")], silent=True)
    assert store.flush(timeout=30)

    report = build_report(engine)

    contrast = topics_by_code(report)["ContrastNotIndicated"]
    assert (contrast.issued, contrast.without_feedback, contrast.would_have_fired) == (1, 1, 3)
    mri = topics_by_code(report)["MriBeforeAugmentation"]
    assert (mri.issued, mri.without_feedback, mri.would_have_fired) == (0, 0, 1)
    text = render_text(report)
    assert "would have fired" in text.splitlines()[1]
    assert text.splitlines()[2].split() == ["ContrastNotIndicated", "1", "0", "0", "1", "3"]
    assert "would have fired: cards computed in silent mode" in text
    page = render_html(report)
    assert "would have fired</th>" in page and '<td class="n">3</td></tr>' in page
