"""A hostile FHIR server against the service as deployed (gunicorn from the Procfile).

What one hook call reads is bounded in bytes (CDS_FHIR_MAX_BYTES_PER_CALL) and in time
(CDS_HOOK_DEADLINE, every byte included): a server answering with huge pages gets the
documented 412 from a worker whose memory stayed within the budget; a server trickling a
body with a Content-Length gets `{"cards": []}` by the deadline, its connection closed; a
search paging twenty thousand matching Conditions ends within a second of the deadline. Each
time the worker that answered is the one that was there before (gunicorn's --timeout 30
killed none) and answers the next call.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from cds_service.settings import Settings
from tests.integration.fault_server import (
    FaultServer,
    bundle,
    fault_server,
    matching_pages,
    oversized_pages,
    trickle,
)
from tests.integration.fhir_helpers import CPT, ICD10, condition, hook_body, procedure
from tests.integration.gunicorn_server import gunicorn
from tests.integration.gunicorn_workers import gunicorn_workers, memory_kib

pytestmark = pytest.mark.integration

SELECT = "/cds-services/vcf-imaging-order-select"
PATIENT = "fhir-budget"
TOKEN = "budget-token-5f4dcc3b5aa765d6"
DEADLINE = 4.0  # CDS_HOOK_DEADLINE of these runs
BUDGET = Settings.fhir_max_bytes_per_call  # the default: what a site gets unless it sets one
PAGE_BYTES = 30 * 1000 * 1000  # each page of the hostile server of issue 18
KIB = 1024


@pytest.fixture
def fhir() -> Iterator[FaultServer]:
    with fault_server() as running:
        running.behaviours.update(
            Condition=bundle(condition("vcf", PATIENT, ICD10, "M80.08XA")),
            Procedure=bundle(procedure("kyphoplasty", PATIENT, CPT, "22514")),
        )
        yield running


@pytest.fixture
def service(tmp_path) -> Iterator[str]:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'service.sqlite3'}",
        "CDS_HOOK_DEADLINE": str(DEADLINE),
    }
    with gunicorn(env, workers=1) as base_url:
        yield base_url


def hook_call(service: str, fhir: FaultServer) -> tuple[requests.Response, float]:
    """One order-select with no prefetch (every search goes to `fhir`); and its seconds."""
    started = time.monotonic()
    answer = requests.post(
        service + SELECT, json=hook_body(PATIENT, {}, fhir.base_url, TOKEN), timeout=60
    )
    return answer, time.monotonic() - started


def the_worker(service: str) -> int:
    (worker,) = gunicorn_workers(service)
    return worker


def assert_worker_alive_and_answering(service: str, worker: int) -> None:
    assert gunicorn_workers(service) == [worker]  # not killed and replaced
    assert requests.get(service + "/healthz", timeout=5).status_code == 200


@pytest.mark.parametrize(
    ("page_bytes", "calls_at_once"),
    [(PAGE_BYTES, 1), (PAGE_BYTES, 8), (1_000_000, 1), (1_000_000, 8)],
    ids=["30MB-pages", "30MB-pages-8-calls", "1MB-pages", "1MB-pages-8-calls"],
)
def test_oversized_pages_end_in_412_within_the_memory_budget(
    service, fhir, page_bytes, calls_at_once
):
    # 30 MB pages: the budget runs out in the first one. 1 MB pages: five are read and
    # parsed before it does; a call holds what JSON parsing makes of its bytes (more).
    served: list[int] = []
    warm_up, _ = hook_call(service, fhir)  # the worker has read and answered a call before
    assert warm_up.status_code == 200, warm_up.text[:300]
    worker = the_worker(service)
    peak_before = memory_kib(worker, "VmHWM")
    fhir.behaviours["Condition"] = oversized_pages(page_bytes, served)

    with ThreadPoolExecutor(calls_at_once) as pool:
        calls = list(pool.map(lambda _: hook_call(service, fhir), range(calls_at_once)))

    grown = memory_kib(worker, "VmHWM") - peak_before
    seconds = max(seconds for _, seconds in calls)
    print(
        f"pages of {page_bytes} bytes, {calls_at_once} call(s) at once: worker peak +{grown} KiB, "
        f"budget {BUDGET // KIB} KiB a call, slowest answer {seconds:.2f} s"
    )
    for answer, _ in calls:
        assert answer.status_code == 412, answer.text[:300]
        (issue,) = answer.json()["issue"]
        # Conditions, and any search still reading when the budget ran out (it is shared).
        assert "conditions" in issue["expression"]
        assert f"exceed {BUDGET} bytes" in issue["diagnostics"]
    assert sum(served) < calls_at_once * (BUDGET + page_bytes)  # it stopped reading
    assert grown < 3 * calls_at_once * BUDGET // KIB
    assert seconds < DEADLINE
    assert_worker_alive_and_answering(service, worker)


def test_a_trickled_body_with_a_content_length_holds_to_the_deadline(service, fhir):
    hung_up: list[float] = []
    worker = the_worker(service)
    fhir.behaviours["Condition"] = trickle(0.05, hung_up)  # a byte each 50 ms: 1 KiB = 52 s

    answer, seconds = hook_call(service, fhir)
    answered = time.monotonic()

    print(f"trickled body: answered in {seconds:.2f} s, deadline {DEADLINE} s")
    assert answer.status_code == 200
    assert answer.json() == {"cards": []}
    assert DEADLINE - 0.5 < seconds < DEADLINE + 1
    deadline = time.monotonic() + 3
    while not hung_up and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hung_up, "the service kept the trickling connection open"
    assert hung_up[0] - answered < 1
    assert_worker_alive_and_answering(service, worker)


def synthea_shaped_vcf(n: int) -> dict:
    """A VCF Condition with what a Synthea export writes around it (about 700 bytes)."""
    return condition(
        f"vcf-{n:05d}-4ef7-6392-1011-4562-90c3b60381d6",
        PATIENT,
        ICD10,
        "M80.08XA",
        clinicalStatus={"coding": [{"system": CLINICAL, "code": "active"}]},
        verificationStatus={"coding": [{"system": VERIFICATION, "code": "confirmed"}]},
        encounter={"reference": "urn:uuid:26dc9d55-fd7f-498e-a26e-89b707c58ea4"},
        onsetDateTime="2024-10-28T07:44:08+00:00",
        recordedDate="2024-10-28T07:44:08+00:00",
        meta={"tag": [{"system": "https://smarthealthit.org/tags", "code": "synthea-5-2019"}]},
    )


def bare_vcf(n: int) -> dict:
    return condition(f"vcf-{n}", PATIENT, ICD10, "M80.08XA")


CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"


@pytest.mark.parametrize(
    ("resource", "status"),
    [(synthea_shaped_vcf, 412), (bare_vcf, 200)],
    ids=["synthea-shaped-over-the-budget", "bare-within-the-budget"],
)
def test_twenty_thousand_matching_conditions_end_in_time(service, fhir, resource, status):
    # 400 a page: the default page cap (50) would read them all. As an EHR writes them they
    # are more than the budget (412). Bare, they fit in it and are all read: cards when the
    # machine builds them in time, else no cards by the deadline (the build stops there).
    worker = the_worker(service)
    fhir.behaviours["Condition"] = matching_pages(20_000, 400, resource)

    answer, seconds = hook_call(service, fhir)

    cards = len(answer.json().get("cards", [])) if answer.status_code == 200 else None
    print(
        f"20,000 matching Conditions: HTTP {answer.status_code}, {cards} card(s), {seconds:.2f} s"
    )
    assert seconds < DEADLINE + 1
    assert answer.status_code == status, answer.text[:300]
    assert_worker_alive_and_answering(service, worker)
