"""Reading a request body: JSON only, parsed fast, and refused early when later stages
could not take it (too deep, NUL characters, lone surrogates).

A hook call's members are read in one pass with msgspec, its prefetch into views that skip
what is never read (`fhir/views.py`). A body that path does not take (not a JSON object,
invalid or odd text anywhere) is read the ordinary way, whole, which says why it is refused
if it is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from types import ModuleType
from typing import Any

import msgspec
from flask import request

from cds_service.json_shape import MAX_JSON_DEPTH, nested_deeper_than, values_of_type
from cds_service.web.errors import BadRequest


class TypedEnvelope:
    """A JSON object read in one msgspec pass: the `typed` members as their msgspec type,
    the other `members` the object may hold as json reads them (integers exact). Built once,
    at import of the route that reads it."""

    def __init__(self, typed: Mapping[str, Any], members: Collection[str]) -> None:
        self.typed_names = frozenset(typed)
        fields = [
            (name, typed.get(name, msgspec.Raw), msgspec.UNSET) for name in {*members, *typed}
        ]
        struct = msgspec.defstruct("Envelope", fields, forbid_unknown_fields=True, gc=False)
        self.decoder = msgspec.json.Decoder(struct)


def read_json_body(envelope: TypedEnvelope | None = None) -> Any:
    """The request's JSON body, or a 400 saying what is wrong with it.

    With an `envelope`, its typed members (the prefetch: views that skip what the service
    never reads) are read in one pass with the others. Their nesting is checked by the
    stage that reads them (fhir/parse.py measures what it builds a model from), so that a
    500-resource prefetch is not walked here as a whole: that walk cost as much as parsing.
    """
    if request.mimetype not in ("application/json", "application/fhir+json", ""):
        raise BadRequest("The body must be JSON (Content-Type: application/json).")
    raw = request.get_data(cache=False)
    checked_later = envelope.typed_names if envelope else frozenset()
    if envelope and not _may_hold_bad_text(raw):
        body = _typed_envelope(raw, envelope)
        if body is not None:
            _refuse_deep(_without(body, checked_later))
            return body
    return _whole_body(raw, checked_later)


def _typed_envelope(raw: bytes, envelope: TypedEnvelope) -> dict[str, Any] | None:
    """The body as a dict; None where this path does not fit: a member the envelope does
    not know, text that is not UTF-8 (msgspec does not check the text it skips), invalid
    JSON."""
    try:
        raw.decode("utf-8")
        decoded = envelope.decoder.decode(raw)
        return {
            name: msgspec.json.decode(value) if type(value) is msgspec.Raw else value
            for name in decoded.__struct_fields__
            if (value := getattr(decoded, name)) is not msgspec.UNSET
        }
    except (UnicodeDecodeError, msgspec.MsgspecError, RecursionError):
        return None


def _refuse_deep(read_now: Any) -> None:
    if nested_deeper_than(read_now, MAX_JSON_DEPTH):
        raise BadRequest(f"The body is nested too deeply (over {MAX_JSON_DEPTH} levels).")


def _whole_body(raw: bytes, checked_later: Collection[str]) -> Any:
    body = _fast_loads(raw)
    fast = body is not _UNREAD
    if not fast:
        body = _standard_loads(raw)  # json says why a body is refused, or reads it after all
    read_now = _without(body, checked_later)
    _refuse_deep(read_now)
    if _may_hold_bad_text(raw) and not _clean_text(body):
        raise BadRequest("The body holds a NUL character or an unpaired surrogate.")
    if fast and _beyond_int64(values_of_type(read_now, float)):
        body = _standard_loads(raw)  # the same shape, its integers exact
    return body


def _safe_orjson() -> ModuleType | None:
    """orjson reads a 500-resource prefetch in 1.5 ms where json takes 2.4; versions before
    3.9.15 overflow the C stack on deeply nested input (CVE-2024-27454): json then."""
    try:
        import orjson
    except ImportError:
        return None
    version = tuple(int(part) for part in re.findall(r"\d+", orjson.__version__)[:3])
    return orjson if version >= (3, 9, 15) else None


_ORJSON = _safe_orjson()
_UNREAD = object()


def _fast_loads(raw: bytes) -> Any:
    if _ORJSON is None:
        return _UNREAD
    try:
        return _ORJSON.loads(raw)
    except _ORJSON.JSONDecodeError:
        return _UNREAD


def _standard_loads(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("The body is not valid JSON.") from None
    except RecursionError:
        raise BadRequest("The body is nested too deeply.") from None


def _without(body: Any, members: Collection[str]) -> Any:
    if not members or type(body) is not dict:
        return body
    return {key: value for key, value in body.items() if key not in members}


def _beyond_int64(floats: list[float]) -> bool:
    """orjson reads an integer outside [-2**63, 2**64) as a float, where json keeps it exact.

    Only what is echoed back needs exact numbers (the draft order in the rating's
    systemAction); the prefetch's numbers are never read."""
    return any(number >= 2.0**64 or number <= -(2.0**63) for number in floats)


# In a UTF-8 body, NUL and lone surrogates come only from these escapes, or from surrogates
# encoded as UTF-8 (lead byte ED), which json decodes with 'surrogatepass'.
_BAD_TEXT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def _may_hold_bad_text(raw: bytes) -> bool:
    # A backslash byte is looked for at memchr speed: most bodies have none at all, and
    # then the escape search (0.15 ms over 386 kB) is not needed.
    return (
        json.detect_encoding(raw) not in ("utf-8", "utf-8-sig")
        or b"\xed" in raw
        or (b"\\" in raw and _BAD_TEXT_ESCAPE.search(raw) is not None)
    )


def _clean_text(body: Any) -> bool:
    """No NUL (PostgreSQL text cannot hold it) and no lone surrogate (UTF-8 cannot encode
    it) in any key or string: the strings are checked together, at C speed."""
    joined = "".join(values_of_type(body, str, with_keys=True))
    if "\x00" in joined:
        return False
    try:
        joined.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
