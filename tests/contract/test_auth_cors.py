"""CDS_CORS_ORIGINS: listed browser origins get a CORS grant, others none (CDS Hooks 2.0 §CORS)."""

from __future__ import annotations

import pytest

from tests.trust_support import (
    EHR,
    auth_app,
    bearer,
    claims,
    es384_key,
    feedback_body,
    issuer_entry,
    sign,
)

SANDBOX = "https://sandbox.cds-hooks.org"
STRANGER = "https://evil.example"
SIGN = "/cds-services/vcf-imaging-order-sign"
FEEDBACK = f"{SIGN}/feedback"
KEY = es384_key()


@pytest.fixture
def client(tmp_path):
    app = auth_app(tmp_path, [issuer_entry(EHR, [KEY])], cors_origins=(SANDBOX,))
    return app.test_client()


def preflight(client, path: str, origin: str):
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


@pytest.mark.parametrize("path", ["/cds-services", SIGN, FEEDBACK])
def test_a_listed_origins_preflight_is_granted_without_authentication(client, path):
    response = preflight(client, path, SANDBOX)
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == SANDBOX
    allowed = {
        h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert {"authorization", "content-type"} <= allowed
    assert "POST" in response.headers["Access-Control-Allow-Methods"]


@pytest.mark.parametrize("path", ["/cds-services", SIGN, FEEDBACK])
def test_another_origins_preflight_gets_no_grant(client, path):
    response = preflight(client, path, STRANGER)
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Headers" not in response.headers


def test_discovery_grants_the_listed_origin_only(client):
    granted = client.get("/cds-services", headers={"Origin": SANDBOX})
    assert granted.headers["Access-Control-Allow-Origin"] == SANDBOX
    refused = client.get("/cds-services", headers={"Origin": STRANGER})
    assert "Access-Control-Allow-Origin" not in refused.headers


def test_an_authenticated_call_from_the_listed_origin_is_granted(client):
    token = sign(KEY, claims("http://localhost" + FEEDBACK))
    response = client.post(
        FEEDBACK, json=feedback_body(), headers=bearer(token) | {"Origin": SANDBOX}
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == SANDBOX


def test_a_401_to_the_listed_origin_is_readable_by_the_browser(client):
    response = client.post(FEEDBACK, json=feedback_body(), headers={"Origin": SANDBOX})
    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == SANDBOX


def test_a_call_from_another_origin_gets_no_grant(client):
    token = sign(KEY, claims("http://localhost" + FEEDBACK))
    response = client.post(
        FEEDBACK, json=feedback_body(), headers=bearer(token) | {"Origin": STRANGER}
    )
    assert "Access-Control-Allow-Origin" not in response.headers


def test_no_credentials_are_granted(client):
    response = preflight(client, SIGN, SANDBOX)
    assert response.headers.get("Access-Control-Allow-Credentials") != "true"
