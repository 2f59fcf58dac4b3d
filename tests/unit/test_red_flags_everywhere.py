"""Red flags count wherever the record or the order states them (issue 14 §1)."""

from __future__ import annotations

from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.imagingstudy import ImagingStudy

from cds_service.decision import classify_order, decide, find_patient_findings
from cds_service.decision.model import FindingSource, PatientHistory
from cds_service.fhir.parse import build_history
from cds_service.vocabulary import FindingKind, Indicator, Qualifier, Topic

from .conftest import (
    CPT,
    LOCAL,
    LOW_BACK_PAIN,
    TODAY,
    concept,
    condition,
    order,
    prior_vcf_l2,
    procedure,
)


def red_flags(decision, kind: FindingKind):
    return [e for e in decision.evidence if e.kind is kind]


def test_a_cauda_equina_written_only_in_the_order_reason_asks_for_mri(decide_for):
    reason = concept(
        "279039007", "http://snomed.info/sct", "Low back pain", "LBP, new saddle numbness"
    )

    decision = decide_for(order("72131", reason=reason), prior_vcf_l2())

    assert decision.topic is Topic.MRI_PREFERRED_NEUROLOGIC_DEFICIT
    assert decision.indicator is Indicator.CRITICAL
    (flag,) = red_flags(decision, FindingKind.NEUROLOGIC_DEFICIT)
    assert flag.source is FindingSource.ORDER_REASON
    assert Qualifier.NEW in flag.qualifiers


def test_the_order_code_text_is_read_for_red_flags(decide_for):
    draft = order("72131", CPT, "CT lumbar spine wo", text="CT L-spine for cauda equina")

    decision = decide_for(draft, prior_vcf_l2())

    assert decision.topic is Topic.MRI_PREFERRED_NEUROLOGIC_DEFICIT
    assert red_flags(decision, FindingKind.NEUROLOGIC_DEFICIT)[0].source is FindingSource.ORDER_TEXT


def test_a_suspected_abscess_in_the_note_keeps_the_contrast_of_the_order(decide_for):
    draft = order("72157", note=[{"text": "Fever, IVDU. r/o epidural abscess"}])

    decision = decide_for(draft, prior_vcf_l2())

    assert decision.topic is Topic.USUALLY_APPROPRIATE
    assert decision.topic is not Topic.CONTRAST_NOT_INDICATED
    flags = red_flags(decision, FindingKind.INFECTION)
    assert flags and all(Qualifier.SUSPECTED in f.qualifiers for f in flags)
    assert {f.source for f in flags} == {FindingSource.ORDER_NOTE}


def test_a_negated_red_flag_on_the_order_counts_for_nothing(decide_for):
    draft = order("72131", note=[{"text": "No saddle anaesthesia, no bowel or bladder symptoms"}])

    decision = decide_for(draft, prior_vcf_l2())

    assert decision.topic is Topic.USUALLY_APPROPRIATE
    assert not red_flags(decision, FindingKind.NEUROLOGIC_DEFICIT)


def test_a_coded_reason_counts_as_that_finding(decide_for):
    reason = concept(
        "G06.1", "http://hl7.org/fhir/sid/icd-10-cm", "Intraspinal abscess and granuloma"
    )

    decision = decide_for(order("72131", reason=reason), prior_vcf_l2())

    assert decision.topic is Topic.SPINAL_INFECTION_CONCERN
    assert decision.indicator is Indicator.WARNING


def test_a_reason_reference_marks_the_recorded_finding_as_stated_on_the_order(decide_for):
    old_deficit = condition(
        "G95.20", display="Unspecified cord compression", onset="2019-01-01", id="cc"
    )
    draft = order("72131", reasonReference=[{"reference": "https://ehr.test/fhir/Condition/cc"}])

    decision = decide_for(draft, prior_vcf_l2(), old_deficit)

    # Old by its date, but the clinician names it as the reason for this order: new.
    assert decision.topic is Topic.MRI_PREFERRED_NEUROLOGIC_DEFICIT
    (flag,) = red_flags(decision, FindingKind.NEUROLOGIC_DEFICIT)
    assert {Qualifier.ON_ORDER, Qualifier.NEW} <= set(flag.qualifiers)


def test_a_condition_with_an_unknown_code_but_clear_words_is_a_red_flag(decide_for, knowledge):
    local = condition("99-123", LOCAL, "Metastatic prostate cancer to spine", clinical="active")

    decision = decide_for(order("72132", reason=LOW_BACK_PAIN), prior_vcf_l2(), local)

    assert decision.topic is Topic.PATHOLOGIC_FRACTURE_CONCERN
    assert decision.topic is not Topic.CONTRAST_NOT_INDICATED
    (flag,) = red_flags(decision, FindingKind.MALIGNANCY)
    assert flag.display == "Metastatic prostate cancer to spine"


def test_the_patient_data_layer_keeps_conditions_whose_words_name_a_red_flag(knowledge):
    raw = {
        "Condition": [
            {
                "resourceType": "Condition",
                "id": "local-ces",
                "subject": {"reference": "Patient/pt-1"},
                "code": {
                    "coding": [{"system": LOCAL, "code": "77", "display": "Cauda equina syndrome"}]
                },
            },
            {
                "resourceType": "Condition",
                "id": "local-htn",
                "subject": {"reference": "Patient/pt-1"},
                "code": {"coding": [{"system": LOCAL, "code": "78", "display": "Hypertension"}]},
            },
        ]
    }

    history = build_history(raw, knowledge)

    assert [c.id for c in history.conditions] == ["local-ces"]


def test_a_provisional_diagnosis_is_a_suspected_red_flag(decide_for):
    provisional = condition(
        "G83.4", display="Cauda equina syndrome", verification="provisional", onset=None
    )

    decision = decide_for(order("72131", reason=LOW_BACK_PAIN), prior_vcf_l2(), provisional)

    assert decision.indicator is Indicator.CRITICAL
    (flag,) = red_flags(decision, FindingKind.NEUROLOGIC_DEFICIT)
    assert Qualifier.SUSPECTED in flag.qualifiers


def test_skin_basal_cell_carcinoma_is_not_a_cancer_red_flag(decide_for):
    bcc = condition("C44.311", display="Basal cell carcinoma of skin of nose", clinical="resolved")
    history_of = condition(
        "Z85.828", display="Personal history of other malignant neoplasm of skin"
    )

    decision = decide_for(order("72131", reason=LOW_BACK_PAIN), prior_vcf_l2(), bcc, history_of)

    assert decision.topic is Topic.USUALLY_APPROPRIATE
    assert not red_flags(decision, FindingKind.MALIGNANCY)


def test_a_pathological_fracture_in_neoplastic_disease_is_cancer_and_a_prior_vcf(findings_of):
    m84 = condition("M84.58XA", display="Pathological fracture in neoplastic disease, vertebrae")

    findings = findings_of(m84)

    assert findings.prior_vcf and findings.malignancy


def test_the_treated_level_is_read_from_the_procedure_note_and_code_text(findings_of):
    from_note = procedure("22514", note=[{"text": "Kyphoplasty L2, 4 ml PMMA"}])
    from_text = procedure("22513").model_copy(
        update={
            "code": CodeableConcept.model_validate(concept("22513", CPT, text="Kyphoplasty T12"))
        }
    )

    assert findings_of(from_note).treated_levels == ("L2",)
    assert findings_of(from_text).treated_levels == ("T12",)


def test_an_mri_recorded_only_as_an_imaging_study_counts_before_augmentation(knowledge):
    study = ImagingStudy.model_validate(
        {
            "resourceType": "ImagingStudy",
            "id": "mr-1",
            "status": "available",
            "subject": {"reference": "Patient/pt-1"},
            "started": "2026-11-10T09:00:00Z",
            "modality": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "MR"}],
            "description": "MRI L-spine without contrast",
        }
    )
    kyphoplasty_l3 = classify_order(order("22514", text="Kyphoplasty L3"), knowledge)

    def decision(*studies):
        chart = PatientHistory(conditions=(prior_vcf_l2(),), imaging_studies=studies)
        return decide(find_patient_findings(chart, knowledge), kyphoplasty_l3, knowledge, TODAY)

    assert decision(study) is None
    assert decision().topic is Topic.MRI_BEFORE_AUGMENTATION


def test_the_memory_of_concept_words_is_bounded(knowledge):
    from cds_service.decision.text_flags import CONCEPT_WORDS_REMEMBERED, concept_flags

    patterns = knowledge.text_patterns
    for n in range(CONCEPT_WORDS_REMEMBERED + 10):
        concept_flags(f"Metastatic carcinoma {n}", patterns)

    assert len(patterns.concept_words_read) <= CONCEPT_WORDS_REMEMBERED
    assert concept_flags("Cauda equina syndrome", patterns)[0].severe
