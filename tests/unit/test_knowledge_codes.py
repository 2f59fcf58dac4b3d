"""Value-set matching and orderable codes of the real cards/: what counts, and what must not."""

from __future__ import annotations

import pytest

from cds_service.knowledge.loader import load_knowledge
from cds_service.knowledge.model import CodeEntry, Exclusion, ValueSet
from cds_service.vocabulary import Contrast, Modality, SpineRegion, Study
from tests.unit.knowledge_cases.support import CARDS

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
SCT = "http://snomed.info/sct"
CPT = "http://www.ama-assn.org/go/cpt"
LOINC = "http://loinc.org"
PCS = "http://www.cms.gov/Medicare/Coding/ICD10"


@pytest.fixture(scope="module")
def knowledge():
    return load_knowledge(CARDS)


@pytest.mark.parametrize(
    ("value_set", "system", "code", "region"),
    [
        ("prior_vcf", ICD, "M48.56XA", SpineRegion.LUMBAR),
        ("prior_vcf", ICD, "M48.54XS", SpineRegion.THORACIC),
        ("prior_vcf", ICD, "M48.55XA", None),  # thoracolumbar: no single region
        ("prior_vcf", ICD, "M80.08XA", None),
        ("prior_vcf", ICD, "M84.58XD", None),
        ("prior_vcf", ICD, "S22.080A", SpineRegion.THORACIC),  # wedge compression T11-T12
        ("prior_vcf", ICD, "S32.010A", SpineRegion.LUMBAR),
        ("prior_vcf", SCT, "42942008", None),
        ("prior_vcf", SCT, "203450003", SpineRegion.LUMBAR),
        ("vertebral_augmentation", CPT, "22514", SpineRegion.LUMBAR),
        ("vertebral_augmentation", CPT, "22513", SpineRegion.THORACIC),
        ("vertebral_augmentation", CPT, "22524", SpineRegion.LUMBAR),
        ("malignancy", ICD, "C79.51", None),
        ("malignancy", ICD, "C7A.010", None),
        ("malignancy", ICD, "Z85.3", None),
        ("malignancy", SCT, "94602001", None),
        ("malignancy", SCT, "254637007", None),  # Synthea non-small cell lung cancer
        ("malignancy", SCT, "254837009", None),  # breast cancer (VSAC expansion)
        ("malignancy", ICD, "M84.58XA", None),  # pathological fracture in neoplastic disease
        ("neurologic_deficit", ICD, "G95.20", None),
        ("neurologic_deficit", SCT, "764272007", SpineRegion.LUMBAR),
        ("infection", SCT, "203159006", SpineRegion.LUMBAR),  # acute osteomyelitis, lumbar
        ("infection", ICD, "G07", None),
        ("vertebral_augmentation", PCS, "0QU03JZ", SpineRegion.LUMBAR),
        ("prior_vcf", SCT, "11311441000119109", SpineRegion.LUMBAR),
        ("neurologic_deficit", ICD, "G83.4", None),
        ("neurologic_deficit", ICD, "G82.21", None),
        ("neurologic_deficit", SCT, "192970008", None),
        ("infection", ICD, "M46.26", SpineRegion.LUMBAR),
        ("infection", ICD, "G06.1", None),
        ("reason_region", ICD, "M54.50", SpineRegion.LUMBAR),
        ("reason_region", ICD, "M54.6", SpineRegion.THORACIC),
        ("reason_region", ICD, "M54.2", SpineRegion.CERVICAL),
        ("reason_region", SCT, "279039007", SpineRegion.LUMBAR),
        ("reason_region", SCT, "279038004", SpineRegion.THORACIC),
    ],
)
def test_codes_that_count(knowledge, value_set, system, code, region):
    entry = knowledge.value_sets[value_set].match(system, code)
    assert entry is not None
    assert entry.region == region


@pytest.mark.parametrize(
    ("value_set", "system", "code"),
    [
        # Synthea's hip and wrist fragility fractures: not vertebral.
        ("prior_vcf", SCT, "443165006"),
        ("prior_vcf", SCT, "64859006"),  # osteoporosis without fracture
        ("prior_vcf", SCT, "443395009"),  # "Compression fracture", not specifically vertebral
        ("prior_vcf", ICD, "M81.0"),
        ("prior_vcf", ICD, "Z87.310"),  # history of healed fragility fracture, any bone
        ("prior_vcf", ICD, "S22.081A"),  # stable burst fracture: trauma, not a VCF
        ("prior_vcf", ICD, "S32.009A"),  # unspecified lumbar fracture
        ("prior_vcf", ICD, "S12.000A"),  # cervical fracture
        ("prior_vcf", SCT, "M48.56XA"),  # right code, wrong system
        ("malignancy", SCT, "126906006"),  # neoplasm of prostate, behaviour unspecified
        ("malignancy", SCT, "92691004"),  # carcinoma in situ
        ("malignancy", SCT, "162573006"),  # suspected lung cancer
        ("malignancy", ICD, "D49.2"),
        ("malignancy", ICD, "C44.311"),  # basal cell carcinoma of skin of nose
        ("malignancy", ICD, "Z85.828"),
        ("malignancy", SCT, "254701007"),  # basal cell carcinoma of skin
        ("neurologic_deficit", SCT, "212221006"),  # L4 nerve root injury: radiculopathy-like
        ("neurologic_deficit", ICD, "M48.062"),  # neurogenic claudication
        # ACR does not count radiculopathy alone as a neurologic deficit.
        ("neurologic_deficit", ICD, "M54.16"),
        ("neurologic_deficit", SCT, "128196005"),
        ("neurologic_deficit", ICD, "R33.0"),  # drug-induced retention
        ("vertebral_augmentation", CPT, "72131"),
    ],
)
def test_codes_that_must_not_count(knowledge, value_set, system, code):
    assert knowledge.value_sets[value_set].match(system, code) is None


def test_radiculopathy_only_names_the_region_of_an_order_reason(knowledge):
    entry = knowledge.value_sets["reason_region"].match(ICD, "M54.16")
    assert entry is not None and entry.region is SpineRegion.LUMBAR


def test_exact_code_before_prefix_and_longest_prefix_first():
    family = CodeEntry(ICD, "Collapsed vertebra", prefix="M48.5")
    lumbar = CodeEntry(ICD, "lumbar", prefix="M48.56", region=SpineRegion.LUMBAR)
    exact = CodeEntry(ICD, "exact", code="M48.56XS", region=SpineRegion.THORACIC)
    value_set = ValueSet("t", "t", ("S8",), (family, lumbar, exact))
    assert value_set.match(ICD, "M48.56XA") is lumbar
    assert value_set.match(ICD, "M48.56XS") is exact
    assert value_set.match(ICD, "M48.52XA") is family
    assert value_set.match(ICD, "M48.4") is None
    assert value_set.match(None, "M48.56XA") is None


def test_a_range_takes_categories_between_its_ends_and_an_exclusion_wins():
    neoplasms = CodeEntry(ICD, "Malignant neoplasms", code_range=("C00", "C96"))
    history = CodeEntry(ICD, "History", prefix="Z85")
    skin = Exclusion(ICD, "BCC of skin of lip", "not a red flag", prefix="C44.01")
    other_skin = Exclusion(ICD, "History of other skin cancer", "not a red flag", code="Z85.828")
    value_set = ValueSet("t", "t", ("S8",), (neoplasms, history), (skin, other_skin))
    assert value_set.match(ICD, "C00.0") is neoplasms
    assert value_set.match(ICD, "C96.9") is neoplasms
    assert value_set.match(ICD, "C7A.010") is neoplasms  # sorts between C79 and C80
    assert value_set.match(ICD, "C7951") is neoplasms  # undotted
    assert value_set.match(ICD, "C97") is None
    assert value_set.match(ICD, "D00.0") is None
    assert value_set.match(ICD, "C") is None  # shorter than the range's ends
    assert value_set.match(ICD, "C44.01") is None
    assert value_set.match(ICD, "C4401") is None
    assert value_set.match(ICD, "C44.02") is neoplasms
    assert value_set.match(ICD, "Z85.828") is None
    assert value_set.match(ICD, "Z85.820") is history
    assert value_set.match(SCT, "C44.02") is None


def test_an_excluded_exact_code_never_matches():
    listed = CodeEntry(SCT, "Basal cell carcinoma of skin", code="254701007")
    value_set = ValueSet(
        "t", "t", ("S9",), (listed,), (Exclusion(SCT, "BCC", "skin", code="254701007"),)
    )
    assert value_set.match(SCT, "254701007") is None


@pytest.mark.parametrize(
    ("system", "code", "study"),
    [
        (CPT, "72131", Study(Modality.CT, Contrast.WITHOUT, frozenset({SpineRegion.LUMBAR}))),
        (
            CPT,
            "72157",
            Study(Modality.MRI, Contrast.WITHOUT_AND_WITH, frozenset({SpineRegion.THORACIC})),
        ),
        (CPT, "72020", Study(Modality.RADIOGRAPH, Contrast.NOT_APPLICABLE)),
        (CPT, "78306", Study(Modality.BONE_SCAN, Contrast.NOT_APPLICABLE, whole_body=True)),
        (CPT, "78815", Study(Modality.FDG_PET_CT, Contrast.NOT_APPLICABLE, whole_body=True)),
        (CPT, "78811", Study(Modality.FDG_PET_CT, Contrast.NOT_APPLICABLE)),
        (
            CPT,
            "62304",
            Study(Modality.CT_MYELOGRAPHY, Contrast.INTRATHECAL, frozenset({SpineRegion.LUMBAR})),
        ),
        (CPT, "77085", Study(Modality.DXA, Contrast.NOT_APPLICABLE)),
        (
            CPT,
            "22514",
            Study(
                Modality.VERTEBRAL_AUGMENTATION,
                Contrast.NOT_APPLICABLE,
                frozenset({SpineRegion.LUMBAR}),
            ),
        ),
        (
            LOINC,
            "24963-1",
            Study(Modality.CT, Contrast.UNSPECIFIED, frozenset({SpineRegion.LUMBAR})),
        ),
        (
            LOINC,
            "24965-6",
            Study(Modality.CT_MYELOGRAPHY, Contrast.INTRATHECAL, frozenset({SpineRegion.LUMBAR})),
        ),
        (LOINC, "30854-4", Study(Modality.MRI, Contrast.WITHOUT, frozenset(SpineRegion))),
        (
            SCT,
            "448641007",
            Study(
                Modality.MRI, Contrast.WITH, frozenset({SpineRegion.THORACIC, SpineRegion.LUMBAR})
            ),
        ),
        (SCT, "443271005", Study(Modality.FDG_PET_CT, Contrast.NOT_APPLICABLE, whole_body=True)),
    ],
)
def test_orderable_codes_name_the_study(knowledge, system, code, study):
    assert knowledge.orderables[(system, code)].study == study


def test_the_first_listed_code_of_a_study_is_cpt_then_loinc(knowledge):
    """The renderer codes a suggested study with the first CPT and LOINC listed for it."""
    lumbar_ct = Study(Modality.CT, Contrast.WITHOUT, frozenset({SpineRegion.LUMBAR}))
    first = {}
    for (system, code), orderable in knowledge.orderables.items():
        if orderable.study == lumbar_ct and system in (CPT, LOINC):
            first.setdefault(system, code)
    assert first == {CPT: "72131", LOINC: "30620-9"}


def test_no_cpt_descriptor_is_copied_as_display(knowledge):
    """CPT descriptors are AMA-licensed: our displays are short, in our own words."""
    for (system, _code), orderable in knowledge.orderables.items():
        if system == CPT:
            assert ";" not in orderable.display
            assert "contrast material" not in orderable.display


def test_icd10cm_without_the_dot_matches_like_the_dotted_code(knowledge):
    prior_vcf = knowledge.value_sets["prior_vcf"]
    icd = "http://hl7.org/fhir/sid/icd-10-cm"
    assert prior_vcf.match(icd, "M4856XA") == prior_vcf.match(icd, "M48.56XA") is not None
    assert knowledge.value_sets["malignancy"].match(icd, "Z853") is not None
    assert prior_vcf.match(icd, "M545") is None
