"""Every suggestion of every fixture, applied as the sandbox and the Argonaut "CDS Hooks for
PAMA" IG apply it, then the hook sent again: the changed order must be rated Usually
Appropriate, or the new answer must carry a card saying why not; and the rating the
suggestion announced must be the rating the next call gives."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cds_service.replay.core import load_scenarios

from ..conftest import FIXTURES

SCENARIOS = load_scenarios(FIXTURES)
RATING_URL = "https://vcf-imaging-cds.example.org/fhir/acr-appropriateness"
PAMA_RATING = "http://fhir.org/argonaut/Extension/pama-rating"
ADDED_ID = "added-by-suggestion"


def suggestions_of(scenario) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{scenario.name}: {suggestion['label']}", suggestion)
        for card in (scenario.expected() or {}).get("cards", [])
        for suggestion in card.get("suggestions", [])
    ]


APPLIED = [
    pytest.param(scenario, suggestion, id=name)
    for scenario in SCENARIOS
    for name, suggestion in suggestions_of(scenario)
]


def test_fixtures_offer_suggestions_of_both_kinds():
    kinds = {suggestion["actions"][0]["type"] for _, suggestion in (p.values for p in APPLIED)}
    assert kinds == {"update", "create"}
    assert len(APPLIED) >= 40


@pytest.mark.parametrize(("scenario", "suggestion"), APPLIED)
def test_the_applied_suggestion_is_rated_as_it_announced(client, scenario, suggestion):
    (action,) = suggestion["actions"]  # one action per suggestion
    request, order_id = apply(scenario.request, action)

    answer = client.post(scenario_path(scenario), json=request)

    assert answer.status_code == 200
    body = answer.get_json()
    rating = rating_of(body, order_id)
    announced = own_rating(action["resource"]["extension"])
    assert rating["category"] == announced["category"], "the suggestion announced another rating"
    if rating["category"] != "usually-appropriate":
        # Not Usually Appropriate: a card must say why (its topic names the message).
        topics = {card["source"]["topic"]["code"] for card in body["cards"]}
        assert rating.get("topic") in topics


def apply(request: dict[str, Any], action: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The draft replaced by the update's resource, or the created order added beside it
    (and selected, on order-select); returns the request and the changed order's id."""
    changed = copy.deepcopy(request)
    entries = changed["context"]["draftOrders"]["entry"]
    resource = copy.deepcopy(action["resource"])
    if action["type"] == "update":
        (index,) = [i for i, e in enumerate(entries) if e["resource"]["id"] == resource["id"]]
        entries[index] = {"resource": resource}
        return changed, resource["id"]
    assert action["type"] == "create"
    resource["id"] = ADDED_ID
    entries.append({"resource": resource})
    if "selections" in changed["context"]:
        changed["context"]["selections"] = [f"ServiceRequest/{ADDED_ID}"]
    return changed, ADDED_ID


def scenario_path(scenario) -> str:
    service = (
        "vcf-imaging-order-select"
        if scenario.request["hook"] == "order-select"
        else ("vcf-imaging-order-sign")
    )
    return f"/cds-services/{service}"


def rating_of(body: dict[str, Any], order_id: str) -> dict[str, str]:
    (rated,) = [
        action["resource"]
        for action in body.get("systemActions", [])
        if action["resource"]["id"] == order_id
    ]
    return own_rating(rated["extension"])


def own_rating(extensions: list[dict[str, Any]]) -> dict[str, str]:
    (own,) = [e for e in extensions if e["url"] == RATING_URL]
    return {
        part["url"]: part.get("valueCode") or part.get("valueString") for part in own["extension"]
    }
