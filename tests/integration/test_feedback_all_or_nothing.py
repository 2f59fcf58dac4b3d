"""A feedback batch is stored all-or-nothing on SQLite and on PostgreSQL (issue 19 §5).

Before, each entry had its own transaction: a batch the database failed on midway answered
500 and kept the entries written before the failing one. The fault here is a real one, raised
by the database itself: a trigger refuses the rows of one card (as a full disk or a lost
connection would, midway through a batch).
"""

from __future__ import annotations

import pytest
import requests
import sqlalchemy as sa

from cds_service.db import feedback_override_reason_table, feedback_table

from ..feedback_support import FEEDBACK, overridden_entry, row_counts
from .gunicorn_server import gunicorn

pytestmark = pytest.mark.integration

POISON = "refused-by-the-database"


# A trigger per back end that fails the insert of the poisoned card's row (in `feedback`), or
# of its reasons (in `feedback_override_reason`, written after every feedback row).
_SQLITE_TRIGGER = """
CREATE TRIGGER refuse_poison BEFORE INSERT ON {table} FOR EACH ROW
WHEN NEW.{column} = '{value}' BEGIN SELECT RAISE(ABORT, 'refused'); END
"""
_POSTGRES_FUNCTION = """
CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF NEW.{column} = '{value}' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$
"""
_POSTGRES_TRIGGER = """
CREATE TRIGGER refuse_poison BEFORE INSERT ON {table}
FOR EACH ROW EXECUTE FUNCTION refuse_poison()
"""


def poison(engine: sa.Engine, table: sa.Table) -> None:
    if table is feedback_table:
        column, value = "card_uuid", POISON
    else:
        column, value = "user_comment", "poisoned comment"
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            statements = [_SQLITE_TRIGGER]
        else:
            statements = [_POSTGRES_FUNCTION, _POSTGRES_TRIGGER]
        for statement in statements:
            sql = statement.format(table=table.name, column=column, value=value)
            connection.execute(sa.text(sql))


def cure(engine: sa.Engine, table: sa.Table) -> None:
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.execute(sa.text("DROP TRIGGER refuse_poison"))
        else:
            connection.execute(sa.text(f"DROP TRIGGER refuse_poison ON {table.name}"))
            connection.execute(sa.text("DROP FUNCTION refuse_poison"))


@pytest.mark.parametrize("failing", [feedback_table, feedback_override_reason_table])
def test_a_batch_the_database_fails_on_stores_none_of_its_entries_and_a_resend_stores_all(
    each_backend_url, failing
):
    bad = overridden_entry(POISON)
    bad["overrideReason"]["userComment"] = "poisoned comment"
    # "first" twice: one batch, one transaction, still stored once with its reason.
    batch = {
        "feedback": [
            overridden_entry("first"),
            bad,
            overridden_entry("last"),
            overridden_entry("first"),
        ]
    }
    engine = sa.create_engine(each_backend_url)
    try:
        with gunicorn({"DATABASE_URL": each_backend_url}, workers=1) as base_url:
            poison(engine, failing)

            refused = requests.post(base_url + FEEDBACK, json=batch, timeout=30)

            assert refused.status_code == 503
            diagnostics = refused.json()["issue"][0]["diagnostics"]
            assert "none of its 4 entries was stored" in diagnostics
            assert row_counts(engine, feedback_table, feedback_override_reason_table) == (0, 0)

            cure(engine, failing)
            resent = requests.post(base_url + FEEDBACK, json=batch, timeout=30)
            assert resent.status_code == 200
            assert resent.json() == {"received": 4, "stored": 3}
            assert row_counts(engine, feedback_table, feedback_override_reason_table) == (3, 3)
    finally:
        engine.dispose()
