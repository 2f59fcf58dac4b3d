"""Spine MRIs recorded as an ImagingStudy or a DiagnosticReport (decision/imaging_history.py).

Each case is an R4B model as `fhir/parse.py` builds it. Counting an MRI that was not done, or
not of the spine, is the harmful error (the "MRI before augmentation" card would stay
silent), so most cases here are ones that must not count.
"""

from __future__ import annotations

from typing import Any

import pytest
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.imagingstudy import ImagingStudy

from cds_service.decision.imaging_history import spine_mri_evidence
from cds_service.decision.model import PatientHistory
from cds_service.vocabulary import FindingKind, SpineRegion
from tests.integration.fhir_helpers import CPT, DICOM, LOINC, SNOMED, knowledge

CERVICAL, THORACIC, LUMBAR = SpineRegion.CERVICAL, SpineRegion.THORACIC, SpineRegion.LUMBAR
MR = {"system": DICOM, "code": "MR"}
CT = {"system": DICOM, "code": "CT"}


def study(sid: str = "s1", *, modality: Any = (MR,), series: Any = None, **extra: Any):
    resource: dict[str, Any] = {
        "resourceType": "ImagingStudy",
        "id": sid,
        "status": "available",
        "subject": {"reference": "Patient/p"},
        "started": "2026-10-01T09:30:00Z",
        **extra,
    }
    if modality:
        resource["modality"] = list(modality)
    if series is not None:
        resource["series"] = series
    return ImagingStudy.model_validate(resource)


def series(site: dict[str, Any] | None = None, modality: dict = MR, **extra: Any) -> dict:
    one = {"uid": "2.25.1", "modality": modality, **extra}
    if site is not None:
        one["bodySite"] = site
    return one


def report(rid: str = "r1", code: dict | None = None, **extra: Any) -> DiagnosticReport:
    resource = {
        "resourceType": "DiagnosticReport",
        "id": rid,
        "status": "final",
        "code": code or {"coding": [{"system": LOINC, "code": "24968-0"}]},
        "effectiveDateTime": "2026-10-02",
        **extra,
    }
    return DiagnosticReport.model_validate(resource)


def evidence(*, studies=(), reports=()):
    history = PatientHistory(imaging_studies=tuple(studies), diagnostic_reports=tuple(reports))
    return spine_mri_evidence(history, knowledge())


def lumbar_mri_code() -> list[dict]:
    return [{"coding": [{"system": CPT, "code": "72148"}]}]


# ImagingStudy ---------------------------------------------------------------------------


def test_an_mr_study_with_a_spine_mri_procedure_code_is_evidence_dated_by_started():
    (found,) = evidence(studies=[study(procedureCode=lumbar_mri_code())])
    assert found.kind is FindingKind.SPINE_MRI
    assert found.reference == "ImagingStudy/s1"
    assert found.date.startswith("2026-10-01")
    assert found.regions == {LUMBAR}
    assert found.display == "MRI lumbar spine without contrast"  # the knowledge's, not "72148"


@pytest.mark.parametrize("status", ["registered", "cancelled", "entered-in-error", "unknown"])
def test_a_study_that_is_not_available_is_not_evidence(status):
    assert evidence(studies=[study(status=status, procedureCode=lumbar_mri_code())]) == ()


def test_a_study_recorded_as_ct_is_not_an_mri_whatever_its_procedure_code():
    assert evidence(studies=[study(modality=[CT], procedureCode=lumbar_mri_code())]) == ()
    ct_series = [series({"system": SNOMED, "code": "122496007"}, modality=CT)]
    assert evidence(studies=[study(modality=(), series=ct_series)]) == ()


def test_a_study_without_any_recorded_modality_counts_by_its_mri_procedure_code():
    (found,) = evidence(studies=[study(modality=(), procedureCode=lumbar_mri_code())])
    assert found.regions == {LUMBAR}


def test_mr_on_a_series_only_is_enough():
    site = {"system": SNOMED, "code": "122494005", "display": "Cervical spine"}
    (found,) = evidence(studies=[study(modality=(), series=[series(site)])])
    assert found.regions == {CERVICAL}


@pytest.mark.parametrize(
    ("code", "regions"),
    [
        ("122495006", {THORACIC}),  # Thoracic spine
        ("1217253001", {LUMBAR}),  # Lumbo-sacral spine
        ("1217256009", {THORACIC, LUMBAR}),  # Thoraco-lumbar spine: from its display
        ("1217257000", {CERVICAL, THORACIC}),  # Cervico-thoracic spine
        ("421060004", set()),  # Spine: no region said
        ("14293000", {LUMBAR}),  # L2 vertebra (code only)
    ],
)
def test_a_series_body_site_in_the_spine_value_set_says_spine_and_region(code, regions):
    (found,) = evidence(studies=[study(series=[series({"system": SNOMED, "code": code})])])
    assert found.regions == regions


def test_a_body_site_display_naming_a_level_gives_the_level():
    site = {"system": SNOMED, "code": "23215003", "display": "T12 vertebra"}
    (found,) = evidence(studies=[study(series=[series(site)])])
    assert (found.levels, found.regions) == (("T12",), {THORACIC})


def test_a_local_body_site_read_by_its_words():
    site = {"system": "http://ehr.example/body-parts", "code": "LSP", "display": "L-spine"}
    (found,) = evidence(studies=[study(series=[series(site)])])
    assert found.regions == {LUMBAR}


@pytest.mark.parametrize(
    ("description", "regions"),
    [
        ("MRI C-spine w/o contrast", {CERVICAL}),
        ("L-SPINE WO", {LUMBAR}),  # the part alone: read as the MR study it describes
        ("MR THORACIC SPINE", {THORACIC}),
    ],
)
def test_the_description_read_as_a_spine_mri(description, regions):
    (found,) = evidence(studies=[study(description=description)])
    assert found.regions == regions
    assert found.display == description


@pytest.mark.parametrize(
    "description", ["MRI brain w/o", "MR KNEE RIGHT", "CT L-spine", "MRI whole body", "Routine"]
)
def test_a_description_of_another_part_or_modality_or_none_is_not_a_spine_mri(description):
    assert evidence(studies=[study(description=description)]) == ()


def test_an_mr_study_of_the_head_is_not_evidence():
    head = {"system": SNOMED, "code": "69536005", "display": "Head"}
    assert evidence(studies=[study(series=[series(head)], description="MRI brain")]) == ()


def test_an_mr_study_that_says_nothing_about_the_spine_is_not_evidence():
    assert evidence(studies=[study()]) == ()


# DiagnosticReport ------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["final", "amended", "corrected", "appended", "preliminary"])
def test_a_report_of_a_spine_mri_code_is_evidence(status):
    (found,) = evidence(reports=[report(status=status)])
    assert (found.reference, found.date, found.regions) == (
        "DiagnosticReport/r1",
        "2026-10-02",
        {LUMBAR},
    )
    assert found.display == "MR Lumbar spine"


@pytest.mark.parametrize("status", ["registered", "partial", "cancelled", "entered-in-error"])
def test_a_report_not_issued_is_not_evidence(status):
    assert evidence(reports=[report(status=status)]) == ()


def test_a_report_with_local_codes_read_by_its_text_dated_by_period_then_issued():
    code = {"coding": [{"system": "urn:local", "code": "RAD7"}], "text": "MRI T-spine w/o"}
    by_period = report(
        "r2", code, effectiveDateTime=None, effectivePeriod={"start": "2026-09-01T08:00:00Z"}
    )
    by_issued = report("r3", code, effectiveDateTime=None, issued="2026-09-05T10:00:00Z")
    found = evidence(reports=[by_period, by_issued])
    assert [(e.reference, e.date[:10], e.regions) for e in found] == [
        ("DiagnosticReport/r2", "2026-09-01", {THORACIC}),
        ("DiagnosticReport/r3", "2026-09-05", {THORACIC}),
    ]
    assert found[0].display == "MRI T-spine w/o"


@pytest.mark.parametrize(
    "code",
    [
        {"coding": [{"system": CPT, "code": "72131"}]},  # CT lumbar spine
        {"coding": [{"system": LOINC, "code": "4548-4"}]},  # hemoglobin A1c
        {"text": "CT L-spine w/o"},
        {"text": "MRI brain"},
        {"text": "MRI whole body"},
        {"coding": [{"system": "urn:local", "code": "X", "display": "MR knee"}]},
    ],
)
def test_a_report_that_is_not_a_spine_mri_is_not_evidence(code):
    assert evidence(reports=[report(code=code)]) == ()


def test_a_report_of_a_study_already_counted_is_not_counted_twice():
    mri = study("s9", procedureCode=lumbar_mri_code())
    of_it = report("r9", imagingStudy=[{"reference": "ImagingStudy/s9"}])
    other = report("r10")
    assert [e.reference for e in evidence(studies=[mri], reports=[of_it, other])] == [
        "ImagingStudy/s9",
        "DiagnosticReport/r10",
    ]


def test_a_report_of_a_study_that_does_not_count_is_read_on_its_own():
    brain = study("s8", description="MRI brain")
    of_it = report("r8", imagingStudy=[{"reference": "ImagingStudy/s8"}])
    assert [e.reference for e in evidence(studies=[brain], reports=[of_it])] == [
        "DiagnosticReport/r8"
    ]


def test_an_empty_history_has_no_evidence():
    assert evidence() == ()
