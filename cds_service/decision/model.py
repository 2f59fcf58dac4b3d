"""The clinical vocabulary shared by knowledge, decision and rendering.

Plain frozen values only: no Flask, no HTTP, no clock, no uuid. The knowledge loader
builds these from `cards/`, the decision core reasons over them, `render.py` turns the
results into CDS Hooks cards.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.imagingstudy import ImagingStudy
from fhir.resources.R4B.procedure import Procedure
from fhir.resources.R4B.servicerequest import ServiceRequest


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


class FindingKind(enum.StrEnum):
    PRIOR_VCF = "prior_vcf"
    VERTEBRAL_AUGMENTATION = "vertebral_augmentation"
    MALIGNANCY = "malignancy"
    NEUROLOGIC_DEFICIT = "neurologic_deficit"
    INFECTION = "infection"
    SPINE_MRI = "spine_mri"


class FindingSource(enum.StrEnum):
    """Where in the record a finding was written (issue 14 §1)."""

    CONDITION = "condition"  # problem list or encounter diagnosis alike
    PROCEDURE = "procedure"
    PRIOR_ORDER = "prior-order"  # a completed ServiceRequest
    IMAGING_STUDY = "imaging-study"
    DIAGNOSTIC_REPORT = "diagnostic-report"
    ORDER_REASON = "order-reason"  # the draft order's reasonCode or reasonReference
    ORDER_NOTE = "order-note"  # the draft order's note
    ORDER_TEXT = "order-text"  # the draft order's own code text


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


@dataclass(frozen=True)
class Evidence:
    """One fact from the patient's record that a card cites."""

    kind: FindingKind
    display: str
    date: str | None  # FHIR date/dateTime as recorded, None when the record has none
    reference: str | None  # "Condition/123"
    levels: tuple[str, ...] = ()  # vertebral levels such as "L2", from bodySite, code, note
    regions: frozenset[SpineRegion] = frozenset()
    source: FindingSource | None = None
    clinical_status: str | None = None  # Condition.clinicalStatus code, when recorded
    suspected: bool = False  # only suspected: "r/o abscess", "?cord compression"
    risk_factor: bool = False  # suspected through a risk factor stated as a fact (fever)
    severe: bool = False  # cauda equina syndrome, cord compression: an emergency
    qualifiers: tuple[Qualifier, ...] = ()  # set by the decision for the card


@dataclass(frozen=True)
class PatientFindings:
    prior_vcf: tuple[Evidence, ...] = ()
    vertebral_augmentation: tuple[Evidence, ...] = ()
    malignancy: tuple[Evidence, ...] = ()
    neurologic_deficit: tuple[Evidence, ...] = ()
    infection: tuple[Evidence, ...] = ()
    spine_mri: tuple[Evidence, ...] = ()

    @property
    def has_vcf_history(self) -> bool:
        """Augmentation implies a treated fracture, so it counts as VCF history."""
        return bool(self.prior_vcf or self.vertebral_augmentation)

    @property
    def treated_levels(self) -> tuple[str, ...]:
        levels: list[str] = []
        for evidence in self.vertebral_augmentation:
            levels.extend(level for level in evidence.levels if level not in levels)
        return tuple(levels)


@dataclass(frozen=True)
class ClassifiedOrder:
    """A draft order as the decision core sees it."""

    reference: str  # "ServiceRequest/abc", how selections and actions name it
    study: Study | None  # None: not imaging we recognise (out of scope)
    display: str  # what the clinician ordered, in words
    classified_from: str  # "code" or "text"
    authored_on: str | None = None
    reason_regions: frozenset[SpineRegion] = frozenset()
    # Red flags written on the order itself (reason, note, code text) and the Conditions its
    # reasonReference names ("Condition/123"), matched against the record's findings.
    red_flags: tuple[Evidence, ...] = ()
    reason_references: frozenset[str] = frozenset()
    # An imaging order of any body part (cards/imaging-orders.yaml): rated even when the
    # criteria do not cover it, so that no EHR keeps an earlier order's rating.
    is_imaging: bool = False


@dataclass(frozen=True)
class Suggestion:
    """A concrete replacement study; `regions` is never empty."""

    study: Study
    label: str
    is_recommended: bool
    adds: bool = False  # an additional order (the draft stays), not a replacement
    # How the suggested order would be rated, with the variant that decides: what the next
    # hook call says once the clinician takes the suggestion.
    category: Category = Category.NOT_RATED
    variant_id: str = ""


@dataclass(frozen=True)
class OrderDecision:
    order: ClassifiedOrder
    guidance: Guidance
    variant_id: str
    category: Category
    topic: Topic
    indicator: Indicator
    radiation_level: str
    suggestions: tuple[Suggestion, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    pitfalls: tuple[str, ...] = ()  # pitfall ids from cards/card-texts
    treated_levels: tuple[str, ...] = ()  # vertebral levels augmented before, e.g. ("L2",)
    adjacent_levels: tuple[str, ...] = ()  # the levels next to them, e.g. ("L1", "L3")
    advice_without_order: bool = False  # no region found: advise in words only
    requirements: tuple[str, ...] = ()  # ids of cards/card-texts requirements that apply
    uncovered_levels: tuple[str, ...] = ()  # adjacent levels outside the ordered regions
    deficit_regions: frozenset[SpineRegion] = frozenset()  # regions of new deficits elsewhere
    # The study the advice asks for, also when no region allows a concrete suggestion.
    advised_study: tuple[Modality, Contrast] | None = None


@dataclass(frozen=True)
class PatientHistory:
    """The patient's resources that can matter to the decision, as R4B models.

    The patient-data layer keeps only resources whose codes could match a value set
    (a cheap look before building models); `skipped_invalid` counts the resources it
    could not parse and left out.
    """

    conditions: tuple[Condition, ...] = ()
    procedures: tuple[Procedure, ...] = ()
    service_requests: tuple[ServiceRequest, ...] = ()
    # A recent spine MRI recorded as a study or a report: MR studies and reports coded or
    # worded as an MRI (decision/imaging_history.py decides which are spine MRIs).
    imaging_studies: tuple[ImagingStudy, ...] = ()
    diagnostic_reports: tuple[DiagnosticReport, ...] = ()
    skipped_invalid: int = 0
