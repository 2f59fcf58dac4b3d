"""The trusted-issuer file (CDS_AUTH_CONFIG) and the fhirServer allow-list it carries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cds_service.auth import AuthConfigError, is_within_base, load_trust_config
from tests.conftest import SANDBOX_JWKS
from tests.trust_support import EHR, es384_key, issuer_entry, jwk_set, write_auth_config

REPO_ROOT = Path(__file__).resolve().parents[2]
SANDBOX = "https://sandbox.cds-hooks.org"


def test_the_example_config_trusts_the_cds_hooks_sandbox():
    config = load_trust_config(REPO_ROOT / "deploy/auth-config.example.json")
    sandbox = config.issuers[SANDBOX]
    assert sandbox.jwks_uri == f"{SANDBOX}/.well-known/jwks.json"
    assert dict(sandbox.jwks) == json.loads(SANDBOX_JWKS.read_text())
    assert sandbox.allows_fhir_server("https://launch.smarthealthit.org/v/r4/fhir")


def test_the_yaml_example_loads():
    config = load_trust_config(REPO_ROOT / "deploy/auth-config.example.yaml")
    issuer = config.issuers["https://ehr.example.org/"]
    assert issuer.jwks is None and issuer.jwks_uri.endswith("/jwks.json")
    assert issuer.fhir_servers == ("https://ehr.example.org/fhir",)


def test_issuers_are_found_by_their_exact_iss(tmp_path):
    path = write_auth_config(
        tmp_path / "auth.json",
        [issuer_entry(EHR, [es384_key()], ["https://ehr.example.org/fhir/"])],
    )
    config = load_trust_config(path)
    assert list(config.issuers) == [EHR]
    assert config.issuers[EHR].fhir_servers == ("https://ehr.example.org/fhir",)


def fetched(**changes: object) -> dict:
    """An issuer entry with a jwks_uri, changed as given (None removes a field)."""
    entry = {"iss": EHR, "jwks_uri": "https://x.example/j", "fhir_servers": []} | changes
    return {name: value for name, value in entry.items() if value is not None}


PRIVATE_JWK = es384_key().public_jwk | {"d": "x"}


@pytest.mark.parametrize(
    ("issuers", "named"),
    [
        ([], "issuers"),
        ([fetched(jwks_uri=None)], "jwks"),
        ([fetched(jwks_url="https://x.example/j")], "jwks_url"),
        ([fetched(jwks_uri="ftp://x.example/j")], "jwks_uri"),
        ([fetched(fhir_servers=None)], "fhir_servers"),
        ([fetched(fhir_servers=["ehr"])], "fhir_servers"),
        ([fetched(iss="")], "iss"),
        ([fetched(jwks={"keys": []})], "no usable"),
        ([fetched(jwks={"keys": [PRIVATE_JWK]})], "private"),
        ([fetched(), fetched(jwks_uri="https://y.example/j")], "twice"),
    ],
    ids=[
        "no-issuers",
        "no-keys",
        "typo",
        "ftp",
        "no-fhir-servers",
        "bad-fhir-url",
        "empty-iss",
        "empty-jwks",
        "private-key",
        "duplicate-iss",
    ],
)
def test_a_bad_config_stops_start_up_naming_the_file_and_field(tmp_path, issuers, named):
    path = write_auth_config(tmp_path / "auth.json", issuers)
    with pytest.raises(AuthConfigError, match=named) as error:
        load_trust_config(path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("text", ["{not json", "[]", '{"issuers": "x"}'])
def test_unreadable_json_is_refused(tmp_path, text):
    path = tmp_path / "auth.json"
    path.write_text(text)
    with pytest.raises(AuthConfigError, match="CDS_AUTH_CONFIG"):
        load_trust_config(path)


def test_yaml_is_read_by_its_suffix(tmp_path):
    path = tmp_path / "auth.yml"
    path.write_text(
        f"issuers:\n  - iss: {EHR}\n    jwks: {json.dumps(jwk_set(es384_key()))}\n"
        "    fhir_servers: [https://ehr.example.org/fhir]\n"
    )
    assert EHR in load_trust_config(path).issuers


BASE = "https://ehr.example/fhir"


@pytest.mark.parametrize(
    "url",
    [
        "https://ehr.example/fhir",
        "https://ehr.example/fhir/",
        "https://ehr.example/fhir/r4",
        "https://EHR.example/fhir/r4",
        "https://ehr.example:443/fhir",
        "HTTPS://ehr.example/fhir",
    ],
)
def test_the_base_and_urls_under_it_are_allowed(url):
    assert is_within_base(url, BASE)


@pytest.mark.parametrize(
    "url",
    [
        "https://ehr.example/fhirx",
        "https://ehr.example.evil/fhir",
        "https://ehr.example.evil",
        "https://evil.example/ehr.example/fhir",
        "http://ehr.example/fhir",
        "https://ehr.example:8443/fhir",
        "https://ehr.example/",
        "https://ehr.example/FHIR",
        "https://ehr.example@evil.example/fhir",
        "https://user:pw@ehr.example/fhir",
        "https://ehr.example/fhir/../admin",
        "https://ehr.example/fhir/%2e%2e/admin",
        "https://ehr.example/fhir/r4%2F..%2F..%2Fadmin",
        "https://ehr.example/fhir/..%5Cadmin",
        "https://ehr.example/fhir?_format=json",
        "https://ehr.example/fhir#x",
        "https://ehr.example:99999/fhir",
        "file:///etc/passwd",
        "ehr.example/fhir",
        "",
    ],
)
def test_lookalikes_and_escapes_are_refused(url):
    assert not is_within_base(url, BASE)


def test_an_issuer_without_fhir_servers_allows_none(tmp_path):
    path = write_auth_config(tmp_path / "auth.json", [issuer_entry(EHR, [es384_key()], [])])
    assert not load_trust_config(path).issuers[EHR].allows_fhir_server(BASE)
