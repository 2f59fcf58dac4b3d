"""Reading FHIR Bundles as plain JSON, defensively: EHR data is not always well formed.

A Bundle is a parsed dict (a page from fhirServer) or a view of one (a prefetch, views.py):
both answer `get`.
"""

from __future__ import annotations

from typing import Any

from cds_service.fhir.views import BundleView, EntryView, ResourceView, is_json_object

# OperationOutcome severities that mean the search failed (http://hl7.org/fhir/issue-severity);
# `warning` and `information` entries (e.g. "no results") leave the Bundle usable.
_FAILED_SEVERITIES = frozenset({"fatal", "error"})


def is_bundle(value: Any) -> bool:
    return is_json_object(value) and value.get("resourceType") == "Bundle"


def bundle_resources(bundle: Any) -> list[Any]:
    """The Bundle's resources (dicts, or views for a prefetched Bundle)."""
    entries = bundle.get("entry")
    if type(entries) is not list:
        return []
    if type(bundle) is BundleView:  # entries of 500 resources: attributes, not `get` calls
        return [
            entry.resource
            for entry in entries
            if type(entry) is EntryView and type(entry.resource) is ResourceView
        ]
    resources = []
    for entry in entries:
        if is_json_object(entry):
            resource = entry.get("resource")
            if is_json_object(resource):
                resources.append(resource)
    return resources


def bundle_link(bundle: Any, relation: str) -> str | None:
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
    if type(resource) is ResourceView:  # asked of every prefetched resource: no `get` call
        resource_type = resource.resourceType
    elif is_json_object(resource):
        resource_type = resource.get("resourceType")
    else:
        return False
    if resource_type != "OperationOutcome":
        return False
    issues = resource.get("issue")
    if not isinstance(issues, list):
        return True  # an OperationOutcome that says nothing is no answer either
    return any(isinstance(i, dict) and i.get("severity") in _FAILED_SEVERITIES for i in issues)
