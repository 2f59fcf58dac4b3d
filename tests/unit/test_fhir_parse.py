"""Lenient, cheap parsing: only resources whose codes can matter become R4B models."""

from __future__ import annotations

import dataclasses
import logging
import re

import pytest

from cds_service.fhir.parse import ConceptModels, build_history
from tests.integration.fhir_helpers import (
    CPT,
    DICOM,
    ICD10,
    LOINC,
    SNOMED,
    TYPE_OF_KEY,
    comparable,
    condition,
    diagnostic_report,
    ids,
    imaging_ids,
    imaging_study,
    knowledge,
    procedure,
    service_request,
    with_imaging,
)

P = "fhir-parse"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"


def history_of(*resources: dict):
    by_type: dict[str, list[dict]] = {}
    for resource in resources:
        by_type.setdefault(resource.get("resourceType", "?"), []).append(resource)
    return build_history(by_type, knowledge())


@pytest.mark.parametrize(
    ("code", "kept"),
    [
        ("M80.08XA", True),  # prior VCF
        ("M48.56XA", True),  # collapsed vertebra, lumbar
        ("Z85.3", True),  # personal history of malignancy
        ("G83.4", True),  # cauda equina syndrome: neurologic deficit
        ("M46.44", True),  # discitis: infection
        ("M54.16", False),  # radiculopathy alone is not a deficit
        ("I10", False),
    ],
)
def test_conditions_are_kept_only_when_coded_in_a_decision_value_set(code, kept):
    history = history_of(condition("c", P, ICD10, code))
    assert (len(history.conditions) == 1) is kept


def test_a_non_vertebral_fragility_fracture_is_not_kept():
    assert history_of(condition("hip", P, SNOMED, "443165006")).conditions == ()


def test_any_coding_of_the_concept_can_make_it_relevant():
    vcf = condition("c", P, SNOMED, "64859006")  # osteoporosis alone: not relevant
    vcf["code"]["coding"].append({"system": ICD10, "code": "M80.08XA"})
    assert ids(history_of(vcf))["conditions"] == {"c"}


@pytest.mark.parametrize(
    ("code", "kept"),
    [("22514", True), ("22513", True), ("72148", True), ("72131", False), ("77080", False)],
)
def test_procedures_and_orders_are_kept_as_augmentation_or_spine_mri(code, kept):
    history = history_of(procedure("p", P, CPT, code), service_request("s", P, CPT, code))
    assert (len(history.procedures), len(history.service_requests)) == (int(kept), int(kept))


def test_irrelevant_resources_are_never_validated():
    # Invalid R4 (a string where a CodeableConcept belongs) but coded outside every value
    # set: it is dropped before validation, so it is not even counted as invalid.
    lab = service_request("lab", P, LOINC, "2345-7", reasonCode="not a concept")
    history = history_of(lab)
    assert (history.service_requests, history.skipped_invalid) == ((), 0)


def test_one_invalid_resource_is_skipped_counted_and_logged_without_patient_data(caplog):
    broken = condition("broken-vcf-id", P, ICD10, "M48.54XA", onsetDateTime="last spring")
    with caplog.at_level(logging.DEBUG):
        history = history_of(condition("vcf", P, ICD10, "M80.08XA"), broken)
    assert ids(history)["conditions"] == {"vcf"}
    assert history.skipped_invalid == 1
    assert "skipped 1 invalid Condition resource(s)" in caplog.text
    for secret in ("broken-vcf-id", "M48.54XA", "last spring", P):
        assert secret not in caplog.text


def test_odd_shapes_are_ignored_not_fatal():
    odd = [
        {"resourceType": "Condition", "id": "no-code", "subject": {"reference": "Patient/x"}},
        {"resourceType": "Condition", "id": "code-list", "code": []},
        {"resourceType": "Condition", "id": "coding-dict", "code": {"coding": {"code": "x"}}},
        {"resourceType": "Condition", "id": "coding-number", "code": {"coding": [{"code": 5}]}},
        {"resourceType": "Condition", "id": "coding-str", "code": {"coding": ["M80.08XA"]}},
    ]
    history = history_of(*odd)
    assert (history.conditions, history.skipped_invalid) == ((), 0)


def test_other_resource_types_in_a_search_bundle_are_left_out():
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "information"}]}
    mislabelled = procedure("p", P, CPT, "22514")
    history = build_history(
        {"Condition": [outcome, {"resourceType": "Patient", "id": P}, mislabelled]},
        knowledge(),
    )
    assert (history.conditions, history.procedures, history.skipped_invalid) == ((), (), 0)


def test_a_resource_on_two_pages_is_kept_once():
    vcf = condition("vcf", P, ICD10, "M80.08XA")
    assert len(history_of(vcf, dict(vcf)).conditions) == 1


def test_an_odd_element_the_decision_never_reads_costs_no_finding():
    fracture = condition("vcf", "p", ICD10, "M80.08XA")
    fracture["meta"] = {"lastUpdated": "last Tuesday"}  # not a FHIR instant
    fracture["encounter"] = "Encounter/1"  # a string where a Reference belongs

    history = history_of(fracture)

    assert ids(history)["conditions"] == {"vcf"} and history.skipped_invalid == 0


class _Everything:
    def __contains__(self, _name: object) -> bool:
        return True


def test_building_only_the_elements_read_answers_every_fixture_as_whole_models_do(
    client, monkeypatch
):
    from cds_service.fhir import parse
    from cds_service.replay.core import load_scenarios
    from cds_service.web import body

    from ..conftest import FIXTURES

    scenarios = load_scenarios(FIXTURES)
    pruned = [
        client.post(f"/cds-services/{s.service_id}", json=s.request).get_json() for s in scenarios
    ]
    whole_kinds = {
        name: dataclasses.replace(kind, elements=_Everything())
        for name, kind in parse._KINDS.items()
    }
    monkeypatch.setattr(parse, "_KINDS", whole_kinds)
    # ... from the body parsed whole, not from prefetch views (which keep only what is read)
    monkeypatch.setattr(body, "_typed_envelope", lambda *_: None)
    whole = [
        client.post(f"/cds-services/{s.service_id}", json=s.request).get_json() for s in scenarios
    ]

    assert len(scenarios) >= 20
    assert [_without_uuids(answer) for answer in pruned] == [_without_uuids(a) for a in whole]


def _without_uuids(answer: dict) -> str:
    return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "u", str(answer))


def test_a_status_shared_by_several_conditions_is_read_for_each_and_a_bad_one_fails_alone():
    active = {"coding": [{"system": CLINICAL, "code": "active"}]}
    resolved = {"coding": [{"system": CLINICAL, "code": "resolved"}]}
    bad = {"coding": [{"system": CLINICAL, "code": "active", "userSelected": "often"}]}
    history = history_of(
        condition("a1", P, ICD10, "M80.08XA", clinicalStatus=active),
        condition("r1", P, ICD10, "G83.4", clinicalStatus=resolved),
        condition("a2", P, ICD10, "C50.911", clinicalStatus=dict(active)),
        condition("bad", P, ICD10, "M46.44", clinicalStatus=bad),
        condition("a3", P, ICD10, "M48.56XA", clinicalStatus=active),
    )

    statuses = {c.id: c.clinicalStatus.coding[0].code for c in history.conditions}
    assert statuses == {"a1": "active", "r1": "resolved", "a2": "active", "a3": "active"}
    assert history.skipped_invalid == 1


def test_a_bad_coded_element_fails_its_resource_in_every_call_not_only_the_first():
    """Coded elements are remembered across calls once valid; an invalid one never is."""
    bad = {"coding": [{"system": CLINICAL, "code": "active", "userSelected": "often"}]}
    for _ in range(2):
        history = history_of(
            condition("bad", P, ICD10, "M46.44", clinicalStatus=bad),
            condition("good", P, ICD10, "M46.44"),
        )
        assert [c.id for c in history.conditions] == ["good"]
        assert history.skipped_invalid == 1


def test_the_coded_elements_remembered_by_a_worker_are_bounded():
    models = ConceptModels(limit=3)
    for n in range(10):

        def read(n=n):
            return {"code": {"coding": [{"system": SNOMED, "code": str(n)}]}}

        shared = models.with_shared_concepts(read())["code"]
        assert shared.coding[0].code == str(n)
        assert models.with_shared_concepts(read())["code"] is shared  # one model per value
    assert len(models._models) <= 3


# ImagingStudy and DiagnosticReport --------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "kept"),
    [
        ({}, True),  # modality MR
        ({"modality": [{"system": DICOM, "code": "CT"}], "series": []}, False),
        ({"modality": [{"system": "urn:local", "code": "MR"}], "series": []}, False),
        ({"modality": []}, True),  # no study-level modality: a series' MR is enough
        (  # no modality anywhere: an MRI procedure code the knowledge knows
            {
                "modality": [],
                "series": [],
                "procedureCode": [{"coding": [{"system": CPT, "code": "72148"}]}],
            },
            True,
        ),
        ({"modality": [], "series": [], "description": "MRI L-spine"}, False),
    ],
)
def test_studies_are_kept_when_recorded_as_mr_or_coded_as_an_mri(extra, kept):
    history = history_of(imaging_study("s", P, **extra))
    assert imaging_ids(history)["imagingStudies"] == ({"s"} if kept else set())


@pytest.mark.parametrize(
    ("code", "kept"),
    [
        ({"coding": [{"system": LOINC, "code": "24968-0"}]}, True),  # MR Lumbar spine
        ({"coding": [{"system": CPT, "code": "72148"}]}, True),
        ({"coding": [{"system": "urn:local", "code": "R1"}], "text": "MRI L-spine w/o"}, True),
        ({"coding": [{"system": "urn:local", "code": "R2", "display": "MR T-spine"}]}, True),
        ({"coding": [{"system": CPT, "code": "72131"}]}, False),  # CT lumbar spine
        ({"coding": [{"system": LOINC, "code": "4548-4"}], "text": "Hemoglobin A1c"}, False),
        ({"text": "MRI brain"}, False),
    ],
)
def test_reports_are_kept_when_coded_or_worded_as_a_spine_mri(code, kept):
    history = history_of({**diagnostic_report("r", P, LOINC, "x"), "code": code})
    assert imaging_ids(history)["diagnosticReports"] == ({"r"} if kept else set())


def test_a_study_is_built_without_its_list_of_images_and_the_same_from_views_or_dicts():
    import json

    import msgspec

    from cds_service.fhir.bundle import bundle_resources
    from cds_service.fhir.views import PREFETCH

    data = with_imaging()
    views = msgspec.json.decode(json.dumps(data.prefetch()).encode(), type=PREFETCH)
    from_views = build_history(
        {TYPE_OF_KEY[key]: bundle_resources(views[key]) for key in TYPE_OF_KEY}, knowledge()
    )
    from_dicts = build_history(
        {TYPE_OF_KEY[key]: resources for key, resources in data.resources.items()}, knowledge()
    )
    assert comparable(from_views) == comparable(from_dicts)
    assert imaging_ids(from_dicts) == {
        key: data.relevant_ids[key] for key in ("imagingStudies", "diagnosticReports")
    }
    (study,) = from_dicts.imaging_studies
    assert [one.instance for one in study.series] == [None]
    assert study.series[0].modality.code == "MR"


def test_an_invalid_study_is_skipped_and_counted():
    no_series_uid = imaging_study("bad", P, series=[{"modality": {"system": DICOM, "code": "MR"}}])
    history = history_of(no_series_uid, imaging_study("good", P))
    assert imaging_ids(history)["imagingStudies"] == {"good"}
    assert history.skipped_invalid == 1
