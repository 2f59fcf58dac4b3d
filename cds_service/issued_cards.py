"""Which topic each issued card had, so that feedback (which names only the card uuid,
CDS Hooks 2.0 §Feedback) can be counted per topic by `cds-feedback-report`.

Only the card's uuid, service, topic and indicator are kept: nothing about the patient.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from cds_service.cdshooks.response import Card
from cds_service.db import card_issued_table, insert_unless_present

NO_TOPIC = "unspecified"  # a card without source.topic: never ours, kept countable


def record_issued_cards(
    engine: Engine,
    service_id: str,
    cards: Iterable[Card],
    issued_at: datetime | None = None,
) -> int:
    """Remember the topic of every card of one response; the number newly recorded.

    Call it once the response is built; a uuid recorded before is left as it was.
    """
    when = issued_at or datetime.now(UTC)
    recorded = 0
    for card in cards:
        row = {
            "card_uuid": card.uuid,
            "service_id": service_id,
            "topic": card.source.topic.code if card.source.topic else NO_TOPIC,
            "indicator": card.indicator,
            "issued_at": when,
        }
        recorded += insert_unless_present(engine, card_issued_table, row, "card_uuid")
    return recorded
