"""A hook request built from a patient's exported FHIR data plus draft orders given by code.

The export is a Bundle (transaction, collection or searchset). Synthea writes transaction
Bundles whose references are `urn:uuid:` fullUrls; an EHR's search answers use `Type/id` or
absolute URLs. Every reference that names an entry of the Bundle is rewritten to `Type/id`,
as the EHR would send it in prefetch. Only what the service prefetches goes in (registry.py):
the Patient, its Conditions, Procedures, ServiceRequests, ImagingStudies and DiagnosticReports;
encounters, observations, claims
and the rest of a long record are left out, so a 4 MB Synthea file costs one JSON parse.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cds_service.knowledge.model import CPT, ICD10CM, LOINC, SNOMED

if TYPE_CHECKING:
    from cds_service.knowledge.model import Knowledge

# Prefetch key (registry.PREFETCH_TEMPLATES) for each searched resource type.
PREFETCH_KEYS = {
    "Condition": "conditions",
    "Procedure": "procedures",
    "ServiceRequest": "serviceRequests",
    "ImagingStudy": "imagingStudies",
    "DiagnosticReport": "diagnosticReports",
}
USER_ID = "Practitioner/cds-replay"

_CPT_CODE = re.compile(r"\d{4}[0-9A-Z]")  # 5 characters: 72131, and Category II/III 0274T
_LOINC_CODE = re.compile(r"\d{1,7}-\d")  # number, dash, check digit: 36154-8
_ICD10CM_CODE = re.compile(r"[A-Z]\d[0-9A-Z](\.[0-9A-Z]{1,4})?")  # M54.50, M80.08XA
_SNOMED_CT_ID = re.compile(r"\d{6,18}")  # SCTID: 6 to 18 digits


class PatientBundleError(ValueError):
    """The file or a code given on the command line cannot be used; the message says why."""


@dataclass(frozen=True)
class PatientRecord:
    patient: dict[str, Any]
    resources: Mapping[str, list[dict[str, Any]]]  # prefetch key -> resources

    @property
    def patient_id(self) -> str:
        return str(self.patient["id"])


def read_patient_record(bundle: Any, patient_id: str | None = None) -> PatientRecord:
    """The patient and their searched resources, references resolved to `Type/id`."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise PatientBundleError("not a FHIR Bundle (resourceType 'Bundle')")
    resources = _entry_resources(bundle)
    local = _local_references(bundle)
    patient = _the_patient(resources, patient_id)
    patient_reference = f"Patient/{patient['id']}"
    single_patient = sum(1 for r in resources if r["resourceType"] == "Patient") == 1
    found: dict[str, list[dict[str, Any]]] = {key: [] for key in PREFETCH_KEYS.values()}
    for resource in resources:
        key = PREFETCH_KEYS.get(resource["resourceType"])
        if key is None:
            continue
        resolved = resolve_references(resource, local)
        subject = (resolved.get("subject") or {}).get("reference")
        if single_patient or subject == patient_reference:
            found[key].append(resolved)
    return PatientRecord(resolve_references(patient, local), found)


def resolve_references(value: Any, local: Mapping[str, str]) -> Any:
    """A copy of `value` with every `reference` that names a Bundle entry as `Type/id`."""
    if isinstance(value, dict):
        copied = {key: resolve_references(item, local) for key, item in value.items()}
        reference = copied.get("reference")
        if isinstance(reference, str) and reference in local:
            copied["reference"] = local[reference]
        return copied
    if isinstance(value, list):
        return [resolve_references(item, local) for item in value]
    return value


def _entry_resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise PatientBundleError("Bundle.entry is not a list")
    resources = []
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and isinstance(resource.get("resourceType"), str):
            if not resource.get("id"):
                resource = {**resource, "id": _id_from_full_url(entry.get("fullUrl"))}
            resources.append(resource)
    return resources


def _local_references(bundle: dict[str, Any]) -> dict[str, str]:
    """fullUrl (urn:uuid:..., or an absolute URL) -> `Type/id` for each entry."""
    local = {}
    for entry in bundle.get("entry") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            continue
        full_url, resource = entry.get("fullUrl"), entry["resource"]
        resource_id = resource.get("id") or _id_from_full_url(full_url)
        if isinstance(full_url, str) and resource_id and resource.get("resourceType"):
            local[full_url] = f"{resource['resourceType']}/{resource_id}"
    return local


def _id_from_full_url(full_url: Any) -> str | None:
    if not isinstance(full_url, str) or not full_url:
        return None
    return full_url.rsplit(":", 1)[-1] if full_url.startswith("urn:") else full_url.rsplit("/")[-1]


def _the_patient(resources: Sequence[dict[str, Any]], patient_id: str | None) -> dict[str, Any]:
    patients = [r for r in resources if r["resourceType"] == "Patient" and r.get("id")]
    if patient_id is not None:
        chosen = [p for p in patients if p["id"] == patient_id]
        if not chosen:
            raise PatientBundleError(f"the Bundle holds no Patient with id {patient_id!r}")
        return chosen[0]
    if len(patients) != 1:
        raise PatientBundleError(
            f"the Bundle holds {len(patients)} Patient resources; name one with --patient ID"
        )
    return patients[0]


# -- draft orders and reasons ------------------------------------------------------------


def order_coding(code: str, knowledge: Knowledge) -> dict[str, str]:
    """CPT for `NNNNN`, LOINC for `NNNNN-N`; the display from the knowledge's orderables."""
    code = code.strip()
    if _CPT_CODE.fullmatch(code):
        system = CPT
    elif _LOINC_CODE.fullmatch(code):
        system = LOINC
    else:
        raise PatientBundleError(
            f"order code {code!r} is neither CPT (5 characters, e.g. 72131) "
            "nor LOINC (digits, dash, check digit, e.g. 36154-8)"
        )
    coding = {"system": system, "code": code}
    orderable = knowledge.orderables.get((system, code))
    if orderable is not None:
        coding["display"] = orderable.display
    return coding


def reason_coding(code: str, knowledge: Knowledge) -> dict[str, str]:
    """ICD-10-CM for `M54.50`-like codes, SNOMED CT for digits; a display where known."""
    code = code.strip().upper()
    if _ICD10CM_CODE.fullmatch(code):
        system = ICD10CM
    elif _SNOMED_CT_ID.fullmatch(code):
        system = SNOMED
    else:
        raise PatientBundleError(
            f"reason code {code!r} is neither ICD-10-CM (e.g. M54.50) nor a SNOMED CT id (digits)"
        )
    coding = {"system": system, "code": code}
    display = _value_set_display(system, code, knowledge)
    if display:
        coding["display"] = display
    return coding


def _value_set_display(system: str, code: str, knowledge: Knowledge) -> str | None:
    for value_set in knowledge.value_sets.values():
        for entry in value_set.entries:
            if entry.system == system and entry.code == code:
                return entry.display
    return None


def draft_order(
    number: int,
    coding: Mapping[str, str],
    reasons: Sequence[Mapping[str, str]],
    patient_id: str,
    authored_on: str,
) -> dict[str, Any]:
    """A draft ServiceRequest as an EHR's order entry would send it (CDS Hooks order-select)."""
    order: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": f"draft-order-{number}",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{patient_id}"},
        "authoredOn": authored_on,
        "requester": {"reference": USER_ID},
        "code": {"coding": [dict(coding)]},
    }
    if coding.get("display"):
        order["code"]["text"] = coding["display"]
    if reasons:
        order["reasonCode"] = [{"coding": [dict(reason)]} for reason in reasons]
    return order


def hook_request(
    record: PatientRecord,
    orders: Sequence[dict[str, Any]],
    hook: str,
    hook_instance: str,
) -> dict[str, Any]:
    """The whole CDS Hooks call: context with the draft orders, and full prefetch."""
    context: dict[str, Any] = {
        "userId": USER_ID,
        "patientId": record.patient_id,
        "draftOrders": {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": order} for order in orders],
        },
    }
    if hook == "order-select":
        context["selections"] = [f"ServiceRequest/{order['id']}" for order in orders]
    prefetch: dict[str, Any] = {"patient": record.patient}
    for key, resources in record.resources.items():
        prefetch[key] = _searchset(resources)
    return {"hookInstance": hook_instance, "hook": hook, "context": context, "prefetch": prefetch}


def _searchset(resources: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A search answer; an empty one tells the service the EHR has no such data."""
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
    }
    if resources:
        bundle["entry"] = [
            {
                "fullUrl": f"{resource['resourceType']}/{resource['id']}",
                "resource": resource,
                "search": {"mode": "match"},
            }
            for resource in resources
        ]
    return bundle
