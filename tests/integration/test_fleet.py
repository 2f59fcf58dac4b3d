"""Two instances behind HAProxy (deploy/haproxy.cfg) on one PostgreSQL, under a steady load of
signed hook calls and feedback, while a worker, an instance and the database die in turn
(tests/integration/fleet.py). What an EHR sees must stay honest: a 200, or a JSON 503 it can
treat as "no advice"; no feedback entry that got a 200 is lost; every fault is recovered
from, the database's without any worker restarting. Times are reported, not asserted.
"""

from __future__ import annotations

import os

import pytest

from . import fleet as fleet_run
from .conftest import REQUIRE_POSTGRES

pytestmark = pytest.mark.integration

LOAD_SECONDS = 40.0


@pytest.fixture
def haproxy() -> None:
    """HAProxy is installed by .ci/run with PostgreSQL: CDS_REQUIRE_POSTGRES=1 makes its
    absence a failure too."""
    missing = fleet_run.missing_haproxy()
    if missing is not None:
        if os.environ.get(REQUIRE_POSTGRES) == "1":
            pytest.fail(f"{REQUIRE_POSTGRES}=1 but {missing}", pytrace=False)
        pytest.skip(f"needs HAProxy: {missing}")


def test_a_fleet_keeps_its_promises_through_a_worker_an_instance_and_the_database_dying(
    haproxy, postgres_server_programs, tmp_path, capsys
):
    with fleet_run.fleet(tmp_path) as fleet:
        reports = fleet_run.report(fleet, *fleet_run.run(fleet, LOAD_SECONDS))
        logs = "".join(path.read_text(errors="replace") for path in fleet.logs().values())
    with capsys.disabled():  # the table of this run, for whoever reads CI's output
        print("\n" + fleet_run.format_table(reports))

    assert fleet_run.violations(reports) == []
    by_name = {report.name: report for report in reports}
    database = by_name["PostgreSQL stopped (crash) and started"]
    assert database.failed > 0, "the database outage was seen: the test tested something"
    assert database.worker_pids_kept
    assert sum(report.feedback_acknowledged for report in reports) > 100
    assert "Traceback" not in logs
