"""Red flags written on the draft order itself (issue 14 §1).

Clinicians put the reason for an imaging order where the EHR lets them: a coded reasonCode,
its text, a note ("r/o epidural abscess"), or the order's own code text ("CT L-spine for
cauda equina"). A reason coded in a red-flag value set counts as that finding; words count
through the text patterns of `cards/text-patterns.yaml`, suspected ones included ("?cord
compression" is a reason to choose MRI). A reasonReference names a Condition of the record:
the decision marks that finding as stated on the order (red_flags.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from cds_service.decision.model import Evidence, FindingSource
from cds_service.decision.record import concept_texts, concept_words, first_match
from cds_service.decision.text_flags import (
    TextFlag,
    concept_flags,
    red_flags_in_text,
    severe_deficit_words,
)
from cds_service.vocabulary import FindingKind

if TYPE_CHECKING:
    from cds_service.knowledge.model import Knowledge

# The value sets a coded reason is read with, and the finding each proves.
_REASON_VALUE_SETS = (
    (FindingKind.MALIGNANCY, "malignancy"),
    (FindingKind.NEUROLOGIC_DEFICIT, "neurologic_deficit"),
    (FindingKind.INFECTION, "infection"),
)


def order_red_flags(order: Any, knowledge: Knowledge) -> tuple[Evidence, ...]:
    """Every red flag the order states, once per kind and phrase."""
    found: list[Evidence] = []

    def free_text(text: str) -> tuple[TextFlag, ...]:
        return red_flags_in_text(text, knowledge.text_patterns)

    def concept_text(text: str) -> tuple[TextFlag, ...]:
        """The words of a coded concept (a reason, the order's own name): remembered."""
        return concept_flags(text, knowledge.text_patterns)

    for reason in getattr(order, "reasonCode", None) or ():
        coded = _coded_reason(reason, knowledge)
        found.extend(coded)
        found.extend(
            _worded(
                concept_texts(reason),
                FindingSource.ORDER_REASON,
                concept_text,
                {e.kind for e in coded},
            )
        )
    notes = [getattr(note, "text", None) for note in getattr(order, "note", None) or ()]
    found.extend(_worded(notes, FindingSource.ORDER_NOTE, free_text))
    code_text = getattr(getattr(order, "code", None), "text", None)
    found.extend(_worded([code_text], FindingSource.ORDER_TEXT, concept_text))
    return _unique(found)


def reason_references(order: Any) -> frozenset[str]:
    """The Conditions the order's reasonReference names, as "Condition/<id>" (a full URL or
    a versioned reference is cut to its type and id)."""
    references: set[str] = set()
    for reference in getattr(order, "reasonReference", None) or ():
        text = getattr(reference, "reference", None)
        if not isinstance(text, str):
            continue
        parts = text.split("/_history/")[0].rstrip("/").split("/")
        if len(parts) >= 2 and parts[-2] == "Condition" and parts[-1]:
            references.add(f"Condition/{parts[-1]}")
    return frozenset(references)


def _coded_reason(reason: Any, knowledge: Knowledge) -> list[Evidence]:
    found = []
    for kind, value_set_id in _REASON_VALUE_SETS:
        match = first_match(knowledge.value_sets.get(value_set_id), [reason])
        if match is None:
            continue
        coding, entry = match
        display = getattr(coding, "display", None) or concept_words(reason) or entry.display
        found.append(
            Evidence(
                kind=kind,
                display=display,
                date=None,
                reference=None,
                regions=frozenset({entry.region}) if entry.region else frozenset(),
                source=FindingSource.ORDER_REASON,
                severe=kind is FindingKind.NEUROLOGIC_DEFICIT
                and severe_deficit_words(concept_flags(display, knowledge.text_patterns)),
            )
        )
    return found


def _worded(
    texts: Iterable[Any],
    source: FindingSource,
    read: Callable[[str], tuple[TextFlag, ...]],
    coded: set[FindingKind] | None = None,
) -> list[Evidence]:
    """One finding per kind and text: "new saddle numbness, ?cauda equina" is one deficit."""
    found = []
    for text in texts:
        if not isinstance(text, str) or not text.strip():
            continue
        by_kind: dict[FindingKind, list[TextFlag]] = {}
        for flag in read(text):
            if not (coded and flag.kind in coded):
                by_kind.setdefault(flag.kind, []).append(flag)
        found.extend(_merged(kind, flags, source) for kind, flags in by_kind.items())
    return found


def _merged(kind: FindingKind, flags: list[TextFlag], source: FindingSource) -> Evidence:
    regions = frozenset(region for flag in flags for region in flag.regions)
    return Evidence(
        kind=kind,
        display="; ".join(flag.phrase for flag in flags),
        date=None,
        reference=None,
        regions=regions,
        source=source,
        suspected=all(flag.suspected for flag in flags),
        risk_factor=all(flag.risk_factor for flag in flags),
        severe=any(flag.severe for flag in flags),
    )


def _unique(found: list[Evidence]) -> tuple[Evidence, ...]:
    seen: set[tuple[FindingKind, str]] = set()
    unique = []
    for evidence in found:
        key = (evidence.kind, evidence.display.casefold())
        if key not in seen:
            seen.add(key)
            unique.append(evidence)
    return tuple(unique)
