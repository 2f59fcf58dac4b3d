"""Issued-card batches on each back end: one multi-row INSERT per batch keeps one row per
card uuid, whether the uuid repeats inside the batch or was recorded before."""

from __future__ import annotations

import threading

import pytest

from cds_service.db import create_database_engine
from cds_service.feedback.issued_cards import IssuedCardRecorder, record_issued_cards
from tests.unit.test_issued_cards import SIGN, card, recorded

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(each_backend_url: str):
    engine = create_database_engine(each_backend_url)
    yield engine
    engine.dispose()


def test_a_repeat_inside_one_call_and_a_repeat_of_an_earlier_call_count_once(engine):
    assert record_issued_cards(engine, SIGN, [card("a"), card("b"), card("a")]) == 2
    assert record_issued_cards(engine, SIGN, [card("b"), card("c"), card("c")]) == 1
    assert recorded(engine) == ["a", "b", "c"]


def test_threads_submitting_repeats_at_once_leave_one_row_per_card(engine):
    recorder = IssuedCardRecorder(engine, batch_size=50)
    cards = [card(f"c{n}") for n in range(200)]

    def answer(offset: int) -> None:  # every thread sends every card, from its own offset
        for n in range(len(cards)):
            recorder.submit(SIGN, [cards[(n + offset) % len(cards)]])

    threads = [threading.Thread(target=answer, args=(17 * t,)) for t in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert recorder.close()
    assert recorded(engine) == sorted(c.uuid for c in cards)
