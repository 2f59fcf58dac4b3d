"""The FHIR fallback contacts only a fhirServer listed for the calling issuer.

A listening socket on loopback stands in for the FHIR server and counts the connections it
accepts: for a server that is not listed, it must count none.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.trust_support import (
    EHR,
    OTHER_EHR,
    RecordingListener,
    auth_app,
    bearer,
    claims,
    es384_key,
    issuer_entry,
    order_sign_request,
    sign,
)

SIGN = "/cds-services/vcf-imaging-order-sign"
KEY, OTHER_KEY = es384_key(), es384_key()


@pytest.fixture
def listener() -> Iterator[RecordingListener]:
    with RecordingListener() as running:
        yield running


def call(client, fhir_server: str, key=KEY, iss: str = EHR):
    """A hook call without prefetch: the service can only get the history from fhirServer."""
    token = sign(key, claims("http://localhost" + SIGN, iss=iss))
    body = order_sign_request(fhir_server=fhir_server, prefetch=False)
    return client.post(SIGN, json=body, headers=bearer(token))


def test_an_unlisted_fhir_server_is_never_contacted(tmp_path, listener):
    app = auth_app(tmp_path, [issuer_entry(EHR, [KEY], ["https://ehr.example.org/fhir"])])
    response = call(app.test_client(), listener.base + "/fhir")
    assert response.status_code == 403
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "forbidden"
    assert body["issue"][0]["expression"] == ["fhirServer"]
    assert listener.settle() == 0


@pytest.mark.parametrize("path", ["/fhirx", "/other", "/"])
def test_a_lookalike_of_a_listed_server_is_never_contacted(tmp_path, listener, path):
    app = auth_app(tmp_path, [issuer_entry(EHR, [KEY], [listener.base + "/fhir"])])
    response = call(app.test_client(), listener.base + path)
    assert response.status_code == 403
    assert listener.settle() == 0


def test_another_issuers_server_is_never_contacted(tmp_path, listener):
    app = auth_app(
        tmp_path,
        [
            issuer_entry(EHR, [KEY], ["https://ehr.example.org/fhir"]),
            issuer_entry(OTHER_EHR, [OTHER_KEY], [listener.base + "/fhir"]),
        ],
    )
    assert call(app.test_client(), listener.base + "/fhir").status_code == 403
    assert listener.settle() == 0


def test_a_listed_server_is_contacted(tmp_path, listener):
    """The control: the same call, with the server listed, does reach the listener."""
    app = auth_app(tmp_path, [issuer_entry(EHR, [KEY], [listener.base + "/fhir"])])
    response = call(app.test_client(), listener.base + "/fhir/r4")
    assert response.status_code != 403
    assert listener.settle() >= 1


def test_in_development_mode_any_server_is_contacted(app, listener):
    body = order_sign_request(fhir_server=listener.base + "/anywhere", prefetch=False)
    response = app.test_client().post(SIGN, json=body)
    assert response.status_code != 403
    assert listener.settle() >= 1
