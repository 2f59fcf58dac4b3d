"""One log record, one line: text from a request cannot start a forged line.

A Basic-auth user name (gunicorn's access log decodes it), a header gunicorn refuses, a path
or a value the service logs may hold a newline followed by something that looks like a log
line of its own (issue 19 §6). Every message is rewritten with its control, bidi and
zero-width characters escaped (`\\n`, `\\x1b`, `\\u202e`), so a log reader sees them for what
they are. A traceback (the record's exc_info) stays multi-line: it is the service's own text.
"""

from __future__ import annotations

import logging
import re

# C0 and C1 controls, line and paragraph separators, zero-width and bidi controls, BOM.
_UNSAFE = re.compile(
    "[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text: str) -> str:
    """`text` with every control character written as an escape sequence."""
    return _UNSAFE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    character = match.group()
    if character in _NAMED:
        return _NAMED[character]
    code = ord(character)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class OneLineRecords(logging.Filter):
    """Formats the record's message now and escapes its control characters."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        escaped = escape_controls(message)
        if escaped != message:
            record.msg, record.args = escaped, None
        return True
