"""Databases for the integration tests: one private PostgreSQL server for the whole run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .postgres_server import fresh_database, postgres_server


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """A PostgreSQL server (PG_TEST_URL, or a private cluster started for this run)."""
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["postgresql", "sqlite"])
def each_backend_url(request, tmp_path: Path) -> Iterator[str]:
    """An empty database on each supported back end in turn."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'service.sqlite3'}"
        return
    with fresh_database(request.getfixturevalue("server_url")) as url:
        yield url
