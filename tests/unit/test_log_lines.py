"""A log record is one line: request text cannot start a forged one (issue 19 §6)."""

from __future__ import annotations

import io
import logging

from cds_service.log_lines import OneLineRecords, escape_controls


def _logged(message: str, *args: object) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(OneLineRecords())
    logger = logging.getLogger("test_log_lines")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.warning(message, *args)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_a_newline_in_an_argument_does_not_start_a_new_line():
    written = _logged("refused service %s", "x\n2026-12-03 ERROR cds_service forged")
    assert written.count("\n") == 1
    assert "x\\n2026-12-03 ERROR cds_service forged" in written


def test_terminal_escapes_bidi_and_separators_are_written_as_escapes():
    assert escape_controls("a\x1b[31mb\u202ec\u2028d\re\tf") == (
        "a\\x1b[31mb\\u202ec\\u2028d\\re\\tf"
    )


def test_ordinary_text_is_left_as_it_is():
    text = "Fracture of T12 — kyphoplasty 2024 (Ünal, 37.5 °C)"
    assert escape_controls(text) == text
    assert _logged("%s", text) == text + "\n"
