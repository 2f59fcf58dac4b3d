"""A cheap pre-check for many case-insensitive patterns: one search that finds every text any
of them can match (and a few more), so that texts naming no red flag cost one search only.

The red-flag patterns of cards/text-patterns.yaml are many alternations; searching them all
costs tens of microseconds per text, and most texts (problem-list displays such as
"Hypertension") match none. For each pattern this module finds fixed words every match must
contain ("cauda" for '\\bcauda\\s+equina', "cancer" or "carcinoma" for
'\\b(cancers?|carcinomas?)\\b'), keeping the word boundaries the pattern requires around them,
and joins all of them into one prefix tree searched in the case-folded text.

It reads patterns with Python's own regular-expression parser (`re._parser`), at load time
only. A pattern in which no such word can be found is refused by the knowledge loader.
"""

from __future__ import annotations

import re
from typing import Any

try:  # Python 3.11+
    from re import _constants as _c
    from re import _parser as _p
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants as _c  # type: ignore[no-redef]
    import sre_parse as _p  # type: ignore[no-redef]

_BOUNDARY = "\x00"  # stands for \b inside the fixed words
_MAX_WORDS = 400  # a pattern needing more fixed words than this is read from a later element
_MIN_LETTERS = 2
_BOUNDARIES = (_c.AT_BOUNDARY, _c.AT_UNI_BOUNDARY)


def fixed_words(pattern: str, flags: int = re.IGNORECASE) -> frozenset[str] | None:
    """Case-folded words one of which every match contains (\\b as NUL); None if none."""
    return _factors(list(_p.parse(pattern, flags)))


def screen(patterns: list[str]) -> re.Pattern[str] | None:
    """One pattern, for case-folded text, that matches wherever any of `patterns` can match;
    None when a pattern has no fixed word (then no cheap pre-check is possible)."""
    words: set[str] = set()
    for pattern in patterns:
        found = fixed_words(pattern)
        if found is None:
            return None
        words |= found
    return re.compile(_trie(words) if words else "(?!)")


def _factors(seq: list[Any]) -> frozenset[str] | None:
    """The best set of fixed words one of which every match of `seq` contains."""
    best: frozenset[str] | None = None
    for index, (op, av) in enumerate(seq):
        rest = seq[index + 1 :]
        lead = _word_boundary_before(seq, index)  # Python's parser moves a shared \b out
        candidates = [_prefixes(seq[index:])]
        if op is _c.SUBPATTERN:
            candidates.append(_factors(lead + list(av[-1]) + rest))
        elif op is _c.BRANCH:
            candidates.append(_union([_factors(lead + list(branch) + rest) for branch in av[1]]))
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT) and av[0] >= 1:
            candidates.append(_factors(list(av[2])))
        for words in candidates:
            if words is not None and (best is None or _score(words) > _score(best)):
                best = words
    return best


def _word_boundary_before(seq: list[Any], index: int) -> list[Any]:
    if index and seq[index - 1][0] is _c.AT and seq[index - 1][1] in _BOUNDARIES:
        return [seq[index - 1]]
    return []


def _union(sets: list[frozenset[str] | None]) -> frozenset[str] | None:
    if any(words is None for words in sets):
        return None
    union = frozenset().union(*sets)  # type: ignore[arg-type]
    return union if len(union) <= _MAX_WORDS else None


def _score(words: frozenset[str]) -> tuple[bool, int, int]:
    """Words at a word start are found fastest (the search skips the middle of words); longer
    words rule out more texts."""
    letters = min(len(w.replace(_BOUNDARY, "")) for w in words)
    anchored = all(w.startswith(_BOUNDARY) for w in words)
    return (anchored and letters >= 3, min(letters, 6), -len(words))


def _prefixes(seq: list[Any]) -> frozenset[str] | None:
    """Fixed words every match of `seq` starts with; None when there are none worth having."""
    words = _walk(seq, "")
    if words is None or not words or len(words) > _MAX_WORDS:
        return None
    words = {w.rstrip(_BOUNDARY) + (_BOUNDARY if w.endswith(_BOUNDARY) else "") for w in words}
    if any(len(w.replace(_BOUNDARY, "")) < _MIN_LETTERS for w in words):
        return None
    return frozenset(words)


def _walk(seq: list[Any], prefix: str) -> set[str] | None:
    """Extend `prefix` along `seq` while it is fixed; fork at alternations."""
    for index, (op, av) in enumerate(seq):
        rest = seq[index + 1 :]
        if op is _c.LITERAL:
            prefix += chr(av).casefold()
        elif op is _c.AT and av in _BOUNDARIES:
            if not prefix.endswith(_BOUNDARY):
                prefix += _BOUNDARY
        elif op in (_c.ASSERT, _c.ASSERT_NOT):
            continue  # zero width
        elif op is _c.SUBPATTERN:
            return _walk(list(av[-1]) + rest, prefix)
        elif op is _c.BRANCH:
            found: set[str] = set()
            for branch in av[1]:
                more = _walk(list(branch) + rest, prefix)
                if more is None:
                    return {prefix}
                found |= more
                if len(found) > _MAX_WORDS:
                    return {prefix}
            return found
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT) and av[0] >= 1:
            return _walk(list(av[2]), prefix)  # the first repetition, then stop
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT):
            # Optional: either skipped, or taken (once, then stop).
            skipped = _walk(rest, prefix)
            taken = _walk(list(av[2]) + (rest if av[1] == 1 else []), prefix)
            if skipped is None or taken is None:
                return {prefix}
            return skipped | taken
        else:
            return {prefix}
    return {prefix}


def _trie(words: set[str]) -> str:
    # A word that starts another makes the longer one redundant for a pre-check.
    ordered = sorted(words, key=len)
    kept = [w for w in ordered if not any(w != k and w.startswith(k) for k in ordered)]
    tree: dict[str, Any] = {}
    for word in kept:
        node = tree
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}
    return _emit(tree)


def _emit(node: dict[str, Any]) -> str:
    if "" in node:
        return ""
    branches = [_symbol(char) + _emit(child) for char, child in sorted(node.items())]
    return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"


def _symbol(char: str) -> str:
    return r"\b" if char == _BOUNDARY else re.escape(char)
