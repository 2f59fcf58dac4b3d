"""What each suggestion of a card would change, read from its actions, so that an accepted
suggestion can be counted as an accepted change of the draft order.

Read generically from the response's `Suggestion`/`Action` values, so every shape counts the
same: one `update` of the draft (same `id`, new `code`), the earlier `delete` of the draft plus
`create` of the study, or a `create` alone (an added order). Only the order's reference
(`ServiceRequest/<id>`) and the suggested study's name (`code.text`) are kept: nothing about
the patient (no subject, no reason).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cds_service.cdshooks.response import ActionType, Card, Suggestion

CHANGED = "changed"  # the suggestion changes an order the clinician drafted
ADDED = "added"  # the suggestion adds an order


@dataclass(frozen=True)
class SuggestedChange:
    change: str
    order_reference: str | None  # the order changed; None when one is added
    study: str | None  # the suggested study's name (" + " between several orders)


def suggested_change(suggestion: Suggestion) -> SuggestedChange | None:
    """None for a suggestion that neither changes nor adds an order."""
    updates = _resources(suggestion, ActionType.UPDATE)
    creates = _resources(suggestion, ActionType.CREATE)
    deleted = [
        action.resource_id
        for action in suggestion.actions
        if action.type is ActionType.DELETE and action.resource_id
    ]
    if updates:
        return SuggestedChange(CHANGED, _reference(updates[0]), _study(updates + creates))
    if deleted and creates:
        return SuggestedChange(CHANGED, deleted[0], _study(creates))
    if creates:
        return SuggestedChange(ADDED, None, _study(creates))
    return None


def suggestion_rows(card: Card) -> list[dict[str, Any]]:
    """One `suggestion_issued` row per suggestion of `card` that changes or adds an order."""
    rows = []
    for suggestion in card.suggestions:
        change = suggested_change(suggestion)
        if change is not None:
            rows.append(
                {
                    "suggestion_uuid": suggestion.uuid,
                    "card_uuid": card.uuid,
                    "change": change.change,
                    "order_reference": change.order_reference,
                    "study": change.study,
                }
            )
    return rows


def _resources(suggestion: Suggestion, action_type: ActionType) -> list[dict[str, Any]]:
    return [
        action.resource
        for action in suggestion.actions
        if action.type is action_type and action.resource
    ]


def _reference(resource: dict[str, Any]) -> str | None:
    resource_type, resource_id = resource.get("resourceType"), resource.get("id")
    if isinstance(resource_type, str) and isinstance(resource_id, str) and resource_id:
        return f"{resource_type}/{resource_id}"
    return None


def _study(resources: list[dict[str, Any]]) -> str | None:
    names = [name for resource in resources if (name := _code_text(resource))]
    return " + ".join(names) or None


def _code_text(resource: dict[str, Any]) -> str | None:
    code = resource.get("code")
    text = code.get("text") if isinstance(code, dict) else None
    return text if isinstance(text, str) else None
