"""The CDS client's JWT (CDS Hooks 2.0 §Trusting CDS Clients), signed with real keys."""

from __future__ import annotations

import time
from pathlib import Path

import jwt as pyjwt
import pytest
import requests
from jwt.warnings import InsecureKeyLengthWarning

from cds_service.auth import JwtVerifier, TokenRejected, build_verifier
from cds_service.db import create_database_engine
from cds_service.settings import Settings, SettingsError
from tests.trust_support import (
    EHR,
    OTHER_EHR,
    claims,
    es384_key,
    hs384_with_public_key,
    issuer_entry,
    rs384_key,
    sign,
    tampered,
    unsigned,
    write_auth_config,
)

URL = "https://cds.example.org/cds-services/vcf-imaging-order-sign"
JWKS_URI = f"{EHR}/.well-known/jwks.json"
EC_KEY, RSA_KEY, OTHER_KEY = es384_key(), rs384_key(), es384_key()


@pytest.fixture
def verifier(tmp_path: Path) -> JwtVerifier:
    config = write_auth_config(
        tmp_path / "auth.json",
        [
            issuer_entry(EHR, [EC_KEY, RSA_KEY], jwks_uri=JWKS_URI),
            issuer_entry(OTHER_EHR, [OTHER_KEY]),
        ],
    )
    engine = create_database_engine(f"sqlite:///{tmp_path / 'cds.sqlite3'}")
    return build_verifier(config, engine, requests.Session(), ("ES384", "RS384"), 60)


def rejection(verifier: JwtVerifier, token: str, audience: str = URL) -> str:
    with pytest.raises(TokenRejected) as refused:
        verifier.verify(token, audience)
    return refused.value.reason


@pytest.mark.parametrize("key", [EC_KEY, RSA_KEY], ids=["ES384", "RS384"])
def test_a_valid_token_names_its_trusted_issuer(verifier, key):
    assert verifier.verify(sign(key, claims(URL)), URL).iss == EHR


def test_the_sandbox_header_with_the_configured_jku_is_accepted(verifier):
    token = sign(EC_KEY, claims(URL), jku=JWKS_URI)
    assert verifier.verify(token, URL).iss == EHR


def test_aud_may_be_a_list_holding_the_url_called(verifier):
    token = sign(EC_KEY, claims([URL, "https://elsewhere.example/x"]))
    assert verifier.verify(token, URL).iss == EHR


def test_alg_none_is_refused(verifier):
    assert "not allowed" in rejection(verifier, unsigned(claims(URL), kid=EC_KEY.kid))


@pytest.mark.parametrize("key", [EC_KEY, RSA_KEY], ids=["EC", "RSA"])
def test_hs384_signed_with_the_public_key_is_refused(verifier, key):
    assert "not allowed" in rejection(verifier, hs384_with_public_key(key, claims(URL)))


def test_symmetric_algorithms_cannot_be_configured():
    with pytest.raises(SettingsError, match="asymmetric"):
        Settings(jwt_algorithms=("ES384", "HS384")).validate()


def test_rs256_is_refused_when_only_es384_and_rs384_are_allowed(verifier):
    token = pyjwt.encode(
        claims(URL), RSA_KEY.private, algorithm="RS256", headers={"kid": RSA_KEY.kid}
    )
    assert "not allowed" in rejection(verifier, token)


@pytest.mark.parametrize(
    ("audience", "called"),
    [
        ("https://cds.example.org/cds-services/vcf-imaging-order-select", URL),
        ("https://cds.example.org/cds-services", URL),
        (URL + "/feedback", URL),
        ("http://cds.example.org/cds-services/vcf-imaging-order-sign", URL),
    ],
)
def test_an_audience_other_than_the_exact_url_called_is_refused(verifier, audience, called):
    assert rejection(verifier, sign(EC_KEY, claims(audience)), called) == (
        "audience is not the URL called"
    )


def test_an_expired_token_is_refused(verifier):
    now = int(time.time())
    token = sign(EC_KEY, claims(URL, exp=now - 61, iat=now - 400))
    assert rejection(verifier, token) == "expired"


def test_a_token_issued_in_the_future_is_refused(verifier):
    now = int(time.time())
    token = sign(EC_KEY, claims(URL, iat=now + 120, exp=now + 420))
    assert rejection(verifier, token) == "issued in the future"


def test_small_clock_skew_is_tolerated(verifier):
    now = int(time.time())
    token = sign(EC_KEY, claims(URL, iat=now + 30, exp=now + 330))
    assert verifier.verify(token, URL).iss == EHR


def test_an_unknown_issuer_is_refused(verifier):
    token = sign(EC_KEY, claims(URL, iss="https://rogue.example"))
    assert rejection(verifier, token) == "issuer not trusted"


def test_an_unknown_kid_is_refused(verifier):
    assert rejection(verifier, sign(es384_key(), claims(URL))) == "kid not among the issuer's keys"


def test_another_trusted_issuers_key_cannot_sign_for_this_issuer(verifier):
    own_kid = sign(OTHER_KEY, claims(URL), kid=EC_KEY.kid)
    other_kid = sign(OTHER_KEY, claims(URL))
    assert rejection(verifier, own_kid) == "bad signature"
    assert rejection(verifier, other_kid) == "kid not among the issuer's keys"


def test_an_ec_key_cannot_verify_an_rs384_header(verifier):
    token = sign(rs384_key(), claims(URL), kid=EC_KEY.kid)
    assert rejection(verifier, token) == "key is published for another algorithm"


@pytest.mark.parametrize(
    "changes",
    [{"aud": URL + "x"}, {"exp": int(time.time()) + 86400}, {"iss": OTHER_EHR}],
    ids=["aud", "exp", "iss"],
)
def test_a_tampered_payload_is_refused(verifier, changes):
    token = sign(EC_KEY, claims(URL))
    assert rejection(verifier, tampered(token, **changes)) in (
        "bad signature",
        "kid not among the issuer's keys",
    )


def test_a_foreign_jku_is_refused_and_never_fetched(verifier):
    token = sign(EC_KEY, claims(URL), jku="https://attacker.example/jwks.json")
    assert rejection(verifier, token) == "jku is not the issuer's configured jwks_uri"


def test_a_jku_is_refused_for_an_issuer_without_jwks_uri(verifier):
    token = sign(OTHER_KEY, claims(URL, iss=OTHER_EHR), jku=JWKS_URI)
    assert rejection(verifier, token) == "jku is not the issuer's configured jwks_uri"


def test_a_replayed_jti_is_refused(verifier):
    token = sign(EC_KEY, claims(URL))
    verifier.verify(token, URL)
    assert rejection(verifier, token) == "jti already used (replay)"


def test_a_new_token_reusing_a_jti_is_refused(verifier):
    first = claims(URL)
    verifier.verify(sign(EC_KEY, first), URL)
    again = sign(RSA_KEY, claims(URL, jti=first["jti"]))
    assert rejection(verifier, again) == "jti already used (replay)"


def test_the_same_jti_from_two_issuers_is_two_tokens(verifier):
    jti = "shared-nonce"
    assert verifier.verify(sign(EC_KEY, claims(URL, jti=jti)), URL).iss == EHR
    other = sign(OTHER_KEY, claims(URL, iss=OTHER_EHR, jti=jti))
    assert verifier.verify(other, URL).iss == OTHER_EHR


def test_a_refused_token_does_not_use_up_its_jti(verifier):
    payload = claims(URL)
    rejection(verifier, sign(EC_KEY, payload), "https://cds.example.org/other")
    assert verifier.verify(sign(EC_KEY, payload), URL).iss == EHR


@pytest.mark.parametrize("missing", ["iss", "aud", "exp", "iat", "jti"])
def test_every_required_claim_must_be_present(verifier, missing):
    payload = claims(URL)
    del payload[missing]
    assert rejection(verifier, sign(EC_KEY, payload)) in (
        "a required claim is missing",
        "issuer not trusted",
    )


def test_a_token_without_kid_is_refused(verifier):
    token = pyjwt.encode(claims(URL), EC_KEY.private, algorithm="ES384")
    assert rejection(verifier, token) == "no kid"


def test_a_token_typed_other_than_jwt_is_refused(verifier):
    assert rejection(verifier, sign(EC_KEY, claims(URL), typ="at+jwt")) == "typ is not JWT"


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "e30.e30.", "...."])
def test_garbage_is_refused(verifier, garbage):
    assert rejection(verifier, garbage)


def test_a_short_rsa_key_is_refused(tmp_path):
    weak = rs384_key(bits=1024)
    config = write_auth_config(tmp_path / "auth.json", [issuer_entry(EHR, [weak])])
    engine = create_database_engine(f"sqlite:///{tmp_path / 'cds.sqlite3'}")
    verifier = build_verifier(config, engine, requests.Session(), ("RS384",), 60)
    with pytest.warns(InsecureKeyLengthWarning):  # PyJWT signs, and says what it thinks
        token = sign(weak, claims(URL))
    assert rejection(verifier, token) == "key does not fit the algorithm"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        (lambda now: {"iat": now, "exp": now + 601}, "lifetime (exp - iat) over 600 s"),
        (lambda now: {"iat": now, "exp": 2**31 + 5}, "lifetime (exp - iat) over 600 s"),
        (lambda now: {"iat": now, "exp": 2**63}, "lifetime (exp - iat) over 600 s"),
        (
            lambda now: {"iat": now, "exp": float(now + 300)},
            "exp and iat must be whole numbers of seconds",
        ),
        (
            lambda now: {"iat": float(now), "exp": now + 300},
            "exp and iat must be whole numbers of seconds",
        ),
    ],
    ids=["601-s", "past-2-31", "past-2-63", "float-exp", "float-iat"],
)
def test_exp_is_whole_seconds_within_the_lifetime_limit(verifier, changes, reason):
    """Values the jti table could not store (PostgreSQL integer past 2**31) never reach it."""
    now = int(time.time())  # at run time: collection may be minutes earlier
    assert rejection(verifier, sign(EC_KEY, claims(URL, **changes(now)))) == reason


def test_a_string_exp_is_refused(verifier):
    token = sign(EC_KEY, claims(URL, exp=str(int(time.time()) + 300)))
    assert rejection(verifier, token) != ""
    with pytest.raises(TokenRejected):
        verifier.verify(token, URL)
