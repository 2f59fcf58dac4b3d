"""A patient's exported Bundle becomes the prefetch an EHR would send, references as `Type/id`."""

from __future__ import annotations

import copy

import pytest

from cds_service.cdshooks.request import HookRequestSchema
from cds_service.knowledge.model import CPT, ICD10CM, LOINC, SNOMED
from cds_service.replay.patient_bundle import (
    PatientBundleError,
    draft_order,
    hook_request,
    order_coding,
    read_patient_record,
    reason_coding,
)

PATIENT_UUID = "e62229aa-7327-48d5-bbe8-6b8295de0e55"
ENCOUNTER_UUID = "a3d3e267-280a-40c1-8ce8-a74a4bfd0d73"


def entry(resource: dict, full_url: str | None = None) -> dict:
    full_url = full_url or f"urn:uuid:{resource['id']}"
    return {
        "fullUrl": full_url,
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"]},
    }


def synthea_bundle() -> dict:
    """The shape Synthea writes: a transaction whose references are urn:uuid fullUrls."""
    subject = {"reference": f"urn:uuid:{PATIENT_UUID}"}
    encounter = {"reference": f"urn:uuid:{ENCOUNTER_UUID}"}
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            entry({"resourceType": "Patient", "id": PATIENT_UUID, "gender": "male"}),
            entry({"resourceType": "Encounter", "id": ENCOUNTER_UUID, "subject": subject}),
            entry(
                {
                    "resourceType": "Condition",
                    "id": "c1",
                    "code": {"coding": [{"system": SNOMED, "code": "65966004"}]},
                    "subject": subject,
                    "encounter": encounter,
                }
            ),
            entry(
                {
                    "resourceType": "Procedure",
                    "id": "p1",
                    "status": "completed",
                    "code": {"text": "Bone density scan"},
                    "subject": subject,
                }
            ),
            entry(
                {
                    "resourceType": "Observation",
                    "id": "o1",
                    "status": "final",
                    "code": {"text": "DXA T-score"},
                    "subject": subject,
                }
            ),
        ],
    }


def test_synthea_references_become_type_and_id():
    record = read_patient_record(synthea_bundle())
    (condition,) = record.resources["conditions"]
    assert condition["subject"] == {"reference": f"Patient/{PATIENT_UUID}"}
    assert condition["encounter"] == {"reference": f"Encounter/{ENCOUNTER_UUID}"}
    assert record.resources["procedures"][0]["subject"]["reference"] == f"Patient/{PATIENT_UUID}"
    assert record.patient_id == PATIENT_UUID


def test_only_the_prefetched_resource_types_are_kept():
    record = read_patient_record(synthea_bundle())
    kept = {key: [r["id"] for r in resources] for key, resources in record.resources.items()}
    assert kept == {
        "conditions": ["c1"],
        "procedures": ["p1"],
        "serviceRequests": [],
        "imagingStudies": [],
        "diagnosticReports": [],
    }


def test_the_exported_bundle_is_left_as_it_was():
    bundle = synthea_bundle()
    original = copy.deepcopy(bundle)
    read_patient_record(bundle)
    assert bundle == original


def test_absolute_full_urls_of_a_collection_resolve_and_relative_references_stay():
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            entry({"resourceType": "Patient", "id": "p-7"}, "https://ehr.example/fhir/Patient/p-7"),
            entry(
                {
                    "resourceType": "Condition",
                    "id": "c-1",
                    "subject": {"reference": "https://ehr.example/fhir/Patient/p-7"},
                    "asserter": {"reference": "Practitioner/dr-lee"},
                },
                "https://ehr.example/fhir/Condition/c-1",
            ),
        ],
    }
    (condition,) = read_patient_record(bundle).resources["conditions"]
    assert condition["subject"] == {"reference": "Patient/p-7"}
    assert condition["asserter"] == {"reference": "Practitioner/dr-lee"}


def test_a_resource_without_id_takes_it_from_its_full_url():
    bundle = synthea_bundle()
    del bundle["entry"][2]["resource"]["id"]
    bundle["entry"][2]["fullUrl"] = "urn:uuid:11111111-2222-4333-8444-555555555555"
    (condition,) = read_patient_record(bundle).resources["conditions"]
    assert condition["id"] == "11111111-2222-4333-8444-555555555555"


def searchset_of_two_patients() -> dict:
    def condition(resource_id: str, patient: str) -> dict:
        return {
            "resourceType": "Condition",
            "id": resource_id,
            "subject": {"reference": f"Patient/{patient}"},
        }

    resources = [
        {"resourceType": "Patient", "id": "a"},
        {"resourceType": "Patient", "id": "b"},
        condition("ca", "a"),
        condition("cb", "b"),
    ]
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }


def test_a_bundle_of_several_patients_needs_the_patient_named():
    with pytest.raises(PatientBundleError, match="2 Patient resources; name one with --patient"):
        read_patient_record(searchset_of_two_patients())


def test_the_named_patient_gets_only_their_own_resources():
    record = read_patient_record(searchset_of_two_patients(), patient_id="b")
    assert [c["id"] for c in record.resources["conditions"]] == ["cb"]


def test_an_unknown_patient_id_is_refused():
    with pytest.raises(PatientBundleError, match="no Patient with id 'z'"):
        read_patient_record(searchset_of_two_patients(), patient_id="z")


@pytest.mark.parametrize("not_a_bundle", [[], {"resourceType": "Patient", "id": "x"}])
def test_something_else_than_a_bundle_is_refused(not_a_bundle):
    with pytest.raises(PatientBundleError, match="not a FHIR Bundle"):
        read_patient_record(not_a_bundle)


def test_a_five_digit_order_code_is_cpt_with_the_knowledge_display(knowledge):
    coding = order_coding("72132", knowledge)
    assert coding["system"] == CPT
    assert coding["display"] == knowledge.orderables[(CPT, "72132")].display


def test_a_dashed_order_code_is_loinc(knowledge):
    code = next(code for system, code in knowledge.orderables if system == LOINC)
    coding = order_coding(code, knowledge)
    assert coding == {
        "system": LOINC,
        "code": code,
        "display": knowledge.orderables[(LOINC, code)].display,
    }


def test_an_unknown_cpt_code_has_no_display(knowledge):
    assert order_coding("99213", knowledge) == {"system": CPT, "code": "99213"}


@pytest.mark.parametrize("code", ["7213", "CT L-spine", "72132-", "M54.50"])
def test_an_order_code_of_no_known_shape_is_refused(knowledge, code):
    with pytest.raises(PatientBundleError, match="neither CPT"):
        order_coding(code, knowledge)


def test_reason_codes_are_icd_10_cm_or_snomed(knowledge):
    assert reason_coding("m54.50", knowledge)["system"] == ICD10CM
    assert reason_coding("m54.50", knowledge)["code"] == "M54.50"
    assert reason_coding("279039007", knowledge)["system"] == SNOMED


def test_a_reason_code_of_no_known_shape_is_refused(knowledge):
    with pytest.raises(PatientBundleError, match="neither ICD-10-CM"):
        reason_coding("low back pain", knowledge)


def orders() -> list[dict]:
    reason = {"system": ICD10CM, "code": "M54.50"}
    return [
        draft_order(1, {"system": CPT, "code": "72132"}, [reason], PATIENT_UUID, "2026-11-20"),
        draft_order(2, {"system": CPT, "code": "72131"}, [], PATIENT_UUID, "2026-11-20"),
    ]


def test_order_select_selects_every_draft_order_and_the_request_is_valid():
    request = hook_request(read_patient_record(synthea_bundle()), orders(), "order-select", "i-1")
    parsed = HookRequestSchema().load(request)
    assert parsed.context.selections == (
        "ServiceRequest/draft-order-1",
        "ServiceRequest/draft-order-2",
    )
    assert parsed.context.patient_id == PATIENT_UUID
    first = parsed.context.draft_resources()[0]
    assert first["subject"] == {"reference": f"Patient/{PATIENT_UUID}"}
    assert first["reasonCode"] == [{"coding": [{"system": ICD10CM, "code": "M54.50"}]}]


def test_order_sign_sends_no_selections():
    request = hook_request(read_patient_record(synthea_bundle()), orders(), "order-sign", "i-1")
    assert "selections" not in request["context"]
    assert HookRequestSchema().load(request).context.selections is None


def test_prefetch_holds_the_patient_and_one_searchset_per_key():
    request = hook_request(read_patient_record(synthea_bundle()), orders(), "order-sign", "i-1")
    prefetch = request["prefetch"]
    assert prefetch["patient"]["id"] == PATIENT_UUID
    assert prefetch["conditions"]["total"] == 1
    assert prefetch["conditions"]["entry"][0]["fullUrl"] == "Condition/c1"
    # An empty search answer: the EHR has no such data (the service must not query for it).
    assert prefetch["serviceRequests"] == {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": 0,
    }
