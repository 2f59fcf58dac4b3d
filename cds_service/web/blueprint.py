"""The service's one blueprint: discovery, hook calls, feedback, health."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from flask import Blueprint, g, jsonify, request
from marshmallow import ValidationError

from cds_service import __version__
from cds_service.auth import TrustedIssuer
from cds_service.cdshooks.feedback import FeedbackRequestSchema
from cds_service.cdshooks.request import HookRequest, HookRequestSchema
from cds_service.cdshooks.response import Card, dump_response
from cds_service.feedback.store import FeedbackNotStored
from cds_service.fhir import PatientDataUnavailable
from cds_service.fhir.views import PREFETCH
from cds_service.presentation import DEFAULT_SITE, SiteProfile, present
from cds_service.registry import SERVICES, SERVICES_BY_ID, ServiceDeclaration
from cds_service.web.auth import check_fhir_server
from cds_service.web.body import TypedEnvelope, read_json_body
from cds_service.web.errors import (
    BadRequest,
    ContentTooLarge,
    ServiceError,
    ServiceUnavailable,
    UnknownService,
    operation_outcome,
)
from cds_service.web.state import service_state

log = logging.getLogger(__name__)
blueprint = Blueprint("cds", __name__)

_HOOK_REQUEST = HookRequestSchema()
_FEEDBACK_REQUEST = FeedbackRequestSchema()
_HOOK_ENVELOPE = TypedEnvelope({"prefetch": PREFETCH}, members=_HOOK_REQUEST.fields)


@blueprint.get("/cds-services")
def discovery():
    return jsonify({"services": [service.discovery_entry() for service in SERVICES]})


@blueprint.post("/cds-services/<service_id>")
def invoke(service_id: str):
    started = time.monotonic()
    service = _service(service_id)
    g.cds_service_id = service.id
    hook_request = _parse_hook_request(read_json_body(_HOOK_ENVELOPE), service)
    g.cds_hook, g.cds_hook_instance = hook_request.hook, hook_request.hook_instance
    hook_request = check_fhir_server(hook_request)
    try:
        outcome = service_state().pipeline.run(
            service, hook_request, started, base_url=public_base_url()
        )
    except PatientDataUnavailable as unavailable:
        body = operation_outcome(412, unavailable.reason, tuple(unavailable.missing))
        return jsonify(body), 412
    g.cds_outcome = outcome  # the audit line reports cards, ratings, or why there was no advice
    site = _site()
    response = present(outcome.response, site)
    # The advice is recorded as decided, whatever its presentation: an Epic site's "create
    # the changed order" is still a change of the draft in the feedback report.
    if site.silent and outcome.response.cards:
        # Shown to nobody: recorded as what would have fired, for the go-live review.
        _record_issued(service.id, outcome.response.cards, silent=True)
    elif response.cards:
        shown = {card.uuid for card in response.cards}
        _record_issued(service.id, [c for c in outcome.response.cards if c.uuid in shown])
    return jsonify(dump_response(response))


@blueprint.post("/cds-services/<service_id>/feedback")
def feedback(service_id: str):
    service = _service(service_id)
    g.cds_service_id = service.id
    raw = read_json_body()
    _refuse_too_many_entries(raw)
    try:
        body = _FEEDBACK_REQUEST.load(raw)
    except ValidationError as error:
        raise BadRequest(*_describe(error)) from None
    try:
        stored = service_state().feedback.store(service.id, body["feedback"])
    except FeedbackNotStored as failed:
        log.warning("feedback not stored for %s: %s", service.id, failed.cause_name)
        raise ServiceUnavailable(
            f"The feedback could not be stored: none of its {failed.received} entries was "
            "stored. Send it again later."
        ) from None
    return jsonify({"received": stored.received, "stored": stored.newly_stored})


def _refuse_too_many_entries(body: Any) -> None:
    """More entries than CDS_MAX_FEEDBACK_ENTRIES: 413 before any is read or stored, so one
    call cannot hold a worker for seconds (31,000 entries took 14 s)."""
    entries = body.get("feedback") if isinstance(body, dict) else None
    cap = service_state().settings.max_feedback_entries
    if isinstance(entries, list) and len(entries) > cap:
        raise ContentTooLarge(
            f"{len(entries)} feedback entries in one call; at most {cap} "
            "(CDS_MAX_FEEDBACK_ENTRIES) are taken: send the rest in further calls. "
            "None was stored.",
            ("feedback",),
        )


@blueprint.get("/healthz")
def healthz():
    knowledge = service_state().knowledge
    return jsonify({"status": "ok", "version": __version__, "knowledgeVersion": knowledge.version})


def public_base_url() -> str:
    """The service's address as the clinician's browser reaches it: CDS_PUBLIC_BASE_URL
    behind a proxy, else the base URL of the request."""
    configured = service_state().settings.public_base_url
    return configured or request.url_root.rstrip("/")


def _site() -> SiteProfile:
    """How the calling issuer's site sees the advice; the defaults in development mode."""
    issuer: TrustedIssuer | None = g.get("cds_issuer")
    return issuer.site if issuer is not None else DEFAULT_SITE


def _record_issued(service_id: str, cards: Sequence[Card], silent: bool = False) -> None:
    # Governance statistics must never cost the clinician the answer: the rows are only
    # queued (the database is written off this thread), and even a bug here is just logged.
    try:
        service_state().feedback.record_issued(service_id, cards, silent=silent)
    except Exception as error:
        log.warning("card topics not recorded for %s: %s", service_id, type(error).__name__)


def _service(service_id: str) -> ServiceDeclaration:
    service = SERVICES_BY_ID.get(service_id)
    if service is None:
        raise UnknownService(f"No CDS service with id '{service_id}'; see GET /cds-services.")
    return service


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
