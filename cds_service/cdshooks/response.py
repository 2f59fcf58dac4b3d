"""The CDS Hooks 2.0 response: typed values in, spec-conformant JSON out.

The renderer builds these frozen values; `dump_response` turns them into the wire format
through marshmallow schemas that check the spec's rules (CDS Hooks 2.0 §Card, §Suggestion,
§Action and the logical-model invariants cds-resp-1..6) and omit every empty optional
field: the spec forbids `null`, `""`, `[]` and `{}` (§General), except `"cards": []`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from marshmallow import Schema, fields, post_dump, pre_dump

SUMMARY_LIMIT = 140  # "One-sentence, <140-character summary message"


class SelectionBehavior(enum.StrEnum):
    AT_MOST_ONE = "at-most-one"
    ANY = "any"


class ActionType(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


class LinkType(enum.StrEnum):
    ABSOLUTE = "absolute"
    SMART = "smart"


class ResponseContractError(ValueError):
    """The service built a response the spec forbids: a bug, never the client's fault."""


@dataclass(frozen=True)
class Coding:
    system: str
    code: str
    display: str | None = None


@dataclass(frozen=True)
class Source:
    label: str
    url: str | None = None
    topic: Coding | None = None


@dataclass(frozen=True)
class Action:
    type: ActionType
    description: str
    resource: dict[str, Any] | None = None
    resource_id: str | None = None


@dataclass(frozen=True)
class Suggestion:
    label: str
    uuid: str
    actions: tuple[Action, ...]
    is_recommended: bool | None = None


@dataclass(frozen=True)
class Link:
    label: str
    url: str
    type: LinkType = LinkType.ABSOLUTE


@dataclass(frozen=True)
class Card:
    uuid: str
    summary: str
    indicator: str
    source: Source
    detail: str | None = None
    suggestions: tuple[Suggestion, ...] = ()
    selection_behavior: SelectionBehavior | None = None
    override_reasons: tuple[Coding, ...] = ()
    links: tuple[Link, ...] = ()


@dataclass(frozen=True)
class HookResponse:
    cards: tuple[Card, ...] = ()
    system_actions: tuple[Action, ...] = ()
    system_actions_in_extension: bool = True  # the sandbox reads extension.systemActions


class _OmitEmpty(Schema):
    @post_dump
    def _omit_empty(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {key: value for key, value in data.items() if value not in (None, "", [], {})}


class CodingSchema(_OmitEmpty):
    system = fields.String(required=True)
    code = fields.String(required=True)
    display = fields.String()


class SourceSchema(_OmitEmpty):
    label = fields.String(required=True)
    url = fields.String()
    topic = fields.Nested(CodingSchema)


class ActionSchema(_OmitEmpty):
    type = fields.Enum(ActionType, by_value=True, required=True)
    description = fields.String(required=True)
    resource = fields.Dict()
    resourceId = fields.String(attribute="resource_id")

    @pre_dump
    def _check(self, action: Action, **_: Any) -> Action:
        if not action.description:
            raise ResponseContractError("every action needs a description (cds-resp-5)")
        if action.type is ActionType.DELETE and (action.resource or not action.resource_id):
            raise ResponseContractError("a delete names its target by resourceId (cds-resp-2)")
        if action.type is not ActionType.DELETE and not action.resource:
            raise ResponseContractError(f"a {action.type} action carries a resource")
        return action


class SuggestionSchema(_OmitEmpty):
    label = fields.String(required=True)
    uuid = fields.String(required=True)
    isRecommended = fields.Boolean(attribute="is_recommended")
    actions = fields.List(fields.Nested(ActionSchema))


class LinkSchema(_OmitEmpty):
    label = fields.String(required=True)
    url = fields.String(required=True)
    type = fields.Enum(LinkType, by_value=True, required=True)


class CardSchema(_OmitEmpty):
    uuid = fields.String(required=True)
    summary = fields.String(required=True)
    detail = fields.String()
    indicator = fields.String(required=True)
    source = fields.Nested(SourceSchema, required=True)
    suggestions = fields.List(fields.Nested(SuggestionSchema))
    selectionBehavior = fields.Enum(
        SelectionBehavior, by_value=True, attribute="selection_behavior"
    )
    overrideReasons = fields.List(fields.Nested(CodingSchema), attribute="override_reasons")
    links = fields.List(fields.Nested(LinkSchema))

    @pre_dump
    def _check(self, card: Card, **_: Any) -> Card:
        _check_card(card)
        return card


class HookResponseSchema(Schema):
    cards = fields.List(fields.Nested(CardSchema), required=True)
    systemActions = fields.List(fields.Nested(ActionSchema), attribute="system_actions")

    @post_dump(pass_original=True)
    def _place_system_actions(
        self, data: dict[str, Any], original: HookResponse, **_: Any
    ) -> dict[str, Any]:
        if not data.get("systemActions"):
            data.pop("systemActions", None)
        elif original.system_actions_in_extension:
            # CDS Hooks 2.0 clients read the top level; the sandbox and Argonaut PAMA
            # clients read extension.systemActions (cds-hooks-spec.md §8, §9).
            data["extension"] = {"systemActions": data["systemActions"]}
        return data


def _check_card(card: Card) -> None:
    if not card.summary or len(card.summary) >= SUMMARY_LIMIT:
        raise ResponseContractError(f"card summary must be 1-139 characters: {card.summary!r}")
    if card.indicator not in ("info", "warning", "critical"):
        raise ResponseContractError(f"unknown indicator {card.indicator!r}")
    if card.suggestions and card.selection_behavior is None:
        raise ResponseContractError("suggestions need a selectionBehavior (cds-resp-6)")
    recommended = sum(1 for s in card.suggestions if s.is_recommended)
    if card.selection_behavior is SelectionBehavior.AT_MOST_ONE and recommended > 1:
        raise ResponseContractError("at-most-one allows one recommended suggestion (cds-resp-1)")
    if any(not reason.display for reason in card.override_reasons):
        raise ResponseContractError("every override reason needs a display (cds-resp-4)")


_RESPONSE_SCHEMA = HookResponseSchema()


def dump_response(response: HookResponse) -> dict[str, Any]:
    return _RESPONSE_SCHEMA.dump(response)
