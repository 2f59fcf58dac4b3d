"""Bounded answers (issue 19 §4): a card lists at most 10 facts of the record and says how many
more there are; a call evaluates at most CDS_MAX_DRAFT_ORDERS imaging orders and says, in a
card of its own, how many it did not. Nothing is cut silently."""

from __future__ import annotations

import json
import logging
import re

import pytest

from cds_service import create_app
from cds_service.settings import Settings, SettingsError

from ..conftest import REFERENCE_DATE
from ..large_calls import CANCER_DISPLAY, SIGN, active_condition, order_sign

TOPIC_SYSTEM = "https://vcf-imaging-cds.example.org/fhir/card-topic"


def record_lines(card: dict) -> list[str]:
    """The "From the patient's record" list of a card's detail."""
    section = card["detail"].split("**From the patient's record:**\n", 1)[1].split("\n\n", 1)[0]
    return section.split("\n")


def topic(card: dict) -> str:
    return card["source"]["topic"]["code"]


def test_a_card_lists_ten_facts_and_names_the_cancer_recorded_after_thirty_fractures(client):
    response = client.post(SIGN, json=order_sign(1, fractures=30, cancer=True))

    assert response.status_code == 200
    (card,) = response.get_json()["cards"]
    lines = record_lines(card)
    assert len(lines) == 11
    assert lines[-1] == "- and 23 more in the record"  # 31 fractures, a kyphoplasty, a cancer
    assert CANCER_DISPLAY in lines[0]  # the red flag first, not the tail of a long list
    assert any(line.startswith("- Prior vertebroplasty/kyphoplasty") for line in lines)
    # Within the cap: every fact, no count.
    (card,) = client.post(SIGN, json=order_sign(1, fractures=7)).get_json()["cards"]
    lines = record_lines(card)
    assert len(lines) == 9 and not any("more in the record" in line for line in lines)


def test_a_cauda_equina_recorded_after_twelve_other_deficits_is_among_the_facts_listed(client):
    myelopathies = [
        active_condition(f"myelopathy-{n}", "G95.9", f"Myelopathy {n}", "2026-11-01")
        for n in range(12)
    ]
    cauda_equina = active_condition("ces", "G83.4", "Cauda equina syndrome", "2026-11-30")
    call = order_sign(1, more_conditions=[*myelopathies, cauda_equina])

    (card,) = client.post(SIGN, json=call).get_json()["cards"]

    assert card["indicator"] == "critical"
    lines = record_lines(card)
    assert len(lines) == 11 and lines[-1] == "- and 5 more in the record"
    assert any("Cauda equina syndrome" in line for line in lines[:-1])


def test_orders_past_the_cap_get_no_rating_and_one_warning_card_first_names_them(client):
    call = order_sign(25)
    for entry in call["context"]["draftOrders"]["entry"][20:]:
        order = entry["resource"]
        order["code"]["text"] = f"CT thoracic spine with contrast, {order['id']}"
    response = client.post(SIGN, json=call)

    assert response.status_code == 200
    body = response.get_json()
    first, *advice = body["cards"]
    assert topic(first) == "OrdersNotEvaluated"
    assert first["source"]["topic"]["system"] == TOPIC_SYSTEM
    assert first["indicator"] == "warning"
    assert first["summary"] == (
        "Orders not checked: 5 after the first 20. Review them before signing"
    )
    names = "; ".join(f"**CT thoracic spine with contrast, ct-{n}**" for n in range(20, 25))
    assert f"no ACR rating: {names}." in first["detail"]
    assert "red flags included, apply to them too" in first["detail"]
    assert len(advice) == 20 and "OrdersNotEvaluated" not in {topic(c) for c in advice}
    rated = [action["resource"]["id"] for action in body["systemActions"]]
    assert rated == [f"ct-{n}" for n in range(20)]
    # At the cap: every order evaluated, no such card.
    body = client.post(SIGN, json=order_sign(20)).get_json()
    assert len(body["cards"]) == 20 and len(body["systemActions"]) == 20
    assert "OrdersNotEvaluated" not in {topic(card) for card in body["cards"]}


def test_the_card_on_orders_not_checked_is_as_severe_as_the_most_severe_card(client):
    cauda_equina = active_condition("ces", "G83.4", "Cauda equina syndrome", "2026-11-30")
    call = order_sign(33, more_conditions=[cauda_equina])

    first, *advice = client.post(SIGN, json=call).get_json()["cards"]

    assert topic(first) == "OrdersNotEvaluated"
    assert {card["indicator"] for card in advice} == {"critical"}
    assert first["indicator"] == "critical"
    assert "**CT thoracic spine with contrast**; " * 9 in first["detail"]
    assert first["detail"].count("CT thoracic spine with contrast") == 10
    assert "; and 3 more." in first["detail"]


def test_the_cap_is_cds_max_draft_orders_and_the_audit_line_counts_what_it_left_out(
    database_url, caplog
):
    settings = Settings.from_environ(
        {
            "DATABASE_URL": database_url,
            "CDS_REFERENCE_DATE": REFERENCE_DATE.isoformat(),
            "CDS_MAX_DRAFT_ORDERS": "2",
        }
    )
    client = create_app(settings).test_client()
    caplog.set_level(logging.INFO, logger="cds_service.audit")

    body = client.post(SIGN, json=order_sign(3)).get_json()

    assert body["cards"][0]["summary"] == (
        "Orders not checked: 1 after the first 2. Review them before signing"
    )
    assert len(body["systemActions"]) == 2
    (line,) = [
        json.loads(record.getMessage())
        for record in caplog.records
        if record.name == "cds_service.audit"
    ]
    assert line["notEvaluated"] == 1
    assert len(line["ratings"]) == 2
    assert line["cards"] == 3


@pytest.mark.parametrize("name", ["CDS_MAX_DRAFT_ORDERS", "CDS_MAX_FEEDBACK_ENTRIES"])
def test_a_cap_of_zero_stops_the_service_naming_the_variable(name):
    with pytest.raises(SettingsError, match=re.escape(name)):
        Settings.from_environ({name: "0"})
