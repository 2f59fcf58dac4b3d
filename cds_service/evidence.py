"""What the evidence pages show: one ACR variant, its procedure table, the ordered study.

Built from the knowledge alone, never from a hook call: a page's address names only the
variant, the ordered study (modality and contrast) and its region, each checked against the
knowledge's own vocabulary, so no patient data can reach a page (issue 16). The web layer
(`web/pages.py`) renders these objects with Jinja2 templates; cards link here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlencode

from cds_service.decision.model import Category, Contrast, Guidance, Modality, SpineRegion, Study
from cds_service.decision.suggestions import (
    ADJACENT_LEVEL_FRACTURE,
    CROSS_SECTIONAL,
    CT_CANNOT_DATE_FRACTURE,
    CT_STUDIES,
    DEFICIT_LEVEL_UNKNOWN,
    MALIGNANCY_RED_FLAGS_ON_CT,
    NEW_PAIN_NOT_OLD_FRACTURE,
    SAME_REGION_ALSO_ORDERED,
)
from cds_service.knowledge.labels import REGION_ORDER, contrasts_for, study_label
from cds_service.knowledge.model import Knowledge, Rating, Source, Variant

EVIDENCE_PATH = "/evidence"
WHOLE_BODY = "whole-body"
_ALL_REGIONS = frozenset(SpineRegion)
_TREATMENT_TOPICS = ("MriBeforeAugmentation", "AugmentationContraindicated")
_IV_CONTRAST = frozenset({Contrast.WITH, Contrast.WITHOUT_AND_WITH})
_REGIONS = {region.value: region for region in SpineRegion}
_T = TypeVar("_T")


class NoSuchPage(LookupError):
    """The address names no variant, or a study or region the knowledge does not know."""


def evidence_path(variant_id: str, study: Study | None) -> str:
    """The page's path and query: the variant, and the ordered study with its region(s)."""
    if study is None:
        return f"{EVIDENCE_PATH}/{variant_id}"
    query: list[tuple[str, str]] = [("modality", study.modality), ("contrast", study.contrast)]
    if study.whole_body:
        query.append(("region", WHOLE_BODY))
    query.extend(("region", region.value) for region in REGION_ORDER if region in study.regions)
    return f"{EVIDENCE_PATH}/{variant_id}?{urlencode(query)}"


def read_study(args: Mapping[str, list[str]]) -> Study | None:
    """The ordered study of a page's query (parameter -> values); NoSuchPage for anything
    else, so that nothing but the knowledge's own words ever reaches a page."""
    unknown = set(args) - {"modality", "contrast", "region"}
    if unknown:
        raise NoSuchPage("unknown parameter")
    if not args:
        return None
    modality = _one_of(args.get("modality"), {m.value: m for m in Modality})
    contrast = _one_of(args.get("contrast"), {c.value: c for c in contrasts_for(modality)})
    regions: set[SpineRegion] = set()
    whole_body = False
    for value in args.get("region", ()):
        if value == WHOLE_BODY:
            whole_body = True
        elif value in _REGIONS:
            regions.add(_REGIONS[value])
        else:
            raise NoSuchPage("unknown region")
    return Study(modality, contrast, frozenset(regions), whole_body)


def _one_of(values: list[str] | None, known: Mapping[str, _T]) -> _T:
    if not values or len(values) != 1 or values[0] not in known:
        raise NoSuchPage("unknown value")
    return known[values[0]]


@dataclass(frozen=True)
class Row:
    """One procedure of the variant's table, as the page shows it."""

    procedure: str
    category: Category
    category_label: str
    rating: str  # the median rating, or the "not confirmed" words
    rating_confirmed: bool
    radiation: str  # ACR's symbols, e.g. "☢☢☢"
    radiation_words: str  # "1 to 10 mSv"
    complete_spine: tuple[str, str] | None  # (symbols, words) where the whole spine differs
    ordered: bool
    preferred: bool


@dataclass(frozen=True)
class Page:
    variant: Variant
    title: str
    rows: tuple[Row, ...]
    ordered: str  # the sentence about the order ("" without one)
    ordered_row: bool  # the order has a row (highlighted)
    study_note: str
    pitfalls: tuple[str, ...]
    sources: tuple[Source, ...]
    treatment_sources: tuple[Source, ...]
    radiation_legend: tuple[tuple[str, str], ...]  # (symbols, plain words) of levels shown
    texts: Mapping[str, str]
    version: str


def variants_by_id(knowledge: Knowledge) -> dict[str, Variant]:
    return {variant.id: variant for variant in knowledge.variants.values()}


def variant_page(knowledge: Knowledge, variant_id: str, study: Study | None) -> Page:
    variant = variants_by_id(knowledge).get(variant_id)
    if variant is None:
        raise NoSuchPage("unknown variant")
    wording = knowledge.wording
    texts = wording.evidence_page
    rated = variant.rate(study.modality, study.contrast) if study is not None else None
    first = _suggested_first(variant, study)
    rows = tuple(_row(knowledge, rating, rating is rated, first) for rating in variant.ratings)
    fields = {
        "acr_topic": variant.acr_topic,
        "variant": variant.title,
        "version": knowledge.version,
        "ordered": study_label(study, wording) if study is not None else "",
        "category": wording.category_labels[rated.category] if rated is not None else "",
    }
    if study is None:
        ordered = texts["no_order"]
    elif study.modality is Modality.VERTEBRAL_AUGMENTATION:
        ordered = texts["ordered_augmentation"].format(**fields)
    else:
        ordered = texts["ordered_rated" if rated else "ordered_not_rated"].format(**fields)
    note = _study_note(knowledge, study, rated)
    shown_levels = {row.radiation for row in rows} | {
        row.complete_spine[0] for row in rows if row.complete_spine
    }
    legend = tuple(
        (_symbols(level), words)
        for level, words in texts["radiation_levels"].items()
        if _symbols(level) in shown_levels
    )
    return Page(
        variant=variant,
        title=texts["title"].format(**fields),
        rows=rows,
        ordered=ordered,
        ordered_row=rated is not None,
        study_note=note,
        pitfalls=tuple(
            wording.general_pitfalls[name] for name in page_pitfalls(knowledge, variant, study)
        ),
        sources=_sources(knowledge, variant),
        treatment_sources=_treatment_sources(knowledge, study),
        radiation_legend=legend,
        texts=texts,
        version=knowledge.version,
    )


def _study_note(knowledge: Knowledge, study: Study | None, rated: Rating | None) -> str:
    """Why the ordered study is not the best one: contrast that does not help, or what the
    modality misses (the notes of better-initial-study cards); the CT note is about the
    whole spine."""
    if study is None or (rated is not None and rated.category is Category.USUALLY_APPROPRIATE):
        return ""
    if study.contrast in _IV_CONTRAST:
        return knowledge.wording.evidence_page["contrast_note"]
    if study.modality is Modality.CT and study.regions != _ALL_REGIONS:
        return ""
    return knowledge.wording.study_notes.get(study.modality, "")


def page_pitfalls(knowledge: Knowledge, variant: Variant, study: Study | None) -> list[str]:
    """The seed's pitfalls that can apply to this order whoever the patient is, in the
    knowledge's order of importance (the rules of decision/suggestions.py `pitfalls_for`,
    less what only the patient's record tells)."""
    applies = {ADJACENT_LEVEL_FRACTURE}  # after any augmentation on record
    if study is None or study.modality in CROSS_SECTIONAL:
        applies.add(SAME_REGION_ALSO_ORDERED)  # when another CT or MRI is signed with it
    if variant.guidance is Guidance.NEUROLOGIC_DEFICIT and (
        study is None or study.regions == {SpineRegion.LUMBAR}
    ):
        applies.add(DEFICIT_LEVEL_UNKNOWN)  # when the record does not give the deficit's level
    suggests_ct = any(modality in CT_STUDIES for modality, _ in variant.preferred)
    if suggests_ct or (study is not None and study.modality in CT_STUDIES):
        applies |= {CT_CANNOT_DATE_FRACTURE, MALIGNANCY_RED_FLAGS_ON_CT}
    if variant.guidance is Guidance.PRIOR_VCF:
        rated = variant.rate(study.modality, study.contrast) if study is not None else None
        if study is None or rated is None or rated.category is not Category.USUALLY_APPROPRIATE:
            applies.add(NEW_PAIN_NOT_OLD_FRACTURE)
    return [name for name in knowledge.wording.general_pitfalls if name in applies]


def _suggested_first(variant: Variant, study: Study | None) -> tuple[Modality, Contrast] | None:
    """The study the page marks "Suggested first": the variant's preferred initial study;
    before an augmentation, the MRI the card asks for (CT cannot date the fracture)."""
    if study is not None and study.modality is Modality.VERTEBRAL_AUGMENTATION:
        return (Modality.MRI, Contrast.WITHOUT)
    return variant.preferred[0] if variant.preferred else None


def _row(
    knowledge: Knowledge,
    rating: Rating,
    ordered: bool,
    first: tuple[Modality, Contrast] | None,
) -> Row:
    wording = knowledge.wording
    levels = wording.evidence_page["radiation_levels"]
    complete = rating.radiation_level_complete_spine
    return Row(
        procedure=rating.procedure,
        category=rating.category,
        category_label=wording.category_labels[rating.category],
        rating=str(rating.rating)
        if rating.rating is not None
        else wording.evidence_page["rating_unconfirmed"],
        rating_confirmed=rating.rating is not None,
        radiation=_symbols(rating.radiation_level),
        radiation_words=levels[rating.radiation_level],
        complete_spine=(_symbols(complete), levels[complete]) if complete else None,
        ordered=ordered,
        preferred=(rating.modality, rating.contrast) == first,
    )


def _symbols(level: str) -> str:
    """ACR's symbols of a printed level: "☢☢☢ 1-10 mSv" -> "☢☢☢"; "O 0 mSv" -> "O"."""
    return level.split(" ", 1)[0]


def _sources(knowledge: Knowledge, variant: Variant) -> tuple[Source, ...]:
    ids = list(variant.sources)
    for rating in variant.ratings:
        ids.extend(source for source in rating.sources if source not in ids)
    return tuple(knowledge.sources[source] for source in ids)


def _treatment_sources(knowledge: Knowledge, study: Study | None) -> tuple[Source, ...]:
    """An augmentation order's advice rests on its cards' own sources (not an ACR table)."""
    if study is None or study.modality is not Modality.VERTEBRAL_AUGMENTATION:
        return ()
    ids: list[str] = []
    for topic, text in knowledge.wording.card_texts.items():
        if topic.value in _TREATMENT_TOPICS:
            ids.extend(source for source in text.sources if source not in ids)
    return tuple(knowledge.sources[source] for source in ids)
