"""GET /cds-services: the two services of the contract, as the spec shapes them."""

from cds_service.registry import PREFETCH_TEMPLATES

from ..conftest import load_example


def test_discovery_lists_the_two_contract_services(client):
    response = client.get("/cds-services")
    assert response.status_code == 200
    services = {s["id"]: s for s in response.get_json()["services"]}
    assert set(services) == {"vcf-imaging-order-select", "vcf-imaging-order-sign"}
    assert services["vcf-imaging-order-select"]["hook"] == "order-select"
    assert services["vcf-imaging-order-sign"]["hook"] == "order-sign"


def test_every_service_carries_the_spec_fields_and_the_prefetch_templates(client):
    for service in client.get("/cds-services").get_json()["services"]:
        assert service["title"] and service["description"] and service["usageRequirements"]
        assert service["prefetch"] == {
            # The four keys of the contract (DESIGN.md), never changed.
            "patient": "Patient/{{context.patientId}}",
            "conditions": "Condition?patient={{context.patientId}}",
            "procedures": "Procedure?patient={{context.patientId}}",
            "serviceRequests": "ServiceRequest?patient={{context.patientId}}",
            # Added for a spine MRI recorded as a study or a report (issue 14 §4).
            "imagingStudies": "ImagingStudy?patient={{context.patientId}}",
            "diagnosticReports": "DiagnosticReport?patient={{context.patientId}}",
        }
    assert dict(PREFETCH_TEMPLATES) == service["prefetch"]


def test_discovery_entries_have_only_keys_the_spec_defines(client):
    example_keys = set().union(
        *(s.keys() for s in load_example("discovery-response.json")["services"])
    )
    for service in client.get("/cds-services").get_json()["services"]:
        assert set(service) <= example_keys
        assert all(value not in (None, "", [], {}) for value in service.values())


def test_healthz_names_version_and_knowledge_version(client, app):
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok"
    assert body["version"] == "0.1.0"
    assert body["knowledgeVersion"]
