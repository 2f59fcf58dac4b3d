"""FHIR terminology endpoints under /fhir: the service's value sets as R4B ValueSets
(`terminology.py` builds them), for a site's terminology team to load or $expand."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response

from cds_service import terminology
from cds_service.knowledge.model import Knowledge, ValueSet
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
    return _value_set(resource_id, terminology.value_set)


@fhir_api.get("/ValueSet/<resource_id>/$expand")
def expand(resource_id: str):
    return _value_set(resource_id, terminology.expand)


def _value_set(resource_id: str, build: Callable[[Knowledge, ValueSet], Any]) -> Response:
    """The value set of that id, as `build` makes it; a 404 OperationOutcome naming the
    known ids otherwise."""
    knowledge = service_state().knowledge
    value_set = terminology.find(knowledge, resource_id)
    if value_set is None:
        known = ", ".join(terminology.fhir_id(vs) for vs in knowledge.value_sets.values())
        message = f"No ValueSet with id '{resource_id[:64]}'; known: {known}."
        return Response(json.dumps(operation_outcome(404, message)), 404, mimetype=FHIR_JSON)
    return _fhir(build(knowledge, value_set))


def _fhir(resource: Any) -> Response:
    """A resource built with the R4B models, as application/fhir+json."""
    return Response(resource.model_dump_json(exclude_none=True), mimetype=FHIR_JSON)
