"""Checks that span files or need the built objects (the schemas check one file each)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from cds_service.knowledge.errors import KnowledgeError
from cds_service.knowledge.labels import longest_study_label
from cds_service.knowledge.model import CardWording, Source, ValueSet

# Value sets the decision core asks for by id (Knowledge.value_sets keys).
REQUIRED_VALUE_SETS = (
    "prior_vcf",
    "vertebral_augmentation",
    "malignancy",
    "neurologic_deficit",
    "infection",
    "reason_region",
    "spine_body_site",  # decision/imaging_history.py
)
# Pitfall ids the decision core names (decision/suggestions.py), from the seed's "Pitfalls".
REQUIRED_PITFALLS = (
    "adjacent-level-fracture",
    "ct-cannot-date-fracture",
    "malignancy-red-flags-ct",
    "new-pain-not-old-fracture",
    "same-region-also-ordered",
    "deficit-level-unknown",
)
# CDS Hooks 2.0 Card.summary: "<140-character summary message".
SUMMARY_LIMIT = 140


def check_cited_sources(file: str, data: Any, register: Mapping[str, Source]) -> None:
    for path, source_id in _cited(data, ()):
        if source_id not in register:
            raise KnowledgeError(
                file,
                path,
                f"Unknown source {source_id!r}; add it to the register in manifest.yaml.",
            )


def _cited(data: Any, path: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    if isinstance(data, Mapping):
        for key, value in data.items():
            if key == "sources" and isinstance(value, list):
                for index, source_id in enumerate(value):
                    yield ".".join((*path, "sources", str(index))), str(source_id)
            else:
                yield from _cited(value, (*path, str(key)))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from _cited(item, (*path, str(index)))


def check_value_sets(folder: str, value_sets: Mapping[str, ValueSet]) -> None:
    missing = [name for name in REQUIRED_VALUE_SETS if name not in value_sets]
    if missing:
        raise KnowledgeError(folder, "", f"Missing value sets: {', '.join(missing)}.")


def check_pitfalls(file: str, wording: CardWording) -> None:
    missing = [name for name in REQUIRED_PITFALLS if name not in wording.pitfalls]
    if missing:
        raise KnowledgeError(file, "pitfalls", f"Missing entries for: {', '.join(missing)}.")


def check_summary_lengths(file: str, wording: CardWording) -> None:
    """Every summary, filled with the longest labels it can get, stays under 140 characters.

    Summaries are filled only with study and category labels from this file, never with text
    from the EHR, so the longest possible summary is known at start-up.
    """
    longest = {
        "ordered": longest_study_label(wording),
        "suggested": longest_study_label(wording),
        "category": max(wording.category_labels.values(), key=len),
    }
    summaries = {
        f"card_texts.{topic.value}.summary": text.summary.format(**longest)
        for topic, text in wording.card_texts.items()
    }
    # Counts of orders: a request body holds fewer than a million.
    summaries["orders_not_evaluated.summary"] = wording.orders_not_evaluated["summary"].format(
        evaluated="999999", not_evaluated="999999"
    )
    for field, rendered in summaries.items():
        if len(rendered) >= SUMMARY_LIMIT:
            raise KnowledgeError(
                file,
                field,
                f"{len(rendered)} characters with the longest labels (limit: under "
                f"{SUMMARY_LIMIT}): {rendered!r}",
            )
