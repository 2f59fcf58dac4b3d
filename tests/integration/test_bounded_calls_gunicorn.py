"""Oversized calls against the service as deployed (the Procfile's gunicorn, gevent workers):
each gets its documented answer, fast enough, from the worker that took it (issue 19 §4, §5).

Issue 19 measured, before the caps: an order-sign with 800 orders and 15,000 conditions gave a
520 MB answer; 20,000 orders dropped 10,000 issued-card rows and wrote a 1.4 MB audit line;
31,000 feedback entries held a worker for 14 s.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from cds_service.db import card_issued_table, feedback_table

from ..feedback_support import FEEDBACK, count_rows
from ..large_calls import SIGN, order_sign
from .gunicorn_server import gunicorn

pytestmark = pytest.mark.integration

MAX_DRAFT_ORDERS = 20  # the default of CDS_MAX_DRAFT_ORDERS
# docs/integration.md, "Bounded answers": per evaluated order at most 12 KB of card text, and
# each evaluated draft back as sent at most 5 times (its rating twice, a suggestion thrice).
CARD_TEXT_BOUND = 12 * 1024
DRAFT_COPIES = 5


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(base URL, database URL) of a gunicorn with 2 workers on a SQLite file; its request
    limit raised for calls of 12 MB, its deadline for reading them on a busy machine."""
    database_url = f"sqlite:///{tmp_path / 'service.sqlite3'}"
    env = {
        "DATABASE_URL": database_url,
        "CDS_MAX_REQUEST_BYTES": str(32 * 1024 * 1024),
        "CDS_HOOK_DEADLINE": "30",
    }
    with gunicorn(env, workers=2) as base_url:
        yield base_url, database_url


def server_pids(base_url: str) -> set[int]:
    """The gunicorn master and workers serving `base_url` (their command line binds its
    port): a worker killed and replaced shows as a new pid."""
    bind = f"127.0.0.1:{base_url.rsplit(':', 1)[1]}".encode()
    pids = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if bind in cmdline.read_bytes():
                pids.add(int(cmdline.parent.name))
        except OSError:
            continue  # the process ended while we looked
    return pids


def post(url: str, body: dict) -> tuple[requests.Response, float]:
    data = json.dumps(body).encode()
    started = time.monotonic()
    response = requests.post(
        url, data=data, headers={"Content-Type": "application/json"}, timeout=60
    )
    return response, time.monotonic() - started


def test_800_orders_and_15000_conditions_get_a_bounded_answer_from_a_live_worker(service):
    base_url, _ = service
    pids = server_pids(base_url)
    call = order_sign(800, fractures=15_000, cancer=True)

    response, seconds = post(base_url + SIGN, call)

    assert response.status_code == 200, response.text[:500]
    body = response.json()
    first, *advice = body["cards"]
    assert first["summary"].startswith("Orders not checked: 780 after the first 20")
    assert len(advice) == MAX_DRAFT_ORDERS
    assert all("- and 14,993 more in the record" in card["detail"] for card in advice)
    drafts = call["context"]["draftOrders"]["entry"][:MAX_DRAFT_ORDERS]
    draft_bytes = sum(len(json.dumps(entry["resource"])) for entry in drafts)
    bound = MAX_DRAFT_ORDERS * CARD_TEXT_BOUND + DRAFT_COPIES * draft_bytes
    assert len(response.content) <= bound
    assert len(response.content) < 1024 * 1024  # was 520 MB
    print(f"\n800 x 15,000: {len(response.content)} bytes in {seconds:.1f} s (bound {bound})")
    assert requests.get(base_url + "/healthz", timeout=10).status_code == 200
    assert server_pids(base_url) == pids


def test_20000_orders_record_every_card_issued_and_answer_in_seconds(service):
    base_url, database_url = service
    pids = server_pids(base_url)

    response, seconds = post(base_url + SIGN, order_sign(20_000))

    assert response.status_code == 200
    assert len(response.json()["cards"]) == MAX_DRAFT_ORDERS + 1
    assert seconds < 10
    print(f"\n20,000 orders: answered in {seconds:.1f} s")
    deadline = time.monotonic() + 15  # rows are written half a second after the answer
    while count_rows(database_url, card_issued_table) < MAX_DRAFT_ORDERS + 1:
        assert time.monotonic() < deadline, "issued cards not recorded"
        time.sleep(0.2)
    time.sleep(1)  # and nothing more comes
    assert count_rows(database_url, card_issued_table) == MAX_DRAFT_ORDERS + 1
    assert server_pids(base_url) == pids


def test_31000_feedback_entries_are_refused_at_once_and_nothing_is_stored(service):
    base_url, database_url = service
    pids = server_pids(base_url)
    entries = [
        {"card": f"card-{n}", "outcome": "overridden", "outcomeTimestamp": "2026-11-26T10:00:00Z"}
        for n in range(31_000)
    ]

    response, seconds = post(base_url + FEEDBACK, {"feedback": entries})

    assert response.status_code == 413
    issue = response.json()["issue"][0]
    assert issue["expression"] == ["feedback"]
    assert "at most 1000" in issue["diagnostics"]
    assert seconds < 2  # was 14 s
    print(f"\n31,000 feedback entries: 413 in {seconds:.2f} s")
    assert count_rows(database_url, feedback_table) == 0
    accepted, _ = post(base_url + FEEDBACK, {"feedback": entries[:1000]})
    assert accepted.status_code == 200 and accepted.json() == {"received": 1000, "stored": 1000}
    assert server_pids(base_url) == pids
