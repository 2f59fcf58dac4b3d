"""fhirAuthorization.access_token is never logged, stored or echoed (CDS Hooks 2.0 §3.2).

Every failure path runs with all loggers at DEBUG (requests and urllib3 included), against
a server that does its worst: it echoes the Authorization header back in its answers.
"""

from __future__ import annotations

import logging
import time

import pytest
import requests

from cds_service.fhir import HookDeadlineExceeded, PatientDataUnavailable, gather_history
from cds_service.fhir.client import FhirClient
from cds_service.settings import Settings
from tests.integration.fault_server import FaultHandler, fault_server, slow, status
from tests.integration.fhir_helpers import hook_body, hook_request, knowledge

TOKEN = "tkn-5f2b9c0e7a4d4e1f-secret"


def echo_token_as(status_code: int):
    def answer(handler: FaultHandler) -> None:
        handler.send_bytes(status_code, handler.headers.get("Authorization", "").encode())

    return answer


def echo_token_as_resource_type(handler: FaultHandler) -> None:
    handler.send_json(200, {"resourceType": handler.headers.get("Authorization", "")})


FAULTS = {
    "401-echo": echo_token_as(401),
    "500-echo": echo_token_as(500),
    "200-echo-not-json": echo_token_as(200),
    "200-echo-as-resource-type": echo_token_as_resource_type,
    "404": status(404),
    "slow": slow(5),
}


@pytest.mark.parametrize("fault", FAULTS, ids=list(FAULTS))
def test_the_token_appears_in_no_log_and_no_exception(fault, caplog):
    caplog.set_level(logging.DEBUG)
    with fault_server() as server, requests.Session() as session:
        server.behaviours.update(Condition=FAULTS[fault], Procedure=status(401))
        request = hook_request(hook_body("p-token", {}, server.base_url, TOKEN))
        settings = Settings(fhir_read_timeout=0.5)
        with pytest.raises((PatientDataUnavailable, HookDeadlineExceeded)) as raised:
            gather_history(request, knowledge(), settings, session, time.monotonic() + 2)
        assert server.seen, "the fault server was asked"
        assert all(s.headers["Authorization"] == f"Bearer {TOKEN}" for s in server.seen)
    error = raised.value
    shown = [str(error), repr(error), *map(str, error.args), getattr(error, "reason", "")]
    shown += [str(error.__cause__), str(error.__context__)]
    assert all(TOKEN not in text for text in shown)
    assert TOKEN not in caplog.text
    assert "p-token" not in " ".join(shown)  # nor the patient id (URLs are left out)


def test_the_token_is_not_in_the_repr_of_the_request_or_the_client():
    request = hook_request(hook_body("p-token", {}, "https://ehr.test/fhir", TOKEN))
    client = FhirClient(
        base_url="https://ehr.test/fhir",
        session=requests.Session(),
        connect_timeout=1,
        read_timeout=1,
        page_cap=1,
        deadline=time.monotonic(),
        access_token=TOKEN,
    )
    assert TOKEN not in repr(request)
    assert TOKEN not in repr(client)
