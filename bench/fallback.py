"""Part 3: a hook call with no prefetch, so the service runs its three FHIR searches itself.

The FHIR server is a real sekmet-fhir (tests/integration/fhir_server.py) holding the
patient's history, behind a small proxy that holds every answer back by a delay per resource
type, as a busy EHR would (tests/integration/delaying_proxy.py). The hook call (over HTTP,
to the gunicorn service) is timed next to the slowest of the three searches made alone, one
after the other, by the service's own FHIR client: searching concurrently, the call should
cost little more than that one search.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bench.stats import percentile
from bench.workload import SERVICE_PATH
from cds_service.cdshooks.request import HookRequest, HookRequestSchema
from cds_service.fhir.client import FhirClient
from cds_service.fhir.prefetch import SEARCHES, PatientSearch, fill_template
from tests.integration.delaying_proxy import delaying_proxy
from tests.integration.fhir_server import running_sekmet


@dataclass(frozen=True)
class Fallback:
    delays_ms: dict[str, float]
    rounds: int
    hook_p50_ms: float
    slowest_search_p50_ms: float
    searches_p50_ms: dict[str, float]

    @property
    def ratio(self) -> float:
        return self.hook_p50_ms / self.slowest_search_p50_ms


def measure(
    service_url: str,
    patient_request: dict[str, Any],
    delays: dict[str, float],
    rounds: int,
    workdir: Path,
) -> Fallback:
    """`delays` maps a resource type to the seconds its answers are held back."""
    with (
        running_sekmet(workdir) as fhir,
        delaying_proxy(fhir.base_url, delays) as proxy,
        requests.Session() as session,
    ):
        fhir.load_patient(patient_request["context"]["patientId"], patient_request["prefetch"])
        hook = _without_prefetch(patient_request, proxy.base_url, fhir.token)
        parsed: HookRequest = HookRequestSchema().load(hook)
        _call(service_url, hook)  # warm-up: connection pools
        totals: list[float] = []
        singles: dict[str, list[float]] = {search.resource_type: [] for search in SEARCHES}
        for _ in range(rounds):
            started = time.perf_counter()
            _call(service_url, hook)
            totals.append(time.perf_counter() - started)
            for search in SEARCHES:
                singles[search.resource_type].append(_search_alone(session, parsed, search))
    per_search = {kind: percentile(seconds, 50) * 1e3 for kind, seconds in singles.items()}
    slowest = [max(single[n] for single in singles.values()) for n in range(rounds)]
    return Fallback(
        delays_ms={kind: seconds * 1e3 for kind, seconds in delays.items()},
        rounds=rounds,
        hook_p50_ms=percentile(totals, 50) * 1e3,
        slowest_search_p50_ms=percentile(slowest, 50) * 1e3,
        searches_p50_ms=per_search,
    )


def _without_prefetch(request: dict[str, Any], fhir_server: str, token: str) -> dict[str, Any]:
    hook = {key: value for key, value in request.items() if key != "prefetch"}
    hook["fhirServer"] = fhir_server
    hook["fhirAuthorization"] = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/Condition.read patient/Procedure.read patient/ServiceRequest.read",
        "subject": "vcf-imaging-cds",
    }
    return hook


def _call(service_url: str, hook: dict[str, Any]) -> None:
    answer = requests.post(service_url + SERVICE_PATH, json=hook, timeout=30)
    cards = answer.json().get("cards") if answer.status_code == 200 else None
    if not cards:
        raise RuntimeError(f"fallback call got no card: {answer.status_code} {answer.text[:300]}")


def _search_alone(session: requests.Session, hook: HookRequest, search: PatientSearch) -> float:
    """One search, its pages included, by the service's own client; seconds."""
    assert hook.fhir_server and hook.fhir_authorization
    client = FhirClient(
        base_url=hook.fhir_server,
        session=session,
        connect_timeout=2.0,
        read_timeout=30.0,
        page_cap=10,
        deadline=time.monotonic() + 60,
        access_token=hook.fhir_authorization.access_token,
    )
    started = time.perf_counter()
    client.search(fill_template(search.template, hook))
    return time.perf_counter() - started
