"""The same PatientHistory whatever the EHR prefetched, against a real FHIR R4 server.

sekmet-fhir (its own venv, its own process, bearer-token auth) holds each patient data set;
`gather_history` then runs with no prefetch (all fetched, several pages for long
histories), partial prefetch (one key prefetched, one OperationOutcome, one absent), a
paginated prefetch (first page only, completed from the server) and full prefetch.
Data sets: every `fixtures/*/request.json` plus our own, so this never runs zero cases.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from cds_service.decision.imaging_history import spine_mri_evidence
from cds_service.fhir import gather_history
from cds_service.settings import Settings
from cds_service.vocabulary import SpineRegion
from tests.conftest import FIXTURES, SYNTHEA
from tests.integration.fhir_helpers import (
    IMAGING_KEYS,
    OPERATION_OUTCOME,
    TYPE_OF_KEY,
    DataSet,
    RecordingSession,
    all_ids,
    comparable,
    hook_body,
    hook_request,
    ids,
    knowledge,
    long_history,
    no_data,
    searchset,
    with_imaging,
    with_invalid_resource,
)
from tests.integration.fhir_server import SekmetServer, running_sekmet

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Case:
    patient_id: str
    prefetch: dict[str, Any]  # as the EHR would send it in full
    expected: DataSet | None = None  # our own data sets also say what must be kept


def cases() -> list[Any]:
    own = [
        pytest.param(Case(d.patient_id, d.prefetch(), d), id=f"own-{d.name}")
        for d in (long_history(), with_invalid_resource(), with_imaging(), no_data())
    ]
    fixtures = []
    for path in sorted(FIXTURES.glob("*/request.json")):
        body = json.loads(path.read_text())
        # In full, as an EHR registered with today's discovery sends it: the optional keys
        # a fixture predates are empty searches.
        prefetch = {key: searchset([]) for key in IMAGING_KEYS} | (body.get("prefetch") or {})
        case = Case(body["context"]["patientId"], prefetch)
        fixtures.append(pytest.param(case, id=f"fixture-{path.parent.name}"))
    return own + fixtures


@pytest.fixture(scope="module")
def fhir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SekmetServer]:
    with running_sekmet(tmp_path_factory.mktemp("sekmet")) as server:
        yield server


def first_page(fhir: SekmetServer, case: Case, key: str) -> dict[str, Any]:
    """What an EHR that paginates its prefetch sends: one small page with a next link."""
    url = f"{fhir.base_url}/{TYPE_OF_KEY[key]}?patient={case.patient_id}&_count=10"
    response = fhir.session.get(url, headers={"Authorization": f"Bearer {fhir.token}"})
    response.raise_for_status()
    return response.json()


def gather(fhir: SekmetServer, case: Case, prefetch: dict[str, Any]):
    body = hook_body(case.patient_id, prefetch, fhir.base_url, fhir.token)
    with RecordingSession() as session:
        history = gather_history(
            hook_request(body), knowledge(), Settings(), session, time.monotonic() + 8
        )
        return history, [url for url, _ in session.sent]


@pytest.mark.parametrize("case", cases())
def test_same_history_with_no_partial_paginated_or_full_prefetch(fhir, case):
    fhir.load_patient(case.patient_id, case.prefetch)
    full, full_requests = gather(fhir, case, case.prefetch)
    fetched, fetched_requests = gather(fhir, case, {})
    partial, _ = gather(
        fhir,
        case,
        {"conditions": case.prefetch.get("conditions"), "procedures": OPERATION_OUTCOME},
    )
    paged, _ = gather(
        fhir, case, {**case.prefetch, "conditions": first_page(fhir, case, "conditions")}
    )

    assert full_requests == []
    assert len(fetched_requests) >= 5
    expected = comparable(full)
    assert comparable(fetched) == expected
    assert comparable(partial) == expected
    assert comparable(paged) == expected
    if case.expected is not None:
        assert all_ids(full) == {
            key: case.expected.relevant_ids.get(key, set()) for key in TYPE_OF_KEY
        }
        assert full.skipped_invalid == case.expected.invalid


def test_a_long_history_is_read_over_several_pages(fhir):
    case = Case(long_history().patient_id, long_history().prefetch(), long_history())
    fhir.load_patient(case.patient_id, case.prefetch)
    history, requests_sent = gather(fhir, case, {})
    assert ids(history) == case.expected.relevant_ids
    # 45 Conditions, 25 Procedures, 22 ServiceRequests at sekmet's 20 per page: 3 + 2 + 2,
    # and one (empty) page each of ImagingStudy and DiagnosticReport.
    assert len(requests_sent) == 9


def test_a_synthea_patient_fetched_page_by_page_equals_its_one_page_prefetch(fhir):
    # A real Synthea record (70 Procedures, cancer history) loaded as exported: POST
    # entries with urn:uuid references, so the server assigns the ids.
    bundle = json.loads((SYNTHEA / SYNTHEA_PATIENT).read_text())
    response = fhir.transaction(_without_dangling_references(bundle["entry"]))
    patient_id = next(
        entry["response"]["location"].split("/Patient/")[1].split("/")[0]
        for entry in response["entry"]
        if "/Patient/" in entry["response"]["location"]
    )
    one_page = {}
    for key, resource_type in TYPE_OF_KEY.items():
        url = f"{fhir.base_url}/{resource_type}?patient={patient_id}&_count=1000"
        got = fhir.session.get(url, headers={"Authorization": f"Bearer {fhir.token}"})
        one_page[key] = got.json()
    case = Case(patient_id, one_page)
    prefetched, _ = gather(fhir, case, one_page)
    fetched, requests_sent = gather(fhir, case, {})
    assert comparable(fetched) == comparable(prefetched)
    assert len(requests_sent) > 3  # the Procedures came in several pages
    assert prefetched.conditions, "the cancer history is kept"


SYNTHEA_PATIENT = "Gilbert_Wunsch_ab591293-dc94-4290-a29f-f35522273600.json"


def _without_dangling_references(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The trimmed bundle keeps no Encounters; the server refuses a reference to none."""
    present = {entry["fullUrl"] for entry in entries}
    kept = []
    for entry in entries:
        resource = {
            name: value
            for name, value in entry["resource"].items()
            if not (
                isinstance(value, dict)
                and str(value.get("reference", "")).startswith("urn:uuid:")
                and value["reference"] not in present
            )
        }
        kept.append({**entry, "resource": resource})
    return kept


def test_a_spine_mri_stored_as_a_study_and_a_report_is_fetched_into_the_history(fhir):
    data = with_imaging()
    fhir.load_patient(data.patient_id, data.prefetch())
    case = Case(data.patient_id, data.prefetch(), data)
    # The EHR prefetched only the four contract keys; the rest comes from the server.
    four_keys = {k: v for k, v in data.prefetch().items() if k not in IMAGING_KEYS}
    history, requests_sent = gather(fhir, case, four_keys)
    assert sorted(url.split("/fhir/")[1].split("?")[0] for url in requests_sent) == [
        "DiagnosticReport",
        "ImagingStudy",
    ]
    assert all_ids(history) == {key: data.relevant_ids.get(key, set()) for key in TYPE_OF_KEY}
    found = spine_mri_evidence(history, knowledge())
    assert sorted((e.reference, e.date[:10], tuple(e.regions)) for e in found) == [
        ("DiagnosticReport/mri-report-by-text", "2026-09-20", (SpineRegion.THORACIC,)),
        ("ImagingStudy/mri-l-spine-study", "2026-10-01", (SpineRegion.LUMBAR,)),
    ]
