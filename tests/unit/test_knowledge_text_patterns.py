"""Orders that carry only words: the patterns of cards/text-patterns.yaml, used as documented
there (modality and contrast: first match wins; regions: every match counts)."""

from __future__ import annotations

import pytest

from cds_service.decision.model import Contrast, Modality, SpineRegion
from cds_service.knowledge.loader import load_knowledge
from tests.unit.knowledge_cases.support import CARDS

C, T, L = SpineRegion.CERVICAL, SpineRegion.THORACIC, SpineRegion.LUMBAR


@pytest.fixture(scope="module")
def patterns():
    return load_knowledge(CARDS).text_patterns


def read(text, patterns):
    modality = next((m for m, p in patterns.modality if p.search(text)), None)
    contrast = next((c for c, p in patterns.contrast if p.search(text)), None)
    regions = {region for region, p in patterns.regions if p.search(text)}
    return modality, contrast, regions, bool(patterns.whole_body.search(text))


@pytest.mark.parametrize(
    ("text", "modality", "contrast", "regions", "whole_body"),
    [
        ("CT L-spine w/ contrast", Modality.CT, Contrast.WITH, {L}, False),
        ("MRI T spine wo", Modality.MRI, Contrast.WITHOUT, {T}, False),
        ("XR lumbar spine 2 views", Modality.RADIOGRAPH, None, {L}, False),
        ("NM bone scan whole body", Modality.BONE_SCAN, None, set(), True),
        ("CT myelogram lumbar", Modality.CT_MYELOGRAPHY, Contrast.INTRATHECAL, {L}, False),
        ("MRI C-spine w/wo", Modality.MRI, Contrast.WITHOUT_AND_WITH, {C}, False),
        ("MRI lumbar spine wo/w", Modality.MRI, Contrast.WITHOUT_AND_WITH, {L}, False),
        (
            "MRI thoracic spine with and without contrast",
            Modality.MRI,
            Contrast.WITHOUT_AND_WITH,
            {T},
            False,
        ),
        ("CT thoracic spine without contrast", Modality.CT, Contrast.WITHOUT, {T}, False),
        ("CT lumbar spine w/o contrast", Modality.CT, Contrast.WITHOUT, {L}, False),
        ("MRI lumbosacral spine with IV contrast", Modality.MRI, Contrast.WITH, {L}, False),
        ("Kyphoplasty L1", Modality.VERTEBRAL_AUGMENTATION, None, set(), False),
        ("DXA", Modality.DXA, None, set(), False),
        ("SPECT/CT lumbar spine", Modality.SPECT, None, {L}, False),
        ("PET/CT skull base to mid-thigh", Modality.FDG_PET_CT, None, set(), True),
        ("MRI whole spine without contrast", Modality.MRI, Contrast.WITHOUT, {C, T, L}, False),
        ("XR thoracolumbar junction", Modality.RADIOGRAPH, None, {T, L}, False),
        ("MRI dorsal spine", Modality.MRI, None, {T}, False),
    ],
)
def test_order_words(patterns, text, modality, contrast, regions, whole_body):
    assert read(text, patterns) == (modality, contrast, regions, whole_body)


@pytest.mark.parametrize(
    "text",
    ["CT chest", "XR hip 2 views", "MRI brain", "CT neck with contrast", "CT abdomen pelvis"],
)
def test_other_body_parts_are_not_spine(patterns, text):
    assert patterns.non_spine.search(text)
    assert read(text, patterns)[2] == set()


@pytest.mark.parametrize(
    ("text", "not_expected"),
    [
        ("MRI cervical spine for myelopathy", Modality.CT_MYELOGRAPHY),  # not a myelogram
        ("CT thoracic aorta", T),
        ("Fluoroscopic lumbar puncture", L),
        ("CT lumbar spine with reconstructions", Contrast.WITH),  # "with" is not contrast
        ("CT lumbar spine w/o contrast", Contrast.WITH),
    ],
)
def test_look_alike_words(patterns, text, not_expected):
    modality, contrast, regions, _ = read(text, patterns)
    assert not_expected not in {modality, contrast, *regions}
