"""What a FHIR base URL is: for `fhirServer`, the allow-list, and the `next` links of a search.

The service appends its searches to `fhirServer` (`{base}/Condition?patient=…`) and sends the
EHR's access token with them (CDS Hooks 2.0 §Passing the Access Token). A base holding a
query or a fragment, even an empty one, changes what those searches mean: after
`https://ehr.example/fhir/Condition#` the patient filter becomes a fragment the server never
sees, and the search answers every patient's Conditions. So a base is taken only in plain
form (scheme, host, optional port, path: no user info, query, fragment, dot segment, encoded
slash, space or control character) and used in its canonical form (scheme and host in lower
case, no default port, no trailing slash), the form the allow-list compares. Matching is on
whole URL parts, never on string prefixes: `https://ehr.example/fhir` admits
`https://ehr.example/fhir/r4`, not `…/fhirx` nor `https://ehr.example.evil`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import SplitResult, unquote, urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Spaces and control characters, a backslash, and the starts of a query and of a fragment.
_NOT_IN_A_BASE = re.compile(r"[\x00-\x20\x7f\\?#]")
_NOT_IN_A_PAGE_LINK = re.compile(r"[\x00-\x20\x7f\\#]")


@dataclass(frozen=True)
class FhirBase:
    scheme: str
    host: str
    port: int
    raw_segments: tuple[str, ...]  # as written (percent-encoded): the canonical URL keeps them

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if self.port == _DEFAULT_PORTS[self.scheme] else f":{self.port}"
        return f"{self.scheme}://{host}{port}" + "".join(f"/{s}" for s in self.raw_segments)

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(unquote(segment) for segment in self.raw_segments)

    def holds(self, other: FhirBase) -> bool:
        """`other` is this base or lies under it."""
        return (self.scheme, self.host, self.port) == (other.scheme, other.host, other.port) and (
            other.segments[: len(self.raw_segments)] == self.segments
        )


def fhir_base(url: str) -> FhirBase | None:
    """`url` as a FHIR base; None when it is not one in plain form."""
    if not isinstance(url, str) or _NOT_IN_A_BASE.search(url):
        return None
    return _parsed(url)


def canonical_fhir_base(url: str) -> str | None:
    base = fhir_base(url)
    return base.url if base else None


def is_within_base(url: str, base: str) -> bool:
    """True when `url` is a plain FHIR base with the scheme, host and port of `base` and lies
    at or under its path."""
    candidate, allowed = fhir_base(url), fhir_base(base)
    return candidate is not None and allowed is not None and allowed.holds(candidate)


def is_page_of(link: str, base: str) -> bool:
    """A search's `next` link the token may follow: under `base` (dot segments and encoded
    slashes refused, as in a base), with a query but no fragment or user info."""
    allowed = fhir_base(base)
    if allowed is None or not isinstance(link, str) or _NOT_IN_A_PAGE_LINK.search(link):
        return False
    page = _parsed(link.split("?", 1)[0])
    return page is not None and allowed.holds(page)


def _parsed(url: str) -> FhirBase | None:
    parts = _split(url)
    if parts is None or "@" in parts.netloc:  # user info, even empty
        return None
    raw_segments = tuple(segment for segment in parts.path.split("/") if segment)
    if not all(_plain_segment(unquote(segment)) for segment in raw_segments):
        return None
    scheme = parts.scheme.lower()
    return FhirBase(
        scheme,
        (parts.hostname or "").lower(),
        parts.port or _DEFAULT_PORTS[scheme],
        raw_segments,
    )


def _split(url: str) -> SplitResult | None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return None
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return parts


def _plain_segment(segment: str) -> bool:
    """Not one that climbs (`.`, `..`) or hides a separator (an encoded `/` or `\\`)."""
    return segment not in (".", "..") and "/" not in segment and "\\" not in segment
