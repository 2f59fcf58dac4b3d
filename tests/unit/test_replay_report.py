"""The replay table: one row per evaluated order, read from the answer's cards and ratings."""

from __future__ import annotations

from cds_service.replay.report import NO_CARD, card_rows, format_table, table_lines

RATING_URL = "https://example.org/vcf-imaging-cds/acr-appropriateness"


def order(resource_id: str, text: str) -> dict:
    return {"resourceType": "ServiceRequest", "id": resource_id, "code": {"text": text}}


def request(hook: str, *orders: dict, selections: list[str] | None = None) -> dict:
    context: dict = {
        "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": o} for o in orders]}
    }
    if selections is not None:
        context["selections"] = selections
    return {"hook": hook, "context": context}


def rated(draft: dict, category: str, topic: str) -> dict:
    extension = {
        "url": RATING_URL,
        "extension": [
            {"url": "category", "valueCode": category},
            {"url": "variant", "valueString": "vcf-v3"},
            {"url": "topic", "valueCode": topic},
        ],
    }
    return {
        "type": "update",
        "description": "rating",
        "resource": {**draft, "extension": [extension]},
    }


def card(topic: str, indicator: str, summary: str, *labels: str) -> dict:
    suggestions = [{"label": label, "uuid": f"s-{i}"} for i, label in enumerate(labels)]
    if suggestions:
        suggestions[-1]["isRecommended"] = True
    return {
        "summary": summary,
        "indicator": indicator,
        "source": {"label": "ACR", "topic": {"system": "urn:x", "code": topic}},
        "suggestions": suggestions,
    }


CT_WITH = order("ct-w", "CT lumbar spine with IV contrast")
CT_CHEST = order("ct-chest", "CT chest")


def test_a_rated_order_shows_topic_indicator_category_and_the_recommended_study():
    answer = {
        "cards": [
            card(
                "ContrastNotIndicated",
                "warning",
                "IV contrast not indicated",
                "MRI lumbar spine without IV contrast",
                "CT lumbar spine without IV contrast",
            )
        ],
        "systemActions": [rated(CT_WITH, "usually-not-appropriate", "ContrastNotIndicated")],
    }
    (row,) = card_rows(request("order-sign", CT_WITH), answer)
    assert row.order == "CT lumbar spine with IV contrast"
    assert row.topic == "ContrastNotIndicated"
    assert row.indicator == "warning"
    assert row.rating == "usually-not-appropriate"
    assert row.suggested == "CT lumbar spine without IV contrast"
    assert row.summary == "IV contrast not indicated"


def test_ratings_are_also_read_from_extension_system_actions():
    answer = {
        "cards": [card("UsuallyAppropriate", "info", "fine")],
        "extension": {
            "systemActions": [rated(CT_WITH, "usually-appropriate", "UsuallyAppropriate")]
        },
    }
    (row,) = card_rows(request("order-sign", CT_WITH), answer)
    assert (row.rating, row.suggested) == ("usually-appropriate", "-")


def test_an_evaluated_order_without_a_card_gets_a_no_card_row():
    answer = {
        "cards": [card("ContrastNotIndicated", "warning", "no contrast")],
        "systemActions": [rated(CT_WITH, "usually-not-appropriate", "ContrastNotIndicated")],
    }
    rows = card_rows(request("order-sign", CT_WITH, CT_CHEST), answer)
    assert [(r.order, r.topic) for r in rows] == [
        ("CT lumbar spine with IV contrast", "ContrastNotIndicated"),
        ("CT chest", NO_CARD),
    ]


def test_order_select_lists_only_the_selected_orders():
    rows = card_rows(
        request("order-select", CT_WITH, CT_CHEST, selections=["ServiceRequest/ct-chest"]),
        {"cards": []},
    )
    assert [(r.order, r.topic) for r in rows] == [("CT chest", NO_CARD)]


def test_the_table_names_each_scenario_once_and_cuts_long_cells():
    long_order = order("x", "MRI cervical, thoracic and lumbar spine without and with IV contrast")
    rows = card_rows(request("order-sign", long_order, CT_CHEST), {"cards": []})
    text = format_table(table_lines("multi-region", rows, "pass"))
    header, rule, first, second = text.splitlines()
    assert header.split() == [
        "scenario", "order", "topic", "indicator", "rating", "(ACR)", "suggested", "study", "result"
    ]  # fmt: skip
    assert set(rule.replace(" ", "")) == {"-"}
    assert first.startswith("multi-region") and first.endswith("pass")
    assert "…" in first and "MRI cervical, thoracic" in first
    assert not second.startswith("multi-region") and "CT chest" in second


def test_a_scenario_with_no_order_at_all_still_gets_a_line():
    text = format_table(table_lines("empty", [], "pass"))
    assert text.splitlines()[2].split() == ["empty", "-", "no", "card", "-", "-", "-", "pass"]
