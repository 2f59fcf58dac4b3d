"""One declaration per CDS service: discovery, routing and prefetch all read it.

Dispatch is on the service id, never on the hook name (STYLE.md §2).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

PREFETCH_TEMPLATES = MappingProxyType(
    {
        "patient": "Patient/{{context.patientId}}",
        "conditions": "Condition?patient={{context.patientId}}",
        "procedures": "Procedure?patient={{context.patientId}}",
        "serviceRequests": "ServiceRequest?patient={{context.patientId}}",
        # Optional: a recent spine MRI recorded as a study or a report (issue 14 §4).
        "imagingStudies": "ImagingStudy?patient={{context.patientId}}",
        "diagnosticReports": "DiagnosticReport?patient={{context.patientId}}",
    }
)

_USAGE = (
    "Fires on spine imaging orders (ServiceRequest coded with CPT, LOINC or SNOMED CT, or "
    "described in text). Needs the patient's Conditions, Procedures and ServiceRequests: "
    "prefetched, or readable from fhirServer with the fhirAuthorization token. Also reads "
    "ImagingStudy and DiagnosticReport (a recent spine MRI) when prefetched or readable; "
    "without them it still answers. Answers with no card for patients without a history of "
    "vertebral compression fracture."
)


@dataclass(frozen=True)
class ServiceDeclaration:
    id: str
    hook: str
    title: str
    description: str
    usage_requirements: str
    evaluates_selections_only: bool  # order-select: only `context.selections`

    def discovery_entry(self) -> dict[str, object]:
        return {
            "hook": self.hook,
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "usageRequirements": self.usage_requirements,
            "prefetch": dict(PREFETCH_TEMPLATES),
        }


SERVICES: tuple[ServiceDeclaration, ...] = (
    ServiceDeclaration(
        id="vcf-imaging-order-select",
        hook="order-select",
        title="Spine imaging after vertebral compression fracture (order select)",
        description=(
            "Rates the selected spine imaging order against the ACR Appropriateness Criteria "
            "for new back pain after a prior vertebral compression fracture, and suggests the "
            "usually appropriate study (typically CT or MRI of the spine without IV contrast)."
        ),
        usage_requirements=_USAGE,
        evaluates_selections_only=True,
    ),
    ServiceDeclaration(
        id="vcf-imaging-order-sign",
        hook="order-sign",
        title="Spine imaging after vertebral compression fracture (order sign)",
        description=(
            "Before signing, rates every draft spine imaging order against the ACR "
            "Appropriateness Criteria for new back pain after a prior vertebral compression "
            "fracture, warns against IV contrast where it is not indicated, and suggests the "
            "usually appropriate study."
        ),
        usage_requirements=_USAGE,
        evaluates_selections_only=False,
    ),
)

SERVICES_BY_ID = MappingProxyType({service.id: service for service in SERVICES})
