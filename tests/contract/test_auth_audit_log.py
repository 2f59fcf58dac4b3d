"""One JSON audit line per call, and no patient data or token anywhere in the service's logs."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cds_service.vocabulary import Category, Topic
from tests.trust_support import (
    ACCESS_TOKEN,
    EHR,
    RecordingListener,
    auth_app,
    bearer,
    claims,
    es384_key,
    feedback_body,
    issuer_entry,
    order_sign_request,
    sign,
)

from ..conftest import FIXTURES

KEY = es384_key()
LOCAL = "http://localhost"
AUDIT_FIELDS = {
    "time",
    "service",
    "hook",
    "hookInstance",
    "issuer",
    "status",
    "seconds",
    "stageSeconds",
    "cards",
    "ratings",
}
CLINICAL_TYPES = {"Condition", "Procedure", "ServiceRequest"}
COMMENT = "Quiggleworth declined: claustrophobic since the 2019 MRI"


def fixture_requests() -> list[tuple[str, dict[str, Any]]]:
    found = sorted(FIXTURES.glob("*/request.json"))
    return [(path.parent.name, json.loads(path.read_text())) for path in found]


CASES = [*fixture_requests(), ("built-in-order-sign", order_sign_request())]


@pytest.fixture
def listener() -> Iterator[RecordingListener]:
    with RecordingListener() as running:
        yield running


@pytest.fixture
def app(tmp_path: Path, listener: RecordingListener):
    fhir_servers = [listener.base + "/fhir"]
    return auth_app(tmp_path, [issuer_entry(EHR, [KEY], fhir_servers)], log_level="DEBUG")


@pytest.fixture
def service_log(caplog) -> pytest.LogCaptureFixture:
    """The service's own loggers at their most verbose (CDS_LOG_LEVEL=DEBUG), calls only."""
    caplog.set_level(logging.DEBUG, logger="cds_service")
    caplog.clear()
    return caplog


def send(client, body: dict[str, Any]) -> tuple[Any, str]:
    service = {"order-select": "vcf-imaging-order-select", "order-sign": "vcf-imaging-order-sign"}
    path = f"/cds-services/{service.get(body.get('hook'), 'vcf-imaging-order-sign')}"
    token = sign(KEY, claims(LOCAL + path))
    return client.post(path, json=body, headers=bearer(token)), token


def secrets(body: dict[str, Any], token: str) -> set[str]:
    """What must never be logged: patient ids and names, the record's codes, the tokens."""
    found = {token, *token.split("."), body["context"]["patientId"]}
    if "fhirAuthorization" in body:
        found.add(body["fhirAuthorization"]["access_token"])
    for resource in _prefetched(body):
        if resource.get("resourceType") == "Patient":
            found |= _patient_identity(resource)
        elif resource.get("resourceType") in CLINICAL_TYPES:
            found |= _clinical_terms(resource)
    return {value for value in found if isinstance(value, str) and len(value) >= 3}


def _prefetched(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for value in (body.get("prefetch") or {}).values():
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            yield from (e["resource"] for e in value.get("entry", []) if "resource" in e)
        elif isinstance(value, dict):
            yield value


def _patient_identity(patient: dict[str, Any]) -> set[str]:
    found = {patient.get("id"), patient.get("birthDate")}
    found |= {identifier.get("value") for identifier in patient.get("identifier", [])}
    for name in patient.get("name", []):
        found |= {name.get("family"), name.get("text"), *name.get("given", [])}
    return found


def _clinical_terms(resource: dict[str, Any]) -> set[str]:
    code = resource.get("code") or {}
    found = {code.get("text")}
    for coding in code.get("coding", []):
        found |= {coding.get("code"), coding.get("display")}
    return found


def leaks(log_text: str, sent: set[str]) -> list[str]:
    return [
        value
        for value in sorted(sent)
        if re.search(rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])", log_text)
    ]


def audit_lines(caplog) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "cds_service.audit"]


@pytest.mark.parametrize(("name", "body"), CASES, ids=[name for name, _ in CASES])
def test_no_patient_data_or_token_reaches_the_log(app, service_log, name, body):
    response, token = send(app.test_client(), body)
    assert response.status_code < 500, name
    assert leaks(service_log.text, secrets(body, token)) == []
    assert len(audit_lines(service_log)) == 1


def test_the_fhir_fallback_logs_no_patient_data_either(app, service_log, listener):
    """No prefetch: the service asks the (failing) FHIR server, and says so without the ids."""
    body = order_sign_request(fhir_server=listener.base + "/fhir", prefetch=False)
    response, token = send(app.test_client(), body)
    assert listener.settle() >= 1
    sent = secrets(order_sign_request(fhir_server="x"), token) | {ACCESS_TOKEN}
    assert leaks(service_log.text, sent) == []
    assert audit_lines(service_log)[0]["status"] == response.status_code


def test_feedback_comments_stay_out_of_the_log(app, service_log):
    path = "/cds-services/vcf-imaging-order-sign/feedback"
    token = sign(KEY, claims(LOCAL + path))
    body = feedback_body(COMMENT)
    response = app.test_client().post(path, json=body, headers=bearer(token))
    assert response.status_code == 200
    assert COMMENT not in service_log.text and "Quiggleworth" not in service_log.text
    (line,) = audit_lines(service_log)
    assert (line["service"], line["status"], line["issuer"]) == ("vcf-imaging-order-sign", 200, EHR)


def test_the_audit_line_says_how_the_call_went_and_nothing_more(app, service_log):
    body = order_sign_request()
    response, _ = send(app.test_client(), body)
    (line,) = audit_lines(service_log)
    assert set(line) - {"noAdvice"} == AUDIT_FIELDS
    assert line["service"] == "vcf-imaging-order-sign"
    assert (line["hook"], line["hookInstance"]) == ("order-sign", body["hookInstance"])
    assert (line["issuer"], line["status"]) == (EHR, response.status_code)
    assert line["cards"] == len(response.get_json()["cards"])
    assert line["time"].endswith("Z") and line["seconds"] >= 0
    assert set(line["stageSeconds"]) <= {"parse", "fetch", "findings", "decision", "render"}
    for rating in line["ratings"]:
        assert set(rating) == {"category", "topic"}
        assert rating["category"] in set(Category) and rating["topic"] in set(Topic)


def test_refused_calls_are_audited_too(app, service_log):
    client = app.test_client()
    unsigned = client.post("/cds-services/vcf-imaging-order-sign", json=order_sign_request())
    elsewhere = order_sign_request(fhir_server="https://not-listed.example/fhir")
    forbidden, _ = send(client, elsewhere)
    assert (unsigned.status_code, forbidden.status_code) == (401, 403)
    first, second = audit_lines(service_log)
    assert (first["status"], first["issuer"]) == (401, None)
    assert first["service"] == "vcf-imaging-order-sign"
    assert (second["status"], second["issuer"], second["cards"]) == (403, EHR, None)


def test_an_unknown_service_id_from_the_path_is_not_logged(app, service_log):
    app.test_client().post("/cds-services/MRN-77812345", json={})
    (line,) = audit_lines(service_log)
    assert (line["status"], line["service"]) == (401, None)
    assert "MRN-77812345" not in service_log.text


def test_a_hook_instance_that_is_not_a_uuid_is_not_logged(app, service_log):
    body = order_sign_request() | {"hookInstance": "MRN-77812345-visit-3"}
    send(app.test_client(), body)
    (line,) = audit_lines(service_log)
    assert line["hookInstance"] == "not-a-uuid"
    assert "MRN-77812345" not in service_log.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/cds-services"),
        ("GET", "/healthz"),
        ("OPTIONS", "/cds-services/vcf-imaging-order-sign"),
    ],
)
def test_discovery_health_and_preflights_are_not_audited(app, service_log, method, path):
    app.test_client().open(path, method=method, headers={"Origin": "https://x.example"})
    assert audit_lines(service_log) == []
