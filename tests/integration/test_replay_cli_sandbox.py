"""What the sandbox guide (docs/integration.md) promises, replayed with the sandbox's requests.

The CDS Hooks sandbox's PAMA screen (cds-hooks/sandbox `src/components/Pama/pama.jsx`) calls
order-select with one draft ServiceRequest `example-request-id` (intent `plan`, a CPT coding,
SNOMED reasons, no authoredOn), always sends `fhirServer`, omits prefetch keys whose search
came back empty, and reads the rating only from `extension.systemActions`. The first call,
before a study is picked, carries an empty coding.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cds_service.replay.core import Scenario, replay
from cds_service.replay.service import open_sender

from ..conftest import FIXTURES

SEED = json.loads(
    (FIXTURES / "seed-kyphoplasty-ct-thoracic-with-contrast" / "request.json").read_text()
)
PATIENT_ID = SEED["context"]["patientId"]  # prior L2 VCF treated with kyphoplasty
PAMA_RATING = "http://fhir.org/argonaut/Extension/pama-rating"
CPT = "http://www.ama-assn.org/go/cpt"
LOW_BACK_PAIN = {
    "system": "http://snomed.info/sct",
    "code": "279039007",
    "display": "Low back pain",
}


class _EmptyFhirServer(http.server.BaseHTTPRequestHandler):
    """Answers every search with an empty searchset and records what it was asked."""

    seen: list[tuple[str, str | None]]

    def do_GET(self):
        self.server.seen.append((self.path, self.headers.get("Authorization")))
        body = json.dumps({"resourceType": "Bundle", "type": "searchset", "total": 0}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def fhir_server() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EmptyFhirServer)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def pama_request(study: dict, reasons: list[dict], fhir_base: str) -> dict:
    """The body the sandbox's PAMA screen sends (generateContext + callServices)."""
    draft = {
        "resourceType": "ServiceRequest",
        "id": "example-request-id",
        "status": "draft",
        "intent": "plan",
        "code": {"coding": [study], **({"text": study["display"]} if "display" in study else {})},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "reasonCode": [{"coding": [reason], "text": reason["display"]} for reason in reasons],
    }
    # Keys whose search found nothing are left out, never sent as null.
    prefetch = {
        key: value
        for key, value in SEED["prefetch"].items()
        if value.get("resourceType") != "Bundle" or value.get("entry")
    }
    return {
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "hook": "order-select",
        "fhirServer": fhir_base,
        "context": {
            "userId": "Practitioner/COREPRACTITIONER1",
            "patientId": PATIENT_ID,
            "selections": ["ServiceRequest/example-request-id"],
            "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": draft}]},
        },
        "prefetch": prefetch,
    }


def send(request: dict) -> tuple[int, dict]:
    scenario = Scenario("sandbox-pama", Path("sandbox-pama"), request)
    with open_sender(None, (1.0, 5.0), verbose=False) as sender:
        (result,) = replay([scenario], sender)
    return result.status, result.response


def fhir_base(server: http.server.ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/fhir"


def pama_ratings(response: dict) -> list[tuple[str, str]]:
    """(resource id, rating) as the sandbox's actionToRating reads them."""
    return [
        (action["resource"]["id"], coding["code"])
        for action in response.get("extension", {}).get("systemActions", [])
        if action["type"] == "update"
        for extension in action["resource"].get("extension", [])
        if extension["url"] == PAMA_RATING
        for coding in extension["valueCodeableConcept"]["coding"]
    ]


def test_before_a_study_is_picked_the_answer_is_empty(fhir_server):
    status, response = send(pama_request({}, [], fhir_base(fhir_server)))
    assert (status, response) == (200, {"cards": []})


def test_ct_lumbar_with_contrast_is_rated_not_appropriate_where_the_sandbox_reads_it(fhir_server):
    study = {
        "system": CPT,
        "code": "72132",
        "display": "Computed tomography, lumbar spine; with contrast material",
    }
    status, response = send(pama_request(study, [LOW_BACK_PAIN], fhir_base(fhir_server)))
    assert status == 200
    assert pama_ratings(response) == [("example-request-id", "not-appropriate")]
    (card,) = response["cards"]
    assert card["source"]["topic"]["code"] == "ContrastNotIndicated"
    # The searches the sandbox left out (the empty ServiceRequest one, and the imaging history
    # it does not know) were asked of its FHIR server, without a token (the sandbox sends
    # fhirAuthorization only after a SMART launch).
    assert sorted((path.split("?")[0], auth) for path, auth in fhir_server.seen) == [
        ("/fhir/DiagnosticReport", None),
        ("/fhir/ImagingStudy", None),
        ("/fhir/ServiceRequest", None),
    ]


def test_ct_lumbar_without_contrast_is_rated_appropriate(fhir_server):
    study = {
        "system": CPT,
        "code": "72131",
        "display": "Computed tomography, lumbar spine; without contrast material",
    }
    status, response = send(pama_request(study, [LOW_BACK_PAIN], fhir_base(fhir_server)))
    assert status == 200
    assert pama_ratings(response) == [("example-request-id", "appropriate")]
