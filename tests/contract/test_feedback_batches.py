"""A feedback call is bounded and stored all-or-nothing (issue 19 §5): more entries than
CDS_MAX_FEEDBACK_ENTRIES get 413 with nothing stored; a batch the database fails on leaves none
of its entries behind (503), so sending it again stores each entry once."""

from __future__ import annotations

import pytest

from cds_service import create_app
from cds_service.db import feedback_table
from cds_service.settings import Settings

from ..feedback_support import FEEDBACK, count_rows, overridden_entry


@pytest.fixture
def capped_client(database_url):
    settings = Settings.from_environ(
        {"DATABASE_URL": database_url, "CDS_MAX_FEEDBACK_ENTRIES": "3"}
    )
    return create_app(settings).test_client()


def test_more_entries_than_the_cap_get_413_naming_the_cap_and_nothing_is_stored_as_many_are(
    capped_client, database_url
):
    response = capped_client.post(
        FEEDBACK, json={"feedback": [overridden_entry(f"c{n}") for n in range(4)]}
    )

    assert response.status_code == 413
    issue = response.get_json()["issue"][0]
    assert issue["code"] == "too-costly"
    assert issue["expression"] == ["feedback"]
    assert (
        "4 feedback entries in one call; at most 3 (CDS_MAX_FEEDBACK_ENTRIES)"
        in (issue["diagnostics"])
    )
    assert count_rows(database_url, feedback_table) == 0
    accepted = capped_client.post(
        FEEDBACK, json={"feedback": [overridden_entry(f"c{n}") for n in range(3)]}
    )
    assert accepted.status_code == 200 and accepted.get_json() == {"received": 3, "stored": 3}
