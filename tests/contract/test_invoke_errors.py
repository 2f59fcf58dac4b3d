"""POST /cds-services/<id>: bad input gets a JSON OperationOutcome with the right status."""

from __future__ import annotations

import copy
import json

import pytest

from ..conftest import FIXTURES

SELECT = "/cds-services/vcf-imaging-order-select"
SIGN = "/cds-services/vcf-imaging-order-sign"


@pytest.fixture
def select_request() -> dict:
    path = FIXTURES / "seed-kyphoplasty-ct-thoracic-without" / "request.json"
    return json.loads(path.read_text())


def assert_outcome(response, status: int, mentions: str | None = None) -> dict:
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    issue = body["issue"][0]
    assert issue["severity"] == "error" and issue["diagnostics"]
    if mentions:
        assert mentions in json.dumps(body)
    return body


def test_body_that_is_not_json_is_400(client):
    response = client.post(SELECT, data="{not json", content_type="application/json")
    assert_outcome(response, 400, "not valid JSON")


def test_body_that_is_not_utf8_is_400(client):
    response = client.post(SELECT, data=b'{"hook": "\xff\xfe"}', content_type="application/json")
    assert_outcome(response, 400)


def test_body_that_is_a_json_array_is_400(client):
    assert_outcome(client.post(SELECT, json=[1, 2]), 400, "JSON object")


@pytest.mark.parametrize(
    "path",
    [("hook",), ("hookInstance",), ("context",), ("context", "patientId"), ("context", "userId")],
)
def test_missing_required_field_is_400_naming_it(client, select_request, path):
    target = select_request
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    assert_outcome(client.post(SELECT, json=select_request), 400, ".".join(path))


def test_hook_that_is_not_the_services_hook_is_400(client, select_request):
    select_request["hook"] = "order-sign"
    assert_outcome(client.post(SELECT, json=select_request), 400, "order-select")


@pytest.mark.parametrize("draft_orders", [[], {"resourceType": "Patient"}, "Bundle", None])
def test_draft_orders_that_are_not_a_bundle_are_400(client, select_request, draft_orders):
    select_request["context"]["draftOrders"] = draft_orders
    assert_outcome(client.post(SELECT, json=select_request), 400, "draftOrders")


def test_order_select_without_selections_is_400(client, select_request):
    del select_request["context"]["selections"]
    assert_outcome(client.post(SELECT, json=select_request), 400, "selections")


def test_order_sign_without_selections_is_fine(client, select_request):
    select_request["hook"] = "order-sign"
    del select_request["context"]["selections"]
    assert client.post(SIGN, json=select_request).status_code == 200


def test_unknown_service_is_404(client, select_request):
    assert_outcome(client.post("/cds-services/no-such-service", json=select_request), 404)
    assert_outcome(client.post("/cds-services/no-such-service/feedback", json={}), 404)


def test_unknown_path_is_a_json_404_not_html(client):
    assert_outcome(client.get("/nowhere"), 404)


def test_wrong_method_is_405_with_allow_header(client):
    response = client.get(SELECT)
    assert_outcome(response, 405)
    assert "POST" in response.headers["Allow"]


def test_body_over_the_size_limit_is_413(database_url, select_request):
    from cds_service import create_app
    from cds_service.settings import Settings

    small = create_app(Settings(database_url=database_url, max_request_bytes=2048))
    response = small.test_client().post(SELECT, json=select_request)
    assert_outcome(response, 413)


def test_fhir_authorization_without_fhir_server_is_400(client, select_request):
    select_request["fhirAuthorization"] = {
        "access_token": "secret-token-value",
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "cds-service",
    }
    body = assert_outcome(client.post(SELECT, json=select_request), 400, "fhirServer")
    assert "secret-token-value" not in json.dumps(body)


def test_unknown_keys_and_extensions_are_accepted(client, select_request):
    select_request["extension"] = {"com.example.timestamp": "2017-11-27T22:13:25Z"}
    select_request["somethingNew"] = {"from": "a newer client"}
    select_request["context"]["extension"] = {"com.example.ctx": True}
    response = client.post(SELECT, json=select_request)
    assert response.status_code == 200
    assert "cards" in response.get_json()


def test_wrong_types_anywhere_are_400_not_500(client, select_request):
    original = copy.deepcopy(select_request)
    for mutate in (
        lambda r: r.__setitem__("hook", 42),
        lambda r: r.__setitem__("context", "ctx"),
        lambda r: r["context"].__setitem__("selections", "ServiceRequest/ct-t-wo"),
        lambda r: r.__setitem__("prefetch", ["a"]),
        lambda r: r.__setitem__("extension", "not an object"),
    ):
        request = copy.deepcopy(original)
        mutate(request)
        assert_outcome(client.post(SELECT, json=request), 400)
