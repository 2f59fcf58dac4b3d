"""Hook calls far larger than any EHR sends, built from the seed patient (issue 19 §4): many
draft orders, a record with thousands of fractures, and a cancer recorded last."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from typing import Any

from .conftest import FIXTURES

SIGN = "/cds-services/vcf-imaging-order-sign"
SEED = json.loads(
    (FIXTURES / "seed-kyphoplasty-ct-thoracic-with-contrast" / "request.json").read_text()
)
PATIENT = SEED["context"]["patientId"]
CANCER_DISPLAY = "Secondary malignant neoplasm of bone"


def imaging_order(number: int) -> dict[str, Any]:
    """The seed's draft (CT thoracic spine with contrast) under another id."""
    order = copy.deepcopy(SEED["context"]["draftOrders"]["entry"][0]["resource"])
    order["id"] = f"ct-{number}"
    return order


def vcf_condition(number: int) -> dict[str, Any]:
    """A vertebral compression fracture, as the seed records hers, on another date."""
    condition = copy.deepcopy(SEED["prefetch"]["conditions"]["entry"][1]["resource"])
    condition["id"] = f"vcf-{number}"
    condition["onsetDateTime"] = f"{2000 + number % 24}-{1 + number % 12:02d}-{1 + number % 28:02d}"
    condition.pop("recordedDate", None)
    return condition


def active_condition(condition_id: str, code: str, display: str, onset: str) -> dict[str, Any]:
    """An active ICD-10-CM Condition of the seed patient."""
    return {
        "resourceType": "Condition",
        "id": condition_id,
        "subject": {"reference": f"Patient/{PATIENT}"},
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "code": {
            "coding": [
                {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code, "display": display}
            ]
        },
        "onsetDateTime": onset,
    }


def cancer_condition() -> dict[str, Any]:
    return active_condition("bone-metastasis", "C79.51", CANCER_DISPLAY, "2026-06-01")


def order_sign(
    orders: int,
    fractures: int = 0,
    *,
    cancer: bool = False,
    more_conditions: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """An order-sign call of the seed patient with `orders` spine CT orders and `fractures`
    more VCF conditions (and, with `cancer`, a bone metastasis recorded after all of them),
    then `more_conditions`."""
    conditions = [entry["resource"] for entry in SEED["prefetch"]["conditions"]["entry"]]
    conditions += [vcf_condition(number) for number in range(fractures)]
    if cancer:
        conditions.append(cancer_condition())
    conditions += more_conditions
    prefetch = copy.deepcopy(SEED["prefetch"])
    prefetch["conditions"] = _bundle(conditions, "searchset")
    return {
        "hookInstance": "5eed0000-0000-4000-8000-0000000019a4",
        "hook": "order-sign",
        "context": {
            "userId": SEED["context"]["userId"],
            "patientId": PATIENT,
            "encounterId": SEED["context"]["encounterId"],
            "draftOrders": _bundle([imaging_order(n) for n in range(orders)], "collection"),
        },
        "prefetch": prefetch,
    }


def _bundle(resources: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": kind,
        "entry": [{"resource": resource} for resource in resources],
    }
