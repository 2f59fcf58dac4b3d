"""Issued-card rows written off the request thread: nothing lost, nothing doubled, and a full
queue or a failing database never holds up (or costs) the clinician's answer."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from cds_service.cdshooks.response import Card, Coding, Source
from cds_service.db import card_issued_table, create_database_engine
from cds_service.feedback.issued_cards import IssuedCardRecorder, record_issued_cards

REPO_ROOT = Path(__file__).resolve().parents[2]
SIGN = "vcf-imaging-order-sign"
TOPICS = "https://example.org/vcf-imaging-cds/card-topic"


def card(uuid: str, topic: str = "ContrastNotIndicated") -> Card:
    return Card(
        uuid, "Contrast is not indicated", "warning", Source("ACR", topic=Coding(TOPICS, topic))
    )


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'service.sqlite3'}"


@pytest.fixture
def engine(database_url: str):
    engine = create_database_engine(database_url)
    yield engine
    engine.dispose()


def recorded(engine) -> list[str]:
    with engine.connect() as connection:
        return sorted(connection.execute(sa.select(card_issued_table.c.card_uuid)).scalars())


class HeldWriter:
    """Holds the recorder's writer inside its INSERT until released: its queue then fills."""

    def __init__(self, engine) -> None:
        self.writing = threading.Event()
        self.release = threading.Event()
        sa.event.listen(engine, "before_cursor_execute", self._hold)

    def _hold(self, _connection, _cursor, statement: str, *_rest) -> None:
        if statement.startswith("INSERT INTO card_issued"):
            self.writing.set()
            self.release.wait(timeout=30)


def test_many_request_threads_at_once_then_close_leave_every_card_exactly_once(engine):
    recorder = IssuedCardRecorder(engine, batch_size=7)
    expected = [
        f"t{thread}-c{call}-{n}" for thread in range(12) for call in range(40) for n in (1, 2)
    ]

    def answer_forty_calls(thread: int) -> None:
        for call in range(40):
            recorder.submit(SIGN, [card(f"t{thread}-c{call}-1"), card(f"t{thread}-c{call}-2")])

    threads = [threading.Thread(target=answer_forty_calls, args=(t,)) for t in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert recorder.close()
    assert recorded(engine) == sorted(expected)


def test_a_card_repeated_in_one_batch_and_across_batches_is_one_row_with_its_first_time(engine):
    first, later = datetime(2026, 3, 2, 9, 30, tzinfo=UTC), datetime(2026, 3, 2, 10, tzinfo=UTC)
    times = iter([first, later])
    recorder = IssuedCardRecorder(engine, clock=lambda: next(times))

    recorder.submit(SIGN, [card("c1"), card("c1")])  # queued together: one batch
    assert recorder.flush(timeout=30)
    recorder.submit(SIGN, [card("c1")])
    assert recorder.close()

    with engine.connect() as connection:
        rows = connection.execute(sa.select(card_issued_table)).all()
    assert [(row.card_uuid, row.issued_at.replace(tzinfo=UTC)) for row in rows] == [("c1", first)]


def test_recording_at_once_counts_only_the_cards_new_to_the_table(engine):
    assert record_issued_cards(engine, SIGN, [card("a"), card("a"), card("b")]) == 2
    assert record_issued_cards(engine, SIGN, [card("b"), card("c")]) == 1
    assert recorded(engine) == ["a", "b", "c"]


def inserts_counted(engine) -> list[str]:
    """One item per INSERT INTO card_issued the engine runs: a transaction each."""
    inserts: list[str] = []

    def count(_connection, _cursor, statement: str, *_rest) -> None:
        if statement.startswith("INSERT INTO card_issued"):
            inserts.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    return inserts


def test_cards_of_calls_close_together_are_gathered_into_one_transaction(engine):
    inserts = inserts_counted(engine)
    recorder = IssuedCardRecorder(engine, gather_seconds=30)
    recorder.submit(SIGN, [card("first-call")])
    time.sleep(0.2)  # the writer has the first row and gathers
    recorder.submit(SIGN, [card("second-call-1"), card("second-call-2")])
    recorder.submit(SIGN, [card("third-call")])
    assert inserts == []

    assert recorder.flush(timeout=30)  # a flush does not wait out the gathering
    assert len(inserts) == 1
    assert recorded(engine) == ["first-call", "second-call-1", "second-call-2", "third-call"]


def test_gathered_cards_are_written_without_a_flush_once_the_moment_has_passed(engine):
    recorder = IssuedCardRecorder(engine, gather_seconds=0.1)
    recorder.submit(SIGN, [card("unflushed")])
    deadline = time.monotonic() + 30
    while not recorded(engine) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert recorded(engine) == ["unflushed"]


def test_a_full_batch_is_written_without_waiting_out_the_gathering(engine):
    inserts = inserts_counted(engine)
    recorder = IssuedCardRecorder(engine, batch_size=3, gather_seconds=30)
    recorder.submit(SIGN, [card("a"), card("b"), card("c"), card("d")])
    deadline = time.monotonic() + 30
    while not recorded(engine) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert recorded(engine) == ["a", "b", "c"]
    assert len(inserts) == 1
    assert recorder.close()
    assert recorded(engine) == ["a", "b", "c", "d"]


def test_a_full_queue_drops_the_rows_with_one_warning_instead_of_waiting(engine, caplog):
    held = HeldWriter(engine)
    recorder = IssuedCardRecorder(engine, queue_bound=2)
    recorder.submit(SIGN, [card("written")])
    assert held.writing.wait(timeout=30)  # the writer took it and is stuck in the database
    recorder.submit(SIGN, [card("queued-1"), card("queued-2")])

    with caplog.at_level(logging.WARNING, logger="cds_service"):
        recorder.submit(SIGN, [card("dropped-1"), card("dropped-2"), card("dropped-3")])
    held.release.set()

    (warning,) = caplog.records
    assert "3 card topics not recorded" in warning.getMessage()
    assert SIGN in warning.getMessage()
    assert "dropped" not in warning.getMessage()
    assert recorder.close()
    assert recorded(engine) == ["queued-1", "queued-2", "written"]


def test_a_failing_write_is_warned_about_without_card_uuids_and_the_writer_goes_on(engine, caplog):
    recorder = IssuedCardRecorder(engine)
    with engine.begin() as connection:
        card_issued_table.drop(connection)
    with caplog.at_level(logging.WARNING, logger="cds_service"):
        recorder.submit(SIGN, [card("lost-with-the-table")])
        assert recorder.flush(timeout=30)

    (warning,) = caplog.records
    assert SIGN in warning.getMessage()
    assert "OperationalError" in warning.getMessage()
    assert "lost-with-the-table" not in warning.getMessage()

    with engine.begin() as connection:
        card_issued_table.create(connection)
    recorder.submit(SIGN, [card("after-the-repair")])
    assert recorder.close()
    assert recorded(engine) == ["after-the-repair"]


def test_an_idle_writer_ends_and_the_next_card_starts_another(engine):
    recorder = IssuedCardRecorder(engine, idle_seconds=0)
    recorder.submit(SIGN, [card("before-idle")])
    assert recorder.flush(timeout=30)
    recorder.submit(SIGN, [card("after-idle")])
    assert recorder.flush(timeout=30)
    assert recorded(engine) == ["after-idle", "before-idle"]


def test_after_close_a_card_is_written_by_the_caller_rather_than_lost(engine):
    recorder = IssuedCardRecorder(engine)
    assert recorder.close()
    recorder.submit(SIGN, [card("late")])
    assert recorded(engine) == ["late"]


def test_flush_with_nothing_submitted_returns_at_once(engine):
    assert IssuedCardRecorder(engine).flush(timeout=0)


# The writer is held in its first INSERT while more rows queue behind it; a handler registered
# after the recorder's (so run before it, atexit is last-in first-out) lets it go only once the
# interpreter is exiting. Every row is still written: the recorder's own handler waited.
_EXITING_SCRIPT = """
import atexit, sys, threading
import sqlalchemy as sa
from cds_service.cdshooks.response import Card, Source
from cds_service.db import create_database_engine
from cds_service.feedback.issued_cards import IssuedCardRecorder

engine = create_database_engine(sys.argv[1])
writing, release = threading.Event(), threading.Event()

def hold(_connection, _cursor, statement, *_rest):
    if statement.startswith("INSERT INTO card_issued"):
        writing.set()
        release.wait(30)

sa.event.listen(engine, "before_cursor_execute", hold)
recorder = IssuedCardRecorder(engine)
recorder.submit("svc", [Card(f"first-{n}", "s", "info", Source("ACR")) for n in range(3)])
assert writing.wait(30)
recorder.submit("svc", [Card(f"queued-{n}", "s", "info", Source("ACR")) for n in range(3)])
atexit.register(release.set)
"""


def test_what_is_queued_when_the_interpreter_exits_is_still_written(engine, database_url):
    subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_EXITING_SCRIPT), database_url],
        cwd=REPO_ROOT,
        check=True,
        timeout=120,
    )
    assert recorded(engine) == sorted(
        [f"first-{n}" for n in range(3)] + [f"queued-{n}" for n in range(3)]
    )
