"""Spine MRIs recorded as an ImagingStudy or a DiagnosticReport (issue 14 §4).

Many EHRs record a done MRI only as the study the PACS reported (ImagingStudy) or as its
radiology report (DiagnosticReport), not as a Procedure or a completed ServiceRequest. This
module reads both, purely (no clock, no I/O), into the same `Evidence` as findings.py gives
for a Procedure: kind SPINE_MRI, the date it was done, its reference and the spine regions it
imaged. Counting an MRI that was not done (or not of the spine) is the harmful error — the
card asking for an MRI before augmentation would then stay silent — so each resource must
say both "MRI" and "spine" before it counts:

- ImagingStudy: status `available`; magnetic resonance (DICOM modality MR, on the study or a
  series; when no modality is recorded at all, an MRI procedureCode says it); the spine from
  a procedureCode the knowledge knows as a spine MRI, a series bodySite in the
  `spine_body_site` value set (or naming a spine region or vertebral level in its words), or
  the study's or a series' description read as a spine MRI. Dated by `started`.
- DiagnosticReport: status final, amended, corrected, appended or preliminary (a preliminary
  read still means the MRI was done); code an MRI study the knowledge knows, or code text or
  display read as a spine MRI. Dated by effectiveDateTime, effectivePeriod.start, else
  `issued`. A report of a study already counted (its `imagingStudy` reference) is not counted
  twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from cds_service.decision.levels import regions_of_levels, vertebral_levels
from cds_service.decision.model import Evidence, FindingSource, PatientHistory
from cds_service.decision.orders import study_from_text
from cds_service.decision.record import (
    concept_texts,
    fhir_date_text,
    orderables_in,
    reference_to,
)
from cds_service.vocabulary import FindingKind, Modality, SpineRegion

if TYPE_CHECKING:
    from cds_service.knowledge.model import Knowledge, TextPatterns

DICOM = "http://dicom.nema.org/resources/ontology/DCM"
MR = "MR"
BODY_SITE_VALUE_SET = "spine_body_site"
# FHIR R4 imagingstudy-status: only `available` means images exist (`registered` is a study
# announced without images, `unknown` says nothing).
_STUDY_DONE = frozenset({"available"})
# FHIR R4 diagnostic-report-status: the report of a study that was done.
_REPORT_DONE = frozenset({"final", "amended", "corrected", "appended", "preliminary"})
_FALLBACK_DISPLAY = "MRI of the spine"


def spine_mri_evidence(history: PatientHistory, knowledge: Knowledge) -> tuple[Evidence, ...]:
    """One SPINE_MRI evidence per spine MRI in the history's ImagingStudies and
    DiagnosticReports, in the history's order (studies first)."""
    found: list[Evidence] = []
    counted_studies: set[str] = set()
    for study in history.imaging_studies:
        evidence = _study_evidence(study, knowledge)
        if evidence is not None:
            found.append(evidence)
            if evidence.reference:
                counted_studies.add(evidence.reference)
    for report in history.diagnostic_reports:
        if _references(getattr(report, "imagingStudy", None)) & counted_studies:
            continue  # the study it reports is already counted
        evidence = _report_evidence(report, knowledge)
        if evidence is not None:
            found.append(evidence)
    return tuple(found)


# ImagingStudy --------------------------------------------------------------------------


def _study_evidence(study: Any, knowledge: Knowledge) -> Evidence | None:
    if getattr(study, "status", None) not in _STUDY_DONE:
        return None
    series = [one for one in getattr(study, "series", None) or () if one is not None]
    procedure_codes = [c for c in getattr(study, "procedureCode", None) or () if c is not None]
    mri_codes = [
        (coding, orderable, concept)
        for concept in procedure_codes
        for coding, orderable in orderables_in(concept, knowledge.orderables)
        if orderable.study.modality is Modality.MRI
    ]
    modalities = [*(getattr(study, "modality", None) or ()), *(s.modality for s in series)]
    if not _is_mr(modalities, bool(mri_codes)):
        return None
    regions: set[SpineRegion] = set()
    levels: list[str] = []
    spine = False
    for _, orderable, _ in mri_codes:
        spine = True
        regions |= orderable.study.regions
    for one in series:
        site_spine, site_regions, site_levels = _body_site(
            getattr(one, "bodySite", None), knowledge
        )
        spine |= site_spine
        regions |= site_regions
        levels.extend(level for level in site_levels if level not in levels)
    descriptions = [getattr(study, "description", None)]
    descriptions += [getattr(one, "description", None) for one in series]
    for text in descriptions:
        read = _mri_words(text, knowledge.text_patterns)
        if read is not None:
            spine = True
            regions |= read
    if not spine:
        return None
    return Evidence(
        kind=FindingKind.SPINE_MRI,
        display=_study_display(mri_codes, study),
        date=fhir_date_text(getattr(study, "started", None)),
        reference=reference_to("ImagingStudy", study),
        levels=tuple(levels),
        regions=frozenset(regions) | regions_of_levels(levels),
        source=FindingSource.IMAGING_STUDY,
    )


def _is_mr(modalities: Iterable[Any], mri_procedure_code: bool) -> bool:
    """MR among the recorded modalities; with none recorded, an MRI procedureCode says it
    (a study whose modalities are recorded and are all other is not an MRI)."""
    recorded = [m for m in modalities if m is not None]
    if not recorded:
        return mri_procedure_code
    return any(
        getattr(m, "system", None) == DICOM and (getattr(m, "code", None) or "").strip() == MR
        for m in recorded
    )


def _body_site(site: Any, knowledge: Knowledge) -> tuple[bool, set[SpineRegion], list[str]]:
    """Whether a series' bodySite (a Coding) is the spine, its regions and levels."""
    if site is None:
        return False, set(), []
    value_set = knowledge.value_sets.get(BODY_SITE_VALUE_SET)
    system, code = getattr(site, "system", None), getattr(site, "code", None)
    entry = value_set.match(system, code.strip()) if value_set and isinstance(code, str) else None
    texts = [t.strip() for t in (getattr(site, "display", None),) if isinstance(t, str)]
    patterns = knowledge.text_patterns
    spine = entry is not None
    regions: set[SpineRegion] = set()
    if entry is not None and entry.region is not None:
        regions.add(entry.region)
    elif entry is not None:  # a code spanning regions: its display in the knowledge says which
        regions |= _region_words(entry.display, patterns)
    levels = list(vertebral_levels(texts))
    for text in texts:
        words = _region_words(text, patterns)
        if words or patterns.spine.search(text):
            spine = True
            regions |= words
    return spine or bool(levels), regions, levels


def _study_display(mri_codes: list[tuple[Any, Any, Any]], study: Any) -> str:
    if mri_codes:
        coding, orderable, concept = mri_codes[0]
        return _code_display(coding, concept, orderable.display)
    description = getattr(study, "description", None)
    if isinstance(description, str) and description.strip():
        return description.strip()
    return _FALLBACK_DISPLAY


def _code_display(coding: Any, concept: Any, known_as: str) -> str:
    """The coding's display, else the concept's words, else what the knowledge calls the
    code (never a bare code such as "72148")."""
    display = getattr(coding, "display", None)
    if isinstance(display, str) and display.strip():
        return display.strip()
    texts = concept_texts(concept)
    return texts[0] if texts else known_as


# DiagnosticReport ----------------------------------------------------------------------


def _report_evidence(report: Any, knowledge: Knowledge) -> Evidence | None:
    if getattr(report, "status", None) not in _REPORT_DONE:
        return None
    code = getattr(report, "code", None)
    display: str | None = None
    regions: set[SpineRegion] = set()
    spine = False
    for coding, orderable in orderables_in(code, knowledge.orderables):
        if orderable.study.modality is Modality.MRI:
            spine = True
            regions |= orderable.study.regions
            display = display or _code_display(coding, code, orderable.display)
    if not spine:
        for text in concept_texts(code):
            study = study_from_text(text, knowledge.text_patterns)
            if study is not None and study.modality is Modality.MRI and not study.whole_body:
                spine = True
                regions |= study.regions
                display = display or text
    if not spine:
        return None
    return Evidence(
        kind=FindingKind.SPINE_MRI,
        display=display or _FALLBACK_DISPLAY,
        date=_report_date(report),
        reference=reference_to("DiagnosticReport", report),
        regions=frozenset(regions),
        source=FindingSource.DIAGNOSTIC_REPORT,
    )


def _report_date(report: Any) -> str | None:
    return (
        fhir_date_text(getattr(report, "effectiveDateTime", None))
        or fhir_date_text(getattr(getattr(report, "effectivePeriod", None), "start", None))
        or fhir_date_text(getattr(report, "issued", None))
    )


# Words ---------------------------------------------------------------------------------


def _mri_words(text: Any, patterns: TextPatterns) -> frozenset[SpineRegion] | None:
    """The regions of a description that reads as a spine MRI ("MRI L-spine w/o"); a
    description naming only the part ("L-SPINE WO") is read as the MR study it describes.
    None when it is not a spine MRI (another body part, another modality, the whole body)."""
    if not isinstance(text, str) or not text.strip():
        return None
    study = study_from_text(text, patterns)
    if study is None and not any(p.search(text) for _, p in patterns.modality):
        study = study_from_text(f"MRI {text}", patterns)
    if study is None or study.modality is not Modality.MRI or study.whole_body:
        return None
    return study.regions


def _region_words(text: str, patterns: TextPatterns) -> set[SpineRegion]:
    return {region for region, pattern in patterns.regions if pattern.search(text)}


def _references(references: Any) -> set[str]:
    return {
        reference
        for item in references or ()
        if isinstance(reference := getattr(item, "reference", None), str)
    }
