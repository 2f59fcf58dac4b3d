"""Bad input from the network gets a JSON 4xx or a valid answer: never a 5xx, never HTML.

Bodies that are not JSON, nested 100000 deep, huge, holding NUL or lone surrogates, and the
seed request with every single value in it replaced by a value of the wrong type or removed
(including everything inside draftOrders and prefetch: invalid FHIR of every kind).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from cds_service import create_app
from cds_service.settings import Settings
from cds_service.web.openapi import build_openapi

from ..conftest import FIXTURES

SELECT = "/cds-services/vcf-imaging-order-select"
SIGN = "/cds-services/vcf-imaging-order-sign"
FEEDBACK = "/cds-services/vcf-imaging-order-sign/feedback"
WRONG_VALUES: tuple[Any, ...] = (
    None,
    False,
    0,
    -1.5e308,
    "",
    "🦴 L2",
    [],
    {},
    [None, {}],
    {"resourceType": "OperationOutcome", "issue": [{"severity": "error"}]},
)
_COMPONENTS = build_openapi()["components"]


def scenario(name: str) -> dict:
    return json.loads((FIXTURES / name / "request.json").read_text())


SEED = scenario("seed-kyphoplasty-ct-thoracic-with-contrast")
FEEDBACK_BODY = {
    "feedback": [
        {
            "card": "9c23b72d-ac37-49d6-ba71-3c37fe889f66",
            "outcome": "overridden",
            "overrideReason": {
                "reason": {"system": "https://example.org/override", "code": "x", "display": "X"},
                "userComment": "prefers MRI",
            },
            "outcomeTimestamp": "2026-11-20T10:05:31Z",
        },
        {
            "card": "3a745858-748b-4aec-83fa-ad39cc62f85f",
            "outcome": "accepted",
            "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
            "outcomeTimestamp": "2026-11-20T10:06:00+01:00",
        },
    ]
}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    database = tmp_path_factory.mktemp("bad-input") / "feedback.sqlite3"
    return create_app(Settings(database_url=f"sqlite:///{database}")).test_client()


def problem(response, answer_schema: str) -> str | None:
    """None when the answer is a JSON 4xx OperationOutcome or a valid 200; else what is wrong."""
    if response.status_code >= 500 or response.mimetype != "application/json":
        return f"{response.status_code} {response.mimetype}"
    body = json.loads(response.data)
    schema = answer_schema if response.status_code == 200 else "OperationOutcome"
    errors = list(_validator(schema).iter_errors(body))
    return f"{response.status_code}: {errors[0].message}" if errors else None


def _validator(component: str) -> jsonschema.Validator:
    schema = {"$ref": f"#/components/schemas/{component}", "components": _COMPONENTS}
    return jsonschema.Draft4Validator(schema)


def post_raw(client, path: str, data: bytes | str, content_type="application/json"):
    return client.post(path, data=data, content_type=content_type)


def every_path(value: Any, path: tuple = ()) -> Iterator[tuple]:
    yield path
    if isinstance(value, dict | list):
        children = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in children:
            yield from every_path(child, (*path, key))


def replaced(body: dict, path: tuple, value: Any) -> dict:
    changed = copy.deepcopy(body)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = copy.deepcopy(value)
    return changed


def removed(body: dict, path: tuple) -> dict:
    changed = copy.deepcopy(body)
    target = changed
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return changed


def nested(depth: int, opening: str = "[", leaf: str = "1", closing: str = "]") -> str:
    return opening * depth + leaf + closing * depth


def extension_chain(levels: int) -> dict:
    """FHIR extensions inside extensions: valid FHIR, two JSON levels each."""
    extension: dict = {"url": "https://example.org/leaf", "valueString": "leaf"}
    for _ in range(levels):
        extension = {"url": "https://example.org/node", "extension": [extension]}
    return extension


@pytest.mark.parametrize("path", [SELECT, SIGN, FEEDBACK])
@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\xff\xfe{}",  # not UTF-8
        b'{"hook": "\xc0\xaf"}',  # overlong UTF-8
        b'{"hook": "\xed\xa0\x80"}',  # a surrogate encoded as UTF-8
        b"null",
        b"[1, 2]",
        b'"order-select"',
        b"{",
        b'{"hook": ' + b"9" * 5000 + b"}",  # past Python's int digit limit
        b'{"hook": NaN, "hookInstance": Infinity}',
        nested(100_000).encode(),  # the brief's 100000 nested lists
        nested(100_000, '{"a":', "1", "}").encode(),
        nested(65).encode(),
    ],
    ids=lambda body: repr(body[:20]),
)
def test_bodies_that_are_no_usable_json_object_are_a_json_400(client, path, body):
    response = post_raw(client, path, body)

    assert response.status_code == 400 and problem(response, "HookResponse") is None


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_declared_json_is_a_json_400(client, content_type):
    response = post_raw(client, SELECT, json.dumps(SEED), content_type)

    assert response.status_code == 400 and problem(response, "HookResponse") is None


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "HEAD"])
def test_other_methods_are_a_json_405(client, method):
    response = client.open(SELECT, method=method, json=SEED)

    assert response.status_code == 405


@pytest.mark.parametrize(
    "text", ["\\u0000", "a\\u0000b", "\\ud800", "x\\udfff", "\\ude00\\ud83d"], ids=repr
)
@pytest.mark.parametrize("where", ["hookInstance", "key", "feedback"])
def test_nul_and_lone_surrogates_are_a_json_400(client, text, where):
    if where == "feedback":
        path, body = FEEDBACK, json.dumps(FEEDBACK_BODY).replace("prefers MRI", text)
    elif where == "key":
        path, body = SELECT, json.dumps({**SEED, "extension": {"k": 1}}).replace('"k"', f'"{text}"')
    else:
        path, body = SELECT, json.dumps(SEED).replace(SEED["hookInstance"], text)

    response = post_raw(client, path, body)

    assert response.status_code == 400, response.data
    assert "NUL" in response.get_json()["issue"][0]["diagnostics"]


def test_a_surrogate_pair_is_a_real_character_and_welcome(client):
    body = json.dumps(FEEDBACK_BODY).replace("prefers MRI", "\\ud83e\\uddb4 prefers MRI")

    assert post_raw(client, FEEDBACK, body).status_code == 200


@pytest.mark.parametrize("levels", [5, 25, 200])
@pytest.mark.parametrize("where", ["draft", "prefetch"])
def test_deep_fhir_extensions_in_draft_orders_and_prefetch(client, levels, where):
    request = copy.deepcopy(SEED)
    if where == "draft":
        resource = request["context"]["draftOrders"]["entry"][0]["resource"]
    else:
        resource = request["prefetch"]["conditions"]["entry"][1]["resource"]
    resource["extension"] = [extension_chain(levels)]

    response = client.post(SELECT, json=request)

    assert problem(response, "HookResponse") is None
    if levels <= 25:  # within the nesting limit: still a FHIR resource like any other
        assert response.status_code == 200 and response.get_json()["cards"]


@pytest.mark.parametrize("where", ["hookInstance", "order text", "prefetch text", "unknown key"])
def test_huge_strings_under_the_size_limit_get_an_answer(client, where):
    huge = "L2 " * 1_300_000  # 3.9 MB of a 5 MB limit
    request = copy.deepcopy(SEED)
    if where == "hookInstance":
        request["hookInstance"] = huge
    elif where == "order text":
        request["context"]["draftOrders"]["entry"][0]["resource"]["code"]["text"] = huge
    elif where == "prefetch text":
        request["prefetch"]["conditions"]["entry"][1]["resource"]["code"]["text"] = huge
    else:
        request[huge[:100_000]] = huge

    response = client.post(SELECT, json=request)

    assert response.status_code == 200 and problem(response, "HookResponse") is None


def test_a_body_over_the_limit_is_a_json_413(client):
    response = post_raw(client, SELECT, b'{"hook": "' + b"x" * 6_000_000 + b'"}')

    assert response.status_code == 413 and problem(response, "HookResponse") is None


@pytest.mark.parametrize(
    ("service", "fixture"),
    [(SELECT, "seed-kyphoplasty-ct-thoracic-with-contrast"), (SIGN, "order-sign-two-spine-orders")],
)
def test_any_value_of_a_hook_request_wrong_or_missing_never_breaks_the_service(
    client, service, fixture
):
    request = scenario(fixture)
    failures = []
    for path in list(every_path(request))[1:]:
        variants = [replaced(request, path, value) for value in WRONG_VALUES]
        for changed in [*variants, removed(request, path)]:
            found = problem(client.post(service, json=changed), "HookResponse")
            if found:
                failures.append(f"{'.'.join(map(str, path))}: {found}")
    assert failures == []


def test_any_value_of_a_feedback_body_wrong_or_missing_never_breaks_the_service(client):
    failures = []
    for path in list(every_path(FEEDBACK_BODY))[1:]:
        variants = [replaced(FEEDBACK_BODY, path, value) for value in WRONG_VALUES]
        for changed in [*variants, removed(FEEDBACK_BODY, path)]:
            found = problem(client.post(FEEDBACK, json=changed), "FeedbackStored")
            if found:
                failures.append(f"{'.'.join(map(str, path))}: {found}")
    assert failures == []


@pytest.mark.parametrize("key", ["patient", "conditions", "procedures", "serviceRequests"])
@pytest.mark.parametrize(
    "value",
    [
        {"resourceType": "Bundle", "entry": "not a list"},
        {"resourceType": "Bundle", "entry": [None, 1, "x", []]},
        {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Patient"}}]},
        {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Condition"}}]},
        {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": 5, "id": []}}]},
        {"resourceType": "Bundle", "link": [{"relation": "next", "url": 7}]},
        {"resourceType": "Condition", "id": "not-a-bundle", "code": "M80.08XA"},
        {"resourceType": "OperationOutcome", "issue": "broken"},
        {"no": "resourceType"},
    ],
    ids=lambda value: json.dumps(value)[:50],
)
def test_invalid_fhir_in_prefetch_never_breaks_the_service(client, key, value):
    request = copy.deepcopy(SEED)
    request["prefetch"][key] = value

    assert problem(client.post(SELECT, json=request), "HookResponse") is None
