"""The service's one blueprint: discovery, hook calls, feedback, health."""

from __future__ import annotations

import json
import logging
import re
import time
from types import ModuleType
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
    body = _fast_loads(raw)
    if body is _UNREAD:
        body = _standard_loads(raw)  # json says why a body is refused, or reads it after all
        _check_shape(body, raw)
    elif _beyond_int64(_check_shape(body, raw)):
        body = _standard_loads(raw)  # the same shape, its integers exact
    return body


def _safe_orjson() -> ModuleType | None:
    """orjson reads a 500-resource prefetch in 1.5 ms where json takes 2.4; versions before
    3.9.15 overflow the C stack on deeply nested input (CVE-2024-27454): json then."""
    try:
        import orjson
    except ImportError:
        return None
    version = tuple(int(part) for part in re.findall(r"\d+", orjson.__version__)[:3])
    return orjson if version >= (3, 9, 15) else None


_ORJSON = _safe_orjson()
_UNREAD = object()


def _fast_loads(raw: bytes) -> Any:
    if _ORJSON is None:
        return _UNREAD
    try:
        return _ORJSON.loads(raw)
    except _ORJSON.JSONDecodeError:
        return _UNREAD


def _standard_loads(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("The body is not valid JSON.") from None
    except RecursionError:
        raise BadRequest("The body is nested too deeply.") from None


def _beyond_int64(floats: list[float]) -> bool:
    """orjson reads an integer outside [-2**63, 2**64) as a float, where json keeps it exact."""
    return any(number >= 2.0**64 or number <= -(2.0**63) for number in floats)


def _check_shape(body: Any, raw: bytes) -> list[float]:
    """Refuse what later stages cannot take: FHIR parsing recurses about six frames per level
    (deep `extension` chains overflowed the stack: 500), PostgreSQL text cannot hold NUL, and
    UTF-8 cannot encode the lone surrogates a JSON `\\ud800` escape yields. Returns the floats.

    Level by level, without recursion; the strings are checked together, at C speed, and only
    when the raw bytes could hold such a character (a 500-resource prefetch: 2.7 ms -> 1.0)."""
    texts: list[str] | None = [] if _may_hold_bad_text(raw) else None
    floats: list[float] = []
    level = [body] if type(body) in _CONTAINERS else []
    depth = 0
    while level:
        depth += 1
        if depth > MAX_JSON_DEPTH:
            raise BadRequest(f"The body is nested too deeply (over {MAX_JSON_DEPTH} levels).")
        level = _next_level(level, texts, floats)
    if texts is not None:
        joined = "".join(texts)
        if "\x00" in joined or not _encodable(joined):
            raise BadRequest("The body holds a NUL character or an unpaired surrogate.")
    return floats


# json and orjson make exact dicts and lists: `type() is` costs a third of isinstance on a union.
_CONTAINERS = (dict, list)
# In a UTF-8 body, NUL and lone surrogates come only from these escapes, or from surrogates
# encoded as UTF-8 (lead byte ED), which json decodes with 'surrogatepass'.
_BAD_TEXT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def _may_hold_bad_text(raw: bytes) -> bool:
    return (
        json.detect_encoding(raw) not in ("utf-8", "utf-8-sig")
        or b"\xed" in raw
        or _BAD_TEXT_ESCAPE.search(raw) is not None
    )


def _next_level(level: list[Any], texts: list[str] | None, floats: list[float]) -> list[Any]:
    deeper: list[Any] = []
    for container in level:
        if type(container) is dict:
            if texts is not None:
                texts.extend(container)
            container = container.values()
        for item in container:
            kind = type(item)
            if kind is str:
                if texts is not None:
                    texts.append(item)
            elif kind is dict or kind is list:
                deeper.append(item)
            elif kind is float:
                floats.append(item)
    return deeper


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
