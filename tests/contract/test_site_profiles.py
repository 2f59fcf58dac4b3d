"""Per-issuer site profiles (presentation.py), end to end with real signed JWTs: each
fixtures/site-profiles/<scenario> holds the issuer's site settings (`site.json`), the request
and the reviewed answer. `UPDATE_SITE_FIXTURES=1` rewrites the answers, after a review."""

from __future__ import annotations

import json
import logging
import os

import pytest
import sqlalchemy as sa

from cds_service.auth import AuthConfigError
from cds_service.db import create_database_engine
from cds_service.replay.core import load_scenarios, normalize
from tests.trust_support import (
    EHR,
    auth_app,
    bearer,
    claims,
    es384_key,
    issuer_entry,
    order_sign_request,
    sign,
    write_auth_config,
)

from ..conftest import FIXTURES, REFERENCE_DATE

SCENARIOS = load_scenarios(FIXTURES / "site-profiles")
LOCAL = "http://localhost"
KEY = es384_key()
UPDATE = os.environ.get("UPDATE_SITE_FIXTURES") == "1"


def issuer_of(name: str) -> str:
    return f"https://{name}.site.example.org"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    issuers = [
        issuer_entry(issuer_of(s.name), [KEY], **json.loads((s.folder / "site.json").read_text()))
        for s in SCENARIOS
    ]
    app = auth_app(tmp_path_factory.mktemp("sites"), issuers, reference_date=REFERENCE_DATE)
    return app.test_client()


def send(client, scenario) -> dict:
    path = f"/cds-services/{scenario.service_id}"
    token = sign(KEY, claims(LOCAL + path, iss=issuer_of(scenario.name)))
    response = client.post(path, json=scenario.request, headers=bearer(token))
    assert response.status_code == 200
    return response.get_json()


def test_every_profile_has_a_scenario():
    sites = [json.loads((s.folder / "site.json").read_text()) for s in SCENARIOS]
    assert {site.get("profile", "cds-hooks") for site in sites} == {"cds-hooks", "epic"}
    assert any(site.get("silent") for site in sites)
    assert any(site.get("orderables") for site in sites)
    assert any(site.get("min_indicator") for site in sites)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_site_profile_answer_matches_expected(client, scenario):
    answer = send(client, scenario)
    if UPDATE:
        scenario.expected_path.write_text(json.dumps(normalize(answer), indent=2) + "\n")
    assert normalize(answer) == normalize(scenario.expected())


def test_epic_suggestions_are_single_create_or_delete_actions_with_any(client):
    epic = next(s for s in SCENARIOS if s.name == "epic-seed")
    (card,) = send(client, epic)["cards"]
    assert card["selectionBehavior"] == "any"
    kinds = [suggestion["actions"][0]["type"] for suggestion in card["suggestions"]]
    assert all(len(suggestion["actions"]) == 1 for suggestion in card["suggestions"])
    assert kinds.count("delete") == 1 and set(kinds) == {"create", "delete"}


def test_a_mapped_study_is_ordered_by_the_sites_orderable(client):
    mapped = next(s for s in SCENARIOS if s.name == "epic-mapped-orderables")
    site = json.loads((mapped.folder / "site.json").read_text())
    (card,) = send(client, mapped)["cards"]
    codes = {
        suggestion["label"]: suggestion["actions"][0]["resource"]["code"]
        for suggestion in card["suggestions"]
        if suggestion["actions"][0]["type"] == "create"
    }
    ct = codes["CT thoracic spine without IV contrast"]
    assert ct["coding"] == [site["orderables"]["72128"]]
    assert ct["text"] == "CT thoracic spine without IV contrast"


def test_silent_shows_nothing_and_writes_no_rating(client):
    silent = next(s for s in SCENARIOS if s.name == "silent")
    assert send(client, silent) == {"cards": []}


def test_a_silent_sites_cards_are_reported_as_would_have_fired(tmp_path):
    from cds_service.feedback.report import build_report
    from cds_service.web.state import service_state

    silent = next(s for s in SCENARIOS if s.name == "silent")
    issuer = issuer_entry(issuer_of(silent.name), [KEY], silent=True)
    app = auth_app(tmp_path, [issuer], reference_date=REFERENCE_DATE)
    with app.test_client() as client:
        assert send(client, silent) == {"cards": []}
    with app.app_context():
        assert service_state().feedback.flush(timeout=30)
    engine = create_database_engine(f"sqlite:///{tmp_path / 'cds.sqlite3'}")
    (topic,) = build_report(engine).topics
    engine.dispose()
    assert (topic.topic, topic.would_have_fired, topic.issued) == ("ContrastNotIndicated", 1, 0)


def test_an_issuer_with_its_own_audience_is_checked_against_it(tmp_path):
    audience = "https://cds.example-hospital.org/cds-services"
    app = auth_app(tmp_path, [issuer_entry(EHR, [KEY], audience=audience)])
    path = "/cds-services/vcf-imaging-order-sign"
    own = sign(KEY, claims(audience))
    called_url = sign(KEY, claims(LOCAL + path))
    with app.test_client() as client:
        ok = client.post(path, json=order_sign_request(), headers=bearer(own))
        refused = client.post(path, json=order_sign_request(), headers=bearer(called_url))
    assert ok.status_code == 200
    assert refused.status_code == 401


@pytest.mark.parametrize(
    ("field", "value"),
    [("profile", "cerner"), ("min_indicator", "loud"), ("orderables", {"72128": {"code": "1"}})],
)
def test_a_bad_site_setting_stops_the_service_naming_issuer_and_field(tmp_path, field, value):
    with pytest.raises(AuthConfigError) as raised:
        auth_app(tmp_path, [issuer_entry(EHR, [KEY], **{field: value})])
    assert f"issuer '{EHR}'" in str(raised.value) and field in str(raised.value)


def test_inline_keys_without_a_jwks_uri_are_warned_about_at_start_up(tmp_path, caplog):
    from cds_service.auth.config import load_trust_config

    config = write_auth_config(tmp_path / "auth.json", [issuer_entry(EHR, [KEY])])
    with caplog.at_level(logging.WARNING, logger="cds_service.auth.config"):
        load_trust_config(config)
    (warning,) = [r.getMessage() for r in caplog.records]
    assert EHR in warning and "jku" in warning


def test_an_epic_sites_accepted_suggestion_counts_as_a_change_of_the_order(tmp_path):
    from cds_service.db import suggestion_issued_table
    from cds_service.web.state import service_state

    epic = next(s for s in SCENARIOS if s.name == "epic-seed")
    app = auth_app(tmp_path, [issuer_entry(issuer_of(epic.name), [KEY], profile="epic")])
    with app.test_client() as client:
        (card,) = send(client, epic)["cards"]
    with app.app_context():
        assert service_state().feedback.flush(timeout=30)
    engine = create_database_engine(f"sqlite:///{tmp_path / 'cds.sqlite3'}")
    with engine.connect() as connection:
        rows = connection.execute(sa.select(suggestion_issued_table)).all()
    engine.dispose()
    created = [s["uuid"] for s in card["suggestions"] if s["actions"][0]["type"] == "create"]
    assert sorted(row.suggestion_uuid for row in rows) == sorted(created)
    assert {(row.change, row.order_reference) for row in rows} == {
        ("changed", "ServiceRequest/ct-t-w")
    }
