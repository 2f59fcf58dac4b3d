"""The value sets as FHIR: R4B-valid, and the expansion is exactly what the core matches."""

from __future__ import annotations

import re

import pytest
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.valueset import ValueSet as FhirValueSet

from cds_service import terminology
from cds_service.decision import classify_order, find_patient_findings
from cds_service.decision.model import FindingKind
from cds_service.decision.record import first_match
from cds_service.knowledge.model import ICD10CM

from .conftest import concept, condition, history, order, procedure

# Value sets the core reads from a Condition, and the finding each proves.
CONDITION_SETS = {
    "prior_vcf": FindingKind.PRIOR_VCF,
    "malignancy": FindingKind.MALIGNANCY,
    "neurologic_deficit": FindingKind.NEUROLOGIC_DEFICIT,
    "infection": FindingKind.INFECTION,
}


def expanded(knowledge, value_set_id):
    vs = knowledge.value_sets[value_set_id]
    resource = terminology.expand(knowledge, vs)
    return [(c.system, c.code) for c in resource.expansion.contains]


def conditions_for(codes):
    # Codes only, no display: the words of a display could prove a finding by themselves.
    return [
        condition(code, system, onset="2026-11-30", id=f"c{index}")
        for index, (system, code) in enumerate(codes)
    ]


def found_references(knowledge, resources, kind):
    findings = find_patient_findings(history(*resources), knowledge)
    return {evidence.reference for evidence in getattr(findings, kind.value)}


@pytest.mark.parametrize("value_set_id", sorted(CONDITION_SETS))
def test_each_expanded_code_is_a_finding_through_the_decision_core(knowledge, value_set_id):
    codes = expanded(knowledge, value_set_id)
    assert codes
    found = found_references(knowledge, conditions_for(codes), CONDITION_SETS[value_set_id])
    assert found == {f"Condition/c{index}" for index in range(len(codes))}


@pytest.mark.parametrize("value_set_id", sorted(CONDITION_SETS))
def test_icd10cm_codes_left_out_of_the_expansion_are_no_finding(knowledge, value_set_id):
    """Exactly: the tabular's codes next to the expansion (same category) that it leaves
    out, e.g. burst fractures beside wedge compression, skin BCC beside melanoma."""
    included = {code for system, code in expanded(knowledge, value_set_id) if system == ICD10CM}
    categories = {code[:3] for code in included}
    near = [
        (ICD10CM, code)
        for code, _ in terminology.icd10cm_tabular()
        if code[:3] in categories and code not in included
    ]
    if not near:
        pytest.skip("no ICD-10-CM code shares a category with this value set's codes")
    assert not found_references(knowledge, conditions_for(near), CONDITION_SETS[value_set_id])


def test_augmentation_procedures_reason_regions_and_body_sites(knowledge):
    codes = expanded(knowledge, "vertebral_augmentation")
    procedures = [
        procedure(code, system, id=f"p{index}") for index, (system, code) in enumerate(codes)
    ]
    findings = find_patient_findings(history(*procedures), knowledge)
    assert {e.reference for e in findings.vertebral_augmentation} == {
        f"Procedure/p{index}" for index in range(len(codes))
    }
    for system, code in expanded(knowledge, "reason_region"):
        draft = order(text="CT spine without contrast", reason=concept(code, system))
        assert classify_order(draft, knowledge).reason_regions, code
    body_sites = knowledge.value_sets["spine_body_site"]
    for system, code in expanded(knowledge, "spine_body_site"):
        site = CodeableConcept.model_validate(concept(code, system))
        assert first_match(body_sites, [site]) is not None, code


def test_value_sets_validate_as_r4b_and_carry_the_knowledge_version(knowledge):
    for vs in knowledge.value_sets.values():
        resource = terminology.value_set(knowledge, vs)
        again = FhirValueSet.model_validate(resource.model_dump(mode="json"))
        assert again.url == f"{knowledge.system_base}/ValueSet/{vs.id.replace('_', '-')}"
        assert again.version == knowledge.version
        assert again.status == "active"
        systems = {entry.system for entry in vs.entries}
        assert {include.system for include in again.compose.include} == systems
        for include in again.compose.include:
            (provenance,) = include.extension
            assert provenance.valueString  # each group says where its codes come from


def test_compose_states_the_expansion_of_icd10cm(knowledge):
    """The compose (listed codes, regex filters for prefixes and ranges, exclusions) takes
    exactly the ICD-10-CM codes of the expansion."""
    tabular = [code for code, _ in terminology.icd10cm_tabular()]
    for vs in knowledge.value_sets.values():
        compose = terminology.value_set(knowledge, vs).compose
        stated = set()
        for include in (i for i in compose.include if i.system == ICD10CM):
            stated |= {c.code for c in include.concept or ()}
            for rule in include.filter or ():
                stated |= {code for code in tabular if re.match(rule.value, code)}
        for exclude in (e for e in compose.exclude or () if e.system == ICD10CM):
            stated -= {c.code for c in exclude.concept or ()}
            for rule in exclude.filter or ():
                stated -= {code for code in tabular if re.match(rule.value, code)}
        included = {code for system, code in expanded(knowledge, vs.id) if system == ICD10CM}
        assert stated == included, vs.id


def test_the_range_rule_follows_the_code_order():
    pattern = re.compile(terminology._between("C7A", "D09"))
    assert [
        c for c in ("C79", "C7A", "C7B", "C80", "C99", "D00", "D09", "D10") if pattern.match(c)
    ] == ["C7A", "C7B", "C80", "C99", "D00", "D09"]
