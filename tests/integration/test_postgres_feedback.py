"""Feedback on PostgreSQL: several gunicorn workers writing at once lose nothing and store a
repeated entry once, with each of its override reasons once; card topics, suggested changes
and the feedback report work there as on SQLite."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import requests
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
from cds_service.db import create_database_engine, feedback_override_reason_table, feedback_table
from cds_service.feedback.issued_cards import record_issued_cards
from cds_service.feedback.report import build_report
from cds_service.feedback.store import FeedbackStore

from .gunicorn_server import gunicorn
from .postgres_server import fresh_database

pytestmark = pytest.mark.integration

FEEDBACK = "/cds-services/vcf-imaging-order-sign/feedback"


@pytest.fixture
def database_url(server_url: str) -> Iterator[str]:
    with fresh_database(server_url) as url:
        yield url


def entry(card: str, outcome: str = "overridden") -> dict:
    value = {"card": card, "outcome": outcome, "outcomeTimestamp": "2026-11-26T10:00:00Z"}
    if outcome == "accepted":
        value["acceptedSuggestions"] = [{"id": f"{card}-mri"}]
    return value


def epic_entry(card: str) -> dict:
    """Overridden with two reasons, as Epic sends them (tests/data/feedback/)."""
    return {
        **entry(card),
        "overrideReasons": [
            {"extension": {EPIC_REASON_CATEGORY: "45"}, "userComment": "free text"},
            {"reason": {"system": "https://example.org/reason", "code": "imaged-elsewhere"}},
        ],
    }


def stored_cards(database_url: str) -> list[str]:
    engine = sa.create_engine(database_url)
    with engine.connect() as connection:
        cards = connection.execute(sa.select(feedback_table.c.card_uuid)).scalars().all()
    engine.dispose()
    return sorted(cards)


def stored_reason_codes(database_url: str) -> list[tuple[str, int, str]]:
    reasons, feedback = feedback_override_reason_table.c, feedback_table.c
    query = sa.select(feedback.card_uuid, reasons.position, reasons.code).join_from(
        feedback_table, feedback_override_reason_table, feedback.entry_hash == reasons.entry_hash
    )
    engine = sa.create_engine(database_url)
    with engine.connect() as connection:
        rows = sorted(tuple(row) for row in connection.execute(query))
    engine.dispose()
    return rows


def test_three_workers_under_concurrent_feedback_lose_nothing_and_store_repeats_once(
    database_url,
):
    cards = [str(uuid.uuid4()) for _ in range(60)]
    # Each entry three times, alone and inside two-entry bodies, in an interleaved order.
    bodies = [{"feedback": [epic_entry(card)]} for card in cards] * 2
    bodies += [
        {"feedback": [epic_entry(a), epic_entry(b)]}
        for a, b in zip(cards[::2], cards[1::2], strict=True)
    ]

    with gunicorn({"DATABASE_URL": database_url}, workers=3) as base_url:

        def post(body: dict) -> dict:
            with requests.Session() as session:  # a fresh connection: spread over workers
                response = session.post(base_url + FEEDBACK, json=body, timeout=30)
                assert response.status_code == 200, response.text
                return response.json()

        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(post, bodies))
        # PostgreSQL text cannot hold NUL: refused at the door, never a 500 from the driver.
        nul = '{"feedback": [{"card": "a\\u0000b", "outcome": "overridden", '
        nul += '"outcomeTimestamp": "2026-11-26T10:00:00Z"}]}'
        refused = requests.post(
            base_url + FEEDBACK, data=nul, headers={"Content-Type": "application/json"}, timeout=30
        )

    assert refused.status_code == 400
    assert stored_cards(database_url) == sorted(cards)
    assert stored_reason_codes(database_url) == sorted(
        (card, position, code)
        for card in cards
        for position, code in enumerate(["45", "imaged-elsewhere"])
    )
    assert sum(answer["stored"] for answer in answers) == len(cards)
    assert sum(answer["received"] for answer in answers) == 3 * len(cards)


def test_card_topics_and_the_report_on_postgresql(database_url):
    engine = create_database_engine(database_url)
    topics = "https://example.org/card-topic"
    mri = {"resourceType": "ServiceRequest", "id": "draft-1", "code": {"text": "MRI L-spine"}}
    suggestion = Suggestion("MRI", "c0-mri", (Action(ActionType.UPDATE, "Change", mri),))
    cards = [
        Card(
            f"c{i}",
            "Contrast not indicated",
            "warning",
            Source("ACR", topic=Coding(topics, t)),
            suggestions=(suggestion,) if i == 0 else (),
            selection_behavior=SelectionBehavior.AT_MOST_ONE if i == 0 else None,
        )
        for i, t in enumerate(["ContrastNotIndicated"] * 3 + ["UsuallyAppropriate"])
    ]
    issued = datetime(2026, 11, 20, 9, tzinfo=UTC)
    assert record_issued_cards(engine, "vcf-imaging-order-sign", cards, issued) == 4
    assert record_issued_cards(engine, "vcf-imaging-order-sign", cards[:1], issued) == 0
    silent = Card("quiet", "Contrast not indicated", "warning", cards[1].source)
    assert record_issued_cards(engine, "vcf-imaging-order-sign", [silent], issued, silent=True)
    received = datetime(2026, 11, 20, 9, 5, tzinfo=UTC)
    FeedbackStore(engine, clock=lambda: received).store(
        "vcf-imaging-order-sign", [entry("c0", "accepted"), epic_entry("c1"), entry("c3")]
    )

    report = build_report(engine, since=datetime(2026, 11, 1, tzinfo=UTC))
    later = build_report(engine, since=datetime(2026, 12, 1, tzinfo=UTC))
    engine.dispose()

    counts = {t.topic: (t.issued, t.accepted, t.overridden) for t in report.topics}
    assert counts == {"ContrastNotIndicated": (3, 1, 1), "UsuallyAppropriate": (1, 0, 1)}
    assert {t.topic: t.would_have_fired for t in report.topics} == {
        "ContrastNotIndicated": 1,
        "UsuallyAppropriate": 0,
    }
    assert {t.topic: dict(t.changes) for t in report.topics} == {
        "ContrastNotIndicated": {"changed to MRI L-spine": 1},
        "UsuallyAppropriate": {},
    }
    reasons = {t.topic: dict(t.reasons) for t in report.topics}
    assert reasons == {
        "ContrastNotIndicated": {"45": 1, "imaged-elsewhere": 1},
        "UsuallyAppropriate": {"no reason given": 1},
    }
    assert later.topics == ()
