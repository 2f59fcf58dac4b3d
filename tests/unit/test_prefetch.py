"""Prefetch states (CDS Hooks 2.0 §3.4): what is used, what means "no data", what is fetched.

Everything here is decided from the request alone: the session refuses any network call,
so a test that passes proves nothing was fetched.
"""

from __future__ import annotations

import time

import pytest

from cds_service.fhir import PatientDataUnavailable, gather_history
from cds_service.fhir.prefetch import PrefetchState, fill_template, read_prefetch
from cds_service.settings import Settings
from tests.integration.fhir_helpers import (
    CPT,
    ICD10,
    OPERATION_OUTCOME,
    NoNetworkSession,
    all_ids,
    condition,
    diagnostic_report,
    hook_body,
    hook_request,
    ids,
    imaging_study,
    knowledge,
    long_history,
    procedure,
    searchset,
    with_imaging,
)

PATIENT = "fhir-long-history"
EMPTY = {"conditions": set(), "procedures": set(), "serviceRequests": set()}
ALL_KEYS = ("conditions", "procedures", "serviceRequests", "imagingStudies", "diagnosticReports")


def gather(body: dict, deadline: float | None = None):
    return gather_history(
        hook_request(body),
        knowledge(),
        Settings(),
        NoNetworkSession(),
        time.monotonic() + 5 if deadline is None else deadline,
    )


def test_full_prefetch_is_used_without_any_request():
    data = long_history()
    history = gather(hook_body(PATIENT, data.prefetch(), fhir_server="https://ehr.test/fhir"))
    assert ids(history) == data.relevant_ids


@pytest.mark.parametrize("no_data", [None, searchset([]), {"resourceType": "Bundle"}])
def test_null_or_empty_bundle_means_no_data_and_no_query(no_data):
    prefetch = dict.fromkeys(ALL_KEYS, no_data)
    history = gather(hook_body(PATIENT, prefetch, fhir_server="https://ehr.test/fhir"))
    assert all_ids(history) == {key: set() for key in ALL_KEYS}


@pytest.mark.parametrize(
    "patient", [None, OPERATION_OUTCOME, "absent", {"resourceType": "Patient", "id": PATIENT}]
)
def test_the_patient_key_never_causes_a_fetch_or_a_failure(patient):
    prefetch = long_history().prefetch()
    if patient != "absent":
        prefetch["patient"] = patient
    history = gather(hook_body(PATIENT, prefetch))  # no fhirServer at all
    assert ids(history) == long_history().relevant_ids


def test_absent_keys_without_fhir_server_are_unavailable_and_named():
    prefetch = {"conditions": searchset([condition("vcf", PATIENT, ICD10, "M80.08XA")])}
    with pytest.raises(PatientDataUnavailable) as raised:
        gather(hook_body(PATIENT, prefetch))
    assert raised.value.missing == ("procedures", "serviceRequests")
    assert "fhirServer" in raised.value.reason


def test_operation_outcome_without_fhir_server_is_unavailable():
    prefetch = {**long_history().prefetch(), "procedures": OPERATION_OUTCOME}
    with pytest.raises(PatientDataUnavailable) as raised:
        gather(hook_body(PATIENT, prefetch))
    assert raised.value.missing == ("procedures",)


def test_paginated_prefetch_without_fhir_server_is_not_taken_as_complete():
    first_page = searchset([condition("vcf", PATIENT, ICD10, "M80.08XA")])
    first_page["link"] = [{"relation": "next", "url": "https://ehr.test/fhir/Condition?page=2"}]
    prefetch = {**long_history().prefetch(), "conditions": first_page}
    with pytest.raises(PatientDataUnavailable) as raised:
        gather(hook_body(PATIENT, prefetch))
    assert raised.value.missing == ("conditions",)


def test_prefetch_states():
    vcf = condition("vcf", PATIENT, ICD10, "M80.08XA")
    warning = {"resourceType": "OperationOutcome", "issue": [{"severity": "warning"}]}
    error = {"resourceType": "OperationOutcome", "issue": [{"severity": "error"}]}
    paged_empty = {**searchset([]), "link": [{"relation": "next", "url": "https://x/fhir/C"}]}
    cases = {
        "absent": PrefetchState.NOT_SATISFIED,
        "null": PrefetchState.NO_DATA,
        "empty": PrefetchState.NO_DATA,
        "outcome": PrefetchState.NOT_SATISFIED,
        "bundle-with-error-outcome": PrefetchState.NOT_SATISFIED,
        "bundle-with-warning-outcome": PrefetchState.DATA,  # e.g. "no results": usable
        "data": PrefetchState.DATA,
        "empty-first-page": PrefetchState.DATA,  # more pages behind the next link
        "not-a-bundle": PrefetchState.NOT_SATISFIED,
        "a-list": PrefetchState.NOT_SATISFIED,
    }
    prefetch = {
        "null": None,
        "empty": searchset([]),
        "outcome": OPERATION_OUTCOME,
        "bundle-with-error-outcome": searchset([vcf, error]),
        "bundle-with-warning-outcome": searchset([warning]),
        "data": searchset([vcf]),
        "empty-first-page": paged_empty,
        "not-a-bundle": vcf,
        "a-list": [vcf],
    }
    assert {key: read_prefetch(prefetch, key)[0] for key in cases} == cases


def test_a_bundle_holding_only_a_warning_outcome_is_no_data():
    warning = {"resourceType": "OperationOutcome", "issue": [{"severity": "warning"}]}
    prefetch = dict.fromkeys(("conditions", "procedures", "serviceRequests"), searchset([warning]))
    assert ids(gather(hook_body(PATIENT, prefetch))) == EMPTY


def test_the_request_is_not_changed():
    prefetch = long_history().prefetch()
    request = hook_request(hook_body(PATIENT, prefetch))
    before = repr(request.prefetch)
    gather_history(request, knowledge(), Settings(), NoNetworkSession(), time.monotonic() + 5)
    assert repr(request.prefetch) == before


def test_server_search_is_the_prefetch_template_with_the_patient_id_encoded():
    request = hook_request(hook_body("a b/c"))
    assert fill_template("Condition?patient={{context.patientId}}", request) == (
        "Condition?patient=a%20b%2Fc"
    )


def test_a_past_deadline_does_not_matter_when_everything_was_prefetched():
    data = long_history()
    history = gather(hook_body(PATIENT, data.prefetch()), deadline=time.monotonic() - 1)
    assert ids(history) == data.relevant_ids


def test_kyphoplasty_procedure_is_kept_as_r4b_model_with_its_body_site():
    prefetch = {
        "conditions": None,
        "procedures": searchset(
            [procedure("kp", PATIENT, CPT, "22514", bodySite=[{"text": "L2"}])]
        ),
        "serviceRequests": None,
    }
    (kept,) = gather(hook_body(PATIENT, prefetch)).procedures
    assert type(kept).__module__.startswith("fhir.resources.R4B")
    assert kept.bodySite[0].text == "L2"


# The optional keys: ImagingStudy and DiagnosticReport ------------------------------------


def test_an_ehr_that_prefetches_only_the_four_contract_keys_is_answered_without_a_fetch():
    data = long_history()
    prefetch = {key: value for key, value in data.prefetch().items() if key in EMPTY}
    history = gather(hook_body(PATIENT, prefetch))  # no fhirServer: nothing to ask
    assert ids(history) == data.relevant_ids
    assert (history.imaging_studies, history.diagnostic_reports) == ((), ())


@pytest.mark.parametrize("unusable", [OPERATION_OUTCOME, {"resourceType": "Patient"}, None])
def test_an_unusable_or_null_optional_key_without_fhir_server_is_no_data(unusable):
    data = long_history()
    prefetch = {**data.prefetch(), "imagingStudies": unusable, "diagnosticReports": unusable}
    history = gather(hook_body(PATIENT, prefetch))
    assert ids(history) == data.relevant_ids
    assert (history.imaging_studies, history.diagnostic_reports) == ((), ())


def test_a_required_key_missing_without_fhir_server_names_only_required_keys():
    with pytest.raises(PatientDataUnavailable) as raised:
        gather(hook_body(PATIENT, {"conditions": None}))
    assert raised.value.missing == ("procedures", "serviceRequests")


def test_a_paginated_optional_prefetch_without_fhir_server_keeps_its_first_page():
    study = imaging_study("mri", PATIENT, started="2026-10-01")
    first_page = {**searchset([study]), "link": [{"relation": "next", "url": "https://x/I?p=2"}]}
    prefetch = {**long_history().prefetch(), "imagingStudies": first_page}
    assert [s.id for s in gather(hook_body(PATIENT, prefetch)).imaging_studies] == ["mri"]


def test_prefetched_studies_and_reports_are_kept_when_they_can_be_a_spine_mri():
    data = with_imaging()
    history = gather(hook_body(data.patient_id, data.prefetch(), "https://ehr.test/fhir"))
    assert all_ids(history) == {**EMPTY, **data.relevant_ids}
    (study,) = history.imaging_studies
    assert type(study).__module__.startswith("fhir.resources.R4B")
    assert study.series[0].instance is None  # the list of images is never read


def test_a_report_that_is_not_an_mri_is_not_kept():
    reports = [
        {**diagnostic_report("ct", PATIENT, CPT, "72131"), "code": {"text": "CT L-spine"}},
        diagnostic_report("lab", PATIENT, "http://loinc.org", "4548-4"),
    ]
    prefetch = {**long_history().prefetch(), "diagnosticReports": searchset(reports)}
    assert gather(hook_body(PATIENT, prefetch)).diagnostic_reports == ()
