"""Browser clients such as the CDS Hooks sandbox: preflights answered, headers allowed."""

import pytest

SANDBOX = "https://sandbox.cds-hooks.org"


@pytest.mark.parametrize(
    "path",
    [
        "/cds-services",
        "/cds-services/vcf-imaging-order-select",
        "/cds-services/vcf-imaging-order-sign/feedback",
    ],
)
def test_preflight_is_answered_and_allows_authorization_and_content_type(client, path):
    response = client.options(
        path,
        headers={
            "Origin": SANDBOX,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] in ("*", SANDBOX)
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert "POST" in response.headers["Access-Control-Allow-Methods"]


def test_simple_request_gets_the_cors_grant(client):
    response = client.get("/cds-services", headers={"Origin": SANDBOX})
    assert response.headers["Access-Control-Allow-Origin"] in ("*", SANDBOX)
