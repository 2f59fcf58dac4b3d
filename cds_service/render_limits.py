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
from cds_service.record_text import markdown_record_text
from cds_service.vocabulary import INDICATOR_LEVEL, RED_FLAG_KINDS, Indicator

# source.topic.code of the card about orders not evaluated (letters and digits, as every
# topic code; DESIGN.md). Not a vocabulary Topic: no decision ever has it.
ORDERS_NOT_EVALUATED = "OrdersNotEvaluated"
NAMED_ORDERS = 10  # orders left out that the card names; then "and N more"


@dataclass(frozen=True)
class LeftOut:
    """How many imaging orders of one call were evaluated, and how many draft orders after
    them were not (imaging or not: they were never classified), with the names the EHR gave
    the first NAMED_ORDERS of them."""

    evaluated: int
    not_evaluated: int
    names: tuple[str, ...] = ()


def listed_evidence(evidence: Sequence[Evidence], limit: int) -> tuple[tuple[Evidence, ...], int]:
    """The facts a card lists, in the record's order, and how many it leaves out.

    At most `limit`: first the first fact of each kind (prior VCF, cancer, deficit...), then
    the first of each distinct statement (a severe or a new deficit beside a longstanding
    one), then the rest in order; so whatever drove the card is named even when the record
    holds thousands of entries of one kind. When some are left out, the red flags (cancer,
    deficit, infection) come first, so they are not read as the tail of a long list.
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
    ordered = sorted(chosen, key=lambda index: (evidence[index].kind not in RED_FLAG_KINDS, index))
    shown = tuple(evidence[index] for index in ordered)
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
    wording: CardWording,
    uuid: str,
    topic_system: str,
    left_out: LeftOut,
    other_indicators: Sequence[str] = (),
) -> Card:
    """The card naming the orders of the call that got no advice and no rating."""
    counts = {"evaluated": str(left_out.evaluated), "not_evaluated": str(left_out.not_evaluated)}
    text = wording.orders_not_evaluated
    return Card(
        uuid=uuid,
        summary=text["summary"].format(**counts),
        detail=text["detail"].format(**counts, orders=_named_orders(left_out)),
        # At least a warning, not info: a site showing only warnings and above
        # (`min_indicator`) still sees it; critical when another card of the call is, so that
        # an EHR sorting by severity does not list it below them.
        indicator=max(
            (Indicator.WARNING, *map(Indicator, other_indicators)), key=INDICATOR_LEVEL.__getitem__
        ),
        source=Source(
            label=wording.source_label,
            topic=Coding(topic_system, ORDERS_NOT_EVALUATED, topic_label(ORDERS_NOT_EVALUATED)),
        ),
    )


def _named_orders(left_out: LeftOut) -> str:
    named = [f"**{markdown_record_text(name)}**" for name in left_out.names]
    more = left_out.not_evaluated - len(named)
    if more > 0:
        named.append(f"and {more} more")
    return "; ".join(named)
