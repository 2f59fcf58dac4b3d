"""Which ACR guidance applies, how it rates the draft order, and what the card is about.

Precedence (issue 3 §3): a known malignancy (VCF Variant 2: pathologic fracture must be
excluded) before a neurologic deficit (Low Back Pain V4 / Myelopathy: MRI first) before a
concern for infection (LBP V7 / Thoracic Back Pain V5) before the plain history of VCF
(VCF Variant 3, new back pain after one or more VCFs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cds_service.decision.levels import adjacent_levels
from cds_service.decision.model import (
    Category,
    ClassifiedOrder,
    Contrast,
    Evidence,
    Guidance,
    Indicator,
    Modality,
    OrderDecision,
    PatientFindings,
    SpineRegion,
    Study,
    Topic,
)
from cds_service.decision.recency import recent_spine_mri
from cds_service.decision.suggestions import make_suggestions, pitfalls_for, suggestion_regions

if TYPE_CHECKING:
    from cds_service.knowledge.model import Knowledge, Rating, Variant

_PRECEDENCE = (
    (Guidance.MALIGNANCY, "malignancy"),
    (Guidance.NEUROLOGIC_DEFICIT, "neurologic_deficit"),
    (Guidance.INFECTION, "infection"),
)
_ALL_REGIONS = frozenset(SpineRegion)
_CROSS_SECTIONAL = (Modality.CT, Modality.MRI)
_IV_CONTRAST = frozenset({Contrast.WITH, Contrast.WITHOUT_AND_WITH})


@dataclass(frozen=True)
class _Advice:
    topic: Topic
    indicator: Indicator
    wanted: tuple[tuple[Modality, Contrast], ...] = ()  # first one recommended


def choose_guidance(findings: PatientFindings) -> Guidance:
    for guidance, finding in _PRECEDENCE:
        if getattr(findings, finding):
            return guidance
    return Guidance.PRIOR_VCF


def decide(
    findings: PatientFindings, order: ClassifiedOrder, knowledge: Knowledge
) -> OrderDecision | None:
    """One decision for one draft order; None when the order or the patient is out of scope."""
    study = order.study
    # DXA is not back-pain imaging and ACR does not rate it in these variants.
    if study is None or study.modality is Modality.DXA or not findings.has_vcf_history:
        return None
    guidance = choose_guidance(findings)
    variant = knowledge.variants.get(guidance)
    if variant is None:
        return None
    if study.modality is Modality.VERTEBRAL_AUGMENTATION:
        return _before_augmentation(findings, order, study, knowledge, guidance, variant)
    return _rate_imaging(findings, order, study, knowledge, guidance, variant)


def _rate_imaging(
    findings: PatientFindings,
    order: ClassifiedOrder,
    study: Study,
    knowledge: Knowledge,
    guidance: Guidance,
    variant: Variant,
) -> OrderDecision:
    rating = variant.rate(study.modality, study.contrast)
    category = rating.category if rating is not None else Category.NOT_RATED
    advice = _ADVISERS[guidance](study, category, variant)
    regions = suggestion_regions(order, findings)
    suggestions = make_suggestions(advice.wanted, regions, study, knowledge) if regions else ()
    return OrderDecision(
        order=order,
        guidance=guidance,
        variant_id=variant.id,
        category=category,
        topic=advice.topic,
        indicator=advice.indicator,
        radiation_level=_radiation_level(rating, study),
        suggestions=suggestions,
        evidence=_evidence(findings, guidance),
        pitfalls=pitfalls_for(guidance, advice.topic, study, suggestions, findings),
        treated_levels=findings.treated_levels,
        adjacent_levels=adjacent_levels(findings.treated_levels),
        advice_without_order=bool(advice.wanted) and not regions,
    )


def _before_augmentation(
    findings: PatientFindings,
    order: ClassifiedOrder,
    study: Study,
    knowledge: Knowledge,
    guidance: Guidance,
    variant: Variant,
) -> OrderDecision | None:
    """Vertebroplasty/kyphoplasty helps acute fractures with marrow edema, which only MRI shows
    (knowledge pack §3 R3, R4; seed FAQ "is an MRI still needed before treatment?")."""
    regions = suggestion_regions(order, findings)
    recent = recent_spine_mri(
        findings.spine_mri, order.authored_on, knowledge.mri_lookback_days, regions
    )
    if recent:
        return None
    wanted = ((Modality.MRI, Contrast.WITHOUT),)
    suggestions = make_suggestions(wanted, regions, study, knowledge) if regions else ()
    topic = Topic.MRI_BEFORE_AUGMENTATION
    return OrderDecision(
        order=order,
        guidance=guidance,
        variant_id=variant.id,
        category=Category.NOT_RATED,
        topic=topic,
        indicator=Indicator.WARNING,
        radiation_level="",
        suggestions=suggestions,
        evidence=_evidence(findings, guidance) + findings.spine_mri,
        pitfalls=pitfalls_for(guidance, topic, study, suggestions, findings),
        treated_levels=findings.treated_levels,
        adjacent_levels=adjacent_levels(findings.treated_levels),
        advice_without_order=not regions,
    )


def _prior_vcf(study: Study, category: Category, variant: Variant) -> _Advice:
    """VCF Variant 3: CT or MRI without IV contrast; contrast Usually Not Appropriate (R1, R7)."""
    if category is Category.USUALLY_APPROPRIATE:
        return _Advice(Topic.USUALLY_APPROPRIATE, Indicator.INFO)
    if study.modality in _CROSS_SECTIONAL:
        same = study.modality
        other = Modality.MRI if same is Modality.CT else Modality.CT
        if study.contrast in _IV_CONTRAST:
            return _Advice(
                Topic.CONTRAST_NOT_INDICATED,
                _warning_if_not_appropriate(category),
                ((same, Contrast.WITHOUT), (other, Contrast.WITHOUT)),
            )
        if study.contrast is Contrast.UNSPECIFIED:
            return _Advice(
                Topic.CONTRAST_NOT_INDICATED, Indicator.INFO, ((same, Contrast.WITHOUT),)
            )
    return _Advice(
        Topic.BETTER_INITIAL_STUDY, _warning_if_not_appropriate(category), variant.preferred
    )


def _malignancy(study: Study, category: Category, variant: Variant) -> _Advice:
    """VCF Variant 2: MRI without and with IV contrast characterises a pathologic fracture."""
    if category is Category.USUALLY_APPROPRIATE:
        return _Advice(Topic.USUALLY_APPROPRIATE, Indicator.INFO)
    return _Advice(
        Topic.PATHOLOGIC_FRACTURE_CONCERN,
        _warning_if_not_appropriate(category),
        variant.preferred,
    )


def _neurologic_deficit(study: Study, category: Category, variant: Variant) -> _Advice:
    """LBP V4 / Myelopathy: MRI without IV contrast of the symptomatic region first (R9)."""
    if category is Category.USUALLY_APPROPRIATE:
        return _Advice(Topic.USUALLY_APPROPRIATE, Indicator.INFO)
    return _Advice(Topic.MRI_PREFERRED_NEUROLOGIC_DEFICIT, Indicator.WARNING, variant.preferred)


def _infection(study: Study, category: Category, variant: Variant) -> _Advice:
    """LBP V7 / Thoracic V5: IV contrast is acceptable here, so never "contrast not indicated"."""
    if category is Category.USUALLY_APPROPRIATE:
        return _Advice(Topic.USUALLY_APPROPRIATE, Indicator.INFO)
    return _Advice(
        Topic.BETTER_INITIAL_STUDY, _warning_if_not_appropriate(category), variant.preferred
    )


_ADVISERS = {
    Guidance.PRIOR_VCF: _prior_vcf,
    Guidance.MALIGNANCY: _malignancy,
    Guidance.NEUROLOGIC_DEFICIT: _neurologic_deficit,
    Guidance.INFECTION: _infection,
}


def _warning_if_not_appropriate(category: Category) -> Indicator:
    if category is Category.USUALLY_NOT_APPROPRIATE:
        return Indicator.WARNING
    return Indicator.INFO


def _radiation_level(rating: Rating | None, study: Study) -> str:
    """ACR RRL of the rated row; the complete-spine band when all three regions are ordered."""
    if rating is None:
        return ""
    if study.regions == _ALL_REGIONS and rating.radiation_level_complete_spine:
        return rating.radiation_level_complete_spine
    return rating.radiation_level


def _evidence(findings: PatientFindings, guidance: Guidance) -> tuple[Evidence, ...]:
    """The VCF history always; the finding that chose the guidance when it was not VCF alone."""
    finding = dict(_PRECEDENCE).get(guidance)
    chosen: tuple[Evidence, ...] = getattr(findings, finding) if finding else ()
    return findings.prior_vcf + findings.vertebral_augmentation + chosen
