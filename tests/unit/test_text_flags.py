"""Red flags written in words (decision/text_flags.py, cards/text-patterns.yaml `red_flags`):
what real orders and problem lists say, as they say it."""

from __future__ import annotations

import time

import pytest
import yaml

from cds_service.decision.text_flags import MAX_PHRASE, TextFlag, red_flags_in_text
from cds_service.knowledge.schema_codes import TextPatternsSchema
from cds_service.vocabulary import FindingKind, SpineRegion
from tests.unit.knowledge_cases.support import CARDS

MALIGNANCY = FindingKind.MALIGNANCY
DEFICIT = FindingKind.NEUROLOGIC_DEFICIT
INFECTION = FindingKind.INFECTION
C, T, L = SpineRegion.CERVICAL, SpineRegion.THORACIC, SpineRegion.LUMBAR


@pytest.fixture(scope="module")
def patterns():
    # The text patterns alone, as the loader reads them (independent of the other files).
    data = yaml.safe_load((CARDS / "text-patterns.yaml").read_text(encoding="utf-8"))
    return TextPatternsSchema().load(data)


def flags(text, patterns):
    return red_flags_in_text(text, patterns)


def kinds(text, patterns):
    return [flag.kind for flag in flags(text, patterns)]


def only(text, patterns) -> TextFlag:
    found = flags(text, patterns)
    assert len(found) == 1, found
    return found[0]


# -- the examples of issue 14 ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "phrase", "suspected", "severe", "regions"),
    [
        ("CT L-spine for cauda equina", DEFICIT, "cauda equina", False, True, {L}),
        (
            "MRI T-spine w/wo r/o epidural abscess",
            INFECTION,
            "epidural abscess",
            True,
            False,
            {T},
        ),
        ("?cord compression", DEFICIT, "cord compression", True, True, set()),
        ("hx breast ca", MALIGNANCY, "breast ca", False, False, set()),
        (
            "known metastatic prostate cancer",
            MALIGNANCY,
            "metastatic prostate cancer",
            False,
            False,
            set(),
        ),
        ("urinary retention", DEFICIT, "urinary retention", False, False, set()),
        ("Cauda equina syndrome", DEFICIT, "Cauda equina syndrome", False, True, set()),
        ("Numbness of saddle area", DEFICIT, "Numbness of saddle", False, True, set()),
        ("MSCC", DEFICIT, "MSCC", False, True, set()),
        ("Conus medullaris syndrome", DEFICIT, "Conus medullaris", False, True, set()),
        ("cervical myelopathy", DEFICIT, "myelopathy", False, False, {C}),
        ("T-spine abscess", INFECTION, "abscess", False, False, {T}),
        ("L4-5 discitis", INFECTION, "discitis", False, False, {L}),
        ("Multiple myeloma", MALIGNANCY, "Multiple myeloma", False, False, set()),
    ],
)
def test_a_red_flag_in_words(patterns, text, kind, phrase, suspected, severe, regions):
    assert only(text, patterns) == TextFlag(kind, phrase, suspected, severe, frozenset(regions))


def test_each_clause_gives_its_own_flag(patterns):
    found = flags("new leg weakness, saddle anaesthesia", patterns)

    assert [(f.phrase, f.severe) for f in found] == [
        ("leg weakness", False),
        ("saddle anaesthesia", True),
    ]


def test_fever_and_drug_use_are_reasons_to_suspect_infection(patterns):
    found = flags("fever, IVDU, back pain", patterns)

    assert [(f.kind, f.phrase, f.suspected) for f in found] == [
        (INFECTION, "fever", True),
        (INFECTION, "IVDU", True),
    ]


# -- malignancy --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Hx of CA prostate",
        "Ca breast s/p mastectomy 2019",
        "Carcinoma of lung",
        "Malignant neoplasm of prostate",
        "Secondary malignant neoplasm of bone",
        "bone mets",
        "Metastasis to vertebral column",
        "Non-Hodgkin lymphoma",
        "CLL - chronic lymphocytic leukaemia",
        "Acute myeloid leukemia",
        "Ewing sarcoma",
        "osteosarcoma",
        "Malignant melanoma of skin of back",
        "Plasmacytoma of vertebra",
        "Pathological fracture in neoplastic disease, vertebrae",
        "on chemotherapy",
        "Adenocarcinoma of colon",
        "Squamous cell carcinoma of lung",
        "Cervical cancer, stage II",
    ],
)
def test_malignancy_in_words(patterns, text):
    assert kinds(text, patterns) == [MALIGNANCY]


@pytest.mark.parametrize(
    "text",
    [
        "?pathologic fracture",
        "lytic lesion L3",
        "r/o mets",
        "spinal tumour",
        "unexplained weight loss",
        "mets vs osteoporotic fracture",
        "query myeloma",
        "Suspected lung cancer",
        "concern for malignancy",
        "eval for metastatic disease",
        "possible lymphoma",
        "compression fracture vs pathologic fracture",
    ],
)
def test_suspected_malignancy(patterns, text):
    flag = only(text, patterns)
    assert (flag.kind, flag.suspected) == (MALIGNANCY, True)


@pytest.mark.parametrize(
    "text",
    [
        "Basal cell carcinoma of skin of nose",
        "BCC left cheek",
        "hx basal cell ca",
        "Squamous cell carcinoma of skin of face",
        "cutaneous SCC",
        "Skin cancer (non-melanoma)",
        "non-melanoma skin cancer",
        "Other and unspecified malignant neoplasm of skin of nose",
        "cervical cancer screening",
        "Encounter for screening for malignant neoplasm of colon",
        "Colon cancer screening",
        "Family history of cancer",
        "FHx breast ca",
        "mother had breast cancer",
        "breast ca in mother",
        "no history of cancer",
        "No known malignancy",
        "negative for malignancy",
        "Ductal carcinoma in situ of breast",
        "Malignant essential hypertension",
        "Neuroleptic malignant syndrome",
        "Age-related osteoporosis with current pathological fracture, vertebra(e)",
        "Benign neoplasm of colon",
        "Neoplasm of prostate",
        "anti-tumor necrosis factor therapy",
        "Ca 9.8",
        "serum Ca low",
        "Ca + vit D daily",
        "calcium carbonate",
        "Ca++ channel blocker",
    ],
)
def test_not_a_malignancy(patterns, text):
    assert flags(text, patterns) == ()


def test_a_melanoma_is_a_malignancy_but_a_non_melanoma_skin_cancer_is_not(patterns):
    assert kinds("Melanoma of skin", patterns) == [MALIGNANCY]
    assert kinds("NMSC", patterns) == []


# -- neurologic deficit ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "severe"),
    [
        ("CES", True),
        ("suspected cauda equina syndrome", True),
        ("saddle anesthesia", True),
        ("perineal numbness", True),
        ("Spinal cord compression", True),
        ("compression of the spinal cord", True),
        ("conus medullaris syndrome", True),
        ("Cauda equina syndrome with neurogenic bladder", True),
        ("myelopathy", False),
        # Weakness of both legs or all four limbs: a cord emergency when new (second review).
        ("Paraplegia", True),
        ("paraparesis", True),
        ("quadriparesis", True),
        ("new leg weakness", False),
        ("BLE weakness", False),
        ("weakness of both lower limbs", False),
        ("L foot drop", False),
        ("bowel or bladder dysfunction", False),
        ("b/b incontinence", False),
        ("urinary retention", False),
        ("Retention of urine", False),
        ("Incontinence of feces", False),
        ("fecal incontinence", False),
        ("neuro deficit", False),
        ("focal neurologic deficit", False),
        ("Neurological deficit", False),
        ("loss of bladder control", False),
        ("decreased rectal tone", False),
    ],
)
def test_a_neurologic_deficit_in_words(patterns, text, severe):
    flag = only(text, patterns)
    assert (flag.kind, flag.severe) == (DEFICIT, severe)


@pytest.mark.parametrize(
    "text",
    [
        "L5 radiculopathy",
        "Radiculopathy, lumbar region",
        "sciatica",
        "left-sided sciatica with numbness in foot",
        "CT myelography",
        "Myelogram lumbar",
        "no neuro deficit",
        "neuro intact",
        "Neurologically intact",
        "denies bowel/bladder",
        "bowel and bladder function normal",
        "no saddle anaesthesia",
        "Cauda equina ruled out",
        "cord compression excluded on MRI",
        "Stress incontinence",
        "urge incontinence",
        "Hemiplegia",
        "without cauda equina symptoms",
    ],
)
def test_not_a_neurologic_deficit(patterns, text):
    assert flags(text, patterns) == ()


def test_a_list_after_a_negation_is_negated(patterns):
    text = "denies fever, saddle anesthesia, bowel/bladder incontinence"

    assert flags(text, patterns) == ()


def test_but_ends_the_negation(patterns):
    flag = only("Patient denies saddle anaesthesia but has new foot drop", patterns)

    assert (flag.kind, flag.phrase) == (DEFICIT, "foot drop")


def test_no_contrast_is_not_a_negation(patterns):
    for text in (
        "MRI T-spine without contrast for cord compression",
        "MRI L spine, no contrast, cauda equina",
        "CT L-spine w/o contrast r/o cauda equina",
    ):
        assert kinds(text, patterns) == [DEFICIT], text


# -- infection ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "suspected"),
    [
        ("Spinal epidural abscess", False),
        ("Intraspinal abscess and granuloma", False),
        ("Osteomyelitis of vertebra, lumbar region", False),
        ("vertebral osteomyelitis", False),
        ("Discitis, unspecified, thoracic region", False),
        ("spondylodiscitis", False),
        ("pyogenic spondylitis", False),
        ("Infection of intervertebral disc (pyogenic), lumbar region", False),
        ("spinal infection", False),
        ("Tuberculosis of spine", False),
        ("Pott's disease", False),
        ("psoas abscess", False),
        ("r/o abscess", True),
        ("sepsis", True),
        ("MRSA bacteremia", True),
        ("IV drug use", True),
        ("PWID", True),
        ("fevers", True),
        ("febrile", True),
        ("immunosuppressed on tacrolimus", True),
        ("Immunocompromised state", True),
        ("HIV", True),
        ("cannot rule out discitis", True),
        ("discitis?", True),
        ("discitis vs modic changes", True),
    ],
)
def test_an_infection_in_words(patterns, text, suspected):
    flag = only(text, patterns)
    assert (flag.kind, flag.suspected) == (INFECTION, suspected)


@pytest.mark.parametrize(
    "text",
    [
        "Diabetic foot osteomyelitis",
        "Osteomyelitis of left foot",
        "Acute osteomyelitis of ankle and/or foot",
        "Dental abscess",
        "Abscess of skin of back",
        "Perianal abscess",
        "Hay fever",
        "Rheumatic fever",
        "afebrile",
        "no fever",
        "HIV negative",
        "HIV screening",
        "Ankylosing spondylitis",
        "abscess ruled out",
    ],
)
def test_not_an_infection(patterns, text):
    assert flags(text, patterns) == ()


# -- cues, clauses, regions, phrases ------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "R/O cauda equina",
        "rule out cauda equina",
        "? cauda equina",
        "query cauda equina",
        "suspected cauda equina",
        "suspicion of cauda equina",
        "concern for cauda equina",
        "eval for cauda equina",
        "evaluate for cauda equina",
        "possible cauda equina",
        "cauda equina?",
        "cauda equina not excluded",
    ],
)
def test_suspicion_cues(patterns, text):
    flag = only(text, patterns)
    assert (flag.kind, flag.suspected, flag.severe) == (DEFICIT, True, True)


@pytest.mark.parametrize(
    "text",
    [
        "no cauda equina",
        "not cauda equina",
        "denies cauda equina symptoms",
        "negative for cauda equina",
        "cauda equina has been ruled out",
        "ruled out cauda equina",
        "without cauda equina",
        "No evidence of cauda equina",
    ],
)
def test_negation_cues(patterns, text):
    assert flags(text, patterns) == ()


def test_rule_out_is_suspicion_and_ruled_out_is_negation(patterns):
    assert only("r/o cord compression", patterns).suspected
    assert flags("cord compression ruled out", patterns) == ()


def test_a_stated_history_ends_an_earlier_suspicion(patterns):
    flag = only("r/o fracture in pt with known myeloma", patterns)

    assert (flag.kind, flag.suspected) == (MALIGNANCY, False)


def test_a_negation_reaches_only_a_few_words(patterns):
    text = "no trauma reported by the patient today who has multiple myeloma"

    assert kinds(text, patterns) == [MALIGNANCY]


def test_capitals_and_punctuation(patterns):
    text = "MRI L-SPINE W/WO. HX BREAST CA; ?CORD COMPRESSION. FEVER + IVDU"

    assert [(f.kind, f.suspected) for f in flags(text, patterns)] == [
        (MALIGNANCY, False),
        (DEFICIT, True),
        (INFECTION, True),
    ]


def test_several_kinds_in_one_text_in_text_order(patterns):
    text = "Known metastatic breast ca, new leg weakness; r/o epidural abscess"

    assert kinds(text, patterns) == [MALIGNANCY, DEFICIT, INFECTION]


def test_the_same_flag_twice_is_reported_once(patterns):
    assert len(flags("cauda equina; cauda equina", patterns)) == 1


def test_cervical_cancer_is_not_a_cervical_region(patterns):
    flag = only("MRI L-spine, hx cervical cancer", patterns)

    assert (flag.kind, flag.regions) == (MALIGNANCY, frozenset())


def test_a_region_clause_after_the_flag_gives_its_region(patterns):
    assert only("Discitis, unspecified, thoracolumbar region", patterns).regions == {T, L}
    assert only("Osteomyelitis of vertebra, cervical region", patterns).regions == {C}


def test_a_region_in_another_clause_is_not_the_flags(patterns):
    flag = only("neck pain, urinary retention", patterns)

    assert flag.regions == frozenset()


def test_levels_name_the_region(patterns):
    assert only("T12 pathologic fracture?", patterns).regions == {T}
    assert only("cord compression at C5-6", patterns).regions == {C}


def test_the_phrase_is_trimmed_and_short(patterns):
    text = "cauda equina " + "with " * 40 + "urinary retention"

    flag = only(text, patterns)
    assert flag.phrase == "cauda equina"
    assert len(only("x" * 200 + " cauda equina", patterns).phrase) <= MAX_PHRASE


def test_empty_and_odd_texts(patterns):
    for text in ("", " ", "???", "...", ";;;", "\n"):
        assert flags(text, patterns) == ()


# -- cost --------------------------------------------------------------------------------------

TYPICAL_DISPLAYS = (
    "Hypertension",
    "Prediabetes",
    "Acute bronchitis (disorder)",
    "Essential hypertension (disorder)",
    "Hyperlipidemia",
    "Body mass index 30+ - obesity (finding)",
    "Viral sinusitis (disorder)",
    "Osteoarthritis of knee",
    "Chronic low back pain",
    "Anemia (disorder)",
    "Type 2 diabetes mellitus",
    "Acute viral pharyngitis (disorder)",
    "Sprain of ankle",
    "Chronic pain",
    "Otitis media",
    "Gingivitis (disorder)",
    "Medication review due (situation)",
    "Full-time employment (finding)",
    "Stress (finding)",
    "Received higher education (finding)",
)


def test_typical_displays_name_no_red_flag(patterns):
    assert all(flags(text, patterns) == () for text in TYPICAL_DISPLAYS)


def test_cost_of_500_typical_displays(patterns, capsys):
    """Benchmark-style printout, no time assertion: 500 Condition displays no code matched."""
    displays = [
        f"{TYPICAL_DISPLAYS[i % len(TYPICAL_DISPLAYS)]}{'' if i < 20 else f' ({i})'}"
        for i in range(500)
    ]
    best = float("inf")
    for _ in range(20):
        started = time.perf_counter()
        found = [red_flags_in_text(text, patterns) for text in displays]
        best = min(best, time.perf_counter() - started)
    assert not any(found)
    with capsys.disabled():
        print(f"\nred_flags_in_text: 500 typical displays in {best * 1e3:.3f} ms (best of 20)")
