"""POST /cds-services/<id>/feedback: validated, stored durably, once per identical entry."""

from __future__ import annotations

import copy
import logging

import pytest
import sqlalchemy as sa

from cds_service.cdshooks.feedback import CARD_ID_MAX, EPIC_REASON_CATEGORY, TIMESTAMP_MAX
from cds_service.db import feedback_override_reason_table, feedback_table

from ..conftest import load_example, load_feedback_sample

FEEDBACK = "/cds-services/vcf-imaging-order-select/feedback"


def stored_rows(database_url: str, table: sa.Table = feedback_table) -> list[dict]:
    engine = sa.create_engine(database_url)
    with engine.connect() as connection:
        rows = [dict(r._mapping) for r in connection.execute(sa.select(table))]
    engine.dispose()
    return rows


def stored_reasons(database_url: str) -> dict[str, list[tuple]]:
    """Each card's stored reasons, in order: (system, code, display, user_comment)."""
    by_hash = {row["entry_hash"]: row["card_uuid"] for row in stored_rows(database_url)}
    reasons: dict[str, list[tuple]] = {}
    rows = stored_rows(database_url, feedback_override_reason_table)
    for row in sorted(rows, key=lambda r: (r["entry_hash"], r["position"])):
        reasons.setdefault(by_hash[row["entry_hash"]], []).append(
            (row["system"], row["code"], row["display"], row["user_comment"])
        )
    return reasons


@pytest.mark.parametrize(
    "example",
    [
        "feedback-accepted.json",
        "feedback-overridden-no-reason.json",
        "feedback-overridden-with-reason.json",
    ],
)
def test_feedback_in_the_spec_shapes_is_stored(client, database_url, example):
    body = load_example(example)
    response = client.post(FEEDBACK, json=body)
    assert response.status_code == 200
    assert response.get_json() == {"received": 1, "stored": 1}
    (row,) = stored_rows(database_url)
    entry = body["feedback"][0]
    assert row["card_uuid"] == entry["card"]
    assert row["outcome"] == entry["outcome"]
    assert row["service_id"] == "vcf-imaging-order-select"
    assert row["outcome_timestamp"] == entry["outcomeTimestamp"]


def test_override_reason_and_comment_are_kept(client, database_url):
    client.post(FEEDBACK, json=load_example("feedback-overridden-with-reason.json"))
    (row,) = stored_rows(database_url)
    assert row["override_reason_code"] == "pt-declined"
    assert row["override_user_comment"] == "Free text typed by the clinician."


def test_accepted_suggestions_are_kept(client, database_url):
    client.post(FEEDBACK, json=load_example("feedback-accepted.json"))
    (row,) = stored_rows(database_url)
    assert row["accepted_suggestions"] == ["7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"]


def test_a_repeated_identical_entry_is_stored_once(client, database_url):
    body = load_example("feedback-accepted.json")
    assert client.post(FEEDBACK, json=body).get_json() == {"received": 1, "stored": 1}
    assert client.post(FEEDBACK, json=body).get_json() == {"received": 1, "stored": 0}
    assert len(stored_rows(database_url)) == 1


def test_feedback_survives_a_restart_of_the_service(database_url):
    from cds_service import create_app
    from cds_service.settings import Settings

    body = load_example("feedback-overridden-no-reason.json")
    create_app(Settings(database_url=database_url)).test_client().post(FEEDBACK, json=body)
    again = create_app(Settings(database_url=database_url)).test_client()
    assert again.post(FEEDBACK, json=body).get_json()["stored"] == 0
    assert len(stored_rows(database_url)) == 1


def test_several_entries_in_one_call_are_all_stored(client, database_url):
    accepted = load_example("feedback-accepted.json")["feedback"][0]
    overridden = load_example("feedback-overridden-no-reason.json")["feedback"][0]
    response = client.post(FEEDBACK, json={"feedback": [accepted, overridden]})
    assert response.get_json() == {"received": 2, "stored": 2}


def _accepted() -> dict:
    return copy.deepcopy(load_example("feedback-accepted.json"))


@pytest.mark.parametrize(
    ("mutate", "mentions"),
    [
        (lambda b: b.pop("feedback"), "feedback"),
        (lambda b: b.__setitem__("feedback", []), "feedback"),
        (lambda b: b["feedback"][0].pop("card"), "card"),
        (lambda b: b["feedback"][0].__setitem__("outcome", "ignored"), "outcome"),
        (lambda b: b["feedback"][0].pop("acceptedSuggestions"), "acceptedSuggestions"),
        (lambda b: b["feedback"][0].pop("outcomeTimestamp"), "outcomeTimestamp"),
        (
            lambda b: b["feedback"][0].__setitem__("outcomeTimestamp", "yesterday"),
            "outcomeTimestamp",
        ),
        (
            lambda b: b["feedback"][0].__setitem__("outcomeTimestamp", "2021-12-11T10:05:31"),
            "outcomeTimestamp",
        ),
        (lambda b: b["feedback"][0].__setitem__("acceptedSuggestions", [{}]), "id"),
        # Longer than the feedback table stores them: a 400, not a database error (500).
        (lambda b: b["feedback"][0].__setitem__("card", "c" * (CARD_ID_MAX + 1)), "card"),
        (
            lambda b: b["feedback"][0].__setitem__(
                "outcomeTimestamp", "2021-12-11T10:05:31." + "1" * TIMESTAMP_MAX + "Z"
            ),
            "outcomeTimestamp",
        ),
        (lambda b: b["feedback"][0].__setitem__("overrideReason", {}), "overrideReason"),
    ],
)
def test_malformed_feedback_is_400_and_nothing_is_stored(client, database_url, mutate, mentions):
    body = _accepted()
    mutate(body)
    response = client.post(FEEDBACK, json=body)
    assert response.status_code == 400
    assert mentions in response.get_json()["issue"][0]["diagnostics"] + str(
        response.get_json()["issue"][0].get("expression")
    )
    assert stored_rows(database_url) == []


EPIC_REASON_SYSTEM = "http: //example.org/cds-services/fhir/CodeSystem/override-reasons"


@pytest.mark.parametrize(
    ("sample", "system", "code"),
    [
        ("epic-overridden-reason.json", EPIC_REASON_SYSTEM, "contraindicated"),
        ("epic-overridden-extension.json", EPIC_REASON_CATEGORY, "45"),
        ("epic-accepted.json", None, None),
    ],
)
def test_epic_documented_feedback_is_stored_with_its_reason(
    client, database_url, sample, system, code
):
    body = load_feedback_sample(sample)
    response = client.post(FEEDBACK, json=body)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"received": 1, "stored": 1}
    (row,) = stored_rows(database_url)
    assert (row["card_uuid"], row["outcome"]) == ("123456", body["feedback"][0]["outcome"])
    assert (row["override_reason_system"], row["override_reason_code"]) == (system, code)


def test_an_epic_batch_for_several_cards_is_stored_once_per_entry(client, database_url):
    body = load_feedback_sample("epic-batch.json")
    assert client.post(FEEDBACK, json=body).get_json() == {"received": 3, "stored": 3}
    assert client.post(FEEDBACK, json=body).get_json() == {"received": 3, "stored": 0}
    rows = sorted(stored_rows(database_url), key=lambda row: row["card_uuid"])
    assert [(r["card_uuid"], r["outcome"], r["override_reason_code"]) for r in rows] == [
        ("123456", "accepted", None),
        ("123457", "overridden", "contraindicated"),
        ("123458", "overridden", "45"),
    ]


def test_every_reason_of_an_epic_batch_is_stored_with_display_and_comment(client, database_url):
    client.post(FEEDBACK, json=load_feedback_sample("epic-batch.json"))
    comment = "User Entered Free Text"
    assert stored_reasons(database_url) == {
        "123457": [(EPIC_REASON_SYSTEM, "contraindicated", "bad", comment)],
        "123458": [(EPIC_REASON_CATEGORY, "45", "Does not meet criteria", comment)],
    }


def test_an_entry_with_several_reasons_keeps_them_all_in_the_order_sent(client, database_url):
    spec = load_example("feedback-overridden-with-reason.json")
    entry = spec["feedback"][0]
    epic = load_feedback_sample("epic-overridden-extension.json")["feedback"][0]
    entry["overrideReasons"] = [epic["overrideReasons"], {"reason": {"code": "patrefused"}}]
    assert client.post(FEEDBACK, json=spec).get_json() == {"received": 1, "stored": 1}
    assert client.post(FEEDBACK, json=spec).get_json() == {"received": 1, "stored": 0}

    (reasons,) = stored_reasons(database_url).values()
    assert [(system, code) for system, code, _, _ in reasons] == [
        ("https://ehr.example.org/fhir/CodeSystem/override-reason", "pt-declined"),
        (EPIC_REASON_CATEGORY, "45"),
        (None, "patrefused"),
    ]
    (row,) = stored_rows(database_url)
    assert row["override_reason_code"] == "pt-declined"  # the first, in the first release's column


def test_override_reasons_as_a_list_are_read_too(client, database_url):
    body = load_feedback_sample("epic-overridden-reason.json")
    entry = body["feedback"][0]
    entry["overrideReasons"] = [entry["overrideReasons"]]
    assert client.post(FEEDBACK, json=body).get_json() == {"received": 1, "stored": 1}
    (row,) = stored_rows(database_url)
    assert row["override_reason_code"] == "contraindicated"


def test_free_text_comments_are_never_logged(client, caplog):
    with caplog.at_level(logging.DEBUG):
        client.post(FEEDBACK, json=load_feedback_sample("epic-batch.json"))
        bad = load_feedback_sample("epic-overridden-extension.json")
        bad["feedback"][0]["overrideReasons"]["extension"][EPIC_REASON_CATEGORY] = ["45"]
        answer = client.post(FEEDBACK, json=bad)
    assert answer.status_code == 400
    assert "User Entered Free Text" not in caplog.text + answer.get_data(as_text=True)


def _epic_overridden() -> dict:
    return load_feedback_sample("epic-overridden-extension.json")


def _reasons_of(body: dict) -> dict:
    return body["feedback"][0]["overrideReasons"]


@pytest.mark.parametrize(
    ("mutate", "says"),
    [
        (lambda b: b["feedback"][0].__setitem__("overrideReasons", []), "non-empty list"),
        (lambda b: b["feedback"][0].__setitem__("overrideReasons", "45"), "non-empty list"),
        (lambda b: b["feedback"][0].__setitem__("overrideReasons", {}), "needs a reason"),
        (lambda b: b["feedback"][0].__setitem__("overrideReasons", [{}]), "needs a reason"),
        (lambda b: b["feedback"][0].__setitem__("overrideReasons", ["45"]), "object"),
        (lambda b: _reasons_of(b).__setitem__("reason", {"system": "x"}), "Missing data"),
        (lambda b: _reasons_of(b).__setitem__("extension", ["45"]), "mapping"),
        (
            lambda b: _reasons_of(b)["extension"].__setitem__(EPIC_REASON_CATEGORY, {"id": 45}),
            "must be a string",
        ),
    ],
)
def test_malformed_epic_reasons_are_400_naming_the_field(client, database_url, mutate, says):
    body = _epic_overridden()
    mutate(body)
    response = client.post(FEEDBACK, json=body)
    assert response.status_code == 400
    issue = response.get_json()["issue"][0]
    assert "overrideReasons" in issue["diagnostics"] and says in issue["diagnostics"]
    assert stored_rows(database_url) == []


def test_feedback_body_not_json_is_400(client):
    response = client.post(FEEDBACK, data="nope", content_type="application/json")
    assert response.status_code == 400


def _seed_call(client) -> dict:
    import json

    from ..conftest import FIXTURES

    request = json.loads(
        (FIXTURES / "seed-kyphoplasty-ct-thoracic-with-contrast" / "request.json").read_text()
    )
    response = client.post("/cds-services/vcf-imaging-order-select", json=request)
    assert response.status_code == 200
    return response.get_json()


def _flush_issued_cards(app) -> None:
    """Issued-card rows are written by a background thread: wait for it, never sleep."""
    from cds_service.web.state import service_state

    with app.app_context():
        assert service_state().feedback.flush(timeout=30)


def test_issued_cards_are_remembered_by_topic_for_the_feedback_report(app, client, database_url):
    from cds_service.db import card_issued_table

    card = _seed_call(client)["cards"][0]
    _flush_issued_cards(app)
    engine = sa.create_engine(database_url)
    with engine.connect() as connection:
        rows = [dict(r._mapping) for r in connection.execute(sa.select(card_issued_table))]
    engine.dispose()
    assert [(r["card_uuid"], r["topic"], r["indicator"]) for r in rows] == [
        (card["uuid"], "ContrastNotIndicated", "warning")
    ]


def test_an_accepted_suggestion_is_reported_as_an_accepted_change_of_the_order(
    app, client, database_url
):
    from cds_service.db import suggestion_issued_table
    from cds_service.feedback.report import build_report, render_text

    card = _seed_call(client)["cards"][0]
    _flush_issued_cards(app)
    suggestions = {
        row["suggestion_uuid"]: row for row in stored_rows(database_url, suggestion_issued_table)
    }
    assert sorted(suggestions) == sorted(s["uuid"] for s in card["suggestions"])
    ct = card["suggestions"][0]
    assert suggestions[ct["uuid"]] == {
        "suggestion_uuid": ct["uuid"],
        "card_uuid": card["uuid"],
        "change": "changed",
        "order_reference": "ServiceRequest/ct-t-w",  # the draft order of the seed request
        "study": "CT thoracic spine without IV contrast",
    }

    accepted = {
        "card": card["uuid"],
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": ct["uuid"]}],
        "outcomeTimestamp": "2026-12-03T10:00:00Z",
    }
    assert client.post(FEEDBACK, json={"feedback": [accepted]}).status_code == 200
    engine = sa.create_engine(database_url)
    report = render_text(build_report(engine))
    engine.dispose()
    assert "    changed to CT thoracic spine without IV contrast: 1" in report


def test_a_failing_statistics_write_does_not_cost_the_clinician_the_card(
    app, client, database_url, caplog
):
    from cds_service.db import card_issued_table

    engine = sa.create_engine(database_url)
    with engine.begin() as connection:
        card_issued_table.drop(connection)
    engine.dispose()
    with caplog.at_level(logging.WARNING, logger="cds_service"):
        card = _seed_call(client)["cards"][0]
        _flush_issued_cards(app)
    assert card["summary"]
    (warning,) = [r for r in caplog.records if r.name == "cds_service.feedback.issued_cards"]
    assert "vcf-imaging-order-select" in warning.getMessage()
    assert "OperationalError" in warning.getMessage()
    assert card["uuid"] not in warning.getMessage()


def test_the_length_limits_are_the_columns_lengths():
    assert feedback_table.c.card_uuid.type.length == CARD_ID_MAX
    assert feedback_table.c.outcome_timestamp.type.length == TIMESTAMP_MAX
