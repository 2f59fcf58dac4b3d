"""The red flags that bear on one draft order, wherever the record or the order states them.

Red flags combine (issue 14 §2): a known or suspected cancer, a known or suspected spinal
infection and a new neurologic deficit each add a requirement to the advice; none hides
another. This module gathers them for one order:

- from the record (findings.py: problem list, encounter diagnoses, procedures, prior orders),
- from the order itself (its reasonCode, reasonReference, note and code text), and
- splits neurologic deficits into new ones (onset within `new_deficit_days` of the order,
  no date at all, or stated on the order: the safe side) and longstanding ones (paraplegia for
  decades is not the "new or worsening neurologic symptoms" of the seed article), and new ones
  into those in a region the order images and those elsewhere.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from cds_service.decision.model import ClassifiedOrder, Evidence, FindingSource, PatientFindings
from cds_service.decision.record import latest_day
from cds_service.vocabulary import FindingKind, Qualifier, SpineRegion

_ON_ORDER_SOURCES = frozenset(
    {FindingSource.ORDER_REASON, FindingSource.ORDER_NOTE, FindingSource.ORDER_TEXT}
)


@dataclass(frozen=True)
class RedFlags:
    """The red flags for one order, each as the evidence a card cites."""

    malignancy: tuple[Evidence, ...] = ()
    infection: tuple[Evidence, ...] = ()
    deficit_here: tuple[Evidence, ...] = ()  # new, in a region the order images (or unknown)
    deficit_elsewhere: tuple[Evidence, ...] = ()  # new, in a region the order does not image
    longstanding_deficit: tuple[Evidence, ...] = ()  # listed, not a red flag

    @property
    def contrast_acceptable(self) -> bool:
        """Cancer or infection, known or suspected: IV contrast is indicated, never warned
        against (ACR VCF V2 MRI w/wo 9; LBP V7 / Thoracic Back Pain V5 MRI w/wo 9; seed)."""
        return bool(self.malignancy or self.infection)

    @property
    def new_deficit(self) -> tuple[Evidence, ...]:
        return self.deficit_here + self.deficit_elsewhere

    @property
    def severe_deficit(self) -> bool:
        """Cauda equina syndrome or cord compression: an emergency (critical card)."""
        return any(evidence.severe for evidence in self.new_deficit)

    @property
    def any(self) -> bool:
        return bool(self.malignancy or self.infection or self.new_deficit)

    @property
    def deficit_regions_elsewhere(self) -> frozenset[SpineRegion]:
        return regions_of(self.deficit_elsewhere)

    @property
    def deficit_regions_here(self) -> frozenset[SpineRegion]:
        return regions_of(self.deficit_here)

    def evidence(self) -> tuple[Evidence, ...]:
        """Every flag, most urgent first: the card lists all of them."""
        return (
            self.deficit_here
            + self.deficit_elsewhere
            + self.infection
            + self.malignancy
            + self.longstanding_deficit
        )


def regions_of(evidence: Iterable[Evidence]) -> frozenset[SpineRegion]:
    """Every spine region the findings name."""
    return frozenset(region for finding in evidence for region in finding.regions)


def collect_red_flags(
    findings: PatientFindings,
    order: ClassifiedOrder,
    reference_day: dt.date,
    new_deficit_days: int,
) -> RedFlags:
    """The red flags of the record and of the order, for this order."""
    ordered_regions = _imaged_regions(order)
    new_here: list[Evidence] = []
    new_elsewhere: list[Evidence] = []
    longstanding: list[Evidence] = []
    for deficit in _with_order(findings.neurologic_deficit, order, FindingKind.NEUROLOGIC_DEFICIT):
        if not _is_new(deficit, reference_day, new_deficit_days):
            longstanding.append(_qualified(deficit, Qualifier.LONGSTANDING))
        elif deficit.regions and ordered_regions and not deficit.regions & ordered_regions:
            new_elsewhere.append(_qualified(deficit, Qualifier.NEW, Qualifier.OTHER_REGION))
        else:
            new_here.append(_qualified(deficit, Qualifier.NEW))
    return RedFlags(
        malignancy=_with_order(findings.malignancy, order, FindingKind.MALIGNANCY),
        infection=_with_order(findings.infection, order, FindingKind.INFECTION),
        deficit_here=tuple(new_here),
        deficit_elsewhere=tuple(new_elsewhere),
        longstanding_deficit=tuple(longstanding),
    )


def _imaged_regions(order: ClassifiedOrder) -> frozenset[SpineRegion]:
    """The spine regions the order images; empty for whole-body or region-less orders."""
    study = order.study
    if study is None or study.whole_body:
        return frozenset()
    return study.regions


def _with_order(
    recorded: Iterable[Evidence], order: ClassifiedOrder, kind: FindingKind
) -> tuple[Evidence, ...]:
    """The record's findings of one kind (marked when the order's reasonReference names
    them), then those written on the order itself."""
    found = [
        _qualified(evidence, Qualifier.ON_ORDER)
        if evidence.reference is not None and evidence.reference in order.reason_references
        else evidence
        for evidence in recorded
    ]
    found.extend(evidence for evidence in order.red_flags if evidence.kind is kind)
    return tuple(_qualified(e, _suspicion(e)) if e.suspected else e for e in found)


def _suspicion(evidence: Evidence) -> Qualifier:
    return Qualifier.RISK_FACTOR if evidence.risk_factor else Qualifier.SUSPECTED


def _is_new(deficit: Evidence, reference_day: dt.date, new_deficit_days: int) -> bool:
    if deficit.source in _ON_ORDER_SOURCES or Qualifier.ON_ORDER in deficit.qualifiers:
        return True
    onset = latest_day(deficit.date)
    if onset is None:
        return True  # no date: it may be new, so it is treated as new
    return (reference_day - onset).days <= new_deficit_days


def _qualified(evidence: Evidence, *qualifiers: Qualifier) -> Evidence:
    added = tuple(q for q in qualifiers if q not in evidence.qualifiers)
    if not added:
        return evidence
    return dataclasses.replace(evidence, qualifiers=evidence.qualifiers + added)
