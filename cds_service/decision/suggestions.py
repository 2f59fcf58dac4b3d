"""What to order instead (or as well), for which spine region, and what else the card says.

Suggestions keep the order's regions. A whole-spine order with a clearly regional reason is
narrowed to that region; a whole-body or region-less order takes its region from a new
neurologic deficit, else from the order's reason, else from the prior fracture (issue 3 §5,
issue 14 §5). With no region at all the card advises in words: a guessed region would be a
wrong order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from cds_service.decision.model import ClassifiedOrder, OrderDecision, PatientFindings, Suggestion
from cds_service.decision.red_flags import regions_of
from cds_service.knowledge.labels import study_label
from cds_service.vocabulary import Contrast, Modality, SpineRegion, Study, Topic

if TYPE_CHECKING:
    from cds_service.decision.red_flags import RedFlags
    from cds_service.knowledge.model import Knowledge

# Pitfall ids of cards/card-texts.yaml, from the seed article's "Pitfalls to Avoid".
ADJACENT_LEVEL_FRACTURE = "adjacent-level-fracture"  # knowledge pack §3 R2
CT_CANNOT_DATE_FRACTURE = "ct-cannot-date-fracture"  # §3 R3, R4
MALIGNANCY_RED_FLAGS_ON_CT = "malignancy-red-flags-ct"  # §3 R5; seed: any new VCF may be one
NEW_PAIN_NOT_OLD_FRACTURE = "new-pain-not-old-fracture"  # seed: "avoid attributing all new pain"
SAME_REGION_ALSO_ORDERED = "same-region-also-ordered"  # seed: CT first, MRI if still in doubt
# A new deficit of no recorded level, a lumbar-only order: the cord may be the cause (ACR
# Myelopathy, knowledge pack §1.6, R9; third radiologist review).
DEFICIT_LEVEL_UNKNOWN = "deficit-level-unknown"

# Requirement ids of cards/card-texts.yaml: what each red flag adds to any card (issue 14 §2).
URGENT_CONSULTATION = "urgent-consultation"  # seed: "immediate consultation"
CONTRAST_INDICATED_CANCER = "contrast-indicated-cancer"  # VCF V2
CONTRAST_INDICATED_INFECTION = "contrast-indicated-infection"  # LBP V7, Thoracic Back Pain V5
LONGSTANDING_DEFICIT = "longstanding-deficit"  # seed: "new or worsening neurologic symptoms"
AUGMENTATION_INFECTION = "augmentation-infection"  # LCD exclusions (S24), ACR 2018 VCF V3
AUGMENTATION_INFECTION_IMAGING = "augmentation-infection-imaging"  # TBP V5 / LBP V7
AUGMENTATION_DEFICIT = "augmentation-deficit"  # LCD relative contraindication (S24)

_ALL_REGIONS = frozenset(SpineRegion)
CT_STUDIES = frozenset({Modality.CT, Modality.CT_MYELOGRAPHY})
CROSS_SECTIONAL = CT_STUDIES | {Modality.MRI}
# Topics whose own text already asks for the consultation.
_SAYS_CONSULT = frozenset({Topic.URGENT_SPINE_CONSULTATION})


def suggestion_regions(
    order: ClassifiedOrder, findings: PatientFindings, flags: RedFlags
) -> frozenset[SpineRegion]:
    """The order's regions (a whole spine narrowed to a regional reason); else a new
    deficit's; else the reason's; else the prior fracture's; else none."""
    study = order.study
    if study is not None and study.regions and not study.whole_body:
        if study.regions == _ALL_REGIONS and 0 < len(order.reason_regions) < len(_ALL_REGIONS):
            return order.reason_regions
        return study.regions
    if flags.deficit_regions_here:
        return flags.deficit_regions_here
    if order.reason_regions:
        return order.reason_regions
    return fracture_regions(findings)


def fracture_regions(findings: PatientFindings) -> frozenset[SpineRegion]:
    """Regions of the prior VCF codes and of the treated levels (L -> lumbar...)."""
    return regions_of((*findings.prior_vcf, *findings.vertebral_augmentation))


def make_suggestions(
    wanted: Sequence[tuple[Modality, Contrast]],
    regions: frozenset[SpineRegion],
    ordered: Study,
    knowledge: Knowledge,
    optional: bool = False,
    adds: bool = False,
) -> tuple[Suggestion, ...]:
    """One suggestion per wanted study, the first recommended unless the order is already
    acceptable (`optional`). Never the study already ordered: the same study of other regions
    narrows a whole-spine order, or (`adds`) images a region the draft does not."""
    if not regions:
        return ()
    studies: list[Study] = []
    for modality, contrast in wanted:
        study = Study(modality, contrast, regions)
        same_as_ordered = (modality, contrast) == (ordered.modality, ordered.contrast) and (
            not ordered.regions or regions == ordered.regions
        )
        if not same_as_ordered and study not in studies:
            studies.append(study)
    return tuple(
        Suggestion(
            study,
            study_label(study, knowledge.wording),
            is_recommended=index == 0 and not optional,
            adds=adds,
        )
        for index, study in enumerate(studies)
    )


def pitfalls_for(
    topic: Topic,
    ordered: Study,
    suggested: Iterable[Suggestion],
    findings: PatientFindings,
    flags: RedFlags,
) -> tuple[str, ...]:
    pitfalls: list[str] = []
    if ordered.regions == {SpineRegion.LUMBAR} and any(
        not deficit.regions for deficit in flags.deficit_here
    ):
        pitfalls.append(DEFICIT_LEVEL_UNKNOWN)
    if findings.treated_levels:
        pitfalls.append(ADJACENT_LEVEL_FRACTURE)
    ct_involved = (
        ordered.modality in CT_STUDIES and topic is not Topic.MRI_PREFERRED_NEUROLOGIC_DEFICIT
    ) or any(s.study.modality in CT_STUDIES for s in suggested)
    if ct_involved:
        pitfalls.append(CT_CANNOT_DATE_FRACTURE)
        # Any new VCF may be the first sign of myeloma or a metastasis (seed): for every
        # patient, not only those with a known cancer.
        pitfalls.append(MALIGNANCY_RED_FLAGS_ON_CT)
    if topic is Topic.BETTER_INITIAL_STUDY and not flags.any:
        # Radiographs and nuclear medicine show the old deformity, not what is new (seed FAQ).
        pitfalls.append(NEW_PAIN_NOT_OLD_FRACTURE)
    return tuple(pitfalls)


def requirements_for(topic: Topic, ordered: Study, flags: RedFlags) -> tuple[str, ...]:
    """What the red flags add to an imaging card, whatever its topic: none is left unsaid."""
    requirements: list[str] = []
    if flags.new_deficit and topic not in _SAYS_CONSULT:
        requirements.append(URGENT_CONSULTATION)
    if flags.malignancy and topic is not Topic.PATHOLOGIC_FRACTURE_CONCERN:
        requirements.append(CONTRAST_INDICATED_CANCER)
    if flags.infection and topic is not Topic.SPINAL_INFECTION_CONCERN:
        requirements.append(CONTRAST_INDICATED_INFECTION)
    if flags.longstanding_deficit:
        requirements.append(LONGSTANDING_DEFICIT)
    return tuple(requirements)


def augmentation_requirements(flags: RedFlags, infection_imaged: bool) -> tuple[str, ...]:
    """The contraindications on record, each said for what it is, and the MRI the infection
    still needs when no recent one shows it."""
    requirements: list[str] = []
    if flags.infection:
        requirements.append(AUGMENTATION_INFECTION)
        if not infection_imaged:
            requirements.append(AUGMENTATION_INFECTION_IMAGING)
    if flags.new_deficit:
        requirements.append(AUGMENTATION_DEFICIT)
    if flags.malignancy and not flags.infection:
        requirements.append(CONTRAST_INDICATED_CANCER)
    if flags.longstanding_deficit:
        requirements.append(LONGSTANDING_DEFICIT)
    return tuple(requirements)


def with_same_region_orders(decisions: Sequence[OrderDecision]) -> tuple[OrderDecision, ...]:
    """Each decision on a CT or MRI, told of the other CTs and MRIs of an overlapping region
    decided in the same call (an order-sign of CT and MRI lumbar spine): the seed makes them
    a sequence, not a pair (CT first; MRI without contrast if the CT is negative and the
    suspicion stays, or before augmentation), so each card says one study now."""
    studies = [_cross_sectional(decision.order.study) for decision in decisions]
    noted = []
    for index, decision in enumerate(decisions):
        mine = studies[index]
        others = tuple(
            other
            for position, other in enumerate(studies)
            if position != index
            and mine is not None
            and other is not None
            and _overlap(mine, other)
        )
        if others:
            decision = dataclasses.replace(
                decision,
                also_ordered=others,
                pitfalls=(SAME_REGION_ALSO_ORDERED, *decision.pitfalls),
            )
        noted.append(decision)
    return tuple(noted)


def _cross_sectional(study: Study | None) -> Study | None:
    return study if study is not None and study.modality in CROSS_SECTIONAL else None


def _overlap(one: Study, other: Study) -> bool:
    return bool(one.whole_body or other.whole_body or one.regions & other.regions)
