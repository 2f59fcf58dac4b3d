"""Every fixture scenario gives the cards clinicians signed off (fixtures/*/expected.json)."""

from __future__ import annotations

import json

import pytest

from cds_service.replay.core import load_scenarios, normalize, replay

from ..conftest import FIXTURES

SCENARIOS = load_scenarios(FIXTURES)


def send_with(client):
    def send(path: str, body: dict) -> tuple[int, dict]:
        response = client.post(path, json=body)
        return response.status_code, response.get_json()

    return send


def test_there_are_fixtures_to_replay():
    assert len(SCENARIOS) >= 20


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_fixture_answer_matches_expected(client, scenario):
    (result,) = replay([scenario], send_with(client))
    assert result.expected is not None, f"{scenario.name} has no expected.json"
    assert result.status == 200
    assert normalize(result.response) == normalize(result.expected)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_at_most_one_card_per_evaluated_order(client, scenario):
    (result,) = replay([scenario], send_with(client))
    context = scenario.request["context"]
    evaluated = context.get("selections") or context["draftOrders"]["entry"]
    # The card naming orders past CDS_MAX_DRAFT_ORDERS is about the call, not one order.
    order_cards = [
        card
        for card in result.response["cards"]
        if card["source"]["topic"]["code"] != "OrdersNotEvaluated"
    ]
    assert len(order_cards) <= len(evaluated)
    rated = [action["resource"]["id"] for action in result.response.get("systemActions", [])]
    assert len(rated) == len(set(rated)) <= len(evaluated)
    # Every carded order is also rated, but for a vertebral augmentation: not imaging.
    augmentations = sum(1 for entry in evaluated if _is_augmentation(entry, context))
    assert len(order_cards) <= len(rated) + augmentations


AUGMENTATION_CPT = {"22510", "22511", "22512", "22513", "22514", "22515"}


def _is_augmentation(evaluated: str | dict, context: dict) -> bool:
    """A draft order (a selection's reference or a Bundle entry) coded as augmentation."""
    for entry in context["draftOrders"]["entry"]:
        order = entry["resource"]
        if evaluated in (entry, f"{order['resourceType']}/{order['id']}"):
            codes = {coding.get("code") for coding in order.get("code", {}).get("coding", [])}
            return bool(codes & AUGMENTATION_CPT)
    return False


def test_a_changed_request_no_longer_matches(client):
    scenario = next(s for s in SCENARIOS if s.name == "seed-kyphoplasty-ct-thoracic-with-contrast")
    changed = json.loads(json.dumps(scenario.request))
    order = changed["context"]["draftOrders"]["entry"][0]["resource"]
    order["code"]["coding"][0]["code"] = "72128"  # CT thoracic spine WITHOUT contrast
    (result,) = replay([type(scenario)(scenario.name, scenario.folder, changed)], send_with(client))
    assert not result.passed


def test_every_suggested_order_is_a_valid_r4_service_request(client):
    """Suggestions are no longer proven call by call (render.py proves the knowledge's part
    at start-up): the EHR must still be able to store every one it is offered. A change of
    study keeps the draft's id; an added order has none yet."""
    from fhir.resources.R4B.servicerequest import ServiceRequest

    suggested = [
        (scenario, action)
        for scenario, result in zip(SCENARIOS, replay(SCENARIOS, send_with(client)), strict=True)
        for card in result.response["cards"]
        for suggestion in card.get("suggestions", [])
        for action in suggestion["actions"]
    ]
    assert len(suggested) >= 10
    for scenario, action in suggested:
        order = ServiceRequest.model_validate(action["resource"])
        assert order.status == "draft" and order.code.text and order.subject.reference
        draft_ids = {
            entry["resource"]["id"] for entry in scenario.request["context"]["draftOrders"]["entry"]
        }
        if action["type"] == "update":
            assert order.id in draft_ids
        else:
            assert action["type"] == "create" and order.id is None
