"""Schemathesis against /openapi.json: valid and invalid generated calls never get a 5xx, and
every answer (status, content type, body) is one the document declares.

Driven through Schemathesis' Hypothesis strategies rather than its pytest plugin, whose
collection hooks break with newer pytest releases; same generation, same checks.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cds_service.web.openapi import build_openapi

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
# Negative calls need something to spoil: a body (discovery has none, so only positive there).
CALLS = [
    (method.upper(), path, mode)
    for path, operations in build_openapi()["paths"].items()
    for method, operation in operations.items()
    for mode in ((POSITIVE, NEGATIVE) if "requestBody" in operation else (POSITIVE,))
]


@pytest.mark.parametrize(
    ("method", "path", "mode"), CALLS, ids=[" ".join(map(str, c)) for c in CALLS]
)
def test_generated_calls_get_declared_answers_and_never_a_5xx(app, method, path, mode):
    operation = schemathesis.openapi.from_wsgi("/openapi.json", app)[path][method]

    @given(case=operation.as_strategy(mode))
    @settings(
        max_examples=50,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def answers_as_declared(case):
        case.call_and_validate(checks=CHECKS)

    answers_as_declared()
