"""What the patient's record says, in the terms the ACR guidance asks about.

Findings come from Conditions, Procedures and ServiceRequests (issue 3 §1). The value sets are
data (`cards/`); this module only decides which resources may count and what each one proves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cds_service.decision.levels import regions_of_levels, vertebral_levels
from cds_service.decision.model import (
    Evidence,
    FindingKind,
    Modality,
    PatientFindings,
    PatientHistory,
    SpineRegion,
)
from cds_service.decision.record import (
    codings,
    concept_texts,
    concept_words,
    fhir_date_text,
    first_match,
    orderables_in,
    reference_to,
    status_code,
)

if TYPE_CHECKING:
    from cds_service.knowledge.model import CodeEntry, Knowledge

# A record that was never true counts for nothing (FHIR R4 condition-ver-status).
_NOT_TRUE = frozenset({"entered-in-error", "refuted"})
# A procedure that did not happen (FHIR R4 event-status).
_NOT_PERFORMED = frozenset({"entered-in-error", "not-done"})
# Conditions that describe the patient now (FHIR R4 condition-clinical). A resolved deficit or
# infection no longer raises the concern that routes to LBP V4/V7 (knowledge pack §1.6);
# a fracture or a malignancy counts in any status: ACR asks for their *history* (VCF V2, V3).
_CURRENT = frozenset({"active", "recurrence", "relapse"})

# Which value set proves which finding from a Condition, and whether a past one still counts.
_CONDITION_FINDINGS = (
    (FindingKind.PRIOR_VCF, "prior_vcf", True),
    (FindingKind.MALIGNANCY, "malignancy", True),
    (FindingKind.NEUROLOGIC_DEFICIT, "neurologic_deficit", False),
    (FindingKind.INFECTION, "infection", False),
)


def find_patient_findings(history: PatientHistory, knowledge: Knowledge) -> PatientFindings:
    found: dict[FindingKind, list[Evidence]] = {kind: [] for kind in FindingKind}
    for condition in history.conditions:
        for evidence in _condition_findings(condition, knowledge):
            found[evidence.kind].append(evidence)
    for procedure in history.procedures:
        for evidence in _procedure_findings(procedure, knowledge):
            found[evidence.kind].append(evidence)
    for request in history.service_requests:
        for evidence in _completed_request_findings(request, knowledge):
            found[evidence.kind].append(evidence)
    return PatientFindings(**{kind.value: tuple(items) for kind, items in found.items()})


def _condition_findings(condition: Any, knowledge: Knowledge) -> list[Evidence]:
    if status_code(getattr(condition, "verificationStatus", None)) in _NOT_TRUE:
        return []
    clinical_status = status_code(getattr(condition, "clinicalStatus", None))
    is_current = clinical_status is None or clinical_status in _CURRENT
    code = getattr(condition, "code", None)
    found = []
    for kind, value_set_id, history_counts in _CONDITION_FINDINGS:
        if not (history_counts or is_current):
            continue
        match = first_match(knowledge.value_sets.get(value_set_id), [code])
        if match is None:
            continue
        coding, entry = match
        found.append(
            Evidence(
                kind=kind,
                display=_display(coding, code, entry),
                date=_condition_date(condition),
                reference=reference_to("Condition", condition),
                regions=_entry_regions(entry) | _body_site_regions(condition),
            )
        )
    return found


def _procedure_findings(procedure: Any, knowledge: Knowledge) -> list[Evidence]:
    status = getattr(procedure, "status", None)
    if status in _NOT_PERFORMED:
        return []
    date = fhir_date_text(getattr(procedure, "performedDateTime", None)) or fhir_date_text(
        getattr(getattr(procedure, "performedPeriod", None), "start", None)
    )
    reference = reference_to("Procedure", procedure)
    found = []
    augmentation = _augmentation(procedure, knowledge, date, reference)
    if augmentation is not None:
        found.append(augmentation)
    if status == "completed":
        mri = _spine_mri(procedure, knowledge, date, reference)
        if mri is not None:
            found.append(mri)
    return found


def _completed_request_findings(request: Any, knowledge: Knowledge) -> list[Evidence]:
    """A completed order proves its procedure was done (dated by authoredOn)."""
    if getattr(request, "status", None) != "completed":
        return []
    date = fhir_date_text(getattr(request, "authoredOn", None))
    reference = reference_to("ServiceRequest", request)
    candidates = (
        _augmentation(request, knowledge, date, reference),
        _spine_mri(request, knowledge, date, reference),
    )
    return [evidence for evidence in candidates if evidence is not None]


def _augmentation(
    resource: Any, knowledge: Knowledge, date: str | None, reference: str | None
) -> Evidence | None:
    """Vertebroplasty/kyphoplasty: implies a treated VCF; keeps the treated level(s)."""
    code = getattr(resource, "code", None)
    match = first_match(knowledge.value_sets.get("vertebral_augmentation"), [code])
    if match is None:
        return None
    coding, entry = match
    levels = vertebral_levels(_body_site_texts(resource))
    return Evidence(
        kind=FindingKind.VERTEBRAL_AUGMENTATION,
        display=_display(coding, code, entry),
        date=date,
        reference=reference,
        levels=levels,
        regions=_entry_regions(entry) | regions_of_levels(levels),
    )


def _spine_mri(
    resource: Any, knowledge: Knowledge, date: str | None, reference: str | None
) -> Evidence | None:
    code = getattr(resource, "code", None)
    for coding, orderable in orderables_in(code, knowledge.orderables):
        if orderable.study.modality is Modality.MRI:
            return Evidence(
                kind=FindingKind.SPINE_MRI,
                display=getattr(coding, "display", None)
                or concept_words(code)
                or orderable.display,
                date=date,
                reference=reference,
                regions=orderable.study.regions,
            )
    return None


def _condition_date(condition: Any) -> str | None:
    return (
        fhir_date_text(getattr(condition, "onsetDateTime", None))
        or fhir_date_text(getattr(getattr(condition, "onsetPeriod", None), "start", None))
        or fhir_date_text(getattr(condition, "recordedDate", None))
    )


def _display(coding: Any, concept: Any, entry: CodeEntry) -> str:
    display = getattr(coding, "display", None)
    if isinstance(display, str) and display.strip():
        return display.strip()
    return concept_words(concept) or entry.display


def _entry_regions(entry: CodeEntry) -> frozenset[SpineRegion]:
    return frozenset({entry.region}) if entry.region is not None else frozenset()


def _body_site_texts(resource: Any) -> list[str]:
    texts: list[str] = []
    for site in getattr(resource, "bodySite", None) or ():
        texts.extend(concept_texts(site))
        texts.extend(
            code
            for coding in codings(site)
            if isinstance(code := getattr(coding, "code", None), str)
        )
    return texts


def _body_site_regions(resource: Any) -> frozenset[SpineRegion]:
    """A fracture's region from its recorded level(s) ("L1 vertebra"), when the code has none."""
    return regions_of_levels(vertebral_levels(_body_site_texts(resource)))
