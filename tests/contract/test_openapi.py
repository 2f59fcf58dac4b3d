"""GET /openapi.json: the OpenAPI 3 document describes what the service really accepts and sends."""

from __future__ import annotations

import json

import jsonschema
import pytest

import cds_service.web.openapi as openapi
from cds_service.registry import SERVICES

from ..conftest import FIXTURES

SCENARIOS = sorted(path for path in FIXTURES.iterdir() if (path / "request.json").is_file())


@pytest.fixture
def document(client) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()


def validator(document: dict, component: str) -> jsonschema.Validator:
    """A validator of one component; `$ref`s resolve inside the document itself."""
    schema = {"$ref": f"#/components/schemas/{component}", "components": document["components"]}
    return jsonschema.Draft4Validator(schema)


def request_component(document: dict, service_id: str) -> str:
    operation = document["paths"][f"/cds-services/{service_id}"]["post"]
    return operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]


def test_document_is_openapi_3_with_every_service_and_its_feedback(document):
    assert document["openapi"].startswith("3.")
    expected = {"/cds-services"}
    for service in SERVICES:
        expected |= {f"/cds-services/{service.id}", f"/cds-services/{service.id}/feedback"}
    assert set(document["paths"]) == expected


def test_every_error_answer_is_documented_as_an_operation_outcome(document):
    for service in SERVICES:
        responses = document["paths"][f"/cds-services/{service.id}"]["post"]["responses"]
        assert {"200", "400", "404", "405", "412", "413"} <= set(responses)
        for status, response in responses.items():
            schema = response["content"]["application/json"]["schema"]["$ref"]
            expected = "HookResponse" if status == "200" else "OperationOutcome"
            assert schema.endswith(f"/{expected}")


def test_each_service_accepts_only_its_own_hook(document):
    for service in SERVICES:
        check = validator(document, request_component(document, service.id))
        request = json.loads((FIXTURES / SCENARIOS[0].name / "request.json").read_text())
        request["hook"] = "patient-view"
        assert not check.is_valid(request)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda path: path.name)
def test_every_fixture_request_and_answer_fits_the_document(document, scenario):
    request = json.loads((scenario / "request.json").read_text())
    service_id = f"vcf-imaging-{request['hook']}"
    validator(document, request_component(document, service_id)).validate(request)
    expected = scenario / "expected.json"
    if expected.is_file():
        validator(document, "HookResponse").validate(json.loads(expected.read_text()))


def test_a_real_answer_fits_the_document(client, document):
    request = json.loads(
        (FIXTURES / "seed-kyphoplasty-ct-thoracic-with-contrast" / "request.json").read_text()
    )
    answer = client.post("/cds-services/vcf-imaging-order-select", json=request).get_json()

    assert answer["cards"], "the seed patient's contrast CT gets a card"
    validator(document, "HookResponse").validate(answer)


def test_operation_outcome_schema_matches_a_real_error(client, document):
    error = client.post("/cds-services/vcf-imaging-order-sign", json=[]).get_json()

    validator(document, "OperationOutcome").validate(error)


def test_document_is_built_once_at_start_up_not_per_request(app, monkeypatch):
    def built_again(*_args, **_kwargs):
        raise AssertionError("the document was built again for a request")

    monkeypatch.setattr(openapi, "build_openapi", built_again)
    client = app.test_client()

    first, second = client.get("/openapi.json"), client.get("/openapi.json")
    assert first.status_code == second.status_code == 200
    assert first.data == second.data


def test_the_database_outage_answer_is_documented(document):
    for service in SERVICES:
        for path in (f"/cds-services/{service.id}", f"/cds-services/{service.id}/feedback"):
            response = document["paths"][path]["post"]["responses"]["503"]
            assert response["content"]["application/json"]["schema"]["$ref"].endswith(
                "/OperationOutcome"
            )
