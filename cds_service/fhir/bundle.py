"""Reading FHIR Bundles as plain JSON, defensively: EHR data is not always well formed."""

from __future__ import annotations

from typing import Any

# OperationOutcome severities that mean the search failed (http://hl7.org/fhir/issue-severity);
# `warning` and `information` entries (e.g. "no results") leave the Bundle usable.
_FAILED_SEVERITIES = frozenset({"fatal", "error"})


def is_bundle(value: Any) -> bool:
    return isinstance(value, dict) and value.get("resourceType") == "Bundle"


def bundle_resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    entries = bundle.get("entry")
    if not isinstance(entries, list):
        return []
    return [
        entry["resource"]
        for entry in entries
        if isinstance(entry, dict) and isinstance(entry.get("resource"), dict)
    ]


def bundle_link(bundle: dict[str, Any], relation: str) -> str | None:
    links = bundle.get("link")
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, dict) and link.get("relation") == relation:
            url = link.get("url")
            return url if isinstance(url, str) and url else None
    return None


def reports_failure(resource: Any) -> bool:
    """An OperationOutcome with an error or fatal issue (CDS Hooks §3.4, P7)."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "OperationOutcome":
        return False
    issues = resource.get("issue")
    if not isinstance(issues, list):
        return True  # an OperationOutcome that says nothing is no answer either
    return any(isinstance(i, dict) and i.get("severity") in _FAILED_SEVERITIES for i in issues)
