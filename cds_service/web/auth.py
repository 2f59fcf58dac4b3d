"""Trust at the HTTP edge: the client's JWT, its FHIR servers, and the audit line of each call.

With `CDS_AUTH_CONFIG` set, hook and feedback calls need `Authorization: Bearer <JWT>`
(CDS Hooks 2.0 §Trusting CDS Clients). Discovery and /healthz stay open: they hold no
patient data. CORS preflights are never authenticated: browsers send them without the
Authorization header (flask-cors answers them). Without `CDS_AUTH_CONFIG` the service runs
in development mode, accepting unsigned calls and any fhirServer, and says so at start-up.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass

import requests
from flask import Flask, Response, current_app, g, request
from sqlalchemy.engine import Engine

from cds_service.audit import CallRecord, log_call, outcome_fields
from cds_service.auth import JwtVerifier, TokenRejected, TrustedIssuer, build_verifier
from cds_service.cdshooks.request import HookRequest
from cds_service.fhir.base_url import canonical_fhir_base
from cds_service.registry import SERVICES_BY_ID
from cds_service.settings import Settings
from cds_service.web.errors import BadRequest, ServiceError, json_error

log = logging.getLogger(__name__)

TRUST_KEY = "vcf_imaging_cds.trust"
_AUTHENTICATED_ENDPOINTS = frozenset({"cds.invoke", "cds.feedback"})
_REFUSED = "This endpoint needs a valid JWT signed by a trusted CDS client (Authorization: Bearer)."


class FhirServerNotAllowed(ServiceError):
    status = 403


@dataclass(frozen=True)
class Trust:
    verifier: JwtVerifier | None  # None: development mode
    public_base_url: str | None


def install_trust(app: Flask, settings: Settings, engine: Engine) -> None:
    """Verify JWTs before hook and feedback calls, write the audit line after them."""
    verifier = None
    if settings.auth_config is None:
        log.warning(
            "DEVELOPMENT MODE: CDS_AUTH_CONFIG is not set, so hook and feedback calls are "
            "accepted WITHOUT a signed JWT and any fhirServer is contacted. Never serve real "
            "patient data like this."
        )
    else:
        verifier = build_verifier(
            settings.auth_config,
            engine,
            requests.Session(),
            settings.jwt_algorithms,
            settings.jwt_leeway_seconds,
            settings.jwt_max_lifetime_seconds,
        )
        log.info(
            "JWT required on hook and feedback calls; trusted issuers: %s",
            ", ".join(sorted(verifier.issuers)),
        )
        if settings.public_base_url is None:
            log.warning(
                "CDS_PUBLIC_BASE_URL is not set: the JWT audience is checked against the URL "
                "built from the request's Host header; set it when serving behind a proxy."
            )
    missing = _AUTHENTICATED_ENDPOINTS - app.view_functions.keys()
    if missing:  # a renamed route must not silently lose its authentication
        raise RuntimeError(f"install_trust: no such endpoints {sorted(missing)}")
    app.extensions[TRUST_KEY] = Trust(verifier, settings.public_base_url)
    app.before_request(_authenticate)
    app.after_request(_audit)


def check_fhir_server(hook_request: HookRequest) -> HookRequest:
    """Before any FHIR call: `fhirServer` must be a plain FHIR base (fhir/base_url.py: a
    query or fragment would strip the patient filter off the searches) and, when calls are
    signed, one the calling issuer is trusted for. The request goes on with its canonical
    form, the one the allow-list matched."""
    server = hook_request.fhir_server
    if server is None:
        return hook_request
    canonical = canonical_fhir_base(server)
    if _trust().verifier is not None:
        issuer: TrustedIssuer | None = g.get("cds_issuer")
        if canonical is None or issuer is None or not issuer.allows_fhir_server(canonical):
            # The canonical form holds no space or control character: it cannot forge a line.
            shown = canonical or "(not a plain FHIR base URL)"
            log.info("fhirServer %s refused: not listed for the calling issuer", shown)
            raise FhirServerNotAllowed(
                "fhirServer is not a FHIR server this CDS client is trusted for.", ("fhirServer",)
            )
    elif canonical is None:
        raise BadRequest(
            "fhirServer must be a plain FHIR base URL: no user info, query, fragment, "
            "dot segment or space.",
            ("fhirServer",),
        )
    return dataclasses.replace(hook_request, fhir_server=canonical)


def _authenticate() -> Response | None:
    if not _is_call():
        return None
    g.cds_started = time.perf_counter()
    trust = _trust()
    if trust.verifier is None:
        return None
    token = _bearer_token()
    if token is None:
        return _refuse("no bearer token")
    try:
        g.cds_issuer = trust.verifier.verify(token, _called_url(trust))
    except TokenRejected as rejected:
        return _refuse(rejected.reason)
    return None


def _audit(response: Response) -> Response:
    if _is_call():
        issuer: TrustedIssuer | None = g.get("cds_issuer")
        record = CallRecord(
            service=g.get("cds_service_id") or _known_service_in_path(),
            hook=g.get("cds_hook"),
            hook_instance=g.get("cds_hook_instance"),
            issuer=issuer.iss if issuer else None,
            status=response.status_code,
            seconds=time.perf_counter() - g.get("cds_started", time.perf_counter()),
            **outcome_fields(g.get("cds_outcome")),
        )
        log_call(record)
    return response


def _is_call() -> bool:
    """A hook or feedback call; never a preflight, discovery or /healthz."""
    return request.method == "POST" and request.endpoint in _AUTHENTICATED_ENDPOINTS


def _known_service_in_path() -> str | None:
    """For calls refused before the view ran (401); only ids we declare, never raw input."""
    service_id = (request.view_args or {}).get("service_id")
    return service_id if service_id in SERVICES_BY_ID else None


def _trust() -> Trust:
    return current_app.extensions[TRUST_KEY]


def _bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


def _called_url(trust: Trust) -> str:
    """`aud` "MUST be the URL of the CDS Service endpoint being invoked" (no query string)."""
    if trust.public_base_url:
        return trust.public_base_url + request.path
    return request.base_url


def _refuse(reason: str) -> Response:
    # The reason goes to our log only: telling the caller which check failed helps forgers.
    log.info("JWT refused on %s from %s: %s", request.endpoint, request.remote_addr, reason)
    response = json_error(401, _REFUSED)
    response.headers["WWW-Authenticate"] = 'Bearer realm="cds-services"'
    return response
