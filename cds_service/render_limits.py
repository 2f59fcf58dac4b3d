"""What keeps an answer bounded however large the record or the call (issue 19 §4).

A card lists at most `card_evidence` facts from the record (cards/card-texts.yaml) and says how
many more there are; a call evaluates at most CDS_MAX_DRAFT_ORDERS imaging orders, and one card
says how many it did not. Never a silent cut: a card that looks complete while the record or the
call held more is worse than no card.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from cds_service.cdshooks.response import Card, Coding, Source
from cds_service.decision.model import Evidence
from cds_service.knowledge.labels import topic_label
from cds_service.knowledge.model import CardWording

# source.topic.code of the card about orders not evaluated (letters and digits, as every
# topic code; DESIGN.md). Not a vocabulary Topic: no decision ever has it.
ORDERS_NOT_EVALUATED = "OrdersNotEvaluated"
# A warning, not info: a site showing only warnings and above (`min_indicator`) must still
# see that part of the orders got no advice.
ORDERS_NOT_EVALUATED_INDICATOR = "warning"


@dataclass(frozen=True)
class LeftOut:
    """How many imaging orders of one call were evaluated, and how many draft orders after
    them were not (imaging or not: they were never read)."""

    evaluated: int
    not_evaluated: int


def listed_evidence(evidence: Sequence[Evidence], limit: int) -> tuple[tuple[Evidence, ...], int]:
    """The facts a card lists, in the record's order, and how many it leaves out.

    At most `limit`: first the first fact of each kind (prior VCF, cancer, deficit...), then
    the first of each distinct statement (a severe or a new deficit beside a longstanding
    one), then the rest in order; so whatever drove the card is named even when the record
    holds thousands of entries of one kind.
    """
    if len(evidence) <= limit:
        return tuple(evidence), 0
    chosen: set[int] = set()
    _choose_first_of_each(evidence, lambda fact: fact.kind, chosen, limit)
    _choose_first_of_each(evidence, _statement, chosen, limit)
    for index in range(len(evidence)):
        if len(chosen) >= limit:
            break
        chosen.add(index)
    shown = tuple(evidence[index] for index in sorted(chosen))
    return shown, len(evidence) - len(shown)


def _statement(fact: Evidence) -> Hashable:
    """What a card's line says of a fact, beyond its wording."""
    return (fact.kind, fact.severe, fact.suspected, fact.risk_factor, fact.qualifiers)


def _choose_first_of_each(
    evidence: Sequence[Evidence],
    statement: Callable[[Evidence], Hashable],
    chosen: set[int],
    limit: int,
) -> None:
    seen = {statement(evidence[index]) for index in chosen}
    for index, fact in enumerate(evidence):
        if len(chosen) >= limit:
            return
        key = statement(fact)
        if key not in seen:
            seen.add(key)
            chosen.add(index)


def orders_not_evaluated_card(
    wording: CardWording, uuid: str, topic_system: str, left_out: LeftOut
) -> Card:
    """The card saying how many imaging orders of the call got no advice and no rating."""
    counts = {"evaluated": str(left_out.evaluated), "not_evaluated": str(left_out.not_evaluated)}
    text = wording.orders_not_evaluated
    return Card(
        uuid=uuid,
        summary=text["summary"].format(**counts),
        detail=text["detail"].format(**counts),
        indicator=ORDERS_NOT_EVALUATED_INDICATOR,
        source=Source(
            label=wording.source_label,
            topic=Coding(topic_system, ORDERS_NOT_EVALUATED, topic_label(ORDERS_NOT_EVALUATED)),
        ),
    )
