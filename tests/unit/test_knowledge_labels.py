"""Study labels: what the clinician reads in summaries, suggestions and new orders."""

from __future__ import annotations

from pathlib import Path

import pytest

from cds_service.knowledge.labels import contrasts_for, study_label
from cds_service.knowledge.loader import load_knowledge
from cds_service.vocabulary import Contrast, Modality, SpineRegion, Study
from tests.unit.knowledge_cases.support import CARDS, copy_cards

C, T, L = SpineRegion.CERVICAL, SpineRegion.THORACIC, SpineRegion.LUMBAR


@pytest.fixture(scope="module")
def wording():
    return load_knowledge(CARDS).wording


@pytest.mark.parametrize(
    ("study", "label"),
    [
        (
            Study(Modality.CT, Contrast.WITHOUT, frozenset({T})),
            "CT thoracic spine without IV contrast",
        ),
        (
            Study(Modality.MRI, Contrast.WITHOUT_AND_WITH, frozenset({L, T})),
            "MRI thoracic and lumbar spine without and with IV contrast",
        ),
        (
            Study(Modality.MRI, Contrast.WITHOUT, frozenset({L, C, T})),
            "MRI cervical, thoracic and lumbar spine without IV contrast",
        ),
        (
            Study(Modality.BONE_SCAN, Contrast.NOT_APPLICABLE, whole_body=True),
            "Bone scan whole body",
        ),
        (
            Study(Modality.CT, Contrast.WITHOUT),
            "CT spine (region not specified) without IV contrast",
        ),
        (
            Study(Modality.CT, Contrast.UNSPECIFIED, frozenset({L})),
            "CT lumbar spine (contrast not specified)",
        ),
        (
            Study(Modality.CT_MYELOGRAPHY, Contrast.INTRATHECAL, frozenset({L})),
            "CT myelography lumbar spine",
        ),
        (
            Study(Modality.RADIOGRAPH, Contrast.NOT_APPLICABLE, frozenset({T})),
            "Radiography thoracic spine",
        ),
        (
            Study(Modality.FDG_PET_CT, Contrast.NOT_APPLICABLE, whole_body=True),
            "FDG-PET/CT whole body",
        ),
        (Study(Modality.DXA, Contrast.NOT_APPLICABLE), "DXA"),
        (
            Study(Modality.VERTEBRAL_AUGMENTATION, Contrast.NOT_APPLICABLE, frozenset({L})),
            "Vertebral augmentation lumbar spine",
        ),
    ],
)
def test_study_label(wording, study, label):
    assert study_label(study, wording) == label


def test_labels_come_from_the_cards(tmp_path: Path):
    cards = copy_cards(tmp_path)
    path = cards / "card-texts.yaml"
    text = path.read_text(encoding="utf-8").replace(
        "without: without IV contrast", "without: non-contrast"
    )
    path.write_text(text, encoding="utf-8")
    wording = load_knowledge(cards).wording
    study = Study(Modality.CT, Contrast.WITHOUT, frozenset({L}))
    assert study_label(study, wording) == "CT lumbar spine non-contrast"


def test_only_ct_and_mri_take_iv_contrast():
    assert Contrast.WITH in contrasts_for(Modality.MRI)
    assert contrasts_for(Modality.CT_MYELOGRAPHY) == (Contrast.INTRATHECAL,)
    assert contrasts_for(Modality.BONE_SCAN) == (Contrast.NOT_APPLICABLE,)
