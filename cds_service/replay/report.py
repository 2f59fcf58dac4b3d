"""The replay report: one row per evaluated order, the table, the differences, the JSON.

The rows come from the answer alone (cards and the rating `systemActions`), so the same code
reads an in-process answer and one from a running service. Cards and rating actions are
emitted in the same order, one of each per rated order (DESIGN.md, contract).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TextIO

from cds_service.replay.core import Result, differences, normalize, unified_diff

NO_CARD = "no card"
_NONE = "-"
_RATING_EXTENSION_SUFFIX = "/acr-appropriateness"  # {system_base}/acr-appropriateness


@dataclass(frozen=True)
class CardRow:
    order: str
    topic: str
    indicator: str
    rating: str  # the ACR category, e.g. usually-appropriate
    suggested: str
    summary: str

    def as_json(self) -> dict[str, str]:
        return asdict(self)


def card_rows(request: dict[str, Any], response: dict[str, Any]) -> list[CardRow]:
    """One row per rated order (cards come in the order of the first ratings; an order rated
    without a card, "no criteria apply", shows `no card`), then one `no card` row per
    evaluated order left unrated (not imaging)."""
    cards = [c for c in response.get("cards") or [] if isinstance(c, dict)]
    ratings = _rating_actions(response)
    rows = []
    for index, action in enumerate(ratings):
        card = cards[index] if index < len(cards) else {}
        rows.append(_rated_row(action.get("resource") or {}, card))
    rows.extend(_rated_row({}, card) for card in cards[len(ratings) :])
    rated = {_reference(a.get("resource") or {}) for a in ratings}
    for order in evaluated_orders(request):
        if _reference(order) not in rated:
            rows.append(CardRow(order_label(order), NO_CARD, _NONE, _NONE, _NONE, ""))
    return rows


def evaluated_orders(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The draft orders the hook evaluates: the selected ones for order-select, all for sign."""
    context = request.get("context") or {}
    entries = (context.get("draftOrders") or {}).get("entry") or []
    orders = [
        e["resource"]
        for e in entries
        if isinstance(e, dict) and isinstance(e.get("resource"), dict)
    ]
    if request.get("hook") != "order-select":
        return orders
    selected = set(context.get("selections") or ())
    return [order for order in orders if _reference(order) in selected]


def order_label(order: dict[str, Any]) -> str:
    code = order.get("code") or order.get("medicationCodeableConcept") or {}
    codings = code.get("coding") or [{}]
    coding = codings[0]
    label = code.get("text") or coding.get("display") or coding.get("code")
    return label or _reference(order) or "(order without code)"


def _rated_row(resource: dict[str, Any], card: dict[str, Any]) -> CardRow:
    rating = _rating_fields(resource)
    topic = ((card.get("source") or {}).get("topic") or {}).get("code") or rating.get("topic")
    return CardRow(
        order=order_label(resource) if resource else _NONE,
        topic=topic or (_NONE if card else NO_CARD),  # rated, no card: criteria do not apply
        indicator=card.get("indicator") or _NONE,
        rating=rating.get("category") or _NONE,
        suggested=_suggested(card),
        summary=card.get("summary") or "",
    )


def _rating_actions(response: dict[str, Any]) -> list[dict[str, Any]]:
    actions = response.get("systemActions")
    if actions is None:
        actions = (response.get("extension") or {}).get("systemActions")
    return [a for a in actions or [] if isinstance(a, dict)]


def _rating_fields(resource: dict[str, Any]) -> dict[str, str]:
    for extension in resource.get("extension") or []:
        if str(extension.get("url", "")).endswith(_RATING_EXTENSION_SUFFIX):
            return {
                part.get("url"): part.get("valueCode") or part.get("valueString")
                for part in extension.get("extension") or []
            }
    return {}


def _suggested(card: dict[str, Any]) -> str:
    suggestions = card.get("suggestions") or []
    recommended = [s for s in suggestions if s.get("isRecommended")] or suggestions
    return recommended[0].get("label", _NONE) if recommended else _NONE


def _reference(resource: dict[str, Any]) -> str:
    if not resource.get("resourceType") or not resource.get("id"):
        return ""
    return f"{resource['resourceType']}/{resource['id']}"


# -- the table --------------------------------------------------------------------------

COLUMNS = ("scenario", "order", "topic", "indicator", "rating (ACR)", "suggested study", "result")
_MAX_WIDTH = {"order": 38, "suggested study": 38, "scenario": 44}


def format_table(lines: Iterable[Sequence[str]]) -> str:
    """A plain-text table: the header, a rule, then one line per row, cells cut to fit."""
    cells = [
        [_fit(text, _MAX_WIDTH.get(column, 28)) for column, text in zip(COLUMNS, row, strict=True)]
        for row in lines
    ]
    widths = [
        max([len(column), *(len(row[i]) for row in cells)]) for i, column in enumerate(COLUMNS)
    ]
    header = "  ".join(column.ljust(width) for column, width in zip(COLUMNS, widths, strict=True))
    rule = "  ".join("-" * width for width in widths)
    body = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join([header.rstrip(), rule, *body])


def table_lines(scenario: str, rows: Sequence[CardRow], result: str) -> list[tuple[str, ...]]:
    """The table lines of one scenario; its name and result only on its first line."""
    lines = []
    for index, row in enumerate(rows or [CardRow(_NONE, NO_CARD, _NONE, _NONE, _NONE, "")]):
        first = index == 0
        lines.append(
            (
                scenario if first else "",
                row.order,
                row.topic,
                row.indicator,
                row.rating,
                row.suggested,
                result if first else "",
            )
        )
    return lines


def _fit(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


# -- the replay report -----------------------------------------------------------------

MAX_LISTED_DIFFERENCES = 20


def verdict(result: Result) -> str:
    if result.expected is None:
        return "FAIL: no expected.json"
    if result.status != 200:
        return f"FAIL: HTTP {result.status}"
    return "pass" if result.passed else "FAIL"


def print_report(results: list[Result], out: TextIO, as_json: bool) -> None:
    failed = [r for r in results if not r.passed]
    if as_json:
        summary = {
            "passed": not failed,
            "total": len(results),
            "failed": len(failed),
            "scenarios": [_result_json(r) for r in results],
        }
        print(json.dumps(summary, indent=2, ensure_ascii=False), file=out)
        return
    lines = []
    for result in results:
        rows = card_rows(result.scenario.request, result.response)
        lines.extend(table_lines(result.scenario.name, rows, verdict(result)))
    print(format_table(lines), file=out)
    for result in failed:
        if result.expected is not None:
            print(f"\n=== {result.scenario.name}: {verdict(result)}", file=out)
            print(_explanation(result), file=out)
    unreviewed = sum(1 for r in results if r.expected is None)
    if unreviewed:
        print(
            f"\n{unreviewed} scenario(s) have no expected.json: review their answers "
            "(--json shows them whole), then record them with --update.",
            file=out,
        )
    print(
        f"\n{len(results)} scenarios: {len(results) - len(failed)} passed, {len(failed)} failed",
        file=out,
    )


def _result_json(result: Result) -> dict[str, object]:
    rows = card_rows(result.scenario.request, result.response)
    entry: dict[str, object] = {
        "scenario": result.scenario.name,
        "passed": result.passed,
        "status": result.status,
        "verdict": verdict(result),
        "rows": [row.as_json() for row in rows],
    }
    if not result.passed:
        entry["differences"] = _differences(result)
        entry["diff"] = unified_diff(result)
    return entry


def _differences(result: Result) -> list[str]:
    if result.expected is None:
        return [f"{result.scenario.expected_path.name} is missing"]
    return differences(normalize(result.expected), normalize(result.response))


def _explanation(result: Result) -> str:
    found = _differences(result)
    listed = found[:MAX_LISTED_DIFFERENCES]
    if len(found) > len(listed):
        listed.append(f"... and {len(found) - len(listed)} more")
    return "\n".join([*(f"  {line}" for line in listed), unified_diff(result)])
