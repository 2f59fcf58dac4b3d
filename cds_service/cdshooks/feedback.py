"""The CDS Hooks 2.0 feedback body (§Feedback): `{"feedback": [Feedback, ...]}`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate, validates_schema


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


class AcceptedSuggestionSchema(_Lenient):
    id = fields.String(required=True, validate=validate.Length(min=1))


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
    card = fields.String(required=True, validate=validate.Length(min=1))
    outcome = fields.String(required=True, validate=validate.OneOf(["accepted", "overridden"]))
    acceptedSuggestions = fields.List(fields.Nested(AcceptedSuggestionSchema))
    overrideReason = fields.Nested(OverrideReasonSchema)
    outcomeTimestamp = RFC3339(required=True)

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
