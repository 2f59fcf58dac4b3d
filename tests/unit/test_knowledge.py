"""The knowledge in cards/ loads, and every validation rule rejects a broken copy by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from cds_service.knowledge.errors import KnowledgeError
from cds_service.knowledge.labels import longest_study_label
from cds_service.knowledge.loader import load_knowledge
from cds_service.vocabulary import Category, Contrast, Guidance, Modality, Topic
from tests.unit.knowledge_cases.support import CARDS, apply_case, bad_cases, copy_cards


@pytest.fixture(scope="module")
def knowledge():
    return load_knowledge(CARDS)


def test_real_cards_load_with_one_variant_per_guidance(knowledge):
    assert knowledge.version == "1.7.0"
    assert knowledge.mri_lookback_days == 90
    assert knowledge.system_base.startswith("https://")
    assert set(knowledge.variants) == set(Guidance)
    assert {v.id for v in knowledge.variants.values()} == {
        "acr-vcf-2022-v3",
        "acr-vcf-2022-v2",
        "acr-lbp-2021-v4",
        "acr-lbp-2021-v7",
        "acr-myelopathy-v1",
        "acr-thoracic-back-pain-v5",
    }
    assert set(knowledge.wording.card_texts) == set(Topic)


def test_prior_vcf_variant_matches_acr_vcf_variant_3(knowledge):
    """Knowledge pack §1.3 Variant 3; no radiograph or DXA row (ACR does not rate them)."""
    variant = knowledge.variants[Guidance.PRIOR_VCF]
    ct = variant.rate(Modality.CT, Contrast.WITHOUT)
    assert ct.category is Category.USUALLY_APPROPRIATE
    assert (ct.radiation_level, ct.radiation_level_complete_spine) == (
        "☢☢☢ 1-10 mSv",
        "☢☢☢☢ 10-30 mSv",
    )
    assert variant.rate(Modality.MRI, Contrast.WITHOUT).radiation_level == "O 0 mSv"
    bone_scan = variant.rate(Modality.BONE_SCAN, Contrast.NOT_APPLICABLE)
    assert bone_scan.category is Category.MAY_BE_APPROPRIATE
    assert variant.rate(Modality.CT, Contrast.WITH).category is Category.USUALLY_NOT_APPROPRIATE
    assert variant.rate(Modality.RADIOGRAPH, Contrast.NOT_APPLICABLE) is None
    assert variant.rate(Modality.DXA, Contrast.NOT_APPLICABLE) is None
    assert all(rating.rating is None for rating in variant.ratings)  # UNCONFIRMED numbers
    assert variant.wording_confirmed is False
    assert variant.preferred == ((Modality.CT, Contrast.WITHOUT), (Modality.MRI, Contrast.WITHOUT))
    assert variant.url == "https://acsearch.acr.org/docs/70545/Narrative/"


def test_only_confirmed_numeric_ratings_are_given(knowledge):
    numbers = {
        (guidance, r.modality, r.contrast): r.rating
        for guidance, variant in knowledge.variants.items()
        for r in variant.ratings
        if r.rating is not None
    }
    assert numbers == {
        (Guidance.MALIGNANCY, Modality.MRI, Contrast.WITHOUT_AND_WITH): 9,
        (Guidance.MALIGNANCY, Modality.MRI, Contrast.WITHOUT): 7,
        (Guidance.MALIGNANCY, Modality.CT, Contrast.WITHOUT): 7,
        (Guidance.NEUROLOGIC_DEFICIT, Modality.MRI, Contrast.WITHOUT): 9,
        (Guidance.NEUROLOGIC_DEFICIT, Modality.MRI, Contrast.WITHOUT_AND_WITH): 7,
        (Guidance.NEUROLOGIC_DEFICIT, Modality.MRI, Contrast.WITH): 3,
        # Myelopathy V1 and Thoracic Back Pain V5 (S3); LBP V7's numbers are UNCONFIRMED.
        (Guidance.MYELOPATHY, Modality.MRI, Contrast.WITHOUT): 9,
        (Guidance.MYELOPATHY, Modality.MRI, Contrast.WITHOUT_AND_WITH): 9,
        (Guidance.INFECTION_THORACIC, Modality.MRI, Contrast.WITHOUT_AND_WITH): 9,
        (Guidance.INFECTION_THORACIC, Modality.MRI, Contrast.WITHOUT): 7,
    }


def test_red_flag_variants_prefer_mri(knowledge):
    assert knowledge.variants[Guidance.MALIGNANCY].preferred == (
        (Modality.MRI, Contrast.WITHOUT_AND_WITH),
    )
    assert knowledge.variants[Guidance.NEUROLOGIC_DEFICIT].preferred == (
        (Modality.MRI, Contrast.WITHOUT),
    )
    assert knowledge.variants[Guidance.INFECTION].preferred[0] == (
        Modality.MRI,
        Contrast.WITHOUT_AND_WITH,
    )


def test_every_summary_fits_a_cds_hooks_card_with_the_longest_labels(knowledge):
    wording = knowledge.wording
    longest = longest_study_label(wording)
    for text in wording.card_texts.values():
        summary = text.summary.format(
            ordered=longest, suggested=longest, category="Usually Not Appropriate"
        )
        assert len(summary) < 140, summary


def test_pitfalls_render_with_the_levels(knowledge):
    text = knowledge.wording.pitfalls["adjacent-level-fracture"].format(
        treated_levels="L2", adjacent_levels="L1 and L3"
    )
    assert text.startswith("Check L1 and L3, adjacent to the treated level(s) L2:")


def test_override_reasons_have_codes_and_words(knowledge):
    texts = knowledge.wording.card_texts
    codes = [reason.code for reason in texts[Topic.CONTRAST_NOT_INDICATED].override_reasons]
    assert codes[0] == "contrast-needed"
    displays = {r.display for text in texts.values() for r in text.override_reasons}
    assert "MRI contraindicated or not available" in displays


def test_a_wording_change_needs_no_python(tmp_path: Path):
    cards = copy_cards(tmp_path)
    path = cards / "card-texts.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("Usually Appropriate\n", "Usually appropriate\n", 1), "utf-8")
    wording = load_knowledge(cards).wording
    assert wording.category_labels[Category.USUALLY_APPROPRIATE] == "Usually appropriate"


@pytest.mark.parametrize("case", bad_cases(), ids=lambda case: case["name"])
def test_bad_knowledge_is_rejected_naming_file_and_field(tmp_path: Path, case: dict):
    cards = copy_cards(tmp_path)
    apply_case(cards, case)
    with pytest.raises(KnowledgeError) as raised:
        load_knowledge(cards)
    expected = case["error"] if isinstance(case["error"], list) else [case["error"]]
    for part in expected:
        assert part in str(raised.value)
    assert str(tmp_path) not in str(raised.value)  # never an absolute path of this machine
