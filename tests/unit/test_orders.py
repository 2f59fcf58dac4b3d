"""How a draft order is read: coded (CPT, LOINC, SNOMED CT) or from its words."""

from __future__ import annotations

import pytest
from fhir.resources.R4B.servicerequest import ServiceRequest

from cds_service.vocabulary import Contrast, Modality, SpineRegion, Study

from .conftest import CPT, ICD10, LOCAL, LOINC, LOW_BACK_PAIN, SNOMED, concept, order

LUMBAR = frozenset({SpineRegion.LUMBAR})
THORACIC = frozenset({SpineRegion.THORACIC})


def test_a_cpt_coded_order_is_classified_from_its_code(classify):
    draft = order(
        "72131",
        CPT,
        "CT lumbar spine without contrast",
        text="CT lumbar spine without contrast",
        id="ct-l-wo",
    )

    classified = classify(draft)

    assert classified.study == Study(Modality.CT, Contrast.WITHOUT, LUMBAR)
    assert classified.classified_from == "code"
    assert classified.reference == "ServiceRequest/ct-l-wo"
    assert classified.display == "CT lumbar spine without contrast"
    assert classified.authored_on == "2026-11-20"


@pytest.mark.parametrize(
    ("code", "system", "study"),
    [
        ("36532-0", LOINC, Study(Modality.MRI, Contrast.WITHOUT, THORACIC)),
        ("24967-2", LOINC, Study(Modality.MRI, Contrast.WITHOUT_AND_WITH, LUMBAR)),
        ("24963-1", LOINC, Study(Modality.CT, Contrast.UNSPECIFIED, LUMBAR)),
        ("72129", CPT, Study(Modality.CT, Contrast.WITH, THORACIC)),
        ("72020", CPT, Study(Modality.RADIOGRAPH, Contrast.NOT_APPLICABLE)),
        ("78306", CPT, Study(Modality.BONE_SCAN, Contrast.NOT_APPLICABLE, whole_body=True)),
        ("78815", CPT, Study(Modality.FDG_PET_CT, Contrast.NOT_APPLICABLE, whole_body=True)),
        ("77080", CPT, Study(Modality.DXA, Contrast.NOT_APPLICABLE)),
    ],
)
def test_cpt_and_loinc_codes_name_modality_contrast_and_region(classify, code, system, study):
    assert classify(order(code, system)).study == study


def test_a_snomed_coded_order_is_classified_from_its_code(classify, knowledge):
    code = next(code for system, code in knowledge.orderables if system == SNOMED)

    classified = classify(order(code, SNOMED))

    assert classified.classified_from == "code"
    assert classified.study == knowledge.orderables[(SNOMED, code)].study


def test_the_display_falls_back_to_the_coding_display_then_the_code(classify):
    assert classify(order("72131", display="CT L-spine wo")).display == "CT L-spine wo"
    assert classify(order("72131")).display == "72131"


@pytest.mark.parametrize(
    ("words", "study"),
    [
        ("CT L-spine w/ contrast", Study(Modality.CT, Contrast.WITH, LUMBAR)),
        ("MRI T-spine wo", Study(Modality.MRI, Contrast.WITHOUT, THORACIC)),
        (
            "MRI C-spine w/wo",
            Study(Modality.MRI, Contrast.WITHOUT_AND_WITH, frozenset({SpineRegion.CERVICAL})),
        ),
        ("CT lumbar spine", Study(Modality.CT, Contrast.UNSPECIFIED, LUMBAR)),
        ("XR lumbar spine 2 views", Study(Modality.RADIOGRAPH, Contrast.NOT_APPLICABLE, LUMBAR)),
        ("CT myelogram lumbar", Study(Modality.CT_MYELOGRAPHY, Contrast.INTRATHECAL, LUMBAR)),
    ],
)
def test_an_order_with_only_a_local_code_is_read_from_its_words(classify, words, study):
    classified = classify(order("IMG1234", LOCAL, words.upper(), text=words))

    assert classified.study == study
    assert classified.classified_from == "text"


def test_a_whole_body_bone_scan_in_words_is_in_scope(classify):
    study = classify(order(text="NM bone scan whole body")).study

    assert study is not None
    assert study.modality is Modality.BONE_SCAN
    assert study.whole_body


def test_a_kyphoplasty_in_words_takes_its_region_from_the_level(classify):
    study = classify(order(text="Kyphoplasty L1")).study

    assert study == Study(Modality.VERTEBRAL_AUGMENTATION, Contrast.NOT_APPLICABLE, LUMBAR)


def test_the_words_of_a_coding_display_are_used_when_there_is_no_text(classify):
    study = classify(order("IMG1234", LOCAL, "MRI T-spine wo")).study

    assert study == Study(Modality.MRI, Contrast.WITHOUT, THORACIC)


@pytest.mark.parametrize(
    "draft",
    [
        order(text="CT chest"),
        order("71250", CPT, "CT thorax without contrast", text="CT chest without contrast"),
        order("73502", CPT, "Radiologic examination, hip, unilateral; 2-3 views"),
        order("IMG99", LOCAL, "MRI brain without contrast"),
        order(text="CT"),
    ],
    ids=["ct-chest-text", "ct-chest-cpt", "hip-radiograph-cpt", "mri-brain-local", "no-body-part"],
)
def test_imaging_of_another_body_part_is_out_of_scope(classify, draft):
    assert classify(draft).study is None


def test_an_order_without_a_code_is_out_of_scope(classify):
    classified = classify(order(None, id="no-code"))

    assert classified.study is None
    assert classified.display == ""
    assert classified.reference == "ServiceRequest/no-code"


def test_a_medication_like_order_is_out_of_scope(classify):
    alendronate = order(text="alendronate 70 mg weekly")
    physiotherapy = order("91251008", SNOMED, "Physical therapy procedure")

    assert classify(alendronate).study is None
    assert classify(physiotherapy).study is None


def test_a_do_not_perform_order_is_not_rated(classify):
    assert classify(order("72131", doNotPerform=True)).study is None


def test_a_region_less_code_takes_its_region_from_body_site(classify):
    draft = order("36067-7", LOINC, "MR Spine", bodySite=[{"text": "Lumbar spine"}])

    assert classify(draft).study.regions == LUMBAR


# -- the region the order's reason names ---------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "regions"),
    [
        (LOW_BACK_PAIN, LUMBAR),
        (concept("279038004", SNOMED, "Thoracic back pain"), THORACIC),
        (concept("M54.6", ICD10, "Pain in thoracic spine"), THORACIC),
        (concept("M54.2", ICD10, "Cervicalgia"), frozenset({SpineRegion.CERVICAL})),
        ({"text": "low back pain since a fall"}, LUMBAR),
        ({"text": "new mid-back pain"}, THORACIC),
        ({"text": "neck pain"}, frozenset({SpineRegion.CERVICAL})),
        ({"text": "cervicalgia"}, frozenset({SpineRegion.CERVICAL})),
        ({"text": "fall"}, frozenset()),
        # A region the reason says is not painful is not where the problem is.
        ({"text": "New focal low back pain, hx L4 VCF; no neck or mid-back pain"}, LUMBAR),
        ({"text": "thoracic back pain, denies neck pain"}, THORACIC),
        ({"text": "no low back pain"}, frozenset()),
    ],
)
def test_the_reason_names_a_region(classify, reason, regions):
    draft = order("78306", CPT, "Bone scan whole body", reason=reason)

    assert classify(draft).reason_regions == regions


def test_no_reason_no_reason_region(classify):
    assert classify(order("78306")).reason_regions == frozenset()


def test_odd_dates_and_missing_elements_do_not_raise(classify):
    odd = ServiceRequest.model_construct(
        resourceType="ServiceRequest",
        id="odd",
        status="draft",
        intent="order",
        code=None,
        authoredOn="yesterday",
    )

    classified = classify(odd)

    assert classified.study is None
    assert classified.authored_on == "yesterday"


# -- several regions in letters; words that are not a spine region (issue 14 §5) -------------

CERVICAL = frozenset({SpineRegion.CERVICAL})
ALL_REGIONS = frozenset(SpineRegion)


@pytest.mark.parametrize(
    ("words", "regions"),
    [
        ("MRI C/T/L spine wo", ALL_REGIONS),
        ("MRI C-T-L w/wo", ALL_REGIONS),
        ("MRI CTL spine", ALL_REGIONS),
        ("MRI T-L spine", THORACIC | LUMBAR),
        ("XR T/L", THORACIC | LUMBAR),
        ("MRI TL spine wo", THORACIC | LUMBAR),
        ("CT thoracolumbar spine", THORACIC | LUMBAR),
        ("MRI L/S spine", LUMBAR),
        ("MRI cervicothoracic spine", CERVICAL | THORACIC),
        ("MRI L-spine, hx cervical cancer", LUMBAR),
        ("CT L-spine w/o, h/o cervical ca", LUMBAR),
        ("MRI T-spine, thoracic aorta stent", THORACIC),
    ],
)
def test_the_words_name_every_region(classify, words, regions):
    study = classify(order("IMG1234", LOCAL, text=words)).study

    assert study is not None
    assert study.regions == regions


@pytest.mark.parametrize(
    "words",
    ["CT for hx cervical cancer", "MRI cervix", "CT thoracic aorta", "MRI pelvis, cervical ca"],
)
def test_cervical_cancer_and_the_thoracic_aorta_are_not_spine_studies(classify, words):
    assert classify(order("IMG1234", LOCAL, text=words)).study is None


def test_a_ct_spine_is_not_read_as_cervical_and_thoracic(classify):
    study = classify(order("IMG1234", LOCAL, text="CT spine")).study

    assert study == Study(Modality.CT, Contrast.UNSPECIFIED)


@pytest.mark.parametrize(
    ("words", "study"),
    [
        (
            "CT L-spine for cauda equina",
            Study(Modality.CT, Contrast.UNSPECIFIED, LUMBAR),
        ),
        (
            "MRI T-spine w/wo r/o epidural abscess",
            Study(Modality.MRI, Contrast.WITHOUT_AND_WITH, THORACIC),
        ),
        ("MRI r/o cord compression", Study(Modality.MRI, Contrast.UNSPECIFIED)),
        (
            "MRI L-spine for back pain without neuro deficit",
            Study(Modality.MRI, Contrast.UNSPECIFIED, LUMBAR),
        ),
    ],
)
def test_red_flag_words_on_the_order_do_not_change_its_study(classify, words, study):
    assert classify(order("IMG1234", LOCAL, text=words)).study == study


@pytest.mark.parametrize(
    ("reason", "regions"),
    [
        ({"text": "hx cervical cancer"}, frozenset()),
        ({"text": "thoracic aortic aneurysm"}, frozenset()),
        ({"text": "femoral neck fracture"}, frozenset()),
        ({"text": "low back pain, hx cervical ca"}, LUMBAR),
    ],
)
def test_words_of_other_body_parts_in_the_reason_name_no_region(classify, reason, regions):
    draft = order("78306", CPT, "Bone scan whole body", reason=reason)

    assert classify(draft).reason_regions == regions
