"""Vertebral levels ("L2", "T12") as recorded in bodySite, and their neighbours.

Adjacent-level fractures are a known complication after vertebroplasty/kyphoplasty (seed
article, "Pitfalls"; knowledge pack §3 R2: risk highest one segment from the augmented
vertebra), so cards name the levels directly above and below each treated one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from cds_service.vocabulary import SpineRegion

_SEGMENT_COUNTS = (("C", 7), ("T", 12), ("L", 5), ("S", 5))
# Cranio-caudal order of the mobile spine and sacrum: C1 ... C7, T1 ... T12, L1 ... L5, S1 ... S5.
SPINE_LEVELS: tuple[str, ...] = tuple(
    f"{letter}{number}" for letter, count in _SEGMENT_COUNTS for number in range(1, count + 1)
)
_POSITION = {level: index for index, level in enumerate(SPINE_LEVELS)}

_REGION_OF_LETTER = {
    "C": SpineRegion.CERVICAL,
    "T": SpineRegion.THORACIC,
    "L": SpineRegion.LUMBAR,
    # The sacrum is imaged with the lumbar spine (CPT 22511 "lumbosacral", MRI lumbar).
    "S": SpineRegion.LUMBAR,
}

# "L2", "l2", "L 2", "L-2", "T12-L1", "L2 vertebra"; "Th12"/"D12" are European spellings.
_SHORT_LEVEL = re.compile(r"(?<![A-Za-z0-9])(C|Th|T|D|L|S)\s?-?\s?(\d{1,2})(?!\d)", re.IGNORECASE)
_ORDINALS = (
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
)
# SNOMED CT body structures read "Second lumbar vertebra", "Bone structure of twelfth thoracic
# vertebra".
_ORDINAL_LEVEL = re.compile(
    r"\b(" + "|".join(_ORDINALS) + r")\s+(cervical|thoracic|lumbar|sacral)\s+vertebra",
    re.IGNORECASE,
)
_LETTER_OF_WORD = {"cervical": "C", "thoracic": "T", "lumbar": "L", "sacral": "S"}


def vertebral_levels(texts: Iterable[str]) -> tuple[str, ...]:
    """Every vertebral level named in the texts, normalised ("l 2 vertebra" -> "L2")."""
    found: list[str] = []
    for text in texts:
        for level in _levels_in(text):
            if level not in found:
                found.append(level)
    return tuple(found)


def _levels_in(text: str) -> list[str]:
    candidates: list[tuple[int, str]] = []
    for match in _SHORT_LEVEL.finditer(text):
        letter = match.group(1).upper()
        letter = "T" if letter in ("TH", "D") else letter
        candidates.append((match.start(), f"{letter}{int(match.group(2))}"))
    for match in _ORDINAL_LEVEL.finditer(text):
        number = _ORDINALS.index(match.group(1).lower()) + 1
        candidates.append((match.start(), f"{_LETTER_OF_WORD[match.group(2).lower()]}{number}"))
    return [level for _, level in sorted(candidates) if level in _POSITION]


def adjacent_levels(treated: Iterable[str]) -> tuple[str, ...]:
    """The untreated levels directly above and below the treated ones, head to foot."""
    treated_set = {level for level in treated if level in _POSITION}
    neighbours: set[str] = set()
    for level in treated_set:
        index = _POSITION[level]
        for near in (index - 1, index + 1):
            if 0 <= near < len(SPINE_LEVELS) and SPINE_LEVELS[near] not in treated_set:
                neighbours.add(SPINE_LEVELS[near])
    return tuple(sorted(neighbours, key=_POSITION.__getitem__))


def regions_of_levels(levels: Iterable[str]) -> frozenset[SpineRegion]:
    """L -> lumbar, T -> thoracic, C -> cervical (S, the sacrum, is imaged as lumbar)."""
    return frozenset(_REGION_OF_LETTER[level[0]] for level in levels if level in _POSITION)
