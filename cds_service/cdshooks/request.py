"""The CDS Hooks 2.0 request envelope: marshmallow schemas and the parsed request.

camelCase lives only here. Unknown keys and `extension` objects are kept, never
rejected (CDS Hooks 2.0 §Extensions; rejecting them is a known interoperability bug).
Required fields never get invented defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields, post_load, validates_schema


class _Lenient(Schema):
    class Meta:
        unknown = INCLUDE


class FhirAuthorizationSchema(_Lenient):
    access_token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = fields.Integer(required=True)
    scope = fields.String(required=True)
    subject = fields.String(required=True)
    patient = fields.String()


class BundleField(fields.Dict):
    """A FHIR Bundle kept as JSON: only its shape is checked here."""

    def _deserialize(self, value, attr, data, **kwargs):
        bundle = super()._deserialize(value, attr, data, **kwargs)
        if bundle.get("resourceType") != "Bundle":
            raise ValidationError("must be a FHIR Bundle (resourceType 'Bundle').")
        entries = bundle.get("entry", [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise ValidationError("Bundle.entry must be a list of objects.")
        return bundle


class OrderContextSchema(_Lenient):
    userId = fields.String(required=True)
    patientId = fields.String(required=True)
    encounterId = fields.String()
    selections = fields.List(fields.String())
    draftOrders = BundleField(required=True)


class HookRequestSchema(_Lenient):
    hook = fields.String(required=True)
    hookInstance = fields.String(required=True)
    fhirServer = fields.Url(require_tld=False, schemes={"http", "https"})
    fhirAuthorization = fields.Nested(FhirAuthorizationSchema)
    context = fields.Nested(OrderContextSchema, required=True)
    prefetch = fields.Dict(keys=fields.String(), allow_none=True)
    extension = fields.Dict()

    @validates_schema
    def _authorization_needs_server(self, data: dict[str, Any], **_: Any) -> None:
        if "fhirAuthorization" in data and "fhirServer" not in data:
            raise ValidationError(
                "fhirServer is required when fhirAuthorization is given.", "fhirServer"
            )

    @post_load
    def _to_request(self, data: dict[str, Any], **_: Any) -> HookRequest:
        context = data["context"]
        authorization = data.get("fhirAuthorization")
        return HookRequest(
            hook=data["hook"],
            hook_instance=data["hookInstance"],
            fhir_server=data.get("fhirServer"),
            fhir_authorization=FhirAuthorization(
                access_token=authorization["access_token"],
                token_type=authorization["token_type"],
                scope=authorization["scope"],
                patient=authorization.get("patient"),
            )
            if authorization
            else None,
            context=OrderContext(
                user_id=context["userId"],
                patient_id=context["patientId"],
                encounter_id=context.get("encounterId"),
                selections=tuple(context["selections"]) if "selections" in context else None,
                draft_orders=context["draftOrders"],
            ),
            prefetch=data.get("prefetch") or {},
            extension=data.get("extension"),
        )


@dataclass(frozen=True)
class FhirAuthorization:
    access_token: str = field(repr=False)  # transient: never logged, stored or echoed
    token_type: str
    scope: str
    patient: str | None = None


@dataclass(frozen=True)
class OrderContext:
    user_id: str
    patient_id: str
    encounter_id: str | None
    selections: tuple[str, ...] | None  # None: the hook sent none (order-sign)
    draft_orders: Mapping[str, Any]  # the Bundle as sent

    def draft_resources(self) -> list[dict[str, Any]]:
        return [
            entry["resource"]
            for entry in self.draft_orders.get("entry", [])
            if isinstance(entry.get("resource"), dict)
        ]


@dataclass(frozen=True)
class HookRequest:
    hook: str
    hook_instance: str
    fhir_server: str | None
    fhir_authorization: FhirAuthorization | None
    context: OrderContext
    prefetch: Mapping[str, Any]  # key present with None = the EHR has no such data
    extension: Mapping[str, Any] | None = None
