"""What the core reads from the chart: VCF history, augmentation, red flags, recent MRI."""

from __future__ import annotations

import pytest
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.procedure import Procedure

from cds_service.decision.levels import adjacent_levels, vertebral_levels
from cds_service.vocabulary import FindingKind, SpineRegion

from .conftest import (
    CPT,
    ICD10,
    SNOMED,
    cauda_equina,
    condition,
    discitis,
    kyphoplasty,
    malignancy_history,
    order,
    prior_vcf_l2,
    procedure,
    spine_mri,
)

# -- prior vertebral compression fracture --------------------------------------------------


def test_a_resolved_osteoporotic_vcf_still_counts_as_history(findings_of):
    findings = findings_of(prior_vcf_l2(id="seed-vcf-l2"))

    assert findings.has_vcf_history
    (evidence,) = findings.prior_vcf
    assert evidence.kind is FindingKind.PRIOR_VCF
    assert evidence.display.startswith("Age-related osteoporosis with current pathological")
    assert evidence.date == "2024-10-28"
    assert evidence.reference == "Condition/seed-vcf-l2"


@pytest.mark.parametrize(
    ("code", "system", "region"),
    [
        ("M48.56XA", ICD10, SpineRegion.LUMBAR),
        ("M48.54XD", ICD10, SpineRegion.THORACIC),
        ("M80.08XA", ICD10, None),
        ("203450003", SNOMED, SpineRegion.LUMBAR),
        ("42942008", SNOMED, None),
    ],
)
def test_vertebral_fracture_codes_count_with_the_region_they_name(
    findings_of, code, system, region
):
    (evidence,) = findings_of(condition(code, system)).prior_vcf

    assert evidence.regions == (frozenset({region}) if region else frozenset())


@pytest.mark.parametrize(
    ("words", "region"),
    [
        ("L2 compression fracture", SpineRegion.LUMBAR),
        ("History of T12 vertebral fracture (osteoporotic)", SpineRegion.THORACIC),
        ("s/p kyphoplasty", None),
        ("Collapsed vertebra", None),
    ],
)
def test_a_prior_vcf_named_in_words_counts_under_a_code_outside_the_value_set(
    findings_of, words, region
):
    """Z87.310 (healed osteoporosis fracture, any bone) with words that name a vertebral
    fracture: the reviewing radiologist's case that got no card at all."""
    history = condition("Z87.310", ICD10, "Personal history of (healed) osteoporosis fracture")
    named = history.model_copy(update={"code": history.code.model_copy(update={"text": words})})
    (evidence,) = findings_of(named).prior_vcf
    assert evidence.display == words
    assert evidence.regions == (frozenset({region}) if region else frozenset())


@pytest.mark.parametrize(
    "words", ["Personal history of (healed) osteoporosis fracture", "Fracture of left wrist"]
)
def test_a_fracture_not_named_vertebral_is_no_prior_vcf(findings_of, words):
    findings = findings_of(condition("Z87.310", ICD10, words))
    assert findings.prior_vcf == ()
    assert not findings.has_vcf_history


def test_a_fracture_level_in_body_site_gives_its_region(findings_of):
    (evidence,) = findings_of(condition("M80.08XA", body_site="T12 vertebra")).prior_vcf

    assert evidence.regions == {SpineRegion.THORACIC}
    assert evidence.levels == ()  # levels are reserved for treated vertebrae


@pytest.mark.parametrize("verification", ["entered-in-error", "refuted"])
def test_a_fracture_that_was_never_true_does_not_count(findings_of, verification):
    findings = findings_of(condition("M48.56XA", verification=verification))

    assert not findings.has_vcf_history


@pytest.mark.parametrize("verification", ["unconfirmed", "provisional", "differential", None])
def test_a_fracture_not_yet_confirmed_still_counts(findings_of, verification):
    assert findings_of(condition("M48.56XA", verification=verification)).has_vcf_history


def test_a_femur_fragility_fracture_is_not_a_vertebral_fracture(findings_of):
    hip = condition("443165006", SNOMED, "Osteoporotic fracture of bone", body_site="Left femur")
    osteoporosis = condition("64859006", SNOMED, "Osteoporosis")

    findings = findings_of(hip, osteoporosis)

    assert not findings.has_vcf_history
    assert findings.prior_vcf == ()


def test_the_date_falls_back_to_onset_period_then_recorded_date(findings_of):
    period = condition("M48.56XA", onset=None, onsetPeriod={"start": "2023-02-01"})
    recorded = condition("M48.56XA", onset=None, recordedDate="2023-03-04")
    undated = condition("M48.56XA", onset=None)

    dates = [e.date for e in findings_of(period, recorded, undated).prior_vcf]

    assert dates == ["2023-02-01", "2023-03-04", None]


def test_the_display_falls_back_to_the_text_of_the_code(findings_of):
    vcf = Condition.model_validate(
        {
            "resourceType": "Condition",
            "subject": {"reference": "Patient/pt-1"},
            "code": {
                "coding": [{"system": ICD10, "code": "M48.56XA"}],
                "text": "Wedge fracture L1",
            },
        }
    )

    (evidence,) = findings_of(vcf).prior_vcf

    assert evidence.display == "Wedge fracture L1"
    assert evidence.reference is None  # no id, no reference: never a made-up one


# -- vertebral augmentation ----------------------------------------------------------------


def test_kyphoplasty_at_l2_implies_vcf_history_and_keeps_the_treated_level(findings_of):
    findings = findings_of(kyphoplasty(level="L2", id="seed-kyphoplasty-l2"))

    assert findings.has_vcf_history
    assert findings.prior_vcf == ()
    (evidence,) = findings.vertebral_augmentation
    assert evidence.levels == ("L2",)
    assert evidence.regions == {SpineRegion.LUMBAR}
    assert evidence.date == "2024-11-12"
    assert evidence.reference == "Procedure/seed-kyphoplasty-l2"
    assert findings.treated_levels == ("L2",)
    assert adjacent_levels(findings.treated_levels) == ("L1", "L3")


@pytest.mark.parametrize(
    ("body_site", "levels"),
    [
        ("L2 vertebra", ("L2",)),
        ("t12", ("T12",)),
        ("T12-L1", ("T12", "L1")),
        (
            {
                "coding": [
                    {"system": SNOMED, "code": "14293000", "display": "Second lumbar vertebra"}
                ]
            },
            ("L2",),
        ),
        ({"coding": [{"system": "urn:local:levels", "code": "L4"}]}, ("L4",)),
        ("Lumbar spine", ()),
    ],
)
def test_treated_levels_are_normalised_from_body_site(findings_of, body_site, levels):
    (evidence,) = findings_of(kyphoplasty(level=body_site)).vertebral_augmentation

    assert evidence.levels == levels


@pytest.mark.parametrize(
    ("treated", "adjacent"),
    [
        (("L2",), ("L1", "L3")),
        (("T12",), ("T11", "L1")),
        (("L5",), ("L4", "S1")),
        (("C7",), ("C6", "T1")),
        (("L1", "L2"), ("T12", "L3")),
        (("C1",), ("C2",)),
    ],
)
def test_adjacent_levels_cross_the_junctions(treated, adjacent):
    assert adjacent_levels(treated) == adjacent


def test_levels_are_not_read_from_words_that_merely_contain_letters_and_digits():
    assert vertebral_levels(["XR lumbar spine 2 views", "CPT 22514", "MRI L-spine"]) == ()


@pytest.mark.parametrize("status", ["in-progress", "on-hold", "stopped", "unknown", "completed"])
def test_an_augmentation_that_may_have_happened_counts(findings_of, status):
    assert findings_of(kyphoplasty(status=status)).has_vcf_history


@pytest.mark.parametrize("status", ["entered-in-error", "not-done"])
def test_an_augmentation_that_did_not_happen_does_not_count(findings_of, status):
    assert not findings_of(kyphoplasty(status=status)).has_vcf_history


def test_a_completed_augmentation_order_counts_but_a_draft_does_not(findings_of):
    done = order(
        "22513",
        display="Kyphoplasty thoracic",
        status="completed",
        id="kyp-done",
        authored_on="2025-01-02",
        bodySite=[{"text": "T12"}],
    )
    draft = order("22514", display="Kyphoplasty lumbar")

    findings = findings_of(done, draft)

    (evidence,) = findings.vertebral_augmentation
    assert evidence.reference == "ServiceRequest/kyp-done"
    assert evidence.date == "2025-01-02"
    assert evidence.levels == ("T12",)


# -- red flags -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "malignancy",
    [
        malignancy_history(),  # Z85.3 personal history, inactive
        condition("C90.00", display="Multiple myeloma not having achieved remission"),
        condition("109989006", SNOMED, "Multiple myeloma", clinical="remission"),
    ],
)
def test_an_active_or_past_malignancy_is_known_malignancy(findings_of, malignancy):
    (evidence,) = findings_of(malignancy).malignancy

    assert evidence.kind is FindingKind.MALIGNANCY


def test_a_refuted_malignancy_is_not_known_malignancy(findings_of):
    assert findings_of(condition("C50.911", verification="refuted")).malignancy == ()


@pytest.mark.parametrize(
    ("code", "system"),
    [("G83.4", ICD10), ("G95.20", ICD10), ("R33.9", ICD10), ("192970008", SNOMED)],
)
def test_cauda_equina_cord_compression_and_retention_are_neurologic_deficits(
    findings_of, code, system
):
    assert findings_of(condition(code, system)).neurologic_deficit


@pytest.mark.parametrize(
    ("code", "system"), [("M54.16", ICD10), ("128196005", SNOMED), ("54404000", SNOMED)]
)
def test_radiculopathy_alone_is_not_a_neurologic_deficit(findings_of, code, system):
    assert findings_of(condition(code, system)).neurologic_deficit == ()


@pytest.mark.parametrize(("code", "system"), [("M46.44", ICD10), ("G06.1", ICD10)])
def test_discitis_and_epidural_abscess_raise_infection_concern(findings_of, code, system):
    (evidence,) = findings_of(condition(code, system)).infection

    assert evidence.kind is FindingKind.INFECTION


@pytest.mark.parametrize("clinical", ["resolved", "inactive", "remission"])
def test_a_past_deficit_or_infection_no_longer_raises_the_concern(findings_of, clinical):
    findings = findings_of(
        condition("G83.4", clinical=clinical), condition("M46.44", clinical=clinical)
    )

    assert findings.neurologic_deficit == ()
    assert findings.infection == ()


def test_red_flags_come_only_from_conditions(findings_of):
    findings = findings_of(procedure("G83.4", ICD10), order("M46.44", ICD10, status="completed"))

    assert findings.neurologic_deficit == ()
    assert findings.infection == ()


def test_each_red_flag_is_found_once_in_a_chart_with_all_of_them(findings_of):
    findings = findings_of(prior_vcf_l2(), malignancy_history(), cauda_equina(), discitis())

    counts = (findings.malignancy, findings.neurologic_deficit, findings.infection)
    assert [len(found) for found in counts] == [1, 1, 1]


# -- completed spine MRI -------------------------------------------------------------------


def test_a_completed_spine_mri_procedure_is_found_with_its_date_and_region(findings_of):
    (mri,) = findings_of(spine_mri("2026-10-30", code="72146", id="mri-t")).spine_mri

    assert mri.date == "2026-10-30"
    assert mri.reference == "Procedure/mri-t"
    assert mri.regions == {SpineRegion.THORACIC}


def test_the_mri_date_may_come_from_performed_period(findings_of):
    mri = spine_mri(performed=None, performedPeriod={"start": "2026-09-01T08:00:00Z"})

    (evidence,) = findings_of(mri).spine_mri

    assert evidence.date.startswith("2026-09-01")


def test_a_completed_mri_order_is_dated_by_authored_on(findings_of):
    done = order(
        "30679-5",
        "http://loinc.org",
        "MR Lumbar spine WO contrast",
        status="completed",
        authored_on="2026-10-01",
    )

    (evidence,) = findings_of(done).spine_mri

    assert evidence.date == "2026-10-01"


@pytest.mark.parametrize("status", ["in-progress", "not-done", "entered-in-error"])
def test_an_mri_not_completed_is_not_a_done_mri(findings_of, status):
    assert findings_of(spine_mri("2026-10-30", status=status)).spine_mri == ()


def test_an_mri_order_still_in_draft_or_a_spine_ct_is_not_a_done_mri(findings_of):
    findings = findings_of(order("72148"), procedure("72131", performed="2026-10-30"))

    assert findings.spine_mri == ()


# -- odd input -----------------------------------------------------------------------------


def test_resources_without_code_or_with_empty_codings_are_ignored(findings_of):
    no_code = Condition.model_validate(
        {"resourceType": "Condition", "subject": {"reference": "Patient/pt-1"}}
    )
    text_only = Condition.model_validate(
        {
            "resourceType": "Condition",
            "subject": {"reference": "Patient/pt-1"},
            "code": {"text": "Compression fracture L1"},
        }
    )
    no_system = condition("M48.56XA", system=None)
    bare_procedure = Procedure.model_validate(
        {"resourceType": "Procedure", "status": "completed", "subject": {"reference": "Patient/p"}}
    )

    findings = findings_of(no_code, no_system, bare_procedure, order(None))

    assert not findings.has_vcf_history
    assert findings.spine_mri == ()
    # Words alone that name a vertebral fracture do count (a code never silences them).
    assert findings_of(text_only).has_vcf_history


def test_an_unknown_cpt_code_is_no_finding(findings_of):
    assert findings_of(procedure("99213", CPT, "Office visit")) == findings_of()


def test_resources_built_without_validation_do_not_raise(findings_of):
    """An EHR's odd data (built here without validation) is ignored or kept as recorded."""
    odd_vcf = Condition.model_construct(
        id="odd",
        code={"coding": "not a list"},
        verificationStatus=None,
        onsetDateTime="sometime in spring",
    )
    odd_kyphoplasty = kyphoplasty(level=None).model_copy(
        update={"performedDateTime": "last year", "bodySite": None}
    )

    findings = findings_of(odd_vcf, odd_kyphoplasty)

    assert findings.prior_vcf == ()
    (evidence,) = findings.vertebral_augmentation
    assert evidence.date == "last year"
    assert evidence.levels == ()
