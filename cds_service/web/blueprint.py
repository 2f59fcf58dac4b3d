"""The service's one blueprint: discovery, hook calls, feedback, health."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from flask import Blueprint, g, jsonify, request
from marshmallow import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from cds_service import __version__
from cds_service.cdshooks.feedback import FeedbackRequestSchema
from cds_service.cdshooks.request import HookRequest, HookRequestSchema
from cds_service.cdshooks.response import dump_response
from cds_service.fhir import PatientDataUnavailable
from cds_service.pipeline import HookOutcome
from cds_service.registry import SERVICES, SERVICES_BY_ID, ServiceDeclaration
from cds_service.web.auth import check_fhir_server
from cds_service.web.errors import BadRequest, ServiceError, UnknownService, operation_outcome
from cds_service.web.state import service_state

log = logging.getLogger(__name__)
blueprint = Blueprint("cds", __name__)

# Real requests nest about 13 levels (a Synthea Bundle in prefetch); 64 leaves room to spare.
MAX_JSON_DEPTH = 64
_HOOK_REQUEST = HookRequestSchema()
_FEEDBACK_REQUEST = FeedbackRequestSchema()


@blueprint.get("/cds-services")
def discovery():
    return jsonify({"services": [service.discovery_entry() for service in SERVICES]})


@blueprint.post("/cds-services/<service_id>")
def invoke(service_id: str):
    started = time.monotonic()
    service = _service(service_id)
    g.cds_service_id = service.id
    hook_request = _parse_hook_request(_json_body(), service)
    g.cds_hook, g.cds_hook_instance = hook_request.hook, hook_request.hook_instance
    check_fhir_server(hook_request)
    try:
        outcome = service_state().pipeline.run(service, hook_request, started)
    except PatientDataUnavailable as unavailable:
        body = operation_outcome(412, unavailable.reason, tuple(unavailable.missing))
        return jsonify(body), 412
    g.cds_outcome = outcome  # the audit line reports cards, ratings, or why there was no advice
    if outcome.response.cards:
        _record_issued(service.id, outcome)
    return jsonify(dump_response(outcome.response))


@blueprint.post("/cds-services/<service_id>/feedback")
def feedback(service_id: str):
    service = _service(service_id)
    g.cds_service_id = service.id
    try:
        body = _FEEDBACK_REQUEST.load(_json_body())
    except ValidationError as error:
        raise BadRequest(*_describe(error)) from None
    stored = service_state().feedback.store(service.id, body["feedback"])
    return jsonify({"received": stored.received, "stored": stored.newly_stored})


@blueprint.get("/healthz")
def healthz():
    knowledge = service_state().knowledge
    return jsonify({"status": "ok", "version": __version__, "knowledgeVersion": knowledge.version})


def _record_issued(service_id: str, outcome: HookOutcome) -> None:
    # Governance statistics must never cost the clinician the answer.
    try:
        service_state().feedback.record_issued(service_id, outcome.response.cards)
    except SQLAlchemyError as error:
        log.warning("card topics not recorded for %s: %s", service_id, type(error).__name__)


def _service(service_id: str) -> ServiceDeclaration:
    service = SERVICES_BY_ID.get(service_id)
    if service is None:
        raise UnknownService(f"No CDS service with id '{service_id}'; see GET /cds-services.")
    return service


def _json_body() -> Any:
    if request.mimetype not in ("application/json", "application/fhir+json", ""):
        raise BadRequest("The body must be JSON (Content-Type: application/json).")
    raw = request.get_data(cache=False)
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("The body is not valid JSON.") from None
    except RecursionError:
        raise BadRequest("The body is nested too deeply.") from None
    _check_shape(body)
    return body


def _check_shape(body: Any) -> None:
    """Refuse what later stages cannot take: FHIR parsing recurses about six frames per level
    (deep `extension` chains overflowed the stack: 500), PostgreSQL text cannot hold NUL, and
    UTF-8 cannot encode the lone surrogates a JSON `\\ud800` escape yields.

    Level by level, without recursion; the strings are checked together, at C speed."""
    level = [body] if isinstance(body, dict | list) else []
    texts: list[str] = []
    depth = 0
    while level:
        depth += 1
        if depth > MAX_JSON_DEPTH:
            raise BadRequest(f"The body is nested too deeply (over {MAX_JSON_DEPTH} levels).")
        deeper: list[Any] = []
        for container in level:
            if isinstance(container, dict):
                texts.extend(container)
                container = container.values()
            for item in container:
                if isinstance(item, str):
                    texts.append(item)
                elif isinstance(item, dict | list):
                    deeper.append(item)
        level = deeper
    joined = "".join(texts)
    if "\x00" in joined or not _encodable(joined):
        raise BadRequest("The body holds a NUL character or an unpaired surrogate.")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _parse_hook_request(body: Any, service: ServiceDeclaration) -> HookRequest:
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object.")
    try:
        hook_request: HookRequest = _HOOK_REQUEST.load(body)
    except ValidationError as error:
        raise BadRequest(*_describe(error)) from None
    if hook_request.hook != service.hook:
        raise BadRequest(
            f"Service '{service.id}' answers the '{service.hook}' hook, not '{hook_request.hook}'.",
            ("hook",),
        )
    if service.evaluates_selections_only and not hook_request.context.selections:
        raise BadRequest("order-select needs context.selections.", ("context.selections",))
    return hook_request


def _describe(error: ValidationError) -> tuple[str, tuple[str, ...]]:
    """One readable sentence and the dotted paths of every invalid field."""
    paths = tuple(_paths(error.messages))
    first = _first_message(error.messages)
    return f"Invalid request: {paths[0] if paths else 'body'}: {first}", paths


def _paths(messages: Any, prefix: str = "") -> list[str]:
    if isinstance(messages, dict):
        found: list[str] = []
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            nested = _paths(value, path)
            found.extend(nested or [path])
        return found
    return []


def _first_message(messages: Any) -> str:
    while isinstance(messages, dict):
        messages = next(iter(messages.values()), "")
    if isinstance(messages, list):
        return str(messages[0]) if messages else ""
    return str(messages)


__all__ = ["ServiceError", "blueprint"]
