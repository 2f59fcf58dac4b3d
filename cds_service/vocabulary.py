"""The clinical vocabulary shared by knowledge, decision and rendering.

Plain frozen values only: no Flask, no HTTP, no clock, no uuid, no FHIR models. The knowledge
loader builds these from `cards/`, the decision core reasons over them, `render.py` turns the
results into CDS Hooks cards. It imports nothing of the service, so knowledge/ and decision/
can both stand on it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Modality(enum.StrEnum):
    RADIOGRAPH = "radiograph"
    CT = "ct"
    MRI = "mri"
    CT_MYELOGRAPHY = "ct-myelography"
    BONE_SCAN = "bone-scan"
    SPECT = "spect"
    FDG_PET_CT = "fdg-pet-ct"
    DXA = "dxa"
    VERTEBRAL_AUGMENTATION = "vertebral-augmentation"


class SpineRegion(enum.StrEnum):
    CERVICAL = "cervical"
    THORACIC = "thoracic"
    LUMBAR = "lumbar"


class Contrast(enum.StrEnum):
    WITHOUT = "without"
    WITH = "with"
    WITHOUT_AND_WITH = "without-and-with"
    INTRATHECAL = "intrathecal"
    NOT_APPLICABLE = "not-applicable"  # radiograph, nuclear medicine, DXA, augmentation
    UNSPECIFIED = "unspecified"  # CT/MRI ordered without saying


class Category(enum.StrEnum):
    """ACR appropriateness category (rating bands 7-9, 4-6, 1-3)."""

    USUALLY_APPROPRIATE = "usually-appropriate"
    MAY_BE_APPROPRIATE = "may-be-appropriate"
    USUALLY_NOT_APPROPRIATE = "usually-not-appropriate"
    NOT_RATED = "not-rated"


class Topic(enum.StrEnum):
    """`source.topic.code` of a card: the contract of DESIGN.md. Letters and digits only, at
    most 100 characters, never changed once released (EHRs key acknowledgements on it)."""

    USUALLY_APPROPRIATE = "UsuallyAppropriate"
    CONTRAST_NOT_INDICATED = "ContrastNotIndicated"
    BETTER_INITIAL_STUDY = "BetterInitialStudy"
    MRI_PREFERRED_NEUROLOGIC_DEFICIT = "MriPreferredNeurologicDeficit"
    ADD_MRI_NEUROLOGIC_DEFICIT = "AddMriNeurologicDeficit"  # a deficit in another region
    PATHOLOGIC_FRACTURE_CONCERN = "PathologicFractureConcern"
    MRI_BEFORE_AUGMENTATION = "MriBeforeAugmentation"
    SPINAL_INFECTION_CONCERN = "SpinalInfectionConcern"
    URGENT_SPINE_CONSULTATION = "UrgentSpineConsultation"
    AUGMENTATION_CONTRAINDICATED = "AugmentationContraindicated"


# The codes cards carried until December 2026 (hyphenated; Epic takes only letters and digits),
# for anyone who stored them: the feedback report counts a stored old code as its new one.
LEGACY_TOPIC_CODES: dict[str, Topic] = {
    "usually-appropriate": Topic.USUALLY_APPROPRIATE,
    "contrast-not-indicated": Topic.CONTRAST_NOT_INDICATED,
    "better-initial-study": Topic.BETTER_INITIAL_STUDY,
    "mri-preferred-neurologic-deficit": Topic.MRI_PREFERRED_NEUROLOGIC_DEFICIT,
    "add-mri-neurologic-deficit": Topic.ADD_MRI_NEUROLOGIC_DEFICIT,
    "pathologic-fracture-concern": Topic.PATHOLOGIC_FRACTURE_CONCERN,
    "mri-before-augmentation": Topic.MRI_BEFORE_AUGMENTATION,
    "spinal-infection-concern": Topic.SPINAL_INFECTION_CONCERN,
    "urgent-spine-consultation": Topic.URGENT_SPINE_CONSULTATION,
    "augmentation-contraindicated": Topic.AUGMENTATION_CONTRAINDICATED,
}


class Indicator(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


# How severe each indicator is, least first (CDS Hooks 2.0 Card.indicator).
INDICATOR_LEVEL = {Indicator.INFO: 0, Indicator.WARNING: 1, Indicator.CRITICAL: 2}


class FindingKind(enum.StrEnum):
    PRIOR_VCF = "prior_vcf"
    VERTEBRAL_AUGMENTATION = "vertebral_augmentation"
    MALIGNANCY = "malignancy"
    NEUROLOGIC_DEFICIT = "neurologic_deficit"
    INFECTION = "infection"
    SPINE_MRI = "spine_mri"


# The findings that are red flags: what changes the advice beyond the VCF history.
RED_FLAG_KINDS = (FindingKind.MALIGNANCY, FindingKind.NEUROLOGIC_DEFICIT, FindingKind.INFECTION)


class Qualifier(enum.StrEnum):
    """What a card says about one piece of evidence, next to it ("suspected", "not new")."""

    SUSPECTED = "suspected"  # "r/o", "?", provisional or differential diagnosis
    RISK_FACTOR = "risk-factor"  # fever, IV drug use: a fact that raises the suspicion
    ON_ORDER = "on-order"  # written on this draft order
    NEW = "new"  # a neurologic deficit of recent or unknown onset
    LONGSTANDING = "longstanding"  # a neurologic deficit older than the look-back
    OTHER_REGION = "other-region"  # a deficit in a region this order does not image
    NOT_RECENT = "not-recent"  # a spine MRI from before the look-back
    UNDATED = "undated"  # a spine MRI without a full date: it cannot count as recent
    NOT_TREATED_REGION = "not-treated-region"  # a spine MRI of another region than to treat


class Guidance(enum.StrEnum):
    """The ACR guidance (variant) that can apply; red flags combine (guidance.py)."""

    MALIGNANCY = "malignancy"  # ACR VCF V2
    NEUROLOGIC_DEFICIT = "neurologic-deficit"  # ACR Low Back Pain V4 (lumbar)
    MYELOPATHY = "myelopathy"  # ACR Myelopathy (cervical, thoracic)
    INFECTION = "infection"  # ACR Low Back Pain V7 (lumbar; cervical)
    INFECTION_THORACIC = "infection-thoracic"  # ACR Thoracic Back Pain V5
    PRIOR_VCF = "prior-vcf"  # ACR VCF V3


@dataclass(frozen=True)
class Study:
    """An imaging study as ACR rates it: modality, contrast, and the spine regions."""

    modality: Modality
    contrast: Contrast
    regions: frozenset[SpineRegion] = frozenset()
    whole_body: bool = False
