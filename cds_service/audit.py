"""One structured (JSON) log line per hook or feedback call, on the `cds_service.audit` logger.

It says how the service behaved, for operations and for audit: when, which service and hook
instance, for which trusted issuer, with what status, how long each stage took, how many
cards and which ratings (ACR category and card topic). By construction it holds no patient
identifier, name or clinical content (no displays, no codes from the patient's record) and
no token: every field is built here from values the service itself defines.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cds_service.decision.model import OrderDecision

if TYPE_CHECKING:
    from cds_service.pipeline import HookOutcome

AUDIT_LOG = logging.getLogger("cds_service.audit")


@dataclass(frozen=True)
class CallRecord:
    service: str | None
    hook: str | None
    hook_instance: str | None
    issuer: str | None  # None: development mode, or the caller was not authenticated
    status: int
    seconds: float
    stage_seconds: Mapping[str, float] = field(default_factory=dict)
    cards: int | None = None  # None: no cards were produced (feedback, errors)
    ratings: tuple[Mapping[str, str], ...] = ()
    no_advice: str | None = None
    # Imaging orders past CDS_MAX_DRAFT_ORDERS: neither rated nor in `ratings`, which so stays
    # at most that long.
    not_evaluated: int = 0


def outcome_fields(outcome: HookOutcome | None) -> dict[str, Any]:
    """The CallRecord fields a finished hook call contributes."""
    if outcome is None:
        return {}
    return {
        "stage_seconds": dict(outcome.timings.seconds),
        "cards": len(outcome.response.cards),
        "ratings": ratings(outcome.decisions),
        "no_advice": outcome.no_advice_reason,
        "not_evaluated": outcome.not_evaluated,
    }


def ratings(decisions: Iterable[OrderDecision]) -> tuple[Mapping[str, str], ...]:
    return tuple(
        {"category": str(decision.category), "topic": str(decision.topic)} for decision in decisions
    )


def log_call(record: CallRecord, clock: Callable[[], datetime] | None = None) -> None:
    now = (clock or (lambda: datetime.now(UTC)))()
    line: dict[str, Any] = {
        "time": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "service": record.service,
        "hook": record.hook,
        "hookInstance": _uuid_only(record.hook_instance),
        "issuer": record.issuer,
        "status": record.status,
        "seconds": round(record.seconds, 6),
        "stageSeconds": dict(record.stage_seconds),
        "cards": record.cards,
        "ratings": [dict(rating) for rating in record.ratings],
    }
    if record.no_advice:
        line["noAdvice"] = record.no_advice
    if record.not_evaluated:
        line["notEvaluated"] = record.not_evaluated
    AUDIT_LOG.info(json.dumps(line, separators=(",", ":")))


def _uuid_only(hook_instance: str | None) -> str | None:
    """The spec makes hookInstance a UUID; anything else might carry what a client put there."""
    if hook_instance is None:
        return None
    try:
        return str(uuid.UUID(hook_instance))
    except ValueError:
        return "not-a-uuid"
