"""Realistic hook requests: a long elderly history that mostly does not matter, plus a prior VCF.

The history is the Conditions and Procedures of the Synthea patients in
`tests/data/synthea/` (osteoporosis, cancers, check-ups...), taken in a fixed order and
repeated with fresh ids until the prefetch holds the wanted number of resources. The seed
scenario's own record (a prior L2 compression fracture, osteoporosis, a kyphoplasty) and its
draft order (CT thoracic spine with contrast) stay in, so every request gets its card.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
SYNTHEA_DIR = REPO_ROOT / "tests" / "data" / "synthea"
SEED = REPO_ROOT / "fixtures" / "seed-kyphoplasty-ct-thoracic-with-contrast" / "request.json"
SERVICE_PATH = "/cds-services/vcf-imaging-order-select"
HISTORY_TYPES = {"Condition": "conditions", "Procedure": "procedures"}
# Synthea transaction bundles refer by `urn:uuid:`; a FHIR server's search answer by Type/id.
REFERENCE_TYPES = {"encounter": "Encounter", "reasonReference": "Condition"}


def seed_request() -> dict[str, Any]:
    return json.loads(SEED.read_text())


def synthea_history(folder: Path = SYNTHEA_DIR) -> list[dict[str, Any]]:
    """Every Condition and Procedure of the Synthea bundles, file by file."""
    bundles = sorted(folder.glob("*.json"))
    if not bundles:
        raise FileNotFoundError(f"no Synthea bundles in {folder} (see --synthea)")
    return [
        entry["resource"]
        for path in bundles
        for entry in json.loads(path.read_text())["entry"]
        if entry["resource"]["resourceType"] in HISTORY_TYPES
    ]


def hook_request(resources: int, history: list[dict[str, Any]]) -> dict[str, Any]:
    """The seed request with `resources` Conditions and Procedures in its prefetch."""
    request = seed_request()
    patient = f"Patient/{request['context']['patientId']}"
    prefetch = request["prefetch"]
    by_key = {key: prefetch[key]["entry"] for key in HISTORY_TYPES.values()}
    have = sum(len(entries) for entries in by_key.values())
    for resource in _repeated(history, resources - have, patient):
        by_key[HISTORY_TYPES[resource["resourceType"]]].append(
            {"fullUrl": f"{resource['resourceType']}/{resource['id']}", "resource": resource}
        )
    for key, entries in by_key.items():
        prefetch[key]["total"] = len(entries)
    return request


def _repeated(history: list[dict[str, Any]], count: int, patient: str) -> Iterator[dict]:
    for n in range(max(0, count)):
        resource = copy.deepcopy(history[n % len(history)])
        resource["id"] = f"{resource['id']}-{n}"
        resource["subject"] = {"reference": patient}
        for element, target in REFERENCE_TYPES.items():
            for reference in _as_list(resource.get(element)):
                reference["reference"] = reference["reference"].replace("urn:uuid:", f"{target}/")
        yield resource


def _as_list(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value]
    return value if isinstance(value, list) else []


def body_bytes(request: dict[str, Any]) -> bytes:
    """Compact JSON, as an EHR sends it."""
    return json.dumps(request, separators=(",", ":")).encode()


def prefetched_resources(request: dict[str, Any]) -> int:
    return sum(len(request["prefetch"][key]["entry"]) for key in HISTORY_TYPES.values())
