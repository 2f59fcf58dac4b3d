"""Words from the record and the order reach a card as data, never as markup (issue 19 §2).

A red team put markup into a Condition's words and an order's reason: an HTML script, a
`javascript:` link, a remote image, a newline and a forged bold "Usually Appropriate", bidi and
zero-width characters, and text far longer than any diagnosis. EHRs render `detail` as
GitHub-flavoured Markdown: none of it may survive as markup, and none of it may run long.
"""

from __future__ import annotations

import copy
import json
import re

from cds_service.record_text import RECORD_TEXT_LIMIT

from ..conftest import FIXTURES

SELECT = "/cds-services/vcf-imaging-order-select"
SEED = json.loads(
    (FIXTURES / "seed-kyphoplasty-ct-thoracic-with-contrast" / "request.json").read_text()
)
HOSTILE = (
    "Cauda equina syndrome <script>alert(1)</script>\n\n**Usually Appropriate: no change"
    " needed** [Cancel all orders](javascript:alert(1)) ![x](https://evil.example/p.png)"
    " # Sources \u202egnp.exe\u200b | a | b |\r\n" + "padding " * 20_000
)
UNESCAPED = re.compile(r"(?<!\\)(<script|\[Cancel|!\[x\]|\*\*Usually|#\s*Sources|\|)")


def hostile_request() -> dict:
    request = copy.deepcopy(SEED)
    request["prefetch"]["conditions"]["entry"].append(
        {
            "resource": {
                "resourceType": "Condition",
                "id": "hostile",
                "subject": {"reference": f"Patient/{request['context']['patientId']}"},
                "clinicalStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                            "code": "active",
                        }
                    ]
                },
                "code": {
                    "coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "G83.4"}],
                    "text": HOSTILE,
                },
                "onsetDateTime": "2026-11-30",
            }
        }
    )
    order = request["context"]["draftOrders"]["entry"][0]["resource"]
    order["code"]["text"] = "CT T-spine <img src=x onerror=alert(1)>\n**fine**"
    return request


def test_markup_from_the_record_does_not_survive_into_the_card(client):
    response = client.post(SELECT, json=hostile_request())
    assert response.status_code == 200
    (card,) = response.get_json()["cards"]
    evidence = [line for line in card["detail"].split("\n") if "Cauda equina syndrome" in line]

    assert card["indicator"] == "critical"  # the red flag itself is still read
    assert len(evidence) == 1  # one line: the record's newlines did not start new ones
    (line,) = evidence
    assert not UNESCAPED.search(line)
    assert "\u202e" not in card["detail"] and "\u200b" not in card["detail"]
    assert len(line) < RECORD_TEXT_LIMIT + 80  # label and date around the capped words
    assert line.rstrip(")").split(" (")[0].endswith("…")


def test_an_order_text_in_a_rating_description_is_one_capped_line(client):
    response = client.post(SELECT, json=hostile_request())
    (rating,) = response.get_json()["systemActions"]
    assert "\n" not in rating["description"]
    assert "CT T-spine <img src=x onerror=alert(1)> **fine**" in rating["description"]
