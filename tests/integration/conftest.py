"""Databases for the integration tests: one private PostgreSQL server for the whole run.

Without PostgreSQL on the machine the tests that need it are skipped, the reason naming the
package to install; CDS_REQUIRE_POSTGRES=1 (set by .ci/run) makes that a failure instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from .postgres_server import (
    PrivateCluster,
    fresh_database,
    missing_postgres,
    missing_server_programs,
    postgres_server,
    private_cluster,
)

REQUIRE_POSTGRES = "CDS_REQUIRE_POSTGRES"


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """A PostgreSQL server (PG_TEST_URL, or a private cluster started for this run)."""
    _skip_or_fail_without(missing_postgres())
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="module")
def stoppable_postgres() -> Iterator[PrivateCluster]:
    """A private PostgreSQL cluster of the module's own, which its tests may stop and start
    (never the shared server of `server_url`)."""
    _skip_or_fail_without(missing_server_programs())
    with private_cluster() as cluster:
        yield cluster


@pytest.fixture
def postgres_server_programs() -> None:
    """For tests that start private clusters of their own."""
    _skip_or_fail_without(missing_server_programs())


def _skip_or_fail_without(missing: str | None) -> None:
    if missing is not None:
        if os.environ.get(REQUIRE_POSTGRES) == "1":
            pytest.fail(f"{REQUIRE_POSTGRES}=1 but {missing}", pytrace=False)
        pytest.skip(f"needs PostgreSQL: {missing}")


@pytest.fixture(params=["postgresql", "sqlite"])
def each_backend_url(request, tmp_path: Path) -> Iterator[str]:
    """An empty database on each supported back end in turn."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'service.sqlite3'}"
        return
    with fresh_database(request.getfixturevalue("server_url")) as url:
        yield url
