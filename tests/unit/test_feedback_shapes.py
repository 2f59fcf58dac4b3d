"""Override reasons read from every documented feedback shape: the CDS Hooks 2.0 spec's
`overrideReason` and Epic's `overrideReasons` (a Coding in `reason`, or an Epic extension)."""

from __future__ import annotations

import pytest

from cds_service.cdshooks.feedback import (
    EPIC_REASON_CATEGORY,
    FeedbackRequestSchema,
    OverrideReason,
    override_reasons,
)
from cds_service.feedback.store import entry_hash

from ..conftest import load_feedback_sample

REASONS = "https://example.org/override-reason"
DISPLAY = "com.epic.cdshooks.feedback.overrideReason.reasonDisplay"
TITLE = "com.epic.cdshooks.feedback.overrideReason.reasonTitle"


def loaded(**entry) -> dict:
    entry = {
        "card": "c1",
        "outcome": "overridden",
        "outcomeTimestamp": "2026-03-02T09:32Z",
        **entry,
    }
    return FeedbackRequestSchema().load({"feedback": [entry]})["feedback"][0]


def coding(code: str) -> dict:
    return {"system": REASONS, "code": code, "display": code.title()}


@pytest.mark.parametrize(
    "sample",
    [
        "epic-overridden-reason.json",
        "epic-overridden-extension.json",
        "epic-accepted.json",
        "epic-batch.json",
    ],
)
def test_an_epic_body_loads_as_sent_so_its_entry_hash_is_the_one_stored_before(sample):
    body = load_feedback_sample(sample)
    entries = FeedbackRequestSchema().load(body)["feedback"]
    assert entries == body["feedback"]
    assert [entry_hash("s", e) for e in entries] == [entry_hash("s", e) for e in body["feedback"]]


def test_the_specs_reason_comes_first_then_each_of_epics_in_order():
    entry = loaded(
        overrideReason={"reason": coding("spec"), "userComment": "why"},
        overrideReasons=[{"reason": coding("first")}, {"reason": coding("second")}],
    )
    assert [(r.code, r.user_comment) for r in override_reasons(entry)] == [
        ("spec", "why"),
        ("first", None),
        ("second", None),
    ]


def test_an_epic_extension_reason_reads_category_display_and_comment():
    entry = loaded(
        overrideReasons={
            "extension": {EPIC_REASON_CATEGORY: 45, TITLE: "Does not meet criteria"},
            "userComment": "free text",
        }
    )
    assert override_reasons(entry) == (
        OverrideReason(EPIC_REASON_CATEGORY, "45", "Does not meet criteria", "free text"),
    )


def test_a_coding_in_reason_wins_over_an_extension_in_the_same_object():
    entry = loaded(
        overrideReasons={"reason": coding("sent"), "extension": {EPIC_REASON_CATEGORY: "45"}}
    )
    assert [r.code for r in override_reasons(entry)] == ["sent"]


def test_an_epic_extension_on_the_entry_serves_a_reason_with_only_a_comment():
    entry = loaded(
        overrideReasons={"userComment": "free text"},
        extension={EPIC_REASON_CATEGORY: "45", DISPLAY: "Does not meet criteria"},
    )
    assert override_reasons(entry) == (
        OverrideReason(EPIC_REASON_CATEGORY, "45", "Does not meet criteria", "free text"),
    )


def test_an_epic_extension_on_the_entry_alone_is_one_reason():
    entry = loaded(extension={EPIC_REASON_CATEGORY: "45", "org.example.other": "x"})
    assert [(r.system, r.code) for r in override_reasons(entry)] == [(EPIC_REASON_CATEGORY, "45")]


def test_an_entry_without_reasons_has_none_and_other_extensions_are_not_reasons():
    assert override_reasons(loaded()) == ()
    assert override_reasons(loaded(extension={"org.example.other": "x"})) == ()
    assert override_reasons(loaded(extension=["not", "an", "object"])) == ()
