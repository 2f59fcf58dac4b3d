"""With CDS_AUTH_CONFIG, hook and feedback calls need a trusted client's JWT; nothing else does."""

from __future__ import annotations

import logging
import time

import pytest
from flask import Flask

from cds_service import create_app
from cds_service.auth import AuthConfigError
from cds_service.db import create_database_engine
from cds_service.settings import Settings
from cds_service.web.auth import install_trust
from tests.trust_support import (
    EHR,
    OTHER_EHR,
    auth_app,
    bearer,
    claims,
    es384_key,
    feedback_body,
    hs384_with_public_key,
    issuer_entry,
    order_sign_request,
    rs384_key,
    sign,
    tampered,
    unsigned,
)

SIGN = "/cds-services/vcf-imaging-order-sign"
FEEDBACK = f"{SIGN}/feedback"
LOCAL = "http://localhost"  # the Flask test client's host
JWKS_URI = f"{EHR}/.well-known/jwks.json"
KEY, RSA_KEY, OTHER_KEY = es384_key(), rs384_key(), es384_key()


@pytest.fixture
def app(tmp_path):
    return auth_app(
        tmp_path,
        [
            issuer_entry(EHR, [KEY, RSA_KEY], jwks_uri=JWKS_URI),
            issuer_entry(OTHER_EHR, [OTHER_KEY]),
        ],
    )


@pytest.fixture
def client(app):
    return app.test_client()


def feedback_token(**overrides) -> str:
    return sign(KEY, claims(LOCAL + FEEDBACK, **overrides))


def test_feedback_with_a_valid_token_is_stored(client):
    response = client.post(FEEDBACK, json=feedback_body(), headers=bearer(feedback_token()))
    assert response.status_code == 200
    assert response.get_json() == {"received": 1, "stored": 1}


@pytest.mark.parametrize("key", [KEY, RSA_KEY], ids=["ES384", "RS384"])
def test_a_hook_call_with_a_valid_token_gets_its_cards(client, key):
    token = sign(key, claims(LOCAL + SIGN))
    response = client.post(SIGN, json=order_sign_request(), headers=bearer(token))
    assert response.status_code == 200
    assert response.get_json()["cards"]


def refused_tokens() -> dict[str, dict[str, str]]:
    url = LOCAL + FEEDBACK
    now = int(time.time())
    good = sign(KEY, claims(url))
    return {
        "no token": {},
        "basic auth": {"Authorization": "Basic dXNlcjpwYXNz"},
        "empty bearer": {"Authorization": "Bearer "},
        "alg none": bearer(unsigned(claims(url), kid=KEY.kid)),
        "HS384 keyed with the public key": bearer(hs384_with_public_key(KEY, claims(url))),
        "wrong aud": bearer(sign(KEY, claims(LOCAL + SIGN))),
        "expired": bearer(sign(KEY, claims(url, exp=now - 120, iat=now - 420))),
        "iat in the future": bearer(sign(KEY, claims(url, iat=now + 600, exp=now + 900))),
        "unknown iss": bearer(sign(KEY, claims(url, iss="https://rogue.example"))),
        "unknown kid": bearer(sign(es384_key(), claims(url))),
        "another issuer's key": bearer(sign(OTHER_KEY, claims(url), kid=KEY.kid)),
        "tampered payload": bearer(tampered(good, iss=EHR, jti="forged")),
        "foreign jku": bearer(sign(KEY, claims(url), jku="https://evil.example/jwks.json")),
        "not a JWT": bearer("not-a-jwt"),
    }


REFUSED = refused_tokens()


@pytest.mark.parametrize("case", list(REFUSED))
def test_each_failed_check_gets_the_same_401(client, case):
    response = client.post(FEEDBACK, json=feedback_body(), headers=REFUSED[case])
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json() == client.post(FEEDBACK, json=feedback_body()).get_json()
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "login"


def test_the_401_does_not_say_which_check_failed(client):
    bodies = {
        client.post(FEEDBACK, json=feedback_body(), headers=headers).get_data()
        for headers in REFUSED.values()
    }
    assert len(bodies) == 1
    text = bodies.pop().decode().lower()
    for detail in ("expired", "audience", "kid", "signature", "issuer", "jku", "replay"):
        assert detail not in text


def test_a_replayed_token_is_refused(client):
    headers = bearer(feedback_token())
    assert client.post(FEEDBACK, json=feedback_body(), headers=headers).status_code == 200
    assert client.post(FEEDBACK, json=feedback_body(), headers=headers).status_code == 401


def test_a_refused_hook_call_never_reaches_the_pipeline(client, caplog):
    caplog.set_level(logging.DEBUG)
    response = client.post(SIGN, json=order_sign_request())
    assert response.status_code == 401
    stages = [r for r in caplog.records if r.name.startswith("cds_service.fhir")]
    assert stages == []


def test_the_reason_is_logged_at_info_without_the_token(client, caplog):
    caplog.set_level(logging.INFO)
    token = sign(KEY, claims(LOCAL + FEEDBACK, iss="https://rogue.example"))
    client.post(FEEDBACK, json=feedback_body(), headers=bearer(token))
    refusals = [r for r in caplog.records if "JWT refused" in r.getMessage()]
    assert [r.levelno for r in refusals] == [logging.INFO]
    assert "issuer not trusted" in refusals[0].getMessage()
    for part in token.split("."):
        assert part not in caplog.text


@pytest.mark.parametrize("path", ["/cds-services", "/healthz", "/readyz"])  # a balancer has no JWT
def test_discovery_and_health_stay_open(client, path):
    assert client.get(path).status_code == 200


@pytest.mark.parametrize("path", [SIGN, FEEDBACK])
def test_preflights_are_answered_without_a_token(client, path):
    response = client.options(
        path,
        headers={
            "Origin": "https://sandbox.cds-hooks.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 200


def test_an_unknown_service_is_not_revealed_to_an_unauthenticated_caller(client):
    assert client.post("/cds-services/no-such-service", json={}).status_code == 401
    token = sign(KEY, claims(LOCAL + "/cds-services/no-such-service"))
    response = client.post("/cds-services/no-such-service", json={}, headers=bearer(token))
    assert response.status_code == 404


def test_behind_a_proxy_aud_is_the_public_url(tmp_path):
    public = "https://cds.example.org/vcf"
    app = auth_app(tmp_path, [issuer_entry(EHR, [KEY])], public_base_url=public)
    client = app.test_client()
    internal = sign(KEY, claims(LOCAL + FEEDBACK))
    assert client.post(FEEDBACK, json=feedback_body(), headers=bearer(internal)).status_code == 401
    outside = sign(KEY, claims(public + FEEDBACK))
    assert client.post(FEEDBACK, json=feedback_body(), headers=bearer(outside)).status_code == 200


def test_without_auth_config_the_service_says_loudly_it_accepts_unsigned_calls(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'dev.sqlite3'}"))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("DEVELOPMENT MODE" in r.getMessage() for r in warnings)
    client = app.test_client()
    assert client.post(FEEDBACK, json=feedback_body()).status_code == 200
    assert client.post(SIGN, json=order_sign_request()).status_code == 200


def test_with_auth_config_there_is_no_development_mode_warning(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    auth_app(tmp_path, [issuer_entry(EHR, [KEY])], public_base_url="https://cds.example.org")
    assert "DEVELOPMENT MODE" not in caplog.text
    assert f"trusted issuers: {EHR}" in caplog.text


def test_a_bad_auth_config_stops_start_up(tmp_path):
    with pytest.raises(AuthConfigError, match="jwks"):
        auth_app(tmp_path, [{"iss": EHR, "fhir_servers": []}])


def test_trust_will_not_start_when_the_routes_it_guards_are_gone(tmp_path):
    engine = create_database_engine(f"sqlite:///{tmp_path / 'cds.sqlite3'}")
    with pytest.raises(RuntimeError, match=r"cds\.feedback"):
        install_trust(Flask("renamed-routes"), Settings(), engine)
    engine.dispose()
