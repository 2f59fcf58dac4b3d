"""Is there a recent spine MRI before vertebral augmentation? Pure date arithmetic, no clock.

The order's own authoredOn is "now": the look-back (knowledge.mri_lookback_days, 90 by
default) is counted in calendar days back from it. An order without a readable authoredOn,
or an MRI without a readable full date, gives "no recent MRI known": the card then asks for
one, which is the safe side (a missed MRI before augmentation is the harm, seed FAQ).
"""

from __future__ import annotations

from collections.abc import Iterable

from cds_service.decision.model import Evidence, SpineRegion
from cds_service.decision.record import calendar_day


def recent_spine_mri(
    spine_mri: Iterable[Evidence],
    authored_on: str | None,
    lookback_days: int,
    treated_regions: frozenset[SpineRegion],
) -> tuple[Evidence, ...]:
    """The spine MRIs from the look-back window that image the region to be treated.

    An MRI dated after the order still counts (the record is simply newer than the draft).
    An MRI of another region cannot show edema at the level to be treated; an MRI or a
    treatment of unknown region is given the benefit of the doubt.
    """
    order_day = calendar_day(authored_on)
    if order_day is None:
        return ()
    recent = []
    for mri in spine_mri:
        mri_day = calendar_day(mri.date)
        if mri_day is None or (order_day - mri_day).days > lookback_days:
            continue
        if mri.regions and treated_regions and not mri.regions & treated_regions:
            continue
        recent.append(mri)
    return tuple(recent)
