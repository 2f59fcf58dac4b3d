"""Getting patient data: prefetch states, a FHIR REST client, lenient parsing to R4B.

The web layer calls `gather_history` and maps `PatientDataUnavailable` to 412 and
`HookDeadlineExceeded` to `{"cards": []}`.
"""

from cds_service.fhir.errors import (
    FhirBadResponse,
    FhirError,
    FhirUnauthorized,
    FhirUnreachable,
    HookDeadlineExceeded,
    PatientDataUnavailable,
)
from cds_service.fhir.history import gather_history

__all__ = [
    "FhirBadResponse",
    "FhirError",
    "FhirUnauthorized",
    "FhirUnreachable",
    "HookDeadlineExceeded",
    "PatientDataUnavailable",
    "gather_history",
]
