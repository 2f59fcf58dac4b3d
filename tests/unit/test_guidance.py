"""How the ACR variants rate a draft order when red flags combine, and what the card says."""

from __future__ import annotations

import pytest

from cds_service.decision import applicable_guidance
from cds_service.decision.red_flags import RedFlags
from cds_service.decision.suggestions import (
    ADJACENT_LEVEL_FRACTURE,
    CONTRAST_INDICATED_CANCER,
    CT_CANNOT_DATE_FRACTURE,
    LONGSTANDING_DEFICIT,
    MALIGNANCY_RED_FLAGS_ON_CT,
    NEW_PAIN_NOT_OLD_FRACTURE,
    URGENT_CONSULTATION,
)
from cds_service.knowledge.labels import study_label
from cds_service.vocabulary import (
    Category,
    Contrast,
    FindingKind,
    Guidance,
    Indicator,
    Modality,
    Qualifier,
    SpineRegion,
    Study,
    Topic,
)

from .conftest import (
    CPT,
    LOINC,
    LOW_BACK_PAIN,
    THORACIC_BACK_PAIN,
    cauda_equina,
    condition,
    discitis,
    kyphoplasty,
    malignancy_history,
    order,
    prior_vcf_l2,
    spine_mri,
)

LUMBAR = frozenset({SpineRegion.LUMBAR})
THORACIC = frozenset({SpineRegion.THORACIC})
ALL_REGIONS = frozenset(SpineRegion)

# The seed article's patient: osteoporotic VCF, kyphoplasty at L2 two years ago.
SEED_CHART = (prior_vcf_l2(), kyphoplasty(level="L2"))


def ct_thoracic(code: str = "72128", **elements):
    return order(code, CPT, reason=THORACIC_BACK_PAIN, **elements)


def suggested(decision) -> list[tuple[Modality, Contrast, frozenset[SpineRegion], bool]]:
    return [
        (s.study.modality, s.study.contrast, s.study.regions, s.is_recommended)
        for s in decision.suggestions
    ]


# -- composition: every red flag adds a requirement ----------------------------------------


LUMBAR_ONLY = frozenset({SpineRegion.LUMBAR})
THORACIC_ONLY = frozenset({SpineRegion.THORACIC})


@pytest.mark.parametrize(
    ("flags", "regions", "applicable"),
    [
        (
            {"malignancy", "deficit_here", "infection"},
            LUMBAR_ONLY,
            (Guidance.NEUROLOGIC_DEFICIT, Guidance.INFECTION, Guidance.MALIGNANCY),
        ),
        (
            {"deficit_here", "infection"},
            THORACIC_ONLY,
            (Guidance.MYELOPATHY, Guidance.INFECTION_THORACIC),
        ),
        (
            {"deficit_here"},
            THORACIC_ONLY | LUMBAR_ONLY,
            (Guidance.NEUROLOGIC_DEFICIT, Guidance.MYELOPATHY),
        ),
        ({"infection"}, frozenset(), (Guidance.INFECTION,)),
        (set(), LUMBAR_ONLY, (Guidance.PRIOR_VCF,)),
    ],
)
def test_every_red_flag_brings_its_own_variant_for_the_region(flags, regions, applicable):
    chosen = RedFlags(**{flag: (object(),) for flag in flags})

    assert applicable_guidance(chosen, regions) == applicable


# -- out of scope --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "draft",
    [order("72132"), order("72131"), order("22514"), order("78306")],
    ids=["ct-with", "ct-without", "kyphoplasty", "bone-scan"],
)
def test_a_patient_without_vcf_history_gets_no_decision(decide_for, draft):
    chart = (
        condition("M54.50", display="Low back pain"),
        condition("443165006", "http://snomed.info/sct", "Osteoporotic fracture of bone"),
        malignancy_history(),
    )

    assert decide_for(draft, *chart) is None


@pytest.mark.parametrize(
    "draft",
    [
        order(text="CT chest"),
        order(text="alendronate 70 mg weekly"),
        order("77080"),
        order("77085"),
    ],
    ids=["non-spine", "medication-like", "dxa", "dxa-vfa"],
)
def test_non_spine_non_imaging_and_dxa_orders_get_no_decision(decide_for, draft):
    assert decide_for(draft, *SEED_CHART) is None


# -- prior VCF: ACR VCF Variant 3 ----------------------------------------------------------


def test_ct_without_contrast_is_usually_appropriate_after_a_prior_vcf(decide_for, knowledge):
    decision = decide_for(ct_thoracic("72128"), *SEED_CHART)

    variant = knowledge.variants[Guidance.PRIOR_VCF]
    assert decision.guidance is Guidance.PRIOR_VCF
    assert decision.variant_id == variant.id
    assert decision.topic is Topic.USUALLY_APPROPRIATE
    assert decision.indicator is Indicator.INFO
    assert decision.category is Category.USUALLY_APPROPRIATE
    assert decision.radiation_level == variant.rate(Modality.CT, Contrast.WITHOUT).radiation_level
    assert decision.radiation_level
    assert decision.suggestions == ()
    assert not decision.advice_without_order
    assert decision.pitfalls == (
        ADJACENT_LEVEL_FRACTURE,
        CT_CANNOT_DATE_FRACTURE,
        MALIGNANCY_RED_FLAGS_ON_CT,
    )
    assert decision.adjacent_levels == ("L1", "L3")
    assert [e.kind for e in decision.evidence] == [
        FindingKind.PRIOR_VCF,
        FindingKind.VERTEBRAL_AUGMENTATION,
    ]


def test_mri_without_contrast_is_usually_appropriate_with_no_ionising_radiation(decide_for):
    decision = decide_for(order("72146", reason=THORACIC_BACK_PAIN), *SEED_CHART)

    assert decision.topic is Topic.USUALLY_APPROPRIATE
    assert decision.radiation_level.startswith("O")
    assert decision.pitfalls == (ADJACENT_LEVEL_FRACTURE,)


def test_ct_of_the_complete_spine_carries_the_complete_spine_radiation_level(decide_for, knowledge):
    whole_spine = order("IMG1", "urn:local", text="CT complete spine without contrast")

    decision = decide_for(whole_spine, prior_vcf_l2())

    rating = knowledge.variants[Guidance.PRIOR_VCF].rate(Modality.CT, Contrast.WITHOUT)
    assert decision.order.study.regions == ALL_REGIONS
    assert decision.radiation_level == rating.radiation_level_complete_spine
    assert decision.radiation_level != rating.radiation_level


def test_ct_with_iv_contrast_is_not_indicated_suggesting_both_non_contrast_studies(decide_for):
    decision = decide_for(ct_thoracic("72129"), *SEED_CHART)

    assert decision.topic is Topic.CONTRAST_NOT_INDICATED
    assert decision.category is Category.USUALLY_NOT_APPROPRIATE
    assert decision.indicator is Indicator.WARNING
    assert suggested(decision) == [
        (Modality.CT, Contrast.WITHOUT, THORACIC, True),
        (Modality.MRI, Contrast.WITHOUT, THORACIC, False),
    ]
    assert CT_CANNOT_DATE_FRACTURE in decision.pitfalls


def test_mri_without_and_with_contrast_is_may_be_appropriate_so_only_info(decide_for):
    decision = decide_for(order("72157", reason=THORACIC_BACK_PAIN), *SEED_CHART)

    assert decision.topic is Topic.CONTRAST_NOT_INDICATED
    assert decision.category is Category.MAY_BE_APPROPRIATE
    assert decision.indicator is Indicator.INFO
    assert suggested(decision) == [
        (Modality.MRI, Contrast.WITHOUT, THORACIC, True),
        (Modality.CT, Contrast.WITHOUT, THORACIC, False),
    ]


def test_ct_with_contrast_unspecified_asks_for_it_without_contrast(decide_for):
    decision = decide_for(order("24963-1", LOINC, "CT Lumbar spine"), *SEED_CHART)

    assert decision.topic is Topic.CONTRAST_NOT_INDICATED
    assert decision.category is Category.NOT_RATED
    assert decision.indicator is Indicator.INFO
    assert decision.radiation_level == ""
    assert suggested(decision) == [(Modality.CT, Contrast.WITHOUT, LUMBAR, True)]


def test_a_radiograph_is_not_the_best_initial_study(decide_for):
    decision = decide_for(order("30753-8", LOINC, reason=THORACIC_BACK_PAIN), *SEED_CHART)

    assert decision.topic is Topic.BETTER_INITIAL_STUDY
    assert decision.category is Category.NOT_RATED  # ACR does not rate radiography in V3
    assert decision.indicator is Indicator.INFO
    assert decision.radiation_level == ""
    assert suggested(decision) == [
        (Modality.CT, Contrast.WITHOUT, THORACIC, True),
        (Modality.MRI, Contrast.WITHOUT, THORACIC, False),
    ]
    assert decision.pitfalls == (
        ADJACENT_LEVEL_FRACTURE,
        CT_CANNOT_DATE_FRACTURE,
        MALIGNANCY_RED_FLAGS_ON_CT,
        NEW_PAIN_NOT_OLD_FRACTURE,
    )


def test_ct_myelography_is_usually_not_appropriate(decide_for):
    decision = decide_for(order(text="CT myelogram lumbar"), *SEED_CHART)

    assert decision.topic is Topic.BETTER_INITIAL_STUDY
    assert decision.category is Category.USUALLY_NOT_APPROPRIATE
    assert decision.indicator is Indicator.WARNING


def test_a_whole_body_bone_scan_is_may_be_appropriate_and_suggests_for_the_painful_region(
    decide_for,
):
    decision = decide_for(order("78306", reason=THORACIC_BACK_PAIN), *SEED_CHART)

    assert decision.topic is Topic.BETTER_INITIAL_STUDY
    assert decision.category is Category.MAY_BE_APPROPRIATE
    assert decision.indicator is Indicator.INFO
    assert {s.study.regions for s in decision.suggestions} == {THORACIC}


# -- neurologic deficit: LBP V4 / Myelopathy -----------------------------------------------


def cervical_myelopathy(onset: str = "2026-11-25"):
    return condition(
        "M50.00",
        display="Cervical disc disorder with myelopathy, unspecified cervical region",
        onset=onset,
    )


@pytest.mark.parametrize("code", ["72148", "72158"])
def test_an_mri_ordered_for_a_new_cauda_equina_asks_for_immediate_consultation(decide_for, code):
    decision = decide_for(order(code, reason=LOW_BACK_PAIN), prior_vcf_l2(), cauda_equina())

    assert decision.guidance is Guidance.NEUROLOGIC_DEFICIT
    assert decision.topic is Topic.URGENT_SPINE_CONSULTATION
    assert decision.indicator is Indicator.CRITICAL
    assert decision.category is Category.USUALLY_APPROPRIATE
    # The topic's own text asks for the consultation: not said twice.
    assert URGENT_CONSULTATION not in decision.requirements
    assert not [s for s in decision.suggestions if s.is_recommended]


@pytest.mark.parametrize("code", ["72131", "72149", "72100"])
def test_anything_but_mri_gets_mri_preferred_for_a_new_deficit(decide_for, code):
    decision = decide_for(order(code, reason=LOW_BACK_PAIN), prior_vcf_l2(), cauda_equina())

    assert decision.topic is Topic.MRI_PREFERRED_NEUROLOGIC_DEFICIT
    assert decision.indicator is Indicator.CRITICAL  # cauda equina syndrome
    assert suggested(decision) == [(Modality.MRI, Contrast.WITHOUT, LUMBAR, True)]
    assert URGENT_CONSULTATION in decision.requirements
    assert FindingKind.NEUROLOGIC_DEFICIT in {e.kind for e in decision.evidence}


def test_a_myelopathy_is_a_warning_not_critical(decide_for):
    decision = decide_for(order("72125"), prior_vcf_l2(), cervical_myelopathy())

    assert decision.topic is Topic.MRI_PREFERRED_NEUROLOGIC_DEFICIT
    assert decision.indicator is Indicator.WARNING
    assert decision.guidance is Guidance.MYELOPATHY
    assert decision.category is Category.NOT_RATED  # ACR Myelopathy's CT rating: not known
    assert suggested(decision) == [
        (Modality.MRI, Contrast.WITHOUT, frozenset({SpineRegion.CERVICAL}), True)
    ]


def test_radiculopathy_alone_keeps_the_prior_vcf_guidance(decide_for):
    radiculopathy = condition("M54.16", display="Radiculopathy, lumbar region")

    decision = decide_for(order("72131", reason=LOW_BACK_PAIN), prior_vcf_l2(), radiculopathy)

    assert decision.guidance is Guidance.PRIOR_VCF
    assert decision.topic is Topic.USUALLY_APPROPRIATE


def test_a_deficit_of_decades_is_longstanding_not_a_red_flag(decide_for):
    paraplegia = condition("G82.21", display="Paraplegia, complete", onset="1994")

    decision = decide_for(order("72131", reason=LOW_BACK_PAIN), prior_vcf_l2(), paraplegia)

    assert decision.guidance is Guidance.PRIOR_VCF
    assert decision.topic is Topic.USUALLY_APPROPRIATE
    assert decision.requirements == (LONGSTANDING_DEFICIT,)
    (listed,) = [e for e in decision.evidence if e.kind is FindingKind.NEUROLOGIC_DEFICIT]
    assert Qualifier.LONGSTANDING in listed.qualifiers


def test_a_deficit_without_any_date_counts_as_new(decide_for):
    undated = condition("G95.20", display="Unspecified cord compression", onset=None)

    decision = decide_for(order("72131", reason=LOW_BACK_PAIN), prior_vcf_l2(), undated)

    assert decision.topic is Topic.MRI_PREFERRED_NEUROLOGIC_DEFICIT


def test_a_new_deficit_in_another_region_adds_an_mri_of_that_region(decide_for):
    decision = decide_for(
        order("72131", reason=LOW_BACK_PAIN), prior_vcf_l2(), cervical_myelopathy()
    )

    assert decision.topic is Topic.ADD_MRI_NEUROLOGIC_DEFICIT
    assert decision.indicator is Indicator.WARNING
    assert decision.category is Category.USUALLY_APPROPRIATE  # the lumbar CT itself (VCF V3)
    assert decision.variant_id == "acr-vcf-2022-v3"
    (added,) = decision.suggestions
    assert added.adds and added.is_recommended
    assert (added.study.modality, added.study.contrast) == (Modality.MRI, Contrast.WITHOUT)
    assert added.study.regions == frozenset({SpineRegion.CERVICAL})
    assert decision.deficit_regions == frozenset({SpineRegion.CERVICAL})


# -- cancer: VCF Variant 2 -----------------------------------------------------------------


def test_ct_without_contrast_with_cancer_is_acceptable_and_names_the_best_study(decide_for):
    decision = decide_for(
        order("72131", reason=LOW_BACK_PAIN), prior_vcf_l2(), malignancy_history()
    )

    assert decision.guidance is Guidance.MALIGNANCY
    assert decision.topic is Topic.PATHOLOGIC_FRACTURE_CONCERN
    assert decision.category is Category.USUALLY_APPROPRIATE
    assert decision.indicator is Indicator.INFO
    # Offered, not urged: the order is not wrong (VCF V2 rates CT without contrast 7).
    assert suggested(decision) == [(Modality.MRI, Contrast.WITHOUT_AND_WITH, LUMBAR, False)]
    assert MALIGNANCY_RED_FLAGS_ON_CT in decision.pitfalls
    assert CT_CANNOT_DATE_FRACTURE in decision.pitfalls
    assert [e.kind for e in decision.evidence] == [FindingKind.PRIOR_VCF, FindingKind.MALIGNANCY]


def test_a_bone_scan_with_known_malignancy_raises_pathologic_fracture_concern(decide_for):
    decision = decide_for(
        order("78306", reason=LOW_BACK_PAIN), prior_vcf_l2(), malignancy_history()
    )

    assert decision.topic is Topic.PATHOLOGIC_FRACTURE_CONCERN
    assert decision.category is Category.MAY_BE_APPROPRIATE
    assert decision.indicator is Indicator.INFO
    assert suggested(decision) == [
        (Modality.MRI, Contrast.WITHOUT_AND_WITH, LUMBAR, True),
        (Modality.MRI, Contrast.WITHOUT, LUMBAR, False),
    ]


def test_ct_with_contrast_with_known_malignancy_never_loses_its_contrast(decide_for):
    decision = decide_for(
        order("72132", reason=LOW_BACK_PAIN), prior_vcf_l2(), malignancy_history()
    )

    assert decision.topic is Topic.PATHOLOGIC_FRACTURE_CONCERN
    assert decision.category is Category.USUALLY_NOT_APPROPRIATE
    assert decision.indicator is Indicator.WARNING
    assert suggested(decision) == [(Modality.MRI, Contrast.WITHOUT_AND_WITH, LUMBAR, True)]
    assert MALIGNANCY_RED_FLAGS_ON_CT in decision.pitfalls


def test_mri_without_and_with_contrast_is_appropriate_with_known_malignancy(decide_for):
    decision = decide_for(order("72158"), prior_vcf_l2(), malignancy_history())

    assert decision.topic is Topic.USUALLY_APPROPRIATE
    assert MALIGNANCY_RED_FLAGS_ON_CT not in decision.pitfalls


def test_the_ct_red_flags_of_malignancy_show_for_every_patient_in_scope(decide_for):
    decision = decide_for(ct_thoracic("72128"), *SEED_CHART)

    assert MALIGNANCY_RED_FLAGS_ON_CT in decision.pitfalls


# -- infection: LBP V7 / Thoracic Back Pain V5 ---------------------------------------------


def test_mri_without_and_with_contrast_is_appropriate_with_infection_concern(decide_for):
    decision = decide_for(order("72157"), prior_vcf_l2(), discitis())

    assert decision.guidance is Guidance.INFECTION_THORACIC  # a thoracic MRI
    assert decision.topic is Topic.USUALLY_APPROPRIATE
    assert [e.kind for e in decision.evidence] == [FindingKind.PRIOR_VCF, FindingKind.INFECTION]


def test_contrast_is_never_called_not_indicated_with_infection_concern(decide_for):
    decision = decide_for(order("72129"), prior_vcf_l2(), discitis())

    assert decision.topic is Topic.SPINAL_INFECTION_CONCERN
    assert decision.indicator is Indicator.WARNING  # CT for a spinal infection
    assert suggested(decision) == [(Modality.MRI, Contrast.WITHOUT_AND_WITH, THORACIC, True)]


# -- two red flags in one record -----------------------------------------------------------


def test_cancer_does_not_hide_a_cauda_equina_syndrome(decide_for):
    decision = decide_for(
        order("72131", reason=LOW_BACK_PAIN), prior_vcf_l2(), malignancy_history(), cauda_equina()
    )

    assert decision.topic is Topic.MRI_PREFERRED_NEUROLOGIC_DEFICIT
    assert decision.indicator is Indicator.CRITICAL
    assert decision.guidance is Guidance.NEUROLOGIC_DEFICIT
    assert decision.category is Category.MAY_BE_APPROPRIATE  # LBP V4 CT without contrast
    # Cancer keeps contrast acceptable: MRI without and with first, without as the fallback.
    assert suggested(decision) == [
        (Modality.MRI, Contrast.WITHOUT_AND_WITH, LUMBAR, True),
        (Modality.MRI, Contrast.WITHOUT, LUMBAR, False),
    ]
    kinds = [e.kind for e in decision.evidence]
    assert FindingKind.NEUROLOGIC_DEFICIT in kinds and FindingKind.MALIGNANCY in kinds
    assert set(decision.requirements) == {URGENT_CONSULTATION, CONTRAST_INDICATED_CANCER}
    # The MRI replaces the CT: no bullets on reading CT in an emergency.
    assert CT_CANNOT_DATE_FRACTURE not in decision.pitfalls


def test_cancer_and_infection_the_lower_rating_decides_and_both_are_cited(decide_for):
    decision = decide_for(order("72131"), prior_vcf_l2(), malignancy_history(), discitis())

    assert decision.guidance is Guidance.INFECTION  # lumbar CT: VCF V2 7, LBP V7 May Be
    assert decision.category is Category.MAY_BE_APPROPRIATE
    assert decision.topic is Topic.SPINAL_INFECTION_CONCERN
    assert {FindingKind.INFECTION, FindingKind.MALIGNANCY} <= {e.kind for e in decision.evidence}


def test_an_mri_with_contrast_for_infection_and_deficit_is_right_and_asks_for_consultation(
    decide_for,
):
    decision = decide_for(
        order("72158", reason=LOW_BACK_PAIN), prior_vcf_l2(), discitis(), cauda_equina()
    )

    assert decision.topic is Topic.URGENT_SPINE_CONSULTATION
    assert decision.indicator is Indicator.CRITICAL
    assert decision.suggestions == ()


def test_no_red_flag_combination_ever_warns_against_contrast(decide_for):
    charts = [
        (malignancy_history(),),
        (discitis(),),
        (malignancy_history(), cauda_equina()),
        (discitis(), cauda_equina()),
        (malignancy_history(), discitis(), cauda_equina()),
    ]
    for chart in charts:
        for code in ("72129", "72130", "72132", "72156", "72157", "72158", "72149"):
            decision = decide_for(order(code, reason=LOW_BACK_PAIN), prior_vcf_l2(), *chart)
            assert decision.topic is not Topic.CONTRAST_NOT_INDICATED, (code, chart)
            for suggestion in decision.suggestions:
                if not suggestion.adds and decision.order.study.contrast in (
                    Contrast.WITH,
                    Contrast.WITHOUT_AND_WITH,
                ):
                    assert suggestion.study.contrast is not Contrast.WITHOUT, (code, chart)


def test_no_usually_appropriate_card_while_a_red_flag_asks_for_more(decide_for):
    charts = [(cauda_equina(),), (malignancy_history(), cauda_equina()), (discitis(),)]
    for chart in charts:
        for code in ("72128", "72131", "72100", "78306"):
            decision = decide_for(order(code, reason=LOW_BACK_PAIN), prior_vcf_l2(), *chart)
            assert decision.topic is not Topic.USUALLY_APPROPRIATE, (code, chart)


# -- before vertebral augmentation ---------------------------------------------------------


def kyphoplasty_t12(**elements):
    return order(
        "22513",
        CPT,
        "Percutaneous vertebral augmentation, thoracic",
        text="Kyphoplasty T12",
        reason=THORACIC_BACK_PAIN,
        **elements,
    )


def test_augmentation_without_a_recent_mri_asks_for_one(decide_for):
    old_mri = spine_mri("2026-06-01", code="72146")

    decision = decide_for(kyphoplasty_t12(), *SEED_CHART, old_mri)

    assert decision.topic is Topic.MRI_BEFORE_AUGMENTATION
    assert decision.indicator is Indicator.WARNING
    assert decision.category is Category.NOT_RATED
    assert decision.radiation_level == ""
    assert suggested(decision) == [(Modality.MRI, Contrast.WITHOUT, THORACIC, True)]
    assert decision.evidence[-1].kind is FindingKind.SPINE_MRI
    assert Qualifier.NOT_RECENT in decision.evidence[-1].qualifiers
    assert decision.adjacent_levels == ("L1", "L3")
    assert ADJACENT_LEVEL_FRACTURE in decision.pitfalls


@pytest.mark.parametrize("mri_day", ["2026-10-30", "2026-08-22", "2026-11-20", "2026-11-21"])
def test_augmentation_after_a_recent_mri_gets_no_card(decide_for, mri_day):
    # 2026-08-22 is exactly 90 days before the order's authoredOn (2026-11-20).
    assert decide_for(kyphoplasty_t12(), *SEED_CHART, spine_mri(mri_day, code="72146")) is None


def test_an_mri_91_days_old_is_not_recent(decide_for):
    decision = decide_for(kyphoplasty_t12(), *SEED_CHART, spine_mri("2026-08-21", code="72146"))

    assert decision.topic is Topic.MRI_BEFORE_AUGMENTATION


def test_a_recent_mri_of_another_region_does_not_show_the_level_to_treat(decide_for):
    cervical_mri = spine_mri("2026-11-01", code="72141")

    assert decide_for(kyphoplasty_t12(), *SEED_CHART, cervical_mri) is not None


@pytest.mark.parametrize("authored_on", [None, "2026-11", "not a date"])
def test_without_a_readable_order_date_the_lookback_counts_from_today(decide_for, authored_on):
    draft = kyphoplasty_t12(authored_on=None)
    if authored_on:
        draft = draft.model_copy(update={"authoredOn": authored_on})

    # 2026-09-04 is exactly 90 days before today (2026-12-03); 2026-09-03 is one more.
    assert decide_for(draft, *SEED_CHART, spine_mri("2026-09-04", code="72146")) is None
    decision = decide_for(draft, *SEED_CHART, spine_mri("2026-09-03", code="72146"))
    assert decision.topic is Topic.MRI_BEFORE_AUGMENTATION
    (listed,) = [e for e in decision.evidence if e.kind is FindingKind.SPINE_MRI]
    assert Qualifier.NOT_RECENT in listed.qualifiers


def test_augmentation_with_an_active_spinal_infection_is_contraindicated(decide_for):
    decision = decide_for(kyphoplasty_t12(), *SEED_CHART, discitis())

    assert decision.topic is Topic.AUGMENTATION_CONTRAINDICATED
    assert decision.indicator is Indicator.WARNING
    assert suggested(decision) == [(Modality.MRI, Contrast.WITHOUT_AND_WITH, THORACIC, True)]


def test_a_recent_mri_does_not_lift_the_contraindication_nor_get_repeated(decide_for):
    recent = spine_mri("2026-11-01", "72146")

    decision = decide_for(kyphoplasty_t12(), *SEED_CHART, discitis(), recent)

    assert decision.topic is Topic.AUGMENTATION_CONTRAINDICATED
    assert decision.suggestions == ()


def test_an_mri_from_before_the_infection_was_known_does_not_show_it(decide_for):
    earlier_mri = spine_mri("2026-11-01", "72146")
    new_discitis = condition("M46.44", display="Discitis, thoracic region", onset="2026-11-15")

    decision = decide_for(kyphoplasty_t12(), *SEED_CHART, new_discitis, earlier_mri)

    assert decision.topic is Topic.AUGMENTATION_CONTRAINDICATED
    assert suggested(decision) == [(Modality.MRI, Contrast.WITHOUT_AND_WITH, THORACIC, True)]


def test_a_new_deficit_with_a_recent_mri_is_a_relative_contraindication(decide_for):
    recent = spine_mri("2026-11-01", "72146")
    myelopathy = condition("G95.9", display="Disease of spinal cord, unspecified", onset=None)

    decision = decide_for(kyphoplasty_t12(), *SEED_CHART, myelopathy, recent)

    assert decision.topic is Topic.AUGMENTATION_CONTRAINDICATED
    assert decision.suggestions == ()


def test_augmentation_with_cancer_asks_for_mri_without_and_with_contrast(decide_for):
    decision = decide_for(kyphoplasty_t12(), *SEED_CHART, malignancy_history())

    assert decision.topic is Topic.MRI_BEFORE_AUGMENTATION
    assert suggested(decision) == [(Modality.MRI, Contrast.WITHOUT_AND_WITH, THORACIC, True)]


def test_an_augmentation_order_without_region_takes_the_prior_fracture_region(decide_for):
    decision = decide_for(order(text="Vertebroplasty"), *SEED_CHART)

    assert decision.topic is Topic.MRI_BEFORE_AUGMENTATION
    assert suggested(decision) == [(Modality.MRI, Contrast.WITHOUT, LUMBAR, True)]


# -- suggestions' regions ------------------------------------------------------------------


def test_suggestions_keep_the_regions_of_a_multi_region_order(decide_for):
    draft = order(text="MRI thoracic and lumbar spine with contrast", reason=LOW_BACK_PAIN)

    decision = decide_for(draft, *SEED_CHART)

    assert {s.study.regions for s in decision.suggestions} == {THORACIC | LUMBAR}


def test_a_whole_spine_order_with_a_regional_reason_is_narrowed_to_that_region(decide_for):
    draft = order(text="CT whole spine with contrast", reason=THORACIC_BACK_PAIN)

    decision = decide_for(draft, *SEED_CHART)

    assert {s.study.regions for s in decision.suggestions} == {THORACIC}


def test_a_whole_spine_ct_for_regional_pain_is_narrowed_to_that_region(decide_for):
    draft = order(text="CT whole spine without contrast", reason=LOW_BACK_PAIN)

    decision = decide_for(draft, *SEED_CHART)

    assert decision.category is Category.USUALLY_APPROPRIATE
    assert decision.topic is Topic.BETTER_INITIAL_STUDY
    assert decision.indicator is Indicator.INFO
    assert suggested(decision) == [(Modality.CT, Contrast.WITHOUT, LUMBAR, True)]


def test_infection_urges_contrast_where_cancer_only_offers_it(decide_for):
    infection = decide_for(order("72146"), prior_vcf_l2(), discitis())
    cancer = decide_for(order("72146"), prior_vcf_l2(), malignancy_history())

    assert infection.topic is Topic.SPINAL_INFECTION_CONCERN
    assert infection.indicator is Indicator.WARNING  # seed: contrast is for an abscess
    assert suggested(infection) == [(Modality.MRI, Contrast.WITHOUT_AND_WITH, THORACIC, True)]
    assert cancer.topic is Topic.PATHOLOGIC_FRACTURE_CONCERN
    assert suggested(cancer) == [(Modality.MRI, Contrast.WITHOUT_AND_WITH, THORACIC, False)]


def test_adjacent_levels_outside_the_ordered_region_are_named(decide_for):
    treated_l1 = kyphoplasty(level="L1")

    decision = decide_for(order("72131", reason=LOW_BACK_PAIN), prior_vcf_l2(), treated_l1)

    assert decision.adjacent_levels == ("T12", "L2")
    assert decision.uncovered_levels == ("T12",)


def test_a_whole_body_order_without_reason_takes_the_region_of_the_treated_level(decide_for):
    decision = decide_for(order("78306"), *SEED_CHART)

    assert {s.study.regions for s in decision.suggestions} == {LUMBAR}
    assert not decision.advice_without_order


def test_with_no_region_anywhere_the_card_advises_in_words_only(decide_for):
    site_unspecified = condition("M48.50XA", display="Collapsed vertebra, site unspecified")

    decision = decide_for(order("78815"), site_unspecified)

    assert decision.topic is Topic.BETTER_INITIAL_STUDY
    assert decision.suggestions == ()
    assert decision.advice_without_order


def test_a_usually_appropriate_order_needs_no_alternative_and_no_region(decide_for):
    site_unspecified = condition("M48.50XA")

    decision = decide_for(order(text="MRI spine without contrast"), site_unspecified)

    assert decision.topic is Topic.USUALLY_APPROPRIATE
    assert decision.suggestions == ()
    assert not decision.advice_without_order


def test_exactly_one_suggestion_is_recommended_and_labels_come_from_the_knowledge(
    decide_for, knowledge
):
    decision = decide_for(ct_thoracic("72130"), *SEED_CHART)

    assert [s.is_recommended for s in decision.suggestions].count(True) == 1
    for suggestion in decision.suggestions:
        assert suggestion.label == study_label(suggestion.study, knowledge.wording)
    assert decision.suggestions[0].label == study_label(
        Study(Modality.CT, Contrast.WITHOUT, THORACIC), knowledge.wording
    )


# -- the knowledge knows every pitfall the core names --------------------------------------


def test_every_pitfall_id_the_core_emits_has_wording(knowledge):
    emitted = {
        ADJACENT_LEVEL_FRACTURE,
        CT_CANNOT_DATE_FRACTURE,
        MALIGNANCY_RED_FLAGS_ON_CT,
        NEW_PAIN_NOT_OLD_FRACTURE,
    }

    assert emitted <= set(knowledge.wording.pitfalls)


def test_an_mri_with_an_unreadable_date_is_not_a_recent_mri(decide_for):
    undated = spine_mri("2026-11-01", code="72146").model_copy(
        update={"performedDateTime": "recently"}
    )

    decision = decide_for(kyphoplasty_t12(), *SEED_CHART, undated)

    assert decision.topic is Topic.MRI_BEFORE_AUGMENTATION
    assert Qualifier.UNDATED in decision.evidence[-1].qualifiers


def test_a_recent_mri_of_another_region_is_listed_as_such(decide_for):
    cervical_mri = spine_mri("2026-11-01", code="72141")

    decision = decide_for(kyphoplasty_t12(), *SEED_CHART, cervical_mri)

    assert Qualifier.NOT_TREATED_REGION in decision.evidence[-1].qualifiers
