"""The response schemas enforce the spec's card rules and never emit empty values."""

from __future__ import annotations

import pytest

from cds_service.cdshooks.response import (
    Action,
    ActionType,
    Card,
    Coding,
    HookResponse,
    ResponseContractError,
    SelectionBehavior,
    Source,
    Suggestion,
    dump_response,
)

SOURCE = Source(label="ACR Appropriateness Criteria", topic=Coding("urn:x", "UsuallyAppropriate"))
DELETE = Action(ActionType.DELETE, "Remove the draft", resource_id="ServiceRequest/1")
CREATE = Action(ActionType.CREATE, "Order CT", resource={"resourceType": "ServiceRequest"})


def card(**overrides) -> Card:
    values = {
        "uuid": "u-1",
        "summary": "CT without contrast is Usually Appropriate",
        "indicator": "info",
        "source": SOURCE,
    }
    values.update(overrides)
    return Card(**values)


def test_empty_response_is_exactly_cards_empty():
    assert dump_response(HookResponse()) == {"cards": []}


def test_optional_fields_without_value_are_omitted():
    dumped = dump_response(HookResponse(cards=(card(detail=""),)))["cards"][0]
    assert dumped == {
        "uuid": "u-1",
        "summary": "CT without contrast is Usually Appropriate",
        "indicator": "info",
        "source": {
            "label": "ACR Appropriateness Criteria",
            "topic": {"system": "urn:x", "code": "UsuallyAppropriate"},
        },
    }


def test_summary_of_140_characters_or_more_is_refused():
    with pytest.raises(ResponseContractError):
        dump_response(HookResponse(cards=(card(summary="x" * 140),)))
    assert dump_response(HookResponse(cards=(card(summary="x" * 139),)))


def test_suggestions_need_a_selection_behavior():
    suggestion = Suggestion("Order CT", "s-1", (DELETE, CREATE), True)
    with pytest.raises(ResponseContractError):
        dump_response(HookResponse(cards=(card(suggestions=(suggestion,)),)))


def test_at_most_one_allows_a_single_recommended_suggestion():
    two = (Suggestion("A", "s-1", (CREATE,), True), Suggestion("B", "s-2", (CREATE,), True))
    with pytest.raises(ResponseContractError):
        dump_response(
            HookResponse(
                cards=(card(suggestions=two, selection_behavior=SelectionBehavior.AT_MOST_ONE),)
            )
        )


def test_override_reasons_need_a_display():
    with pytest.raises(ResponseContractError):
        dump_response(HookResponse(cards=(card(override_reasons=(Coding("urn:x", "r1"),)),)))


def test_delete_names_its_target_by_resource_id():
    with pytest.raises(ResponseContractError):
        dump_response(HookResponse(system_actions=(Action(ActionType.DELETE, "Remove"),)))


def test_suggestion_actions_are_dumped_in_camel_case():
    suggestion = Suggestion("Order CT", "s-1", (DELETE, CREATE), True)
    dumped = dump_response(
        HookResponse(
            cards=(
                card(suggestions=(suggestion,), selection_behavior=SelectionBehavior.AT_MOST_ONE),
            )
        )
    )["cards"][0]
    assert dumped["selectionBehavior"] == "at-most-one"
    assert dumped["suggestions"][0]["isRecommended"] is True
    assert dumped["suggestions"][0]["actions"][0] == {
        "type": "delete",
        "description": "Remove the draft",
        "resourceId": "ServiceRequest/1",
    }


def test_system_actions_go_top_level_and_under_extension():
    update = Action(
        ActionType.UPDATE, "Rating", resource={"resourceType": "ServiceRequest", "id": "1"}
    )
    dumped = dump_response(HookResponse(system_actions=(update,)))
    assert dumped["systemActions"] == dumped["extension"]["systemActions"]
    assert dumped["systemActions"][0]["type"] == "update"
