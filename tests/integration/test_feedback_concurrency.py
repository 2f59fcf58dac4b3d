"""Feedback from many clients at once, into several gunicorn workers: nothing lost, no doubles."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import requests
import sqlalchemy as sa

from cds_service.db import feedback_table

from .gunicorn_server import gunicorn

FEEDBACK = "/cds-services/vcf-imaging-order-sign/feedback"


def entry(card: str) -> dict:
    return {
        "feedback": [
            {"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-11-26T10:00:00Z"}
        ]
    }


def test_concurrent_feedback_into_three_workers_is_stored_exactly_once_each(tmp_path):
    database_url = f"sqlite:///{tmp_path / 'feedback.sqlite3'}"
    cards = [str(uuid.uuid4()) for _ in range(40)]
    bodies = [entry(card) for card in cards] * 3  # every entry sent three times

    with gunicorn({"DATABASE_URL": database_url}, workers=3) as base_url:

        def post(body: dict) -> int:
            with requests.Session() as session:  # a fresh connection: spread over workers
                return session.post(base_url + FEEDBACK, json=body, timeout=30).status_code

        with ThreadPoolExecutor(max_workers=12) as pool:
            statuses = list(pool.map(post, bodies))

    assert statuses == [200] * len(bodies)
    engine = sa.create_engine(database_url)
    with engine.connect() as connection:
        stored = [row.card_uuid for row in connection.execute(sa.select(feedback_table))]
    engine.dispose()
    assert sorted(stored) == sorted(cards)
