"""How the ACR guidance rates a draft imaging order when red flags combine (issue 14 §2).

Every red flag adds a requirement; none hides another:

- a new neurologic deficit asks for MRI of the symptomatic region (ACR Low Back Pain V4 for
  the lumbar spine, Myelopathy for the cord) and immediate spine surgery / interventional
  radiology consultation (seed);
- a known or suspected cancer or spinal infection makes IV contrast acceptable, MRI without
  and with contrast the best-rated study (VCF V2 9; LBP V7 / Thoracic Back Pain V5 9): no
  card then warns against contrast or offers a swap that removes it;
- without red flags, ACR VCF Variant 3 (new back pain after one or more VCFs) applies.

The variants that apply rate the order; the lowest category decides (ties: deficit before
infection before cancer) and is the rating the EHR receives. A card says "usually
appropriate" only when the order gives every red flag what it asks for.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cds_service.decision.augmentation import before_augmentation
from cds_service.decision.levels import adjacent_levels, regions_of_levels
from cds_service.decision.model import (
    ClassifiedOrder,
    Evidence,
    OrderDecision,
    PatientFindings,
    Suggestion,
)
from cds_service.decision.record import calendar_day
from cds_service.decision.red_flags import RedFlags, collect_red_flags
from cds_service.decision.suggestions import (
    make_suggestions,
    pitfalls_for,
    requirements_for,
    suggestion_regions,
)
from cds_service.vocabulary import (
    Category,
    Contrast,
    Guidance,
    Indicator,
    Modality,
    SpineRegion,
    Study,
    Topic,
)

if TYPE_CHECKING:
    from cds_service.knowledge.model import Knowledge, Rating, Variant

_ALL_REGIONS = frozenset(SpineRegion)
_IV_CONTRAST = frozenset({Contrast.WITH, Contrast.WITHOUT_AND_WITH})
# The order a tie between variants is broken in: the most urgent requirement decides.
_URGENCY = (
    Guidance.NEUROLOGIC_DEFICIT,
    Guidance.MYELOPATHY,
    Guidance.INFECTION_THORACIC,
    Guidance.INFECTION,
    Guidance.MALIGNANCY,
)
_CORD = frozenset({SpineRegion.CERVICAL, SpineRegion.THORACIC})
_RANK = {
    Category.USUALLY_NOT_APPROPRIATE: 0,
    Category.NOT_RATED: 1,
    Category.MAY_BE_APPROPRIATE: 2,
    Category.USUALLY_APPROPRIATE: 3,
}
MRI_WITHOUT = (Modality.MRI, Contrast.WITHOUT)
MRI_WITHOUT_AND_WITH = (Modality.MRI, Contrast.WITHOUT_AND_WITH)


@dataclass(frozen=True)
class _Advice:
    topic: Topic
    indicator: Indicator
    wanted: tuple[tuple[Modality, Contrast], ...] = ()  # first one recommended
    optional: bool = False  # the order is acceptable: suggestions are offered, not urged


def applicable_guidance(flags: RedFlags, regions: frozenset[SpineRegion]) -> tuple[Guidance, ...]:
    """The variants that apply to an order of these regions: one per red flag and region
    (a deficit: Low Back Pain V4 for the lumbar spine, Myelopathy for the cord; infection:
    Thoracic Back Pain V5 for the thoracic spine, Low Back Pain V7 otherwise), or VCF
    Variant 3 without any red flag."""
    applicable = []
    if flags.deficit_here:
        if not regions or SpineRegion.LUMBAR in regions:
            applicable.append(Guidance.NEUROLOGIC_DEFICIT)
        if regions & _CORD:
            applicable.append(Guidance.MYELOPATHY)
    if flags.infection:
        if SpineRegion.THORACIC in regions:
            applicable.append(Guidance.INFECTION_THORACIC)
        if not regions or regions - {SpineRegion.THORACIC}:
            applicable.append(Guidance.INFECTION)
    if flags.malignancy:
        applicable.append(Guidance.MALIGNANCY)
    return tuple(applicable) or (Guidance.PRIOR_VCF,)


def decide(
    findings: PatientFindings,
    order: ClassifiedOrder,
    knowledge: Knowledge,
    today: dt.date,
) -> OrderDecision | None:
    """One decision for one draft order; None when the order or the patient is out of scope.

    `today` is the day of the hook call: the look-backs count from the order's authoredOn,
    or from today when the draft has none (common on order-select)."""
    study = order.study
    # DXA is not back-pain imaging and ACR does not rate it in these variants.
    if study is None or study.modality is Modality.DXA or not findings.has_vcf_history:
        return None
    reference_day = calendar_day(order.authored_on) or today
    flags = collect_red_flags(findings, order, reference_day, knowledge.new_deficit_days)
    if study.modality is Modality.VERTEBRAL_AUGMENTATION:
        decision = before_augmentation(findings, order, study, knowledge, flags, reference_day)
    else:
        decision = _rate_imaging(findings, order, study, knowledge, flags)
    if decision is None or not decision.suggestions:
        return decision
    rated = tuple(
        _rated_suggestion(suggestion, findings, order, knowledge, reference_day)
        for suggestion in decision.suggestions
    )
    return dataclasses.replace(decision, suggestions=rated)


def _rated_suggestion(
    suggestion: Suggestion,
    findings: PatientFindings,
    order: ClassifiedOrder,
    knowledge: Knowledge,
    reference_day: dt.date,
) -> Suggestion:
    """The suggested study rated as the draft would be once changed to it: the same record
    and order, the suggested study and its regions."""
    changed = dataclasses.replace(order, study=suggestion.study)
    flags = collect_red_flags(findings, changed, reference_day, knowledge.new_deficit_days)
    _, variant, rating = _deciding_variant(
        suggestion.study, flags, suggestion.study.regions, knowledge
    )
    return dataclasses.replace(
        suggestion,
        category=rating.category if rating is not None else Category.NOT_RATED,
        variant_id=variant.id if variant is not None else "",
    )


def _rate_imaging(
    findings: PatientFindings,
    order: ClassifiedOrder,
    study: Study,
    knowledge: Knowledge,
    flags: RedFlags,
) -> OrderDecision | None:
    regions = suggestion_regions(order, findings, flags)
    guidance, variant, rating = _deciding_variant(study, flags, regions, knowledge)
    if variant is None:
        return None
    category = rating.category if rating is not None else Category.NOT_RATED
    advice = _advise(study, category, flags, variant)
    if advice.topic is Topic.USUALLY_APPROPRIATE and _narrower_ct(study, regions):
        # CT of the whole spine for regional pain: ☢☢☢☢ where one region is ☢☢☢ (R8).
        advice = _Advice(
            Topic.BETTER_INITIAL_STUDY, Indicator.INFO, ((study.modality, study.contrast),)
        )
    suggestions = make_suggestions(advice.wanted, regions, study, knowledge, advice.optional)
    if flags.deficit_elsewhere:
        advice, suggestions = _add_deficit_elsewhere(advice, suggestions, study, flags, knowledge)
    treated = findings.treated_levels
    adjacent = adjacent_levels(treated)
    return OrderDecision(
        order=order,
        guidance=guidance,
        variant_id=variant.id,
        category=category,
        topic=advice.topic,
        indicator=advice.indicator,
        radiation_level=_radiation_level(rating, study),
        suggestions=suggestions,
        evidence=_evidence(findings, flags),
        pitfalls=pitfalls_for(advice.topic, study, suggestions, findings, flags),
        treated_levels=treated,
        adjacent_levels=adjacent,
        advice_without_order=bool(advice.wanted) and not regions,
        requirements=requirements_for(advice.topic, study, flags),
        uncovered_levels=_uncovered(adjacent, study),
        deficit_regions=flags.deficit_regions_elsewhere,
        advised_study=advice.wanted[0] if advice.wanted else None,
    )


def _deciding_variant(
    study: Study, flags: RedFlags, regions: frozenset[SpineRegion], knowledge: Knowledge
) -> tuple[Guidance, Variant | None, Rating | None]:
    """Rate the order in every applicable variant; the lowest category decides."""
    rated = []
    for guidance in applicable_guidance(flags, regions):
        variant = knowledge.variants.get(guidance)
        if variant is not None:
            rated.append((guidance, variant, variant.rate(study.modality, study.contrast)))
    if not rated:
        return Guidance.PRIOR_VCF, None, None
    return min(rated, key=lambda item: (_rank(item[2]), _urgency(item[0])))


def _rank(rating: Rating | None) -> int:
    return _RANK[rating.category if rating is not None else Category.NOT_RATED]


def _urgency(guidance: Guidance) -> int:
    return _URGENCY.index(guidance) if guidance in _URGENCY else len(_URGENCY)


def _advise(study: Study, category: Category, flags: RedFlags, variant: Variant) -> _Advice:
    if flags.deficit_here:
        return _new_deficit(study, flags)
    if flags.infection:
        return _contrast_indicated(study, category, Topic.SPINAL_INFECTION_CONCERN, flags)
    if flags.malignancy:
        return _contrast_indicated(study, category, Topic.PATHOLOGIC_FRACTURE_CONCERN, flags)
    return _prior_vcf(study, category, variant)


def _new_deficit(study: Study, flags: RedFlags) -> _Advice:
    """LBP V4 / Myelopathy: MRI of the symptomatic region, whatever else is on record (R9);
    with cancer or infection, with contrast as well. CT cannot show the cord."""
    indicator = Indicator.CRITICAL if flags.severe_deficit else Indicator.WARNING
    wanted = _mri_wanted(study, flags)
    if study.modality is Modality.MRI and study.contrast in (
        Contrast.WITHOUT,
        Contrast.WITHOUT_AND_WITH,
    ):
        # The right study: what is left to ask for is the consultation (seed).
        return _Advice(Topic.URGENT_SPINE_CONSULTATION, indicator, wanted, optional=True)
    return _Advice(Topic.MRI_PREFERRED_NEUROLOGIC_DEFICIT, indicator, wanted)


def _mri_wanted(study: Study, flags: RedFlags) -> tuple[tuple[Modality, Contrast], ...]:
    """MRI without contrast for a deficit; without and with first when cancer or infection
    is known or suspected, and never a study that drops contrast the order has."""
    if not flags.contrast_acceptable:
        return (MRI_WITHOUT,)
    if study.contrast in _IV_CONTRAST:
        return (MRI_WITHOUT_AND_WITH,)
    return (MRI_WITHOUT_AND_WITH, MRI_WITHOUT)


def _contrast_indicated(study: Study, category: Category, topic: Topic, flags: RedFlags) -> _Advice:
    """Cancer (VCF V2) or infection (LBP V7 / Thoracic V5): MRI without and with IV contrast
    is rated 9. An order rated Usually Appropriate is not called wrong; contrast is never
    warned against."""
    if (study.modality, study.contrast) == MRI_WITHOUT_AND_WITH:
        return _Advice(Topic.USUALLY_APPROPRIATE, Indicator.INFO)
    wanted = _mri_wanted(study, flags)
    if category is Category.USUALLY_APPROPRIATE:
        # Cancer alone: CT/MRI without contrast are rated 7 and stay acceptable, the better
        # study is offered. An infection (abscess) is what contrast is for: urged (seed).
        if topic is Topic.PATHOLOGIC_FRACTURE_CONCERN:
            return _Advice(topic, Indicator.INFO, wanted[:1], optional=True)
        return _Advice(topic, Indicator.WARNING, wanted[:1])
    urgent = category is Category.USUALLY_NOT_APPROPRIATE or (
        bool(flags.infection) and study.modality is not Modality.MRI
    )
    return _Advice(topic, Indicator.WARNING if urgent else Indicator.INFO, wanted)


def _prior_vcf(study: Study, category: Category, variant: Variant) -> _Advice:
    """VCF Variant 3: CT or MRI without IV contrast; contrast Usually Not Appropriate (R1, R7)."""
    if category is Category.USUALLY_APPROPRIATE:
        return _Advice(Topic.USUALLY_APPROPRIATE, Indicator.INFO)
    if study.modality in (Modality.CT, Modality.MRI):
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


def _add_deficit_elsewhere(
    advice: _Advice,
    suggestions: tuple[Suggestion, ...],
    study: Study,
    flags: RedFlags,
    knowledge: Knowledge,
) -> tuple[_Advice, tuple[Suggestion, ...]]:
    """A new deficit in a region the order does not image: the card becomes about the
    deficit and adds an MRI of that region (the draft stays for the back pain); the order's
    own advice stays in its suggestions."""
    regions = flags.deficit_regions_elsewhere
    added = make_suggestions(
        _mri_wanted(Study(Modality.MRI, Contrast.WITHOUT), flags)[:1],
        regions,
        study,
        knowledge,
        adds=True,
    )
    indicator = Indicator.CRITICAL if flags.severe_deficit else Indicator.WARNING
    demoted = tuple(dataclasses.replace(s, is_recommended=False) for s in suggestions)
    deficit_advice = _Advice(Topic.ADD_MRI_NEUROLOGIC_DEFICIT, indicator, advice.wanted)
    return deficit_advice, added + demoted


def _narrower_ct(study: Study, regions: frozenset[SpineRegion]) -> bool:
    return (
        study.modality is Modality.CT and study.regions == _ALL_REGIONS and regions < _ALL_REGIONS
    )


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


def _evidence(findings: PatientFindings, flags: RedFlags) -> tuple[Evidence, ...]:
    """The VCF history, then every red flag (all of them drove the advice)."""
    return findings.prior_vcf + findings.vertebral_augmentation + flags.evidence()


def _uncovered(adjacent: tuple[str, ...], study: Study) -> tuple[str, ...]:
    """Adjacent levels in a spine region the order does not image (L1 treated, lumbar CT
    ordered: T12 is outside it)."""
    if not study.regions or study.whole_body:
        return ()
    return tuple(level for level in adjacent if not regions_of_levels([level]) <= study.regions)
