"""What the EHR prefetched, per key, and what is left to fetch (CDS Hooks 2.0 §3.4, P7-P9).

The searches the decision reads are declared once, with the templates of the service
registry, so the server is queried with exactly the search the EHR was asked to prefetch.
Three are required (Conditions, Procedures, ServiceRequests: without them there is no advice);
ImagingStudy and DiagnosticReport are optional: they can only add a recent spine MRI, many
EHRs do not support them or grant no scope for them, and without them the decision errs on
the safe side (it asks for an MRI). The `patient` key is declared too but the decision does
not need it: it is never read here.
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from cds_service.cdshooks.request import HookRequest
from cds_service.fhir.bundle import bundle_link, bundle_resources, is_bundle, reports_failure
from cds_service.fhir.views import is_json_object
from cds_service.registry import PREFETCH_TEMPLATES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PatientSearch:
    key: str  # the prefetch key
    resource_type: str
    # Required: not prefetched and not readable from fhirServer is a 412. Optional: read when
    # it can be, otherwise the history holds none of it (history.py logs why).
    required: bool = True

    @property
    def template(self) -> str:
        return PREFETCH_TEMPLATES[self.key]


SEARCHES: tuple[PatientSearch, ...] = (
    PatientSearch("conditions", "Condition"),
    PatientSearch("procedures", "Procedure"),
    PatientSearch("serviceRequests", "ServiceRequest"),
    PatientSearch("imagingStudies", "ImagingStudy", required=False),
    PatientSearch("diagnosticReports", "DiagnosticReport", required=False),
)


class PrefetchState(enum.Enum):
    DATA = "data"  # a Bundle with resources: use it (complete it when it has a next link)
    NO_DATA = "no-data"  # null or an empty Bundle: the EHR has none, do not query
    NOT_SATISFIED = "not-satisfied"  # key absent, OperationOutcome, or unusable: query


def read_prefetch(prefetch: Mapping[str, Any], key: str) -> tuple[PrefetchState, list[Any]]:
    """The key's state and, for DATA, the resources of its Bundle (its first page)."""
    if key not in prefetch:
        return PrefetchState.NOT_SATISFIED, []
    value = prefetch[key]
    if value is None:
        return PrefetchState.NO_DATA, []
    if not is_bundle(value):
        if not _is_operation_outcome(value):
            log.warning("prefetch %s is neither a Bundle, null nor an OperationOutcome", key)
        return PrefetchState.NOT_SATISFIED, []
    resources = bundle_resources(value)
    if any(reports_failure(resource) for resource in resources):
        return PrefetchState.NOT_SATISFIED, []
    if not resources and bundle_link(value, "next") is None:
        return PrefetchState.NO_DATA, []
    return PrefetchState.DATA, resources


def fill_template(template: str, request: HookRequest) -> str:
    """Replace `{{context.patientId}}`-style tokens (CDS Hooks §3.3, P2-P3), URL-encoded."""
    tokens = {
        "context.patientId": request.context.patient_id,
        "context.userId": request.context.user_id,
        "context.encounterId": request.context.encounter_id,
    }

    def value(match: re.Match[str]) -> str:
        token = tokens.get(match.group(1))
        if token is None:
            raise ValueError(f"prefetch token {match.group(1)!r} has no value in this request")
        return quote(token, safe="")

    return re.sub(r"\{\{\s*([\w.]+)\s*\}\}", value, template)


def _is_operation_outcome(value: Any) -> bool:
    return is_json_object(value) and value.get("resourceType") == "OperationOutcome"
