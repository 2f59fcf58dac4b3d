"""What to order instead, for which spine region, and which pitfalls to name.

Suggestions keep the order's regions; a whole-body or region-less order takes its region from
the order's reason, else from the prior fracture (issue 3 §5). With no region at all the card
advises in words and suggests no concrete order: a guessed region would be a wrong order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from cds_service.decision.model import (
    ClassifiedOrder,
    Contrast,
    Guidance,
    Modality,
    PatientFindings,
    SpineRegion,
    Study,
    Suggestion,
    Topic,
)
from cds_service.knowledge.labels import study_label

if TYPE_CHECKING:
    from cds_service.knowledge.model import Knowledge

# Pitfall ids of cards/card-texts.yaml, from the seed article's "Pitfalls to Avoid".
ADJACENT_LEVEL_FRACTURE = "adjacent-level-fracture"  # knowledge pack §3 R2
CT_CANNOT_DATE_FRACTURE = "ct-cannot-date-fracture"  # §3 R3, R4
MALIGNANCY_RED_FLAGS_ON_CT = "malignancy-red-flags-ct"  # §3 R5
NEW_PAIN_NOT_OLD_FRACTURE = "new-pain-not-old-fracture"  # seed: "avoid attributing all new pain"

_CT_STUDIES = frozenset({Modality.CT, Modality.CT_MYELOGRAPHY})


def suggestion_regions(order: ClassifiedOrder, findings: PatientFindings) -> frozenset[SpineRegion]:
    """The order's regions; else its reason's; else the prior fracture's; else none."""
    study = order.study
    if study is not None and study.regions and not study.whole_body:
        return study.regions
    if order.reason_regions:
        return order.reason_regions
    return fracture_regions(findings)


def fracture_regions(findings: PatientFindings) -> frozenset[SpineRegion]:
    """Regions of the prior VCF codes and of the treated levels (L -> lumbar...)."""
    regions: set[SpineRegion] = set()
    for evidence in (*findings.prior_vcf, *findings.vertebral_augmentation):
        regions.update(evidence.regions)
    return frozenset(regions)


def make_suggestions(
    wanted: Sequence[tuple[Modality, Contrast]],
    regions: frozenset[SpineRegion],
    ordered: Study,
    knowledge: Knowledge,
) -> tuple[Suggestion, ...]:
    """One suggestion per wanted study (first recommended), never the study already ordered."""
    studies: list[Study] = []
    for modality, contrast in wanted:
        study = Study(modality, contrast, regions)
        if (modality, contrast) != (ordered.modality, ordered.contrast) and study not in studies:
            studies.append(study)
    return tuple(
        Suggestion(study, study_label(study, knowledge.wording), is_recommended=index == 0)
        for index, study in enumerate(studies)
    )


def pitfalls_for(
    guidance: Guidance,
    topic: Topic,
    ordered: Study,
    suggested: Iterable[Suggestion],
    findings: PatientFindings,
) -> tuple[str, ...]:
    pitfalls: list[str] = []
    if findings.treated_levels:
        pitfalls.append(ADJACENT_LEVEL_FRACTURE)
    ordered_ct = ordered.modality in _CT_STUDIES
    if ordered_ct or any(s.study.modality in _CT_STUDIES for s in suggested):
        pitfalls.append(CT_CANNOT_DATE_FRACTURE)
    if guidance is Guidance.MALIGNANCY and ordered_ct:
        pitfalls.append(MALIGNANCY_RED_FLAGS_ON_CT)
    if guidance is Guidance.PRIOR_VCF and topic is Topic.BETTER_INITIAL_STUDY:
        # Radiographs and nuclear medicine show the old deformity, not what is new (seed FAQ).
        pitfalls.append(NEW_PAIN_NOT_OLD_FRACTURE)
    return tuple(pitfalls)
