"""What the decision core takes and gives: findings, classified orders, decisions.

Plain frozen values over R4B models: no Flask, no HTTP, no clock, no uuid. The vocabulary they
are written in (modalities, regions, categories, topics...) is `cds_service/vocabulary.py`,
shared with the knowledge.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.imagingstudy import ImagingStudy
from fhir.resources.R4B.procedure import Procedure
from fhir.resources.R4B.servicerequest import ServiceRequest

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
    # CT or MRI of the same region in the same call ("also being signed"): one study now.
    also_ordered: tuple[Study, ...] = ()


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
