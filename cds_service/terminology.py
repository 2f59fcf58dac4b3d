"""The service's value sets as FHIR R4B resources, for terminology teams (issue 16).

`value_set` states what `cards/value-sets/` holds (each code system, the codes, prefixes and
ranges, the exclusions, with their provenance); `expand` lists the codes the decision core
really matches: every listed code, and every ICD-10-CM code of the FY2026 tabular (S8, the
package simple-icd-10-cm) that falls under a prefix or range, less the exclusions, each
checked with `ValueSet.match`, the core's own matcher. No Flask here: `web/terminology.py`
serves these, `knowledge_cli.py` exports them.
"""

from __future__ import annotations

import functools
import importlib
import itertools
import re
import uuid
import warnings
from collections.abc import Iterable
from datetime import UTC, datetime

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.valueset import ValueSet as FhirValueSet

from cds_service.knowledge.model import ICD10CM, CodeEntry, Knowledge, ValueSet

FHIR_JSON = "application/fhir+json"
PUBLISHER = "vcf-imaging-cds"
# The ICD-10-CM tabular the knowledge was checked against (manifest.yaml S8).
ICD10CM_VERSION = "2026"
_CODE_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def fhir_id(value_set: ValueSet) -> str:
    """A FHIR id ([A-Za-z0-9-.]): the value set's file name ("prior-vcf")."""
    return value_set.id.replace("_", "-")


def find(knowledge: Knowledge, resource_id: str) -> ValueSet | None:
    return next((vs for vs in knowledge.value_sets.values() if fhir_id(vs) == resource_id), None)


def canonical_url(knowledge: Knowledge, value_set: ValueSet) -> str:
    return f"{knowledge.system_base}/ValueSet/{fhir_id(value_set)}"


def provenance_url(knowledge: Knowledge) -> str:
    return f"{knowledge.system_base}/StructureDefinition/provenance"


def value_set(knowledge: Knowledge, vs: ValueSet) -> FhirValueSet:
    """The value set's definition: one `include` per code system and provenance, listed
    codes as concepts, prefixes and ranges as `regex` filters on the code; exclusions with
    their reason."""
    return FhirValueSet.model_validate(
        {**_header(knowledge, vs), "compose": _compose(knowledge, vs)}
    )


def expand(knowledge: Knowledge, vs: ValueSet, now: datetime | None = None) -> FhirValueSet:
    """The expansion the service matches against (ValueSet/$expand)."""
    codes = expanded_codes(vs)
    contains = [
        {"system": system, "code": code, "display": display} for system, code, display in codes
    ]
    identity = f"{canonical_url(knowledge, vs)}|{knowledge.version}"
    expansion: dict = {
        # The same knowledge gives the same expansion, so the same identifier.
        "identifier": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, identity)}",
        "timestamp": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "total": len(contains),
        "contains": contains,
    }
    if any(system == ICD10CM for system, _, _ in codes):
        expansion["parameter"] = [
            {"name": "used-codesystem", "valueUri": f"{ICD10CM}|{ICD10CM_VERSION}"}
        ]
    return FhirValueSet.model_validate({**_header(knowledge, vs), "expansion": expansion})


def search_bundle(knowledge: Knowledge, base_url: str) -> Bundle:
    entries = [
        {
            "fullUrl": f"{base_url}/fhir/ValueSet/{fhir_id(vs)}",
            "resource": value_set(knowledge, vs).model_dump(mode="json", exclude_none=True),
            "search": {"mode": "match"},
        }
        for vs in knowledge.value_sets.values()
    ]
    return Bundle.model_validate(
        {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries}
    )


def capability_statement(knowledge: Knowledge, base_url: str) -> CapabilityStatement:
    """A minimal CapabilityStatement: ValueSet read, search and $expand."""
    return CapabilityStatement.model_validate(
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": "2026-12-03",
            "publisher": PUBLISHER,
            "kind": "instance",
            "software": {"name": PUBLISHER, "version": knowledge.version},
            "implementation": {
                "description": "The value sets of vcf-imaging-cds (knowledge version "
                f"{knowledge.version})",
                "url": f"{base_url}/fhir",
            },
            "fhirVersion": "4.3.0",
            "format": [FHIR_JSON],
            "rest": [
                {
                    "mode": "server",
                    "resource": [
                        {
                            "type": "ValueSet",
                            "interaction": [{"code": "read"}, {"code": "search-type"}],
                            "operation": [
                                {
                                    "name": "expand",
                                    "definition": "http://hl7.org/fhir/OperationDefinition/ValueSet-expand",
                                }
                            ],
                        }
                    ],
                }
            ],
        }
    )


def expanded_codes(vs: ValueSet) -> list[tuple[str, str, str]]:
    """(system, code, display) of every code `vs.match` accepts: the listed codes, and the
    ICD-10-CM tabular's codes under the prefixes and ranges."""
    seen: set[tuple[str, str]] = set()
    found: list[tuple[str, str, str]] = []
    candidates: Iterable[tuple[str, str, str]] = [
        (e.system, e.code, e.display) for e in vs.entries if e.code is not None
    ]
    if any(e.code is None and e.system == ICD10CM for e in vs.entries):
        tabular = ((ICD10CM, code, display) for code, display in icd10cm_tabular())
        candidates = itertools.chain(candidates, tabular)
    for system, code, display in candidates:
        if (system, code) not in seen and vs.match(system, code) is not None:
            seen.add((system, code))
            found.append((system, code, display))
    return found


@functools.cache
def icd10cm_tabular() -> tuple[tuple[str, str], ...]:
    """Every ICD-10-CM code (categories, subcategories, codes with a 7th character) of the
    tabular, dotted, with its description; chapters and blocks are not codes."""
    with warnings.catch_warnings():
        # simple-icd-10-cm 1.5 reads its bundled XML with deprecated importlib.resources calls.
        warnings.simplefilter("ignore", DeprecationWarning)
        icd = importlib.import_module("simple_icd_10_cm")
    return tuple(
        (code, icd.get_description(code))
        for code in icd.get_all_codes(True)
        if not icd.is_chapter_or_block(code)
    )


def _header(knowledge: Knowledge, vs: ValueSet) -> dict:
    sources = "; ".join(_source_title(knowledge, s) for s in vs.sources)
    return {
        "resourceType": "ValueSet",
        "id": fhir_id(vs),
        "url": canonical_url(knowledge, vs),
        "version": knowledge.version,
        "name": "".join(word.capitalize() for word in vs.id.split("_")),
        "title": vs.title,
        "status": "active",
        "experimental": False,
        "publisher": PUBLISHER,
        "description": f"Codes vcf-imaging-cds matches in the patient's record as "
        f"{vs.title.lower()}. Sources: {sources}.",
    }


def _compose(knowledge: Knowledge, vs: ValueSet) -> dict:
    groups: dict[tuple[str, tuple[str, ...], str | None], list[CodeEntry]] = {}
    for entry in vs.entries:
        groups.setdefault((entry.system, entry.sources, entry.expansion), []).append(entry)
    includes = []
    for (system, sources, expansion), entries in groups.items():
        said = [_source_title(knowledge, s) for s in sources]
        if expansion:
            said.append(f"all members of {expansion}")
        listed = [e for e in entries if e.code is not None]
        families = [e for e in entries if e.code is None]
        extension = [{"url": provenance_url(knowledge), "valueString": "; ".join(said)}]
        if listed:
            includes.append(
                {
                    "extension": extension,
                    "system": system,
                    "concept": [{"code": e.code, "display": e.display} for e in listed],
                }
            )
        includes.extend(
            {
                "extension": extension,
                "system": system,
                "filter": [{"property": "code", "op": "regex", "value": _pattern(entry)}],
            }
            for entry in families
        )
    compose: dict = {"include": includes}
    excluded = [
        {
            "extension": [
                {"url": provenance_url(knowledge), "valueString": f"Excluded: {e.reason}"}
            ],
            "system": e.system,
            **(
                {"concept": [{"code": e.code, "display": e.display}]}
                if e.code is not None
                else {
                    "filter": [
                        {"property": "code", "op": "regex", "value": f"^{re.escape(e.prefix)}"}
                    ]
                }
            ),
        }
        for e in vs.excluded
    ]
    if excluded:
        compose["exclude"] = excluded
    return compose


def _pattern(entry: CodeEntry) -> str:
    """A regex for the codes a prefix or range entry takes (ValueSet.match's rule)."""
    if entry.prefix is not None:
        return f"^{re.escape(entry.prefix)}"
    assert entry.code_range is not None
    low, high = entry.code_range
    return f"^{_between(low, high)}"


def _between(low: str, high: str) -> str:
    """A regex for the codes whose first len(low) characters lie from low to high, inclusive
    (ICD-10-CM codes: digits and capital letters, compared as Python compares strings)."""
    if not low:
        return ""
    if low[0] == high[0]:
        return re.escape(low[0]) + _between(low[1:], high[1:])
    rest = "." * (len(low) - 1)
    options = [re.escape(low[0]) + _at_least(low[1:])]
    inside = [c for c in _CODE_CHARS if low[0] < c < high[0]]
    if inside:
        options.append(_class(inside) + rest)
    options.append(re.escape(high[0]) + _at_most(high[1:]))
    return "(?:" + "|".join(options) + ")"


def _at_least(low: str) -> str:
    if not low:
        return ""
    above = [c for c in _CODE_CHARS if c > low[0]]
    tail = _at_least(low[1:])
    if not above:
        return re.escape(low[0]) + tail
    return f"(?:{re.escape(low[0])}{tail}|{_class(above)}{'.' * (len(low) - 1)})"


def _at_most(high: str) -> str:
    if not high:
        return ""
    below = [c for c in _CODE_CHARS if c < high[0]]
    tail = _at_most(high[1:])
    if not below:
        return re.escape(high[0]) + tail
    return f"(?:{re.escape(high[0])}{tail}|{_class(below)}{'.' * (len(high) - 1)})"


def _class(chars: list[str]) -> str:
    """[0-9A-F] for consecutive runs of _CODE_CHARS."""
    runs: list[list[str]] = []
    for char in chars:
        if runs and _CODE_CHARS.index(char) == _CODE_CHARS.index(runs[-1][-1]) + 1:
            runs[-1].append(char)
        else:
            runs.append([char])
    return "[" + "".join(r[0] if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs) + "]"


def _source_title(knowledge: Knowledge, source_id: str) -> str:
    source = knowledge.sources.get(source_id)
    return f"{source_id} {source.title}" if source is not None else source_id
