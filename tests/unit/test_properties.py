"""Property tests of the clinical core through the whole hook pipeline (Hypothesis).

Charts and draft orders are generated from the knowledge's own value sets and orderables,
from codes outside them, and with missing and malformed fields. Whatever the chart, the
service never raises, gives at most one card per evaluated order, never rates an order or a
patient it does not cover, keeps every summary under 140 characters, and every suggested
order it creates is a valid R4B ServiceRequest.
"""

from __future__ import annotations

import functools
import string
from typing import Any

import jsonschema
import requests
from fhir.resources.R4B.servicerequest import ServiceRequest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.cdshooks.request import HookRequest, HookRequestSchema
from cds_service.cdshooks.response import ActionType, dump_response
from cds_service.decision import classify_order
from cds_service.knowledge.model import Knowledge
from cds_service.pipeline import HookOutcome, HookPipeline
from cds_service.registry import SERVICES_BY_ID
from cds_service.render import Renderer
from cds_service.settings import DEFAULT_KNOWLEDGE_DIR, Settings
from cds_service.web.openapi import build_openapi

ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
CPT = "http://www.ama-assn.org/go/cpt"
LOINC = "http://loinc.org"
PATIENT = "pt-1"
VCF_HISTORY_SETS = ("prior_vcf", "vertebral_augmentation")  # DESIGN.md: patients in scope
PROPERTIES = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@functools.cache
def knowledge() -> Knowledge:
    from cds_service.knowledge.loader import load_knowledge

    return load_knowledge(DEFAULT_KNOWLEDGE_DIR)


@functools.cache
def pipeline() -> HookPipeline:
    return HookPipeline(knowledge(), Settings(), requests.Session(), Renderer(knowledge()))


@functools.cache
def response_validator() -> jsonschema.Validator:
    schema = {"$ref": "#/components/schemas/HookResponse", **build_openapi()}
    return jsonschema.Draft4Validator(schema)


# -- codes: in the value sets, orderable, and outside ----------------------------------------

JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**12),
    st.text(max_size=12),
    st.lists(st.none(), max_size=2),
    st.dictionaries(st.sampled_from(["x", "code", "text"]), st.integers(), max_size=2),
)
LEVELS = st.sampled_from(["L2", "T12", "L1-L3", "C5", "T7 and T8", "lumbar", "", "L9", "Q2"])
DATES = st.one_of(
    st.dates().map(lambda day: day.isoformat()),
    st.sampled_from(["2024-11", "2026", "2024-13-45", "yesterday", "2024-11-12T10:00:00Z"]),
)


def _value_set_coding(*names: str) -> st.SearchStrategy[dict]:
    value_sets = [knowledge().value_sets[name] for name in names] or knowledge().value_sets.values()
    entries = [entry for vs in value_sets for entry in vs.entries]
    suffix = st.text(string.ascii_uppercase + string.digits + ".", max_size=4)
    return st.builds(
        lambda entry, tail: {
            "system": entry.system,
            "code": entry.code or (entry.prefix or (entry.code_range or ("",))[0]) + tail,
        },
        st.sampled_from(entries),
        suffix,
    )


def _orderable_coding() -> st.SearchStrategy[dict]:
    orderables = sorted(knowledge().orderables.values(), key=lambda o: (o.system, o.code))
    return st.sampled_from(orderables).map(
        lambda o: {"system": o.system, "code": o.code, "display": o.display}
    )


OUTSIDE_CODING = st.fixed_dictionaries(
    {
        "system": st.sampled_from([ICD10, SNOMED, CPT, LOINC, "urn:oid:1.2.3", "x"]),
        "code": st.text(string.ascii_uppercase + string.digits + ".", min_size=1, max_size=8),
    }
)
CODING = st.one_of(st.deferred(_value_set_coding), st.deferred(_orderable_coding), OUTSIDE_CODING)
ORDER_TEXT = st.sampled_from(
    [
        "CT thoracic spine with contrast",
        "MRI L-spine w/o",
        "XR lumbar spine 2 views",
        "Bone scan whole body",
        "CT chest",
        "MRI brain",
        "kyphoplasty L2",
        "",
    ]
)


def concept(text: st.SearchStrategy[str] = ORDER_TEXT) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(
        {}, optional={"coding": st.lists(CODING, max_size=3), "text": text}
    )


def status(system: str, codes: list[str]) -> st.SearchStrategy[dict]:
    url = f"http://terminology.hl7.org/CodeSystem/{system}"
    return st.sampled_from(codes).map(lambda code: {"coding": [{"system": url, "code": code}]})


def malformed(resource: st.SearchStrategy[dict]) -> st.SearchStrategy[dict]:
    """A resource with one field replaced by a value of any type, or dropped."""

    def spoil(value: dict, key: str, junk: Any, drop: bool) -> dict:
        spoiled = dict(value)
        if drop:
            spoiled.pop(key, None)
        else:
            spoiled[key] = junk
        return spoiled

    keys = st.sampled_from(
        ["code", "status", "subject", "id", "bodySite", "clinicalStatus", "authoredOn", "intent"]
    )
    return st.builds(spoil, resource, keys, JUNK, st.booleans())


def resource(
    resource_type: str, fields: dict[str, st.SearchStrategy], clinical: dict[str, st.SearchStrategy]
) -> st.SearchStrategy:
    """Three kinds alike: clinically plausible, any mix of fields, and malformed."""
    required = {"resourceType": st.just(resource_type), "subject": st.just(_patient())}
    plain = st.fixed_dictionaries(required, optional=fields)
    return st.one_of(st.fixed_dictionaries({**required, **clinical}), plain, malformed(plain))


def _patient() -> dict:
    return {"reference": f"Patient/{PATIENT}"}


CONDITION = resource(
    "Condition",
    {
        "code": concept(st.just("vertebral fracture")),
        "clinicalStatus": status("condition-clinical", ["active", "resolved", "inactive", "x"]),
        "verificationStatus": status(
            "condition-ver-status", ["confirmed", "refuted", "entered-in-error", "unconfirmed"]
        ),
        "onsetDateTime": DATES,
        "bodySite": st.lists(LEVELS.map(lambda text: {"text": text}), max_size=2),
    },
    {
        "code": st.deferred(lambda: _value_set_coding()).map(lambda c: {"coding": [c]}),
        "clinicalStatus": status("condition-clinical", ["active", "resolved"]),
        "verificationStatus": status("condition-ver-status", ["confirmed"]),
        "onsetDateTime": st.dates().map(lambda day: day.isoformat()),
        "bodySite": st.lists(LEVELS.map(lambda text: {"text": text}), min_size=1, max_size=1),
    },
)
PRIOR_VCF = st.fixed_dictionaries(
    {
        "resourceType": st.just("Condition"),
        "id": st.just("prior-vcf"),
        "subject": st.just(_patient()),
        "code": st.deferred(lambda: _value_set_coding("prior_vcf")).map(lambda c: {"coding": [c]}),
        "clinicalStatus": status("condition-clinical", ["active", "resolved"]),
        "verificationStatus": status("condition-ver-status", ["confirmed"]),
        "onsetDateTime": st.just("2024-10-28"),
        "bodySite": st.lists(LEVELS.map(lambda text: {"text": text}), max_size=1),
    }
)
PROCEDURE = resource(
    "Procedure",
    {
        "status": st.sampled_from(["completed", "not-done", "entered-in-error", "in-progress"]),
        "code": concept(),
        "performedDateTime": DATES,
        "bodySite": st.lists(LEVELS.map(lambda text: {"text": text}), max_size=2),
    },
    {
        "status": st.just("completed"),
        "code": st.one_of(
            st.deferred(lambda: _value_set_coding("vertebral_augmentation")),
            st.deferred(_orderable_coding),
        ).map(lambda c: {"coding": [c]}),
        "performedDateTime": st.dates().map(lambda day: day.isoformat()),
        "bodySite": st.lists(LEVELS.map(lambda text: {"text": text}), min_size=1, max_size=1),
    },
)
IMAGING_ORDER = {
    "status": st.just("draft"),
    "intent": st.just("order"),
    "code": st.builds(
        lambda coding, text: {"coding": [coding], "text": text},
        st.deferred(_orderable_coding),
        ORDER_TEXT,
    ),
    "authoredOn": st.just("2026-11-20"),
    "reasonCode": st.lists(concept(st.sampled_from(["Low back pain", "T-spine pain"]))),
}
DRAFT_ORDER = resource(
    "ServiceRequest",
    {
        "status": st.sampled_from(["draft", "active", "completed", "revoked"]),
        "intent": st.sampled_from(["order", "proposal", "plan"]),
        "code": concept(),
        "authoredOn": DATES,
        "reasonCode": st.lists(concept(st.sampled_from(["Low back pain", "T-spine pain"]))),
        "bodySite": st.lists(LEVELS.map(lambda text: {"text": text}), max_size=1),
    },
    IMAGING_ORDER,
)
OTHER_DRAFT = st.fixed_dictionaries(
    {"resourceType": st.sampled_from(["MedicationRequest", "NutritionOrder", "Patient", ""])}
)


def with_ids(prefix: str, resources: list[dict]) -> list[dict]:
    """Unique ids where the generator left one; an `id` it spoiled stays spoiled."""
    return [
        {"id": f"{prefix}-{index}", **r} if "id" not in r else r
        for index, r in enumerate(resources)
    ]


def bundle(resources: list[dict]) -> dict:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
    }


@st.composite
def hook_requests(draw: st.DrawFn) -> tuple[str, dict]:
    service_id = draw(st.sampled_from(sorted(SERVICES_BY_ID)))
    drafts = draw(st.lists(st.one_of(DRAFT_ORDER, OTHER_DRAFT), max_size=3))
    if draw(st.booleans()):  # half the calls surely order spine imaging
        drafts.append(
            draw(
                st.fixed_dictionaries(
                    {
                        **IMAGING_ORDER,
                        "resourceType": st.just("ServiceRequest"),
                        "subject": st.just(_patient()),
                    }
                )
            )
        )
    drafts = with_ids("draft", draw(st.permutations(drafts)))
    context: dict[str, Any] = {
        "userId": "Practitioner/dr-lee",
        "patientId": PATIENT,
        "draftOrders": bundle(drafts),
    }
    if SERVICES_BY_ID[service_id].evaluates_selections_only:
        references = [f"{d.get('resourceType')}/{d.get('id')}" for d in drafts]
        references.append("ServiceRequest/not-in-the-bundle")
        context["selections"] = draw(st.lists(st.sampled_from(references), min_size=1))
    prefetch = {
        "patient": {"resourceType": "Patient", "id": PATIENT},
        "conditions": bundle(with_ids("cond", draw(st.lists(CONDITION, max_size=5)))),
        "procedures": bundle(with_ids("proc", draw(st.lists(PROCEDURE, max_size=4)))),
        "serviceRequests": bundle(with_ids("sr", draw(st.lists(DRAFT_ORDER, max_size=3)))),
    }
    if draw(st.booleans()):  # half the charts surely hold a prior VCF
        prefetch["conditions"]["entry"].append({"resource": draw(PRIOR_VCF)})
    hook = SERVICES_BY_ID[service_id].hook
    request = {"hook": hook, "hookInstance": "prop", "context": context, "prefetch": prefetch}
    return service_id, request


# -- the properties ---------------------------------------------------------------------------


def run(service_id: str, request: dict) -> tuple[HookRequest, HookOutcome]:
    hook_request: HookRequest = HookRequestSchema().load(request)
    return hook_request, pipeline().run(
        SERVICES_BY_ID[service_id], hook_request, base_url="http://cds.test"
    )


def evaluated_orders(service_id: str, hook_request: HookRequest) -> dict[str, dict]:
    drafts = {
        f"{r.get('resourceType')}/{r.get('id')}": r for r in hook_request.context.draft_resources()
    }
    if SERVICES_BY_ID[service_id].evaluates_selections_only:
        return {ref: r for ref, r in drafts.items() if ref in hook_request.context.selections}
    return drafts


def in_scope(raw: dict) -> bool:
    """What the order is, by the public core API alone: imaging it recognises, or not."""
    try:
        order = ServiceRequest.model_validate(raw)
    except (ValueError, TypeError):
        return False
    return classify_order(order, knowledge()).study is not None


def could_show_vcf_history(request: dict) -> bool:
    """A code of the VCF-history value sets, or words that name a vertebral fracture."""
    sets = [knowledge().value_sets[name] for name in VCF_HISTORY_SETS]
    words = knowledge().text_patterns.prior_vcf_words
    for key in ("conditions", "procedures", "serviceRequests"):
        for entry in request["prefetch"][key]["entry"]:
            concept_ = entry["resource"].get("code")
            if not isinstance(concept_, dict):
                continue
            codings = concept_.get("coding")
            codings = (
                [c for c in codings if isinstance(c, dict)] if isinstance(codings, list) else []
            )
            if any(vs.match(c.get("system"), c.get("code")) for vs in sets for c in codings):
                return True
            texts = [concept_.get("text"), *(c.get("display") for c in codings)]
            if any(isinstance(t, str) and words.search(t) for t in texts):
                return True
    return False


@PROPERTIES
@given(hook_requests())
def test_at_most_one_card_per_evaluated_order_and_only_for_covered_orders(generated):
    service_id, request = generated
    hook_request, outcome = run(service_id, request)

    evaluated = evaluated_orders(service_id, hook_request)
    decided = [decision.order.reference for decision in outcome.decisions]
    assert len(outcome.response.cards) == len(decided) == len(set(decided))
    assert set(decided) <= {ref for ref, raw in evaluated.items() if in_scope(raw)}
    rated = [
        f"ServiceRequest/{action.resource['id']}" for action in outcome.response.system_actions
    ]
    # Every evaluated imaging order is rated once, so that no EHR keeps a stale rating;
    # nothing else is.
    assert sorted(rated) == sorted(ref for ref, raw in evaluated.items() if is_imaging(raw))
    # A carded vertebral augmentation is not imaging: it is not rated.
    assert {ref for ref in decided if is_imaging(evaluated[ref])} <= set(rated)
    if not could_show_vcf_history(request):
        assert outcome.response.cards == ()
        assert {pama_rating(action) for action in outcome.response.system_actions} <= {
            "no-criteria-apply"
        }


def is_imaging(raw: dict) -> bool:
    try:
        order = ServiceRequest.model_validate(raw)
    except (ValueError, TypeError):
        return False
    return (
        raw.get("resourceType") == "ServiceRequest"
        and bool(raw.get("id"))
        and (classify_order(order, knowledge()).is_imaging)
    )


def pama_rating(action) -> str:
    (extension,) = [e for e in action.resource["extension"] if e["url"].endswith("/pama-rating")]
    return extension["valueCodeableConcept"]["coding"][0]["code"]


@PROPERTIES
@given(hook_requests())
def test_every_answer_is_valid_with_short_summaries_and_valid_suggested_orders(generated):
    service_id, request = generated
    _, outcome = run(service_id, request)

    answer = dump_response(outcome.response)
    response_validator().validate(answer)
    for card in outcome.response.cards:
        assert 0 < len(card.summary) < 140
        for suggestion in card.suggestions:
            for action in suggestion.actions:
                if action.type is ActionType.CREATE:
                    created = ServiceRequest.model_validate(action.resource)
                    assert created.status == "draft"
                    assert created.subject.reference == f"Patient/{PATIENT}"
