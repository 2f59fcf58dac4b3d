"""A prefetch read into views (fhir/views.py) is answered exactly as one parsed whole.

The views keep only what the service reads and the hook body is then read in one msgspec
pass; a body that pass does not fit is read whole. Each case here is one the views or the
one-pass read could get wrong.
"""

from __future__ import annotations

import json
import re

import msgspec
import pytest

from cds_service.fhir.bundle import bundle_resources
from cds_service.fhir.parse import build_history
from cds_service.fhir.prefetch import read_prefetch
from cds_service.fhir.views import PREFETCH, BundleView, ResourceView
from cds_service.replay.core import load_scenarios
from cds_service.web import body as body_module
from tests.integration.fhir_helpers import (
    ICD10,
    OPERATION_OUTCOME,
    condition,
    knowledge,
    searchset,
)

from ..conftest import FIXTURES

SELECT = "/cds-services/vcf-imaging-order-select"
SEED = json.loads(
    (FIXTURES / "seed-kyphoplasty-ct-thoracic-with-contrast" / "request.json").read_text()
)


def as_views(prefetch: dict) -> dict:
    return msgspec.json.decode(json.dumps(prefetch).encode(), type=PREFETCH)


def without_uuids(answer: dict) -> str:
    return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "u", str(answer))


@pytest.fixture
def one_pass_reads(monkeypatch) -> list[bool]:
    """Records, per body read, whether the one-pass read took it."""
    taken: list[bool] = []
    real = body_module._typed_envelope

    def recording(*args):
        body = real(*args)
        taken.append(body is not None)
        return body

    monkeypatch.setattr(body_module, "_typed_envelope", recording)
    return taken


def test_every_fixture_is_answered_alike_read_through_views_or_whole(
    client, monkeypatch, one_pass_reads
):
    scenarios = load_scenarios(FIXTURES)
    through_views = [
        client.post(f"/cds-services/{s.service_id}", json=s.request) for s in scenarios
    ]
    assert len(scenarios) >= 20 and all(one_pass_reads)

    monkeypatch.setattr(body_module, "_typed_envelope", lambda *_: None)
    whole = [client.post(f"/cds-services/{s.service_id}", json=s.request) for s in scenarios]

    assert [(r.status_code, without_uuids(r.get_json())) for r in through_views] == [
        (r.status_code, without_uuids(r.get_json())) for r in whole
    ]


def test_prefetch_states_and_resources_are_the_same_read_through_views():
    vcf = condition("vcf", "p", ICD10, "M80.08XA", meta={"lastUpdated": "never read"})
    error = {"resourceType": "OperationOutcome", "issue": [{"severity": "error"}]}
    warning = {"resourceType": "OperationOutcome", "issue": [{"severity": "warning"}]}
    prefetch = {
        "null": None,
        "empty": searchset([]),
        "outcome": OPERATION_OUTCOME,
        "error-in-bundle": searchset([vcf, error]),
        "warning-in-bundle": searchset([warning, vcf]),
        "data": searchset([vcf]),
        "paged": {**searchset([]), "link": [{"relation": "next", "url": "https://x/C?p=2"}]},
        "not-a-bundle": vcf,
        "a-list": [vcf],
        "a-string": "Bundle",
        "entry-not-a-list": {"resourceType": "Bundle", "entry": {"resource": vcf}},
        "odd-entries": {
            "resourceType": "Bundle",
            "entry": [None, 3, [], {"resource": "vcf"}, {"fullUrl": "x"}, {"resource": vcf}],
        },
    }
    views = as_views(prefetch)

    assert isinstance(views["data"], BundleView)
    for key in prefetch:
        state, resources = read_prefetch(views, key)
        assert (state, [r.get("id") for r in resources]) == (
            read_prefetch(prefetch, key)[0],
            [r.get("id") for r in read_prefetch(prefetch, key)[1]],
        ), key


def test_a_view_gives_back_what_the_decision_reads_and_nothing_else():
    vcf = condition("vcf", "p", ICD10, "M80.08XA", onsetDateTime="2025-01-02")
    vcf["text"] = {"status": "generated", "div": "<div>never read</div>"}
    (resource,) = bundle_resources(as_views({"k": searchset([vcf])})["k"])

    assert isinstance(resource, ResourceView)
    assert dict(resource.items()) == {k: v for k, v in vcf.items() if k != "text"}
    assert resource.get("text") is None and resource.get("code") == vcf["code"]


def test_text_that_is_not_utf8_where_nothing_reads_it_is_still_refused(client):
    request = json.loads(json.dumps(SEED))
    request["prefetch"]["conditions"]["entry"][0]["resource"]["x-unread"] = "MARK"
    text = json.dumps(request).replace('"MARK"', '"\udcff"')  # a lone 0xFF byte, encoded below
    response = client.post(
        SELECT, data=text.encode("utf-8", "surrogateescape"), content_type="application/json"
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.get_json()["issue"][0]["diagnostics"]


def test_a_member_the_one_pass_read_does_not_know_is_read_whole_with_the_same_answer(
    client, one_pass_reads
):
    plain = client.post(SELECT, json=SEED).get_json()
    extended = client.post(SELECT, json={**SEED, "x-vendor-member": {"a": [1, 2]}}).get_json()

    assert one_pass_reads == [True, False]
    assert without_uuids(extended) == without_uuids(plain)


def test_a_code_with_every_r4_element_is_given_back_as_sent():
    code = {
        "id": "c1",
        "extension": [{"url": "https://example.org/x", "valueString": "kept"}],
        "coding": [
            {
                "id": "k1",
                "system": ICD10,
                "version": "2025",
                "code": "M80.08XA",
                "display": "Age-related osteoporosis with current pathological fracture",
                "userSelected": True,
                "_display": {"extension": [{"url": "https://example.org/t", "valueCode": "en"}]},
            },
            "not a coding",
        ],
        "text": "Osteoporotic fracture of L2",
        "_text": {"id": "t1"},
    }
    vcf = {**condition("vcf", "p", ICD10, "M80.08XA"), "code": code}
    (resource,) = bundle_resources(as_views({"k": searchset([vcf])})["k"])

    assert resource.get("code") == code
    assert dict(resource.items())["code"] == code


def test_odd_codes_keep_or_leave_out_the_same_resources_read_through_views():
    def coded(rid: str, code: object) -> dict:
        return {**condition(rid, "p", ICD10, "M80.08XA"), "code": code}

    vcf = [{"system": ICD10, "code": "M80.08XA"}]
    conditions = [
        coded("a-string", "M80.08XA"),
        coded("a-list", vcf),
        coded("coding-an-object", {"coding": vcf[0]}),
        coded("coding-of-odd-items", {"coding": [None, 3, "x", [vcf[0]]]}),
        coded("system-a-number", {"coding": [{"system": 7, "code": "M80.08XA"}]}),
        coded("no-coding", {"text": "fracture"}),
        coded("second-coding-counts", {"coding": [{"code": "x"}, vcf[0]]}),
        coded("plain", {"coding": vcf}),
    ]
    as_dicts = {"Condition": conditions}
    viewed = {"Condition": bundle_resources(as_views({"k": searchset(conditions)})["k"])}

    from_views = build_history(viewed, knowledge())
    from_dicts = build_history(as_dicts, knowledge())
    assert [c.id for c in from_views.conditions] == [c.id for c in from_dicts.conditions]
    assert {c.id for c in from_views.conditions} == {"second-coding-counts", "plain"}
    assert from_views.skipped_invalid == from_dicts.skipped_invalid


def test_an_element_r4_does_not_define_in_a_code_is_read_whole_not_dropped(client, one_pass_reads):
    request = json.loads(json.dumps(SEED))
    code = request["prefetch"]["conditions"]["entry"][0]["resource"]["code"]
    code["coding"][0]["x-vendor"] = "kept in sight"
    client.post(SELECT, json=SEED)
    client.post(SELECT, json=request)

    assert one_pass_reads == [True, False]
