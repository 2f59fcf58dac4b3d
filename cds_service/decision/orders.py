"""A draft ServiceRequest as the decision core sees it: which study, which regions, why.

Coded orders (CPT, LOINC, SNOMED CT) are looked up in `knowledge.orderables`; orders carrying
only local codes or words are read with `knowledge.text_patterns` (issue 3 §2).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cds_service.decision.levels import regions_of_levels, vertebral_levels
from cds_service.decision.model import ClassifiedOrder
from cds_service.decision.order_flags import order_red_flags, reason_references
from cds_service.decision.record import (
    codings,
    concept_texts,
    concept_words,
    fhir_date_text,
    first_match,
    orderables_in,
    reference_to,
)
from cds_service.decision.text_flags import affirmed_reason_regions
from cds_service.vocabulary import Contrast, Modality, SpineRegion, Study

if TYPE_CHECKING:
    from cds_service.knowledge.model import Knowledge, TextPatterns

# Studies ACR rates with no contrast choice (radiography, nuclear medicine, DXA, procedures).
_NO_CONTRAST = frozenset(
    {
        Modality.RADIOGRAPH,
        Modality.BONE_SCAN,
        Modality.SPECT,
        Modality.FDG_PET_CT,
        Modality.DXA,
        Modality.VERTEBRAL_AUGMENTATION,
    }
)


# Cross-sectional studies of a body part: in scope only when the words point at the spine.
_NEEDS_SPINE = frozenset({Modality.RADIOGRAPH, Modality.CT, Modality.MRI})


def classify_order(order: Any, knowledge: Knowledge) -> ClassifiedOrder:
    code = getattr(order, "code", None)
    study, classified_from = _study_from_codes(code, knowledge), "code"
    if study is None:
        study, classified_from = _study_from_words(code, knowledge.text_patterns), "text"
    elif study.contrast is Contrast.UNSPECIFIED:
        study = _with_said_contrast(study, code, knowledge.text_patterns)
    if study is not None and getattr(order, "doNotPerform", None) is True:
        study = None  # "do not perform" is not an imaging order to rate
    if study is not None and not study.regions:
        study = _with_body_site_regions(study, order, knowledge.text_patterns)
    return ClassifiedOrder(
        is_imaging=_is_imaging(order, study, knowledge),
        reference=reference_to("ServiceRequest", order) or "ServiceRequest",
        study=study,
        display=concept_words(code),
        classified_from=classified_from,
        authored_on=fhir_date_text(getattr(order, "authoredOn", None)),
        reason_regions=_reason_regions(order, knowledge),
        red_flags=order_red_flags(order, knowledge) if study is not None else (),
        reason_references=reason_references(order),
    )


def _is_imaging(order: Any, study: Study | None, knowledge: Knowledge) -> bool:
    """A spine study recognised, or any other imaging order: a CPT of diagnostic radiology,
    an imaging category, or a modality named in the order's words ("CT head")."""
    if getattr(order, "doNotPerform", None) is True:
        return False
    if study is not None:
        return study.modality is not Modality.VERTEBRAL_AUGMENTATION
    code = getattr(order, "code", None)
    imaging = knowledge.imaging_orders
    if any(_coded(c, imaging.has_imaging_cpt) for c in codings(code)):
        return True
    categories = getattr(order, "category", None) or ()
    if any(
        _coded(c, lambda system, value: (system, value) in imaging.categories)
        for concept in categories
        for c in codings(concept)
    ):
        return True
    return any(_names_imaging(text, knowledge) for text in concept_texts(code))


def _coded(coding: Any, matches: Callable[[str, str], bool]) -> bool:
    system, code = getattr(coding, "system", None), getattr(coding, "code", None)
    return isinstance(system, str) and isinstance(code, str) and matches(system, code.strip())


def _names_imaging(text: str, knowledge: Knowledge) -> bool:
    if knowledge.imaging_orders.words.search(text):
        return True
    return any(
        pattern.search(text)
        for modality, pattern in knowledge.text_patterns.modality
        if modality is not Modality.VERTEBRAL_AUGMENTATION
    )


def _study_from_codes(code: Any, knowledge: Knowledge) -> Study | None:
    """The study named by the first CPT, LOINC or SNOMED CT coding the knowledge knows."""
    return next((o.study for _, o in orderables_in(code, knowledge.orderables)), None)


def _study_from_words(code: Any, patterns: TextPatterns) -> Study | None:
    """The first of code.text and the coding displays that reads as a spine study."""
    for text in concept_texts(code):
        study = study_from_text(text, patterns)
        if study is not None:
            return study
    return None


def study_from_text(text: str, patterns: TextPatterns) -> Study | None:
    """Read the words of an order: "CT L-spine w/ contrast" is CT lumbar with IV contrast,
    "CT chest" is None (another body part)."""
    modality = next((m for m, pattern in patterns.modality if pattern.search(text)), None)
    if modality is None:
        return None
    regions = frozenset(region for region, pattern in patterns.regions if pattern.search(text))
    if modality is Modality.VERTEBRAL_AUGMENTATION:
        regions |= regions_of_levels(vertebral_levels([text]))
    whole_body = bool(patterns.whole_body.search(text))
    names_spine = bool(regions) or whole_body or bool(patterns.spine.search(text))
    if patterns.non_spine.search(text) and not (regions or whole_body):
        return None  # a study of another body part ("CT chest", "XR hip")
    if modality in _NEEDS_SPINE and not names_spine:
        return None
    contrast = next((c for c, pattern in patterns.contrast if pattern.search(text)), None)
    if modality is Modality.CT and contrast is Contrast.INTRATHECAL:
        modality = Modality.CT_MYELOGRAPHY
    return Study(modality, _contrast_for(modality, contrast), regions, whole_body)


def _contrast_for(modality: Modality, said: Contrast | None) -> Contrast:
    if modality in _NO_CONTRAST:
        return Contrast.NOT_APPLICABLE
    if modality is Modality.CT_MYELOGRAPHY:
        return Contrast.INTRATHECAL
    if said is None or said in (Contrast.NOT_APPLICABLE, Contrast.INTRATHECAL):
        return Contrast.UNSPECIFIED
    return said


def _with_said_contrast(study: Study, code: Any, patterns: TextPatterns) -> Study:
    """A code that leaves contrast open ("CT of whole spine") made specific by the order's
    own words ("... without contrast"), when they say."""
    for text in concept_texts(code):
        said = study_from_text(text, patterns)
        if (
            said is not None
            and said.modality is study.modality
            and said.contrast is not Contrast.UNSPECIFIED
        ):
            return dataclasses.replace(study, contrast=said.contrast)
    return study


def _with_body_site_regions(study: Study, order: Any, patterns: TextPatterns) -> Study:
    """A region-less code ("MRI spine") made specific by the order's bodySite, if it says."""
    texts = [
        text for site in getattr(order, "bodySite", None) or () for text in concept_texts(site)
    ]
    regions = frozenset(
        region for region, pattern in patterns.regions for text in texts if pattern.search(text)
    )
    regions |= regions_of_levels(vertebral_levels(texts))
    if study.modality is Modality.VERTEBRAL_AUGMENTATION:
        regions |= regions_of_levels(vertebral_levels(concept_texts(getattr(order, "code", None))))
    return dataclasses.replace(study, regions=regions) if regions else study


def _reason_regions(order: Any, knowledge: Knowledge) -> frozenset[SpineRegion]:
    reasons = tuple(getattr(order, "reasonCode", None) or ())
    regions: set[SpineRegion] = set()
    value_set = knowledge.value_sets.get("reason_region")
    for reason in reasons:
        match = first_match(value_set, [reason])
        if match is not None and match[1].region is not None:
            regions.add(match[1].region)
        for text in concept_texts(reason):
            regions.update(affirmed_reason_regions(text, knowledge.text_patterns))
    return frozenset(regions)
