"""Red flags written in words: "CT L-spine for cauda equina", "MRI T-spine w/wo r/o epidural
abscess", "hx breast ca", "denies bowel/bladder" (issue 14 §1, §3).

Real orders carry their reason in words (reasonCode text and displays, notes, the order's own
code text), and a Condition whose code the service does not know may still name a red flag in
its display. `red_flags_in_text` reads one such text with the patterns of
cards/text-patterns.yaml (`red_flags`, `not_red_flags` and the cues); the file documents the
clinical rules and their sources. The procedure, deliberately simple (no NLP engine):

1. One search of the pre-check (`TextPatterns.red_flag_screen`, the fixed words of every
   red-flag pattern in one prefix tree, knowledge/regex_screen.py): a text it does not match
   (most problem-list displays) costs nothing more.
2. The text is cut into sentences (at ; . newline, and the words "but", "however", "although",
   "though") and each sentence into clauses (at , and :). Every red-flag pattern is matched in
   every clause; a match overlapping a `not_red_flags` match of its kind in that clause is
   dropped ("basal cell carcinoma", "cancer screening").
3. How the words are meant comes from the cues of the same clause that reach into the
   `cue_window` words before them, the nearest cue winning (a cue lying inside a longer cue
   does not count): a negation drops the red flag, a suspicion makes it suspected, an
   affirmation ("known", "hx") makes it stated. Right after the words, `negation_after` drops
   it and `suspicion_after` makes it suspected. A clause with no cue of its own and at most
   `cue_window` words continues the negation of the clause before it in the sentence (a list:
   "denies fever, saddle anaesthesia, bowel/bladder incontinence").
4. The red flags of one kind in one clause make one `TextFlag`: its phrase runs from the first
   to the last matched words; it is severe when any of them is, suspected when all of them
   are; its regions are the spine regions the clause names (region words of the patterns,
   vertebral levels), else those of the clause right after it when that clause names nothing
   but a region ("Osteomyelitis of vertebra, lumbar region").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cds_service.decision.levels import regions_of_levels, vertebral_levels
from cds_service.vocabulary import FindingKind, SpineRegion

if TYPE_CHECKING:
    from cds_service.knowledge.model import RedFlagPattern, TextPatterns

MAX_PHRASE = 80  # characters of the matched words kept in `TextFlag.phrase`

# Sentence and clause boundaries (see 2. above). "vs." and decimals do not end a sentence.
_SENTENCE = re.compile(
    r"[;\n\r]+|(?<!\bvs)(?<!\bv)\.(?!\d)|\b(?:but|however|although|though)\b", re.IGNORECASE
)
_CLAUSE = re.compile(r"[,:]")
_WORD = re.compile(r"[^\s,:;]+")
# What may remain of a clause that names only a region ("lumbar region", "site unspecified",
# "multiple sites in spine") once its region words and vertebral levels are taken out.
_REGION_FILLER = re.compile(
    r"\b(regions?|spine|spinal|levels?|sites?|unspecified|multiple|in|of|the|and|or|vertebra[e]?"
    r"|junction|area|sacral|sacrococcygeal|sacrum|coccyx|column)\b|[\W\d_]",
    re.IGNORECASE,
)
_LEVEL_WORDS = re.compile(r"\b(c|th|t|d|l|s)\s?-?\s?\d{1,2}\b", re.IGNORECASE)

_NEGATION, _SUSPICION, _AFFIRMATION = "negation", "suspicion", "affirmation"


@dataclass(frozen=True)
class TextFlag:
    """A red flag named in words."""

    kind: FindingKind  # MALIGNANCY, NEUROLOGIC_DEFICIT or INFECTION
    phrase: str  # the words matched, as written, trimmed, at most MAX_PHRASE characters
    suspected: bool  # "r/o", "?", "query", "suspected", "concern for", "vs"...; fever, IVDU
    severe: bool  # cauda equina syndrome, cord compression, conus: emergencies (deficits only)
    regions: frozenset[SpineRegion]  # spine regions named with the flag; empty when none
    # Only words that raise a suspicion by themselves (fever, IVDU, sepsis): a fact that makes
    # the red flag suspected, not a suspected fact. Cards say "risk factor", not "suspected".
    risk_factor: bool = False


@dataclass(frozen=True)
class _Match:
    kind: FindingKind
    start: int
    end: int
    severe: bool
    suspected: bool
    risk_factor: bool = False  # suspected by its pattern alone, not by a cue ("r/o")


# Distinct concept words remembered per knowledge (about 1 kB each); past it, the memo restarts.
CONCEPT_WORDS_REMEMBERED = 4096


def concept_flags(text: str, patterns: TextPatterns) -> tuple[TextFlag, ...]:
    """`red_flags_in_text` for the words of a coded concept: a diagnosis display or a
    Condition's code text. Reading one costs up to 0.2 ms and a hook call reads dozens, but
    they come from a small vocabulary that every record repeats, so the reading is
    remembered (bounded) across calls. Notes and other free text are read afresh each call."""
    memo = patterns.concept_words_read
    flags = memo.get(text)
    if flags is None:
        if len(memo) >= CONCEPT_WORDS_REMEMBERED:
            memo.clear()
        flags = memo[text] = red_flags_in_text(text, patterns)
    return flags


def severe_deficit_words(flags: Iterable[TextFlag]) -> bool:
    """Cauda equina syndrome, cord compression: read from the words of a coded finding."""
    return any(flag.severe and flag.kind is FindingKind.NEUROLOGIC_DEFICIT for flag in flags)


def red_flags_in_text(text: str, patterns: TextPatterns) -> tuple[TextFlag, ...]:
    """Every red flag the text names and does not negate, in the order of the text."""
    if not text or not patterns.red_flag_screen.search(text.casefold()):
        return ()
    flags: list[TextFlag] = []
    for sentence in _SENTENCE.split(text):
        if sentence and sentence.strip():
            for flag in _sentence_flags(sentence, patterns):
                if flag not in flags:
                    flags.append(flag)
    return tuple(flags)


def affirmed_reason_regions(text: str, patterns: TextPatterns) -> frozenset[SpineRegion]:
    """The spine regions a reason's words name as where the problem is: "low back pain"
    names the lumbar spine; "no neck or mid-back pain" names neither the cervical nor the
    thoracic spine. A region's words are read with the cues of their clause, as red flags
    are (a negated list goes on into the next short clause)."""
    found: set[SpineRegion] = set()
    for sentence in _SENTENCE.split(text):
        for clause, cues, inherits in _clauses_read(_CLAUSE.split(sentence or ""), patterns):
            for region, words in patterns.reason_regions:
                if any(
                    _meaning(clause, match.start(), match.end(), patterns, cues, inherits)
                    is not _NEGATION
                    for match in words.finditer(clause)
                ):
                    found.add(region)
    return frozenset(found)


def _clauses_read(
    clauses: list[str], patterns: TextPatterns
) -> Iterator[tuple[str, list[tuple[int, int, str]], bool]]:
    """Each clause of a sentence with its cues, and whether it continues the negation of the
    clause before it (a short clause without cues of its own after a negated one: a list)."""
    negated_before = False
    for clause in clauses:
        cues = _cues(clause, patterns)
        inherits = negated_before and not cues and _word_count(clause) <= patterns.cue_window
        negated_before = cues[-1][2] == _NEGATION if cues else inherits
        yield clause, cues, inherits


def _sentence_flags(sentence: str, patterns: TextPatterns) -> list[TextFlag]:
    clauses = _CLAUSE.split(sentence)
    flags: list[TextFlag] = []
    for index, (clause, cues, inherits) in enumerate(_clauses_read(clauses, patterns)):
        matches = _matches(clause, patterns, cues, inherits)
        if not matches:
            continue
        regions = _regions_in(clause, patterns) or _region_only(clauses[index + 1 :], patterns)
        for kind in dict.fromkeys(m.kind for m in matches):
            flags.append(_flag(clause, [m for m in matches if m.kind is kind], regions))
    return flags


def _matches(
    clause: str,
    patterns: TextPatterns,
    cues: list[tuple[int, int, str]],
    inherits: bool,
) -> list[_Match]:
    folded = clause.casefold()
    if not patterns.red_flag_screen.search(folded):
        return []
    found: list[_Match] = []
    excluded: dict[FindingKind, list[tuple[int, int]]] = {}
    for flag in patterns.red_flags:
        if flag.words and not any(word in folded for word in flag.words):
            continue
        for match in flag.pattern.finditer(clause):
            start, end = _trimmed_span(clause, match.start(), match.end())
            if start >= end:
                continue
            if flag.kind not in excluded:
                excluded[flag.kind] = _excluded_spans(clause, flag.kind, patterns)
            if any(s < end and start < e for s, e in excluded[flag.kind]):
                continue
            meant = _meaning(clause, start, end, patterns, cues, inherits)
            if meant is not _NEGATION:
                found.append(_match(flag, start, end, suspected=meant is _SUSPICION))
    return sorted(found, key=lambda m: (m.start, m.end))


def _match(flag: RedFlagPattern, start: int, end: int, *, suspected: bool) -> _Match:
    risk_factor = flag.suspected and not suspected
    return _Match(flag.kind, start, end, flag.severe, flag.suspected or suspected, risk_factor)


def _trimmed_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and not text[start].isalnum():
        start += 1
    while end > start and not text[end - 1].isalnum():
        end -= 1
    return start, end


def _excluded_spans(
    clause: str, kind: FindingKind, patterns: TextPatterns
) -> list[tuple[int, int]]:
    return [
        match.span()
        for excluded_kind, pattern in patterns.not_red_flags
        if excluded_kind is kind
        for match in pattern.finditer(clause)
    ]


def _cues(clause: str, patterns: TextPatterns) -> list[tuple[int, int, str]]:
    """The cues of a clause as (start, end, type), in order; cues inside longer ones dropped."""
    found = [
        (match.start(), match.end(), name)
        for name, pattern in (
            (_NEGATION, patterns.negation),
            (_SUSPICION, patterns.suspicion),
            (_AFFIRMATION, patterns.affirmation),
        )
        for match in pattern.finditer(clause)
        if match.end() > match.start()
    ]
    kept = [
        cue
        for cue in found
        if not any(
            other is not cue
            and other[0] <= cue[0]
            and cue[1] <= other[1]
            and (other[1] - other[0]) > (cue[1] - cue[0])
            for other in found
        )
    ]
    return sorted(kept, key=lambda cue: (cue[1], cue[1] - cue[0]))


def _meaning(
    clause: str,
    start: int,
    end: int,
    patterns: TextPatterns,
    cues: list[tuple[int, int, str]],
    inherits: bool,
) -> str | None:
    """How the words at start:end are meant: negation, suspicion, affirmation or None."""
    after = clause[end:]
    if patterns.negation_after.match(after):
        return _NEGATION
    reach = _window_start(clause, start, patterns.cue_window)
    before = [cue for cue in cues if reach < cue[1] <= start]
    meant = before[-1][2] if before else (_NEGATION if inherits else None)
    if meant is not _NEGATION and patterns.suspicion_after.match(after):
        return _SUSPICION
    return meant


def _window_start(clause: str, start: int, words: int) -> int:
    """Where the `words` words before `start` begin (a cue must end after this point)."""
    starts = [match.start() for match in _WORD.finditer(clause, 0, start)]
    return starts[-words] - 1 if len(starts) >= words else -1


def _word_count(clause: str) -> int:
    return len(_WORD.findall(clause))


def _flag(clause: str, matches: list[_Match], regions: frozenset[SpineRegion]) -> TextFlag:
    start, end = matches[0].start, max(m.end for m in matches)
    if end - start > MAX_PHRASE:
        end = matches[0].end
    phrase = clause[start:end].strip()[:MAX_PHRASE].strip()
    return TextFlag(
        kind=matches[0].kind,
        phrase=phrase,
        suspected=all(m.suspected for m in matches),
        severe=any(m.severe for m in matches),
        regions=regions,
        risk_factor=all(m.risk_factor for m in matches),
    )


def named_regions(text: str, patterns: TextPatterns) -> frozenset[SpineRegion]:
    """The spine regions a diagnosis' words name: region words and vertebral levels."""
    return _regions_in(text, patterns)


def _regions_in(clause: str, patterns: TextPatterns) -> frozenset[SpineRegion]:
    regions = {
        region
        for region, pattern in (*patterns.regions, *patterns.reason_regions)
        if pattern.search(clause)
    }
    return frozenset(regions) | regions_of_levels(vertebral_levels([clause]))


def _region_only(following: list[str], patterns: TextPatterns) -> frozenset[SpineRegion]:
    """The regions of the next clause when it names nothing but a region ("lumbar region")."""
    for clause in following:
        regions = _regions_in(clause, patterns)
        rest = clause
        for _, pattern in (*patterns.regions, *patterns.reason_regions):
            rest = pattern.sub(" ", rest)
        rest = _REGION_FILLER.sub("", _LEVEL_WORDS.sub(" ", rest))
        if rest.strip():
            return frozenset()
        if regions:
            return regions
    return frozenset()
