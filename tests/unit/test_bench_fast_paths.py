"""The shortcuts the benchmark led to answer exactly as the long ways did.

The body check skips gathering the strings when the raw bytes cannot hold a NUL or a lone
surrogate, and leaves the nesting of prefetched resources to the moment one becomes a model;
the code filter remembers which codes matter per knowledge. Each case here is one the
shortcut could get wrong.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging

import pytest

from cds_service.fhir.parse import RelevantCodes, build_history
from cds_service.knowledge.model import ValueSet
from tests.integration.fhir_helpers import ICD10, condition, knowledge

from ..conftest import FIXTURES

SELECT = "/cds-services/vcf-imaging-order-select"
SEED = json.loads(
    (FIXTURES / "seed-kyphoplasty-ct-thoracic-with-contrast" / "request.json").read_text()
)


def seed_with_reason(text: str) -> str:
    """The seed request as JSON text, the order's reason text replaced by `text` (raw JSON)."""
    return json.dumps(SEED).replace('"text": "Thoracic back pain"', f'"text": "{text}"', 1)


def post(client, body: bytes):
    return client.post(SELECT, data=body, content_type="application/json")


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        (seed_with_reason("\\uD800 upper-case escape").encode(), True),
        (seed_with_reason("\\uDBFF\\u0041").encode(), True),
        (seed_with_reason("NUL \\u0000").encode("utf-16"), True),  # NUL bytes everywhere
        (seed_with_reason("NUL \\u0000").encode("utf-8-sig"), True),
        (seed_with_reason("a real pair \\uD83E\\uDDB4").encode("utf-16"), False),
        (seed_with_reason("\\\\u0000 is only text").encode(), False),  # escaped backslash
        (seed_with_reason("한국어 (lead byte ED)").encode(), False),
        (seed_with_reason("raw \ud800").encode("utf-8", "surrogatepass"), True),
    ],
    ids=[
        "upper-case-lone-surrogate",
        "high-surrogate-then-letter",
        "utf16-nul",
        "utf8-bom-nul",
        "utf16-pair",
        "escaped-backslash",
        "hangul",
        "encoded-surrogate",
    ],
)
def test_nul_and_lone_surrogates_are_found_in_every_encoding(client, body, refused):
    response = post(client, body)
    if refused:
        assert response.status_code == 400
        assert "NUL" in response.get_json()["issue"][0]["diagnostics"]
    else:
        assert response.status_code == 200, response.get_json()
        assert len(response.get_json()["cards"]) == 1


@pytest.mark.parametrize(
    "number", [123456789012345678901234567890, -9223372036854775809, 18446744073709551616]
)
def test_integers_past_64_bits_come_back_exact(client, number):
    """The draft order comes back in the rating's systemAction: its numbers must not change."""
    request = json.loads(json.dumps(SEED))
    draft = request["context"]["draftOrders"]["entry"][0]["resource"]
    draft["extension"] = [{"url": "https://example.org/big", "valueDecimal": number}]
    response = post(client, json.dumps(request).encode())
    (rating,) = response.get_json()["extension"]["systemActions"]
    echoed = json.loads(response.data)["extension"]["systemActions"][0]["resource"]["extension"]
    assert rating["type"] == "update"
    assert {"url": "https://example.org/big", "valueDecimal": number} in echoed


def test_depth_is_still_checked_when_the_strings_are_not(client):
    deep: dict = {"url": "https://example.org/leaf"}
    for _ in range(40):  # two JSON levels each: 80 in all
        deep = {"url": "https://example.org/node", "extension": [deep]}
    request = json.loads(json.dumps(SEED))
    request["extension"] = deep
    body = json.dumps(request).encode()
    assert b"\\u" not in body  # so no string is gathered
    response = post(client, body)
    assert response.status_code == 400
    assert "nested too deeply" in response.get_json()["issue"][0]["diagnostics"]


def extension_chain(levels: int) -> dict:
    """FHIR extensions inside extensions: valid FHIR, two JSON levels each."""
    extension: dict = {"url": "https://example.org/leaf", "valueString": "leaf"}
    for _ in range(levels):
        extension = {"url": "https://example.org/node", "extension": [extension]}
    return extension


def seed_with_deep_prefetch(resource_id: str, inside: str | None = None) -> dict:
    """The seed request, one prefetched Condition given a 200-level extension chain: on
    the resource itself, or inside one of its elements."""
    request = copy.deepcopy(SEED)
    for entry in request["prefetch"]["conditions"]["entry"]:
        resource = entry["resource"]
        if resource["id"] == resource_id:
            holder = resource[inside] if inside else resource
            holder["extension"] = [extension_chain(100)]
    return request


def answer_texts(answer: dict) -> list[tuple[str, str]]:
    return [(card["summary"], card["detail"]) for card in answer["cards"]]


@pytest.mark.parametrize("resource_id", ["seed-osteoporosis", "seed-vcf-l2"])
def test_a_deep_extension_the_decision_never_reads_changes_nothing(client, resource_id):
    plain = client.post(SELECT, json=SEED).get_json()
    deep = client.post(SELECT, json=seed_with_deep_prefetch(resource_id)).get_json()

    assert answer_texts(deep) == answer_texts(plain)


def test_a_deep_element_the_decision_reads_is_left_out_as_invalid_and_counted(client, caplog):
    caplog.set_level(logging.WARNING, logger="cds_service")
    response = client.post(SELECT, json=seed_with_deep_prefetch("seed-vcf-l2", inside="code"))

    assert response.status_code == 200
    assert "skipped 1 invalid Condition resource(s)" in caplog.messages
    plain = client.post(SELECT, json=SEED).get_json()["cards"][0]["detail"]
    assert response.get_json()["cards"][0]["detail"] != plain  # the fracture is not cited


@pytest.mark.parametrize("where", ["draft order", "feedback"])
def test_what_is_read_at_once_is_still_refused_when_too_deep(client, where):
    if where == "feedback":
        feedback = {
            "card": "9368d37b-283f-44a0-93ea-547cebab93ed",
            "outcome": "accepted",
            "outcomeTimestamp": "2026-11-26T10:00:00Z",
            "extension": extension_chain(100),
        }
        response = client.post(f"{SELECT}/feedback", json={"feedback": [feedback]})
    else:
        request = copy.deepcopy(SEED)
        draft = request["context"]["draftOrders"]["entry"][0]["resource"]
        draft["extension"] = [extension_chain(100)]
        response = client.post(SELECT, json=request)
    assert response.status_code == 400
    assert "nested too deeply" in response.get_json()["issue"][0]["diagnostics"]


def test_the_code_filter_is_built_once_per_knowledge():
    assert RelevantCodes.from_knowledge(knowledge()) is RelevantCodes.from_knowledge(knowledge())


def test_remembered_codes_never_leak_from_one_knowledge_to_another():
    cancer = condition("c", "p", ICD10, "C50.911")
    real = knowledge()
    malignancy = real.value_sets["malignancy"]
    without = dataclasses.replace(
        real,
        value_sets={**real.value_sets, "malignancy": _emptied(malignancy)},
    )
    assert len(build_history({"Condition": [cancer]}, real).conditions) == 1
    assert build_history({"Condition": [cancer]}, without).conditions == ()
    assert len(build_history({"Condition": [cancer]}, real).conditions) == 1


def _emptied(value_set: ValueSet) -> ValueSet:
    return ValueSet(value_set.id, value_set.title, value_set.sources, ())


def test_the_answer_written_by_orjson_is_the_json_flask_would_write(client, app):
    """Non-ASCII text (a display in Korean, an emoji) and every card element come back as
    the value Flask's own writer gives; orjson only writes it faster."""
    request = json.loads(json.dumps(SEED))
    draft = request["context"]["draftOrders"]["entry"][0]["resource"]
    draft["code"]["text"] = "흉추 CT 조영제 🦴"
    response = post(client, json.dumps(request).encode())
    with app.app_context():
        flask_written = super(type(app.json), app.json).dumps(response.get_json())

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert json.loads(response.data) == json.loads(flask_written)
    assert "흉추 CT 조영제 🦴" in response.data.decode("utf-8")
