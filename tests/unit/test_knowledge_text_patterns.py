"""Orders that carry only words: the patterns of cards/text-patterns.yaml, used as documented
there (modality and contrast: first match wins; regions: every match counts)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cds_service.knowledge.errors import KnowledgeError
from cds_service.knowledge.loader import load_knowledge
from cds_service.knowledge.regex_screen import fixed_words
from cds_service.vocabulary import Contrast, Modality, SpineRegion
from tests.unit.knowledge_cases.support import CARDS, apply_case, copy_cards

RED_FLAG_CASES = Path(__file__).resolve().parent / "knowledge_cases" / "bad-text-patterns.yaml"

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


# -- regions in letters, and words that are not a spine region (issue 14 §5) ----------------


@pytest.mark.parametrize(
    ("text", "regions"),
    [
        ("MRI C/T/L spine", {C, T, L}),
        ("MRI C-T-L spine wo", {C, T, L}),
        ("MRI C-T-L", {C, T, L}),
        ("MRI CTL spine", {C, T, L}),
        ("XR T-L spine", {T, L}),
        ("XR T/L", {T, L}),
        ("MRI TL spine", {T, L}),
        ("CT thoracolumbar spine", {T, L}),
        ("MRI L/S spine", {L}),
        ("MRI L-S spine", {L}),
        ("MRI cervicothoracic spine", {C, T}),
        ("MRI C/T spine", {C, T}),
        ("CT spine", set()),  # a CT of the spine, not C + T
        ("MRI L-spine, hx cervical cancer", {L}),
        ("MRI L-spine, cervical ca", {L}),
        ("MRI L-spine, h/o carcinoma of cervix", {L}),
        ("CT L spine; cervical cancer screening due", {L}),
        ("MRI cervical spine", {C}),
        ("MRI cervical spine for cervical radiculopathy", {C}),
    ],
)
def test_regions_in_letters_and_look_alikes(patterns, text, regions):
    assert read(text, patterns)[2] == regions


@pytest.mark.parametrize(
    ("reason", "regions"),
    [
        ("thoracic aortic aneurysm", set()),
        ("thoracic outlet syndrome", set()),
        ("hx cervical cancer", set()),
        ("cervical lymphadenopathy", set()),
        ("fracture of neck of femur", set()),
        ("femoral neck fracture", set()),
        ("post lumbar puncture headache", set()),
        ("neck pain", {C}),
        ("cervicalgia", {C}),
        ("cervical radiculopathy", {C}),
        ("thoracic back pain", {T}),
        ("low back pain", {L}),
    ],
)
def test_reason_region_look_alikes(patterns, reason, regions):
    assert {region for region, p in patterns.reason_regions if p.search(reason)} == regions


# -- the red-flag patterns (decision/text_flags.py; tests/unit/test_text_flags.py reads them) --


def test_every_red_flag_kind_has_patterns_and_only_deficits_are_severe(patterns):
    kinds = {flag.kind for flag in patterns.red_flags}
    assert {k.value for k in kinds} == {"malignancy", "neurologic_deficit", "infection"}
    assert {flag.kind.value for flag in patterns.red_flags if flag.severe} == {"neurologic_deficit"}


def test_the_pre_check_matches_wherever_a_red_flag_pattern_does(patterns):
    samples = [
        "hx breast ca",
        "osteosarcoma",
        "CES",
        "b/b incontinence",
        "weakness of both legs",
        "Pott's disease",
        "IV drug use",
        "leukaemia",
        "?cord compression",
    ]
    for text in samples:
        assert any(flag.pattern.search(text) for flag in patterns.red_flags), text
        assert patterns.red_flag_screen.search(text.casefold()), text


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        (r"\bcauda\s+equina", {"\x00cauda"}),
        (r"\b(cancers?|carcinomas?)\b", {"\x00cancer", "\x00carcinoma"}),
        (r"\b(multiple\s+)?myelomas?\b", {"\x00multiple", "\x00myeloma"}),
        (r"\w*sarcoma", {"sarcoma"}),
        (r"\bca\b", {"\x00ca\x00"}),
    ],
)
def test_fixed_words_of_a_pattern(pattern, words):
    found = fixed_words(pattern)  # case-folded; \b is NUL; plural forms may be spelled out

    assert found
    assert {next(w for w in words if word.startswith(w)) for word in found} == words


@pytest.mark.parametrize("pattern", [r"\w+o", r"[a-z]{3}", r"\bx\d", r"a|\w+"])
def test_a_pattern_without_fixed_words(pattern):
    assert fixed_words(pattern) is None


def _red_flag_cases():
    return yaml.safe_load(RED_FLAG_CASES.read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", _red_flag_cases(), ids=lambda case: case["name"])
def test_bad_red_flag_knowledge_is_refused_by_name(tmp_path, case):
    cards = copy_cards(tmp_path)
    apply_case(cards, case)

    with pytest.raises(KnowledgeError) as raised:
        load_knowledge(cards)

    assert case["error"] in str(raised.value)
