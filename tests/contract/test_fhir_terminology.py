"""GET /fhir/metadata, /fhir/ValueSet, /fhir/ValueSet/{id} and $expand over HTTP."""

from __future__ import annotations

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.valueset import ValueSet

from cds_service.web.state import EXTENSION_KEY

FHIR_JSON = "application/fhir+json"


@pytest.fixture
def knowledge(app):
    return app.extensions[EXTENSION_KEY].knowledge


def test_metadata_advertises_the_value_set_endpoints(client, knowledge):
    response = client.get("/fhir/metadata")
    assert response.status_code == 200 and response.mimetype == FHIR_JSON
    statement = CapabilityStatement.model_validate(response.get_json())
    (resource,) = statement.rest[0].resource
    assert resource.type == "ValueSet"
    assert {i.code for i in resource.interaction} == {"read", "search-type"}
    assert [o.name for o in resource.operation] == ["expand"]
    assert statement.software.version == knowledge.version
    assert statement.implementation.url == "http://localhost/fhir"


def test_search_is_a_bundle_of_every_value_set(client, knowledge):
    response = client.get("/fhir/ValueSet")
    assert response.status_code == 200 and response.mimetype == FHIR_JSON
    bundle = Bundle.model_validate(response.get_json())
    assert bundle.type == "searchset" and bundle.total == len(knowledge.value_sets)
    ids = {entry.resource.id for entry in bundle.entry}
    assert ids == {vs.id.replace("_", "-") for vs in knowledge.value_sets.values()}
    for entry in bundle.entry:
        value_set = ValueSet.model_validate(entry.resource.model_dump(mode="json"))
        assert entry.fullUrl == f"http://localhost/fhir/ValueSet/{value_set.id}"
        assert value_set.version == knowledge.version and value_set.compose.include


def test_read_and_expand_one_value_set(client, knowledge):
    read = client.get("/fhir/ValueSet/prior-vcf")
    assert read.status_code == 200 and read.mimetype == FHIR_JSON
    definition = ValueSet.model_validate(read.get_json())
    assert definition.title == knowledge.value_sets["prior_vcf"].title
    expansion = client.get("/fhir/ValueSet/prior-vcf/$expand")
    assert expansion.status_code == 200 and expansion.mimetype == FHIR_JSON
    expanded = ValueSet.model_validate(expansion.get_json()).expansion
    codes = {(c.system, c.code) for c in expanded.contains}
    assert expanded.total == len(codes)
    assert ("http://hl7.org/fhir/sid/icd-10-cm", "M80.08XA") in codes  # the seed's fracture
    assert ("http://hl7.org/fhir/sid/icd-10-cm", "S22.001A") not in codes  # a burst fracture


@pytest.mark.parametrize("path", ["/fhir/ValueSet/nope", "/fhir/ValueSet/nope/$expand"])
def test_unknown_value_set_is_a_404_operation_outcome(client, path):
    response = client.get(path)
    assert response.status_code == 404 and response.mimetype == FHIR_JSON
    outcome = OperationOutcome.model_validate(response.get_json())
    assert outcome.issue[0].code == "not-found"
    assert "prior-vcf" in outcome.issue[0].diagnostics
