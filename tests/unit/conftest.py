"""Clinical scenario builders for the decision-core tests: small R4B resources, real knowledge.

Factories build `fhir.resources.R4B` models the way an EHR sends them, so a test reads like
the patient's chart: ``history(vcf("M80.08XA"), kyphoplasty(level="L2"))``.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.procedure import Procedure
from fhir.resources.R4B.servicerequest import ServiceRequest

from cds_service.decision import classify_order, decide, find_patient_findings
from cds_service.decision.model import (
    ClassifiedOrder,
    OrderDecision,
    PatientFindings,
    PatientHistory,
)
from cds_service.knowledge.model import Knowledge
from cds_service.settings import DEFAULT_KNOWLEDGE_DIR

ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
CPT = "http://www.ama-assn.org/go/cpt"
LOINC = "http://loinc.org"
LOCAL = "urn:oid:1.2.840.114350.1.13.0.1.7.2.696580"  # an EHR's own order catalogue
PATIENT = {"reference": "Patient/pt-1"}
ORDER_DAY = "2026-11-20"
# The day of the hook call, for drafts without authoredOn (tests/conftest.py REFERENCE_DATE).
TODAY = dt.date(2026, 12, 3)

_ids = itertools.count(1)


@pytest.fixture(scope="session")
def knowledge() -> Knowledge:
    # Imported here so that other unit tests still collect while the loader is being changed.
    from cds_service.knowledge.loader import load_knowledge

    return load_knowledge(DEFAULT_KNOWLEDGE_DIR)


def concept(code: str | None, system: str, display: str | None = None, text: str | None = None):
    value: dict[str, Any] = {}
    if code is not None:
        coding = {"system": system, "code": code}
        if display:
            coding["display"] = display
        value["coding"] = [coding]
    if text:
        value["text"] = text
    return value


def _status(system: str, code: str | None) -> dict[str, Any] | None:
    if code is None:
        return None
    return {"coding": [{"system": f"http://terminology.hl7.org/CodeSystem/{system}", "code": code}]}


def condition(
    code: str,
    system: str = ICD10,
    display: str | None = None,
    *,
    clinical: str | None = "active",
    verification: str | None = "confirmed",
    onset: str | None = "2024-10-28",
    body_site: str | None = None,
    **elements: Any,
) -> Condition:
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "id": elements.pop("id", f"cond-{next(_ids)}"),
        "subject": PATIENT,
        "code": concept(code, system, display),
    }
    if clinical:
        resource["clinicalStatus"] = _status("condition-clinical", clinical)
    if verification:
        resource["verificationStatus"] = _status("condition-ver-status", verification)
    if onset:
        resource["onsetDateTime"] = onset
    if body_site:
        resource["bodySite"] = [{"text": body_site}]
    resource.update(elements)
    return Condition.model_validate(resource)


def procedure(
    code: str | None,
    system: str = CPT,
    display: str | None = None,
    *,
    status: str = "completed",
    performed: str | None = "2024-11-12",
    body_site: dict[str, Any] | str | None = None,
    **elements: Any,
) -> Procedure:
    resource: dict[str, Any] = {
        "resourceType": "Procedure",
        "id": elements.pop("id", f"proc-{next(_ids)}"),
        "status": status,
        "subject": PATIENT,
    }
    if code is not None:
        resource["code"] = concept(code, system, display)
    if performed:
        resource["performedDateTime"] = performed
    if body_site:
        site = {"text": body_site} if isinstance(body_site, str) else body_site
        resource["bodySite"] = [site]
    resource.update(elements)
    return Procedure.model_validate(resource)


def order(
    code: str | None = None,
    system: str = CPT,
    display: str | None = None,
    *,
    text: str | None = None,
    status: str = "draft",
    authored_on: str | None = ORDER_DAY,
    reason: dict[str, Any] | None = None,
    **elements: Any,
) -> ServiceRequest:
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": elements.pop("id", f"sr-{next(_ids)}"),
        "status": status,
        "intent": "order",
        "subject": PATIENT,
    }
    if code is not None or text is not None:
        resource["code"] = concept(code, system, display, text)
    if authored_on:
        resource["authoredOn"] = authored_on
    if reason is not None:
        resource["reasonCode"] = [reason]
    resource.update(elements)
    return ServiceRequest.model_validate(resource)


def history(*resources: Any) -> PatientHistory:
    return PatientHistory(
        conditions=tuple(r for r in resources if isinstance(r, Condition)),
        procedures=tuple(r for r in resources if isinstance(r, Procedure)),
        service_requests=tuple(r for r in resources if isinstance(r, ServiceRequest)),
    )


# -- the chart of the seed article's patient and her red flags -----------------------------


def prior_vcf_l2(**elements: Any) -> Condition:
    """Osteoporotic vertebral fracture, resolved: history counts (ICD-10-CM M80.08XA)."""
    return condition(
        "M80.08XA",
        display="Age-related osteoporosis with current pathological fracture, vertebra(e)",
        clinical="resolved",
        body_site="L2",
        **elements,
    )


def kyphoplasty(level: str | dict[str, Any] | None = "L2", **elements: Any) -> Procedure:
    """CPT 22514: percutaneous vertebral augmentation (kyphoplasty), lumbar."""
    return procedure(
        "22514",
        display="Percutaneous vertebral augmentation (kyphoplasty), lumbar",
        body_site=level,
        **elements,
    )


def spine_mri(performed: str, code: str = "72148", **elements: Any) -> Procedure:
    """A completed spine MRI (CPT 72148 MRI lumbar without contrast by default)."""
    return procedure(code, display="MRI spine", performed=performed, **elements)


def malignancy_history() -> Condition:
    return condition(
        "Z85.3", display="Personal history of malignant neoplasm of breast", clinical="inactive"
    )


def cauda_equina() -> Condition:
    return condition("G83.4", display="Cauda equina syndrome", onset="2026-11-19")


def discitis() -> Condition:
    return condition("M46.44", display="Discitis, unspecified, thoracic region")


LOW_BACK_PAIN = concept("279039007", SNOMED, "Low back pain", "Low back pain")
THORACIC_BACK_PAIN = concept("279038004", SNOMED, "Thoracic back pain", "Thoracic back pain")


@pytest.fixture
def findings_of(knowledge: Knowledge):
    def build(*resources: Any) -> PatientFindings:
        return find_patient_findings(history(*resources), knowledge)

    return build


@pytest.fixture
def classify(knowledge: Knowledge):
    def build(request: ServiceRequest) -> ClassifiedOrder:
        return classify_order(request, knowledge)

    return build


@pytest.fixture
def decide_for(knowledge: Knowledge):
    """The whole core for one draft order: chart -> findings, order -> class -> decision."""

    def build(request: ServiceRequest, *chart: Any) -> OrderDecision | None:
        findings = find_patient_findings(history(*chart), knowledge)
        return decide(findings, classify_order(request, knowledge), knowledge, TODAY)

    return build
