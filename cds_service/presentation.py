"""How one site sees the advice: the same decisions, presented for its EHR and go-live stage.

A trusted issuer's configuration (auth/config.py) names its `SiteProfile`; development mode
uses the defaults. A profile changes presentation, never the advice (DESIGN.md "Contract"):

- `profile`: `cds-hooks` (the spec and the Argonaut PAMA IG: a suggestion is one `update`
  of the draft) or `epic`. Epic's CDS Hooks documentation allows `selectionBehavior` "any"
  only, one action per suggestion, and lists `create` and `delete` (not `update`) as the
  ServiceRequest actions it applies; so for Epic a change of study is offered as a `create`
  of the suggested order plus one "remove the draft" suggestion (`delete`), to be taken
  together;
- `orderables`: the site's orderable for a suggested study, by the CPT or LOINC code the
  service would put on it (e.g. an Epic preference-list item); unmapped studies keep
  CPT/LOINC;
- `min_indicator`: cards below it are not shown (their ratings still are);
- `silent`: nothing is shown and no rating written; the call's cards are still recorded, as
  "would have fired", for the go-live review (web/blueprint.py).
"""

from __future__ import annotations

import dataclasses
import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from cds_service.cdshooks.response import (
    Action,
    ActionType,
    Card,
    HookResponse,
    SelectionBehavior,
    Suggestion,
)
from cds_service.vocabulary import INDICATOR_LEVEL, Indicator


class Profile(enum.StrEnum):
    CDS_HOOKS = "cds-hooks"
    EPIC = "epic"


@dataclass(frozen=True)
class SiteProfile:
    profile: Profile = Profile.CDS_HOOKS
    silent: bool = False
    min_indicator: Indicator = Indicator.INFO
    # The service's code (CPT or LOINC) of a suggested study -> the site's Coding for it.
    orderables: Mapping[str, Mapping[str, str]] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def shows(self, card: Card) -> bool:
        return INDICATOR_LEVEL[Indicator(card.indicator)] >= INDICATOR_LEVEL[self.min_indicator]


DEFAULT_SITE = SiteProfile()


def present(response: HookResponse, site: SiteProfile) -> HookResponse:
    """The response as this site is to see it."""
    if site.silent:
        return HookResponse()
    if site == DEFAULT_SITE:
        return response
    cards = tuple(_card_for(card, site) for card in response.cards if site.shows(card))
    return dataclasses.replace(response, cards=cards)


def _card_for(card: Card, site: SiteProfile) -> Card:
    if not card.suggestions:
        return card
    suggestions = tuple(
        dataclasses.replace(
            suggestion,
            actions=tuple(_with_site_orderable(action, site) for action in suggestion.actions),
        )
        for suggestion in card.suggestions
    )
    if site.profile is Profile.EPIC:
        return dataclasses.replace(
            card,
            suggestions=_as_epic_applies(suggestions),
            selection_behavior=SelectionBehavior.ANY,
        )
    return dataclasses.replace(card, suggestions=suggestions)


def _as_epic_applies(suggestions: tuple[Suggestion, ...]) -> tuple[Suggestion, ...]:
    """Each `update` of the draft as a `create` of the changed order, and one suggestion
    that removes the draft (Epic applies create and delete, one action each)."""
    created: list[Suggestion] = []
    removed: Action | None = None
    for suggestion in suggestions:
        (action,) = suggestion.actions
        if action.type is ActionType.UPDATE and action.resource is not None:
            draft_id = action.resource.get("id")
            removed = removed or Action(
                type=ActionType.DELETE,
                description="Remove the draft order this card is about",
                resource_id=f"ServiceRequest/{draft_id}",
            )
            resource = {k: v for k, v in action.resource.items() if k != "id"}
            action = Action(ActionType.CREATE, action.description, resource=resource)
        created.append(dataclasses.replace(suggestion, actions=(action,)))
    if removed is None:
        return tuple(created)
    remove = Suggestion(
        label="Remove the draft order",
        uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:uuid:{created[0].uuid}/remove-draft")),
        actions=(removed,),
    )
    return (*created, remove)


def _with_site_orderable(action: Action, site: SiteProfile) -> Action:
    """The order named by the site's own orderable where one is mapped, its text kept."""
    if not site.orderables or action.resource is None:
        return action
    code = action.resource.get("code") or {}
    mapped = next(
        (
            site.orderables[coding.get("code")]
            for coding in code.get("coding") or ()
            if coding.get("code") in site.orderables
        ),
        None,
    )
    if mapped is None:
        return action
    resource: dict[str, Any] = {**action.resource, "code": {**code, "coding": [dict(mapped)]}}
    return dataclasses.replace(action, resource=resource)
