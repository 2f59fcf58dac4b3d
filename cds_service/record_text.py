"""Words copied from the patient's record or the order into a card: data, never markup.

EHRs render a card's `detail` as GitHub-flavoured Markdown. A Condition's display or an
order's text that holds `<script>`, a link, an image, a newline followed by a bold "Usually
Appropriate", bidi-override or zero-width characters, or megabytes of text would otherwise
forge the service's own headings or load a remote image when the card is viewed (issue 19
§2). So every such string is flattened to one line without control, bidi or zero-width
characters, cut at RECORD_TEXT_LIMIT characters, and, in Markdown, its metacharacters are
escaped with a backslash.
"""

from __future__ import annotations

import re

RECORD_TEXT_LIMIT = (
    300  # characters of one copied string (a CPT long descriptor fits), the ellipsis included
)
# C0 and C1 controls (newlines included), zero-width and bidi controls, word joiner, BOM.
_INVISIBLE = re.compile("[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
# What starts emphasis, a link, an image, HTML, a heading, a table or code in GFM.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]<>#|~!])")


def plain_record_text(text: str, limit: int = RECORD_TEXT_LIMIT) -> str:
    """One line of visible characters, at most `limit` long (for plain-text fields such as
    an action's description)."""
    flat = " ".join(_INVISIBLE.sub(" ", text).split())
    if len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    return flat


def markdown_record_text(text: str, limit: int = RECORD_TEXT_LIMIT) -> str:
    """`plain_record_text`, its Markdown and HTML metacharacters escaped (for `detail`)."""
    return _MARKDOWN.sub(r"\\\1", plain_record_text(text, limit))
