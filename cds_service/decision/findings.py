"""What the patient's record says, in the terms the ACR guidance asks about.

Findings come from Conditions (problem list and encounter diagnoses), Procedures, completed
ServiceRequests, ImagingStudy and DiagnosticReport (issue 3 §1, issue 14 §1). The value sets
are data (`cards/`); this module only decides which resources may count and what each one
proves. Each finding keeps where it was written, its date and its clinical status. A
Condition whose code the service does not know still counts when its words clearly name a red
flag (text_flags.py): an unknown code never silently becomes "no red flag".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cds_service.decision.imaging_history import spine_mri_evidence
from cds_service.decision.levels import regions_of_levels, vertebral_levels
from cds_service.decision.model import Evidence, FindingSource, PatientFindings, PatientHistory
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
from cds_service.decision.text_flags import concept_flags, named_regions, severe_deficit_words
from cds_service.vocabulary import FindingKind, Modality, SpineRegion

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

# Only suspected, not confirmed (FHIR R4 condition-ver-status): still a red flag for the
# choice of study, marked "suspected" on the card.
_SUSPECTED = frozenset({"provisional", "differential", "unconfirmed"})

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
    found[FindingKind.SPINE_MRI].extend(spine_mri_evidence(history, knowledge))
    return PatientFindings(**{kind.value: tuple(items) for kind, items in found.items()})


def _condition_findings(condition: Any, knowledge: Knowledge) -> list[Evidence]:
    verification = status_code(getattr(condition, "verificationStatus", None))
    if verification in _NOT_TRUE:
        return []
    clinical_status = status_code(getattr(condition, "clinicalStatus", None))
    is_current = clinical_status is None or clinical_status in _CURRENT
    code = getattr(condition, "code", None)
    recorded = {
        "date": _condition_date(condition),
        "reference": reference_to("Condition", condition),
        "source": FindingSource.CONDITION,
        "clinical_status": clinical_status,
        "suspected": verification in _SUSPECTED,
    }
    found = []
    for kind, value_set_id, history_counts in _CONDITION_FINDINGS:
        if not (history_counts or is_current):
            continue
        match = first_match(knowledge.value_sets.get(value_set_id), [code])
        if match is None:
            continue
        coding, entry = match
        display = _display(coding, code, entry)
        found.append(
            Evidence(
                kind=kind,
                display=display,
                regions=_entry_regions(entry) | _body_site_regions(condition),
                severe=kind is FindingKind.NEUROLOGIC_DEFICIT
                and severe_deficit_words(concept_flags(display, knowledge.text_patterns)),
                **recorded,
            )
        )
    found.extend(_text_findings(condition, knowledge, {e.kind for e in found}, recorded))
    if not any(evidence.kind is FindingKind.PRIOR_VCF for evidence in found):
        found.extend(_prior_vcf_in_words(condition, knowledge, recorded))
    return found


def _prior_vcf_in_words(
    condition: Any, knowledge: Knowledge, recorded: dict[str, Any]
) -> list[Evidence]:
    """A prior vertebral fracture the Condition's words name ("L2 compression fracture")
    under a code the prior-VCF value set does not hold (Z87.310, a local code): in any
    clinical status, as a coded one (ACR asks for the history)."""
    words = knowledge.text_patterns.prior_vcf_words
    for text in concept_texts(getattr(condition, "code", None)):
        if words.search(text):
            regions = named_regions(text, knowledge.text_patterns)
            return [
                Evidence(
                    kind=FindingKind.PRIOR_VCF,
                    display=text,
                    regions=regions | _body_site_regions(condition),
                    **recorded,
                )
            ]
    return []


def _text_findings(
    condition: Any, knowledge: Knowledge, coded: set[FindingKind], recorded: dict[str, Any]
) -> list[Evidence]:
    """Red flags named by the Condition's words when none of its codes named them. A past
    deficit or infection (resolved) is not a current concern; a past cancer still counts."""
    clinical_status = recorded["clinical_status"]
    is_current = clinical_status is None or clinical_status in _CURRENT
    found: list[Evidence] = []
    for text in concept_texts(getattr(condition, "code", None)):
        for flag in concept_flags(text, knowledge.text_patterns):
            if flag.kind in coded:
                continue
            if flag.kind is not FindingKind.MALIGNANCY and not is_current:
                continue
            coded.add(flag.kind)
            found.append(
                Evidence(
                    kind=flag.kind,
                    display=text,
                    regions=flag.regions | _body_site_regions(condition),
                    severe=flag.severe,
                    risk_factor=flag.risk_factor and not recorded["suspected"],
                    **{**recorded, "suspected": recorded["suspected"] or flag.suspected},
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
    augmentation = _augmentation(procedure, knowledge, date, reference, FindingSource.PROCEDURE)
    if augmentation is not None:
        found.append(augmentation)
    if status == "completed":
        mri = _spine_mri(procedure, knowledge, date, reference, FindingSource.PROCEDURE)
        if mri is not None:
            found.append(mri)
    return found


def _completed_request_findings(request: Any, knowledge: Knowledge) -> list[Evidence]:
    """A completed order proves its procedure was done: dated when it occurred, else when it
    was ordered."""
    if getattr(request, "status", None) != "completed":
        return []
    date = (
        fhir_date_text(getattr(request, "occurrenceDateTime", None))
        or fhir_date_text(getattr(getattr(request, "occurrencePeriod", None), "start", None))
        or fhir_date_text(getattr(request, "authoredOn", None))
    )
    reference = reference_to("ServiceRequest", request)
    source = FindingSource.PRIOR_ORDER
    candidates = (
        _augmentation(request, knowledge, date, reference, source),
        _spine_mri(request, knowledge, date, reference, source),
    )
    return [evidence for evidence in candidates if evidence is not None]


def _augmentation(
    resource: Any,
    knowledge: Knowledge,
    date: str | None,
    reference: str | None,
    source: FindingSource,
) -> Evidence | None:
    """Vertebroplasty/kyphoplasty: implies a treated VCF; keeps the treated level(s), read
    from bodySite, else from the code's words and the notes ("Kyphoplasty L2")."""
    code = getattr(resource, "code", None)
    match = first_match(knowledge.value_sets.get("vertebral_augmentation"), [code])
    if match is None:
        return None
    coding, entry = match
    levels = vertebral_levels(_body_site_texts(resource)) or vertebral_levels(
        [*concept_texts(code), *_note_texts(resource)]
    )
    return Evidence(
        kind=FindingKind.VERTEBRAL_AUGMENTATION,
        display=_display(coding, code, entry),
        date=date,
        reference=reference,
        levels=levels,
        regions=_entry_regions(entry) | regions_of_levels(levels),
        source=source,
    )


def _spine_mri(
    resource: Any,
    knowledge: Knowledge,
    date: str | None,
    reference: str | None,
    source: FindingSource,
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
                source=source,
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


def _note_texts(resource: Any) -> list[str]:
    return [
        text.strip()
        for note in getattr(resource, "note", None) or ()
        if isinstance(text := getattr(note, "text", None), str) and text.strip()
    ]


def _body_site_regions(resource: Any) -> frozenset[SpineRegion]:
    """A fracture's region from its recorded level(s) ("L1 vertebra"), when the code has none."""
    return regions_of_levels(vertebral_levels(_body_site_texts(resource)))
