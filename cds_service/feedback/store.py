"""Durable, idempotent storage of card feedback (CDS Hooks 2.0 §Feedback)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from cds_service.cdshooks.feedback import OverrideReason, override_reasons
from cds_service.cdshooks.response import Card
from cds_service.db import feedback_override_reason_table, feedback_table, insert_new_keys
from cds_service.feedback.issued_cards import IssuedCardRecorder

_NO_REASON = OverrideReason(None, None, None, None)


@dataclass(frozen=True)
class StoredFeedback:
    received: int
    newly_stored: int


class FeedbackNotStored(Exception):
    """The database failed while storing a batch: none of its entries was stored."""

    def __init__(self, received: int, cause: Exception) -> None:
        super().__init__(f"{received} feedback entries not stored: {type(cause).__name__}")
        self.received = received
        self.cause_name = type(cause).__name__


class FeedbackStore:
    """Writes each feedback entry once: a repeated identical entry is recognised by its hash."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] | None = None) -> None:
        self._engine = engine
        self._clock = clock or (lambda: datetime.now(UTC))
        self._issued = IssuedCardRecorder(engine, self._clock)

    def store(self, service_id: str, entries: Iterable[dict[str, Any]]) -> StoredFeedback:
        """Every entry of one call and its reasons, all in one transaction: if the database
        fails, none is stored (FeedbackNotStored) and the client can send the call again.
        Entries stored before (by an earlier call, or earlier in this one) are recognised."""
        entries = list(entries)
        new_entries = self._new_entries(service_id, entries)
        try:
            with self._engine.begin() as connection:
                stored = insert_new_keys(
                    connection, feedback_table, [row for row, _ in new_entries], "entry_hash"
                )
                reasons = [
                    reason
                    for row, entry_reasons in new_entries
                    if row["entry_hash"] in stored
                    for reason in reason_rows(row["entry_hash"], entry_reasons)
                ]
                if reasons:
                    connection.execute(feedback_override_reason_table.insert(), reasons)
        except SQLAlchemyError as error:
            raise FeedbackNotStored(len(entries), error) from error
        return StoredFeedback(received=len(entries), newly_stored=len(stored))

    def _new_entries(
        self, service_id: str, entries: list[dict[str, Any]]
    ) -> list[tuple[dict[str, Any], tuple[OverrideReason, ...]]]:
        """Each distinct entry's row with its reasons, in the order of their hashes: two calls
        sharing entries then insert them in one order, so that on PostgreSQL neither waits
        for a row the other holds while holding one it wants (a deadlock, answered 500)."""
        rows: dict[str, tuple[dict[str, Any], tuple[OverrideReason, ...]]] = {}
        for entry in entries:
            reasons = override_reasons(entry)
            row = self._row(service_id, entry, reasons)
            rows.setdefault(row["entry_hash"], (row, reasons))
        return [rows[entry_hash] for entry_hash in sorted(rows)]

    def record_issued(self, service_id: str, cards: Iterable[Card], silent: bool = False) -> None:
        """Remember each card's topic (feedback names only the card uuid) and what its
        suggestions would change, a moment later: the rows are queued for a background
        writer, never written on the caller's thread.

        `silent`: the cards were computed but not shown to the clinician (a site running the
        service silently before go-live). They do not count as issued; the report counts
        them per topic as cards that would have fired.
        """
        self._issued.submit(service_id, cards, silent=silent)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every card recorded before this call is in the database (or given up
        on); False if `timeout` seconds passed first."""
        return self._issued.flush(timeout)

    def _row(
        self, service_id: str, entry: dict[str, Any], reasons: tuple[OverrideReason, ...]
    ) -> dict[str, Any]:
        # The columns keep the first reason, as before other shapes were read.
        first = reasons[0] if reasons else _NO_REASON
        return {
            "entry_hash": entry_hash(service_id, entry),
            "service_id": service_id,
            "card_uuid": entry["card"],
            "outcome": entry["outcome"],
            "accepted_suggestions": [s["id"] for s in entry.get("acceptedSuggestions", [])] or None,
            "override_reason_system": first.system,
            "override_reason_code": first.code,
            "override_user_comment": first.user_comment,
            "outcome_timestamp": entry["outcomeTimestamp"],
            "received_at": self._clock(),
        }


def reason_rows(entry_hash: str, reasons: Iterable[OverrideReason]) -> list[dict[str, Any]]:
    return [
        {
            "entry_hash": entry_hash,
            "position": position,
            "system": reason.system,
            "code": reason.code,
            "display": reason.display,
            "user_comment": reason.user_comment,
        }
        for position, reason in enumerate(reasons)
    ]


def entry_hash(service_id: str, entry: dict[str, Any]) -> str:
    canonical = json.dumps([service_id, entry], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
