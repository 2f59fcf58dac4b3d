"""Frozen, validated knowledge as the rest of the service uses it.

`knowledge/loader.py` builds one `Knowledge` from the files in `cards/` at start-up;
nothing changes it afterwards (it is shared by every request).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cds_service.vocabulary import (
    Category,
    Contrast,
    FindingKind,
    Guidance,
    Modality,
    Qualifier,
    SpineRegion,
    Study,
    Topic,
)


@dataclass(frozen=True)
class Source:
    """An entry of the source register (S1, S2... of the knowledge pack)."""

    id: str
    title: str
    url: str | None = None


@dataclass(frozen=True)
class CodeEntry:
    """One member of a value set: an exact code, a code family by prefix, or a range.

    A range (`code_range`, from and to inclusive) takes every code whose first characters, as
    many as the endpoints have, fall between them: ("C00", "C96") takes C79.51 and C7A.010.
    """

    system: str
    display: str
    code: str | None = None
    prefix: str | None = None
    region: SpineRegion | None = None  # the spine region the code itself names
    code_range: tuple[str, str] | None = None
    # Where the entry comes from, for the FHIR ValueSet (terminology.py): the source ids of
    # its group, and the vendored expansion it was taken from, if any.
    sources: tuple[str, ...] = field(default=(), compare=False)
    expansion: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Exclusion:
    """A code, or a code family by prefix, that never matches its value set."""

    system: str
    display: str
    reason: str
    code: str | None = None
    prefix: str | None = None


@dataclass(frozen=True)
class ValueSet:
    id: str
    title: str
    sources: tuple[str, ...]
    entries: tuple[CodeEntry, ...]
    excluded: tuple[Exclusion, ...] = ()
    _exact: dict[tuple[str, str], CodeEntry] = field(
        init=False, repr=False, compare=False, hash=False
    )
    _prefixes: dict[str, tuple[CodeEntry, ...]] = field(
        init=False, repr=False, compare=False, hash=False
    )
    _ranges: dict[str, tuple[CodeEntry, ...]] = field(
        init=False, repr=False, compare=False, hash=False
    )
    _excluded_codes: frozenset[tuple[str, str]] = field(
        init=False, repr=False, compare=False, hash=False
    )
    _excluded_prefixes: dict[str, tuple[str, ...]] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        excluded_codes = frozenset((e.system, e.code) for e in self.excluded if e.code is not None)
        excluded_prefixes: dict[str, list[str]] = {}
        for exclusion in self.excluded:
            if exclusion.prefix is not None:
                excluded_prefixes.setdefault(exclusion.system, []).append(exclusion.prefix)
        object.__setattr__(self, "_excluded_codes", excluded_codes)
        object.__setattr__(
            self,
            "_excluded_prefixes",
            {system: tuple(prefixes) for system, prefixes in excluded_prefixes.items()},
        )
        # An exclusion wins over every entry: an excluded code never reaches the exact table.
        exact = {
            (e.system, e.code): e
            for e in self.entries
            if e.code is not None and not self.is_excluded(e.system, e.code)
        }
        prefixes: dict[str, list[CodeEntry]] = {}
        ranges: dict[str, list[CodeEntry]] = {}
        for entry in self.entries:
            if entry.prefix is not None:
                prefixes.setdefault(entry.system, []).append(entry)
            elif entry.code_range is not None:
                ranges.setdefault(entry.system, []).append(entry)
        object.__setattr__(self, "_exact", exact)
        object.__setattr__(
            self,
            "_prefixes",
            {
                system: tuple(sorted(entries, key=lambda e: -len(e.prefix or "")))
                for system, entries in prefixes.items()
            },
        )
        object.__setattr__(
            self, "_ranges", {system: tuple(entries) for system, entries in ranges.items()}
        )

    def match(self, system: str | None, code: str | None) -> CodeEntry | None:
        """The entry a coding falls under: exact code, then longest prefix, then range; None
        when outside or excluded."""
        if not system or not code:
            return None
        code = _dotted_icd10(system, code)
        entry = self._exact.get((system, code))
        if entry is not None:
            return entry
        if self.is_excluded(system, code):
            return None
        for candidate in self._prefixes.get(system, ()):
            if code.startswith(candidate.prefix or ""):
                return candidate
        for candidate in self._ranges.get(system, ()):
            low, high = candidate.code_range or ("", "")
            if len(code) >= len(low) and low <= code[: len(low)] and code[: len(high)] <= high:
                return candidate
        return None

    def is_excluded(self, system: str, code: str) -> bool:
        """Whether an exclusion of this value set covers the (dotted) code."""
        if (system, code) in self._excluded_codes:
            return True
        prefixes = self._excluded_prefixes.get(system)
        return prefixes is not None and code.startswith(prefixes)


# The code systems the knowledge uses (knowledge pack §2, FHIR system URIs).
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
CPT = "http://www.ama-assn.org/go/cpt"
LOINC = "http://loinc.org"
ICD10PCS = "http://www.cms.gov/Medicare/Coding/ICD10"  # as VSAC names ICD-10-PCS
KNOWN_SYSTEMS = (ICD10CM, SNOMED, CPT, LOINC, ICD10PCS)


def _dotted_icd10(system: str, code: str) -> str:
    """ICD-10-CM as some EHRs send it, without the dot ("M4856XA"), in its dotted form."""
    if system == ICD10CM and "." not in code and len(code) > 3:
        return f"{code[:3]}.{code[3:]}"
    return code


@dataclass(frozen=True)
class OrderableCode:
    """A code (CPT, LOINC, SNOMED CT) that names one imaging study or procedure."""

    system: str
    code: str
    display: str
    study: Study


@dataclass(frozen=True)
class ImagingOrders:
    """What makes a draft order an imaging order besides a recognised spine study
    (cards/imaging-orders.yaml)."""

    cpt_ranges: tuple[tuple[int, int], ...]  # inclusive, CPT Category I codes as numbers
    categories: frozenset[tuple[str, str]]  # (system, code) of ServiceRequest.category
    words: re.Pattern[str]  # names of imaging in an order's words (`words`, `abbreviations`)

    def has_imaging_cpt(self, system: str, code: str) -> bool:
        if system != CPT or len(code) != 5 or not code.isdigit():
            return False
        number = int(code)
        return any(first <= number <= last for first, last in self.cpt_ranges)


@dataclass(frozen=True)
class TextPatterns:
    """Regular expressions that classify orders carrying only local codes or text."""

    modality: tuple[tuple[Modality, re.Pattern[str]], ...]  # first match wins
    regions: tuple[tuple[SpineRegion, re.Pattern[str]], ...]  # every match counts
    whole_body: re.Pattern[str]
    contrast: tuple[tuple[Contrast, re.Pattern[str]], ...]  # first match wins
    non_spine: re.Pattern[str]  # a study of another body part (e.g. "hip", "chest")
    spine: re.Pattern[str]  # words that put a region-less CT/MRI/radiograph on the spine
    reason_regions: tuple[tuple[SpineRegion, re.Pattern[str]], ...]  # in an order's reason
    prior_vcf_words: re.Pattern[str]  # a prior vertebral fracture named in words
    # Red flags written in words (decision/text_flags.py; issue 14).
    red_flags: tuple[RedFlagPattern, ...]  # every match counts
    not_red_flags: tuple[tuple[FindingKind, re.Pattern[str]], ...]  # look-alikes, per kind
    negation: re.Pattern[str]  # cues before the words: the red flag is absent
    suspicion: re.Pattern[str]  # cues before the words: the red flag is suspected
    affirmation: re.Pattern[str]  # cues before the words: stated ("known", "hx")
    negation_after: re.Pattern[str]  # right after the words ("ruled out", "intact")
    suspicion_after: re.Pattern[str]  # right after the words ("?", "vs", "suspected")
    cue_window: int  # how many words before the red flag a cue reaches
    # The pre-check, searched in the case-folded text: it matches every text any red-flag
    # pattern can match (knowledge/regex_screen.py), so most texts cost one search.
    red_flag_screen: re.Pattern[str]
    # What the words of coded concepts (a diagnosis display, a Condition's code text) were read
    # as: a small vocabulary that repeats across records. A memo of a pure reading, bounded
    # (decision/text_flags.py concept_flags), not state of any call.
    concept_words_read: dict[str, Any] = field(
        default_factory=dict, init=False, compare=False, hash=False, repr=False
    )


@dataclass(frozen=True)
class RedFlagPattern:
    """Words that name a red flag in free text (cards/text-patterns.yaml `red_flags`)."""

    kind: FindingKind  # MALIGNANCY, NEUROLOGIC_DEFICIT or INFECTION
    pattern: re.Pattern[str]
    severe: bool = False  # a neurologic emergency: cauda equina, cord compression, conus
    suspected: bool = False  # the words raise a suspicion only (fever, IV drug use, "tumour")
    # Case-folded words one of which every match contains (knowledge/regex_screen.py): a
    # pattern none of whose words is in the text is not searched. Empty: always searched.
    words: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rating:
    """One procedure row of an ACR variant."""

    procedure: str  # ACR's wording, e.g. "CT spine area of interest without IV contrast"
    modality: Modality
    contrast: Contrast
    category: Category
    radiation_level: str  # ACR RRL as printed, e.g. "☢☢☢ 1-10 mSv" or "O 0 mSv"
    sources: tuple[str, ...]
    rating: int | None = None  # ACR median 1-9, None where UNCONFIRMED
    radiation_level_complete_spine: str | None = None


@dataclass(frozen=True)
class Variant:
    """The ACR guidance applied for one `Guidance` (one ACR variant or topic)."""

    id: str
    guidance: Guidance
    title: str  # the variant's wording, as precisely as the sources allow
    wording_confirmed: bool
    acr_topic: str  # e.g. "Management of Vertebral Compression Fractures"
    url: str  # absolute link to the ACR topic
    sources: tuple[str, ...]
    ratings: tuple[Rating, ...]
    preferred: tuple[tuple[Modality, Contrast], ...]  # suggestion order, first recommended

    def rate(self, modality: Modality, contrast: Contrast) -> Rating | None:
        for rating in self.ratings:
            if rating.modality == modality and rating.contrast == contrast:
                return rating
        return None


@dataclass(frozen=True)
class OverrideReason:
    code: str
    display: str


@dataclass(frozen=True)
class CardText:
    """Wording of one card topic. Templates use str.format with named fields."""

    topic: Topic
    summary: str  # fields: ordered, suggested, category
    detail: str  # fields: ordered, suggested, category, rating, radiation, variant, acr_topic
    override_reasons: tuple[OverrideReason, ...]
    sources: tuple[str, ...] = ()  # source register ids the topic's text rests on


@dataclass(frozen=True)
class CardWording:
    card_texts: dict[Topic, CardText]
    pitfalls: dict[str, str]  # id -> markdown; fields: treated_levels, adjacent_levels
    evidence_labels: dict[str, str]  # FindingKind value -> label ("Prior VCF")
    qualifier_labels: dict[Qualifier, str]  # "suspected", "not new"...
    requirements: dict[str, str]  # requirement id -> markdown; field: deficit_regions
    adjacent_coverage: dict[str, str]  # "covered"/"uncovered"; field: uncovered_levels
    study_notes: dict[Modality, str]  # why a study is not the best first one (some modalities)
    headings: dict[str, str]  # "why", "pitfalls", "sources", "no_region", "more"
    source_label: str  # card.source.label
    category_labels: dict[Category, str]  # "Usually Appropriate"...
    modality_labels: dict[Modality, str]
    region_labels: dict[SpineRegion, str]
    contrast_labels: dict[Contrast, str]
    # Pitfall id -> the evidence page's wording (no patient fields), in order of importance.
    general_pitfalls: dict[str, str] = field(default_factory=dict)
    card_pitfalls: int = 2  # most pitfalls a card shows, the most important first
    card_evidence: int = 10  # most evidence lines a card shows, one of each kind among them
    more_evidence: str = ""  # the line after them when the record holds more; field: count
    # "summary" and "detail" of the card of a call with too many imaging orders to evaluate;
    # fields: evaluated, not_evaluated.
    orders_not_evaluated: dict[str, str] = field(default_factory=dict)
    link_label: str = ""  # card.links[0].label: the evidence page
    evidence_page: dict[str, Any] = field(default_factory=dict)  # texts of web/evidence.py


@dataclass(frozen=True)
class Knowledge:
    version: str
    system_base: str  # the project's own URI base for topics and extensions
    sources: dict[str, Source]
    value_sets: dict[str, ValueSet]
    orderables: dict[tuple[str, str], OrderableCode]
    imaging_orders: ImagingOrders
    text_patterns: TextPatterns
    variants: dict[Guidance, Variant]
    wording: CardWording
    mri_lookback_days: int = 90
    new_deficit_days: int = 90
