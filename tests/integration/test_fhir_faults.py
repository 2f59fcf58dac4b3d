"""gather_history against a misbehaving FHIR server on 127.0.0.1.

Each fault ends in its documented outcome (data, PatientDataUnavailable -> 412, or
HookDeadlineExceeded -> no cards), and the call returns by the hook deadline plus a small
margin whatever the server does.
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from cds_service.decision.model import PatientHistory
from cds_service.fhir import HookDeadlineExceeded, PatientDataUnavailable, gather_history
from cds_service.fhir.client import FhirClient
from cds_service.settings import Settings
from tests.integration.fault_server import (
    FaultServer,
    all_at_once,
    bundle,
    endless_pages,
    fault_server,
    large_bundle,
    oversized_pages,
    raw,
    self_loop,
    slow,
    status,
    trickle,
)
from tests.integration.fhir_helpers import (
    CPT,
    ICD10,
    OPERATION_OUTCOME,
    TYPE_OF_KEY,
    RecordingSession,
    all_ids,
    condition,
    diagnostic_report,
    hook_body,
    hook_request,
    ids,
    imaging_study,
    knowledge,
    procedure,
    searchset,
    service_request,
)

PATIENT = "fhir-faults"
TOKEN = "faults-token-d41d8cd98f00b204"
MARGIN = 0.75  # seconds past the deadline a call may take to unwind
VCF = condition("vcf", PATIENT, ICD10, "M80.08XA")
KYPHOPLASTY = procedure("kyphoplasty", PATIENT, CPT, "22514")
MRI_ORDER = service_request("mri", PATIENT, CPT, "72148")


@dataclass
class Outcome:
    history: PatientHistory | None
    error: Exception | None
    returned: float
    deadline: float

    @property
    def in_time(self) -> bool:
        return self.returned <= self.deadline + MARGIN


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with fault_server() as running:
        running.behaviours.update(
            Condition=bundle(VCF), Procedure=bundle(KYPHOPLASTY), ServiceRequest=bundle(MRI_ORDER)
        )
        yield running


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with RecordingSession() as pooled:
        yield pooled


def call(
    server: FaultServer | str,
    session: requests.Session,
    *,
    prefetch: dict | None = None,
    token: str | None = TOKEN,
    seconds: float = 3.0,
    **settings: float,
) -> Outcome:
    base_url = server if isinstance(server, str) else server.base_url
    request = hook_request(hook_body(PATIENT, prefetch or {}, base_url, token))
    deadline = time.monotonic() + seconds
    try:
        history = gather_history(request, knowledge(), Settings(**settings), session, deadline)
        return Outcome(history, None, time.monotonic(), deadline)
    except (PatientDataUnavailable, HookDeadlineExceeded) as error:
        return Outcome(None, error, time.monotonic(), deadline)


def test_missing_searches_are_fetched_with_the_token_as_fhir_json(server, session):
    outcome = call(server, session)
    assert ids(outcome.history) == {
        "conditions": {"vcf"},
        "procedures": {"kyphoplasty"},
        "serviceRequests": {"mri"},
    }
    assert sorted(server.paths()) == [
        f"/fhir/Condition?patient={PATIENT}",
        f"/fhir/DiagnosticReport?patient={PATIENT}",
        f"/fhir/ImagingStudy?patient={PATIENT}",
        f"/fhir/Procedure?patient={PATIENT}",
        f"/fhir/ServiceRequest?patient={PATIENT}",
    ]
    for seen in server.seen:
        assert seen.headers["Authorization"] == f"Bearer {TOKEN}"
        assert seen.headers["Accept"] == "application/fhir+json"


def test_no_authorization_header_when_the_request_has_no_fhir_authorization(server, session):
    outcome = call(server, session, token=None)
    assert outcome.history is not None
    assert all("Authorization" not in seen.headers for seen in server.seen)


def test_missing_searches_run_concurrently(server, session):
    # The server answers only when all five requests are in flight at once.
    together = all_at_once(5, bundle(VCF))
    server.behaviours.update(
        Condition=together,
        Procedure=together,
        ServiceRequest=together,
        ImagingStudy=together,
        DiagnosticReport=together,
    )
    outcome = call(server, session, seconds=5)
    assert outcome.error is None
    assert ids(outcome.history)["conditions"] == {"vcf"}


def test_only_keys_not_satisfied_by_prefetch_are_fetched(server, session):
    prefetch = {
        "conditions": searchset([VCF]),
        "procedures": OPERATION_OUTCOME,
        "imagingStudies": None,
        "diagnosticReports": OPERATION_OUTCOME,
    }
    outcome = call(server, session, prefetch=prefetch)
    assert ids(outcome.history) == {
        "conditions": {"vcf"},
        "procedures": {"kyphoplasty"},
        "serviceRequests": {"mri"},
    }
    assert sorted(path.split("?")[0] for path in server.paths()) == [
        "/fhir/DiagnosticReport",
        "/fhir/Procedure",
        "/fhir/ServiceRequest",
    ]


def test_every_call_has_explicit_timeouts_capped_by_the_time_left(server, session):
    call(server, session, seconds=30, fhir_connect_timeout=2, fhir_read_timeout=5)
    assert {kwargs["timeout"] for _, kwargs in session.sent} == {(2, 5)}
    session.sent.clear()
    call(server, session, seconds=1, fhir_connect_timeout=2, fhir_read_timeout=5)
    for _, kwargs in session.sent:
        connect, read = kwargs["timeout"]
        assert 0 < connect <= 1 and 0 < read <= 1


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        (status(500), "FHIR server unavailable (HTTP 500)"),
        (status(503), "FHIR server unavailable (HTTP 503)"),
        (status(401), "FHIR server refused access (HTTP 401)"),
        (status(403), "FHIR server refused access (HTTP 403)"),
        (status(404), "FHIR server answered HTTP 404"),
        (raw(b'{"resourceType": "Bundle", "entry": ['), "not valid JSON"),
        (raw(b"<html>Service Unavailable</html>"), "not valid JSON"),
        (raw(json.dumps(VCF).encode()), "not a FHIR Bundle"),
        (raw(json.dumps(OPERATION_OUTCOME).encode()), "not a FHIR Bundle"),
    ],
    ids=["500", "503", "401", "403", "404", "truncated-json", "html", "condition", "outcome"],
)
def test_a_failing_search_makes_its_key_unavailable(server, session, behaviour, reason):
    server.behaviours["Condition"] = behaviour
    outcome = call(server, session)
    assert isinstance(outcome.error, PatientDataUnavailable)
    assert outcome.error.missing == ("conditions",)
    assert reason in outcome.error.reason
    assert outcome.in_time


def test_every_failing_key_is_named(server, session):
    server.behaviours.update(Condition=status(401), ServiceRequest=status(401))
    outcome = call(server, session)
    assert outcome.error.missing == ("conditions", "serviceRequests")


def test_a_server_slower_than_the_read_timeout_is_unreachable(server, session):
    server.behaviours["Procedure"] = slow(10)
    outcome = call(server, session, seconds=5, fhir_read_timeout=0.5)
    assert isinstance(outcome.error, PatientDataUnavailable)
    assert outcome.error.missing == ("procedures",)
    assert "did not answer in time" in outcome.error.reason
    assert outcome.in_time


def test_a_server_slower_than_the_deadline_ends_in_deadline_exceeded(server, session):
    server.behaviours["Procedure"] = slow(10)
    outcome = call(server, session, seconds=1, fhir_read_timeout=5)
    assert isinstance(outcome.error, HookDeadlineExceeded)
    assert outcome.in_time


def test_a_server_trickling_its_answer_cannot_outlast_the_deadline(server, session):
    # Each byte comes well within the read timeout; only the deadline stops this one.
    server.behaviours["Condition"] = trickle(0.05)
    outcome = call(server, session, seconds=1.5, fhir_read_timeout=5)
    assert isinstance(outcome.error, HookDeadlineExceeded)
    assert outcome.in_time


def test_a_deadline_already_passed_sends_nothing(server, session):
    outcome = call(server, session, seconds=-0.1)
    assert isinstance(outcome.error, HookDeadlineExceeded)
    assert server.seen == []


def test_a_refused_connection_makes_every_missing_key_unavailable(session):
    with fault_server() as gone:
        base_url = gone.base_url
    outcome = call(base_url, session)
    assert isinstance(outcome.error, PatientDataUnavailable)
    assert outcome.error.missing == ("conditions", "procedures", "serviceRequests")
    assert "unreachable" in outcome.error.reason
    assert outcome.in_time


def test_a_next_link_pointing_to_itself_ends_with_the_data(server, session):
    server.behaviours["Condition"] = self_loop(VCF)
    outcome = call(server, session)
    assert ids(outcome.history)["conditions"] == {"vcf"}
    assert len([p for p in server.paths() if p.startswith("/fhir/Condition")]) == 1
    assert outcome.in_time


def test_endless_paging_stops_at_the_page_cap_as_unavailable(server, session):
    server.behaviours["Condition"] = endless_pages(
        lambda page: condition(f"vcf-{page}", PATIENT, ICD10, "M80.08XA")
    )
    outcome = call(server, session, fhir_page_cap=3)
    assert isinstance(outcome.error, PatientDataUnavailable)
    assert outcome.error.missing == ("conditions",)
    assert "more than 3 pages" in outcome.error.reason
    assert len([p for p in server.paths() if p.startswith("/fhir/Condition")]) == 3


def test_pages_are_followed_up_to_the_cap(server, session):
    def page(n: int) -> dict:
        return condition(f"vcf-{n}", PATIENT, ICD10, "M80.08XA")

    pages = endless_pages(page)
    server.behaviours["Condition"] = lambda handler: (
        bundle(page(2))(handler) if handler.path.endswith("page=2") else pages(handler)
    )
    outcome = call(server, session, fhir_page_cap=3)
    assert ids(outcome.history)["conditions"] == {"vcf-0", "vcf-1", "vcf-2"}


def test_a_next_link_to_another_server_is_not_followed_with_the_token(server, session):
    with fault_server() as elsewhere:
        elsewhere_url = f"{elsewhere.base_url}/Condition?patient={PATIENT}&page=2"
        server.behaviours["Condition"] = lambda handler: handler.send_json(
            200, {**searchset([VCF]), "link": [{"relation": "next", "url": elsewhere_url}]}
        )
        outcome = call(server, session)
        assert elsewhere.seen == []
    assert isinstance(outcome.error, PatientDataUnavailable)
    assert outcome.error.missing == ("conditions",)


def redirect_to(url: str):
    def answer(handler) -> None:
        handler.send_response(302)
        handler.send_header("Location", url)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return answer


def test_a_redirect_to_another_server_is_not_followed(server, session):
    with fault_server() as elsewhere:
        server.behaviours["Condition"] = redirect_to(f"{elsewhere.base_url}/Condition")
        outcome = call(server, session)
        assert elsewhere.seen == []
    assert isinstance(outcome.error, PatientDataUnavailable)
    assert outcome.error.missing == ("conditions",)
    assert "redirect (HTTP 302): not followed" in outcome.error.reason


def test_a_redirect_on_the_same_server_is_not_followed_with_the_token(server, session):
    server.behaviours["Condition"] = redirect_to(f"{server.base_url}/Condition?patient=other")
    outcome = call(server, session)
    assert [p for p in server.paths() if "Condition" in p] == [f"/fhir/Condition?patient={PATIENT}"]
    assert isinstance(outcome.error, PatientDataUnavailable)


@pytest.mark.parametrize(
    "climb", ["../../admin", "%2e%2e/%2e%2e/admin", "%2E%2E/admin", "r4%2F..%2F..%2Fadmin"]
)
def test_a_next_link_climbing_out_of_the_base_is_not_followed(server, session, climb):
    escape = f"{server.base_url}/{climb}?patient={PATIENT}&page=2"
    server.behaviours["Condition"] = lambda handler: handler.send_json(
        200, {**searchset([VCF]), "link": [{"relation": "next", "url": escape}]}
    )
    outcome = call(server, session)
    assert [p for p in server.paths() if "admin" in p.lower()] == []
    assert isinstance(outcome.error, PatientDataUnavailable)
    assert "next link leads away from fhirServer" in outcome.error.reason


def test_a_paginated_prefetch_is_completed_from_fhir_server_with_the_token(server, session):
    second = condition("vcf-page-2", PATIENT, ICD10, "M48.56XA")
    server.behaviours["Condition"] = bundle(second)
    first_page = searchset([VCF])
    first_page["link"] = [
        {"relation": "next", "url": f"{server.base_url}/Condition?patient={PATIENT}&page=2"}
    ]
    prefetch = {
        "conditions": first_page,
        "procedures": None,
        "serviceRequests": None,
        "imagingStudies": None,
        "diagnosticReports": None,
    }
    outcome = call(server, session, prefetch=prefetch)
    assert ids(outcome.history)["conditions"] == {"vcf", "vcf-page-2"}
    assert server.paths() == [f"/fhir/Condition?patient={PATIENT}&page=2"]
    assert server.seen[0].headers["Authorization"] == f"Bearer {TOKEN}"


# The optional searches: ImagingStudy and DiagnosticReport ---------------------------------

MRI_STUDY = imaging_study(
    "mri-study",
    PATIENT,
    started="2026-10-01",
    procedureCode=[{"coding": [{"system": CPT, "code": "72148"}]}],
)
MRI_REPORT = diagnostic_report("mri-report", PATIENT, CPT, "72148", effectiveDateTime="2026-10-01")


def test_studies_and_reports_are_searched_with_the_others(server, session):
    server.behaviours.update(ImagingStudy=bundle(MRI_STUDY), DiagnosticReport=bundle(MRI_REPORT))
    outcome = call(server, session)
    assert all_ids(outcome.history) == {
        "conditions": {"vcf"},
        "procedures": {"kyphoplasty"},
        "serviceRequests": {"mri"},
        "imagingStudies": {"mri-study"},
        "diagnosticReports": {"mri-report"},
    }


@pytest.mark.parametrize(
    "behaviour",
    [status(400), status(401), status(403), status(404), status(500), raw(b"<html>")],
    ids=["400", "401", "403", "404", "500", "html"],
)
def test_a_server_refusing_studies_and_reports_still_gives_the_other_history(
    server, session, behaviour, caplog
):
    server.behaviours.update(ImagingStudy=behaviour, DiagnosticReport=behaviour)
    with caplog.at_level("WARNING", logger="cds_service.fhir"):
        outcome = call(server, session)
    assert outcome.error is None
    assert ids(outcome.history) == {
        "conditions": {"vcf"},
        "procedures": {"kyphoplasty"},
        "serviceRequests": {"mri"},
    }
    assert (outcome.history.imaging_studies, outcome.history.diagnostic_reports) == ((), ())
    logged = [r.getMessage() for r in caplog.records if "optional search" in r.getMessage()]
    assert sorted(message.split()[2] for message in logged) == [
        "diagnosticReports",
        "imagingStudies",
    ]
    assert not any(PATIENT in message or TOKEN in message for message in caplog.messages)


def test_a_required_search_failing_is_still_a_412_when_the_optional_ones_fail_too(server, session):
    server.behaviours.update(
        Condition=status(403), ImagingStudy=status(403), DiagnosticReport=status(404)
    )
    outcome = call(server, session)
    assert isinstance(outcome.error, PatientDataUnavailable)
    assert outcome.error.missing == ("conditions",)


def test_an_optional_search_slower_than_the_deadline_ends_in_deadline_exceeded(server, session):
    server.behaviours["ImagingStudy"] = slow(10)
    outcome = call(server, session, seconds=1, fhir_read_timeout=5)
    assert isinstance(outcome.error, HookDeadlineExceeded)
    assert outcome.in_time


# The call's byte budget and its deadline, every byte included --------------------------


def test_the_byte_budget_counts_every_page_of_a_search(server, session):
    server.behaviours["Condition"] = oversized_pages(100_000)  # pages of 100 kB, endless
    outcome = call(server, session, fhir_max_bytes_per_call=250_000)
    assert isinstance(outcome.error, PatientDataUnavailable)
    assert outcome.error.missing == ("conditions",)
    assert "exceed 250000 bytes" in outcome.error.reason
    assert len([p for p in server.paths() if p.startswith("/fhir/Condition")]) == 3
    assert outcome.in_time


def test_the_byte_budget_counts_the_concurrent_searches_together(server, session):
    # Each search alone is well within the budget; the five together are not.
    for resource_type in TYPE_OF_KEY.values():
        server.behaviours[resource_type] = large_bundle(110_000)
    outcome = call(server, session, fhir_max_bytes_per_call=300_000)
    assert isinstance(outcome.error, PatientDataUnavailable)
    assert "exceed 300000 bytes" in outcome.error.reason
    assert outcome.in_time


def test_a_search_within_the_budget_is_read_whole(server, session):
    server.behaviours["Condition"] = bundle(
        VCF, *[condition(f"htn-{n}", PATIENT, ICD10, "I10") for n in range(500)]
    )
    outcome = call(server, session, fhir_max_bytes_per_call=200_000)
    assert outcome.error is None
    assert "vcf" in ids(outcome.history)["conditions"]


def test_the_deadline_covers_every_byte_of_a_body_with_a_content_length(server, session):
    # One search read by the client itself, no thread to leave behind: before, it read on
    # until 64 kB had come (a byte each 20 ms: 21 s), each byte resetting the read timeout.
    server.behaviours["Condition"] = trickle(0.02)
    deadline = time.monotonic() + 1.0
    client = FhirClient(
        base_url=server.base_url,
        session=session,
        connect_timeout=2,
        read_timeout=5,
        page_cap=50,
        deadline=deadline,
    )
    with pytest.raises(HookDeadlineExceeded):
        client.search(f"Condition?patient={PATIENT}")
    assert time.monotonic() < deadline + 0.25


def test_building_a_huge_fetched_history_stops_at_the_deadline(server, session):
    # 20,000 VCF Conditions on one page: 4.5 MB, within the budget, fetched in a moment; made
    # into models they take over a second of CPU, which must not outlast the deadline.
    vcfs = [condition(f"vcf-{n}", PATIENT, ICD10, "M80.08XA") for n in range(20_000)]
    server.behaviours["Condition"] = raw(json.dumps(searchset(vcfs)).encode())
    knowledge()  # loaded before the clock starts
    outcome = call(server, session, seconds=0.8)
    assert isinstance(outcome.error, HookDeadlineExceeded)
    assert outcome.in_time


def chunked_gzip(document: bytes, padding: int = 0):
    """A gzip-compressed body in chunks (HTTP/1.1, no Content-Length); `padding` spaces
    after the JSON compress to almost nothing."""
    compressed = gzip.compress(document + b" " * padding)

    def answer(handler) -> None:
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\n"
            "Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        handler.wfile.write(head.encode())
        for start in range(0, len(compressed), 4096):
            piece = compressed[start : start + 4096]
            handler.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        handler.wfile.write(b"0\r\n\r\n")

    return answer


def test_a_chunked_gzip_answer_is_read(server, session):
    server.behaviours["Condition"] = chunked_gzip(json.dumps(searchset([VCF])).encode())
    outcome = call(server, session)
    assert ids(outcome.history)["conditions"] == {"vcf"}


def test_the_budget_counts_bytes_as_decompressed(server, session):
    # 20 kB on the wire, 20 MB once decompressed: what is kept is what counts.
    body = json.dumps(searchset([VCF])).encode()
    server.behaviours["Condition"] = chunked_gzip(body, padding=20_000_000)
    outcome = call(server, session)
    assert isinstance(outcome.error, PatientDataUnavailable)
    assert outcome.error.missing == ("conditions",)
    assert f"exceed {Settings().fhir_max_bytes_per_call} bytes" in outcome.error.reason
