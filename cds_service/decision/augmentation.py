"""A vertebroplasty/kyphoplasty order: is it safe and ready to go ahead? (issue 14 §4)

- Active or suspected spinal infection is a contraindication (Medicare LCD exclusions,
  knowledge pack S24; ACR 2018 VCF variant 3 names infection among the contraindications, S4):
  a warning card, and MRI without and with IV contrast of the region is what to order.
- Otherwise augmentation helps acute fractures with marrow edema, which only MRI shows
  (knowledge pack §3 R3, R4; seed FAQ "is an MRI still needed before treatment?"): without a
  spine MRI of the region in the look-back, the card asks for one; with a cancer history that
  MRI is without and with IV contrast (VCF V2, rating 9: is the fracture pathologic?).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING

from cds_service.decision.levels import adjacent_levels
from cds_service.decision.model import ClassifiedOrder, Evidence, OrderDecision, PatientFindings
from cds_service.decision.recency import why_not_recent
from cds_service.decision.record import calendar_day
from cds_service.decision.red_flags import RedFlags
from cds_service.decision.suggestions import (
    augmentation_requirements,
    make_suggestions,
    pitfalls_for,
    suggestion_regions,
)
from cds_service.vocabulary import (
    Category,
    Contrast,
    Guidance,
    Indicator,
    Modality,
    Qualifier,
    SpineRegion,
    Study,
    Topic,
)

if TYPE_CHECKING:
    from cds_service.knowledge.model import Knowledge

_DIAGNOSTIC_MRI_LEAD = dt.timedelta(days=7)
_NOT_COUNTED = (Qualifier.NOT_RECENT, Qualifier.UNDATED, Qualifier.NOT_TREATED_REGION)
_MRI_WITHOUT = ((Modality.MRI, Contrast.WITHOUT),)
_MRI_WITHOUT_AND_WITH = ((Modality.MRI, Contrast.WITHOUT_AND_WITH),)


def before_augmentation(
    findings: PatientFindings,
    order: ClassifiedOrder,
    study: Study,
    knowledge: Knowledge,
    flags: RedFlags,
    reference_day: dt.date,
) -> OrderDecision | None:
    regions = suggestion_regions(order, findings, flags)
    lookback = knowledge.mri_lookback_days
    spine_mri = tuple(
        _qualified(mri, reference_day, lookback, regions) for mri in findings.spine_mri
    )
    has_recent = any(not set(_NOT_COUNTED) & set(mri.qualifiers) for mri in spine_mri)
    infection_imaged = bool(flags.infection) and _infection_imaged(spine_mri, flags.infection)
    if flags.infection:
        # Image the infection, unless a recent MRI of the region was done since it is known.
        topic = Topic.AUGMENTATION_CONTRAINDICATED
        wanted = () if infection_imaged else _MRI_WITHOUT_AND_WITH
    elif has_recent and not flags.new_deficit:
        return None
    elif has_recent:
        # Neurologic compromise: a relative contraindication (S24); the MRI is there.
        topic, wanted = Topic.AUGMENTATION_CONTRAINDICATED, ()
    else:
        topic = Topic.MRI_BEFORE_AUGMENTATION
        wanted = _MRI_WITHOUT_AND_WITH if flags.malignancy else _MRI_WITHOUT
    suggestions = make_suggestions(wanted, regions, study, knowledge) if regions else ()
    guidance = _guidance(flags, regions)
    variant = knowledge.variants[guidance]
    treated = findings.treated_levels
    indicator = Indicator.CRITICAL if flags.severe_deficit else Indicator.WARNING
    return OrderDecision(
        order=order,
        guidance=guidance,
        variant_id=variant.id,
        category=Category.NOT_RATED,
        topic=topic,
        indicator=indicator,
        radiation_level="",
        suggestions=suggestions,
        evidence=_evidence(findings, flags, spine_mri),
        pitfalls=pitfalls_for(topic, study, suggestions, findings, flags),
        treated_levels=treated,
        adjacent_levels=adjacent_levels(treated),
        advice_without_order=bool(wanted) and not regions,
        requirements=augmentation_requirements(flags, infection_imaged),
        advised_study=wanted[0] if wanted else None,
    )


def _qualified(
    mri: Evidence, reference_day: dt.date, lookback: int, regions: frozenset[SpineRegion]
) -> Evidence:
    """The MRI as the card lists it: marked when it does not count, with the reason."""
    why = why_not_recent(mri, reference_day, lookback, regions)
    if why is None:
        return mri
    return dataclasses.replace(mri, qualifiers=(*mri.qualifiers, why))


def _infection_imaged(spine_mri: tuple[Evidence, ...], infection: tuple[Evidence, ...]) -> bool:
    """A recent MRI of the region from at most a week before every dated infection finding
    (the MRI that made the diagnosis is often recorded a few days before it): an older one
    may not show the infection, and an undated or suspected infection (on the order) asks
    for its own MRI."""
    onsets = [calendar_day(evidence.date) for evidence in infection]
    if not onsets or any(onset is None for onset in onsets):
        return False
    latest = max(onset for onset in onsets if onset is not None) - _DIAGNOSTIC_MRI_LEAD
    return any(
        not set(_NOT_COUNTED) & set(mri.qualifiers)
        and (day := calendar_day(mri.date)) is not None
        and day >= latest
        for mri in spine_mri
    )


def _guidance(flags: RedFlags, regions: frozenset[SpineRegion]) -> Guidance:
    """The imaging variant behind the MRI the card asks for (augmentation itself is a
    treatment: ACR's treatment variants are not applied)."""
    if flags.infection:
        if regions == {SpineRegion.THORACIC}:
            return Guidance.INFECTION_THORACIC
        return Guidance.INFECTION
    if flags.malignancy:
        return Guidance.MALIGNANCY
    return Guidance.PRIOR_VCF


def _evidence(
    findings: PatientFindings, flags: RedFlags, spine_mri: tuple[Evidence, ...]
) -> tuple[Evidence, ...]:
    return findings.prior_vcf + findings.vertebral_augmentation + flags.evidence() + spine_mri
