"""What `cds-feedback-report` reads from the database, as plain rows.

Free-text override comments are never selected: only whether there was one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cds_service.db import (
    card_issued_table,
    feedback_override_reason_table,
    feedback_table,
    suggestion_issued_table,
)

# Every table the report reads; a database without one of them is not (yet) the service's.
TABLES = (
    feedback_table,
    card_issued_table,
    feedback_override_reason_table,
    suggestion_issued_table,
)


def cards_per_topic(connection: Connection, since: datetime | None) -> list[sa.Row]:
    """(topic, silent, count): cards issued, and cards computed silently (not shown)."""
    cards = card_issued_table.c
    query = sa.select(cards.topic, cards.silent, sa.func.count()).group_by(
        cards.topic, cards.silent
    )
    if since is not None:
        query = query.where(cards.issued_at >= since)
    return list(connection.execute(query))


def last_answers(connection: Connection, since: datetime | None) -> list[sa.Row]:
    """The feedback entry received last for each card, with the card's topic (None when the
    card was never recorded). Its first override reason, as the feedback row keeps it, has
    the names of a `reasons_per_entry` row: it stands in for an entry whose reasons were
    never written apart (stored by the previous release while the schema was upgraded)."""
    feedback = feedback_table.c
    joined = feedback_table.outerjoin(
        card_issued_table, feedback.card_uuid == card_issued_table.c.card_uuid
    )
    query = (
        sa.select(
            feedback.card_uuid,
            feedback.entry_hash,
            feedback.outcome,
            feedback.accepted_suggestions,
            feedback.override_reason_system.label("system"),
            feedback.override_reason_code.label("code"),
            sa.null().label("display"),
            feedback.override_user_comment.is_not(None).label("has_comment"),
            card_issued_table.c.topic,
        )
        .select_from(joined)
        .order_by(feedback.id)
    )
    return _last_per_card(connection.execute(_received_since(query, since)))


def reasons_per_entry(connection: Connection, since: datetime | None) -> dict[str, list[sa.Row]]:
    """Each entry's override reasons in the order sent: system, code, display, has_comment."""
    reasons = feedback_override_reason_table.c
    query = (
        sa.select(
            reasons.entry_hash,
            reasons.system,
            reasons.code,
            reasons.display,
            reasons.user_comment.is_not(None).label("has_comment"),
        )
        .join_from(
            feedback_override_reason_table,
            feedback_table,
            reasons.entry_hash == feedback_table.c.entry_hash,
        )
        .order_by(reasons.entry_hash, reasons.position)
    )
    found: dict[str, list[sa.Row]] = {}
    for row in connection.execute(_received_since(query, since)):
        found.setdefault(row.entry_hash, []).append(row)
    return found


def suggestions_of_accepted_cards(
    connection: Connection, since: datetime | None
) -> dict[str, sa.Row]:
    """By suggestion uuid: what each suggestion of a card with an accepted answer changes."""
    suggestions, feedback = suggestion_issued_table.c, feedback_table.c
    accepted = _received_since(
        sa.select(feedback.card_uuid).where(feedback.outcome == "accepted"), since
    )
    query = sa.select(suggestions.suggestion_uuid, suggestions.change, suggestions.study).where(
        suggestions.card_uuid.in_(accepted)
    )
    return {row.suggestion_uuid: row for row in connection.execute(query)}


def _received_since(query: sa.Select, since: datetime | None) -> sa.Select:
    return query if since is None else query.where(feedback_table.c.received_at >= since)


def _last_per_card(rows: Iterable[sa.Row]) -> list[sa.Row]:
    last: dict[str, sa.Row] = {}
    for row in rows:  # in the order received
        last[row.card_uuid] = row
    return list(last.values())
