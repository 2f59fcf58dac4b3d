"""Feedback calls and the rows they leave, for the tests of the feedback store and its limits."""

from __future__ import annotations

import sqlalchemy as sa

FEEDBACK = "/cds-services/vcf-imaging-order-sign/feedback"


def overridden_entry(card: str) -> dict:
    """One feedback entry overriding `card`, with a reason and a comment (rows in both
    feedback tables)."""
    return {
        "card": card,
        "outcome": "overridden",
        "outcomeTimestamp": "2026-11-26T10:00:00Z",
        "overrideReason": {"reason": {"code": "imaged-elsewhere"}, "userComment": "free text"},
    }


def row_counts(engine: sa.Engine, *tables: sa.Table) -> tuple[int, ...]:
    with engine.connect() as connection:
        return tuple(
            connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for table in tables
        )


def count_rows(database_url: str, table: sa.Table) -> int:
    engine = sa.create_engine(database_url)
    try:
        (count,) = row_counts(engine, table)
    finally:
        engine.dispose()
    return count
