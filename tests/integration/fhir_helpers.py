"""Patient data sets and helpers shared by the patient-data tests (unit and integration).

Codes are real ones from the knowledge pack (ICD-10-CM, CPT, SNOMED CT, LOINC) so the
data exercise the value sets of `cards/` exactly as EHR data would.
"""

from __future__ import annotations

import functools
import json
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import requests

from cds_service.cdshooks.request import HookRequest, HookRequestSchema
from cds_service.decision.model import PatientHistory
from cds_service.knowledge.loader import load_knowledge
from cds_service.knowledge.model import Knowledge
from cds_service.settings import DEFAULT_KNOWLEDGE_DIR

ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
CPT = "http://www.ama-assn.org/go/cpt"
LOINC = "http://loinc.org"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
SEARCH_KEYS = ("conditions", "procedures", "serviceRequests")  # required: 412 without them
IMAGING_KEYS = ("imagingStudies", "diagnosticReports")  # optional: read when they can be
TYPE_OF_KEY = {
    "conditions": "Condition",
    "procedures": "Procedure",
    "serviceRequests": "ServiceRequest",
    "imagingStudies": "ImagingStudy",
    "diagnosticReports": "DiagnosticReport",
}
OPERATION_OUTCOME = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "timeout", "diagnostics": "prefetch failed"}],
}


@functools.cache
def knowledge() -> Knowledge:
    return load_knowledge(DEFAULT_KNOWLEDGE_DIR)


# Resources ------------------------------------------------------------------------------


def condition(rid: str, patient: str, system: str, code: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": rid,
        "subject": {"reference": f"Patient/{patient}"},
        "code": {"coding": [{"system": system, "code": code}]},
        **extra,
    }


def procedure(rid: str, patient: str, system: str, code: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Procedure",
        "id": rid,
        "status": "completed",
        "subject": {"reference": f"Patient/{patient}"},
        "code": {"coding": [{"system": system, "code": code}]},
        **extra,
    }


def service_request(rid: str, patient: str, system: str, code: str, **extra: Any) -> dict:
    return {
        "resourceType": "ServiceRequest",
        "id": rid,
        "status": "completed",
        "intent": "order",
        "subject": {"reference": f"Patient/{patient}"},
        "code": {"coding": [{"system": system, "code": code}]},
        **extra,
    }


def imaging_study(rid: str, patient: str, **extra: Any) -> dict[str, Any]:
    """An available MR study (DICOM modality MR) with one series; `extra` adds or replaces."""
    uid = f"2.25.{zlib.crc32(rid.encode())}"
    return {
        "resourceType": "ImagingStudy",
        "id": rid,
        "status": "available",
        "subject": {"reference": f"Patient/{patient}"},
        "modality": [{"system": DICOM, "code": "MR"}],
        "series": [
            {
                "uid": uid,
                "modality": {"system": DICOM, "code": "MR"},
                "instance": [
                    {
                        "uid": f"{uid}.{n}",
                        "sopClass": {
                            "system": "urn:ietf:rfc:3986",
                            "code": "urn:oid:1.2.840.10008.5.1.4.1.1.4",
                        },
                    }
                    for n in range(3)
                ],
            }
        ],
        **extra,
    }


def diagnostic_report(rid: str, patient: str, system: str, code: str, **extra: Any) -> dict:
    return {
        "resourceType": "DiagnosticReport",
        "id": rid,
        "status": "final",
        "subject": {"reference": f"Patient/{patient}"},
        "code": {"coding": [{"system": system, "code": code}]},
        **extra,
    }


def searchset(resources: Iterable[dict[str, Any]]) -> dict[str, Any]:
    entries = [{"resource": resource} for resource in resources]
    return {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries}


# Data sets ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataSet:
    """One patient's searchable data, as an EHR would hold it."""

    name: str
    patient_id: str
    resources: dict[str, list[dict[str, Any]]]  # prefetch key -> resources
    relevant_ids: dict[str, set[str]] = field(default_factory=dict)  # expected in the history
    invalid: int = 0

    def prefetch(self) -> dict[str, Any]:
        return {key: searchset(self.resources.get(key, [])) for key in TYPE_OF_KEY}

    def all_resources(self) -> list[dict[str, Any]]:
        return [resource for key in TYPE_OF_KEY for resource in self.resources.get(key, [])]


def long_history(patient: str = "fhir-long-history") -> DataSet:
    """45 Conditions, 25 Procedures, 22 ServiceRequests: several pages on any server."""
    conditions = [condition(f"htn-{n}", patient, ICD10, "I10") for n in range(40)]
    conditions += [
        condition("vcf-l2", patient, ICD10, "M80.08XA", onsetDateTime="2024-10-28"),
        condition("breast-cancer-history", patient, ICD10, "Z85.3"),
        condition("cauda-equina", patient, ICD10, "G83.4"),
        condition("discitis", patient, ICD10, "M46.44"),
        condition("radiculopathy", patient, ICD10, "M54.16"),  # not a deficit: not kept
    ]
    procedures = [procedure(f"dxa-{n}", patient, SNOMED, "312681000") for n in range(22)]
    procedures += [
        procedure("kyphoplasty-l2", patient, CPT, "22514", bodySite=[{"text": "L2"}]),
        procedure("mri-lumbar", patient, CPT, "72148", performedDateTime="2026-10-01"),
        procedure("ct-lumbar", patient, CPT, "72131"),  # CT history: not kept
    ]
    requests_ = [service_request(f"lab-{n}", patient, LOINC, "2345-7") for n in range(20)]
    requests_ += [
        service_request("mri-order", patient, CPT, "72148", authoredOn="2026-10-01"),
        service_request("kyphoplasty-order", patient, CPT, "22514"),
    ]
    return DataSet(
        "long-history",
        patient,
        {"conditions": conditions, "procedures": procedures, "serviceRequests": requests_},
        {
            "conditions": {"vcf-l2", "breast-cancer-history", "cauda-equina", "discitis"},
            "procedures": {"kyphoplasty-l2", "mri-lumbar"},
            "serviceRequests": {"mri-order", "kyphoplasty-order"},
        },
    )


def with_invalid_resource(patient: str = "fhir-invalid-resource") -> DataSet:
    """A relevant Condition that is not valid R4 (onset is no date) among valid ones."""
    return DataSet(
        "invalid-resource",
        patient,
        {
            "conditions": [
                condition("vcf", patient, ICD10, "M48.56XA"),
                condition("broken-vcf", patient, ICD10, "M48.54XA", onsetDateTime="last spring"),
                condition("diabetes", patient, ICD10, "E11.9", onsetDateTime="also no date"),
            ],
            "procedures": [procedure("kyphoplasty", patient, CPT, "22514")],
        },
        {"conditions": {"vcf"}, "procedures": {"kyphoplasty"}},
        invalid=1,
    )


def with_imaging(patient: str = "fhir-imaging") -> DataSet:
    """A kyphoplasty, and spine MRIs recorded only as a study and as reports, among studies
    and reports that do not matter (a chest CT, a lab)."""
    local = "http://ehr.example/local-codes"
    return DataSet(
        "imaging",
        patient,
        {
            "procedures": [procedure("kyphoplasty", patient, CPT, "22514")],
            "imagingStudies": [
                imaging_study(
                    "mri-l-spine-study",
                    patient,
                    started="2026-10-01T09:30:00Z",
                    procedureCode=[{"coding": [{"system": CPT, "code": "72148"}]}],
                    description="MRI L-spine w/o contrast",
                ),
                imaging_study(
                    "ct-chest-study",
                    patient,
                    modality=[{"system": DICOM, "code": "CT"}],
                    series=[{"uid": "2.25.1", "modality": {"system": DICOM, "code": "CT"}}],
                ),
            ],
            "diagnosticReports": [
                diagnostic_report(
                    "mri-l-spine-report",
                    patient,
                    LOINC,
                    "30679-5",
                    effectiveDateTime="2026-10-01",
                    imagingStudy=[{"reference": "ImagingStudy/mri-l-spine-study"}],
                ),
                {
                    **diagnostic_report(
                        "mri-report-by-text",
                        patient,
                        local,
                        "RAD123",
                        issued="2026-09-20T10:00:00Z",
                    ),
                    "code": {
                        "coding": [{"system": local, "code": "RAD123"}],
                        "text": "MRI thoracic spine without contrast",
                    },
                },
                diagnostic_report("a1c", patient, LOINC, "4548-4"),
            ],
        },
        {
            "procedures": {"kyphoplasty"},
            "imagingStudies": {"mri-l-spine-study"},
            "diagnosticReports": {"mri-l-spine-report", "mri-report-by-text"},
        },
    )


def no_data(patient: str = "fhir-no-data") -> DataSet:
    return DataSet("no-data", patient, {})


# Requests -------------------------------------------------------------------------------


def hook_body(
    patient_id: str,
    prefetch: dict[str, Any] | None = None,
    fhir_server: str | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    draft = service_request("draft-ct", patient_id, CPT, "72131", status="draft")
    body: dict[str, Any] = {
        "hook": "order-select",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {
            "userId": "Practitioner/dr-lee",
            "patientId": patient_id,
            "selections": ["ServiceRequest/draft-ct"],
            "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": draft}]},
        },
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    if fhir_server is not None:
        body["fhirServer"] = fhir_server
    if token is not None:
        body["fhirAuthorization"] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/Condition.read patient/Procedure.read patient/ServiceRequest.read",
            "subject": "vcf-imaging-cds",
        }
    return body


def hook_request(body: dict[str, Any]) -> HookRequest:
    # A deep copy, as the web layer parses fresh JSON for every call.
    return HookRequestSchema().load(json.loads(json.dumps(body)))


class RecordingSession(requests.Session):
    """A real pooled session that remembers every request it sent."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any):
        self.sent.append((str(url), kwargs))
        return super().request(method, url, *args, **kwargs)


class NoNetworkSession(requests.Session):
    """Fails the test if anything is fetched: the data were all in the prefetch."""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any):
        raise AssertionError("no FHIR request expected")


# Comparing histories --------------------------------------------------------------------


def comparable(history: PatientHistory) -> dict[str, Any]:
    """The history without what a server adds on storage (meta.versionId, lastUpdated)."""

    def plain(models: Iterable[Any]) -> list[dict[str, Any]]:
        dumped = [model.model_dump(mode="json", exclude_none=True) for model in models]
        for resource in dumped:
            resource.pop("meta", None)
        return sorted(dumped, key=lambda resource: resource.get("id", ""))

    return {
        "conditions": plain(history.conditions),
        "procedures": plain(history.procedures),
        "serviceRequests": plain(history.service_requests),
        "imagingStudies": plain(history.imaging_studies),
        "diagnosticReports": plain(history.diagnostic_reports),
        "skipped_invalid": history.skipped_invalid,
    }


def ids(history: PatientHistory) -> dict[str, set[str]]:
    return {
        "conditions": {c.id for c in history.conditions},
        "procedures": {p.id for p in history.procedures},
        "serviceRequests": {s.id for s in history.service_requests},
    }


def imaging_ids(history: PatientHistory) -> dict[str, set[str]]:
    return {
        "imagingStudies": {s.id for s in history.imaging_studies},
        "diagnosticReports": {r.id for r in history.diagnostic_reports},
    }


def all_ids(history: PatientHistory) -> dict[str, set[str]]:
    return {**ids(history), **imaging_ids(history)}
