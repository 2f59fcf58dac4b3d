"""Is there a recent spine MRI before vertebral augmentation? Pure date arithmetic, no clock.

The look-back (knowledge.mri_lookback_days, 90 by default) is counted in calendar days back
from the reference day: the order's authoredOn, or the day of the hook call when the draft
has none (the caller decides; guidance.decide). An MRI without a readable full date does not
count as recent: the card then asks for one, which is the safe side (a missed MRI before
augmentation is the harm, seed FAQ); the card still lists it, saying why it did not count.
"""

from __future__ import annotations

import datetime as dt

from cds_service.decision.model import Evidence
from cds_service.decision.record import calendar_day
from cds_service.vocabulary import Qualifier, SpineRegion


def why_not_recent(
    mri: Evidence,
    reference_day: dt.date,
    lookback_days: int,
    treated_regions: frozenset[SpineRegion],
) -> Qualifier | None:
    """None when the spine MRI is in the look-back window and images the region to be
    treated; else what the card says of it (too old, undated, another region).

    An MRI dated after the reference day still counts (the record is newer than the draft).
    An MRI of another region cannot show edema at the level to be treated; an MRI or a
    treatment of unknown region is given the benefit of the doubt.
    """
    mri_day = calendar_day(mri.date)
    if mri_day is None:
        return Qualifier.UNDATED
    if (reference_day - mri_day).days > lookback_days:
        return Qualifier.NOT_RECENT
    if mri.regions and treated_regions and not mri.regions & treated_regions:
        return Qualifier.NOT_TREATED_REGION
    return None
