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


# A query or fragment, even empty, would strip the patient filter off every search
# (`{base}/Condition?patient=…` after `…/fhir#`): one patient's card listed another's fracture.
URL_TRICKS = [
    "/fhir#",
    "/fhir?",
    "/fhir/Condition#",
    "/fhir?_count=1000",
    "/fhir/%2e%2e/fhir",
    "/fhir/./r4",
]
NOT_URLS = ["/fhir/r4 ", "/fhir\n"]  # refused as URLs (400) before the allow-list is asked


@pytest.mark.parametrize("trick", URL_TRICKS + NOT_URLS)
def test_a_listed_server_with_a_url_trick_is_never_contacted(tmp_path, listener, trick):
    app = auth_app(tmp_path, [issuer_entry(EHR, [KEY], [listener.base + "/fhir"])])
    response = call(app.test_client(), listener.base + trick)
    assert response.status_code == (400 if trick in NOT_URLS else 403)
    assert response.get_json()["issue"][0]["expression"] == ["fhirServer"]
    assert listener.settle() == 0


@pytest.mark.parametrize("trick", URL_TRICKS + NOT_URLS)
def test_in_development_mode_a_url_trick_is_refused_before_any_connection(client, listener, trick):
    body = order_sign_request(fhir_server=listener.base + trick, prefetch=False)
    response = client.post(SIGN, json=body)
    assert response.status_code == 400
    assert response.get_json()["issue"][0]["expression"] == ["fhirServer"]
    assert listener.settle() == 0


def test_the_searches_go_to_the_canonical_base(tmp_path, listener):
    """An upper-case scheme and a trailing slash name the same base."""
    app = auth_app(tmp_path, [issuer_entry(EHR, [KEY], [listener.base + "/fhir"])])
    response = call(app.test_client(), listener.base.replace("http://", "HTTP://") + "/fhir/")
    assert response.status_code != 403
    assert listener.settle() >= 1
