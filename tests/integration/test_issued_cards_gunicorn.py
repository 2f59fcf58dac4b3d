"""A graceful gunicorn stop loses no issued-card row, even one still queued when it began.

The test holds SQLite's write lock while the hook calls are answered, so every row waits in
its worker's queue, and lets go only after gunicorn was sent SIGTERM: the rows can then only
reach the table through the recorder's atexit close in each exiting worker.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from cds_service.db import card_issued_table

from .gunicorn_server import REPO_ROOT, gunicorn

pytestmark = pytest.mark.integration

SELECT = "/cds-services/vcf-imaging-order-select"
SEED_REQUEST = (
    REPO_ROOT / "fixtures" / "seed-kyphoplasty-ct-thoracic-with-contrast" / "request.json"
)
CALLS = 30
# Long enough for the master to pass SIGTERM on; well inside the recorder's wait at exit
# (CLOSE_SECONDS) and the stop's grace period (processes.stop).
RELEASE_AFTER_STOP_SECONDS = 2.0


def held_write_lock(database: Path) -> sqlite3.Connection:
    """A connection holding the database's write lock (readers still read, WAL)."""
    connection = sqlite3.connect(
        database, timeout=30, isolation_level=None, check_same_thread=False
    )
    connection.execute("BEGIN IMMEDIATE")
    return connection


def test_rows_queued_at_a_graceful_stop_are_all_written(tmp_path):
    database = tmp_path / "service.sqlite3"
    database_url = f"sqlite:///{database}"
    request = json.loads(SEED_REQUEST.read_text())

    with gunicorn({"DATABASE_URL": database_url}, workers=3) as base_url:

        def call(_: int) -> list[str]:
            with requests.Session() as session:  # a fresh connection: spread over workers
                response = session.post(base_url + SELECT, json=request, timeout=60)
                assert response.status_code == 200, response.text
                return [card["uuid"] for card in response.json()["cards"]]

        lock = held_write_lock(database)
        with ThreadPoolExecutor(max_workers=8) as pool:
            issued = [uuid for uuids in pool.map(call, range(CALLS)) for uuid in uuids]
        release = threading.Timer(RELEASE_AFTER_STOP_SECONDS, lock.rollback)
        release.start()  # leaving the block stops gunicorn (SIGTERM) while the lock is held
    release.join()
    lock.close()

    assert len(issued) >= CALLS
    engine = sa.create_engine(database_url)
    with engine.connect() as connection:
        stored = connection.execute(sa.select(card_issued_table.c.card_uuid)).scalars().all()
    engine.dispose()
    assert sorted(stored) == sorted(set(issued))
