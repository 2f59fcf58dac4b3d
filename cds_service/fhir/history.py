"""The patient's history for one hook call: prefetch first, fhirServer for the rest.

Per prefetch key (CDS Hooks 2.0 §3.4): a Bundle with resources is used (and completed
from fhirServer when it has a `next` link); `null` or an empty Bundle means the EHR has
no such data; an OperationOutcome or an absent key is searched on fhirServer with the
request's bearer token. The searches left run concurrently, and the whole gathering
returns by the hook's deadline whatever a server does; together they read at most
CDS_FHIR_MAX_BYTES_PER_CALL bytes (`reads.py`), and whatever is still reading when the
gathering returns has its socket shut.

The optional searches (ImagingStudy, DiagnosticReport: `prefetch.SEARCHES`) never cost the
call its advice: not prefetched and no fhirServer, or refused or failed by the server, they
are read as no data and logged (the key and the kind of failure, never patient data). Their
searches run with the others, on the same client, timeouts, page cap and deadline.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

import requests

from cds_service.cdshooks.request import HookRequest
from cds_service.decision.model import PatientHistory
from cds_service.fhir.bundle import bundle_link
from cds_service.fhir.client import FhirClient
from cds_service.fhir.errors import FhirError, HookDeadlineExceeded, PatientDataUnavailable
from cds_service.fhir.parse import build_history
from cds_service.fhir.prefetch import (
    SEARCHES,
    PatientSearch,
    PrefetchState,
    fill_template,
    read_prefetch,
)
from cds_service.fhir.reads import CallReads
from cds_service.knowledge.model import Knowledge
from cds_service.settings import Settings

log = logging.getLogger(__name__)

Resources = list[dict[str, Any]]
Fetch = Callable[[FhirClient], Resources]


def gather_history(
    request: HookRequest,
    knowledge: Knowledge,
    settings: Settings,
    session: requests.Session,
    deadline: float,
) -> PatientHistory:
    """Raises PatientDataUnavailable (answer 412) or HookDeadlineExceeded (answer no cards)."""
    found: dict[str, Resources] = {}
    to_fetch: dict[PatientSearch, Fetch] = {}
    first_pages: dict[PatientSearch, Resources] = {}
    for search in SEARCHES:
        state, resources = read_prefetch(request.prefetch, search.key)
        bundle = request.prefetch.get(search.key)
        if state is PrefetchState.NO_DATA:
            found[search.resource_type] = []
        elif state is PrefetchState.DATA and bundle_link(bundle, "next") is None:
            found[search.resource_type] = resources
        elif state is PrefetchState.DATA:
            to_fetch[search] = _completion(bundle)
            first_pages[search] = resources
        else:
            to_fetch[search] = _search(fill_template(search.template, request))
    if to_fetch and request.fhir_server is None:
        to_fetch = _without_server(to_fetch, first_pages, found)
    if not to_fetch:
        return build_history(found, knowledge)  # all prefetched: the advice is never late
    client = _client(request, settings, session, deadline, tuple(to_fetch))
    found.update(_run_concurrently(to_fetch, client, deadline))
    # Fetched records can be huge (20,000 matching Conditions take seconds to build).
    return build_history(found, knowledge, deadline)


def _without_server(
    to_fetch: dict[PatientSearch, Fetch],
    first_pages: dict[PatientSearch, Resources],
    found: dict[str, Resources],
) -> dict[PatientSearch, Fetch]:
    """No fhirServer: a required search left is a 412; an optional one is read as what was
    prefetched of it (its first page, or nothing). Returns the searches still to run: none."""
    required = tuple(search.key for search in to_fetch if search.required)
    if required:
        raise PatientDataUnavailable(
            required, "not prefetched (or prefetched in part) and the request names no fhirServer"
        )
    for search in to_fetch:
        found[search.resource_type] = first_pages.get(search, [])
        log.debug("optional prefetch %s unusable, no fhirServer: read without it", search.key)
    return {}


def _completion(first_page: dict[str, Any]) -> Fetch:
    return lambda client: client.complete(first_page)


def _search(relative_url: str) -> Fetch:
    return lambda client: client.search(relative_url)


def _client(
    request: HookRequest,
    settings: Settings,
    session: requests.Session,
    deadline: float,
    searches: tuple[PatientSearch, ...],
) -> FhirClient:
    if request.fhir_server is None:
        raise PatientDataUnavailable(
            tuple(search.key for search in searches),
            "not prefetched (or prefetched in part) and the request names no fhirServer",
        )
    authorization = request.fhir_authorization
    return FhirClient(
        base_url=request.fhir_server,
        session=session,
        connect_timeout=settings.fhir_connect_timeout,
        read_timeout=settings.fhir_read_timeout,
        page_cap=settings.fhir_page_cap,
        deadline=deadline,
        access_token=authorization.access_token if authorization else None,
        reads=CallReads(settings.fhir_max_bytes_per_call),
    )


def _run_concurrently(
    to_fetch: dict[PatientSearch, Fetch], client: FhirClient, deadline: float
) -> dict[str, Resources]:
    # The answer does not wait for threads still reading at the deadline: their sockets are
    # shut, so they end at once rather than when the server lets them.
    executor = ThreadPoolExecutor(max_workers=len(to_fetch), thread_name_prefix="fhir-search")
    try:
        futures = {executor.submit(fetch, client): search for search, fetch in to_fetch.items()}
        _, still_running = wait(futures, timeout=max(0.0, deadline - time.monotonic()))
    finally:
        client.reads.give_up()
        executor.shutdown(wait=False, cancel_futures=True)
    if still_running:
        raise HookDeadlineExceeded("FHIR searches still running at the hook deadline")
    return _results(futures)


def _results(futures: dict[Future[Resources], PatientSearch]) -> dict[str, Resources]:
    results: dict[str, Resources] = {}
    failures: dict[str, FhirError] = {}
    for future, search in futures.items():
        error = future.exception()
        if isinstance(error, FhirError) and not search.required:
            # e.g. an EHR without ImagingStudy search, or a token without its scope.
            log.warning("optional search %s unavailable, read without it: %s", search.key, error)
            results[search.resource_type] = []
        elif isinstance(error, FhirError):
            failures[search.key] = error
        elif error is not None:
            raise error  # HookDeadlineExceeded, or a bug that must not pass as "no data"
        else:
            results[search.resource_type] = future.result()
    if failures:
        reason = "; ".join(f"{key}: {error}" for key, error in failures.items())
        log.warning("patient data unavailable: %s", reason)
        raise PatientDataUnavailable(tuple(failures), reason)
    return results
