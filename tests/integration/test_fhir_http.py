"""Patient data through the whole service: what the EHR sees over HTTP.

The same cards whether the EHR prefetched or the service fetched from a real FHIR server;
412 with an OperationOutcome naming the missing keys when the server refuses; no cards
(not an error) when the server is slower than the hook deadline.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cds_service import create_app
from cds_service.replay.core import normalize
from cds_service.settings import Settings
from tests.conftest import FIXTURES
from tests.integration.fault_server import fault_server, slow
from tests.integration.fhir_helpers import hook_body
from tests.integration.fhir_server import SekmetServer, running_sekmet

pytestmark = pytest.mark.integration

SEED = FIXTURES / "seed-kyphoplasty-ct-thoracic-with-contrast" / "request.json"
SERVICE = "/cds-services/vcf-imaging-order-select"


@pytest.fixture(scope="module")
def fhir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SekmetServer]:
    with running_sekmet(tmp_path_factory.mktemp("sekmet")) as server:
        yield server


def service(tmp_path: Path, **settings: float):
    database_url = f"sqlite:///{tmp_path / 'feedback.sqlite3'}"
    return create_app(Settings(database_url=database_url, **settings)).test_client()


def authorized(body: dict, base_url: str, token: str) -> dict:
    """The request as an EHR without prefetch sends it: fhirServer and a bearer token."""
    with_server = hook_body(body["context"]["patientId"], None, base_url, token)
    return {
        **body,
        "fhirServer": with_server["fhirServer"],
        "fhirAuthorization": with_server["fhirAuthorization"],
    }


def test_the_cards_are_the_same_when_the_service_fetches_the_data(fhir, tmp_path):
    body = json.loads(SEED.read_text())
    fhir.load_patient(body["context"]["patientId"], body["prefetch"])
    client = service(tmp_path)
    prefetched = client.post(SERVICE, json=body)
    fetched = client.post(
        SERVICE,
        json={**authorized(body, fhir.base_url, fhir.token), "prefetch": {}},
    )
    assert (prefetched.status_code, fetched.status_code) == (200, 200)
    assert prefetched.get_json()["cards"], "the seed patient gets a card"
    assert normalize(fetched.get_json()) == normalize(prefetched.get_json())


def test_a_refusing_fhir_server_answers_412_naming_what_is_missing(fhir, tmp_path):
    body = json.loads(SEED.read_text())
    request = {
        **authorized(body, fhir.base_url, "not-the-servers-token"),
        "prefetch": {"conditions": body["prefetch"]["conditions"]},
    }
    response = service(tmp_path).post(SERVICE, json=request)
    assert response.status_code == 412
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == ["procedures", "serviceRequests"]
    assert "refused access (HTTP 401)" in outcome["issue"][0]["diagnostics"]
    assert "not-the-servers-token" not in response.get_data(as_text=True)


def test_a_fhir_server_slower_than_the_hook_deadline_means_no_cards(tmp_path):
    body = json.loads(SEED.read_text())
    with fault_server() as server:
        server.behaviours.update(Condition=slow(10), Procedure=slow(10), ServiceRequest=slow(10))
        client = service(tmp_path, hook_deadline_seconds=1.0)
        started = time.monotonic()
        response = client.post(
            SERVICE, json={**authorized(body, server.base_url, "token"), "prefetch": {}}
        )
        returned = time.monotonic() - started
    assert response.status_code == 200
    assert response.get_json() == {"cards": []}
    assert returned < 1.0 + 0.75
