"""What can go wrong while getting patient data, as a small exception tree.

Messages are fixed phrases chosen here: never a URL (it holds the patient id), never a
header, never text the FHIR server sent (a server that received the bearer token could
echo it back). `FhirError` subclasses describe one HTTP exchange; `PatientDataUnavailable`
and `HookDeadlineExceeded` are what `gather_history` raises to the web layer.
"""

from __future__ import annotations


class FhirError(Exception):
    """A FHIR REST exchange that gave no usable answer."""


class FhirUnreachable(FhirError):
    """No answer in time, connection refused or reset, or a 5xx/429 from the server."""


class FhirUnauthorized(FhirError):
    """The server refused the request (401 or 403): no token, or not enough scope."""


class FhirBadResponse(FhirError):
    """An answer that cannot be used: other 4xx, not JSON, not a Bundle, endless paging,
    more bytes than the call's budget."""


class PatientDataUnavailable(Exception):
    """Data the decision needs was neither prefetched nor retrievable (CDS Hooks §3.4, P9).

    The web layer answers 412 with an OperationOutcome naming the `missing` prefetch keys;
    `reason` is safe to show and log (no patient data, no token).
    """

    def __init__(self, missing: tuple[str, ...], reason: str) -> None:
        super().__init__(f"patient data unavailable ({', '.join(missing)}): {reason}")
        self.missing = missing
        self.reason = reason


class HookDeadlineExceeded(Exception):
    """The hook's time budget ran out before the patient data was complete.

    The web layer answers `{"cards": []}`: late advice is no advice (CDS Hooks 2.0 asks
    services to respond quickly, "on the order of 500 ms").
    """
