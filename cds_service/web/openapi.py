"""`GET /openapi.json`: an OpenAPI 3 description of discovery, the hook calls and feedback.

Generated from the same marshmallow schemas that parse requests and dump responses
(apispec's MarshmallowPlugin), so it cannot drift from the code; built once at start-up.
Each service gets its own path, as CDS Hooks 2.0 §Discovery lists it, so that the request
body can pin `hook` to the service's hook (and order-select's required `selections`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from flask import Flask, Response
from marshmallow import Schema, fields, validate

from cds_service import __version__
from cds_service.cdshooks.feedback import RFC3339, FeedbackRequestSchema, ObjectOrList
from cds_service.cdshooks.request import BundleField, HookRequestSchema
from cds_service.cdshooks.response import HookResponseSchema
from cds_service.registry import SERVICES, ServiceDeclaration

JSON = "application/json"
_ERRORS = {
    400: "The body is not JSON, or not a valid request (the issue names the field).",
    401: "A trusted CDS client's JWT is required (only when CDS_AUTH_CONFIG is set).",
    403: "fhirServer is not one the calling client is trusted for.",
    404: "No such CDS service or path.",
    405: "Method not allowed on this path (the Allow header lists the allowed ones).",
    412: "Prefetch and FHIR server together cannot provide the patient data needed.",
    413: (
        "The body is larger than CDS_MAX_REQUEST_BYTES, or (feedback) holds more entries than "
        "CDS_MAX_FEEDBACK_ENTRIES; nothing was stored."
    ),
    503: (
        "Not now: the database is unavailable (trusted mode records JWT ids there; feedback is "
        "stored there) or every call slot of the worker stayed busy; nothing was stored, try "
        "again shortly."
    ),
}
_HOOK_ERRORS = (400, 401, 403, 404, 405, 412, 413, 503)
_FEEDBACK_ERRORS = (400, 401, 404, 405, 413, 503)


class IssueSchema(Schema):
    severity = fields.String(required=True, validate=validate.OneOf(["error"]))
    code = fields.String(required=True)
    diagnostics = fields.String(required=True)
    expression = fields.List(fields.String())


class OperationOutcomeSchema(Schema):
    """How every error is answered: a FHIR OperationOutcome, never HTML."""

    resourceType = fields.String(required=True, validate=validate.OneOf(["OperationOutcome"]))
    issue = fields.List(fields.Nested(IssueSchema), required=True, validate=validate.Length(min=1))


class ServiceSchema(Schema):
    hook = fields.String(required=True)
    id = fields.String(required=True)
    title = fields.String(required=True)
    description = fields.String(required=True)
    usageRequirements = fields.String()
    prefetch = fields.Dict(keys=fields.String(), values=fields.String())


class DiscoverySchema(Schema):
    services = fields.List(fields.Nested(ServiceSchema), required=True)


class HookResponseDocSchema(HookResponseSchema):
    """The response as sent: `dump_response` also copies systemActions to the extension."""

    extension = fields.Dict(metadata={"description": "systemActions again, for the sandbox"})


class FeedbackStoredSchema(Schema):
    received = fields.Integer(required=True)
    stored = fields.Integer(required=True, metadata={"description": "new, not repeated"})


def build_openapi(services: Sequence[ServiceDeclaration] = SERVICES) -> dict[str, Any]:
    marshmallow = MarshmallowPlugin(schema_name_resolver=_schema_name)
    spec = APISpec(
        title="vcf-imaging-cds",
        version=__version__,
        openapi_version="3.0.3",
        plugins=[marshmallow],
        info={"description": "CDS Hooks 2.0 service: spine imaging after vertebral fracture."},
    )
    marshmallow.map_to_openapi_type(RFC3339, "string", "date-time")
    marshmallow.map_to_openapi_type(BundleField, fields.Dict)
    marshmallow.converter.add_attribute_function(_bundle_shape)
    marshmallow.converter.add_attribute_function(_object_or_list_shape)
    spec.components.security_scheme(
        "cdsClientJwt", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    for name, schema in (
        ("OperationOutcome", OperationOutcomeSchema),
        ("Discovery", DiscoverySchema),
        ("HookRequest", HookRequestSchema),
        ("HookResponse", HookResponseDocSchema),
        ("FeedbackRequest", FeedbackRequestSchema),
        ("FeedbackStored", FeedbackStoredSchema),
    ):
        spec.components.schema(name, schema=schema)
    spec.path(
        path="/cds-services",
        operations={"get": {"summary": "Discovery", "responses": {"200": _body("Discovery")}}},
    )
    for service in services:
        spec.components.schema(_request_name(service), _service_request(service))
        spec.path(path=f"/cds-services/{service.id}", operations=_hook_operation(service))
        spec.path(path=f"/cds-services/{service.id}/feedback", operations=_feedback_operation())
    return spec.to_dict()


def register_openapi(app: Flask) -> None:
    """Serve the document at /openapi.json, serialised once here, not per request."""
    document = json.dumps(build_openapi(), separators=(",", ":")).encode()
    app.add_url_rule(
        "/openapi.json",
        "openapi",
        lambda: Response(document, mimetype=JSON),
        methods=["GET"],
    )


def _hook_operation(service: ServiceDeclaration) -> dict[str, Any]:
    return {
        "post": {
            "summary": service.title,
            "description": service.description,
            "security": [{}, {"cdsClientJwt": []}],
            "requestBody": {"required": True, "content": {JSON: _schema(_request_name(service))}},
            "responses": {"200": _body("HookResponse"), **_errors(_HOOK_ERRORS)},
        }
    }


def _feedback_operation() -> dict[str, Any]:
    return {
        "post": {
            "summary": "Feedback on cards (CDS Hooks 2.0 §Feedback); repeats are stored once",
            "security": [{}, {"cdsClientJwt": []}],
            "requestBody": {"required": True, "content": {JSON: _schema("FeedbackRequest")}},
            "responses": {"200": _body("FeedbackStored"), **_errors(_FEEDBACK_ERRORS)},
        }
    }


def _service_request(service: ServiceDeclaration) -> dict[str, Any]:
    """The envelope, with `hook` fixed to this service's (anything else is a 400)."""
    pinned: dict[str, Any] = {"properties": {"hook": {"type": "string", "enum": [service.hook]}}}
    if service.evaluates_selections_only:
        pinned["properties"]["context"] = {
            "required": ["selections"],
            "properties": {"selections": {"type": "array", "minItems": 1}},
        }
    return {"allOf": [{"$ref": "#/components/schemas/HookRequest"}, pinned]}


def _request_name(service: ServiceDeclaration) -> str:
    return "".join(part.capitalize() for part in service.hook.split("-")) + "Request"


def _schema(name: str) -> dict[str, Any]:
    return {"schema": {"$ref": f"#/components/schemas/{name}"}}


def _body(name: str, description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {JSON: _schema(name)}}


def _errors(statuses: Sequence[int]) -> dict[str, Any]:
    return {str(status): _body("OperationOutcome", _ERRORS[status]) for status in statuses}


def _bundle_shape(_converter: Any, field: fields.Field, **_: Any) -> dict[str, Any]:
    """What BundleField checks: a Bundle whose entries are objects; FHIR itself is lenient."""
    if not isinstance(field, BundleField):
        return {}
    return {
        "required": ["resourceType"],
        "properties": {
            "resourceType": {"type": "string", "enum": ["Bundle"]},
            "entry": {"type": "array", "items": {"type": "object"}},
        },
    }


def _object_or_list_shape(converter: Any, field: fields.Field, **_: Any) -> dict[str, Any]:
    """Epic's `overrideReasons`: one object (as Epic documents it), or a list of them."""
    if not isinstance(field, ObjectOrList):
        return {}
    item = converter.resolve_nested_schema(field.schema)
    return {"oneOf": [item, {"type": "array", "minItems": 1, "items": item}]}


def _schema_name(schema: Any) -> str:
    """Component names; the feedback body's own Coding must not collide with the card's."""
    cls = resolve_schema_cls(schema)
    name = cls.__name__.removesuffix("Schema").lstrip("_")
    if cls.__module__.endswith(".feedback") and not name.startswith("Feedback"):
        name = f"Feedback{name}"
    return name
