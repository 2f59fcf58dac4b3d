"""Which topic each issued card had, so that feedback (which names only the card uuid,
CDS Hooks 2.0 §Feedback) can be counted per topic by `cds-feedback-report`; and what each of
its suggestions would change (`suggested_changes.py`), so that an accepted suggestion counts
as an accepted change of the order.

Only the card's uuid, service, topic and indicator are kept, and of each suggestion the order
it changes and the study's name: nothing about the patient.

The rows are governance statistics, so a hook call does not wait for them: it hands them to
the process's `IssuedCardRecorder`, whose one background thread gathers them for a moment and
writes them in one transaction. A graceful stop writes what is still queued (see `close`).
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine

from cds_service.cdshooks.response import Card
from cds_service.db import card_issued_table, insert_new_rows, suggestion_issued_table
from cds_service.feedback.suggested_changes import suggestion_rows

log = logging.getLogger(__name__)

NO_TOPIC = "unspecified"  # a card without source.topic: never ours, kept countable
QUEUE_BOUND = 10_000  # rows waiting; beyond it rows are dropped, the answer comes first
BATCH_SIZE = 500  # rows per transaction
# How long the writer gathers rows after the first before it writes them. A transaction costs
# about as much CPU as a whole hook call (SQLite, WAL, 2 cores: one per call took a call from
# 7.0 to 9.0 ms of worker CPU), so under load rows are written tens at a time. Rows waiting
# are written at a graceful stop; a killed worker loses at most this much.
GATHER_SECONDS = 0.5
IDLE_SECONDS = 10.0  # a writer with nothing to do ends; the next submit starts another
CLOSE_SECONDS = 10.0  # at exit; gunicorn's graceful_timeout (30 s) must leave room for it

Row = dict[str, Any]


@dataclass(frozen=True)
class IssuedCard:
    """One card's `card_issued` row and its `suggestion_issued` rows: queued as one."""

    row: Row
    suggestions: tuple[Row, ...]


def issued_rows(
    service_id: str, cards: Iterable[Card], issued_at: datetime, silent: bool = False
) -> list[IssuedCard]:
    return [
        IssuedCard(
            {
                "card_uuid": card.uuid,
                "service_id": service_id,
                "topic": card.source.topic.code if card.source.topic else NO_TOPIC,
                "indicator": card.indicator,
                "issued_at": issued_at,
                "silent": silent,
            },
            tuple(suggestion_rows(card)),
        )
        for card in cards
    ]


def write_issued(engine: Engine, cards: list[IssuedCard]) -> int:
    """Cards and their suggestions in one transaction; the number of cards new to the table.

    A uuid recorded before is left as it was.
    """
    suggestions = [row for card in cards for row in card.suggestions]
    with engine.begin() as connection:
        written = insert_new_rows(
            connection, card_issued_table, [card.row for card in cards], "card_uuid"
        )
        insert_new_rows(connection, suggestion_issued_table, suggestions, "suggestion_uuid")
    return written


def record_issued_cards(
    engine: Engine,
    service_id: str,
    cards: Iterable[Card],
    issued_at: datetime | None = None,
    *,
    silent: bool = False,
) -> int:
    """Remember the topic of every card of one response now; the number newly recorded.

    `silent`: the cards were computed but not shown (see `FeedbackStore.record_issued`).
    """
    rows = issued_rows(service_id, cards, issued_at or datetime.now(UTC), silent)
    return write_issued(engine, rows)


class IssuedCardRecorder:
    """Records issued cards off the request thread: `submit` only queues the rows.

    The writer thread starts on the first `submit` (so a process that forks before it, like
    gunicorn's master, hands its workers no thread) and ends after IDLE_SECONDS without
    work. It is a daemon: `close`, registered with atexit, writes what is left when the
    interpreter exits normally, which a gunicorn worker does on SIGTERM, SIGINT, SIGQUIT and
    `--max-requests` (the worker leaves its loop, arbiter.py's spawn_worker then calls
    sys.exit). Under the Procfile's gevent workers the thread is a greenlet: the same holds.
    """

    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], datetime] | None = None,
        *,
        queue_bound: int = QUEUE_BOUND,
        batch_size: int = BATCH_SIZE,
        idle_seconds: float = IDLE_SECONDS,
        gather_seconds: float = GATHER_SECONDS,
    ) -> None:
        self._engine = engine
        self._clock = clock or (lambda: datetime.now(UTC))
        self._queue_bound = queue_bound
        self._batch_size = batch_size
        self._idle_seconds = idle_seconds
        self._gather_seconds = gather_seconds
        self._lock = threading.Lock()
        self._rows_waiting = threading.Condition(self._lock)
        self._rows_settled = threading.Condition(self._lock)
        self._queue: deque[IssuedCard] = deque()
        self._queued = 0  # rows ever queued ...
        self._settled = 0  # ... and ever written or given up: flush waits for the difference
        self._writer: threading.Thread | None = None
        self._closed = False
        self._flushes_waiting = 0  # while any, the writer writes at once, without gathering

    def submit(self, service_id: str, cards: Iterable[Card], *, silent: bool = False) -> None:
        """Queue the rows of one response's cards; never waits for the database."""
        rows = issued_rows(service_id, cards, self._clock(), silent)
        queued = self._enqueue(rows)
        if queued is None:
            self._write(rows)  # closed: nothing writes for us any more, so late but kept
        elif queued < len(rows):
            log.warning(
                "issued-card queue full: %d card topics not recorded for %s",
                len(rows) - queued,
                service_id,
            )

    def _enqueue(self, rows: list[IssuedCard]) -> int | None:
        """How many of `rows` found room in the queue; None once closed."""
        with self._lock:
            if self._closed:
                return None
            queued = min(len(rows), max(self._queue_bound - len(self._queue), 0))
            if queued:
                self._queue.extend(rows[:queued])
                self._queued += queued
                self._start_writer()
                if len(self._queue) == queued or len(self._queue) >= self._batch_size:
                    # it was empty (the writer waits for a first row), or a batch is full
                    self._rows_waiting.notify()
            return queued

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every row queued before this call is written (or given up on).

        False if `timeout` seconds passed first.
        """
        with self._lock:
            target = self._queued
            self._flushes_waiting += 1
            self._rows_waiting.notify()
            try:
                return self._rows_settled.wait_for(lambda: self._settled >= target, timeout)
            finally:
                self._flushes_waiting -= 1

    def close(self, timeout: float | None = CLOSE_SECONDS) -> bool:
        """Write what is queued and stop the writer; later submits write on the caller's
        thread. False (and a warning) if rows were still waiting after `timeout` seconds."""
        with self._lock:
            self._closed = True
            writer = self._writer
            self._rows_waiting.notify()
        written = self.flush(timeout)
        if written and writer is not None:
            writer.join(timeout)  # it has nothing left to do: this returns at once
        if not written:
            log.warning("issued-card queue: %d card topics not recorded at close", self._waiting())
        return written

    def _waiting(self) -> int:
        with self._lock:
            return self._queued - self._settled

    def _start_writer(self) -> None:
        # Called with the lock held. After a fork the parent's writer is not alive here.
        if self._writer is not None and self._writer.is_alive():
            return
        self._writer = threading.Thread(
            target=self._write_until_idle, name="issued-card-writer", daemon=True
        )
        self._writer.start()
        _RECORDERS.add(self)

    def _write_until_idle(self) -> None:
        while (batch := self._next_batch()) is not None:
            self._write(batch)
            with self._lock:
                self._settled += len(batch)
                self._rows_settled.notify_all()

    def _next_batch(self) -> list[IssuedCard] | None:
        """Wait for the first row, gather more until a batch is full or GATHER_SECONDS have
        passed (at once when closing or flushing), then take up to a batch.

        None when idle or closed with nothing queued: the thread then ends.
        """
        with self._lock:
            if not self._queue and not self._closed:
                self._rows_waiting.wait(self._idle_seconds)
            if not self._queue:
                self._writer = None
                return None
            self._rows_waiting.wait_for(self._write_now, self._gather_seconds)
            size = min(self._batch_size, len(self._queue))
            return [self._queue.popleft() for _ in range(size)]

    def _write_now(self) -> bool:
        return len(self._queue) >= self._batch_size or self._closed or self._flushes_waiting > 0

    def _write(self, rows: list[IssuedCard]) -> None:
        try:
            write_issued(self._engine, rows)
        # SQLAlchemyError in practice; whatever it is, the writer must outlive one batch.
        except Exception as error:
            services = ", ".join(sorted({card.row["service_id"] for card in rows}))
            log.warning(
                "card topics not recorded for %s: %s (%d rows dropped)",
                services,
                type(error).__name__,
                len(rows),
            )


# Every recorder that ever started a writer, until it is garbage: closed at interpreter
# exit. Registered at import, after logging's own handler, so it runs before logging's.
_RECORDERS: weakref.WeakSet[IssuedCardRecorder] = weakref.WeakSet()


def _close_all() -> None:
    for recorder in list(_RECORDERS):
        recorder.close()


atexit.register(_close_all)
