"""A vertebral augmentation order is carded for what it needs first, and is not rated.

The seed: CT cannot date a fracture, so an MRI is needed before augmentation; active spinal
infection is a contraindication (issue 14 §4). The order is a procedure, not imaging, so it
gets no ACR rating (DESIGN.md: non-imaging orders get nothing). These are asserted here, apart
from the reviewed goldens, because regenerated goldens once recorded these cards as gone.
"""

from __future__ import annotations

import pytest

from cds_service.replay.core import load_scenarios

from ..conftest import FIXTURES

BY_NAME = {scenario.name: scenario for scenario in load_scenarios(FIXTURES)}


@pytest.mark.parametrize(
    ("fixture", "topic"),
    [
        ("seed-augmentation-order-without-recent-mri", "MriBeforeAugmentation"),
        ("augmentation-without-authored-on", "MriBeforeAugmentation"),
        ("augmentation-with-cancer-history", "MriBeforeAugmentation"),
        ("augmentation-with-active-discitis", "AugmentationContraindicated"),
        (
            "review-kyphoplasty-order-with-active-vertebral-osteomyelitis",
            "AugmentationContraindicated",
        ),
        ("seed-augmentation-order-after-recent-mri", None),
        ("augmentation-recent-mri-as-imaging-study", None),
        ("review-kyphoplasty-recent-mri-only-as-imagingstudy", None),
    ],
)
def test_an_augmentation_order_gets_its_card_and_no_rating(client, fixture, topic):
    scenario = BY_NAME[fixture]
    answer = client.post(f"/cds-services/{scenario.service_id}", json=scenario.request).get_json()

    topics = [card["source"]["topic"]["code"] for card in answer["cards"]]
    assert topics == ([topic] if topic else [])
    assert answer.get("systemActions", []) == []
    if topic == "MriBeforeAugmentation":
        (suggestion,) = answer["cards"][0]["suggestions"]
        assert suggestion["label"].startswith("MRI ")
