"""Record words as card text: one visible line, capped, Markdown metacharacters escaped."""

from __future__ import annotations

import pytest

from cds_service.record_text import RECORD_TEXT_LIMIT, markdown_record_text, plain_record_text


@pytest.mark.parametrize(
    ("words", "plain", "markdown"),
    [
        ("Cauda equina syndrome", "Cauda equina syndrome", "Cauda equina syndrome"),
        ("vertebra(e), L5-S1 3.5 mm", "vertebra(e), L5-S1 3.5 mm", "vertebra(e), L5-S1 3.5 mm"),
        ("a\n\n**b**", "a **b**", "a \\*\\*b\\*\\*"),
        ("<b>x</b>", "<b>x</b>", "\\<b\\>x\\</b\\>"),
        (
            "![i](u) [l](javascript:x)",
            "![i](u) [l](javascript:x)",
            "\\!\\[i\\](u) \\[l\\](javascript:x)",
        ),
        ("x\u202ey\u200bz\ufeff", "x y z", "x y z"),
        ("# h | t ~ _e_ `c`", "# h | t ~ _e_ `c`", "\\# h \\| t \\~ \\_e\\_ \\`c\\`"),
    ],
)
def test_words_become_one_line_of_data(words, plain, markdown):
    assert plain_record_text(words) == plain
    assert markdown_record_text(words) == markdown


def test_long_words_are_cut_with_an_ellipsis_before_escaping():
    cut = plain_record_text("word " * 1000)
    assert len(cut) == RECORD_TEXT_LIMIT and cut.endswith("…")
    assert markdown_record_text("*" * 1000).count("\\*") == RECORD_TEXT_LIMIT - 1
