"""Study labels in the clinician's words, built only from the labels in `cards/card-texts.yaml`.

"CT thoracic spine without IV contrast", "MRI thoracic and lumbar spine without and with IV
contrast", "Bone scan whole body", "CT spine (region not specified) without IV contrast".
The decision core (suggestion labels) and the card renderer (summaries, order text) share them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import combinations

from cds_service.knowledge.model import CardWording
from cds_service.vocabulary import Contrast, Modality, SpineRegion, Study

REGION_ORDER = (SpineRegion.CERVICAL, SpineRegion.THORACIC, SpineRegion.LUMBAR)
_ACRONYMS = {"mri": "MRI", "ct": "CT", "vcf": "VCF", "acr": "ACR"}

# Label fragments in CardWording.headings (the only free-form mapping of the frozen model).
LABEL_FRAGMENTS = ("label_spine", "label_and", "label_whole_body", "label_region_unknown")

# ACR rates these "spine area of interest": without a region the label must say it is missing.
_SPINE_AREA_MODALITIES = frozenset(
    {Modality.CT, Modality.MRI, Modality.RADIOGRAPH, Modality.CT_MYELOGRAPHY}
)
# Only CT and MRI come with an IV contrast choice in the ACR tables (knowledge pack §1.3);
# CT myelography is intrathecal by definition; the rest take no contrast (vocabulary.py).
_IV_CONTRASTS = (
    Contrast.WITHOUT,
    Contrast.WITH,
    Contrast.WITHOUT_AND_WITH,
    Contrast.UNSPECIFIED,
)


def topic_label(code: str) -> str:
    """A card topic code in words: "MriBeforeAugmentation" -> "MRI before augmentation"
    (the old hyphenated codes read the same)."""
    words = re.findall(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])", code)
    said = " ".join(_ACRONYMS.get(word.lower(), word.lower()) for word in words)
    return said[:1].upper() + said[1:]


def contrasts_for(modality: Modality) -> tuple[Contrast, ...]:
    """The contrast values a study of this modality can have."""
    if modality in (Modality.CT, Modality.MRI):
        return _IV_CONTRASTS
    if modality is Modality.CT_MYELOGRAPHY:
        return (Contrast.INTRATHECAL,)
    return (Contrast.NOT_APPLICABLE,)


def study_label(study: Study, wording: CardWording) -> str:
    parts = (
        wording.modality_labels[study.modality],
        _where(study, wording),
        wording.contrast_labels[study.contrast],
    )
    return " ".join(part for part in parts if part)


def _where(study: Study, wording: CardWording) -> str:
    fragments = wording.headings
    if study.whole_body:
        return fragments["label_whole_body"]
    names = [wording.region_labels[region] for region in REGION_ORDER if region in study.regions]
    if not names:
        if study.modality in _SPINE_AREA_MODALITIES:
            return fragments["label_region_unknown"]
        return ""
    joined = (
        names[0]
        if len(names) == 1
        else f"{', '.join(names[:-1])} {fragments['label_and']} {names[-1]}"
    )
    return f"{joined} {fragments['label_spine']}"


def possible_studies() -> Iterator[Study]:
    """Every study the service can name: each modality, its contrasts, any regions, whole body."""
    region_sets = [
        frozenset(chosen)
        for size in range(len(REGION_ORDER) + 1)
        for chosen in combinations(REGION_ORDER, size)
    ]
    for modality in Modality:
        for contrast in contrasts_for(modality):
            for regions in region_sets:
                for whole_body in (False, True):
                    yield Study(modality, contrast, regions, whole_body)


def longest_study_label(wording: CardWording) -> str:
    return max((study_label(study, wording) for study in possible_studies()), key=len)
