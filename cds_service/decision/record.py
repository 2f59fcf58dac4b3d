"""Lenient reading of R4B resources for the decision core.

The decision never raises on odd input (issue 3 §6): a missing code, empty codings or a date it
cannot read make a resource unclassified or ignored, never an exception. Every accessor here
therefore tolerates absent elements and returns plain strings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from cds_service.knowledge.model import CodeEntry, OrderableCode, ValueSet


def codings(concept: Any) -> tuple[Any, ...]:
    """The codings of a CodeableConcept (empty when there is none)."""
    found = _member(concept, "coding")
    return tuple(c for c in (found if isinstance(found, (list, tuple)) else ()) if c is not None)


def concept_texts(concept: Any) -> tuple[str, ...]:
    """Human words of a CodeableConcept: its text first, then every coding display."""
    texts = [_member(concept, "text")]
    texts.extend(_member(coding, "display") for coding in codings(concept))
    return tuple(t.strip() for t in texts if isinstance(t, str) and t.strip())


def concept_words(concept: Any) -> str:
    """What the record calls the concept: text, else first display, else first code."""
    texts = concept_texts(concept)
    if texts:
        return texts[0]
    for coding in codings(concept):
        code = _member(coding, "code")
        if isinstance(code, str) and code.strip():
            return code.strip()
    return ""


def _member(element: Any, name: str) -> Any:
    """An element's member, from an R4B model or from the raw JSON of one (the draft orders
    past CDS_MAX_DRAFT_ORDERS are never parsed, only named)."""
    if isinstance(element, dict):
        return element.get(name)
    return getattr(element, name, None)


def status_code(concept: Any) -> str | None:
    """The first code of a status CodeableConcept (clinicalStatus, verificationStatus)."""
    for coding in codings(concept):
        code = getattr(coding, "code", None)
        if isinstance(code, str):
            return code
    return None


def first_match(
    value_set: ValueSet | None, concepts: Iterable[Any]
) -> tuple[Any, CodeEntry] | None:
    """The first coding (with its value-set entry) of any concept that falls in the value set."""
    return next(_matches(value_set, concepts), None)


def _matches(
    value_set: ValueSet | None, concepts: Iterable[Any]
) -> Iterator[tuple[Any, CodeEntry]]:
    if value_set is None:
        return
    for concept in concepts:
        for coding in codings(concept):
            system, code = getattr(coding, "system", None), getattr(coding, "code", None)
            if not isinstance(system, str) or not isinstance(code, str):
                continue
            entry = value_set.match(system, code.strip())
            if entry is not None:
                yield coding, entry


def orderables_in(
    concept: Any, orderables: Mapping[tuple[str, str], OrderableCode]
) -> Iterator[tuple[Any, OrderableCode]]:
    """Each coding of the concept that names a known study or procedure, with what it names."""
    for coding in codings(concept):
        system, code = getattr(coding, "system", None), getattr(coding, "code", None)
        if isinstance(system, str) and isinstance(code, str):
            orderable = orderables.get((system, code.strip()))
            if orderable is not None:
                yield coding, orderable


def fhir_date_text(value: Any) -> str | None:
    """A FHIR date/dateTime as recorded (fhir.resources parses full dates into objects)."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def calendar_day(text: str | None) -> dt.date | None:
    """The calendar day a FHIR date/dateTime names; None for partial or unreadable dates.

    The local date as recorded is used (no time-zone shift): the look-back is counted in days.
    """
    if not text or len(text) < 10:
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


def latest_day(text: str | None) -> dt.date | None:
    """The last calendar day a FHIR date/dateTime can mean: "1994" -> 1994-12-31,
    "2026-03" -> 2026-03-31. For "how long ago at least" questions (is a deficit new?),
    where reading a partial date as its first day would make an old finding look older."""
    day = calendar_day(text)
    if day is not None or not text:
        return day
    try:
        if len(text) >= 7 and text[4] == "-":
            year, month = int(text[:4]), int(text[5:7])
            following = dt.date(year + month // 12, month % 12 + 1, 1)
            return following - dt.timedelta(days=1)
        if len(text) >= 4 and text[:4].isdigit():
            return dt.date(int(text[:4]), 12, 31)
    except ValueError:
        return None
    return None


def reference_to(resource_type: str, resource: Any) -> str | None:
    resource_id = getattr(resource, "id", None)
    if isinstance(resource_id, str) and resource_id:
        return f"{resource_type}/{resource_id}"
    return None
