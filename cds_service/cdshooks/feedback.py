"""The CDS Hooks 2.0 feedback body (§Feedback): `{"feedback": [Feedback, ...]}`.

Besides the spec's `overrideReason`, the shapes Epic documents (Documentation - Epic on FHIR,
CDS Hooks Tutorial, §Feedback, https://fhir.epic.com/Documentation?docId=cds-hooks) are read:
`overrideReasons`, one object holding the reason Coding in `reason` (reasons the service sent
on the card) or, for reasons built in Epic, only an `extension` object whose keys start
`com.epic.cdshooks.feedback.overrideReason.`. A list of such objects is read as well.

What is loaded is the entry as sent (nothing converted or added), so that the entry hash that
makes storage idempotent is the same as for entries stored before these shapes were read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate, validates_schema

EPIC_REASON_PREFIX = "com.epic.cdshooks.feedback.overrideReason."
# The system stored with a reason built in Epic: the key its code (a category id) came from.
EPIC_REASON_CATEGORY = f"{EPIC_REASON_PREFIX}reasonCategory"
_EPIC_REASON_DISPLAY = f"{EPIC_REASON_PREFIX}reasonDisplay"
_EPIC_REASON_TITLE = f"{EPIC_REASON_PREFIX}reasonTitle"


@dataclass(frozen=True)
class OverrideReason:
    """One reason a clinician gave for overriding a card, whichever shape carried it."""

    system: str | None
    code: str | None
    display: str | None
    user_comment: str | None


class _Lenient(Schema):
    class Meta:
        unknown = INCLUDE


class CodingSchema(_Lenient):
    system = fields.String()
    code = fields.String(required=True)
    display = fields.String()


class OverrideReasonSchema(_Lenient):
    reason = fields.Nested(CodingSchema)
    userComment = fields.String()

    @validates_schema
    def _reason_or_comment(self, data: dict[str, Any], **_: Any) -> None:
        if "reason" not in data and "userComment" not in data:
            raise ValidationError("overrideReason needs a reason or a userComment.")


class EpicExtension(fields.Dict):
    """An `extension` object; Epic's override-reason keys in it must hold a string (or a
    number, for the category id)."""

    def _deserialize(self, value, attr, data, **kwargs):
        extension = super()._deserialize(value, attr, data, **kwargs)
        for key, item in extension.items():
            if key.startswith(EPIC_REASON_PREFIX) and not _is_text_or_number(item):
                raise ValidationError({key: ["must be a string (or a number)."]})
        return extension


class EpicOverrideReasonSchema(_Lenient):
    reason = fields.Nested(CodingSchema)
    userComment = fields.String()
    extension = EpicExtension()

    @validates_schema
    def _some_reason(self, data: dict[str, Any], **_: Any) -> None:
        if "reason" not in data and "userComment" not in data and not _epic_keys(data):
            raise ValidationError(
                "overrideReasons needs a reason, an extension with "
                f"{EPIC_REASON_PREFIX}* keys, or a userComment."
            )


class ObjectOrList(fields.Field):
    """One object, or a non-empty list of them, each loaded by `schema`."""

    def __init__(self, schema: type[Schema], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.schema = schema

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, dict):
            return self.schema().load(value)
        if not isinstance(value, list) or not value:
            raise ValidationError("must be an object, or a non-empty list of objects.")
        loaded, errors = [], {}
        for index, item in enumerate(value):
            try:
                if not isinstance(item, dict):
                    raise ValidationError("must be an object.")
                loaded.append(self.schema().load(item))
            except ValidationError as error:
                errors[index] = error.messages
        if errors:
            raise ValidationError(errors)
        return loaded


class AcceptedSuggestionSchema(_Lenient):
    id = fields.String(required=True, validate=validate.Length(min=1))


CARD_ID_MAX = 128  # feedback.card_uuid
TIMESTAMP_MAX = 64  # feedback.outcome_timestamp


class RFC3339(fields.String):
    """An RFC 3339 date-time with a time zone, as `outcomeTimestamp` requires."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(
                "must be an RFC 3339 date-time, e.g. 2021-12-11T10:05:31Z."
            ) from None
        if parsed.tzinfo is None:
            raise ValidationError("must carry a time zone (Z or +hh:mm).")
        return text


class FeedbackEntrySchema(_Lenient):
    # As long as the feedback table stores them (db.py): longer is refused (400), never a 500.
    card = fields.String(required=True, validate=validate.Length(min=1, max=CARD_ID_MAX))
    outcome = fields.String(required=True, validate=validate.OneOf(["accepted", "overridden"]))
    acceptedSuggestions = fields.List(fields.Nested(AcceptedSuggestionSchema))
    overrideReason = fields.Nested(OverrideReasonSchema)
    overrideReasons = ObjectOrList(
        EpicOverrideReasonSchema,
        metadata={"description": "Epic's shape: one object (as Epic documents) or a list"},
    )
    outcomeTimestamp = RFC3339(required=True, validate=validate.Length(max=TIMESTAMP_MAX))

    @validates_schema
    def _accepted_needs_suggestions(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("outcome") == "accepted" and not data.get("acceptedSuggestions"):
            raise ValidationError(
                "acceptedSuggestions is required for an accepted outcome.", "acceptedSuggestions"
            )


class FeedbackRequestSchema(_Lenient):
    feedback = fields.List(
        fields.Nested(FeedbackEntrySchema), required=True, validate=validate.Length(min=1)
    )


def override_reasons(entry: Mapping[str, Any]) -> tuple[OverrideReason, ...]:
    """Every reason of one loaded feedback entry, in the order sent: the spec's
    `overrideReason` first, then each of Epic's `overrideReasons`.

    An Epic reason may also sit in the entry's own `extension` (where CDS Hooks puts
    extensions of an object): it serves the reasons that carry neither a Coding nor an Epic
    extension of their own, or stands alone when the entry names no reason object.
    """
    given = [entry["overrideReason"]] if "overrideReason" in entry else []
    epic = entry.get("overrideReasons")
    given += [epic] if isinstance(epic, dict) else list(epic or ())
    fallback = _epic_keys(entry)
    if not given:
        return (_from_epic_extension(fallback, None),) if fallback else ()
    return tuple(_reason(item, fallback) for item in given)


def _reason(item: Mapping[str, Any], fallback: Mapping[str, Any]) -> OverrideReason:
    comment = item.get("userComment")
    if coding := item.get("reason"):
        return OverrideReason(coding.get("system"), coding["code"], coding.get("display"), comment)
    if epic := _epic_keys(item) or fallback:
        return _from_epic_extension(epic, comment)
    return OverrideReason(None, None, None, comment)


def _from_epic_extension(epic: Mapping[str, Any], comment: str | None) -> OverrideReason:
    category = epic.get(EPIC_REASON_CATEGORY)
    display = epic.get(_EPIC_REASON_DISPLAY) or epic.get(_EPIC_REASON_TITLE)
    return OverrideReason(
        EPIC_REASON_CATEGORY if category is not None else None,
        None if category is None else str(category),
        None if display is None else str(display),
        comment,
    )


def _epic_keys(holder: Mapping[str, Any]) -> dict[str, Any]:
    extension = holder.get("extension")
    if not isinstance(extension, Mapping):
        return {}
    return {key: value for key, value in extension.items() if key.startswith(EPIC_REASON_PREFIX)}


def _is_text_or_number(value: Any) -> bool:
    return isinstance(value, str) or (
        isinstance(value, int | float) and not isinstance(value, bool)
    )
