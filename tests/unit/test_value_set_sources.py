"""Every knowledge code walked through its official source.

- ICD-10-CM: the CDC tabular FY2026 shipped by PyPI `simple-icd-10-cm` (S8). Every listed
  code must exist with the tabular's description as display; every prefix and range endpoint
  must be a tabular category or code; ranges, prefixes and exclusions must take exactly the
  tabular codes the files say they take.
- SNOMED CT, LOINC, ICD-10-PCS: the vendored expansions in cards/value-sets/vsac/ and ips/
  (S9, S10). Every code must be in one of them with the same display (case-insensitive, a
  trailing semantic tag such as " (disorder)" ignored), and each vendored file must say where
  it was read.
- What has no free official source is listed in UNCHECKED, never skipped silently.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

with warnings.catch_warnings():
    # simple-icd-10-cm 1.5 reads its bundled XML with deprecated importlib.resources calls.
    warnings.simplefilter("ignore", DeprecationWarning)
    import simple_icd_10_cm as tabular

from cds_service.knowledge.loader import load_knowledge
from cds_service.vocabulary import SpineRegion
from tests.unit.knowledge_cases.support import CARDS

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
SCT = "http://snomed.info/sct"
CPT = "http://www.ama-assn.org/go/cpt"
LOINC = "http://loinc.org"
PCS = "http://www.cms.gov/Medicare/Coding/ICD10"
VALUE_SETS = CARDS / "value-sets"
VENDORED = sorted([*VALUE_SETS.glob("vsac/*.json"), *VALUE_SETS.glob("ips/*.json")])

# (file, system) pairs whose codes no vendored source checks, and why. The test below fails
# when the files hold codes of another unchecked pair, so this list stays the whole truth.
UNCHECKED = {
    ("value-sets", CPT): "CPT is AMA-licensed: no free official source of codes or descriptors",
    ("orderables", CPT): "CPT is AMA-licensed: no free official source of codes or descriptors",
    ("spine-body-site.yaml", SCT): (
        "body-structure concepts: the vendored sources hold findings, disorders and procedures, "
        "no body structures"
    ),
    ("orderables", SCT): (
        "imaging-procedure concepts from the Belgian eHealth value set (S11): "
        "not vendored yet, and in neither VSAC nor the IPS free set"
    ),
}

_SEMANTIC_TAG = re.compile(
    r" \((?:disorder|finding|situation|morphologic abnormality|procedure|body structure)\)$"
)


def _same_display(ours: str, theirs: str) -> bool:
    return _SEMANTIC_TAG.sub("", ours).casefold() == _SEMANTIC_TAG.sub("", theirs).casefold()


@pytest.fixture(scope="module")
def knowledge():
    return load_knowledge(CARDS)


def _value_set_files() -> list[Path]:
    return sorted(VALUE_SETS.glob("*.yaml"))


def _listed(path: Path) -> Iterator[tuple[str, str, dict]]:
    """(where, system, entry) of every hand-written entry and exclusion of a value-set file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for g, group in enumerate(data["codes"]):
        for e, entry in enumerate(group.get("entries") or ()):
            yield f"{path.name} codes.{g}.entries.{e}", group["system"], entry
    for g, group in enumerate(data.get("exclude") or ()):
        for e, entry in enumerate(group["entries"]):
            yield f"{path.name} exclude.{g}.entries.{e}", group["system"], entry


def _vendored() -> dict[Path, dict]:
    return {path: json.loads(path.read_text(encoding="utf-8")) for path in VENDORED}


def _vendored_codes() -> dict[tuple[str, str], set[str]]:
    """(system, code) -> the displays the vendored expansions give it."""
    codes: dict[tuple[str, str], set[str]] = {}
    for data in _vendored().values():
        for item in data["codes"]:
            codes.setdefault((item["system"], item["code"]), set()).add(item["display"])
    return codes


def _billable(code: str) -> list[str]:
    """The tabular's billable codes at or under `code` (dotted)."""
    if tabular.is_leaf(code):
        return [code]
    return [
        tabular.add_dot(c) if "." not in c else c
        for c in tabular.get_descendants(code)
        if tabular.is_leaf(c)
    ]


# --- ICD-10-CM against the tabular -------------------------------------------------------------


def _icd_entries() -> list[tuple[str, dict]]:
    return [
        (where, entry)
        for path in _value_set_files()
        for where, system, entry in _listed(path)
        if system == ICD
    ]


@pytest.mark.parametrize(("where", "entry"), _icd_entries(), ids=lambda x: str(x)[:60])
def test_every_icd10cm_code_prefix_and_range_is_in_the_tabular(where, entry):
    if "code" in entry:
        code = entry["code"]
        assert tabular.is_valid_item(code), f"{where}: {code} is not in the ICD-10-CM tabular"
        official = tabular.get_description(code)
        assert _same_display(entry["display"], official), (
            f"{where}: {code} display {entry['display']!r}; the tabular says {official!r}"
        )
    elif "prefix" in entry:
        prefix = entry["prefix"]
        assert tabular.is_valid_item(prefix) and not tabular.is_chapter_or_block(prefix), (
            f"{where}: prefix {prefix} is not a category or code of the tabular"
        )
        assert _billable(prefix), f"{where}: prefix {prefix} takes no billable code"
    else:
        for end in (entry["from"], entry["to"]):
            assert tabular.is_valid_item(end) and tabular.is_category(end), (
                f"{where}: range end {end} is not a category of the tabular"
            )


def _all_leaves() -> list[str]:
    return [c for c in tabular.get_all_codes(with_dots=True) if tabular.is_leaf(c)]


def test_malignancy_takes_every_c00_c96_code_but_skin_bcc_and_scc(knowledge):
    malignancy = knowledge.value_sets["malignancy"]
    neoplasms = [c for c in _all_leaves() if "C00" <= c[:3] <= "C96"]
    assert len(neoplasms) > 1000  # C7A/C7B included: they sort between C79 and C80
    assert any(c.startswith("C7A") for c in neoplasms) and any(
        c.startswith("C7B") for c in neoplasms
    )
    skin_bcc_scc = re.compile(r"^C44\.\d[12]")
    for code in neoplasms:
        taken = malignancy.match(ICD, code) is not None
        assert taken != bool(skin_bcc_scc.match(code)), code


def test_the_skin_exclusions_are_exactly_basal_and_squamous_cell_carcinoma():
    data = yaml.safe_load((VALUE_SETS / "malignancy.yaml").read_text(encoding="utf-8"))
    for group in data["exclude"]:
        if group["system"] != ICD:
            continue
        for entry in group["entries"]:
            for code in _billable(entry.get("prefix") or entry.get("code")):
                description = tabular.get_description(code)
                assert re.search(
                    r"basal cell|squamous cell|other malignant neoplasm of skin", description, re.I
                ), (code, description)


@pytest.mark.parametrize(
    ("code", "taken"),
    [
        ("C44.01", False),  # basal cell carcinoma of skin of lip
        ("C44.111", False),
        ("C44.92", False),
        ("C4401", False),  # undotted, as some EHRs send it
        ("Z85.828", False),  # history of other malignant neoplasm of skin
        ("C44.90", True),  # unspecified malignant neoplasm of skin: stays
        ("C44.131", True),  # sebaceous cell carcinoma of skin of eyelid: stays
        ("C43.9", True),  # melanoma
        ("C4A.9", True),  # Merkel cell carcinoma
        ("Z85.820", True),
        ("Z85.821", True),
        ("C7A.010", True),
        ("C7B.00", True),
        ("C79.51", True),
        ("C90.00", True),
        ("M84.58XA", True),  # pathological fracture in neoplastic disease, vertebrae
        ("M8458XA", True),
        ("M84.50XA", True),
        ("D49.2", False),
        ("D03.9", False),  # melanoma in situ
        ("C97", False),
    ],
)
def test_malignancy_codes(knowledge, code, taken):
    assert (knowledge.value_sets["malignancy"].match(ICD, code) is not None) is taken


def test_every_z85_and_m84_5_code_is_malignancy_but_z85_828(knowledge):
    malignancy = knowledge.value_sets["malignancy"]
    for code in _billable("Z85") + _billable("M84.5"):
        assert (malignancy.match(ICD, code) is not None) is (code != "Z85.828"), code


@pytest.mark.parametrize(
    ("value_set", "family", "region"),
    [
        ("prior_vcf", "M48.56", SpineRegion.LUMBAR),
        ("prior_vcf", "M48.54", SpineRegion.THORACIC),
        ("prior_vcf", "M48.55", None),
        ("prior_vcf", "M80.08", None),
        ("prior_vcf", "M80.88", None),
        ("prior_vcf", "M84.48", None),
        ("prior_vcf", "M84.58", None),
        ("prior_vcf", "M84.68", None),
        ("prior_vcf", "S22.080", SpineRegion.THORACIC),
        ("prior_vcf", "S32.050", SpineRegion.LUMBAR),
        ("infection", "M46.2", None),
        ("infection", "M46.3", None),
        ("infection", "M46.4", None),
        ("infection", "M46.5", None),
        ("neurologic_deficit", "G95.2", None),
        ("neurologic_deficit", "G82.2", None),
        ("neurologic_deficit", "G82.5", SpineRegion.CERVICAL),
        ("neurologic_deficit", "M50.02", SpineRegion.CERVICAL),
        ("neurologic_deficit", "M47.1", None),
        ("neurologic_deficit", "M51.0", None),
    ],
)
def test_each_family_takes_every_billable_code_under_it(knowledge, value_set, family, region):
    value_set_ = knowledge.value_sets[value_set]
    codes = _billable(family)
    assert codes
    for code in codes:
        entry = value_set_.match(ICD, code)
        assert entry is not None, f"{value_set} misses {code} {tabular.get_description(code)}"
        if region is not None:
            assert entry.region is region, code


def test_vsac_icd10cm_members_agree_with_our_ranges(knowledge):
    """ICD-10-CM members of the VSAC expansions our value sets include are taken by them too
    (where the tabular still has them), unless our file excludes them on purpose."""
    checks = {
        "all-primary-and-secondary-cancer.json": "malignancy",
        "malignant-bone-disease.json": "malignancy",
        "multiple-myeloma.json": "malignancy",
        "competing-conditions-respiratory-spinal-infection.json": "infection",
        "comorbid-conditions-respiratory-spinal-tuberculosis.json": "infection",
    }
    for name, value_set_id in checks.items():
        value_set = knowledge.value_sets[value_set_id]
        data = json.loads((VALUE_SETS / "vsac" / name).read_text(encoding="utf-8"))
        for item in data["codes"]:
            code = item["code"]
            if item["system"] != ICD or not tabular.is_valid_item(code):
                continue
            if value_set.is_excluded(ICD, code):
                continue
            assert value_set.match(ICD, code) is not None, (name, code, item["display"])


def test_vertebral_codes_of_osteoporosis_with_current_fracture_are_prior_vcfs(knowledge):
    prior_vcf = knowledge.value_sets["prior_vcf"]
    path = VALUE_SETS / "vsac" / "osteoporosis-with-current-fracture.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    vertebral = [
        item
        for item in data["codes"]
        if item["system"] == ICD and re.search(r"vertebra", item["display"], re.I)
    ]
    assert vertebral
    for item in vertebral:
        assert prior_vcf.match(ICD, item["code"]) is not None, item


# --- SNOMED CT, LOINC, ICD-10-PCS against the vendored expansions -----------------------------


def _checked_codes() -> Iterator[tuple[str, str, str, str]]:
    """(where, system, code, display) of every non-ICD-10-CM code a knowledge file lists."""
    for path in _value_set_files():
        for where, system, entry in _listed(path):
            if system != ICD and "code" in entry:
                yield where, system, entry["code"], entry["display"]
    orderables = yaml.safe_load((CARDS / "orderables.yaml").read_text(encoding="utf-8"))
    for g, group in enumerate(orderables["groups"]):
        for c, item in enumerate(group["codes"]):
            yield (
                f"orderables.yaml groups.{g}.codes.{c}",
                group["system"],
                item["code"],
                item["display"],
            )


def _kind(where: str) -> str:
    """How UNCHECKED names the file of `where`: its own name, else its kind."""
    name = where.split(" ")[0]
    if any(key == name for key, _system in UNCHECKED):
        return name
    return "orderables" if name == "orderables.yaml" else "value-sets"


def _unchecked(where: str, system: str) -> bool:
    return (_kind(where), system) in UNCHECKED


def test_every_other_code_is_in_a_vendored_expansion_with_its_display():
    vendored = _vendored_codes()
    problems = []
    for where, system, code, display in _checked_codes():
        if _unchecked(where, system):
            continue
        displays = vendored.get((system, code))
        if not displays:
            problems.append(f"{where}: {system}|{code} is in no vendored expansion")
        elif not any(_same_display(display, theirs) for theirs in displays):
            problems.append(f"{where}: {code} display {display!r}; the source says {displays}")
    assert not problems, "\n".join(problems)


def test_the_unchecked_systems_are_named_and_still_needed():
    """What no free official source checks is said here, and only what is really there."""
    present = {(_kind(where), system) for where, system, _code, _display in _checked_codes()}
    assert set(UNCHECKED) <= present, set(UNCHECKED) - present
    checked_systems = {system for (_kind, system) in present if (_kind, system) not in UNCHECKED}
    assert checked_systems <= {SCT, LOINC, PCS}


def test_expansion_members_keep_the_display_of_their_expansion(knowledge):
    vendored = _vendored_codes()
    for value_set in knowledge.value_sets.values():
        for entry in value_set.entries:
            displays = vendored.get((entry.system, entry.code or ""))
            if displays:  # hand-listed codes outside them: see the test above
                assert any(_same_display(entry.display, d) for d in displays), (
                    value_set.id,
                    entry,
                )


def test_skin_bcc_and_scc_concepts_are_not_malignancy(knowledge):
    malignancy = knowledge.value_sets["malignancy"]
    assert malignancy.match(SCT, "254701007") is None  # basal cell carcinoma of skin
    assert malignancy.match(SCT, "403892001") is None  # squamous cell carcinoma of skin of face
    assert malignancy.match(SCT, "93655004") is not None  # malignant melanoma of skin
    assert malignancy.match(SCT, "254634000") is not None  # squamous cell carcinoma of lung
    # Every concept of the expansion whose display names a basal cell carcinoma is out.
    data = json.loads(
        (VALUE_SETS / "vsac" / "all-primary-and-secondary-cancer.json").read_text("utf-8")
    )
    for item in data["codes"]:
        if item["system"] == SCT and "basal cell carcinoma" in item["display"].lower():
            assert malignancy.match(SCT, item["code"]) is None, item


def test_site_specific_cancers_are_malignancy(knowledge):
    malignancy = knowledge.value_sets["malignancy"]
    for code in ("254837009", "399068003", "363358000", "254637007", "109989006", "94222008"):
        # breast, prostate, lung, NSCLC, myeloma, bone metastasis
        assert malignancy.match(SCT, code) is not None, code


# --- provenance of the vendored files ---------------------------------------------------------


@pytest.mark.parametrize("path", VENDORED, ids=lambda p: p.name)
def test_each_vendored_expansion_says_where_it_was_read(path):
    data = json.loads(path.read_text(encoding="utf-8"))
    for key in ("url", "name", "version", "expansion", "selection"):
        assert isinstance(data.get(key), str) and data[key], (path.name, key)
    source = data["source"]
    assert source["repository"].startswith("https://github.com/"), path.name
    assert re.fullmatch(r"[0-9a-f]{40}", source["commit"]), path.name
    assert source["path"], path.name
    if path.parent.name == "vsac":
        assert re.fullmatch(r"[0-9]+(\.[0-9]+)+", data["oid"]), path.name
        assert data["url"] == f"http://cts.nlm.nih.gov/fhir/ValueSet/{data['oid']}", path.name
    codes = [(item["system"], item["code"]) for item in data["codes"]]
    assert codes and len(codes) == len(set(codes)), path.name
    assert not any(item["system"] == CPT for item in data["codes"]), (
        f"{path.name}: CPT descriptors are AMA-licensed; do not vendor them"
    )
