"""FeedbackStore: an entry and all of its override reasons are stored together, once."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from cds_service.db import create_database_engine, feedback_override_reason_table, feedback_table
from cds_service.feedback.store import FeedbackNotStored, FeedbackStore

from ..conftest import load_feedback_sample
from ..feedback_support import row_counts

SIGN = "vcf-imaging-order-sign"


@pytest.fixture
def engine(tmp_path: Path):
    engine = create_database_engine(f"sqlite:///{tmp_path / 'feedback.sqlite3'}")
    yield engine
    engine.dispose()


def test_an_entry_whose_reasons_cannot_be_written_is_not_kept_and_a_retry_stores_both(engine):
    entries = load_feedback_sample("epic-overridden-extension.json")["feedback"]
    store = FeedbackStore(engine)
    with engine.begin() as connection:
        feedback_override_reason_table.drop(connection)

    with pytest.raises(FeedbackNotStored):
        store.store(SIGN, entries)
    with engine.connect() as connection:
        assert connection.execute(sa.select(feedback_table)).all() == []

    with engine.begin() as connection:
        feedback_override_reason_table.create(connection)
    assert store.store(SIGN, entries).newly_stored == 1
    assert store.store(SIGN, entries).newly_stored == 0
    assert row_counts(engine, feedback_table, feedback_override_reason_table) == (1, 1)
