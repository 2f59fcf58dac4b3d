"""Card topic codes (DESIGN.md): letters and digits, at most 100 characters, one per kind."""

from __future__ import annotations

import re

from cds_service.knowledge.labels import topic_label
from cds_service.vocabulary import LEGACY_TOPIC_CODES, Topic


def test_every_topic_code_is_alphanumeric_and_at_most_100_characters():
    for topic in Topic:
        assert re.fullmatch(r"[A-Za-z0-9]{1,100}", topic.value), topic


def test_the_design_contract_codes_are_kept_exactly():
    contract = {
        "UsuallyAppropriate",
        "ContrastNotIndicated",
        "BetterInitialStudy",
        "MriPreferredNeurologicDeficit",
        "PathologicFractureConcern",
        "MriBeforeAugmentation",
    }
    assert contract <= {topic.value for topic in Topic}


def test_every_old_code_maps_to_the_topic_it_was_and_every_topic_has_one():
    assert set(LEGACY_TOPIC_CODES.values()) == set(Topic)
    for old, topic in LEGACY_TOPIC_CODES.items():
        assert old.replace("-", "") == topic.value.lower()
        assert topic_label(old) == topic_label(topic.value)


def test_topic_labels_read_as_words():
    assert topic_label("MriBeforeAugmentation") == "MRI before augmentation"
    assert topic_label("UrgentSpineConsultation") == "Urgent spine consultation"
