"""Requests shaped like the CDS Hooks examples (tests/data/cds-hooks/) are accepted as they are."""

from __future__ import annotations

import uuid

import pytest

from ..conftest import load_example


def hook_call(hook: str, context: dict) -> dict:
    return {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context}


@pytest.mark.parametrize(
    ("service_id", "hook", "example"),
    [
        (
            "vcf-imaging-order-select",
            "order-select",
            "order-select-context-r4.json",
        ),
        ("vcf-imaging-order-sign", "order-sign", "order-sign-context-r4.json"),
    ],
)
def test_r4_order_contexts_get_an_honest_empty_answer(client, service_id, hook, example):
    # Like the hook library's examples, these order a diet and a medication: no spine imaging,
    # so no card and no FHIR query (the request has neither prefetch nor fhirServer).
    context = load_example(example)["context"]
    response = client.post(f"/cds-services/{service_id}", json=hook_call(hook, context))
    assert response.status_code == 200
    assert response.get_json() == {"cards": []}


def test_request_with_extension_example_is_accepted(client):
    example = load_example("request-with-extension.json")
    context = load_example("order-sign-context-r4.json")["context"]
    request = {**hook_call("order-sign", context), "extension": example["extension"]}
    response = client.post("/cds-services/vcf-imaging-order-sign", json=request)
    assert response.status_code == 200


def test_a_knee_mra_order_select_request_is_accepted(client):
    # An MRA of the knee: not spine imaging, so no card, and the service answers without
    # contacting the example's (unreachable) fhirServer.
    example = load_example("knee-mra-order-select-request.json")
    response = client.post("/cds-services/vcf-imaging-order-select", json=example)
    assert response.status_code == 200
    assert response.get_json()["cards"] == []
