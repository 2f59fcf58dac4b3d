"""While PostgreSQL is away: /readyz says so, signed calls and feedback get a JSON 503 (never
a 500, never an acknowledgement of something not stored), and the same workers answer again
when it is back.

Real gunicorn (the Procfile's command) in trusted mode on a private PostgreSQL cluster that
the tests stop and start.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from tests.trust_support import (
    EHR,
    bearer,
    claims,
    es384_key,
    issuer_entry,
    order_sign_request,
    sign,
    write_auth_config,
)

from .gunicorn_server import GunicornInstance
from .postgres_server import PrivateCluster, fresh_database

pytestmark = pytest.mark.integration

HOOK = "/cds-services/vcf-imaging-order-sign"
FEEDBACK = HOOK + "/feedback"
KEY = es384_key()


@pytest.fixture(scope="module")
def database_url(stoppable_postgres: PrivateCluster) -> Iterator[str]:
    with fresh_database(stoppable_postgres.url) as url:
        yield url


@pytest.fixture(scope="module")
def service(database_url: str, tmp_path_factory) -> Iterator[GunicornInstance]:
    """One instance, trusted mode, two workers."""
    folder = tmp_path_factory.mktemp("outage")
    config = write_auth_config(folder / "auth.json", [issuer_entry(EHR, [KEY])])
    env = {"CDS_AUTH_CONFIG": str(config), "DATABASE_URL": database_url}
    instance = GunicornInstance(env, folder / "service.log", options="--no-control-socket")
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


@contextlib.contextmanager
def database_down(cluster: PrivateCluster) -> Iterator[None]:
    cluster.stop()
    try:
        yield
    finally:
        cluster.start()


def hook_call(service: GunicornInstance) -> requests.Response:
    token = sign(KEY, claims(service.base_url + HOOK))
    return requests.post(
        service.base_url + HOOK, json=order_sign_request(), headers=bearer(token), timeout=30
    )


def feedback_call(service: GunicornInstance, card: str) -> requests.Response:
    token = sign(KEY, claims(service.base_url + FEEDBACK))
    entry = {"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-12-03T10:00:00Z"}
    return requests.post(
        service.base_url + FEEDBACK, json={"feedback": [entry]}, headers=bearer(token), timeout=30
    )


def stored_cards(database_url: str) -> set[str]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            return set(connection.execute(sa.text("SELECT card_uuid FROM feedback")).scalars())
    finally:
        engine.dispose()


def assert_unavailable(response: requests.Response) -> None:
    assert response.status_code == 503
    assert response.headers["Content-Type"] == "application/json"
    issue = response.json()["issue"][0]
    assert response.json()["resourceType"] == "OperationOutcome"
    assert issue["code"] == "transient"


def test_readyz_is_ready_while_the_database_answers(service):
    response = requests.get(service.base_url + "/readyz", timeout=10)

    assert response.status_code == 200
    assert response.json()["status"] == "ready"
    assert response.json()["database"] == "ok"
    assert response.json()["knowledgeVersion"]


def test_without_the_database_readyz_is_503_while_healthz_stays_200(service, stoppable_postgres):
    with database_down(stoppable_postgres):
        ready = requests.get(service.base_url + "/readyz", timeout=10)
        alive = requests.get(service.base_url + "/healthz", timeout=10)

    assert_unavailable(ready)
    assert alive.status_code == 200


def test_without_the_database_a_signed_hook_call_is_a_json_503(service, stoppable_postgres):
    with database_down(stoppable_postgres):
        responses = [hook_call(service) for _ in range(4)]  # both workers, most likely

    for response in responses:
        assert_unavailable(response)


def test_without_the_database_feedback_is_refused_and_not_stored(
    service, stoppable_postgres, database_url
):
    card = str(uuid.uuid4())
    with database_down(stoppable_postgres):
        refused = feedback_call(service, card)

    assert_unavailable(refused)
    assert card not in stored_cards(database_url)


def test_the_same_workers_answer_again_when_the_database_returns(
    service, stoppable_postgres, database_url
):
    workers = service.worker_pids()
    with database_down(stoppable_postgres):
        assert hook_call(service).status_code == 503
    card = str(uuid.uuid4())

    hook = [hook_call(service) for _ in range(4)]
    feedback = feedback_call(service, card)
    ready = requests.get(service.base_url + "/readyz", timeout=10)

    assert [response.status_code for response in hook] == [200] * 4
    assert hook[0].json()["cards"], "the prior L1 fracture's MRI gets its card"
    assert feedback.status_code == 200
    assert card in stored_cards(database_url)
    assert ready.status_code == 200
    assert service.worker_pids() == workers  # nobody restarted anything
    log = Path(service.log_path).read_text()
    assert "Traceback" not in log
    assert "database unavailable on cds.invoke: OperationalError" in log
    assert "Quiggleworth" not in log and "Bearer" not in log  # no patient, no token


def test_a_worker_started_while_the_database_is_away_comes_up_when_it_returns(
    stoppable_postgres, database_url, tmp_path
):
    config = write_auth_config(tmp_path / "auth.json", [issuer_entry(EHR, [KEY])])
    env = {"CDS_AUTH_CONFIG": str(config), "DATABASE_URL": database_url}
    log = tmp_path / "service.log"
    instance = GunicornInstance(env, log, options="--no-control-socket")
    try:
        with database_down(stoppable_postgres):
            instance.start(wait=False)
            waiting = wait_for_line(log, "database unreachable at start-up", seconds=30)
        instance.wait_until_up()
        ready = requests.get(instance.base_url + "/readyz", timeout=10)
    finally:
        instance.stop()

    assert waiting, "the workers reached the database while it was away"
    assert ready.status_code == 200


def wait_for_line(log: Path, text: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text():
            return True
        time.sleep(0.1)
    return False
