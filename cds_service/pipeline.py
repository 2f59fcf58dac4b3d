"""One hook call, end to end, without Flask:

envelope -> draft orders to evaluate -> classification -> patient history (prefetch or
FHIR) -> findings -> decisions -> cards. The web layer maps its exceptions to HTTP.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import requests
from fhir.resources.R4B.servicerequest import ServiceRequest
from pydantic import ValidationError

from cds_service.cdshooks.request import HookRequest
from cds_service.cdshooks.response import HookResponse
from cds_service.decision import classify_order, decide, find_patient_findings
from cds_service.decision.model import ClassifiedOrder, OrderDecision
from cds_service.decision.record import concept_words
from cds_service.decision.suggestions import with_same_region_orders
from cds_service.fhir import HookDeadlineExceeded, gather_history
from cds_service.fhir.parse import CONCEPT_MODELS
from cds_service.knowledge.model import Knowledge
from cds_service.registry import ServiceDeclaration
from cds_service.render import Renderer, UnratedOrder
from cds_service.render_limits import NAMED_ORDERS, LeftOut
from cds_service.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class StageTimings:
    """Seconds spent per stage of one call, for the audit line and metrics."""

    seconds: dict[str, float] = field(default_factory=dict)

    def measure(self, stage: str, started: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] = round(now - started, 6)
        return now


@dataclass(frozen=True)
class DraftOrder:
    raw: dict[str, Any]
    classified: ClassifiedOrder


@dataclass
class HookOutcome:
    response: HookResponse
    decisions: tuple[OrderDecision, ...] = ()
    timings: StageTimings = field(default_factory=StageTimings)
    no_advice_reason: str | None = None
    not_evaluated: int = 0  # imaging orders past CDS_MAX_DRAFT_ORDERS: no advice, no rating


class HookPipeline:
    def __init__(
        self,
        knowledge: Knowledge,
        settings: Settings,
        session: requests.Session,
        renderer: Renderer,
    ) -> None:
        self._knowledge = knowledge
        self._settings = settings
        self._session = session
        self._renderer = renderer

    def run(
        self,
        service: ServiceDeclaration,
        hook_request: HookRequest,
        started: float | None = None,
        *,
        base_url: str,
    ) -> HookOutcome:
        """`base_url`: the service's public address, for the cards' evidence links."""
        started = time.monotonic() if started is None else started
        deadline = started + self._settings.hook_deadline_seconds
        timings = StageTimings()
        mark = time.perf_counter()
        drafts, left_out = self._imaging_drafts(service, hook_request)
        mark = timings.measure("parse", mark)
        if not drafts:
            return HookOutcome(HookResponse(), timings=timings, no_advice_reason="no imaging order")
        not_evaluated = left_out.not_evaluated if left_out else 0
        if not any(draft.classified.study is not None for draft in drafts):
            # Imaging of another body part: rated "no criteria apply", no history needed.
            response = self._renderer.render(
                (), self._unrated(drafts, ()), hook_request, base_url, left_out
            )
            timings.measure("render", mark)
            return HookOutcome(
                response,
                timings=timings,
                no_advice_reason="out of scope",
                not_evaluated=not_evaluated,
            )
        try:
            history = gather_history(
                hook_request, self._knowledge, self._settings, self._session, deadline
            )
        except HookDeadlineExceeded:
            timings.measure("fetch", mark)
            return HookOutcome(HookResponse(), timings=timings, no_advice_reason="deadline")
        mark = timings.measure("fetch", mark)
        findings = find_patient_findings(history, self._knowledge)
        mark = timings.measure("findings", mark)
        today = self._settings.today()
        raw_by_reference = {draft.classified.reference: draft.raw for draft in drafts}
        decisions = with_same_region_orders(
            [
                decision
                for draft in drafts
                if (decision := decide(findings, draft.classified, self._knowledge, today))
                is not None
            ]
        )
        mark = timings.measure("decision", mark)
        response = self._renderer.render(
            tuple((decision, raw_by_reference[decision.order.reference]) for decision in decisions),
            self._unrated(drafts, decisions),
            hook_request,
            base_url,
            left_out,
        )
        timings.measure("render", mark)
        reason = None if decisions else "out of scope"
        return HookOutcome(response, decisions, timings, reason, not_evaluated)

    def _imaging_drafts(
        self, service: ServiceDeclaration, hook_request: HookRequest
    ) -> tuple[list[DraftOrder], LeftOut | None]:
        """The orders to evaluate: a spine study the criteria may cover, a vertebral
        augmentation (checked for the MRI it needs first), or imaging of anything else (rated,
        never carded). Other orders are left alone.

        At most CDS_MAX_DRAFT_ORDERS of them, in the order sent; the draft ServiceRequests
        after those are not even classified (reading one as R4 is most of a large call's
        work) and are counted as left out. Advising on part of a call's orders as if it were
        all of them could read as "no change needed" for an order never looked at: the ones
        left out get no rating, and one card says how many there were.
        """
        cap = self._settings.max_draft_orders
        orders = _orders_to_evaluate(service, hook_request)
        drafts: list[DraftOrder] = []
        for position, raw in enumerate(orders):
            if len(drafts) == cap:
                return drafts, _left_out(cap, orders[position:])
            classified = _classify(raw, self._knowledge)
            if classified is not None and (classified.study is not None or classified.is_imaging):
                drafts.append(DraftOrder(raw, classified))
        return drafts, None

    @staticmethod
    def _unrated(
        drafts: Sequence[DraftOrder], decisions: Sequence[OrderDecision]
    ) -> tuple[UnratedOrder, ...]:
        """Imaging orders without a decision: the criteria do not cover them."""
        decided = {decision.order.reference for decision in decisions}
        return tuple(
            UnratedOrder(draft.classified, draft.raw)
            for draft in drafts
            if draft.classified.is_imaging and draft.classified.reference not in decided
        )


def _orders_to_evaluate(
    service: ServiceDeclaration, hook_request: HookRequest
) -> Sequence[dict[str, Any]]:
    """order-select: only the selected orders; order-sign: every draft order."""
    resources = hook_request.context.draft_resources()
    if not service.evaluates_selections_only:
        return resources
    selected = set(hook_request.context.selections or ())
    return [r for r in resources if f"{r.get('resourceType')}/{r.get('id')}" in selected]


def _left_out(evaluated: int, rest: Sequence[dict[str, Any]]) -> LeftOut | None:
    """The draft ServiceRequests past the cap, imaging or not: none was classified; the
    first NAMED_ORDERS are named as the EHR named them, for the card that lists them."""
    requests = [raw for raw in rest if raw.get("resourceType") == "ServiceRequest"]
    if not requests:
        return None
    names = tuple(_order_name(raw) for raw in requests[:NAMED_ORDERS])
    return LeftOut(evaluated, len(requests), names)


def _order_name(raw: dict[str, Any]) -> str:
    """What the EHR calls an order: its code's text, else a coding's display or code."""
    code = raw.get("code")
    if not isinstance(code, dict):
        return "an order without a code"
    return concept_words(code) or "an order without a name"


def _classify(raw: dict[str, Any], knowledge: Knowledge) -> ClassifiedOrder | None:
    """A draft ServiceRequest as the core sees it; None for other or unreadable resources."""
    if raw.get("resourceType") != "ServiceRequest" or not raw.get("id"):
        return None
    try:
        # A copy: the raw draft is echoed as it came in the rating and suggestions.
        order = ServiceRequest.model_validate(CONCEPT_MODELS.with_shared_concepts(dict(raw)))
    except (ValidationError, ValueError, TypeError):
        log.info("draft ServiceRequest skipped: not a valid R4 resource")
        return None
    return classify_order(order, knowledge)
