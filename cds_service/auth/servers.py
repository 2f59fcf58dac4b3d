"""Is a `fhirServer` one of the FHIR base URLs an issuer is trusted for?

The service sends the EHR's access token to `fhirServer` (CDS Hooks 2.0 §Passing the
Access Token), so a caller that could name any server could make us carry a token, or
patient queries, anywhere. Matching is on whole URL parts, never on string prefixes:
`https://ehr.example/fhir` admits `https://ehr.example/fhir/r4`, not `.../fhirx` nor
`https://ehr.example.evil`.
"""

from __future__ import annotations

from urllib.parse import SplitResult, unquote, urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def is_within_base(url: str, base: str) -> bool:
    """True when `url` has the scheme, host and port of `base` and lies at or under its path."""
    candidate, allowed = _split(url), _split(base)
    if candidate is None or allowed is None or not _plain(candidate):
        return False
    if _origin(candidate) != _origin(allowed):
        return False
    candidate_path, allowed_path = _segments(candidate.path), _segments(allowed.path)
    if candidate_path is None or allowed_path is None:
        return False
    return candidate_path[: len(allowed_path)] == allowed_path


def _split(url: str) -> SplitResult | None:
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return None
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return parts


def _plain(parts: SplitResult) -> bool:
    """A FHIR base URL has no user info (`https://ehr.example@evil/`), query or fragment."""
    return not (parts.username or parts.password or parts.query or parts.fragment)


def _origin(parts: SplitResult) -> tuple[str, str, int]:
    scheme = parts.scheme.lower()
    return scheme, parts.hostname or "", parts.port or _DEFAULT_PORTS[scheme]


def _segments(path: str) -> list[str] | None:
    """Decoded path segments; None when one could climb out (`..`, an encoded `/` or `\\`)."""
    segments = [unquote(segment) for segment in path.split("/") if segment]
    if any(segment in (".", "..") or "/" in segment or "\\" in segment for segment in segments):
        return None
    return segments
