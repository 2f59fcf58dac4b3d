"""FHIR terminology endpoints under /fhir: the service's value sets as R4B ValueSets
(`terminology.py` builds them), for a site's terminology team to load or $expand."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response

from cds_service import terminology
from cds_service.terminology import FHIR_JSON
from cds_service.web.blueprint import public_base_url
from cds_service.web.errors import operation_outcome
from cds_service.web.state import service_state

fhir_api = Blueprint("fhir", __name__, url_prefix="/fhir")


@fhir_api.get("/metadata")
def metadata():
    knowledge = service_state().knowledge
    return _fhir(terminology.capability_statement(knowledge, public_base_url()))


@fhir_api.get("/ValueSet")
def search():
    knowledge = service_state().knowledge
    return _fhir(terminology.search_bundle(knowledge, public_base_url()))


@fhir_api.get("/ValueSet/<resource_id>")
def read(resource_id: str):
    knowledge = service_state().knowledge
    value_set = terminology.find(knowledge, resource_id)
    if value_set is None:
        return _not_found(resource_id)
    return _fhir(terminology.value_set(knowledge, value_set))


@fhir_api.get("/ValueSet/<resource_id>/$expand")
def expand(resource_id: str):
    knowledge = service_state().knowledge
    value_set = terminology.find(knowledge, resource_id)
    if value_set is None:
        return _not_found(resource_id)
    return _fhir(terminology.expand(knowledge, value_set))


def _fhir(resource: Any, status: int = 200) -> Response:
    """A resource built with the R4B models, as application/fhir+json."""
    return Response(resource.model_dump_json(exclude_none=True), status, mimetype=FHIR_JSON)


def _not_found(resource_id: str) -> Response:
    knowledge = service_state().knowledge
    known = ", ".join(terminology.fhir_id(vs) for vs in knowledge.value_sets.values())
    outcome = operation_outcome(404, f"No ValueSet with id '{resource_id[:64]}'; known: {known}.")
    return Response(json.dumps(outcome), 404, mimetype=FHIR_JSON)
